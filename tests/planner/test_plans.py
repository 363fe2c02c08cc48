"""Plans for the shipped hardware profiles, golden-tested, and the decisions a 7B model forces.

`pytest --update-golden` rewrites tests/plans/<spec>/<profile>/.
"""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from ftspec import api

PLANS = ROOT / "tests" / "plans"
PROFILES = {  # name: (target, overrides)
    "1x24GiB": ("l4", ()),
    "1x80GiB": ("h100", ()),
    "8x80GiB": ("h100", ("hardware.gpus=8",)),
    "2x8x80GiB": ("h100", ("hardware.nodes=2", "hardware.gpus=8")),
    "cpu": ("cpu", ()),
    "1x80GiB-offload": ("h100", ("hardware.offload=all", "hardware.host_memory=512GiB")),
}
GOLDEN = [("llama-7b-lora", profile) for profile in PROFILES] + [
    ("llama-7b-full", "8x80GiB"),
    ("llama-7b-full", "2x8x80GiB"),
    ("llama-7b-qlora", "1x24GiB"),
    ("llama-7b-full", "1x80GiB-offload"),
]


def compiled(spec: str, profile: str) -> api.Result:
    target, overrides = PROFILES[profile]
    golden = PLANS / spec / profile
    return api.compile_spec(PLANS / f"{spec}.ft", golden, overrides, target)


@pytest.mark.parametrize(("spec", "profile"), GOLDEN, ids=[f"{s}-{p}" for s, p in GOLDEN])
def test_plan_is_current(spec, profile, update_golden):
    result = compiled(spec, profile)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    kept = {"plan.json", "accelerate_config.yaml", "launch.sh", "slurm.sh"}
    files = {name: text for name, text in result.files.items() if name in kept}
    if update_golden:
        api.write(files, result.out_dir)
    on_disk = {path.name: path.read_text() for path in result.out_dir.iterdir()}
    assert on_disk == files, f"tests/plans/{spec}/{profile} is stale: run pytest --update-golden"


def test_full_fine_tuning_of_7b_on_one_24gib_card_is_refused_with_what_would_fit():
    result = api.check(PLANS / "llama-7b-full.ft", target="l4")
    [error] = [d for d in result.diagnostics if d.is_error]
    assert error.code == "FT403"
    assert "GiB per device" in error.message and "24.0 GiB" in error.message
    assert "strategy lora" in error.help and "zero3" in error.help


def test_qlora_of_7b_fits_one_24gib_card():
    plan = compiled("llama-7b-qlora", "1x24GiB").plan
    assert plan.memory.fits and plan.memory.per_device_gib < 21.6
    assert plan.strategy.quantization["bits"] == 4


def test_full_fine_tuning_of_7b_on_two_nodes_is_sharded_and_launched_with_slurm():
    result = compiled("llama-7b-full", "2x8x80GiB")
    plan = result.plan
    assert plan.hardware.distributed == "fsdp" and plan.hardware.processes == 16 and plan.memory.fits
    assert "distributed_type: FSDP" in result.files["accelerate_config.yaml"]
    slurm = result.files["slurm.sh"]
    assert "#SBATCH --nodes=2" in slurm and "#SBATCH --gpus-per-node=8" in slurm and "SLURM_NODEID" in slurm
    assert '--machine_rank "${MACHINE_RANK' in result.files["launch.sh"]


def test_full_fine_tuning_of_7b_offloaded_fits_one_80gib_card_with_zero3():
    result = compiled("llama-7b-full", "1x80GiB-offload")
    plan, config = result.plan, result.files["accelerate_config.yaml"]
    assert plan.hardware.distributed == "zero3" and plan.hardware.offload == "all" and plan.memory.fits
    assert plan.memory.host_gib > 100 and plan.memory.host_limit_gib == 512.0
    assert "offload_optimizer_device: cpu" in config and "offload_param_device: cpu" in config


def test_plan_json_has_the_keys_tools_read(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ftspec", "plan", str(PLANS / "llama-7b-lora.ft"), "--json", "--target", "l4"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout)
    assert data["memory"]["per_device_gib"] > 0 and data["memory"]["limit_gib"] == 24.0
    assert (
        data["fits"] is True and data["hardware"]["distributed"] == "none" and data["hardware"]["precision"] == "bf16"
    )
    assert (data["distributed"], data["precision"]) == ("none", "bf16")


def test_memory_of_a_catalog_model_equals_the_memory_from_its_config_json(tmp_path):
    """Without a download the planner sizes a hub model from the catalog; with its config.json on
    disk it reads that instead: the figures agree."""
    from ftspec.inputs.catalog import find

    entry = find("meta-llama/Llama-2-7b-hf")
    arch = entry.architecture
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(
        json.dumps({**arch.model_dump(), "architectures": ["LlamaForCausalLM"]})
    )
    spec = (PLANS / "llama-7b-qlora.ft").read_text()
    (tmp_path / "data.jsonl").write_text((PLANS / "data.jsonl").read_text())
    (tmp_path / "hub.ft").write_text(spec)
    (tmp_path / "local.ft").write_text(spec.replace('"meta-llama/Llama-2-7b-hf"', '"./llama"'))
    hub, local = (api.check(tmp_path / name, target="l4").plan for name in ("hub.ft", "local.ft"))
    assert hub.memory.source == "the ftspec catalog" and local.memory.source == "the base's config.json"
    assert hub.memory.per_device_gib == local.memory.per_device_gib
    assert hub.memory.total_params == local.memory.total_params
    assert hub.memory.components_gib == local.memory.components_gib
