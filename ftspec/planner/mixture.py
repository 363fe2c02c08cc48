"""Plan a mixture of data sources: each source's data decided on its own, then what an epoch draws from each.

An epoch of a mixture has as many training sequences as all its sources together; a source's share of them is its
weight over the sum of the weights (see `spec.datablocks.Data.weight`). `draws` rounds the shares to whole
sequences exactly as the emitted train.py does, so the planned steps are the steps that run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .data import decide_data
from .plan import DataPlan, MixturePlan, Plan, SourcePlan

EPOCH = (
    "as many sequences as all sources' training splits together; each source's share (its weight over the sum) "
    "drawn from its own sequences: whole shuffled passes, then the rest without replacement, anew each epoch from "
    "the shuffling seed and the epoch"
)


def draws(total: int, shares: list[float]) -> list[int]:
    """``total`` split by ``shares`` into whole numbers that add up to it (the largest remainders round up).

    >>> draws(10, [0.75, 0.25]), draws(7, [0.5, 0.5])
    ([8, 2], [4, 3])
    """
    exact = [total * share / sum(shares) for share in shares]
    counts = [math.floor(value) for value in exact]
    order = sorted(range(len(shares)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def source_plan(plan: Plan, source: SourcePlan) -> Plan:
    """``plan`` as one source sees it: its inputs, and its data plan as `data`."""
    return plan.with_(inputs=plan.inputs.for_source(source.name), data=source.data)


def each_source(plan: Plan, check: Callable[[Plan], Plan]) -> Plan:
    """``check`` of one data source run on each source of a mixture (on ``plan`` itself for one source), what it
    finds kept; for a mixture, only its diagnostics."""
    if plan.mixture is None:
        return check(plan)
    for source in plan.mixture.sources:
        own = source_plan(plan, source)
        for diagnostic in check(own).diagnostics[len(own.diagnostics) :]:
            plan = plan.diagnose(diagnostic)
    return plan


def decide_sources(plan: Plan) -> Plan:
    """The data plan of one source; of a mixture, every source's (each checked in its own block), the first
    standing in as `data` with every source's files.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('data { format = text }', decide_sources).mixture is None
    True
    """
    spec = plan.spec
    if not spec.mixture:
        return decide_data(plan)
    total = sum(data.weight or 1.0 for data in spec.mixture.values())
    # Packing is one for the mixture: as set, else only for a mixture of text alone (as for one source).
    packing = (
        spec.data.packing
        if spec.data.packing is not None
        else all(data.format == "text" for data in spec.mixture.values())
    )
    held_out = any(d.eval or d.eval_split is None or d.eval_split.value > 0 for d in spec.mixture.values())
    decided = []
    for name, data in spec.mixture.items():
        own = decide_data(plan.with_(inputs=plan.inputs.for_source(name)))
        for diagnostic in own.diagnostics[len(plan.diagnostics) :]:
            # FT511 warns of a run with no held-out rows; a mixture has them while another source holds rows out.
            if diagnostic.code != "FT511" or not held_out:
                plan = plan.diagnose(diagnostic)
        weight = data.weight or 1.0
        own_data = own.data.model_copy(update={"packing": packing, "group_by_length": not packing})
        decided.append(SourcePlan(name=name, weight=weight, share=round(weight / total, 6), data=own_data))
    first: DataPlan = decided[0].data
    combined = first.model_copy(
        update={
            "train": tuple(path for source in decided for path in source.data.train),
            "eval": tuple(path for source in decided for path in source.data.eval),
            "held_out": any(source.data.held_out for source in decided),
        }
    )
    return plan.with_(data=combined, mixture=MixturePlan(sources=tuple(decided), epoch=EPOCH))
