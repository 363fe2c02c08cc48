"""Decide the training objective: the preference loss, its reference model, and the layout of its rows."""

from __future__ import annotations

from ..spec.objectives import REFERENCED_KINDS
from ..spec.schema import PEFT_KINDS
from .plan import ObjectivePlan, Plan


def reference_of(objective, strategy_kind: str) -> str:
    """`adapter` (the base with the adapter off) for adapter strategies, else a frozen `copy`; `none` without one."""
    if objective.kind not in REFERENCED_KINDS:
        return "none"
    if objective.reference in ("adapter", "copy"):
        return objective.reference
    return "adapter" if strategy_kind in PEFT_KINDS else "copy"


def decide_objective(plan: Plan) -> Plan:
    """The objective of a spec with an `objective` block; None (supervised learning) without one.

    >>> from ftspec.planner.testing import plan_until
    >>> spec = ('data { format = preference\\n prompt = "q"\\n chosen = "c"\\n rejected = "r" }\\n'
    ...         'strategy lora { }\\nobjective dpo { }')
    >>> o = plan_until(spec, decide_objective).objective
    >>> o.kind, o.loss, o.beta, o.reference, o.layout
    ('dpo', 'sigmoid', 0.1, 'adapter', 'pairs')
    """
    objective, data = plan.spec.objective, plan.spec.data
    if objective is None or data.format != "preference":
        return plan
    kind = objective.kind
    unpaired = kind == "kto"
    decided = ObjectivePlan(
        kind=kind,
        loss=getattr(objective, "loss", kind),
        beta=objective.beta,
        label_smoothing=getattr(objective, "label_smoothing", 0.0),
        gamma=getattr(objective, "gamma", 0.0),
        desirable_weight=getattr(objective, "desirable_weight", 1.0),
        undesirable_weight=getattr(objective, "undesirable_weight", 1.0),
        reference=reference_of(objective, plan.spec.strategy.kind),
        layout="unpaired" if unpaired else ("pairs" if data.prompt else "conversations"),
        chosen_column=None if unpaired else data.chosen,
        rejected_column=None if unpaired else data.rejected,
        completion_column=data.completion if unpaired else None,
        label_column=data.label if unpaired else None,
    )
    return plan.with_(objective=decided)
