"""Hostile sizes and depths end in a diagnostic, never a RecursionError, a hang or gigabytes of memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftspec import api
from ftspec.diagnostics import render_all


def codes(path: Path) -> list[str]:
    result = api.check(path)
    return [d.code for d in result.diagnostics if d.is_error]


@pytest.mark.parametrize("depth", [17, 500, 100_000])
def test_deeply_nested_blocks_are_refused(tmp_path, depth):
    path = tmp_path / "deep.ft"
    path.write_text('name = "x"\n' + "a { " * depth + "}" * depth + "\n")
    assert codes(path) == ["FT111"]


def test_a_long_chain_of_extends_is_refused(tmp_path):
    for index in range(1, 1001):
        (tmp_path / f"c{index}.ft").write_text(f'extends = "c{index + 1}.ft"\n')
    (tmp_path / "c1001.ft").write_text('name = "x"\n')
    assert codes(tmp_path / "c1.ft") == ["FT112"]


def test_a_chain_of_base_specs_is_bounded_too(tmp_path):
    (tmp_path / "t.txt").write_text("Some text.\n")
    common = 'data { train = "t.txt" }\n'
    for index in range(1, 60):
        base = f'base {{ spec = "b{index + 1}.ft" }}\nstrategy full {{ }}\n'
        (tmp_path / f"b{index}.ft").write_text(f'name = "b{index}"\n{base}{common}')
    (tmp_path / "b60.ft").write_text(f'name = "b60"\n{common}strategy scratch {{ }}\ntokenizer {{ train = true }}\n')
    assert "FT112" in codes(tmp_path / "b1.ft")


def test_a_file_that_is_not_a_spec_is_never_quoted(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secrethash:20228:0:99999:7:::\n")
    (tmp_path / "s.ft").write_text(f'extends = "{secret}"\nname = "x"\n')
    result = api.check(tmp_path / "s.ft")
    text = render_all(result.diagnostics, result.sources)
    assert [d.code for d in result.diagnostics] == ["FT301"] and "secrethash" not in text
    assert "not a spec (`.ft`) file" in text


@pytest.mark.parametrize(
    "body",
    [
        'description = "' + "a" * 20_000_000 + '"',  # the 20 MB string of the issue
        "eval { prompts = [" + ", ".join(['"p"'] * 2_000_000) + "] }",  # two million prompts
        "# " + "c" * 20_000_000,  # a 20 MB comment
    ],
    ids=["string", "list", "comment"],
)
def test_a_spec_of_many_megabytes_is_refused_before_it_is_parsed(tmp_path, body):
    path = tmp_path / "big.ft"
    path.write_text('name = "x"\n' + body + "\n")
    assert codes(path) == ["FT113"]


def test_a_spec_of_too_many_tokens_is_refused(tmp_path):
    path = tmp_path / "many.ft"
    path.write_text('name = "x"\neval { prompts = [' + ", ".join(['"p"'] * 20_000) + "] }\n")
    assert codes(path) == ["FT114"]


def test_a_long_string_within_the_limits_keeps_its_escapes(tmp_path):
    path = tmp_path / "long.ft"
    text = "x" * 500_000
    (tmp_path / "t.txt").write_text("Some text.\n")
    rest = 'data { train = "t.txt" }\nstrategy scratch { }\ntokenizer { train = true }\n'
    path.write_text(f'name = "x"\ndescription = "{text}\\n\\"{text}"\n{rest}')
    result = api.check(path)
    assert result.loaded.spec.description == f'{text}\n"{text}'
