"""A generated script copied away from its folder stops at once, naming the constant to change.

Its relative paths start from its own folder: copied elsewhere they lead nowhere, and the script
says so before it loads anything slow (not minutes later, inside `datasets`, with a traceback).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tinymodels

from ftspec import api


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("copied")
    tinymodels.tokenizer().save_pretrained(root / "base")
    (root / "rows.jsonl").write_text('{"q": "Why?", "a": "Because."}\n' * 20)
    spec = root / "copied.ft"
    spec.write_text(
        'name = "copied"\nbase { model = "base" }\n'
        'data {\n  train = "rows.jsonl"\n  format = instruction\n  prompt = "q"\n  response = "a"\n}\n'
        "strategy lora { }\n"
    )
    result = api.compile_spec(spec, root / "out", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    return result.out_dir


def run_copy(script: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(script, elsewhere / script.name)
    return subprocess.run(
        [sys.executable, script.name], cwd=elsewhere, capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


@pytest.mark.parametrize("name", ["train.py", pytest.param("eval.py", marks=pytest.mark.slow)])
def test_a_copied_script_names_the_constant_whose_path_leads_nowhere(compiled, tmp_path, name):
    done = run_copy(compiled / name, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"{name}: " in done.stderr and "rows.jsonl does not exist" in done.stderr
    assert "set TRAIN_FILES to where it is now" in done.stderr
    # Only the imports ran: no Accelerator started, no data was read, no model loaded.
    assert "process 1 of" not in done.stdout and "data:" not in done.stdout, done.stdout


@pytest.mark.slow
def test_the_script_in_its_own_folder_passes_its_checks(compiled):
    check = "import train; train.check_inputs(); print('inputs found')"
    done = subprocess.run([sys.executable, "-c", check], cwd=compiled, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "inputs found" in done.stdout, done.stderr[-3000:]
