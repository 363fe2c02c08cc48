"""Plan figures that were wrong (issue 15), each with its corrected figure.

The catalog gives the dimensions (meta-llama/Meta-Llama-3-8B, Qwen/Qwen2.5-*, Llama-2-70B); nothing is downloaded.
"""

from __future__ import annotations

import json

import pytest

from ftspec.planner.fit import decide_fit
from ftspec.planner.testing import plan_until

LLAMA3 = 'base { model = "meta-llama/Meta-Llama-3-8B" }\n'
INSTRUCTION = 'data {\n train = "d.jsonl"\n format = instruction\n prompt = "q"\n response = "a"\n max_length = %d\n}\n'


def planned(text: str, target: str | None = "h100"):
    return plan_until(text, decide_fit, target=target)


def test_modules_to_save_are_trained_and_planned():
    """Embeddings and head trained beside a LoRA: 2 x 128,256 x 4,096 more trainable parameters, in bf16 copies."""
    lora = "strategy lora {\n rank = 32\n targets = all_linear\n%s}\ntrain { batch_size = 2 }\n"
    without = planned(LLAMA3 + INSTRUCTION % 1024 + lora % "")
    with_ = planned(LLAMA3 + INSTRUCTION % 1024 + lora % " modules_to_save = [embed_tokens, lm_head]\n")
    assert without.memory.trainable_params == 83_886_080
    assert with_.memory.trainable_params == 83_886_080 + 2 * 128_256 * 4_096  # 1,134,559,232
    # peft's copies keep the base's dtype (bf16): weight, gradient and AdamW's two moments, 8 bytes a parameter.
    saved = 2 * 128_256 * 4_096 / 2**30
    for part, size in (("adapters", 2), ("gradients", 2), ("optimizer", 4)):
        added = with_.memory.components_gib[part] - without.memory.components_gib[part]
        assert added == pytest.approx(size * saved, abs=0.02)
    # The gradients exist only after the forward's activations are gone: the peak grows by the copies and moments.
    assert with_.memory.per_device_gib - without.memory.per_device_gib == pytest.approx(6 * saved, abs=0.1)
    assert with_.memory.state_dtypes["master_weights"] == "float32 adapters, bfloat16 modules_to_save"
    assert without.memory.state_dtypes == {
        "master_weights": "float32 adapters",
        "gradients": "float32 adapters",
        "optimizer_state": "float32 adapters",
    }


def test_bf16_master_weights_fit_where_fp32_ones_do_not():
    """A full fine-tune of an 8B base loaded in bf16: 2-byte weights and gradients, no autocast copies."""
    spec = 'base {\n model = "meta-llama/Meta-Llama-3-8B"\n%s}\n' + INSTRUCTION % 2048
    spec += "strategy full { }\ntrain {\n batch_size = 1\n optimizer = paged_adamw_8bit\n"
    spec += " gradient_checkpointing = true\n}\n"
    fp32, bf16 = planned(spec % ""), planned(spec % " dtype = bfloat16\n")
    assert fp32.memory.fits is False and fp32.memory.per_device_gib == pytest.approx(76.58, abs=0.01)
    assert bf16.memory.fits is True and bf16.memory.per_device_gib < 50
    assert bf16.memory.components_gib["weights"] == pytest.approx(8_030_261_248 * 2 / 2**30, abs=0.01)
    assert bf16.memory.components_gib["gradients"] == pytest.approx(8_030_261_248 * 2 / 2**30, abs=0.01)
    assert bf16.memory.state_dtypes == {
        "master_weights": "bfloat16",
        "gradients": "bfloat16",
        "optimizer_state": "8-bit blocks (float32 for tensors under 4,096 values)",
    }
    assert fp32.memory.state_dtypes["master_weights"] == "float32"
    adamw = planned((spec % " dtype = bfloat16\n").replace("paged_adamw_8bit", "adamw"))
    assert adamw.memory.state_dtypes["optimizer_state"] == "bfloat16"  # torch's AdamW: moments like the weights
    assert adamw.memory.components_gib["optimizer"] == pytest.approx(8_030_261_248 * 4 / 2**30, abs=0.01)


def test_lora_over_fp32_weights_plans_fp32_weights():
    spec = 'base {\n model = "meta-llama/Meta-Llama-3-8B"\n dtype = float32\n}\n' + INSTRUCTION % 1024
    spec += "strategy lora { targets = all_linear }\ntrain {\n batch_size = 1\n gradient_checkpointing = true\n}\n"
    fp32 = planned(spec)
    assert fp32.memory.components_gib["weights"] == pytest.approx(8_030_261_248 * 4 / 2**30, abs=0.01)  # 29.92
    default = planned(spec.replace(" dtype = float32\n", ""))
    assert default.memory.components_gib["weights"] == pytest.approx(14.96, abs=0.01)


def test_scratch_model_takes_the_named_tokenizers_vocabulary():
    """Qwen2.5-0.5B's shape (Llama-style, so without its q/k/v biases) with its tokenizer's 151,936 tokens."""
    spec = 'tokenizer {\n train = false\n model = "Qwen/Qwen2.5-0.5B"\n}\n'
    spec += "strategy scratch {\n architecture = llama\n hidden_size = 896\n"
    spec += " layers = 24\n heads = 14\n kv_heads = 2\n intermediate_size = 4864\n tie_embeddings = true\n}\n"
    plan = plan_until(spec, decide_fit)
    assert plan.inputs.model_dims.vocab_size == 151_936
    assert plan.memory.total_params == 494_032_768 - 24 * (896 + 128 + 128)  # 494,005,120: ~494M, not 386.5M


def test_decoder_classifier_has_a_head_of_its_labels():
    """A Qwen2 reward model: two outputs per position, not 152,064, and no language-model head."""
    spec = 'base { model = "Qwen/Qwen2.5-7B" }\n'
    spec += 'data {\n train = "c.jsonl"\n format = classification\n label = "l"\n labels = [rejected, chosen]\n'
    spec += " max_length = 2048\n}\nstrategy lora { targets = all_linear }\ntrain { batch_size = 4 }\n"
    plan = planned(spec)
    memory = plan.memory
    assert memory.components_gib["activations"] < 4  # was 13.26, of which the vocabulary-sized logits ~9.5
    assert memory.total_params == 7_615_616_512 - 152_064 * 3_584 + 2 * 3_584 + 20_185_088 + 2 * 3_584
    assert memory.trainable_params == 20_185_088 + 2 * 3_584  # the adapters and the new head peft trains
    # A language model's loss over the whole vocabulary at once (no chunks) holds far more.
    full_logits = spec.replace("format = classification", "format = text").replace(
        "batch_size = 4", "batch_size = 4\n loss_chunk = 0"
    )
    as_lm = planned(full_logits)
    assert as_lm.memory.components_gib["activations"] > 3 * memory.components_gib["activations"]


def test_no_strategy_fits_one_small_gpu():
    """A 70B full fine-tune on one 24 GiB card: QLoRA does not fit either, and no card is big enough."""
    spec = 'base { model = "meta-llama/Llama-2-70b-hf" }\nstrategy full { }\n'
    spec += "hardware {\n gpus = 1\n gpu_memory = 24GiB\n}\n"
    plan = planned(spec, target=None)
    [error] = [d for d in plan.diagnostics if d.code == "FT403"]
    assert "`1 GPU with 24 GiB` has 24.0 GiB" in error.message
    assert "no strategy fits one such GPU, QLoRA included" in error.message
    assert "more memory" not in error.help and "zero3" in error.help
    # What would hold it on one card is named only when a shipped card does.
    lora = planned(spec.replace("Llama-2-70b-hf", "Llama-2-13b-hf").replace("full", "lora"), target="l4")
    [error] = [d for d in lora.diagnostics if d.code == "FT403"]
    assert "a GPU with more memory: `gpu = v100` (32.0 GiB)" in error.help  # ~25.17 GiB needed
    assert "no strategy fits" not in error.message


def test_state_dtypes_are_in_plan_json():
    plan = planned(LLAMA3 + "strategy qlora { }\n")
    assert json.loads(plan.model_dump_json())["memory"]["state_dtypes"]["master_weights"] == "float32 adapters"


def test_fp16_weights_cannot_train_under_fp16_mixed_precision():
    """FT410 where the scaler would meet float16 gradients; adapters over a float16 base are float32 and train."""
    base = 'base {\n model = "Qwen/Qwen2.5-0.5B"\n dtype = float16\n}\n'
    codes = {
        (kind, target): [d.code for d in planned(base + f"strategy {kind} {{ }}\n", target=target).diagnostics]
        for kind in ("full", "lora")
        for target in ("t4", "h100")
    }
    assert codes == {("full", "t4"): ["FT410"], ("full", "h100"): [], ("lora", "t4"): [], ("lora", "h100"): []}
    saved = planned(base + "strategy lora { modules_to_save = [lm_head] }\n", target="t4")
    assert [d.code for d in saved.diagnostics] == ["FT410"]


def test_semantic_diff_names_the_master_weights():
    from ftspec.diff.plans import consequences

    base = 'base {\n model = "meta-llama/Meta-Llama-3-8B"\n%s}\nstrategy full { }\n'
    old, new = (plan_until(base % dtype, target="h100") for dtype in ("", " dtype = bfloat16\n"))
    changes = {change.key: (change.old, change.new) for change in consequences(old, new)}
    assert changes["master weights"] == ("float32", "bfloat16")
    assert changes["optimizer state"] == ("float32", "bfloat16")
