"""Attention backends, kernels, TF32, checkpointing options, offload and trackers: what the plan decides and says."""

from __future__ import annotations

import pytest

from ftspec.inputs.hardware import cpu_bf16
from ftspec.inputs.modelinfo import dims_from_architecture, parameter_count, scratch_config
from ftspec.planner.testing import plan_until
from ftspec.spec.strategies import Scratch

FLASH = "hardware { installed = [flash_attn] }\n"


def codes(plan) -> list[str]:
    return [d.code for d in plan.diagnostics]


def test_auto_attention_is_sdpa_on_a_cpu_and_when_the_target_is_unknown():
    cpu, unknown = plan_until("", target="cpu").base, plan_until("").base
    assert (cpu.attention, unknown.attention) == ("sdpa", "sdpa")
    assert "CPU target" in cpu.attention_reason and "known only at launch" in unknown.attention_reason


def test_auto_attention_picks_flash_on_an_ampere_gpu_that_has_it():
    plan = plan_until(FLASH + "data { packing = false }", target="h100")
    assert plan.base.attention == "flash_attention_2"
    assert "flash_attn" in plan.base.attention_reason


@pytest.mark.parametrize(
    ("text", "target", "why"),
    [
        ("data { packing = false }", "h100", "does not say it has `flash_attn`"),
        (FLASH + "data { packing = false }", "t4", "older than Ampere"),
        (FLASH + "data { packing = false }\ntrain { precision = fp32 }", "h100", "fp32"),
        (FLASH + "data { packing = true }", "h100", "attend to each other in rows of 8"),
    ],
)
def test_auto_attention_says_why_not_flash(text, target, why):
    plan = plan_until(text, target=target)
    assert plan.base.attention == "sdpa" and why in plan.base.attention_reason
    assert not [code for code in codes(plan) if code != "FT405"]  # org/model has no known size


def test_packed_flash_attention_with_one_row_per_micro_batch_keeps_examples_apart():
    plan = plan_until(FLASH + "data { packing = true }\ntrain { batch_size = 1 }", target="h100")
    assert plan.base.attention == "flash_attention_2"


@pytest.mark.parametrize(
    ("text", "target", "code"),
    [
        ("base { attention = flash_attention_2 }", "cpu", "FT435"),
        ("base { attention = flash_attention_2 }\ndata { packing = false }", "v100", "FT435"),
        ("base { attention = flash_attention_2 }\ndata { packing = true }", "h100", "FT436"),
        (
            "base { attention = flash_attention_2 }\ndata { packing = false }\nhardware { installed = [] }",
            "h100",
            "FT437",
        ),
        ("train { kernels = liger }", "cpu", "FT438"),
        ("train { kernels = liger }\nhardware { installed = [flash_attn] }", "h100", "FT437"),
        ("train { tf32 = true }", "t4", "FT251"),
        ("hardware { offload = optimizer\n distributed = fsdp }", "h100", "FT250"),
        ("hardware { offload = all\n distributed = zero2 }", "h100", "FT250"),
        ("hardware { offload = all }", "cpu", "FT250"),
        ("train { offload_activations = true }", "cpu", "FT514"),
        ("train { use_reentrant = true\n gradient_checkpointing = false }", "cpu", "FT515"),
    ],
)
def test_impossible_combinations_are_diagnosed(text, target, code):
    assert code in codes(plan_until(text, target=target))


def test_liger_auto_follows_the_target_and_the_family():
    gpu = plan_until("hardware { installed = [liger_kernel] }", target="h100").train
    assert (gpu.kernels, plan_until("", target="h100").train.kernels) == ("liger", "none")
    gpt2 = (
        "tokenizer { train = true }\nstrategy scratch { architecture = gpt2 }\nhardware { installed = [liger_kernel] }"
    )
    plan = plan_until(gpt2, target="h100").train
    assert plan.kernels == "none" and "`gpt2` models" in plan.kernels_reason


def _hundred_b(offload: str, host: str = "") -> str:
    return (
        'base { model = "meta-llama/Llama-2-70b-hf" }\nstrategy full { }\ntrain { batch_size = 8 }\n'
        f"hardware {{ gpus = 8\n offload = {offload}\n{host} }}"
    )


def test_offload_moves_the_model_state_to_the_host_and_is_checked_against_its_memory():
    kept = plan_until(_hundred_b("none").replace("offload = none\n", "distributed = zero3\n"), target="h100")
    moved = plan_until(_hundred_b("all"), target="h100")
    assert moved.hardware.distributed == "zero3" and moved.hardware.offload == "all"
    assert moved.memory.per_device_gib < kept.memory.per_device_gib / 3
    # What leaves the devices arrives on the host: 8 processes' shards of weights, gradients and AdamW state.
    assert moved.memory.host_gib > 8 * (
        kept.memory.components_gib["optimizer"] + 0.9 * kept.memory.components_gib["gradients"]
    )
    small = plan_until(_hundred_b("all", "host_memory = 256GiB"), target="h100")
    assert "FT439" in codes(small) and small.memory.host_limit_gib == 256.0
    assert "FT439" not in codes(plan_until(_hundred_b("all", "host_memory = 4096GiB"), target="h100"))


def test_optimizer_offload_picks_zero2_and_frees_the_optimizer_state():
    plan = plan_until(_hundred_b("optimizer"), target="h100")
    assert plan.hardware.distributed == "zero2" and plan.memory.components_gib["optimizer"] == 0.0
    assert plan.memory.host_gib > 0


def test_activation_offload_frees_device_activations():
    text = 'base { model = "meta-llama/Llama-2-7b-hf" }\ndata { max_length = 8192 }\ntrain { batch_size = 1 }\n'
    kept = plan_until(text + "train { gradient_checkpointing = false }", target="h100").memory
    moved = plan_until(text + "train { gradient_checkpointing = false\n offload_activations = true }", target="h100")
    assert moved.memory.components_gib["activations"] < kept.components_gib["activations"] / 5
    assert moved.memory.host_gib > kept.components_gib["activations"] / 2
    assert moved.train.offload_activations


def test_eager_attention_is_charged_for_its_scores():
    text = 'base { model = "meta-llama/Llama-2-7b-hf" }\ndata { max_length = 4096 }\ntrain { batch_size = 1\n'
    text += " gradient_checkpointing = false }\n"
    sdpa = plan_until(text, target="h100").memory.components_gib["activations"]
    eager = plan_until(text + "base { attention = eager }", target="h100").memory.components_gib["activations"]
    # bf16: fp32 softmax output and its bf16 cast, 32 heads x 4096 x 4096 per layer, 32 layers: 96 GiB more.
    assert eager - sdpa == pytest.approx(96, abs=0.05)


def test_paged_adamw_32bit_keeps_float32_moments():
    plan = plan_until("strategy full { }\ntrain { optimizer = paged_adamw_32bit }", target="h100")
    assert plan.memory.state_dtypes["optimizer_state"].startswith("float32")


def test_trackers_and_names_are_explicit():
    plan = plan_until('train { trackers = [wandb, mlflow, wandb]\n project = "p" }', target="cpu").train
    assert (plan.trackers, plan.project, plan.run_name) == (("wandb", "mlflow"), "p", "demo")
    assert plan_until("", target="cpu").train.trackers == "auto"


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "mistral", "gpt2"])
def test_scratch_parameter_count_matches_the_built_model(architecture):
    from transformers import AutoConfig, AutoModelForCausalLM

    kv = None if architecture == "gpt2" else 2
    strategy = Scratch(architecture=architecture, hidden_size=64, layers=2, heads=4, kv_heads=kv, tie_embeddings=False)
    config = scratch_config(strategy, 128)
    model = AutoModelForCausalLM.from_config(
        AutoConfig.for_model(**config, vocab_size=1000, bos_token_id=0, eos_token_id=0)
    )
    assert parameter_count(dims_from_architecture(config, 1000)) == sum(p.numel() for p in model.parameters())
    assert model.config.model_type == architecture


def test_cpu_bf16_units_are_read_from_the_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert cpu_bf16(str(info))
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2\n")
    assert not cpu_bf16(str(info))
    assert not cpu_bf16(str(tmp_path / "missing"))


def test_auto_precision_on_a_cpu_with_bf16_units_depends_on_the_width():
    from dataclasses import replace

    from ftspec.planner import draft, run_passes
    from ftspec.planner.testing import inputs_from_text

    def precision(hidden: int) -> tuple[str, tuple[str, ...]]:
        inputs = inputs_from_text(f"strategy scratch {{ hidden_size = {hidden}\n heads = 8 }}", target="cpu")
        inputs = inputs.model_copy(update={"hardware": replace(inputs.hardware, bf16=True)})
        plan = run_passes(draft(inputs))
        return plan.hardware.precision, plan.notes

    wide, narrow = precision(512), precision(128)
    assert wide[0] == "bf16" and any("bf16 autocast on this CPU" in note for note in wide[1])
    assert narrow[0] == "fp32" and any("gains too little" in note for note in narrow[1])
    assert plan_until("strategy scratch { hidden_size = 512\n heads = 8 }", target="cpu").hardware.precision == "fp32"
