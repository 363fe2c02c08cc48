"""Decide what makes the plan fit in memory: gradient checkpointing, sharding, a smaller micro-batch.

This is the planner's one search, and the one pass that revises choices earlier passes made. The earlier passes
decide what the spec says (checkpointing, the distribution, the micro-batch); where the spec left a choice open
(`gradient_checkpointing = auto`, `distributed = auto`, a micro-batch above 1), `decide_fit` may change it, in order
of cost, until the estimate of one device's peak (ftspec.planner.memory) fits the target's usable memory. Each
revision is written into the section that owns the value and said in a note ("memory: …"); a plan that still cannot
fit is FT403 with the figures and what would make it fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..diagnostics import Diagnostic, Severity
from ..inputs.hardware import GIB, PROFILES
from ..spec.schema import PEFT_KINDS
from .memory import DTYPE_BYTES, MARGIN, SHARDED, MemoryEstimate, MemorySettings, estimate, state_dtypes, usable
from .plan import MemoryPlan, Plan


@dataclass(frozen=True)
class Fit:
    """The choices the search may revise."""

    checkpointing: bool
    shard: str
    micro: int
    accum: int


def _estimate(
    plan: Plan, fit: Fit, *, strategy: str | None = None, processes: int | None = None, reference: bool | None = None
) -> MemoryEstimate:
    """The estimate for this plan with the choices of ``fit`` (and, for a suggestion, another strategy, size or
    reference model)."""
    spec, dims = plan.spec, plan.inputs.model_dims
    peft = plan.strategy.peft or {}
    quant = plan.strategy.quantization
    # The dtype the script loads the base in; a suggested strategy gets what `base.dtype` would resolve to for it.
    dtype = plan.base.dtype if not strategy else spec.base.dtype if spec.base and spec.base.dtype != "auto" else None
    labels = plan.data.labels if plan.data.format == "classification" else None
    objective = plan.objective
    if reference is None:
        reference = objective is not None and objective.reference == "copy" and not strategy
    settings = MemorySettings(
        strategy=strategy or spec.strategy.kind,
        # A preference batch scores two sequences per row (chosen and rejected, or an answer and its mismatch).
        micro_batch=fit.micro * (2 if objective is not None else 1),
        seq_len=plan.data.max_length,
        precision=plan.hardware.precision,
        optimizer=plan.train.optimizer,
        gradient_checkpointing=fit.checkpointing,
        shard=fit.shard,
        processes=processes or plan.hardware.processes,
        lora_rank=16 if strategy else peft.get("r") or peft.get("init_r"),
        lora_targets="all_linear" if strategy else peft.get("target_modules"),
        quant_bits=4 if strategy == "qlora" else (quant["bits"] if quant else None),
        lora_dropout=peft.get("lora_dropout", 0.0) or 0.0,
        accelerator="cpu" if plan.hardware.accelerator == "cpu" else "cuda",
        weight_dtype=dtype if dtype in DTYPE_BYTES else None,
        modules_to_save=() if strategy else peft.get("modules_to_save") or (),
        num_labels=len(labels) if labels else None,
        loss_chunk=plan.train.loss_chunk,
        offload=plan.hardware.offload,
        offload_activations=plan.spec.train.offload_activations,
        attention=plan.base.attention,
        reference_copy=reference,
    )
    return estimate(dims, settings)


def _smaller(micro: int) -> int:
    """The next micro-batch down that divides this one, so accumulation keeps the effective batch."""
    return next(d for d in range(micro - 1, 0, -1) if micro % d == 0)


def _gib(value: float) -> float:
    return round(value / GIB, 2)


def _next(plan: Plan, fit: Fit) -> Fit | None:
    """The next cheapest revision of an open choice, or None when none is left."""
    if plan.spec.train.gradient_checkpointing == "auto" and not fit.checkpointing:
        return replace(fit, checkpointing=True)
    open_shard = plan.spec.hardware.distributed == "auto" and plan.hardware.offload == "none"
    if open_shard and plan.hardware.processes > 1 and fit.shard not in SHARDED:
        return replace(fit, shard="fsdp")
    if fit.micro > 1:
        smaller = _smaller(fit.micro)
        return replace(fit, micro=smaller, accum=fit.accum * fit.micro // smaller)
    return None


def search(plan: Plan, limit: float | None) -> tuple[Fit, MemoryEstimate]:
    """The plan's own choices, revised until the estimate fits ``limit`` (bytes) or nothing is left to revise."""
    train = plan.train
    fit = Fit(
        plan.spec.train.gradient_checkpointing is True,
        plan.hardware.distributed,
        train.micro_batch_size,
        train.grad_accum,
    )
    result = _estimate(plan, fit)
    while limit is not None and result.peak > limit:
        revised = _next(plan, fit)
        if revised is None:
            break
        fit, result = revised, _estimate(plan, revised)
    return fit, result


def _larger_card(plan: Plan, peak: float) -> str | None:
    """The shipped GPU with the least memory that holds ``peak`` within its margin, when the target is a GPU."""
    if plan.inputs.hardware.accelerator == "cpu":
        return None
    cards = sorted((p.device_memory, p.name) for p in PROFILES.values() if p.accelerator == "cuda" and p.device_memory)
    return next((f"`gpu = {name}` ({_gib(memory)} GiB)" for memory, name in cards if usable(memory) >= peak), None)


def _suggestions(plan: Plan, limit: float, peak: float) -> tuple[list[str], float | None]:
    """What would make a plan that does not fit fit, each checked with the estimator; and, when no PEFT strategy
    fits one device either, the cheapest one's peak (QLoRA's)."""
    found, cheapest = [], None
    fit = Fit(checkpointing=True, shard="none", micro=1, accum=1)
    if plan.spec.strategy.kind not in PEFT_KINDS:
        for kind in ("lora", "qlora"):
            cheapest = _estimate(plan, fit, strategy=kind).peak
            if cheapest <= limit:
                found.append(f"`strategy {kind}` (rank 16 on every linear layer: ~{_gib(cheapest)} GiB)")
                cheapest = None
                break
    card = _larger_card(plan, peak)
    if card:
        found.append(f"a GPU with more memory: {card}")
    for gpus in (2, 4, 8, 16, 32, 64, 128, 256):
        if gpus <= plan.hardware.processes:
            continue
        peak = _estimate(plan, replace(fit, shard="zero3"), processes=gpus).peak
        if peak <= limit:
            found.append(f"`distributed = zero3` over {gpus} GPUs (~{_gib(peak)} GiB each)")
            break
    return found, cheapest


def _dtypes(plan: Plan) -> dict[str, str]:
    """The precision of the trained state, known without the model's size."""
    dtype = plan.base.dtype if plan.base.dtype in DTYPE_BYTES else None
    saved = bool((plan.strategy.peft or {}).get("modules_to_save")) or plan.data.format == "classification"
    return state_dtypes(plan.spec.strategy.kind, plan.hardware.precision, plan.train.optimizer, dtype, saved)


def _unknown_size(plan: Plan) -> Plan:
    """No dimensions for the base: a note, and FT405 when there is a target memory to check against."""
    spec = plan.spec
    base = spec.base.model if spec.base and spec.base.model else "the base"
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
        state_dtypes=_dtypes(plan),
    )
    plan = plan.note(f"memory not estimated: no config.json for {base} on this machine and no catalog entry")
    plan = plan.with_(memory=memory)
    if plan.inputs.hardware.device_memory is None:
        return plan  # no target memory to check against: the note says what is missing
    return plan.diagnose(
        Diagnostic(
            "FT405",
            f"whether this fits `{plan.hardware.target}` is unknown: the size of `{base}` is not known here",
            plan.inputs.sources.at("base", "model"),
            "ftspec reads config.json from a local directory or the hub cache, never the network; download the "
            "base once (or give its directory), or pick a model of the catalog (`ftspec suggest`)",
            Severity.WARNING,
        )
    )


def _revisions(plan: Plan, fit: Fit) -> list[str]:
    """What the search changed, in words."""
    changes = []
    if fit.checkpointing and plan.spec.train.gradient_checkpointing == "auto":
        changes.append("gradient checkpointing on (activations would not fit)")
    if fit.shard != plan.hardware.distributed:
        changes.append(f"distributed = {fit.shard} (the model state would not fit on one device)")
    if fit.micro != plan.train.micro_batch_size:
        changes.append(f"micro-batch {fit.micro} with {fit.accum} accumulation steps (same effective batch)")
    return changes


def _does_not_fit(plan: Plan, result: MemoryEstimate, limit: int, room: float) -> Diagnostic:
    hardware = plan.hardware
    found, cheapest = _suggestions(plan, room, result.peak)
    message = (
        f"`strategy {plan.spec.strategy.kind}` needs ~{_gib(result.peak)} GiB per device even with gradient "
        f"checkpointing and micro-batch 1, but `{hardware.target}` has {_gib(limit)} GiB "
        f"({_gib(room)} usable after a {MARGIN:.0%} margin)"
    )
    if cheapest is not None:
        message += f"; no strategy fits one such GPU, QLoRA included (~{_gib(cheapest)} GiB)"
    if not found:
        largest = max(p.device_memory for p in PROFILES.values() if p.device_memory)
        help = f"no single GPU ftspec knows holds it (the largest has {_gib(largest)} GiB), nor ZeRO-3 over 256 GPUs"
    else:
        help = "what would fit: " + "; or ".join(found)
    return Diagnostic("FT403", message, plan.inputs.sources.at("strategy"), help)


def _reference_does_not_fit(plan: Plan, fit: Fit, result: MemoryEstimate, limit: int, room: float) -> Diagnostic | None:
    """FT430: the plan would fit but for its frozen reference copy; with what would fit instead."""
    objective = plan.objective
    if objective is None or objective.reference != "copy":
        return None
    alone = _estimate(plan, fit, reference=False)
    if alone.peak > room:
        return None  # it does not fit even without the reference: FT403 says what would
    lora = _estimate(plan, replace(fit, checkpointing=True), strategy="lora", reference=False).peak
    found = [f"`objective orpo` or `objective simpo`, which take no reference (~{_gib(alone.peak)} GiB)"]
    if lora <= room:
        found.insert(
            0, f"`strategy lora`, whose reference is the base with the adapter switched off (~{_gib(lora)} GiB)"
        )
    return Diagnostic(
        "FT430",
        f"`objective {objective.kind}` keeps a frozen reference copy of the model (~{_gib(result.reference)} GiB): "
        f"~{_gib(result.peak)} GiB per device with it, but `{plan.hardware.target}` has {_gib(limit)} GiB "
        f"({_gib(room)} usable after a {MARGIN:.0%} margin)",
        plan.inputs.sources.at("objective"),
        "what would fit: " + "; or ".join(found),
    )


def decide_fit(plan: Plan) -> Plan:
    """Estimate the per-device peak and revise what the spec leaves open until it fits.

    >>> from ftspec.planner.testing import plan_until
    >>> p = plan_until('base { model = "meta-llama/Llama-2-7b-hf" }\\nstrategy qlora { }\\n'
    ...                'hardware { gpu = l4 }', decide_fit)
    >>> p.memory.fits, p.memory.limit_gib
    (True, 24.0)
    """
    if plan.inputs.model_dims is None:
        return _unknown_size(plan)
    limit = plan.inputs.hardware.device_memory
    room = usable(limit)
    fit, result = search(plan, room)
    fits = None if room is None else result.peak <= room
    if fits is False:
        plan = plan.diagnose(
            _reference_does_not_fit(plan, fit, result, limit, room) or _does_not_fit(plan, result, limit, room)
        )
    for change in _revisions(plan, fit):
        plan = plan.note("memory: " + change)
    components = {
        "weights": result.weights,
        "gradients": result.gradients,
        "optimizer": result.optimizer,
        "adapters": result.adapters,
        "activations": result.activations,
    }
    if result.reference:
        components["reference"] = result.reference
    memory = MemoryPlan(
        source=plan.inputs.dims_source,
        per_device_gib=_gib(result.peak),
        limit_gib=_gib(limit) if limit else None,
        usable_gib=_gib(room) if room else None,
        margin=MARGIN,
        fits=fits,
        components_gib={name: _gib(value) for name, value in components.items()},
        trainable_params=result.trainable_params,
        total_params=result.total_params,
        state_dtypes=dict(result.dtypes),
        host_gib=_gib(result.host * plan.hardware.devices_per_node) if result.host else None,
    )
    revised = {"gradient_checkpointing": fit.checkpointing, "micro_batch_size": fit.micro, "grad_accum": fit.accum}
    return plan.with_(
        memory=memory,
        train=plan.train.model_copy(update=revised),
        hardware=plan.hardware.model_copy(update={"distributed": fit.shard}),
    )
