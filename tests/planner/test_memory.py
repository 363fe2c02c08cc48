"""Model dimensions from config.json (local and hub-cache layouts) and the training-memory estimate."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftspec.inputs.modelinfo import ModelDims, parameter_count, read_config
from ftspec.planner.memory import MemorySettings, estimate

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
LLAMA = {
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}
LLAMA_7B = ModelDims(**LLAMA)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_config(directory: Path, config: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def hub_repo(hub: Path, repo_id: str, config: dict, refs: dict[str, str]) -> None:
    """The hub cache's layout: refs name commits, snapshots/<commit> hold the files."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    write_config(repo / "snapshots" / COMMIT, config)
    (repo / "refs").mkdir(parents=True)
    for name, commit in refs.items():
        (repo / "refs" / name).write_text(commit, encoding="utf-8")


def test_local_directory(tmp_path):
    dims = read_config(write_config(tmp_path / "model", LLAMA | {"num_key_value_heads": 8}))
    assert dims == ModelDims(**(LLAMA | {"num_key_value_heads": 8}))
    assert dims.kind == "decoder" and dims.attention_head_dim == 128
    assert read_config(tmp_path / "model" / "config.json") == dims


def test_hub_cache_resolves_refs(tmp_path, monkeypatch):
    hub_repo(tmp_path / "hf" / "hub", "owner/name", LLAMA, {"main": COMMIT + "\n", "v1": COMMIT})
    assert read_config("owner/name", hf_home=tmp_path / "hf") == LLAMA_7B
    assert read_config("owner/name", revision="v1", hf_home=tmp_path / "hf") == LLAMA_7B
    assert read_config("owner/name", revision=COMMIT, hf_home=tmp_path / "hf") == LLAMA_7B
    assert read_config("owner/name", revision="v2", hf_home=tmp_path / "hf") is None
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert read_config("owner/name") == LLAMA_7B
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "elsewhere"))
    assert read_config("owner/name") == LLAMA_7B


def test_gpt2_keys(tmp_path):
    config = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": None}
    dims = read_config(write_config(tmp_path, config | {"vocab_size": 50257, "n_positions": 1024}))
    assert (dims.hidden_size, dims.num_hidden_layers, dims.num_attention_heads) == (768, 12, 12)
    assert (dims.intermediate_size, dims.max_position_embeddings, dims.num_key_value_heads) == (3072, 1024, 12)
    assert dims.tie_word_embeddings and dims.kind == "decoder"
    assert parameter_count(dims) == 124_439_808  # GPT-2 small


def test_bert_and_distilbert_keys(tmp_path):
    bert = {"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}
    bert |= {"intermediate_size": 3072, "vocab_size": 30522, "max_position_embeddings": 512}
    dims = read_config(write_config(tmp_path / "bert", bert))
    assert dims.kind == "encoder" and parameter_count(dims) == 109_482_240  # bert-base-uncased
    distil = {"model_type": "distilbert", "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072}
    dims = read_config(
        write_config(tmp_path / "distil", distil | {"vocab_size": 30522, "max_position_embeddings": 512})
    )
    assert (dims.hidden_size, dims.num_hidden_layers, dims.num_attention_heads) == (768, 6, 12)
    assert dims.intermediate_size == 3072 and dims.kind == "encoder"
    assert parameter_count(dims) == 66_362_880  # distilbert-base-uncased


def test_missing_is_none(tmp_path):
    assert read_config("nobody/nothing", hf_home=tmp_path) is None
    assert read_config(tmp_path / "absent") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json", encoding="utf-8")
    assert read_config(tmp_path / "broken") is None
    hub_repo(tmp_path / "hub", "owner/gone", LLAMA, {"main": "f" * 40})  # a ref to a snapshot not downloaded
    assert read_config("owner/gone", hf_home=tmp_path) is None


def test_no_network_and_no_training_stack(tmp_path):
    """Reading configs and estimating never opens a socket nor imports torch or transformers."""
    code = f"""
import socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("network access")
socket.socket = socket.create_connection = refuse
from ftspec.planner.memory import MemorySettings, estimate
from ftspec.inputs.modelinfo import read_config
assert read_config("meta-llama/Llama-2-7b-hf", hf_home={str(tmp_path)!r}) is None
dims = read_config({str(write_config(tmp_path / "m", LLAMA))!r})
estimate(dims, MemorySettings(strategy="qlora", micro_batch=1, seq_len=512, precision="bf16", optimizer="adamw",
                              gradient_checkpointing=True, lora_rank=16, lora_targets="all_linear"))
assert not {{"torch", "transformers", "peft"}} & set(sys.modules), sorted(sys.modules)
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_llama_7b_parameters():
    assert parameter_count(LLAMA_7B) == 6_738_415_616
    lora = estimate(LLAMA_7B, settings("lora", lora_rank=16, lora_targets="all_linear"))
    assert lora.trainable_params == 39_976_960  # what peft prints for Llama-2-7B, r=16 on every linear layer


def settings(strategy: str, **changes) -> MemorySettings:
    """One sequence of 512 tokens in bf16 with AdamW and no checkpointing, unless ``changes`` say otherwise."""
    common = {"micro_batch": 1, "seq_len": 512, "precision": "bf16", "optimizer": "adamw"}
    return MemorySettings(strategy, **(common | {"gradient_checkpointing": False} | changes))


def test_full_7b_needs_far_more_than_qlora():
    full = estimate(LLAMA_7B, settings("full"))
    assert full.total > 100 * GIB and full.peak > 100 * GIB
    # Mixed-precision AdamW: fp32 weights, 16-bit copies, fp32 gradients and two fp32 moments, about 18 B/param.
    per_param = (full.weights + full.gradients + full.optimizer) / full.total_params
    assert 17.5 < per_param <= 18
    qlora = estimate(LLAMA_7B, settings("qlora", gradient_checkpointing=True, lora_rank=16, quant_bits=4))
    assert qlora.total < 16 * GIB and qlora.peak < 16 * GIB
    assert 3 * GIB < qlora.weights < 6 * GIB  # 4-bit layers, fp32 embeddings and head


def test_lora_trains_far_less_than_full():
    full = estimate(LLAMA_7B, settings("full"))
    lora = estimate(LLAMA_7B, settings("lora", lora_rank=8, lora_targets=["q_proj", "v_proj"]))
    assert lora.trainable_params < full.trainable_params / 100
    assert lora.optimizer < full.optimizer / 100 and lora.gradients < full.gradients / 100
    assert lora.adapters > 0 == full.adapters
    assert lora.weights < full.weights / 2  # a frozen bf16 base, no fp32 masters
    eight_bit = estimate(LLAMA_7B, settings("full", optimizer="adamw_8bit"))
    assert eight_bit.optimizer < full.optimizer / 3.9


def test_sharding_divides_by_processes():
    alone = estimate(LLAMA_7B, settings("full"))
    zero2 = estimate(LLAMA_7B, settings("full", shard="zero2", processes=8))
    zero3 = estimate(LLAMA_7B, settings("full", shard="zero3", processes=8))
    assert zero2.weights == alone.weights and zero2.optimizer == pytest.approx(alone.optimizer / 8, abs=1)
    assert zero3.gradients == pytest.approx(alone.gradients / 8, abs=1)
    fp32 = 4 * alone.total_params
    assert fp32 / 8 < zero3.weights < fp32 / 4  # an eighth of the fp32 weights, plus the layers gathered for compute
    assert zero3.activations == alone.activations
    ddp = estimate(LLAMA_7B, settings("full", shard="ddp", processes=8))
    assert ddp.weights == alone.weights and ddp.optimizer == alone.optimizer


def test_checkpointing_and_sequence_scale_activations():
    plain = estimate(LLAMA_7B, settings("lora", micro_batch=4, seq_len=2048))
    checkpointed = estimate(LLAMA_7B, settings("lora", micro_batch=4, seq_len=2048, gradient_checkpointing=True))
    assert checkpointed.activations < plain.activations / 4
    assert checkpointed.weights == plain.weights and checkpointed.optimizer == plain.optimizer
    double = estimate(LLAMA_7B, settings("lora", micro_batch=8, seq_len=2048))
    assert double.activations == pytest.approx(2 * plain.activations, rel=0.01)
    fp32 = estimate(LLAMA_7B, settings("lora", micro_batch=4, seq_len=2048, precision="fp32"))
    assert fp32.activations > 1.5 * plain.activations


def load_bench():
    path = ROOT / "bench" / "memory.py"
    spec = importlib.util.spec_from_file_location("bench_memory", path)
    module = sys.modules["bench_memory"] = importlib.util.module_from_spec(spec)  # dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "case",
    [
        {"hidden": 64, "layers": 2, "vocab": 4096, "seq": 64, "batch": 2},
        {"hidden": 64, "layers": 2, "vocab": 4096, "seq": 64, "batch": 2, "strategy": "lora", "checkpointing": True},
    ],
)
def test_estimate_matches_a_measured_step(case):
    """One CPU training step of a tiny Llama: the estimate is within 20% of the exact training state."""
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    bench = load_bench()
    bench.quiet()
    predicted, measured = bench.run(bench.Case(**case))
    assert measured["weights"] > 0 and measured["activations"] > 0
    assert predicted.total == pytest.approx(measured["total"], rel=0.2)
