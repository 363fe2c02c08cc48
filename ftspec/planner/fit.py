"""Decide what makes the plan fit in memory: gradient checkpointing, sharding, a smaller micro-batch.

The estimate is per device (ftspec.planner.memory). A plan that fits as written is left alone; otherwise
the options a spec leaves open (`gradient_checkpointing = auto`, `distributed = auto`, the
micro-batch) are taken in that order of cost, and a plan that still cannot fit is an error with
the figures and what would make it fit.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, Severity
from ..spec.schema import PEFT_KINDS
from .memory import MemoryEstimate, estimate
from .plan import MemoryPlan, Plan

GIB = 2**30
# Kept free on every device: the CUDA context (~0.5 GiB), allocator fragmentation, and what the
# estimate does not count (communication buffers, kernels' workspaces beyond cuBLAS's).
MARGIN = 0.10
SHARDED = ("zero3", "fsdp")


def _estimate(
    plan: Plan,
    *,
    checkpointing: bool,
    shard: str,
    micro: int,
    strategy: str | None = None,
    processes: int | None = None,
) -> MemoryEstimate:
    """The estimate for this plan with some of its choices replaced."""
    spec, dims = plan.spec, plan.inputs.model_dims
    kind = strategy or spec.strategy.kind
    peft = plan.strategy.peft or {}
    quant = plan.strategy.quantization
    return estimate(
        dims,
        strategy=kind,
        micro_batch=micro,
        seq_len=plan.data.max_length,
        precision=plan.hardware.precision,
        optimizer=plan.train.optimizer,
        gradient_checkpointing=checkpointing,
        shard=shard,
        processes=processes or plan.hardware.processes,
        lora_rank=16 if strategy else peft.get("r") or peft.get("init_r"),
        lora_targets="all_linear" if strategy else peft.get("target_modules"),
        quant_bits=4 if strategy == "qlora" else (quant["bits"] if quant else None),
        lora_dropout=peft.get("lora_dropout", 0.0) or 0.0,
        accelerator="cpu" if plan.hardware.accelerator == "cpu" else "cuda",
    )


def _smaller(micro: int) -> int:
    """The next micro-batch down that divides this one, so accumulation keeps the effective batch."""
    return next(d for d in range(micro - 1, 0, -1) if micro % d == 0)


def _gib(value: float) -> float:
    return round(value / GIB, 2)


def _suggestions(plan: Plan, usable: float) -> list[str]:
    """What would make a plan that does not fit fit, each checked with the estimator."""
    found = []
    processes = plan.hardware.processes
    if plan.spec.strategy.kind not in PEFT_KINDS:
        for kind in ("lora", "qlora"):
            peak = _estimate(plan, checkpointing=True, shard="none", micro=1, strategy=kind).peak
            if peak <= usable:
                found.append(f"`strategy {kind}` (rank 16 on every linear layer: ~{_gib(peak)} GiB)")
                break
    for gpus in (2, 4, 8, 16, 32, 64, 128, 256):
        if gpus <= processes:
            continue
        peak = _estimate(plan, checkpointing=True, shard="zero3", micro=1, processes=gpus).peak
        if peak <= usable:
            found.append(f"`distributed = zero3` over {gpus} GPUs (~{_gib(peak)} GiB each)")
            break
    return found or ["a GPU with more memory"]


def decide_fit(plan: Plan) -> Plan:
    """Estimate the per-device peak and change what the spec leaves open until it fits.

    >>> from ftspec.planner.testing import plan_until
    >>> p = plan_until('base { model = "meta-llama/Llama-2-7b-hf" }\\nstrategy qlora { }\\n'
    ...                'hardware { gpu = l4 }', decide_fit)
    >>> p.memory.fits, p.memory.limit_gib
    (True, 24.0)
    """
    dims, hardware, train = plan.inputs.model_dims, plan.hardware, plan.train
    if dims is None:
        base = plan.spec.base.model if plan.spec.base and plan.spec.base.model else "the base"
        note = f"memory not estimated: no config.json for {base} on this machine and no catalog entry"
        memory = MemoryPlan(
            source=None,
            per_device_gib=None,
            limit_gib=None,
            usable_gib=None,
            margin=MARGIN,
            fits=None,
            components_gib={},
            trainable_params=None,
            total_params=None,
        )
        plan = plan.note(note).with_(memory=memory)
        if plan.inputs.hardware.device_memory is None:
            return plan  # no target memory to check against: the note says what is missing
        return plan.diagnose(
            Diagnostic(
                "FT405",
                f"whether this fits `{hardware.target}` is unknown: the size of `{base}` is not known here",
                plan.inputs.sources.at("base", "model"),
                "ftspec reads config.json from a local directory or the hub cache, never the network; download the "
                "base once (or give its directory), or pick a model of the catalog (`ftspec suggest`)",
                Severity.WARNING,
            )
        )
    limit = plan.inputs.hardware.device_memory
    usable = limit * (1 - MARGIN) if limit else None
    wanted = plan.spec.train.gradient_checkpointing
    checkpointing, shard, micro = wanted is True, hardware.distributed, train.micro_batch_size
    accum = train.grad_accum
    result = _estimate(plan, checkpointing=checkpointing, shard=shard, micro=micro)
    while usable is not None and result.peak > usable:
        if wanted == "auto" and not checkpointing:
            checkpointing = True
        elif plan.spec.hardware.distributed == "auto" and hardware.processes > 1 and shard not in SHARDED:
            shard = "fsdp"
        elif micro > 1:
            smaller = _smaller(micro)
            micro, accum = smaller, accum * micro // smaller
        else:
            break
        result = _estimate(plan, checkpointing=checkpointing, shard=shard, micro=micro)
    fits = None if usable is None else result.peak <= usable
    if fits is False:
        ideas = _suggestions(plan, usable)
        plan = plan.diagnose(
            Diagnostic(
                "FT403",
                f"`strategy {plan.spec.strategy.kind}` needs ~{_gib(result.peak)} GiB per device even with gradient "
                f"checkpointing and micro-batch 1, but `{hardware.target}` has {_gib(limit)} GiB "
                f"({_gib(usable)} usable after a {MARGIN:.0%} margin)",
                plan.inputs.sources.at("strategy"),
                "what would fit: " + "; or ".join(ideas),
            )
        )
    changes = []
    if checkpointing and wanted == "auto":
        changes.append("gradient checkpointing on (activations would not fit)")
    if shard != hardware.distributed:
        changes.append(f"distributed = {shard} (the model state would not fit on one device)")
    if micro != train.micro_batch_size:
        changes.append(f"micro-batch {micro} with {accum} accumulation steps (same effective batch)")
    for change in changes:
        plan = plan.note("memory: " + change)
    components = {
        "weights": result.weights,
        "gradients": result.gradients,
        "optimizer": result.optimizer,
        "adapters": result.adapters,
        "activations": result.activations,
    }
    memory = MemoryPlan(
        source=plan.inputs.dims_source,
        per_device_gib=_gib(result.peak),
        limit_gib=_gib(limit) if limit else None,
        usable_gib=_gib(usable) if usable else None,
        margin=MARGIN,
        fits=fits,
        components_gib={name: _gib(value) for name, value in components.items()},
        trainable_params=result.trainable_params,
        total_params=result.total_params,
    )
    return plan.with_(
        memory=memory,
        fits=fits,
        train=train.model_copy(
            update={"gradient_checkpointing": checkpointing, "micro_batch_size": micro, "grad_accum": accum}
        ),
        hardware=hardware.model_copy(update={"distributed": shard}),
    )
