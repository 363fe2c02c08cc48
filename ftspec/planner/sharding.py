"""Decide how a quantized base is stored when its weights are sharded (FSDP, ZeRO-3)."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from .memory import SHARDED
from .plan import Plan
from .precision import DTYPES

# A precision picked at launch stores in bfloat16, what the GPUs that shard weights have.
STORAGE = {**DTYPES, "auto": "bfloat16"}


def decide_sharded_quantization(plan: Plan) -> Plan:
    """4-bit weights can be sharded when stored in the compute dtype; 8-bit weights cannot.

    >>> from ftspec.planner.testing import plan_until
    >>> p = plan_until('strategy qlora { }\\nhardware { gpus = 8\\n distributed = fsdp }', decide_sharded_quantization,
    ...                target="h100")
    >>> p.strategy.quantization["quant_storage"]
    'bfloat16'
    """
    quantization = plan.strategy.quantization
    if quantization is None:
        return plan
    sharded = plan.hardware.distributed in SHARDED
    if sharded and quantization["bits"] == 8:
        return plan.diagnose(
            Diagnostic(
                "FT404",
                f"an 8-bit quantized base cannot be sharded with `distributed = {plan.hardware.distributed}`",
                plan.inputs.sources.at("strategy", "bits"),
                "use `bits = 4` (its weights shard when stored in the compute dtype), or `distributed = ddp`",
            )
        )
    # FSDP and ZeRO-3 flatten parameters of one dtype: packed 4-bit weights are stored in the compute dtype.
    storage = STORAGE[plan.hardware.precision] if sharded else "uint8"
    plan = plan.note(f"qlora: 4-bit weights stored as {storage} so that they shard") if sharded else plan
    strategy = plan.strategy.model_copy(update={"quantization": {**quantization, "quant_storage": storage}})
    return plan.with_(strategy=strategy)
