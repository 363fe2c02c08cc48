"""Decide whether a run can go without the hub: nothing it loads is a hub id."""

from __future__ import annotations

from .plan import Plan


def decide_offline(plan: Plan) -> Plan:
    """Offline when the base, the tokenizer and the data are all on disk.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('strategy scratch { }\\ntokenizer { train = true }', decide_offline).offline
    True
    >>> plan_until('base { model = "gpt2" }\\nstrategy lora { }', decide_offline).offline
    False
    """
    offline = plan.base.source != "hub" and plan.tokenizer.source != "named" and plan.data.loader != "hub"
    return plan.with_(offline=offline)
