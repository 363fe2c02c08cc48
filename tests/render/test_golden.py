"""Every shipped spec checks, compiles, and matches its committed generated/<name>/ byte for byte.

`pytest --update-golden` rewrites generated/ so a template change shows up in review
as a diff of the generated scripts.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHIPPED_ADVICE

from ftspec import api

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.ft"))
GENERATED = ROOT / "generated"


def compiled(spec: Path) -> api.Result:
    result = api.compile_spec(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_generated_is_current(spec, update_golden):
    result = compiled(spec)
    assert result.out_dir == GENERATED / result.plan.name
    if update_golden:
        api.write(result.files, result.out_dir)
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in result.out_dir.iterdir() if path.is_file()}
    assert on_disk == result.files, f"generated/{result.plan.name} is stale: run pytest --update-golden"


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_compiling_twice_gives_the_same_bytes(spec, tmp_path):
    first = compiled(spec).files
    second = api.compile_spec(spec).files
    assert first == second
    # The output does not depend on where it is written from, nor on the machine's paths.
    for text in first.values():
        assert str(ROOT) not in text and str(Path.home()) not in text


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_generated_python_is_standalone(spec):
    for name, text in compiled(spec).files.items():
        if not name.endswith(".py"):
            continue
        tree = ast.parse(text)
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {
            node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "ftspec" not in imported
        # train.py and eval.py each stand alone: eval.py repeats the data pipeline rather than import it.
        if name in ("train.py", "eval.py"):
            assert not imported & {"train", "eval"}, name


def ruff() -> list[str] | None:
    found = shutil.which("ruff") or (Path(sys.executable).parent / "ruff")
    return [str(found)] if found and Path(found).exists() else None


@pytest.mark.skipif(ruff() is None, reason="ruff is a dev dependency: pip install 'ftspec[dev]'")
def test_generated_python_passes_ruff():
    files = [str(path) for path in GENERATED.glob("*/*.py")]
    assert files
    # Default settings (--isolated): the scripts must be clean for whoever takes them away.
    check = subprocess.run(
        [*ruff(), "check", "--isolated", "--extend-select", "I,W", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([*ruff(), "format", "--isolated", "--check", *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_shipped_specs_check_clean(spec):
    result = api.check(spec)
    assert result.ok
    assert {d.code for d in result.diagnostics} == SHIPPED_ADVICE.get(spec.stem, set())
