"""Tiny local models and data sets for tests that train: no hub, a few seconds each."""

from __future__ import annotations

import csv
import json
import os
import runpy
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EOS, PAD = "<|endoftext|>", "<|pad|>"


def corpus() -> list[str]:
    """English paragraphs from the shipped corpus and the cricket answers."""
    text = (ROOT / "data" / "general" / "python-docs.txt").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in (ROOT / "data" / "cricket" / "coaching.jsonl").read_text().splitlines()]
    return text.split("\n\n")[:400] + [row["question"] + " " + row["answer"] for row in rows]


def tokenizer(vocab_size: int = 1024):
    """A byte-level BPE tokenizer learned in a fraction of a second."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=EOS, bos_token=EOS, pad_token=PAD, model_max_length=512
    )


def causal_model(directory: Path, hidden: int = 64, steps: int = 60) -> Path:
    """A Llama-shaped decoder with its tokenizer, saved to ``directory``: briefly pretrained on the
    corpus, so that adapters on top of it have something to adapt."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    tok = tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = AutoModelForCausalLM.from_config(config)
    stream = [i for text in corpus() for i in tok(text)["input_ids"] + [tok.eos_token_id]]
    blocks = torch.tensor(stream[: len(stream) // 128 * 128]).view(-1, 128)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = blocks[torch.randint(0, len(blocks), (8,))]
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def package_dir(model: str) -> Path:
    """The directory of a `package:name/dir` base model."""
    import importlib.util

    name, _, inner = model[len("package:") :].partition("/")
    return Path(importlib.util.find_spec(name).submodule_search_locations[0]) / inner


def datasets(directory: Path) -> dict[str, Path]:
    """One small file per format, cut from the shipped data."""
    directory.mkdir(parents=True, exist_ok=True)
    cricket = [json.loads(line) for line in (ROOT / "data" / "cricket" / "coaching.jsonl").read_text().splitlines()]
    paths = {
        "text": directory / "text.jsonl",
        "instruction": directory / "instruction.jsonl",
        "chat": directory / "chat.jsonl",
        "classification": directory / "classification.csv",
    }
    with paths["text"].open("w") as out:
        for row in cricket[:80]:
            out.write(json.dumps({"text": row["answer"]}) + "\n")
    with paths["instruction"].open("w") as out:
        for row in cricket[:80]:
            out.write(json.dumps(row) + "\n")
    with paths["chat"].open("w") as out:
        for row in cricket[:80]:
            messages = [
                {"role": "system", "content": "You coach cricket."},
                {"role": "user", "content": row["question"]},
                {"role": "assistant", "content": row["answer"]},
            ]
            out.write(json.dumps({"messages": messages}) + "\n")
    # An easy sentiment task: one adjective decides the label, so a few steps learn it.
    words = {
        "positive": ["excellent", "wonderful", "kind", "friendly", "great"],
        "negative": ["terrible", "rude", "awful", "dirty", "slow"],
        "neutral": ["scheduled", "average", "standard", "routine", "ordinary"],
    }
    nouns = ["nurse", "doctor", "visit", "wait", "clinic", "staff", "pharmacy", "room", "call", "bill"]
    with paths["classification"].open("w") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["comment", "sentiment"])
        for index in range(150):
            label = ("positive", "negative", "neutral")[index % 3]
            adjective = words[label][(index // 3) % 5]
            writer.writerow([f"The {nouns[(index * 7) % 10]} was {adjective}.", label])
    return paths


@contextmanager
def working_directory(path: Path):
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_script(script: Path) -> None:
    """Execute a generated script in this process, as `python script` would (saves the imports):
    its directory first on sys.path, and a fresh `train` module for each run."""
    argv, path = sys.argv, list(sys.path)
    sys.argv = [str(script)]
    sys.path.insert(0, str(script.parent))
    sys.modules.pop("train", None)
    try:
        with working_directory(script.parent):
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = argv, path
        sys.modules.pop("train", None)
