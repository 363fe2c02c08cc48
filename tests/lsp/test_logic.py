"""The language server's logic as pure functions of a text and a position: no client needed."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("lsprotocol")

from ftspec import api  # noqa: E402
from ftspec.lsp import complete, diagnose, hover, navigate  # noqa: E402
from ftspec.lsp.context import cursor_at, word_at  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COACH = ROOT / "specs" / "cricket-coach.ft"


def _labels(text: str, line: int, character: int, path: Path = COACH) -> list[str]:
    return [item.label for item in complete.completions(text, line, character, path)]


def _end(text: str, needle: str) -> tuple[int, int]:
    """The 0-based line and character just after the first ``needle``."""
    before = text[: text.index(needle) + len(needle)].split("\n")
    return len(before) - 1, len(before[-1])


def test_cursor_knows_block_key_and_list_across_lines():
    text = "strategy lora {\n  targets = [q_proj,\n    v_"
    at = cursor_at(text, 2, 6)
    assert (at.block, at.label, at.key, at.in_value, at.prefix) == ("strategy", "lora", "targets", True, "v_")
    closed = cursor_at("train {\n  seed = 1\n}\n", 3, 0)
    assert (closed.block, closed.in_value) == ("", False)
    assert cursor_at('name = "x"  # a com', 0, 19).in_comment
    assert word_at("  scheduler = cosine  # c", 0, 16).text == "cosine"


def test_top_level_offers_settings_blocks_and_strategy_and_objective_kinds():
    labels = _labels("", 0, 0)
    assert {"name", "extends", "data", "train", "strategy lora", "strategy scratch", "objective dpo"} <= set(labels)
    assert "rank" not in labels and "strategy" not in labels and "objective" not in labels
    assert _labels("strategy q", 0, 10)[:3] == ["full", "lora", "qlora"]
    assert sorted(_labels("objective ", 0, 10)) == ["dpo", "kto", "orpo", "simpo"]
    assert "beta" in _labels("objective dpo {\n  ", 1, 2) and "rank" not in _labels("objective dpo {\n  ", 1, 2)


def test_values_enumerations_booleans_templates_and_models():
    assert "cosine" in _labels("train {\n  scheduler = ", 1, 14)
    assert set(_labels("strategy lora {\n  dora = ", 1, 9)) == {"true", "false"}
    assert {"auto", "true", "false"} <= set(_labels("train {\n  gradient_checkpointing = ", 1, 27))
    assert {"perplexity", "accuracy"} <= set(_labels("eval {\n  metrics = [perplexity, ", 1, 25))
    assert {"chatml", "llama3"} <= set(_labels('data {\n  chat_template = "', 1, 19))
    assert {"alpaca", "plain"} <= set(_labels("data {\n  template = ", 1, 13))
    models = complete.completions("base {\n  model = ", 1, 10, COACH)
    assert any(item.label == "Qwen/Qwen2.5-0.5B" and item.insert_text == '"Qwen/Qwen2.5-0.5B"' for item in models)
    assert _labels("train {\n  seed = ", 1, 9) == []  # an integer: nothing to offer


def test_paths_relative_to_the_spec():
    text = 'data {\n  train = "../data/cricket/'
    items = complete.completions(text, 1, 29, COACH)
    assert [item.label for item in items] == ["coaching.jsonl", "preferences.jsonl"]
    assert items[0].text_edit.range.start.character == 29
    specs = _labels('extends = "', 0, 11)
    assert "tiny-base.ft" in specs and all(label.endswith((".ft", "/")) for label in specs)


def test_hover_key_block_and_value_figures():
    text = COACH.read_text(encoding="utf-8")
    plan = api.check(COACH).plan
    line, character = _end(text, "batch_size")
    markdown, span = hover.hover(text, line, character - 2, plan)
    assert "| `batch_size` | an integer" in markdown and span == (character - len("batch_size"), character)
    line, character = _end(text, "batch_size    = 4")
    markdown, _ = hover.hover(text, line, character - 1, plan)
    assert "effective batch 4: micro-batch 4 per process × 1 process × accumulation 1" in markdown
    markdown, _ = hover.hover(text, line, character - 1, None)
    assert "default `8`" in markdown
    line, character = _end(text, "strategy full")
    assert "Train every weight" in hover.hover(text, line, character - 1)[0]
    assert hover.hover(text, 0, 3) is None  # a comment


def test_definitions_of_extends_data_and_globs(tmp_path: Path):
    text = COACH.read_text(encoding="utf-8")
    line, character = _end(text, '"../data/cricket/coa')
    assert navigate.targets(text, line, character, COACH) == [ROOT / "data" / "cricket" / "coaching.jsonl"]
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.jsonl").write_text("{}\n")
    (tmp_path / "parent.ft").write_text('name = "p"\n')
    spec = tmp_path / "child.ft"
    child = 'extends = "parent.ft"\ndata {\n  train = "*.jsonl"\n}\n'
    assert navigate.targets(child, 0, 13, spec) == [tmp_path / "parent.ft"]
    assert navigate.targets(child, 2, 12, spec) == [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    assert navigate.targets(child, 2, 3, spec) == []  # the key, not the value


def test_diagnostics_of_an_extended_file_go_to_that_file(tmp_path: Path):
    parent, child = tmp_path / "parent.ft", tmp_path / "child.ft"
    parent.write_text('name = "p"\ntrain {\n  scheduler = cosin\n}\n', encoding="utf-8")
    unsaved = 'extends = "parent.ft"\nstrategy lora { }\n'
    result = diagnose.check_buffer(child, {child: unsaved})
    assert [(d.code, d.message) for d in result.diagnostics] == [
        (d.code, d.message) for d in api.check(child, buffers={child: unsaved}).diagnostics
    ]
    grouped = diagnose.by_file(result.diagnostics, child)
    assert [d.code for d in grouped[parent]] == ["FT104"]
    assert grouped[parent][0].range.start.line == 2
    # An open, edited parent is read from its buffer, not from the disk.
    fixed = diagnose.check_buffer(child, {child: unsaved, parent: 'name = "p"\n'})
    assert parent not in diagnose.by_file(fixed.diagnostics, child)


def test_quick_fix_only_for_a_named_replacement():
    result = api.check(COACH, buffers={COACH: COACH.read_text().replace("cosine", "cosin")})
    found = [diagnose.to_lsp(d) for d in result.diagnostics]
    (action,) = diagnose.quick_fixes("file:///x.ft", found)
    assert action.title == "Replace with `cosine`" and action.edit.changes["file:///x.ft"][0].new_text == "cosine"
    # A key of another block: renaming it here would not help, so no quick fix.
    moved = api.check(COACH, buffers={COACH: COACH.read_text().replace("  seed ", "  packin ")}).diagnostics
    elsewhere = diagnose.to_lsp(next(d for d in moved if d.code == "FT102"))
    assert "it belongs in the `data` block" in elsewhere.message
    assert diagnose.quick_fixes("file:///x.ft", [elsewhere]) == []


def test_the_compiler_does_not_import_the_server(tmp_path: Path):
    import subprocess
    import sys

    script = (
        "import sys\nfrom ftspec.cli.main import main\n"
        "main(['check', 'specs/cricket-coach.ft'])\nmain(['fmt', '--check', 'specs/tiny-base.ft'])\n"
        f"main(['new', 'data/cricket/coaching.jsonl', '-o', {str(tmp_path / 'n.ft')!r}])\n"
        "print(sorted(m for m in ('pygls', 'lsprotocol', 'ftspec.lsp', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
