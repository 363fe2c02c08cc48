"""`ftspec run` around the training script, with the script replaced: what it writes, says and refuses."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from ftspec import api
from ftspec.diagnostics import FtspecError
from ftspec.render.write import output_error
from ftspec.run import launch

SPEC = (
    'name = "demo"\ndata {\n  train = "t.jsonl"\n  format = text\n}\nstrategy scratch { }\n'
    'tokenizer { train = true }\noutput { dir = "runs/demo" }\n'
)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "t.jsonl").write_text('{"text": "A row of text to learn."}\n')
    (tmp_path / "s.ft").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(launch, "missing_stack", lambda: [])
    return tmp_path


def test_a_full_disk_when_the_failure_is_recorded_leaves_a_consistent_status(project, monkeypatch, capsys):
    monkeypatch.setattr(launch, "launch", lambda run_dir, env: 1)  # train.py died (its disk is full)
    write = api.write

    def full(files, out_dir, span=None):
        if "run.json" in files and '"status": "failed"' in files["run.json"]:
            error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out_dir / "run.json"))
            raise FtspecError([output_error(out_dir, error, span)])  # as write_files reports it
        return write(files, out_dir, span)

    monkeypatch.setattr(api, "write", full)
    assert launch.run(Path("s.ft"), target="cpu") == 1
    err = capsys.readouterr().err
    assert "FT309 cannot write to `runs/demo`: there is no space left on its device" in err
    assert "Traceback" not in err
    # Still `running`: the next run resumes (from a complete checkpoint, if there is one).
    assert json.loads((project / "runs" / "demo" / "run.json").read_text())["status"] == "running"


def test_a_restart_says_what_changed(project, monkeypatch, capsys):
    monkeypatch.setattr(launch, "launch", lambda run_dir, env: 1)
    assert launch.run(Path("s.ft"), target="cpu") == 1
    checkpoint = project / "runs" / "demo" / "checkpoints" / "step-00000005"
    checkpoint.mkdir(parents=True)
    (checkpoint / "progress.json").write_text("{}")
    capsys.readouterr()
    assert launch.run(Path("s.ft"), target="cpu") == 1
    assert "(resuming)" in capsys.readouterr().out
    (project / "t.jsonl").write_text('{"text": "Another row of text."}\n')
    assert launch.run(Path("s.ft"), target="cpu") == 1
    out = capsys.readouterr().out
    said = "ftspec: demo starts afresh (its plan and data (`t.jsonl`) changed): the checkpoints of its last run"
    assert said in out and "(resuming)" not in out and not checkpoint.exists()
