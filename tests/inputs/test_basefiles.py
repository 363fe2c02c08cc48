"""Reading a base's own files without loading it: tokenizer facts, safetensors headers, embedding rows."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest
import tinymodels

from ftspec.inputs.basefiles import read_base, read_directory, row_norms

MODELS = Path(__file__).resolve().parent.parent / "diagnostics" / "models"


def test_the_fixture_bases_are_what_tinymodels_builds(tmp_path):
    built = tinymodels.pitfall_bases(tmp_path)
    for name, directory in built.items():
        names = sorted(p.name for p in directory.iterdir())
        assert names == sorted(p.name for p in (MODELS / name).iterdir()), name
        match, mismatch, errors = filecmp.cmpfiles(directory, MODELS / name, names, shallow=False)
        assert (mismatch, errors) == ([], []), f"{name}: rebuild with tinymodels.pitfall_bases"


def test_tokenizer_facts_of_a_llama3_and_a_qwen_style_base():
    llama, qwen = read_directory(MODELS / "llama3-instruct"), read_directory(MODELS / "qwen-base")
    assert llama.adds_bos() and not qwen.adds_bos()
    assert llama.token("bos_token") == "<|begin_of_text|>" and qwen.token("bos_token") is None
    assert llama.stop_ids() == (4, 1)  # <|eot_id|>, <|end_of_text|> from generation_config.json
    assert qwen.token("pad_token") == qwen.token("eos_token") == "<|endoftext|>"
    assert llama.vocabulary_size() == 320 == llama.config["vocab_size"]


def test_the_safetensors_header_is_read_as_the_library_reads_it():
    from safetensors import safe_open

    files = read_directory(MODELS / "llama3-base")
    with safe_open(str(MODELS / "llama3-base" / "model.safetensors"), framework="pt") as handle:
        assert sorted(handle.keys()) == sorted(files.tensors)
        embedding = handle.get_tensor("model.embed_tokens.weight")
    assert files.embedding().shape == tuple(embedding.shape)
    norms = row_norms(files.embedding(), [0, 2, 3, 4, 100])
    for row, norm in norms.items():
        assert norm == pytest.approx(float(embedding[row].norm()), rel=1e-5)
    assert norms[2] == norms[3] == norms[4] == 0.0  # the chat tokens' rows are zero: a base never trained them


def test_bf16_rows_are_decoded_like_torch(tmp_path):
    import torch
    from safetensors.torch import save_file

    weight = torch.randn(6, 4).to(torch.bfloat16)
    save_file({"model.embed_tokens.weight": weight}, str(tmp_path / "model.safetensors"))
    files = read_directory(tmp_path)
    norms = row_norms(files.embedding(), list(range(6)))
    assert [round(norms[i], 4) for i in range(6)] == [round(float(weight[i].float().norm()), 4) for i in range(6)]


def test_an_index_without_shards_still_gives_the_names():
    files = read_directory(MODELS / "neox")
    assert "gpt_neox.layers.1.attention.query_key_value.weight" in files.weight_names and files.tensors == {}


def test_a_hub_cache_snapshot_is_found_by_revision(tmp_path):
    repo = tmp_path / "hub" / "models--org--qwen"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in (MODELS / "qwen-base").iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    files = read_base("org/qwen", "main", cache=tmp_path / "hub")
    assert files is not None and files.directory == snapshot and files.token("eos_token") == "<|endoftext|>"
    assert read_base("org/qwen", "v2", cache=tmp_path / "hub") is None


def test_unreadable_files_are_absent_not_fatal(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 16)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "</s>"}}))
    files = read_directory(tmp_path)
    assert files.config is None and files.tensors == {} and files.token("eos_token") == "</s>"


def test_a_tokenizer_json_is_read_without_its_merges_even_with_a_token_named_merges(tmp_path):
    tokenizer = json.loads((MODELS / "qwen-base" / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["merges"] = len(vocab)  # a token spelt like the key that follows the vocabulary
    (tmp_path / "tokenizer.json").write_text(json.dumps(tokenizer, indent=2))
    files = read_directory(tmp_path)
    assert "merges" not in files.tokenizer["model"]
    assert files.vocabulary_size() == max(vocab.values()) + 1 and files.token_id("merges") == vocab["merges"]
    assert files.added_tokens() == {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
