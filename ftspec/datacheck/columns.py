"""The columns of each local data file, from its header or first row alone, for plain `check`.

Reading one row costs milliseconds, so a column the format reads but the file lacks (FT605), or a template
placeholder naming no column (FT609), is caught without `--data`, with the same message `--data` gives.
Text files have no columns, and Parquet files are left to `--data` (reading them needs pyarrow).
"""

from __future__ import annotations

from itertools import islice

from ..diagnostics import Diagnostic
from ..planner.plan import Plan
from ..spec.loader import display_path
from .check import FileFaults, _columns_help, columns_read
from .rows import DataFile, read_rows

FIRST_ROWS = 20  # JSON rows may differ in their keys: a column counts as there when one of these has it


def first_columns(path, loader: str, setting) -> list[str] | None:
    """The column names of the file's header, or of its first rows; None when it has none that can be read."""
    data = DataFile(path, display_path(path), setting, loader)
    columns: dict[str, None] = {}
    try:
        for row in islice(read_rows(data, loader, FileFaults(data.shown, "line")), FIRST_ROWS):
            columns.update(dict.fromkeys(row.values))
    except (OSError, ValueError):
        return None
    return list(columns) or None


def column_faults(plan: Plan) -> list[Diagnostic]:
    """FT605/FT609 for every local data file whose first row lacks a column the format reads."""
    data, sources = plan.data, plan.inputs.sources
    if data.loader in ("hub", "text", "parquet"):
        return []
    try:
        needs = columns_read(plan)
    except ValueError:  # a template the planner let through but string.Formatter cannot parse: left to --data
        return []
    found = []
    for key, files in (("train", data.train), ("eval", data.eval)):
        for path in files:
            columns = first_columns(path, data.loader, sources.at("data", key))
            if columns is None:
                continue
            for need in needs:
                # A JSON row may leave out a column that may be empty (alpaca's `input`): only a CSV header
                # says for sure that such a column is missing from every row.
                if need.column in columns or (data.loader == "json" and not need.empty):
                    continue
                shown = display_path(path)
                if need.code == "FT609":
                    message = f"template placeholder `{{{need.column}}}` names no column of `{shown}`"
                else:
                    message = f"there is no column `{need.column}` in `{shown}`"
                found.append(Diagnostic(need.code, message, sources.at("data", need.key), _columns_help(need, columns)))
    return found
