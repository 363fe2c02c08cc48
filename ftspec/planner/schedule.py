"""Decide the length of training, the learning rate and its warm-up."""

from __future__ import annotations

from ..spec.schema import Percent
from .plan import Plan

# Peak learning rates that work for each strategy when the spec gives none.
LEARNING_RATES = {
    "full": 2e-5,
    "lora": 2e-4,
    "qlora": 2e-4,
    "adalora": 2e-4,
    "ia3": 3e-3,
    "loha": 2e-4,
    "lokr": 2e-4,
    "scratch": 1e-3,
}


def decide_schedule(plan: Plan) -> Plan:
    """Epochs or steps, the peak learning rate, warm-up and gradient checkpointing.

    >>> from ftspec.planner.testing import plan_until
    >>> t = plan_until('train { warmup = 5% }', decide_schedule).train
    >>> t.epochs, t.learning_rate, t.warmup_ratio, t.warmup_steps
    (1, 0.0002, 0.05, None)
    """
    train = plan.spec.train
    warmup = train.warmup
    updates = {
        "epochs": train.epochs if train.epochs is not None else (None if train.max_steps else 1),
        "max_steps": train.max_steps,
        "learning_rate": train.learning_rate
        if train.learning_rate is not None
        else LEARNING_RATES[plan.spec.strategy.kind],
        "warmup_ratio": warmup.fraction if isinstance(warmup, Percent) else None,
        "warmup_steps": warmup if not isinstance(warmup, Percent) else None,
        "gradient_checkpointing": train.gradient_checkpointing is True,
    }
    return plan.with_(train=plan.train.model_copy(update=updates))
