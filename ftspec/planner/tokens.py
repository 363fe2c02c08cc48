"""Count the training tokens with the spec's own tokenizer when it is on disk; otherwise estimate them.

Which tokenizers count: those that are inputs of the spec, on disk before anything runs — a local base directory,
a base shipped in a Python package, a hub base's `tokenizer.json` in the local hub cache, and a named tokenizer (a
directory or the hub cache). A plan made on one machine is then the same before and after any run. The others are
estimated at 4 characters a token, and the plan says why: a tokenizer learned from the data (`tokenizer.train`)
exists only when the run starts, and a base built by another spec (`base.spec`) has its tokenizer only once that
spec has run — counting with it then would change the plan, and `generated/`, after `ftspec run` built the base.

Counting reads the rows as the generated script reads them (ftspec.datacheck: the templated prompt and answer, the
turns, the text) and encodes them with the `tokenizers` library, never transformers. It is lazy: the library is
imported only when a tokenizer.json is found, and only the first MAX_CHARS characters of the data are encoded; the
rest is extrapolated by rows. `ftspec check` of a spec without such a tokenizer does none of it. A count is kept on
disk under the hash of what it was made from (ftspec.planner.token_cache): a second `check` or `plan` of the same
inputs neither loads the tokenizer nor reads the rows, and gets the same figure.
"""

from __future__ import annotations

import math

from ..diagnostics import Span
from ..spec.loader import display_path
from .plan import Plan
from .token_cache import cached_count

CHARS_PER_TOKEN = 4  # English text under a BPE vocabulary
MAX_CHARS = 4_000_000  # encoded at most (~0.5 s); the rest of a larger data set is extrapolated by rows
BATCH = 256


class _Ignored:
    """Faults of the rows are the data check's business (`ftspec check --data`); counting skips what it cannot read."""

    def add(self, code: str, message: str, span: Span, help: str | None = None, line: int = 0) -> None:
        return None


def why_estimated(plan: Plan) -> str:
    """Why the plan's tokens are estimated rather than counted."""
    if plan.tokenizer.source == "train":
        return "the tokenizer is learned from the data when the run starts"
    if plan.tokenizer.source == "base" and plan.base.source == "spec":
        return f"the base is built by the spec `{plan.base.spec}`, whose tokenizer is not an input of this one"
    if plan.data.loader == "hub":
        return "the data is on the hub"
    return "the tokenizer's tokenizer.json is not on this machine"


def _tokenizer_file(plan: Plan):
    """The spec's own tokenizer.json, when it is an input of the spec and on disk; else None."""
    if plan.tokenizer.source == "train" or (plan.tokenizer.source == "base" and plan.base.source == "spec"):
        return None
    if plan.data.loader == "hub" or not plan.data.train:
        return None
    from ..datacheck.quality import tokenizer_file  # the data check's, read only when needed

    return tokenizer_file(plan)


def _named(plan: Plan) -> str:
    """The tokenizer that counted, as the plan names it (no machine's paths)."""
    if plan.tokenizer.source == "named":
        return f"the tokenizer.json of {plan.tokenizer.model}"
    if plan.base.source == "hub":
        return f"the tokenizer.json of {plan.base.model} in the local hub cache"
    if plan.base.source == "package":
        return f"the tokenizer.json of the base in package {plan.base.package[0]}"
    return "the base's tokenizer.json"


def count_tokens(plan: Plan) -> tuple[int, str] | None:
    """Tokens of every training row as the script tokenizes them (cut at max_length unless text is packed into
    pieces), and what counted them; None when the tokenizer is not an input of the spec on this machine, or one
    the `tokenizers` library cannot load. The same inputs are counted once (ftspec.planner.token_cache)."""
    path = _tokenizer_file(plan)
    if path is None:
        return None
    counted = cached_count(plan, path, lambda: _count(plan, path))
    if counted is None:
        return None
    tokens, rows, name = counted["tokens"], counted["rows"], _named(plan)
    if counted["extrapolated"]:
        tokens = math.ceil(tokens * plan.inputs.data_rows / rows)
        return tokens, f"counted with {name} over the first {rows:,} rows, extrapolated to {plan.inputs.data_rows:,}"
    return tokens, f"counted with {name}"


def _count(plan: Plan, path) -> dict | None:
    """The tokens of the rows read (the first MAX_CHARS characters' worth), how many rows that is, and whether the
    rest is to be extrapolated; None when the tokenizer does not load."""
    from ..datacheck.check import example
    from ..datacheck.quality import TokenCounter
    from ..datacheck.rows import DataFile, read_rows

    data, faults = plan.data, _Ignored()
    counter = TokenCounter(path, extra=1 if data.format in ("text", "instruction") else 0)
    if counter.estimated:
        return None
    setting = plan.inputs.sources.at("data", "train")
    cut = None if data.format == "text" else data.max_length  # text is cut into pieces, examples are truncated
    tokens = rows = chars = 0
    pending: list[str] = []

    def flush() -> int:
        counts = counter.count(pending)
        pending.clear()
        return sum(min(n, cut) if cut else n for n in counts)

    for file in data.train:
        for row in read_rows(DataFile(file, display_path(file), setting, data.loader), data.loader, faults):
            text = example(plan, row.values)[0]
            pending.append(text)
            rows, chars = rows + 1, chars + len(text)
            if len(pending) >= BATCH:
                tokens += flush()
            if chars >= MAX_CHARS:
                break
        if chars >= MAX_CHARS:
            break
    tokens += flush() if pending else 0
    return {"tokens": tokens, "rows": rows, "extrapolated": chars >= MAX_CHARS and plan.inputs.data_rows > rows}
