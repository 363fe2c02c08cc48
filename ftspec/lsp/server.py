"""`ftspec lsp`: the language server over stdio, on pygls. Thin: the logic is in the sibling modules.

Diagnostics are throttled per document: the first edit after a quiet spell is checked at once, the
edits that follow within DEBOUNCE seconds are checked together when it has passed. Data files are read
on save only. Positions are converted here between the client's units (UTF-16 by default) and the
characters the pure functions count.
"""

from __future__ import annotations

import asyncio
import time
from itertools import islice
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..spec.fmt import format_source
from ..spec.loader import resolved
from . import complete, diagnose, hover, navigate

DEBOUNCE = 0.1  # seconds; `initializationOptions: {"debounce_ms": N}` changes it


class SpecServer(LanguageServer):
    """The server and what it remembers per document: the last check, pending checks, data faults."""

    def __init__(self) -> None:
        super().__init__("ftspec", "0.1.0", text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.debounce = DEBOUNCE
        self.results: dict[str, object] = {}  # uri -> the last api.Result
        self.pending: dict[str, asyncio.Task] = {}
        self.last_run: dict[str, float] = {}
        self.data_faults: dict[str, list] = {}  # uri -> data diagnostics from the last save
        self.published: dict[str, set[str]] = {}  # uri -> other files it published diagnostics to

    def buffers(self) -> dict[Path, str]:
        """Every open spec's text, by resolved path: what `extends` and `base.spec` read."""
        out = {}
        for uri, document in self.workspace.text_documents.items():
            path = to_fs_path(uri)
            if path is not None and path.endswith(".ft"):
                out[resolved(Path(path))] = document.source
        return out

    def check_now(self, uri: str, with_data: bool = False) -> None:
        path = to_fs_path(uri)
        if path is None:
            return
        self.last_run[uri] = time.monotonic()
        own = resolved(Path(path))
        result = diagnose.check_buffer(own, self.buffers())
        self.results[uri] = result
        if with_data:
            self.data_faults[uri] = diagnose.data_diagnostics(result)
        grouped = diagnose.by_file([*result.diagnostics, *self.data_faults.get(uri, [])], own)
        open_uris = set(self.workspace.text_documents)
        sent = set()
        for file, found in grouped.items():
            target = uri if file == own else from_fs_path(str(file))
            if target is None or (target != uri and target in open_uris):
                continue  # an open file publishes its own check
            text = self.text_of(target, result.sources, file, max(d.range.end.line for d in found) if found else 0)
            for diagnostic in found:
                diagnostic.range = self.client_range(diagnostic.range, text)
            version = self.workspace.get_text_document(target).version if target == uri else None
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=target, diagnostics=found, version=version)
            )
            sent.add(target)
        for stale in self.published.get(uri, set()) - sent - open_uris:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=stale, diagnostics=[]))
        self.published[uri] = sent - {uri}

    def text_of(self, uri: str, sources: dict[str, str], file: Path, last_line: int) -> list[str]:
        """The lines of a file diagnostics point into: the editor's, the check's, else the disk's, to ``last_line``."""
        if uri in self.workspace.text_documents:
            return list(self.workspace.get_text_document(uri).lines)
        for text in (sources.get(str(file)), *(t for name, t in sources.items() if resolved(Path(name)) == file)):
            if text is not None:
                return text.splitlines(keepends=True)
        try:  # a data file: only as far as the diagnostics reach, since it may be large
            with file.open(encoding="utf-8", errors="replace", newline="\n") as lines:
                return list(islice(lines, last_line + 1))
        except OSError:
            return []

    def client_range(self, range_: types.Range, lines: list[str]) -> types.Range:
        """A range in characters, clamped to the text, in the client's units."""
        last = max(len(lines) - 1, 0)

        def clamp(position: types.Position) -> types.Position:
            line = min(position.line, last)
            width = len(lines[line].rstrip("\r\n")) if lines else 0
            return types.Position(line, min(position.character, width))

        start, end = clamp(range_.start), clamp(range_.end)
        if (end.line, end.character) < (start.line, start.character):
            end = start
        return self.workspace.position_codec.range_to_client_units(lines, types.Range(start, end))

    def schedule(self, uri: str) -> None:
        """Check now if the document was quiet for DEBOUNCE seconds, else once they have passed."""
        if uri in self.pending and not self.pending[uri].done():
            return  # the pending check will read the newest text
        wait = self.last_run.get(uri, 0.0) + self.debounce - time.monotonic()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._later(uri, max(wait, 0.0)))

    async def _later(self, uri: str, wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)
        if uri in self.workspace.text_documents:
            self.check_now(uri)

    def dependents(self, uri: str) -> list[str]:
        """Open specs whose last check read this document (through `extends` or `base.spec`)."""
        path = to_fs_path(uri)
        if path is None:
            return []
        own = resolved(Path(path))
        return [other for other, result in self.results.items() if other != uri and own in diagnose.read_by(result)]

    def position(self, uri: str, position: types.Position) -> tuple[str, int, int, Path]:
        """The document's text, the position in characters, and the document's path."""
        document = self.workspace.get_text_document(uri)
        at = document.position_codec.position_from_client_units(document.lines, position)
        return document.source, at.line, at.character, resolved(Path(to_fs_path(uri) or "untitled.ft"))


server = SpecServer()


@server.feature(types.INITIALIZE)
def initialize(ls: SpecServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("debounce_ms"), int | float):
        ls.debounce = max(0.0, options["debounce_ms"] / 1000)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: SpecServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.check_now(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: SpecServer, params: types.DidChangeTextDocumentParams) -> None:
    for uri in (params.text_document.uri, *ls.dependents(params.text_document.uri)):
        ls.schedule(uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: SpecServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.check_now(params.text_document.uri, with_data=True)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: SpecServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    for other in {uri, *ls.published.pop(uri, set())}:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=other, diagnostics=[]))
    ls.results.pop(uri, None)
    ls.data_faults.pop(uri, None)


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["=", '"', "/", " ", "["]))
def completion(ls: SpecServer, params: types.CompletionParams) -> types.CompletionList:
    text, line, character, path = ls.position(params.text_document.uri, params.position)
    items = complete.completions(text, line, character, path)
    lines = list(ls.workspace.get_text_document(params.text_document.uri).lines)
    for item in items:
        if isinstance(item.text_edit, types.TextEdit):
            item.text_edit.range = ls.client_range(item.text_edit.range, lines)
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: SpecServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    text, line, character, _ = ls.position(uri, params.position)
    result = ls.results.get(uri)
    found = hover.hover(text, line, character, getattr(result, "plan", None))
    if found is None:
        return None
    markdown, (start, end) = found
    lines = list(ls.workspace.get_text_document(uri).lines)
    range_ = ls.client_range(types.Range(types.Position(line, start), types.Position(line, end)), lines)
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, markdown), range_)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: SpecServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    formatted, _ = format_source(document.source, to_fs_path(document.uri) or "<buffer>")
    if formatted is None or formatted == document.source:
        return None if formatted is None else []
    whole = types.Range(types.Position(0, 0), types.Position(len(document.lines), 0))
    return [types.TextEdit(whole, formatted)]


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: SpecServer, params: types.DefinitionParams) -> list[types.Location]:
    text, line, character, path = ls.position(params.text_document.uri, params.position)
    start = types.Range(types.Position(0, 0), types.Position(0, 0))
    return [types.Location(from_fs_path(str(found)), start) for found in navigate.targets(text, line, character, path)]


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
)
def code_action(ls: SpecServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    return diagnose.quick_fixes(params.text_document.uri, params.context.diagnostics)


def serve() -> None:
    """Serve on standard input and output until the client says exit."""
    server.start_io()
