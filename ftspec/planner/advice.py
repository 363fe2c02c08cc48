"""Advice on a finished plan: warnings about choices that work but are probably not what was meant.

Each is a warning with a code FT502–FT506, located at the setting it is about, and never an error: a spec that
gets advice still compiles. Advice is given only for a plan without errors, since a spec that cannot compile has
more pressing problems.

FT501  a peak learning rate outside what the strategy (and, for full fine-tuning, the base's size) usually needs
FT502  a general base where the catalog has a base of similar size for the spec's `domain`
FT503  a model trained from scratch on far less data than a compute-optimal run would use
FT504  a training set too small for the strategy and the size of the base
FT505  a base whose licence does not allow commercial use
FT506  adapters (LoRA and kin) on a base so small that full fine-tuning costs little more
"""

from __future__ import annotations

import math
import shlex

from ..diagnostics import Diagnostic, Severity
from ..figures import count, plural
from ..inputs.domains import catalog_domains, describe, general_purpose
from ..spec.schema import PEFT_KINDS
from .estimates import tokens_seen, training_rows
from .plan import Plan

# Hoffmann et al. 2022 ("Chinchilla"): a compute-optimal run sees ~20 training tokens per parameter.
TOKENS_PER_PARAMETER = 20
# Advice only when far below: under a quarter of that budget (5 tokens per parameter).
FAR_BELOW = 0.25
# A domain base is a drop-in alternative when its size is within this factor of the spec's base.
SIMILAR_SIZE = 3.0
# Full fine-tuning of a base this large updates billions of weights: below FULL_LARGE_ROWS examples it mostly
# memorises them. Under any strategy, a base of SIZABLE parameters or more learns little from under FEW_ROWS.
LARGE_BASE, FULL_LARGE_ROWS = 1_000_000_000, 1_000
SIZABLE, FEW_ROWS = 100_000_000, 100
# Below this size, training every weight costs next to nothing, and low-rank adapters on a model with so little
# in it barely move it (a 1.6M-parameter base under LoRA r16 on q/v answered noise; fully tuned, sentences).
SMALL_BASE = 20_000_000


# Peak learning rates outside these ranges rarely train well. Full fine-tuning's range is that of bases with
# hundreds of millions of parameters and more; a base under FULL_RATE_BELOW trains at a rate like a scratch model's.
USUAL_LEARNING_RATES = {"full": (1e-6, 5e-4), "scratch": (1e-5, 1e-2), "ia3": (1e-4, 3e-2)}
PEFT_LEARNING_RATES = (1e-5, 5e-3)
FULL_RATE_BELOW = 100_000_000


def _learning_rate(plan: Plan) -> Diagnostic | None:
    """FT501: a peak learning rate outside the strategy's usual range."""
    rate, kind = plan.spec.train.learning_rate, plan.spec.strategy.kind
    if rate is None:
        return None
    low, high = USUAL_LEARNING_RATES.get(kind, PEFT_LEARNING_RATES)
    params = plan.memory.total_params if plan.memory else None
    small = kind == "full" and params is not None and params < FULL_RATE_BELOW
    if small:
        low, high = USUAL_LEARNING_RATES["scratch"]
    if low <= rate <= high:
        return None
    side = "high" if rate > high else "low"
    usual = f"{kind} of a base under {count(FULL_RATE_BELOW)} parameters" if small else kind
    return _warning(
        "FT501",
        f"`learning_rate = {rate:g}` is {side} for `strategy {kind}`",
        plan.inputs.sources.at("train", "learning_rate"),
        f"{usual} usually trains with a peak learning rate between {low:g} and {high:g}",
    )


def advise(plan: Plan) -> Plan:
    """The plan with advice warnings added; a plan with errors is returned as it is."""
    if any(d.is_error for d in plan.diagnostics):
        return plan
    entry = _catalog_entry(plan)
    found = [
        _learning_rate(plan),
        _domain_base(plan, entry),
        _undertrained(plan),
        _tiny_data(plan),
        _licence(plan, entry),
    ]
    found.append(_adapters_on_a_small_base(plan))
    for diagnostic in found:
        if diagnostic is not None:
            plan = plan.diagnose(diagnostic)
    return plan


def _catalog_entry(plan: Plan):
    base = plan.spec.base
    if base is None or base.model is None:
        return None
    from ..inputs.catalog import find  # the catalog is read only for a spec that names a hub model

    return find(base.model)


def _warning(code: str, message: str, span, help: str) -> Diagnostic:
    return Diagnostic(code, message, span, help, Severity.WARNING)


def _closest(entry, choices):
    """The choice nearest in size to `entry` (by ratio), within SIMILAR_SIZE; None if there is none."""
    near = [c for c in choices if 1 / SIMILAR_SIZE <= c.params / entry.params <= SIMILAR_SIZE]
    return min(near, key=lambda c: (abs(math.log(c.params / entry.params)), c.id.lower()), default=None)


def _domain_base(plan: Plan, entry) -> Diagnostic | None:
    """FT502: the catalog has a base of the spec's domain, of the same kind and similar size."""
    wanted = catalog_domains(plan.spec.domain)
    if entry is None or not wanted or set(entry.domains) & set(wanted):
        return None
    from ..inputs.catalog import load_catalog

    choices = [c for c in load_catalog() if c.kind == entry.kind and set(c.domains) & set(wanted)]
    better = _closest(entry, choices)
    if better is None:
        return None
    return _warning(
        "FT502",
        f"`{entry.id}` is a {describe(entry.domains)} model, but the catalog has a {entry.kind} of similar size "
        f'for `domain = "{plan.spec.domain}"`: `{better.id}` ({describe(better.domains)})',
        plan.inputs.sources.at("base", "model"),
        f'consider `model = "{better.id}"` ({count(better.params)} parameters against {count(entry.params)}, '
        f"licence {better.license}); `ftspec suggest --domain {shlex.quote(plan.spec.domain)}` lists the others",
    )


def _undertrained(plan: Plan) -> Diagnostic | None:
    """FT503: a scratch model far below the compute-optimal ~20 tokens per parameter."""
    if plan.spec.strategy.kind != "scratch" or plan.memory is None or not plan.memory.total_params:
        return None
    params, tokens = plan.memory.total_params, tokens_seen(plan, plan.estimates.tokens_per_epoch or None)
    if tokens is None or tokens >= FAR_BELOW * TOKENS_PER_PARAMETER * params:
        return None
    return _warning(
        "FT503",
        f"`strategy scratch` trains {count(params)} parameters on ~{count(tokens)} tokens ({tokens / params:.2g} "
        f"per parameter), far below the ~{TOKENS_PER_PARAMETER} tokens per parameter of a compute-optimal run "
        "(Hoffmann et al. 2022)",
        plan.inputs.sources.at("strategy"),
        f"a compute-optimal run of this model sees ~{count(TOKENS_PER_PARAMETER * params)} tokens; this data "
        f"suits ~{count(tokens / TOKENS_PER_PARAMETER)} parameters (tokens over every epoch, "
        f"{plan.estimates.token_count.split(':')[0]}; the warning starts below "
        f"{FAR_BELOW * TOKENS_PER_PARAMETER:g} per parameter)",
    )


def _examples(plan: Plan) -> int | None:
    """Training examples: rows less the held-out share, or for raw text the sequences it packs into."""
    if plan.data.format == "text":
        return plan.estimates.sequences_per_epoch if plan.estimates else None
    return training_rows(plan)


def _tiny_data(plan: Plan) -> Diagnostic | None:
    """FT504: too few examples for the strategy and the base's size."""
    kind, memory = plan.spec.strategy.kind, plan.memory
    params = memory.total_params if memory else None
    if params and kind in PEFT_KINDS:
        params -= memory.trainable_params or 0  # the base alone, without the adapter
    examples = _examples(plan)
    if kind == "scratch" or not params or examples is None:
        return None
    if kind == "full" and params >= LARGE_BASE and examples < FULL_LARGE_ROWS:
        need, why = FULL_LARGE_ROWS, f"full fine-tuning of a {count(LARGE_BASE)}+ parameter base"
        help = f"use `strategy lora` (it trains well under 1% of the weights), or gather {FULL_LARGE_ROWS:,}+ examples"
    elif params >= SIZABLE and examples < FEW_ROWS:
        need, why = FEW_ROWS, f"fine-tuning a {count(SIZABLE)}+ parameter base"
        help = f"gather {FEW_ROWS:,}+ examples; with so few, prompting the base with examples may do as well"
    else:
        return None
    noun = "sequence" if plan.data.format == "text" else "example"
    return _warning(
        "FT504",
        f"the training set has ~{plural(examples, noun)}, fewer than the {need:,} that {why} (here {count(params)}) "
        "needs to generalise rather than memorise them",
        plan.inputs.sources.at("data", "train"),
        help,
    )


def _licence(plan: Plan, entry) -> Diagnostic | None:
    """FT505: the base's licence does not allow commercial use."""
    if entry is None or entry.commercial_use:
        return None
    from ..inputs.catalog import load_catalog

    allowed = [c for c in load_catalog() if c.kind == entry.kind and c.commercial_use]
    specialty = set(entry.domains) - {"general"}
    same_domain = [c for c in allowed if set(c.domains) & specialty]
    better = _closest(entry, same_domain) or _closest(entry, [c for c in allowed if general_purpose(c.domains)])
    instead = f"; for a commercial product consider `{better.id}` ({better.license})" if better else ""
    return _warning(
        "FT505",
        f"the licence of `{entry.id}` (`{entry.license}`) does not allow commercial use",
        plan.inputs.sources.at("base", "model"),
        entry.license_note.rstrip(".") + instead,
    )


def _adapters_on_a_small_base(plan: Plan) -> Diagnostic | None:
    """FT506: adapters on a base small enough to train whole."""
    kind, memory = plan.spec.strategy.kind, plan.memory
    if kind not in PEFT_KINDS or kind == "qlora" or memory is None or not memory.total_params:
        return None
    base = memory.total_params - (memory.trainable_params or 0)
    if base >= SMALL_BASE:
        return None
    return _warning(
        "FT506",
        f"`strategy {kind}` trains {count(memory.trainable_params or 0)} adapter parameters on a base of only "
        f"{count(base)}: a model this small has too little in it for adapters to redirect",
        plan.inputs.sources.at("strategy"),
        f"use `strategy full {{ }}` (every weight; under {count(SMALL_BASE)} parameters it costs little more) "
        "with a learning rate around 1e-3",
    )
