"""FT809: rows whose text already begins with the BOS token that the base's tokenizer adds itself.

A conversation rendered with a Llama-3-style chat template (`{{ bos_token }}...`) and saved as text keeps
the template's `<|begin_of_text|>`; train.py encodes text (and instruction prompts, and classified texts) with
the tokenizer's special tokens, which puts another BOS in front: every such example starts with two. Chat
data (`format = chat`) is encoded without them, so the template's one BOS stays the only one. Plain `check`
reads the first rows of each local file, which costs milliseconds and is enough: a file written this way
begins every row with it.
"""

from __future__ import annotations

from itertools import islice

from ..diagnostics import Diagnostic, Severity
from ..planner.plan import Plan
from ..spec.loader import display_path
from .check import FileFaults, example
from .rows import DataFile, read_rows

FIRST_ROWS = 20


def added_bos(plan: Plan) -> str | None:
    """The BOS token the script's tokenizer puts in front of the text it encodes, where the base's files say so."""
    files = plan.inputs.base_files
    if plan.data.format == "chat" or plan.tokenizer.source != "base" or plan.base.source == "none":
        return None
    if files is None or not files.has_tokenizer or not files.adds_bos():
        return None
    return files.token("bos_token")


def _first_column(plan: Plan) -> str:
    """The column whose value begins the text the tokenizer encodes."""
    data = plan.data
    if data.format != "instruction":
        return data.text_column or "text"
    head = (data.template or "").lstrip()
    return head[1 : head.index("}")] if head.startswith("{") and "}" in head else data.prompt_column


def _help(plan: Plan, bos: str, column: str) -> str:
    if plan.data.format == "text":
        return (
            f"remove the leading `{bos}` from the rows; or keep the conversations as messages (`format = chat`): "
            "train.py renders them with the chat template and adds no second BOS"
        )
    return f"remove the leading `{bos}` from the `{column}` values"


def leading_bos(plan: Plan) -> list[Diagnostic]:
    """FT809 for every local data file whose first rows begin with the BOS token the tokenizer adds."""
    bos, data = added_bos(plan), plan.data
    if bos is None or data.loader in ("hub", "parquet"):
        return []
    if data.format == "instruction" and (data.template or "").lstrip().startswith(bos):
        return []  # FT803 says it of the template itself
    column, found = _first_column(plan), []
    for key, files in (("train", data.train), ("eval", data.eval)):
        for path in files:
            shown = display_path(path)
            file = DataFile(path, shown, plan.inputs.sources.at("data", key), data.loader)
            try:
                rows = list(islice(read_rows(file, data.loader, FileFaults(shown, "line")), FIRST_ROWS))
            except (OSError, ValueError):
                continue  # unreadable files are --data's to report
            starting = [row for row in rows if example(plan, row.values)[0].lstrip().startswith(bos)]
            if not starting:
                continue
            share = f"{len(starting)} of the first {len(rows)} rows" if len(rows) > 1 else "its only row"
            message = (
                f"this row of `{shown}` begins with `{bos}` ({share}), and the tokenizer adds `{bos}` itself: "
                "each such example would start with two BOS tokens"
            )
            span = file.at(starting[0], column)
            found.append(Diagnostic("FT809", message, span, _help(plan, bos, column), Severity.WARNING))
    return found
