"""A buffer's diagnostics: exactly what `ftspec check` reports for it, as LSP diagnostics per file.

`check_buffer` runs `api.check` on the buffer's path with the editor's unsaved texts standing in for
the files on disk, so relative paths, `extends` and `base.spec` resolve as they do for `ftspec check`.
Each diagnostic keeps its code, message and span; the help line follows the message, and travels in
`data` for the quick fixes. Ranges here count characters from 0; the server converts them to the
client's units.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from lsprotocol import types

from .. import api
from ..diagnostics import Diagnostic
from ..spec.loader import resolved

SOURCE = "ftspec"
DID_YOU_MEAN = re.compile(r"^did you mean `([^`]+)`\?(?! it belongs)")


def check_buffer(path: Path, buffers: Mapping[Path, str], target: str | None = None) -> api.Result:
    """`ftspec check` of the file ``path`` as the editor holds it (``buffers``: resolved path to text)."""
    return api.check(path, (), target, buffers=buffers)


def read_by(result: api.Result) -> set[Path]:
    """Every spec file a check read: the spec, the files it extends, its base spec and theirs."""
    found: set[Path] = set()
    loaded = result.loaded
    while loaded is not None:
        found.update(loaded.files.values())
        loaded = loaded.dependency
    return found


def data_diagnostics(result: api.Result) -> list[Diagnostic]:
    """`check --data`'s faults in the data files: only on save, since it reads every row."""
    if not result.ok or result.plan is None:
        return []
    return list(api.check_data(result.plan).diagnostics)


def span_range(diagnostic: Diagnostic) -> types.Range:
    span = diagnostic.span
    if span is None:
        return types.Range(types.Position(0, 0), types.Position(0, 1))
    return types.Range(
        types.Position(span.line - 1, max(span.column - 1, 0)),
        types.Position(span.end_line - 1, max(span.end_column - 1, 0)),
    )


def to_lsp(diagnostic: Diagnostic) -> types.Diagnostic:
    severity = types.DiagnosticSeverity.Error if diagnostic.is_error else types.DiagnosticSeverity.Warning
    message = diagnostic.message + (f"\nhelp: {diagnostic.help}" if diagnostic.help else "")
    return types.Diagnostic(
        range=span_range(diagnostic),
        message=message,
        severity=severity,
        code=diagnostic.code,
        source=SOURCE,
        data={"help": diagnostic.help} if diagnostic.help else None,
    )


def by_file(diagnostics: Iterable[Diagnostic], own: Path) -> dict[Path, list[types.Diagnostic]]:
    """LSP diagnostics grouped by the file they point into; unlocated ones (and `--set`'s) go to ``own``."""
    grouped: dict[Path, list[types.Diagnostic]] = {own: []}
    for diagnostic in diagnostics:
        span = diagnostic.span
        file = own if span is None or span.path.startswith("<") else resolved(Path(span.path))
        grouped.setdefault(file, []).append(to_lsp(diagnostic))
    return grouped


def quick_fixes(uri: str, diagnostics: Iterable[types.Diagnostic]) -> list[types.CodeAction]:
    """A quick fix for each diagnostic whose help names a replacement ("did you mean `cosine`?")."""
    actions = []
    for diagnostic in diagnostics:
        help = (diagnostic.data or {}).get("help") if isinstance(diagnostic.data, dict) else None
        if help is None and "\nhelp: " in diagnostic.message:
            help = diagnostic.message.split("\nhelp: ", 1)[1]
        match = DID_YOU_MEAN.match(help or "")
        if diagnostic.source != SOURCE or match is None:
            continue
        replacement = match.group(1)
        actions.append(
            types.CodeAction(
                title=f"Replace with `{replacement}`",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                is_preferred=True,
                edit=types.WorkspaceEdit(changes={uri: [types.TextEdit(diagnostic.range, replacement)]}),
            )
        )
    return actions
