"""Decide the options of the training step that change no figure of the plan: kernels, TF32, checkpointing, trackers.

FT251  `tf32` on a target without TensorFloat-32 (a CPU, a GPU older than Ampere)
FT437  a kernel package the target says it does not have (`hardware.installed`)
FT438  Liger kernels where they cannot run: a CPU target, or a model family Liger does not patch
FT514  activation offloading on a CPU target, where host memory is the device's (warning)
FT515  a gradient-checkpointing option without gradient checkpointing (warning)

Liger-Kernel patches RMSNorm, rotary embeddings and the SwiGLU MLP of the families below with Triton kernels (CUDA
only). Its fused linear cross-entropy is not used: the generated script's own loss already never holds the full
logits (`train.loss_chunk`).
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, Severity
from .plan import Plan

# Model types liger_kernel.transformers patches (in its MODEL_TYPE_TO_APPLY_LIGER_FN since 0.6).
LIGER_FAMILIES = frozenset(
    ("llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3_text", "phi3")
    + ("granite", "olmo2", "glm4")
)


def _liger_blocker(plan: Plan) -> str | None:
    profile, dims = plan.inputs.hardware, plan.inputs.model_dims
    if profile.accelerator == "cpu":
        return "a CPU target: Liger's Triton kernels run on GPUs only"
    if dims is not None and dims.model_type not in LIGER_FAMILIES:
        return f"`{dims.model_type}` models, which Liger does not patch"
    return None


def _kernels(plan: Plan) -> tuple[Plan, str, str]:
    asked, profile = plan.spec.train.kernels, plan.inputs.hardware
    blocker, installed = _liger_blocker(plan), profile.installed
    if asked == "none":
        return plan, "none", "as the spec says"
    if asked == "auto":
        if blocker:
            return plan, "none", f"not Liger on {blocker}"
        if profile.accelerator == "any":
            return plan, "none", "the target is known only at launch (name one that lists `liger_kernel`)"
        if installed is None or "liger_kernel" not in installed:
            said = "does not list" if installed is not None else "does not say it has"
            return plan, "none", f"the target {said} `liger_kernel` (`hardware.installed`)"
        return plan.note("kernels: Liger's fused RMSNorm, RoPE and SwiGLU"), "liger", "`liger_kernel` on a GPU target"
    where = plan.inputs.sources.at("train", "kernels")
    if blocker:
        plan = plan.diagnose(
            Diagnostic("FT438", f"`kernels = liger` cannot run on {blocker}", where, "use `kernels = auto` or `none`")
        )
    if installed is not None and "liger_kernel" not in installed:
        plan = plan.diagnose(
            Diagnostic(
                "FT437",
                "`kernels = liger` needs the `liger_kernel` package, which `hardware.installed` does not list",
                where,
                "add `liger_kernel` to `installed` once the target has it (`pip install liger-kernel`), or use "
                "`kernels = auto`",
            )
        )
    return plan, "liger", "as the spec says"


def _warnings(plan: Plan) -> Plan:
    train, profile = plan.spec.train, plan.inputs.hardware
    if train.tf32 and (profile.accelerator == "cpu" or profile.bf16 is False):
        plan = plan.diagnose(
            Diagnostic(
                "FT251",
                f"`tf32 = true` on `{profile.name}`, which has no TensorFloat-32 (Ampere and newer GPUs have it)",
                plan.inputs.sources.at("train", "tf32"),
                "remove `tf32`, or plan for an Ampere or newer GPU",
            )
        )
    if train.offload_activations and profile.accelerator == "cpu":
        plan = plan.diagnose(
            Diagnostic(
                "FT514",
                "`offload_activations = true` on a CPU target copies the saved activations within the same memory",
                plan.inputs.sources.at("train", "offload_activations"),
                "remove it; on a CPU, `gradient_checkpointing = true` is what saves activation memory",
                Severity.WARNING,
            )
        )
    if train.use_reentrant and not plan.train.gradient_checkpointing:
        plan = plan.diagnose(
            Diagnostic(
                "FT515",
                "`use_reentrant = true` does nothing without gradient checkpointing, which this plan does not use",
                plan.inputs.sources.at("train", "use_reentrant"),
                "remove it, or write `gradient_checkpointing = true`",
                Severity.WARNING,
            )
        )
    return plan


def decide_training_options(plan: Plan) -> Plan:
    """Kernels, TF32, the checkpointing options and the experiment trackers, as the script will use them.

    >>> from ftspec.planner.testing import plan_until
    >>> t = plan_until('train { trackers = [mlflow] }', decide_training_options, target="cpu").train
    >>> t.kernels, t.trackers, t.project
    ('none', ('mlflow',), 'demo')
    """
    train = plan.spec.train
    plan, kernels, reason = _kernels(plan)
    plan = _warnings(plan)
    trackers = train.trackers if train.trackers == "auto" else tuple(dict.fromkeys(train.trackers))
    decided = {
        "use_reentrant": train.use_reentrant,
        "offload_activations": train.offload_activations,
        "tf32": train.tf32,
        "kernels": kernels,
        "kernels_reason": reason,
        "trackers": trackers,
        "project": train.project or plan.name,
        "run_name": train.run_name or plan.name,
    }
    return plan.with_(train=plan.train.model_copy(update=decided))
