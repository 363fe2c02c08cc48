"""Decide the training precision, and the dtype the base weights load in."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..spec.schema import PEFT_KINDS
from .plan import Plan

# The one table of precision names: the torch dtype of each training precision, and how Accelerate's
# `mixed_precision` names it (`auto` is picked at launch; fp32 is no mixed precision).
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
ACCELERATE = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}


def _trains_base_weights(plan: Plan) -> bool:
    """Whether some of the base's own weights train: all of them, or peft's copies of `modules_to_save` and of a
    classifier's head, which keep the base's dtype (adapters are float32 over any base)."""
    strategy = plan.spec.strategy
    if strategy.kind not in PEFT_KINDS:
        return True
    return bool(getattr(strategy, "modules_to_save", None)) or plan.spec.data.format == "classification"


# bf16 autocast on a CPU with bf16 matrix units: 1.41x-1.55x fp32 at hidden size 512, 1.03x at 128, same losses
# within 1e-4 (bench/cpu_options.py); below this width its casts cost about what the faster matmuls save.
CPU_BF16_HIDDEN = 512


def _cpu_auto(plan: Plan) -> tuple[Plan, str]:
    """`auto` on a CPU: bf16 where the CPU has bf16 units (AVX512-BF16, AMX) and the model is wide enough to gain."""
    dims = plan.inputs.model_dims
    if not plan.inputs.hardware.bf16:
        return plan, "fp32"
    if dims is None or dims.hidden_size < CPU_BF16_HIDDEN:
        width = "of unknown width" if dims is None else f"of hidden size {dims.hidden_size}"
        note = f"precision: fp32, though this CPU has bf16 units: a model {width} gains too little from them"
        return plan.note(note + f" (bf16 pays from hidden size {CPU_BF16_HIDDEN})"), "fp32"
    note = f"precision: bf16 autocast on this CPU's bf16 units (hidden size {dims.hidden_size} >= {CPU_BF16_HIDDEN})"
    return plan.note(note), "bf16"


def decide_precision(plan: Plan) -> Plan:
    """bf16 where every device has it, fp16 on older GPUs, fp32 on CPU; `auto` when unknown until launch.

    A CPU trains in bf16 under `auto` only when it has bf16 units (a detected CPU's flags say so; the shipped `cpu`
    target does not) and the model is at least CPU_BF16_HIDDEN wide: autocast pays there (bench/cpu_options.py).

    >>> from ftspec.planner.testing import plan_until
    >>> [plan_until('', decide_precision, target=t).hardware.precision for t in ("h100", "t4", "cpu")]
    ['bf16', 'fp16', 'fp32']
    >>> plan_until('', decide_precision).hardware.precision
    'auto'
    >>> plan_until('train { precision = bf16 }', decide_precision, target="cpu").hardware.precision
    'bf16'
    """
    profile, wanted = plan.inputs.hardware, plan.spec.train.precision
    if wanted == "auto":
        if profile.accelerator == "cpu":
            plan, precision = _cpu_auto(plan)
        elif profile.accelerator == "any" or profile.bf16 is None:
            precision = "auto"
        elif profile.bf16:
            precision = "bf16"
        elif profile.fp16:
            precision = "fp16"
        else:
            precision = "fp32"
    else:
        precision = wanted
        cpu = profile.accelerator == "cpu"
        supported = {"bf16": True if cpu else profile.bf16, "fp16": profile.fp16}.get(wanted, True)
        if supported is False:
            plan = plan.diagnose(
                Diagnostic(
                    "FT402",
                    f"`precision = {wanted}` is not supported by the target `{profile.name}`",
                    plan.inputs.sources.at("train", "precision"),
                    "use `precision = auto` to pick the best the hardware has",
                )
            )
    base = plan.base
    if precision == "fp16" and base.dtype == "float16" and _trains_base_weights(plan):
        plan = plan.diagnose(
            Diagnostic(
                "FT410",
                "weights loaded in float16 are trained here under fp16 mixed precision, whose gradient scaler "
                "refuses float16 gradients (`Attempting to unscale FP16 gradients` at the first step)",
                plan.inputs.sources.at("base", "dtype"),
                "use `dtype = auto` (float32 master weights under fp16 autocast), or `precision = bf16` on a GPU "
                "that has it",
            )
        )
    if base.dtype == "auto":
        # A frozen base can live in the compute dtype; trained weights stay fp32 (mixed precision).
        frozen = plan.spec.strategy.kind in PEFT_KINDS and precision in DTYPES and precision != "fp32"
        base = base.model_copy(update={"dtype": DTYPES[precision] if frozen else "float32"})
    return plan.with_(hardware=plan.hardware.model_copy(update={"precision": precision}), base=base)
