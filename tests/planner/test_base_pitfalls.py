"""The checks of a base's own files: they fire on the fixture bases and stay quiet on the shipped specs."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT, SHIPPED_ADVICE

from ftspec import api

MODELS = Path(__file__).resolve().parent.parent / "diagnostics" / "models"
NEW = {f"FT8{n:02d}" for n in range(1, 30)} | {f"FT62{n}" for n in range(10)}


def test_no_new_check_fires_on_the_shipped_specs():
    for spec in sorted((ROOT / "specs").glob("*.ft")):
        result = api.check(spec)
        codes = {d.code for d in result.diagnostics}
        assert codes & NEW == set(), spec.name
        assert codes <= SHIPPED_ADVICE.get(spec.stem, set())


def spec_on(tmp_path: Path, base: str, strategy: str, data: str = "  format = chat\n") -> Path:
    (tmp_path / "rows.jsonl").write_text('{"messages": [{"role": "user", "content": "a"}]}\n')
    spec = tmp_path / "s.ft"
    spec.write_text(
        f'name = "s"\nbase {{ model = "{MODELS / base}" }}\ndata {{\n  train = "rows.jsonl"\n{data}}}\n{strategy}\n'
    )
    return spec


def test_full_fine_tuning_trains_new_chat_tokens_unless_the_embeddings_are_frozen(tmp_path):
    result = api.check(spec_on(tmp_path, "llama3-base", "strategy full { }"), target="h100")
    assert "FT801" not in {d.code for d in result.diagnostics}
    assert any("full fine-tuning trains them" in note for note in result.plan.notes)
    result = api.check(spec_on(tmp_path, "llama3-base", "strategy full { freeze = [embeddings] }"), target="h100")
    found = [d for d in result.diagnostics if d.code == "FT801"]
    assert len(found) == 1 and "freezes the embeddings" in found[0].message


def test_an_instruct_base_with_its_own_template_gets_no_warning(tmp_path):
    result = api.check(spec_on(tmp_path, "llama3-instruct", "strategy lora { }"), target="h100")
    assert [d.code for d in result.diagnostics if d.code.startswith("FT8")] == []  # FT506: the fixture is tiny


def test_a_qwen_style_base_with_nothing_else_to_pad_with_gets_ft808(tmp_path):
    result = api.check(spec_on(tmp_path, "qwen-base", "strategy lora { }"), target="h100")
    assert result.plan.tokenizer.pad_token is None
    found = [d for d in result.diagnostics if d.code == "FT808"]
    assert len(found) == 1 and "masks padding by position" in found[0].message and not found[0].is_error


def test_a_reserved_token_pads_where_the_tokenizer_has_no_pad_token(tmp_path):
    """Llama 3.0 has no padding token of any name, but reserved special tokens: one of them pads, no FT808."""
    base = tmp_path / "llama3-reserved"
    shutil.copytree(MODELS / "llama3-instruct", base)
    tokens = (base / "tokenizer.json").read_text().replace("<|finetune_right_pad_id|>", "<|reserved_special_token_0|>")
    (base / "tokenizer.json").write_text(tokens)
    result = api.check(spec_on(tmp_path, str(base), "strategy lora { }"), target="h100")
    assert result.plan.tokenizer.pad_token == "<|reserved_special_token_0|>"
    assert "FT808" not in {d.code for d in result.diagnostics}


def test_missing_base_files_give_one_note_naming_the_skipped_checks(tmp_path):
    spec = tmp_path / "s.ft"
    (tmp_path / "rows.jsonl").write_text('{"q": "a", "a": "b"}\n')
    spec.write_text(
        'name = "s"\nbase { model = "org/not-cached" }\ndata {\n  train = "rows.jsonl"\n  format = instruction\n'
        '  prompt = "q"\n  response = "a"\n}\nstrategy lora { targets = [q_proj] }\n'
    )
    notes = [n for n in api.check(spec, target="h100").plan.notes if "skipped" in n]
    assert notes == [
        "checks of the base's files skipped, not on this machine: padding, chat tokens, BOS and stop tokens "
        "(tokenizer.json); adapter targets (safetensors weights); attention soft-capping (config.json)"
    ]
