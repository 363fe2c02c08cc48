"""Decide the tokenizer: the base's own, a named one, or a byte-level BPE learned from the data."""

from __future__ import annotations

from .plan import Plan, TokenizerPlan

EOS, PAD = "<|endoftext|>", "<|pad|>"


def decide_tokenizer(plan: Plan) -> Plan:
    """Where the tokenizer comes from.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('strategy scratch { }', decide_tokenizer).tokenizer.source
    'train'
    >>> plan_until('', decide_tokenizer).tokenizer.model
    'org/model'
    """
    spec, base = plan.spec, plan.base
    eos, pad = spec.tokenizer.eos_token, spec.tokenizer.pad_token
    if spec.tokenizer.train:
        decided = TokenizerPlan(
            source="train",
            model=None,
            path=None,
            vocab_size=spec.tokenizer.vocab_size,
            eos_token=eos or EOS,
            pad_token=pad or PAD,
        )
    elif spec.tokenizer.model is not None:
        decided = TokenizerPlan(
            source="named",
            model=spec.tokenizer.model,
            path=plan.inputs.tokenizer_dir,
            vocab_size=None,
            eos_token=eos,
            pad_token=pad,
        )
    else:
        decided = TokenizerPlan(
            source="base", model=base.model, path=base.path, vocab_size=None, eos_token=eos, pad_token=pad
        )
    return plan.with_(tokenizer=decided)
