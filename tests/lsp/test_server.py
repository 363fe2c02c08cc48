"""`ftspec lsp` driven by a real LSP client over stdio (pytest-lsp): what an editor sees."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

from ftspec import api  # noqa: E402
from ftspec.lsp.diagnose import to_lsp  # noqa: E402
from ftspec.spec.fmt import format_source  # noqa: E402
from ftspec.spec.reference import row  # noqa: E402
from ftspec.spec.schema import Train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BROKEN = """\
name = "broken"

base {
  spec = "tiny-base.ft"
}

data {
  train  = "../data/cricket/coaching.jsonl"
  format = instruction
  prompt = "question"
  response = "answer"
}

strategy lora {
  rank = 0
  dropuot = 0.1
}

train {
  learning_rate = 2e-4
  scheduler = cosin
}
"""


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "ftspec", "lsp"]),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=from_fs_path(str(ROOT)),
            initialization_options={"debounce_ms": 0},
        )
    )
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, path: Path, text: str) -> str:
    uri = from_fs_path(str(path))
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="ftspec", version=1, text=text))
    )
    return uri


async def _diagnostics(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    # Polled: a notification that arrives before a waiter is registered would otherwise be waited for in vain.
    for _ in range(600):
        if uri in client.diagnostics:
            return client.diagnostics[uri]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no diagnostics for {uri} in 60 s")


def _shape(diagnostic: types.Diagnostic) -> tuple:
    r = diagnostic.range
    return diagnostic.code, diagnostic.message, r.start.line, r.start.character, r.end.line, r.end.character


@pytest.fixture
def broken(tmp_path_factory) -> Path:
    # Inside the repository's specs/ so that the relative data path resolves; written fresh, removed after.
    path = ROOT / "specs" / f".lsp-test-{id(tmp_path_factory)}.ft"
    path.write_text(BROKEN, encoding="utf-8")
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.asyncio
async def test_open_spec_with_errors_gets_what_check_reports(client: LanguageClient, broken: Path):
    uri = _open(client, broken, BROKEN)
    received = await _diagnostics(client, uri)
    expected = [to_lsp(d) for d in api.check(broken).diagnostics]
    assert {d.code for d in expected} >= {"FT102", "FT104", "FT106"}
    assert sorted(map(_shape, received)) == sorted(map(_shape, expected))


@pytest.mark.asyncio
async def test_edit_updates_diagnostics_from_the_buffer_not_the_disk(client: LanguageClient, broken: Path):
    uri = _open(client, broken, BROKEN)
    await _diagnostics(client, uri)
    fixed = BROKEN.replace("cosin", "cosine").replace("dropuot", "dropout").replace("rank = 0", "rank = 8")
    client.diagnostics.pop(uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    received = await _diagnostics(client, uri)
    expected = [to_lsp(d) for d in api.check(broken, buffers={broken.resolve(): fixed}).diagnostics]
    assert sorted(map(_shape, received)) == sorted(map(_shape, expected))
    assert [d.code for d in received if d.severity == types.DiagnosticSeverity.Error] == []


@pytest.mark.asyncio
async def test_completion_in_strategy_lora_offers_its_keys_only(client: LanguageClient, broken: Path):
    text = BROKEN.replace("  dropuot = 0.1\n", "  dropuot = 0.1\n  \n")
    uri = _open(client, broken, text)
    line = text.split("\n").index("  ", 10)
    found = await client.text_document_completion_async(
        types.CompletionParams(types.TextDocumentIdentifier(uri), types.Position(line, 2))
    )
    labels = {item.label for item in found.items}
    assert {"rank", "alpha", "dropout", "targets", "dora", "rslora"} <= labels
    assert not labels & {"learning_rate", "bits", "hidden_size", "train", "format"}


@pytest.mark.asyncio
async def test_hover_on_learning_rate_shows_its_reference_row(client: LanguageClient, broken: Path):
    uri = _open(client, broken, BROKEN)
    line = BROKEN.split("\n").index("  learning_rate = 2e-4")
    found = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, 5))
    )
    assert row("train", "learning_rate", Train.model_fields["learning_rate"]) in found.contents.value


@pytest.mark.asyncio
async def test_formatting_returns_fmt_output(client: LanguageClient, broken: Path):
    uri = _open(client, broken, BROKEN)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(types.TextDocumentIdentifier(uri), types.FormattingOptions(2, True))
    )
    assert len(edits) == 1 and edits[0].range.start == types.Position(0, 0)
    assert edits[0].new_text == format_source(BROKEN, str(broken))[0]


@pytest.mark.asyncio
async def test_quick_fix_applies_did_you_mean(client: LanguageClient, broken: Path):
    uri = _open(client, broken, BROKEN)
    received = await _diagnostics(client, uri)
    wrong = next(d for d in received if d.code == "FT104")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(types.TextDocumentIdentifier(uri), wrong.range, types.CodeActionContext([wrong]))
    )
    (edit,) = actions[0].edit.changes[uri]
    lines = BROKEN.split("\n")
    line = lines[edit.range.start.line]
    fixed = line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character :]
    assert fixed == "  scheduler = cosine"


@pytest.mark.asyncio
async def test_definition_opens_base_spec(client: LanguageClient):
    path = ROOT / "specs" / "cricket-coach.ft"
    text = path.read_text(encoding="utf-8")
    uri = _open(client, path, text)
    line = next(i for i, item in enumerate(text.split("\n")) if "tiny-base.ft" in item)
    found = await client.text_document_definition_async(
        types.DefinitionParams(
            types.TextDocumentIdentifier(uri), types.Position(line, text.split("\n")[line].index('"') + 2)
        )
    )
    assert [item.uri for item in found] == [from_fs_path(str(ROOT / "specs" / "tiny-base.ft"))]


@pytest.mark.asyncio
async def test_data_rows_are_read_on_save_not_on_open(client: LanguageClient, tmp_path: Path):
    data = tmp_path / "qa.jsonl"
    rows = [f'{{"question": "q{i}?", "answer": "a{i}."}}' for i in range(150)]
    rows[7] = '{"question": "q7?"}'  # no `answer`: FT607 (empty text) once the rows are read
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = tmp_path / "qa.ft"
    text = (
        'name = "qa"\nbase {\n  model = "Qwen/Qwen2.5-0.5B"\n}\n'
        'data {\n  train = "qa.jsonl"\n  format = instruction\n  prompt = "question"\n  response = "answer"\n}\n'
        "strategy lora { }\n"
    )
    spec.write_text(text, encoding="utf-8")
    uri = _open(client, spec, text)
    assert [d.code for d in await _diagnostics(client, uri)] == []
    data_uri = from_fs_path(str(data))
    assert data_uri not in client.diagnostics
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
    found = await _diagnostics(client, data_uri)
    expected = api.check_data(api.check(spec).plan).diagnostics
    assert [d.code for d in expected] == ["FT607"]
    assert sorted(map(_shape, found)) == sorted(map(_shape, map(to_lsp, expected)))
    assert found[0].range.start.line == 7


@pytest.mark.asyncio
async def test_editing_an_extended_file_checks_the_specs_that_extend_it(client: LanguageClient, tmp_path: Path):
    parent, child = tmp_path / "parent.ft", tmp_path / "child.ft"
    parent_text = 'name = "p"\nbase {\n  model = "Qwen/Qwen2.5-0.5B"\n}\ndata {\n  train = "x.txt"\n}\n'
    child_text = 'extends = "parent.ft"\nstrategy lora { }\n'
    (tmp_path / "x.txt").write_text("some text\n\nmore text\n", encoding="utf-8")
    parent.write_text(parent_text, encoding="utf-8")
    child_uri = _open(client, child, child_text)
    assert [d.code for d in await _diagnostics(client, child_uri)] == []
    parent_uri = from_fs_path(str(parent))
    # Before the parent is open, the child's check publishes what it found in the parent (FT504, a tiny data set).
    assert [d.code for d in client.diagnostics[parent_uri]] == ["FT504"]
    client.diagnostics.pop(parent_uri)
    _open(client, parent, parent_text)
    assert "FT108" in [d.code for d in await _diagnostics(client, parent_uri)]  # no strategy of its own
    client.diagnostics.pop(child_uri)
    unsaved = parent_text.replace('"x.txt"', '"missing.txt"')
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=parent_uri, version=2),
            [types.TextDocumentContentChangeWholeDocument(text=unsaved)],
        )
    )
    await _diagnostics(client, child_uri)  # the child is checked again, against the parent's unsaved text
    expected = api.check(child, buffers={child.resolve(): child_text, parent.resolve(): unsaved}).diagnostics
    assert [d.code for d in expected] == ["FT302"] and expected[0].span.path.endswith("parent.ft")
