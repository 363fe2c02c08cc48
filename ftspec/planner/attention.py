"""Decide the attention implementation: what the spec asks, checked against the hardware, the base and packing.

FT806  an attention implementation that ignores the base's attention soft-capping (Gemma 2)
FT435  flash-attention where it cannot run: a CPU, fp32, or a GPU older than Ampere
FT436  flash-attention with packed micro-batches of several rows: packed examples would attend to each other
FT437  a kernel package the target says it does not have (`hardware.installed`)

Gemma 2 caps its attention logits (`attn_logit_softcapping` in config.json); PyTorch's SDPA kernel cannot,
so a model trained with it learns a different function (loss 0 or diverging). Eager attention, FlexAttention
and FlashAttention 2.6+ cap.

Packing: the generated script passes each row's `position_ids` (restarting at 0 for every packed example) and no
attention mask. For eager, sdpa and flex_attention transformers builds a block-diagonal causal mask from them
(`masking_utils.find_packed_sequence_indices`), so examples stay apart in any micro-batch. flash_attention_2 has no
mask: it derives `cu_seqlens` from `position_ids` only for a batch of one row (`_is_packed_sequence`), and in a
micro-batch of several rows runs plain causal attention across the packed examples.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic
from .plan import Plan

CAPPING = ("eager", "flex_attention", "flash_attention_2")
FLASH = "flash_attention_2"


def softcapping(config: dict | None) -> float | None:
    config = config or {}
    inner = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    value = config.get("attn_logit_softcapping", inner.get("attn_logit_softcapping"))
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def packed_rows(plan: Plan) -> bool:
    """Whether micro-batches hold several rows of packed examples."""
    return plan.data.packing and plan.data.format != "classification" and plan.train.micro_batch_size > 1


def flash_blocker(plan: Plan) -> str | None:
    """Why flash-attention 2 cannot run on this plan's target, or None when it can (or it is known only at launch)."""
    profile, precision = plan.inputs.hardware, plan.hardware.precision
    if profile.accelerator == "cpu":
        return "a CPU target: flash-attention is CUDA only"
    if profile.accelerator == "cuda" and profile.bf16 is False:
        return f"`{profile.name}` is older than Ampere, which flash-attention 2 needs"
    if precision == "fp32":
        return "`precision = fp32`: flash-attention computes in fp16 or bf16 only"
    return None


def _auto(plan: Plan, cap: float | None) -> tuple[str, str]:
    """The backend `auto` picks, and why."""
    profile, blocker = plan.inputs.hardware, flash_blocker(plan)
    fallback, because = "sdpa", "PyTorch's scaled_dot_product_attention"
    if cap:
        fallback, because = "eager", f"the base caps its attention logits at {cap:g}, which sdpa cannot"
    if profile.accelerator == "any":
        return fallback, f"{because}; the target is known only at launch (name one to plan flash-attention)"
    if blocker:
        return fallback, f"{because}; not flash-attention on {blocker}"
    if profile.installed is None or "flash_attn" not in profile.installed:
        said = "does not list" if profile.installed is not None else "does not say it has"
        return fallback, f"{because}; the target {said} `flash_attn` (`hardware.installed`)"
    if packed_rows(plan):
        rows = plan.train.micro_batch_size
        return fallback, f"{because}; flash-attention would let packed examples attend to each other in rows of {rows}"
    return FLASH, f"a {plan.hardware.precision} GPU target with `flash_attn` installed"


def _check_flash(plan: Plan) -> Plan:
    """FT435, FT436 and FT437 for an explicit `attention = flash_attention_2`."""
    where = plan.inputs.sources.at("base", "attention")
    blocker, installed = flash_blocker(plan), plan.inputs.hardware.installed
    if blocker:
        help = "use `attention = auto` (sdpa there), or plan for an Ampere or newer GPU with bf16 or fp16"
        plan = plan.diagnose(Diagnostic("FT435", f"`attention = {FLASH}` cannot run on {blocker}", where, help))
    if packed_rows(plan):
        plan = plan.diagnose(
            Diagnostic(
                "FT436",
                f"`attention = {FLASH}` with packing in micro-batches of {plan.train.micro_batch_size} rows lets "
                "packed examples attend to each other: transformers separates them from `position_ids` only in a "
                "batch of one row",
                where,
                "use `attention = sdpa` (its mask keeps packed examples apart), `packing = false`, or "
                "`batch_size` and `grad_accum` that give a micro-batch of 1",
            )
        )
    if installed is not None and "flash_attn" not in installed:
        plan = plan.diagnose(
            Diagnostic(
                "FT437",
                f"`attention = {FLASH}` needs the `flash_attn` package, which `hardware.installed` does not list",
                where,
                "add `flash_attn` to `installed` once the target has it (`pip install flash-attn`), or use "
                "`attention = sdpa`",
            )
        )
    return plan


def decide_attention(plan: Plan) -> Plan:
    """`base.attention`, resolved against the hardware, the precision, packing and the base's soft-capping.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('', decide_attention, target="cpu").base.attention
    'sdpa'
    >>> text = 'hardware { installed = [flash_attn] }\\ndata { packing = false }'
    >>> plan_until(text, decide_attention, target="h100").base.attention
    'flash_attention_2'
    """
    if plan.base.source == "none" or plan.spec.base is None:
        reason = "transformers' default for a model built from its config"
        return plan.with_(base=plan.base.model_copy(update={"attention": "sdpa", "attention_reason": reason}))
    asked = plan.spec.base.attention
    files = plan.inputs.base_files
    cap = softcapping(files.config if files is not None else None)
    if asked == "auto":
        chosen, reason = _auto(plan, cap)
        if chosen != "sdpa":
            plan = plan.note(f"attention: {chosen}, {reason}")
        return plan.with_(base=plan.base.model_copy(update={"attention": chosen, "attention_reason": reason}))
    if cap is not None and asked not in CAPPING:
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
    if asked == FLASH:
        plan = _check_flash(plan)
    update = {"attention": asked, "attention_reason": "as the spec says"}
    return plan.with_(base=plan.base.model_copy(update=update))
