"""Decide the attention implementation: what the spec asks, or what the base's config needs.

FT806  an attention implementation that ignores the base's attention soft-capping (Gemma 2)

Gemma 2 caps its attention logits (`attn_logit_softcapping` in config.json); PyTorch's SDPA kernel cannot,
so a model trained with it learns a different function (loss 0 or diverging). Eager attention, FlexAttention
and FlashAttention 2.6+ cap; `auto` picks eager for such a base, and leaves the choice to transformers otherwise.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic
from .plan import Plan

CAPPING = ("eager", "flex_attention", "flash_attention_2")


def softcapping(config: dict | None) -> float | None:
    config = config or {}
    inner = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    value = config.get("attn_logit_softcapping", inner.get("attn_logit_softcapping"))
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def decide_attention(plan: Plan) -> Plan:
    """`base.attention`, resolved against the base's soft-capping."""
    if plan.base.source == "none" or plan.spec.base is None:
        return plan
    asked = plan.spec.base.attention
    files = plan.inputs.base_files
    cap = softcapping(files.config if files is not None else None)
    if cap is None:
        return plan.with_(base=plan.base.model_copy(update={"attention": asked}))
    if asked == "auto":
        plan = plan.note(f"attention: eager, since the base caps its attention logits at {cap:g}")
        return plan.with_(base=plan.base.model_copy(update={"attention": "eager"}))
    if asked not in CAPPING:
        plan = plan.diagnose(
            Diagnostic(
                "FT806",
                f"`attention = {asked}` ignores the base's attention soft-capping (`attn_logit_softcapping = "
                f"{cap:g}` in its config.json): it would train a different function than the base computes",
                plan.inputs.sources.at("base", "attention"),
                "write `attention = eager` (or `auto`, which picks it), or `flash_attention_2` with FlashAttention "
                "2.6 or later",
            )
        )
    return plan.with_(base=plan.base.model_copy(update={"attention": asked}))
