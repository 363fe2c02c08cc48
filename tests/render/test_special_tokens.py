"""The generated encoding against the tokenizer's own chat rendering, with bases that behave like real ones.

A Llama-3-style tokenizer adds BOS and its chat template writes it too; a Qwen-style one adds none. The
generated `encode` must give exactly `apply_chat_template`'s tokens for both: one BOS, never two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

MODELS = Path(__file__).resolve().parent.parent / "diagnostics" / "models"
MESSAGES = [
    {"role": "system", "content": "You coach cricket."},
    {"role": "user", "content": "How do I field at slip?"},
    {"role": "assistant", "content": "Stay low with soft hands."},
    {"role": "user", "content": "And at gully?"},
    {"role": "assistant", "content": "Watch the edge early."},
]


def generated(tmp_path: Path, base: str, data: str, name: str, strategy: str = "strategy lora { }\n"):
    """Compile a spec on one of the fixture bases and import its train.py (its top level only)."""
    (tmp_path / "rows.jsonl").write_text('{"messages": [], "q": "", "a": "", "text": "x"}\n')
    spec = tmp_path / f"{name}.ft"
    spec.write_text(
        f'name = "{name}"\nbase {{ model = "{MODELS / base}" }}\ndata {{\n  train = "rows.jsonl"\n{data}}}\n{strategy}'
    )
    result = api.compile_spec(spec, tmp_path / name, target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    return tinymodels.import_script(result.out_dir / "train.py", f"train_{name}"), result


@pytest.mark.parametrize("base", ["llama3-instruct", "qwen-base"])
def test_chat_encoding_is_apply_chat_template_token_for_token(tmp_path, base):
    from transformers import AutoTokenizer

    train, _ = generated(tmp_path, base, "  format = chat\n", base.replace("-", "_"))
    tok = AutoTokenizer.from_pretrained(MODELS / base)
    expected = tok.apply_chat_template(MESSAGES, tokenize=True, return_dict=True)["input_ids"]
    ids = train.encode({"messages": MESSAGES}, tok)["input_ids"]
    assert ids == expected
    bos = tok.bos_token_id
    if base == "llama3-instruct":
        assert tok("x")["input_ids"][0] == bos  # the tokenizer adds BOS on its own ...
        assert ids[0] == bos and ids.count(bos) == 1  # ... and the encoding still has only the template's one
    else:
        assert bos is None or bos not in ids


def test_text_rows_that_begin_with_bos_get_two_and_check_says_so(tmp_path):
    """FT809 is true: a conversation rendered by the Llama-3-style template and kept as text gets a second BOS
    from the generated encoding (the tokenizer adds one); plain rows do not, and neither is reported."""
    from transformers import AutoTokenizer

    train, _ = generated(tmp_path, "llama3-instruct", "  format = text\n", "bos_text")
    tok = AutoTokenizer.from_pretrained(MODELS / "llama3-instruct")
    rendered = tok.apply_chat_template(MESSAGES[:3], tokenize=False)
    assert rendered.startswith("<|begin_of_text|>")
    bos = tok.bos_token_id
    assert train.encode({"text": rendered}, tok)["input_ids"][:2] == [bos, bos]
    assert train.encode({"text": "Stay low."}, tok)["input_ids"].count(bos) == 1
    spec = tmp_path / "bos_text.ft"
    for text, codes in ((rendered, ["FT809"]), ("Stay low with soft hands.", [])):
        (tmp_path / "rows.jsonl").write_text(json.dumps({"text": text}) + "\n")
        assert [d.code for d in api.check(spec).diagnostics if d.code.startswith("FT80")] == codes


def test_a_distinct_pad_token_reaches_the_script(tmp_path):
    from transformers import AutoTokenizer

    train, result = generated(tmp_path, "llama3-instruct", "  format = chat\n", "pad")
    assert result.plan.tokenizer.pad_token == "<|finetune_right_pad_id|>"
    assert any("padding uses `<|finetune_right_pad_id|>`" in note for note in result.plan.notes)
    assert AutoTokenizer.from_pretrained(MODELS / "llama3-instruct").pad_token is None
    tok = train.load_tokenizer()
    assert tok.pad_token == "<|finetune_right_pad_id|>" and tok.pad_token_id != tok.eos_token_id


def test_untrained_chat_tokens_train_beside_a_lora_adapter(tmp_path):
    train, result = generated(tmp_path, "llama3-base", "  format = chat\n", "new_tokens")
    ids = [2, 3, 4]  # <|start_header_id|>, <|end_header_id|>, <|eot_id|>, zero rows in the fixture's embedding
    assert train.ADAPTER["trainable_token_indices"] == ids
    assert any("untrained embedding rows" in note for note in result.plan.notes)
    assert not [d.code for d in result.diagnostics if d.code == "FT801"]


def test_a_soft_capping_base_gets_eager_attention(tmp_path):
    data = '  format = instruction\n  prompt = "q"\n  response = "a"\n'
    train, result = generated(tmp_path, "gemma2", data, "gemma")
    assert result.plan.base.attention == "eager" and train.ATTENTION == "eager"
    assert "attn_implementation=ATTENTION" in result.files["train.py"]
    assert any(note.startswith("attention: eager") for note in result.plan.notes)


@pytest.mark.parametrize("overlong", ["drop", "error"])
def test_overlong_examples_are_dropped_or_refused_by_the_script(tmp_path, overlong):
    from datasets import Dataset
    from transformers import AutoTokenizer

    data = f'  format = instruction\n  prompt = "q"\n  response = "a"\n  max_length = 64\n  overlong = {overlong}\n'
    train, _ = generated(tmp_path, "qwen-base", data, f"overlong_{overlong}")
    tok = AutoTokenizer.from_pretrained(MODELS / "qwen-base")
    rows = Dataset.from_list([{"q": "Why?", "a": "Because."}, {"q": "Tell me everything " * 20, "a": "No."}])
    if overlong == "error":
        with pytest.raises(SystemExit, match="1 examples are longer than MAX_LENGTH"):
            train.encode_all(rows, tok)
        return
    kept = train.encode_all(rows, tok)
    assert len(kept) == 1 and len(kept[0]["input_ids"]) <= 64


@pytest.mark.slow
def test_the_untrained_rows_really_train_beside_the_adapter(tmp_path):
    """The generated build_model on the Llama-3-style base with zero chat rows: those rows get gradients."""
    import torch

    train, _ = generated(tmp_path, "llama3-base", "  format = chat\n", "rows_train")
    tok = train.load_tokenizer()
    model = train.build_model(tok)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any("trainable_tokens" in name for name in trainable) and any("lora_" in name for name in trainable)
    ids = torch.tensor([[0, 2, 70, 3, 4, 67]])
    model(input_ids=ids, labels=ids).loss.backward()
    delta = next(p for name, p in model.named_parameters() if "trainable_tokens_delta" in name)
    assert delta.grad is not None and delta.grad.abs().sum() > 0
