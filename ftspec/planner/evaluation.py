"""Decide what the evaluation harness measures."""

from __future__ import annotations

from .plan import EvalPlan, Plan

DEFAULT_METRICS = {
    "text": ("perplexity", "loss"),
    "instruction": ("perplexity", "loss", "response_loss", "rouge_l", "chrf"),
    "chat": ("perplexity", "loss", "response_loss", "rouge_l", "chrf"),
    "classification": ("accuracy", "macro_f1", "precision", "recall", "confusion_matrix"),
    "preference": ("preference_accuracy", "reward_margin"),
}


# Formats whose held-out rows carry a reference answer to score generations against.
GENERATIVE = ("instruction", "chat")


def decide_eval(plan: Plan) -> Plan:
    """Metrics by task unless the spec lists them; the batch size follows training's micro-batch.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('', decide_eval).eval.metrics
    ('perplexity', 'loss')
    """
    spec = plan.spec.eval
    # With no rows held out (`eval_split = 0%`) nothing is measured, and no held-out answer is scored.
    # A mixture is measured by held-out loss and perplexity, overall and per source: what every format has.
    fmt = "text" if plan.mixture is not None else plan.data.format
    metrics = tuple(spec.metrics) if spec.metrics else DEFAULT_METRICS[fmt]
    decided = EvalPlan(
        metrics=metrics if plan.data.held_out else (),
        compare_base=spec.compare_base,
        prompts=tuple(spec.prompts),
        max_new_tokens=spec.max_new_tokens,
        temperature=spec.temperature,
        top_p=spec.top_p,
        repetition_penalty=spec.repetition_penalty,
        samples=spec.samples if fmt in GENERATIVE and plan.data.held_out else 0,
        every=spec.every,
        per_epoch=spec.per_epoch,
        batch_size=spec.batch_size or plan.train.micro_batch_size,
    )
    return plan.with_(eval=decided)
