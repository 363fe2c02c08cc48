"""Decide the micro-batch per process and the accumulation that keep the spec's effective batch."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from .plan import Plan, TrainPlan


def decide_batch(plan: Plan) -> Plan:
    """Split `batch_size` over the processes; `batch_size x grad_accum` stays the effective batch.

    >>> from ftspec.planner.testing import plan_until
    >>> spec = 'train { batch_size = 16\\n grad_accum = 2 }\\nhardware { gpus = 8 }'
    >>> t = plan_until(spec, decide_batch, target="h100").train
    >>> t.micro_batch_size, t.grad_accum, t.effective_batch_size
    (2, 2, 32)
    """
    train, processes = plan.spec.train, plan.hardware.processes
    micro = max(train.batch_size // processes, 1)
    if train.batch_size % processes:
        plan = plan.diagnose(
            Diagnostic(
                "FT401",
                f"`batch_size = {train.batch_size}` does not divide over {processes} processes",
                plan.inputs.sources.at("train", "batch_size"),
                f"use a multiple of {processes}, such as {processes * max(micro, 1)}",
            )
        )
    decided = TrainPlan(
        epochs=None,
        max_steps=None,
        learning_rate=0.0,
        optimizer=train.optimizer,
        scheduler=train.scheduler,
        warmup_ratio=None,
        warmup_steps=None,
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        seed=train.seed,
        log_every=train.log_every,
        compile=train.compile,
        gradient_checkpointing=False,
        loss_chunk=0,  # decide_loss sets it
        micro_batch_size=micro,
        grad_accum=train.grad_accum,
        effective_batch_size=train.batch_size * train.grad_accum,
    )
    return plan.with_(train=decided)
