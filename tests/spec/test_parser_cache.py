"""The parse tables Lark builds are kept in the user's cache directory; a damaged or missing cache only costs time."""

from __future__ import annotations

import pytest

from ftspec.spec import parser

SPEC = 'name = "cached"\ndata { train = "train.jsonl" }\nstrategy lora { }\n'


@pytest.fixture
def fresh_parser(monkeypatch, tmp_path):
    """The parser built again, with the cache directory under tmp_path; the usual one restored afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    parser._parser.cache_clear()
    yield tmp_path / "cache" / "ftspec"
    parser._parser.cache_clear()


def parsed(text: str) -> bool:
    parser._parser.cache_clear()
    tree, diagnostics = parser.parse(text, "spec.ft")
    return tree is not None and not list(diagnostics)


def test_the_tables_are_kept_and_a_damaged_file_is_rebuilt(fresh_parser):
    assert parsed(SPEC)
    (kept,) = fresh_parser.glob("parser-*.pickle")
    assert kept.name == parser.cache_file(parser.grammar_path().read_text(encoding="utf-8")).rsplit("/", 1)[1]
    assert parsed(SPEC)  # from the file this time
    kept.write_bytes(kept.read_bytes()[:100])  # cut short, as by a process killed while writing it
    assert parsed(SPEC)
    assert kept.stat().st_size > 100  # written again whole


def test_without_a_cache_directory_the_tables_are_built_each_time(fresh_parser, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert parser.cache_file("grammar") is False
    assert parsed(SPEC)
