"""The TextMate grammar, tokenized by vscode-textmate and vscode-oniguruma (VS Code's own engine) under node.

The two npm packages are pinned in editors/vscode/test/package.json; this test installs them there
(`npm ci`) when they are missing, which needs the npm registry once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

HARNESS = ROOT / "editors" / "vscode" / "test"
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "ft.tmLanguage.json"
SHIPPED = sorted([*ROOT.glob("specs/*.ft"), *ROOT.glob("tests/plans/*.ft")])


@pytest.fixture(scope="module")
def tokenize():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run VS Code's TextMate engine")
    if not (HARNESS / "node_modules" / "vscode-textmate").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=HARNESS, check=True, capture_output=True, timeout=300
        )

    def run(*files: Path) -> dict:
        done = subprocess.run(
            ["node", str(HARNESS / "tokenize.mjs"), str(GRAMMAR), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout)

    return run


def test_every_shipped_spec_tokenizes_without_an_unmatched_region(tokenize):
    assert len(SHIPPED) >= 7
    found = tokenize(*SHIPPED)
    assert [problem for result in found.values() for problem in result["problems"]] == []


def test_scopes_of_each_kind_of_token(tokenize, tmp_path: Path):
    spec = tmp_path / "kinds.ft"
    spec.write_text(
        'name = "x\\n"  # note\nstrategy lora {\n  targets = [q_proj,\n    v_proj]\n}\n'
        "hardware { gpu_memory = 80GiB }\ntrain {\n  warmup = 5%\n  compile = true\n  learning_rate = 2e-4\n}\n",
        encoding="utf-8",
    )
    tokens = {(text, scopes[-1]) for _, text, scopes in tokenize(spec)[str(spec)]["tokens"] if scopes}
    assert {
        ("name", "variable.other.property.key.ftspec"),
        ("\\n", "constant.character.escape.ftspec"),
        (" note", "comment.line.number-sign.ftspec"),
        ("strategy", "entity.name.section.block.ftspec"),
        ("lora", "entity.name.type.kind.ftspec"),
        ("v_proj", "constant.other.enum.ftspec"),
        ("GiB", "keyword.other.unit.ftspec"),
        ("%", "keyword.other.unit.ftspec"),
        ("true", "constant.language.boolean.ftspec"),
        ("2e-4", "constant.numeric.ftspec"),
        ("}", "punctuation.section.block.end.ftspec"),
    } <= tokens


def test_text_outside_the_language_is_reported(tokenize, tmp_path: Path):
    spec = tmp_path / "bad.ft"
    spec.write_text('name = "x" @\nvalue = "open\n', encoding="utf-8")
    problems = tokenize(spec)[str(spec)]["problems"]
    assert problems == [f"{spec}:1:12: unmatched `@`"]
