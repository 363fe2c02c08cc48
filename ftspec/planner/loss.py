"""Decide how the causal loss crosses the output head: all positions at once, or in chunks of positions."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from .plan import Plan

# `auto` sizes a chunk so its float32 logits take about this much: large enough that the head's matmul stays
# efficient, small enough that a 128k or 256k vocabulary no longer dominates a step's memory.
CHUNK_BYTES = 128 * 2**20
MIN_CHUNK, MAX_CHUNK = 256, 8192
UNKNOWN_VOCAB = 32_000  # the vocabulary assumed when the base's is unknown


def auto_chunk(vocab_size: int) -> int:
    """Positions per chunk for a vocabulary: a power of two near CHUNK_BYTES of float32 logits.

    >>> auto_chunk(128_256), auto_chunk(32_000), auto_chunk(300)
    (256, 1024, 8192)
    """
    positions = max(CHUNK_BYTES // (4 * vocab_size), 1)
    return min(max(1 << (positions.bit_length() - 1), MIN_CHUNK), MAX_CHUNK)


def decide_loss(plan: Plan) -> Plan:
    """`train.loss_chunk`: the spec's count, or `auto_chunk` of the vocabulary; 0 (no chunks) for classification.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('train { loss_chunk = 512 }', decide_loss).train.loss_chunk
    512
    """
    asked = plan.spec.train.loss_chunk
    if plan.spec.data.format == "classification":
        if asked not in ("auto", 0):
            plan = plan.diagnose(
                Diagnostic(
                    "FT420",
                    f"`loss_chunk = {asked}` has no effect: a classifier's loss takes one label per example",
                    plan.inputs.sources.at("train", "loss_chunk"),
                    "remove `loss_chunk`; chunks of the output head apply to `text`, `instruction` and `chat` data",
                )
            )
        return plan.with_(train=plan.train.model_copy(update={"loss_chunk": 0}))
    if asked == "auto":
        dims = plan.inputs.model_dims
        asked = auto_chunk(dims.vocab_size if dims else UNKNOWN_VOCAB)
    return plan.with_(train=plan.train.model_copy(update={"loss_chunk": asked}))
