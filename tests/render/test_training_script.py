"""The GPU-only training options as the emitted scripts write them (specs/cricket-coach-gpu.ft, golden-tested in
generated/cricket-coach-gpu/): flash-attention, Liger, offloaded activations, TF32 and the trackers."""

from __future__ import annotations

import json

from conftest import ROOT

from ftspec import api

GPU = ROOT / "specs" / "cricket-coach-gpu.ft"


def test_the_gpu_spec_plans_and_writes_every_gpu_option(tmp_path):
    result = api.compile_spec(GPU, tmp_path / "out")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    plan, train = json.loads(result.files["plan.json"]), result.files["train.py"]
    assert plan["base"]["attention"] == "flash_attention_2" and "flash_attn" in plan["base"]["attention_reason"]
    assert plan["train"]["kernels"] == "liger" and plan["train"]["tf32"] and plan["train"]["offload_activations"]
    assert plan["train"]["trackers"] == ["wandb", "mlflow"] and plan["train"]["project"] == "cricket"
    assert 'ATTENTION = "flash_attention_2"' in train and "attn_implementation=ATTENTION" in train
    assert "_apply_liger_kernel_to_instance(" in train and 'KERNELS = "liger"' in train
    assert "torch.autograd.graph.save_on_cpu(pin_memory=pinned)" in train
    assert 'torch.set_float32_matmul_precision("high")' in train
    assert 'TRACKERS = ["wandb", "mlflow"]' in train and "init_trackers(PROJECT, init_kwargs=options)" in train


def test_the_cpu_plan_of_the_same_spec_falls_back_and_says_why(tmp_path):
    result = api.compile_spec(GPU, tmp_path / "out", target="cpu")
    codes = {d.code for d in result.diagnostics}
    assert {"FT251", "FT514"} <= codes  # tf32 and offloaded activations make no sense on a CPU
    plan = result.plan
    assert plan.base.attention == "sdpa" and "CPU target" in plan.base.attention_reason
    assert plan.train.kernels == "none" and "CPU target" in plan.train.kernels_reason
