"""Estimate the size of the job before it runs: tokens, steps, FLOPs and duration."""

from __future__ import annotations

import math

from .mixture import draws, source_plan
from .plan import EstimatePlan, Plan
from .rowchoice import read_share
from .tokens import CHARS_PER_TOKEN, count_tokens, why_estimated

UTILISATION = 0.40  # share of peak FLOP/s a well-fed training step reaches on a GPU


def kept_share(plan: Plan) -> float:
    """The share of the training files' rows that trains: those the split's slice and `max_samples` leave, less
    the held-out share."""
    return read_share(plan) * (1 - (plan.data.eval_split or 0.0))


def training_rows(plan: Plan) -> int | None:
    """Rows the model trains on: the training files' rows read, less the held-out share."""
    return int(plan.inputs.data_rows * kept_share(plan)) if plan.inputs.data_rows else None


def tokens_seen(plan: Plan, tokens_per_epoch: int | None) -> int | None:
    """Training tokens over the whole run: tokens per epoch times epochs, or what `max_steps` reads."""
    train = plan.train
    if tokens_per_epoch is None:
        return None
    if train.max_steps is not None:
        return train.max_steps * train.effective_batch_size * plan.data.max_length
    return tokens_per_epoch * (train.epochs or 1)


def warmup_steps(plan: Plan) -> int | None:
    """Warm-up in optimizer steps, rounded as the training loop rounds it; None when the steps are not known."""
    train = plan.train
    if train.warmup_ratio is None:
        return train.warmup_steps
    steps = plan.estimates.optimizer_steps if plan.estimates else None
    return int(train.warmup_ratio * steps) if steps is not None else None


def data_size(plan: Plan) -> tuple[int | None, str, int | None]:
    """Training tokens and sequences of one epoch of ``plan.data``, and how the tokens were found."""
    inputs, data = plan.inputs, plan.data
    counted = count_tokens(plan)  # with the spec's own tokenizer where it is on disk (see ftspec.planner.tokens)
    if counted is not None:
        tokens, how = int(counted[0] * kept_share(plan)), counted[1]
    else:
        tokens = int(inputs.data_bytes * kept_share(plan) / CHARS_PER_TOKEN) if inputs.data_bytes else None
        how = f"estimated at {CHARS_PER_TOKEN} characters a token: {why_estimated(plan)}"
    rows = training_rows(plan)
    sequences = None
    if tokens is not None:
        packed = math.ceil(tokens / data.max_length)
        sequences = packed if data.packing else max(rows or 0, packed if data.format == "text" else 0)
    return tokens, how, sequences


def mixed_size(plan: Plan) -> tuple[Plan, int | None, str, int | None]:
    """One epoch of a mixture: each source's sequences, what the epoch draws from each (its share of all of
    them) and the tokens of those; the plan's mixture gets the figures."""
    sizes = [data_size(source_plan(plan, source)) for source in plan.mixture.sources]
    hows = dict.fromkeys(how for _, how, _ in sizes)
    how = (
        next(iter(hows))
        if len(hows) == 1
        else "; ".join(f"{source.name}: {how}" for source, (_, how, _) in zip(plan.mixture.sources, sizes, strict=True))
    )
    if any(sequences is None for _, _, sequences in sizes):
        return plan, None, how, None
    total = sum(sequences for _, _, sequences in sizes)
    drawn = draws(total, [source.share for source in plan.mixture.sources])
    sources, tokens = [], 0
    for source, (own_tokens, _, own), count in zip(plan.mixture.sources, sizes, drawn, strict=True):
        seen = round(count * own_tokens / own) if own else 0
        tokens += seen
        figures = {"sequences": own, "drawn_per_epoch": count, "tokens_per_epoch": seen}
        sources.append(source.model_copy(update=figures))
    mixture = plan.mixture.model_copy(update={"sources": tuple(sources)})
    return plan.with_(mixture=mixture), tokens, how, total


def decide_estimates(plan: Plan) -> Plan:
    """Tokens and sequences per epoch, optimizer steps, training FLOPs and duration.

    >>> from ftspec.planner.testing import plan_until
    >>> e = plan_until('data { max_length = 128\\n packing = true }', decide_estimates).estimates
    >>> e.tokens_per_epoch, e.sequences_per_epoch, e.optimizer_steps
    (2250, 18, 3)
    """
    inputs, train = plan.inputs, plan.train
    if plan.mixture is not None:
        plan, tokens, how, sequences = mixed_size(plan)
    else:
        tokens, how, sequences = data_size(plan)
    steps = train.max_steps
    if steps is None and sequences is not None:
        steps = math.ceil(sequences / train.effective_batch_size) * (train.epochs or 1)
    flops = duration = gpu_hours = None
    memory = plan.memory
    if steps is not None and tokens is not None and memory and memory.total_params:
        seen = tokens_seen(plan, tokens)
        n, trained = memory.total_params, memory.trainable_params or 0
        # Forward 2N, backward through activations 2N, weight gradients 2T; checkpointing runs forward twice.
        per_token = 2 * n + 2 * n + 2 * trained + (2 * n if train.gradient_checkpointing else 0)
        flops = float(per_token * seen)
        peak = inputs.hardware.peak_tflops
        if peak:
            # One GPU's sustained rate over all the FLOPs; spread over the processes, that is the duration.
            hours = flops / (peak * 1e12 * UTILISATION) / 3600
            duration, gpu_hours = round(hours / plan.hardware.processes, 3), round(hours, 4)
    decided = EstimatePlan(
        tokens_per_epoch=tokens,
        token_count=how,
        sequences_per_epoch=sequences,
        optimizer_steps=steps,
        train_flops=flops,
        utilisation=UTILISATION,
        duration_hours=duration,
        gpu_hours=gpu_hours,
    )
    return plan.with_(estimates=decided)
