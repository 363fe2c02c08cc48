"""Faults injected into real runs: kills at random moments, a corrupted checkpoint, a full disk during a
save, and data or constants changed under a script that has checkpoints. Each ends in the right weights,
or in a plain message, never in a traceback or a resume from the wrong checkpoint."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tinymodels
from conftest import ftspec_command

from ftspec import api

pytestmark = pytest.mark.slow

SPEC = """name = "{name}"
base {{ model = "{base}" }}
data {{
  train      = "{data}"
  max_length = 128
}}
strategy full {{ }}
train {{
  max_steps     = {steps}
  batch_size    = 8
  learning_rate = 1e-3
  log_every     = 5
  seed          = 7
}}
output {{
  dir        = "runs/{name}"
  save_every = 5
  keep_last  = 3
}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    (root / "pyproject.toml").write_text("")
    tinymodels.causal_model(root / "base")
    shutil.copy(tinymodels.datasets(root / "data")["text"], root / "text.jsonl")
    return root


def write_spec(project: Path, name: str, steps: int = 40, data: str = "text.jsonl") -> Path:
    path = project / f"{name}.ft"
    path.write_text(SPEC.format(name=name, base=project / "base", data=data, steps=steps))
    return path


def weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "model.safetensors")


def newest_checkpoint(run_dir: Path) -> Path | None:
    done = sorted(p.parent for p in (run_dir / "checkpoints").glob("step-*/progress.json") if ".tmp" not in str(p))
    return done[-1] if done else None


class Run:
    """`ftspec run` in its own process group, its output collected line by line as it comes."""

    def __init__(self, project: Path, spec: Path):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ftspec_command("run", spec.name),
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition, seconds: float = 300, poll: float = 0.002) -> bool:
        """Until ``condition()`` holds (True), or the run ends first (False)."""
        deadline = time.time() + seconds
        while not condition():
            if self.process.poll() is not None or time.time() > deadline:
                return False
            time.sleep(poll)
        return True

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.reader.join(10)

    def finish(self) -> str:
        self.process.wait(timeout=600)
        self.reader.join(10)
        assert self.process.returncode == 0, self.output()[-4000:]
        return self.output()


def saving(checkpoints: Path):
    """True while a checkpoint is being written (its temporary directory exists)."""

    def condition() -> bool:
        try:
            return any(entry.name.endswith(".tmp") for entry in os.scandir(checkpoints))
        except FileNotFoundError:
            return False

    return condition


def after(seconds: float, sooner):
    """True once ``seconds`` have passed, or as soon as ``sooner()`` holds."""
    deadline = time.time() + seconds
    return lambda: time.time() > deadline or sooner()


def logged_step(run: Run):
    """True once the run has logged a training step."""
    return lambda: "| loss" in run.output()


def test_five_kills_and_a_corrupted_checkpoint_still_give_the_uninterrupted_weights(project):
    whole = write_spec(project, "uninterrupted")
    Run(project, whole).finish()
    spec = write_spec(project, "attacked")
    run_dir = project / "runs" / "attacked"
    checkpoints = run_dir / "checkpoints"
    chance = random.Random(17)
    moments = {
        # `process 1 of 1` is printed just before the rows are read and tokenised.
        "tokenisation": lambda run: run.wait_for(lambda: "process 1 of 1" in run.output()),
        "training": lambda run: run.wait_for(lambda: "step 10/40" in run.output() or "step 25/40" in run.output()),
        "a checkpoint write": lambda run: run.wait_for(saving(checkpoints), poll=0.0005),
        # A random time, but never past the first step logged after the resume: the last kill must still find a
        # checkpoint to interrupt, and on a loaded machine a later moment may find the run already finished.
        "a random moment": lambda run: run.wait_for(after(chance.uniform(3, 20), logged_step(run)), poll=0.01),
    }
    killed = []
    for moment in ("tokenisation", "training", "a checkpoint write", "a random moment", "a checkpoint write"):
        run = Run(project, spec)
        reached = moments[moment](run)
        if moment in ("tokenisation", "training"):
            time.sleep(chance.uniform(0, 0.3))
        assert run.process.poll() is None, f"the run ended before {moment}:\n{run.output()[-3000:]}"
        assert reached
        run.kill()
        killed.append(moment)
        assert "Traceback" not in run.output(), run.output()[-3000:]
    assert not (run_dir / "model").exists() and len(killed) == 5
    newest = newest_checkpoint(run_dir)
    assert newest is not None
    with (newest / "model.safetensors").open("r+b") as file:
        file.write(b"\xff" * 16)  # a header length no reader accepts: what a torn write leaves
    out = Run(project, spec).finish()
    assert f"checkpoint {newest.name} is damaged (model.safetensors is not what was saved): skipped" in out
    assert "resuming from step-" in out and f"resuming from {newest.name}" not in out
    expected, got = weights(project / "runs" / "uninterrupted"), weights(run_dir)
    assert expected.keys() == got.keys()
    for name in expected:
        assert expected[name].equal(got[name]), name


def train_script(run_dir: Path, wrapper: str | None = None) -> subprocess.CompletedProcess:
    """``python train.py`` in ``run_dir`` (or ``wrapper``, a script that patches it first), as a user runs it."""
    return subprocess.run(
        [sys.executable, wrapper or "train.py"],
        cwd=run_dir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ACCELERATE_USE_CPU": "true"},
    )


def compiled(project: Path, name: str, steps: int, data: str) -> Path:
    result = api.compile_spec(write_spec(project, name, steps, data), project / "runs" / name, target="cpu")
    api.write(result.files, result.out_dir)
    return result.out_dir


def test_the_script_alone_restarts_when_its_data_or_a_constant_changed_and_says_why(project):
    shutil.copy(project / "text.jsonl", project / "own.jsonl")
    run_dir = compiled(project, "alone", 10, "own.jsonl")
    first = train_script(run_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (run_dir / "checkpoints" / "step-00000005" / "progress.json").is_file()
    with (project / "own.jsonl").open("a") as data:
        data.write(json.dumps({"text": "A row added after the checkpoint was written."}) + "\n")
    changed = train_script(run_dir)
    assert changed.returncode == 0, changed.stderr[-3000:]
    said = "checkpoint step-00000005 was written for other data: removed; training restarts from step 0"
    assert said in changed.stdout and "resuming" not in changed.stdout
    script = run_dir / "train.py"
    script.write_text(script.read_text().replace("LEARNING_RATE = 0.001", "LEARNING_RATE = 0.002"))
    edited = train_script(run_dir)
    assert "checkpoint step-00000005 was written for other constants: removed" in edited.stdout
    # Unchanged, it resumes (the step-5 checkpoint that run wrote matches).
    shutil.rmtree(run_dir / "model")
    again = train_script(run_dir)
    assert "resuming from step-00000005" in again.stdout and "removed" not in again.stdout


# A disk that fills up while a checkpoint is written: the save has written part of a file when torch
# fails as it does on a full disk (a RuntimeError from its zip writer).
FULL_DISK = """
import accelerate
import train

save_state = accelerate.Accelerator.save_state


def full(self, directory, *args, **kwargs):
    save_state(self, directory, *args, **kwargs)
    (directory / "model.safetensors").write_bytes(b"partial")
    raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")


accelerate.Accelerator.save_state = full
train.main()
"""


def test_a_full_disk_during_a_checkpoint_stops_cleanly_and_leaves_no_partial_checkpoint(project):
    run_dir = compiled(project, "full-disk", 10, "text.jsonl")
    (run_dir / "full_disk.py").write_text(FULL_DISK)
    done = train_script(run_dir, "full_disk.py")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "train.py: could not write checkpoint step-00000005 ([enforce fail" in done.stderr
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["file-hashes.json"]
    rerun = train_script(run_dir)
    assert rerun.returncode == 0 and "resuming" not in rerun.stdout, rerun.stderr[-3000:]
