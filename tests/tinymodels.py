"""Tiny local models and data sets for tests that train: no hub, a few seconds each."""

from __future__ import annotations

import csv
import importlib.util
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


def import_script(script: Path, name: str):
    """A generated script imported as the module ``name`` (its top level only). The module is registered under
    that name, as a script run as __main__ is, since datasets' workers pickle the script's classes by it."""
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


# --- Bases that behave like real ones, for the checks of a base's files (no weights loaded, no torch) ---
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
STYLES = {
    # Llama 3: the tokenizer adds <|begin_of_text|>, and the chat template writes it too.
    "llama3": {
        "bos": "<|begin_of_text|>",
        "eos": "<|end_of_text|>",
        "specials": [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|finetune_right_pad_id|>",
        ],
        "template": LLAMA3_TEMPLATE,
        "adds_bos": True,
    },
    # Qwen 2.5: no BOS at all; pad and eos are both <|endoftext|>.
    "qwen": {
        "bos": None,
        "eos": "<|endoftext|>",
        "pad": "<|endoftext|>",
        "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "template": CHATML_TEMPLATE,
        "adds_bos": False,
    },
}


def style_tokenizer(style: str, vocab_size: int = 320):
    """A byte-level BPE `tokenizers.Tokenizer` with the special tokens and BOS behaviour of ``style``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    info = STYLES[style]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=info["specials"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus()[:200], trainer)
    if info["adds_bos"]:
        bos = info["bos"]
        bpe.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bpe.token_to_id(bos))]
        )
    return bpe


def _values(count: int, seed: int) -> list[float]:
    """Deterministic small floats (a linear congruential generator), so fixture bytes never change."""
    state, out = seed, []
    for _ in range(count):
        state = (state * 1103515245 + 12345) % 2**31
        out.append((state / 2**31 - 0.5) * 0.1)
    return out


def write_safetensors(path: Path, shapes: dict[str, tuple[int, ...]], zero_rows: dict[str, list[int]]) -> None:
    """A float32 safetensors file: an 8-byte header length, the JSON header, then the tensors' bytes."""
    import struct

    header, blobs, offset = {}, [], 0
    for seed, (name, shape) in enumerate(sorted(shapes.items()), start=1):
        count = 1
        for size in shape:
            count *= size
        values = _values(count, seed)
        for row in zero_rows.get(name, []):
            values[row * shape[1] : (row + 1) * shape[1]] = [0.0] * shape[1]
        blob = struct.pack(f"<{count}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def llama_shapes(vocab: int, hidden: int = 8, layers: int = 2, names=None) -> dict[str, tuple[int, ...]]:
    """The weights of a tiny Llama-shaped decoder with tied embeddings (``names`` renames the projections)."""
    shapes = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,)}
    names = names or {
        "self_attn": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "mlp": ["gate_proj", "up_proj", "down_proj"],
    }
    for layer in range(layers):
        for block, projections in names.items():
            for projection in projections:
                shapes[f"model.layers.{layer}.{block}.{projection}.weight"] = (hidden, hidden)
        shapes[f"model.layers.{layer}.input_layernorm.weight"] = (hidden,)
        shapes[f"model.layers.{layer}.post_attention_layernorm.weight"] = (hidden,)
    return shapes


def style_base(
    directory: Path, style: str, *, untrained_chat: bool = False, stops=None, vocab_size=None, weights: bool = True
) -> Path:
    """A base directory like ``style``'s real models: config, tokenizer files, generation config, weights.

    ``untrained_chat`` zeroes the embedding rows of the chat tokens (a base, not an instruct model);
    ``stops`` lists the tokens generation_config.json stops at (default: the eos token);
    ``vocab_size`` overrides config.json's (smaller than the tokenizer: ids past the embedding)."""
    info = STYLES[style]
    directory.mkdir(parents=True, exist_ok=True)
    tok = style_tokenizer(style)
    tok.save(str(directory / "tokenizer.json"))
    config = {
        "bos_token": info["bos"],
        "eos_token": info["eos"],
        "chat_template": info["template"],
        "model_max_length": 512,
        "tokenizer_class": "TokenizersBackend",
    }
    if info.get("pad"):
        config["pad_token"] = info["pad"]
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    ids = [tok.token_to_id(t) for t in (stops or [info["eos"]])]
    generation = {"eos_token_id": ids[0] if len(ids) == 1 else ids}
    if info["bos"]:
        generation["bos_token_id"] = tok.token_to_id(info["bos"])
    (directory / "generation_config.json").write_text(json.dumps(generation, indent=2, sort_keys=True) + "\n")
    vocab = vocab_size or tok.get_vocab_size()
    model_config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 8,
        "intermediate_size": 8,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "vocab_size": vocab,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
        "eos_token_id": tok.token_to_id(info["eos"]),
    }
    (directory / "config.json").write_text(json.dumps(model_config, indent=2, sort_keys=True) + "\n")
    if weights:
        chat = [tok.token_to_id(t) for t in info["specials"] if t not in (info["bos"], info["eos"])]
        zero = {"model.embed_tokens.weight": chat} if untrained_chat else {}
        write_safetensors(directory / "model.safetensors", llama_shapes(vocab), zero)
    return directory


def config_base(directory: Path, config: dict, weight_names=None) -> Path:
    """A base of a config.json alone, or with a safetensors index whose shards are absent."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if weight_names is not None:
        index = {"metadata": {}, "weight_map": {name: "model-00001-of-00002.safetensors" for name in weight_names}}
        (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return directory


GEMMA2_CONFIG = {
    "model_type": "gemma2",
    "architectures": ["Gemma2ForCausalLM"],
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "vocab_size": 320,
    "max_position_embeddings": 512,
    "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0,
    "tie_word_embeddings": True,
}
NEOX_CONFIG = {
    "model_type": "gpt_neox",
    "architectures": ["GPTNeoXForCausalLM"],
    "hidden_size": 8,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "vocab_size": 320,
    "max_position_embeddings": 512,
}


def neox_names(layers: int = 2) -> list[str]:
    """GPT-NeoX's tensor names: a fused `query_key_value`, `dense`, `dense_h_to_4h`, `dense_4h_to_h`."""
    names = ["gpt_neox.embed_in.weight", "gpt_neox.final_layer_norm.weight", "embed_out.weight"]
    for layer in range(layers):
        prefix = f"gpt_neox.layers.{layer}"
        names += [
            f"{prefix}.attention.query_key_value.weight",
            f"{prefix}.attention.dense.weight",
            f"{prefix}.mlp.dense_h_to_4h.weight",
            f"{prefix}.mlp.dense_4h_to_h.weight",
            f"{prefix}.input_layernorm.weight",
            f"{prefix}.post_attention_layernorm.weight",
        ]
    return names


def mixed_names() -> list[str]:
    """A 4-layer decoder whose last two layers fuse q/k/v into `qkv_proj` (as hybrid stacks do)."""
    names = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    for layer in range(4):
        prefix = f"model.layers.{layer}"
        attention = ["q_proj", "k_proj", "v_proj"] if layer < 2 else ["qkv_proj"]
        names += [f"{prefix}.self_attn.{name}.weight" for name in (*attention, "o_proj")]
        names += [f"{prefix}.mlp.{name}.weight" for name in ("gate_proj", "up_proj", "down_proj")]
    return names


def pitfall_bases(root: Path) -> dict[str, Path]:
    """Every base of tests/diagnostics/models/, built under ``root`` (the test that keeps them in step compares)."""
    llama_config = {**NEOX_CONFIG, "model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 4}
    return {
        "llama3-instruct": style_base(root / "llama3-instruct", "llama3", stops=["<|eot_id|>", "<|end_of_text|>"]),
        "llama3-base": style_base(root / "llama3-base", "llama3", untrained_chat=True),
        "qwen-base": style_base(root / "qwen-base", "qwen"),
        "qwen-small-embedding": style_base(root / "qwen-small-embedding", "qwen", vocab_size=300, weights=False),
        "gemma2": config_base(root / "gemma2", GEMMA2_CONFIG),
        "neox": config_base(root / "neox", NEOX_CONFIG, neox_names()),
        "mixed": config_base(root / "mixed", llama_config, mixed_names()),
    }
