"""The training-side options train on this CPU: qwen2 and mistral scratch models, reentrant and offloaded
checkpointing, activations offloaded without checkpointing, the paged 32-bit AdamW, and the W&B and MLflow trackers
for real, offline (MLflow against a local file store, W&B in offline mode), named from the spec.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

SCRATCH = (
    "tokenizer {{\n  train = true\n  vocab_size = 512\n}}\nstrategy scratch {{\n  architecture = {arch}\n"
    "  hidden_size = 64\n  layers = 2\n  heads = 4\n  kv_heads = 2\n}}\n"
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    return tinymodels.datasets(tmp_path_factory.mktemp("options") / "data")


def train(tmp_path: Path, data: dict, name: str, blocks: str, train: str = "", allowed=()) -> Path:
    spec = tmp_path / f"{name}.ft"
    spec.write_text(
        f'name = "{name}"\ndata {{\n  train = "{data["text"]}"\n  eval_split = 20%\n  max_length = 64\n}}\n'
        f"{blocks}train {{\n  max_steps = 6\n  batch_size = 4\n  learning_rate = 3e-3\n  log_every = 1\n{train}}}\n"
    )
    out = tmp_path / "runs" / name
    result = api.compile_spec(spec, out, target="cpu")
    unexpected = [(d.code, d.message) for d in result.diagnostics if d.code not in allowed and d.code != "FT503"]
    assert result.ok and not unexpected, unexpected
    api.write(result.files, out)
    tinymodels.run_script(out / "train.py")
    return out


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "options", "allowed"),
    [
        ("qwen2", "  gradient_checkpointing = true\n  use_reentrant = true\n", ()),
        ("mistral", "  gradient_checkpointing = true\n  offload_activations = true\n", ("FT514",)),
        ("llama", "  gradient_checkpointing = false\n  offload_activations = true\n", ("FT514",)),
    ],
)
def test_scratch_families_and_checkpointing_options_train(tmp_path, data, arch, options, allowed):
    out = train(tmp_path, data, f"{arch}-options", SCRATCH.format(arch=arch), options, allowed)
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["model_type"] == arch
    history = losses(out)
    assert len(history) == 6 and history[-1] < history[0]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["strategy"]["architecture"]["model_type"] == arch
    if arch == "qwen2":
        from safetensors import safe_open

        with safe_open(str(out / "model" / "model.safetensors"), "pt") as weights:
            assert any(name.endswith("q_proj.bias") for name in weights.keys())  # noqa: SIM118


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="bitsandbytes is not installed")
def test_paged_adamw_32bit_trains(tmp_path, data):
    out = train(tmp_path, data, "paged", SCRATCH.format(arch="llama"), "  optimizer = paged_adamw_32bit\n")
    history = losses(out)
    assert history[-1] < history[0]


@pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None or importlib.util.find_spec("wandb") is None,
    reason="the trackers extra (mlflow-skinny, wandb) is not installed",
)
def test_wandb_offline_and_mlflow_file_store_get_the_run(tmp_path, data, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the script sets both: undone after the test
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    trackers = '  trackers = [mlflow, wandb]\n  project = "ftspec-tests"\n  run_name = "coach-1"\n'
    out = train(tmp_path, data, "tracked", SCRATCH.format(arch="llama"), trackers)
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=(out / "logs" / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("ftspec-tests")
    runs = client.search_runs([experiment.experiment_id])
    assert [run.info.run_name for run in runs] == ["coach-1"]
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    assert [round(m.value, 4) for m in sorted(history, key=lambda m: m.step)] == [round(x, 4) for x in losses(out)]
    offline = list((out / "logs" / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    record = next(offline[0].glob("run-*.wandb")).read_bytes()
    assert b"ftspec-tests" in record and b"coach-1" in record and b"loss" in record
