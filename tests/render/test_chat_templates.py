"""Each chat template ftspec knows by name renders a conversation token for token as its family's real one.

The real templates are in `chat_templates/` (see its README for their sources). A byte-level tokenizer with the
family's special tokens stands in for the family's own; the generated script's `encode_conversation`, which builds
a conversation turn by turn from the named template, must give the tokens `apply_chat_template` gives with the
real template, and learn exactly the assistant's tokens.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tinymodels

from ftspec import api
from ftspec.planner.chat_templates import CHAT_TEMPLATES

pytestmark = pytest.mark.slow

REAL = Path(__file__).with_name("chat_templates")
MODELS = Path(__file__).resolve().parent.parent / "diagnostics" / "models"
# bos, eos, and the other special tokens of each family's tokenizer
FAMILIES = {
    "chatml": (None, "<|im_end|>", ["<|im_start|>"]),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", ["<|start_header_id|>", "<|end_header_id|>", "<|end_of_text|>"]),
    "llama2": ("<s>", "</s>", []),
    "mistral": ("<s>", "</s>", []),
    "qwen2.5": (None, "<|im_end|>", ["<|im_start|>", "<|endoftext|>"]),
    "qwen3": (None, "<|im_end|>", ["<|im_start|>", "<|endoftext|>", "<think>", "</think>"]),
    "gemma": ("<bos>", "<eos>", ["<start_of_turn>", "<end_of_turn>"]),
    "phi-3": ("<s>", "<|endoftext|>", ["<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]),
}
# Families whose real template refuses a system message.
NO_SYSTEM = ("mistral", "gemma")
SYSTEM = {"role": "system", "content": "You coach cricket."}
TWO_TURNS = [
    {"role": "user", "content": "How do I field at slip?"},
    {"role": "assistant", "content": "Stay low with soft hands."},
]
FOUR_TURNS = [*TWO_TURNS, {"role": "user", "content": "And at gully?"}, {"role": "assistant", "content": "Watch."}]


def family_tokenizer(name: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bos, eos, others = FAMILIES[name]
    specials = [t for t in (bos, eos, *others) if t]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([m["content"] for m in FOUR_TURNS + [SYSTEM]] * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=bos, eos_token=eos, additional_special_tokens=others, model_max_length=512
    )


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict:
    """The generated train.py (its top level only) for each named chat template."""
    root = tmp_path_factory.mktemp("chat-templates")
    (root / "rows.jsonl").write_text('{"messages": []}\n')
    modules = {}
    for name in CHAT_TEMPLATES:
        spec = root / f"{name}.ft"
        spec.write_text(
            f'name = "t-{name}"\nbase {{ model = "{MODELS / "qwen-base"}" }}\n'
            f'data {{\n  train = "rows.jsonl"\n  format = chat\n  chat_template = "{name}"\n}}\nstrategy full {{ }}\n'
        )
        result = api.compile_spec(spec, root / name, target="cpu")
        assert result.ok, [d.message for d in result.diagnostics]
        api.write(result.files, result.out_dir)
        modules[name] = tinymodels.import_script(result.out_dir / "train.py", f"train_{name.replace('.', '_')}")
    return modules


def real_ids(tok, name: str, messages) -> list[int]:
    template = (REAL / f"{name}.jinja").read_text(encoding="utf-8")
    return tok.apply_chat_template(messages, chat_template=template, tokenize=True, return_dict=True)["input_ids"]


def learned(encoded: dict, tok) -> str:
    """The text of the tokens whose labels count in the loss."""
    return tok.decode([i for i, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != -100])


def test_every_named_template_has_its_real_one():
    assert sorted(CHAT_TEMPLATES) == sorted(p.stem for p in REAL.glob("*.jinja"))


@pytest.mark.parametrize("name", list(CHAT_TEMPLATES))
def test_a_two_turn_conversation_gives_the_real_templates_tokens(scripts, name):
    tok, train = family_tokenizer(name), scripts[name]
    conversations = [TWO_TURNS] + ([] if name in NO_SYSTEM else [[SYSTEM, *TWO_TURNS]])
    for messages in conversations:
        encoded = train.encode_conversation(messages, tok)
        assert encoded["input_ids"] == real_ids(tok, name, messages), name
        # Only the answer (and what closes it) is learned, never the question or the assistant's header.
        assert "Stay low with soft hands." in learned(encoded, tok) and "slip" not in learned(encoded, tok)


@pytest.mark.parametrize("name", list(CHAT_TEMPLATES))
def test_longer_conversations_build_turn_by_turn(scripts, name):
    """The turn-by-turn build equals the named template's own rendering of the whole conversation."""
    tok, train = family_tokenizer(name), scripts[name]
    encoded = train.encode_conversation(FOUR_TURNS, tok)
    whole = tok.apply_chat_template(FOUR_TURNS, chat_template=CHAT_TEMPLATES[name], tokenize=True, return_dict=True)
    assert encoded["input_ids"] == whole["input_ids"]
    text = learned(encoded, tok)
    assert "Stay low with soft hands." in text and "Watch." in text and "gully" not in text
