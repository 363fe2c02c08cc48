"""What a plan costs to run: GPU-hours from the planner's duration, and money at a price per GPU-hour.

The planner's duration (ftspec.planner.estimates) is the training FLOPs at a stated share of the target's peak
FLOP/s, spread over every process; each process holds one GPU for that long, so the GPU-hours (`estimates.gpu_hours`)
are the duration times the processes (taken from the FLOPs before the duration is rounded, so short runs keep their
figure). A target without a peak figure (a CPU, detected or unknown hardware) has no duration, and the cost says why
it cannot be estimated.

>>> from ftspec.planner.testing import plan_until
>>> from ftspec.planner.estimates import decide_estimates
>>> p = plan_until('base { model = "meta-llama/Llama-2-7b-hf" }\\nstrategy qlora { }', decide_estimates,
...                target="cpu")
>>> cost(p, 2.0)["note"]
'cannot be estimated: `cpu` has no peak FLOP/s figure; plan with --target NAME for a GPU'
"""

from __future__ import annotations

import math

from .plan import Plan


def price(text: str) -> float:
    """A price per GPU-hour from the command line: a finite number, zero or more (ValueError otherwise)."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a price must be a number of zero or more, not {text!r}")
    return value


def _why_not(plan: Plan) -> str:
    """Why a plan has no duration to cost."""
    hardware = plan.inputs.hardware
    if not hardware.peak_tflops:
        return f"`{plan.hardware.target}` has no peak FLOP/s figure; plan with --target NAME for a GPU"
    if plan.memory is None or not plan.memory.total_params:
        return "the base model's size is not known here"
    return "the training data's size is not known (no data files found)"


def cost(plan: Plan, price_per_gpu_hour: float | None = None) -> dict:
    """`gpu_hours`, `price_per_gpu_hour` and `total` (None where unknown), and a `note` saying what is missing."""
    gpu_hours = plan.estimates.gpu_hours if plan.estimates else None
    if gpu_hours is None:
        return {
            "gpu_hours": None,
            "price_per_gpu_hour": price_per_gpu_hour,
            "total": None,
            "note": "cannot be estimated: " + _why_not(plan),
        }
    total = round(gpu_hours * price_per_gpu_hour, 2) if price_per_gpu_hour is not None else None
    note = None if price_per_gpu_hour is not None else "give --price P (per GPU-hour) for the total"
    return {"gpu_hours": gpu_hours, "price_per_gpu_hour": price_per_gpu_hour, "total": total, "note": note}
