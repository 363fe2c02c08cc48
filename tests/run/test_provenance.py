"""The content hash that decides whether a finished run is up to date covers what decides its weights:
the base's weight, config and tokenizer files, the data, and ftspec itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftspec import api, hashing
from ftspec.run import provenance as prov

CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 256,
}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps(CONFIG))
    (base / "model.safetensors").write_bytes(b"\x07" * 4096)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        (base / name).write_text("{}")
    (tmp_path / "t.jsonl").write_text('{"text": "a row of text"}\n')
    (tmp_path / "s.ft").write_text(
        'name = "s"\nbase { model = "./base" }\ndata { train = "t.jsonl" }\nstrategy lora { }\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def record(previous=None) -> dict:
    result = api.check(Path("s.ft"))
    assert result.ok, result.diagnostics
    return prov.provenance(result.plan, result.loaded.files, None, previous)


@pytest.mark.parametrize(
    "name", ["model.safetensors", "config.json", "tokenizer_config.json", "generation_config.json", "tokenizer.json"]
)
def test_every_file_of_a_local_base_is_part_of_the_content_hash(project, name):
    before = record()
    path = project / "base" / name
    if name == "model.safetensors":
        path.write_bytes(b"\x00" * 4096)  # every weight zeroed: same size
    elif name == "config.json":
        path.write_text(json.dumps({**CONFIG, "rope_theta": 1.0}))
    else:
        path.write_text('{"edited": true}')
    after = record(before)
    assert after["content_hash"] != before["content_hash"]
    assert prov.changes(before, after) == ["base model"]


def test_unchanged_files_are_not_read_again(project, monkeypatch):
    first = record()
    read = []
    monkeypatch.setattr(hashing, "file_hash", lambda path: read.append(path.name) or "x")
    again = record(first)
    assert read == [] and again["content_hash"] == first["content_hash"]
    (project / "t.jsonl").write_text('{"text": "another row"}\n')
    changed = record(again)
    assert read == ["t.jsonl"] and prov.changes(again, changed) == ["data (`t.jsonl`)"]


def test_ftspec_itself_is_part_of_the_content_hash(project, monkeypatch):
    before = record()
    assert set(before["ftspec"]) == {"version", "templates"}
    monkeypatch.setattr(prov, "__version__", "99.0")
    after = record(before)
    assert after["content_hash"] != before["content_hash"] and prov.changes(before, after) == ["ftspec"]
