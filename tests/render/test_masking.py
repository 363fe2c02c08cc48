"""Loss masking at the level of tokens: prompts and user turns are ignored, answers count.

The generated train.py's own `encode` is imported and run on one row with a real tokenizer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

IGNORE = -100


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("masking") / "base"
    tinymodels.tokenizer().save_pretrained(directory)
    return directory


def generated(tmp_path: Path, base: Path, data: str, name: str):
    """Compile a spec and import its train.py as a module (its top level only)."""
    (tmp_path / "rows.jsonl").write_text('{"q": "", "a": "", "messages": []}\n')  # the columns plain check reads
    spec = tmp_path / f"{name}.ft"
    spec.write_text(
        f'name = "{name}"\nbase {{ model = "{base}" }}\ndata {{\n  train = "rows.jsonl"\n{data}}}\n'
        "strategy lora { }\n"
    )
    result = api.compile_spec(spec, tmp_path / name, target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    return tinymodels.import_script(result.out_dir / "train.py", f"train_{name}")


def tokenizer(base: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base)


@pytest.mark.parametrize("train_on_prompt", [False, True])
def test_instruction_labels_ignore_the_prompt(tmp_path, base, train_on_prompt):
    data = (
        '  format = instruction\n  prompt = "q"\n  response = "a"\n'
        f"  train_on_prompt = {str(train_on_prompt).lower()}\n"
    )
    train = generated(tmp_path, base, data, f"instruction-{train_on_prompt}")
    tok = tokenizer(base)
    row = {"q": "How do I bowl a yorker?", "a": "Aim at the base of the stumps."}
    encoded = train.encode(row, tok)
    prompt = tok("### Question:\nHow do I bowl a yorker?\n\n### Answer:\n")["input_ids"]
    answer = tok("Aim at the base of the stumps.", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert encoded["input_ids"] == prompt + answer
    labels = encoded["labels"]
    assert labels[len(prompt) :] == answer  # every answer token (and the end of text) is learned
    expected_prompt = prompt[1:] if train_on_prompt else [IGNORE] * (len(prompt) - 1)
    assert labels[0] == IGNORE and labels[1 : len(prompt)] == expected_prompt


def test_chat_labels_count_assistant_turns_only(tmp_path, base):
    train = generated(tmp_path, base, "  format = chat\n  chat_template = chatml\n", "chat")
    tok = tokenizer(base)
    messages = [
        {"role": "system", "content": "You coach cricket."},
        {"role": "user", "content": "How do I field at slip?"},
        {"role": "assistant", "content": "Stay low with soft hands."},
        {"role": "user", "content": "And at gully?"},
        {"role": "assistant", "content": "Watch the edge early."},
    ]
    encoded = train.encode({"messages": messages}, tok)
    ids, labels = encoded["input_ids"], encoded["labels"]
    learned = tok.decode([i for i, label in zip(ids, labels, strict=True) if label != IGNORE])
    ignored = tok.decode([i for i, label in zip(ids, labels, strict=True) if label == IGNORE])
    # What is learned: the two answers and the end-of-turn markers after them, nothing else.
    assert learned == "Stay low with soft hands.<|im_end|>\nWatch the edge early.<|im_end|>\n"
    assert "How do I field at slip?" in ignored and "You coach cricket." in ignored
    assert "<|im_start|>assistant\n" in ignored  # the assistant's header belongs to the prompt
    assert all(label in (IGNORE, token) for token, label in zip(ids, labels, strict=True))


def teardown_module():
    for name in [name for name in sys.modules if name.startswith("train_")]:
        del sys.modules[name]
