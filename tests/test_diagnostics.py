"""One broken spec per diagnostic code, each with its exact expected output.

A case is `diagnostics/FTnnn-what.ft`; its first line may be `# args: ...` for
extra command-line arguments of `ftspec check`, or `# command: ...` for another
command and its arguments (for the codes only `run` reports), then `# locked: DIR` to hold the run
lock of DIR during the command, as a run in progress would. `FTnnn-what.expected`
holds the exit code and what the command prints on stderr; `pytest --update-golden`
rewrites them.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shlex
from pathlib import Path

import pytest

from ftspec import CODES
from ftspec.cli.main import main

CASES = Path(__file__).with_name("diagnostics")
FILES = sorted(CASES.glob("FT*.ft"))


def run_case(path: Path, monkeypatch, capsys) -> str:
    first, second = [*path.read_text(encoding="utf-8").splitlines(), ""][:2]
    command, args = "check", []
    if first.startswith("# args:"):
        args = shlex.split(first[len("# args:") :])
    elif first.startswith("# command:"):
        command, *args = shlex.split(first[len("# command:") :])
    monkeypatch.chdir(CASES)
    with contextlib.ExitStack() as held:
        if second.startswith("# locked:"):
            held_file = CASES / second[len("# locked:") :].strip() / ".ftspec-lock"
            held.callback(held_file.unlink, missing_ok=True)
            lock = held.enter_context(held_file.open("w"))
            lock.write("pid 4242 on the test machine\n")
            lock.flush()
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        status = main([command, path.name, *args])
    captured = capsys.readouterr()
    return f"exit: {status}\n{captured.err}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_diagnostic_case(path, monkeypatch, capsys, update_golden):
    got = run_case(path, monkeypatch, capsys)
    expected = path.with_suffix(".expected")
    if update_golden:
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")
    code = path.name[:5]
    assert re.search(rf":\d+:\d+: {code} ", got) or f"ftspec: {code} " in got, f"{code} is not reported"
    assert "Traceback" not in got


def test_every_code_has_a_case():
    covered = {path.name[:5] for path in FILES}
    assert sorted(set(CODES) - covered) == []


def test_every_case_names_a_known_code():
    assert sorted({path.name[:5] for path in FILES} - set(CODES)) == []


def test_every_code_the_compiler_emits_is_registered():
    root = Path(__file__).resolve().parent.parent / "ftspec"
    used = {code for path in root.rglob("*.py") for code in re.findall(r'"(FT\d{3})"', path.read_text())}
    assert sorted(used - set(CODES)) == []
