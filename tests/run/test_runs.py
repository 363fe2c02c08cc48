"""`ftspec run` as a build system: up-to-date runs are skipped, changed inputs retrain, a killed
run resumes from its newest complete checkpoint to the same weights, a NaN loss stops the run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tinymodels
from conftest import ftspec_command, train_worker

pytestmark = pytest.mark.slow

SPEC = """name = "{name}"
base {{ model = "{base}" }}
data {{
  train      = "{data}"
  max_length = 128
}}
strategy full {{ }}
train {{
  max_steps     = 40
  batch_size    = 8
  learning_rate = {rate}
  log_every     = 5
  seed          = 7
}}
output {{
  dir        = "runs/{name}"
  save_every = 5
  keep_last  = 2
}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    (root / "pyproject.toml").write_text("")
    tinymodels.causal_model(root / "base")
    shutil.copy(tinymodels.datasets(root / "data")["text"], root / "text.jsonl")
    return root


def write_spec(project: Path, name: str, rate: str = "1e-3") -> Path:
    path = project / f"{name}.ft"
    path.write_text(SPEC.format(name=name, base=project / "base", data="text.jsonl", rate=rate))
    return path


def ftspec_run(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(ftspec_command("run", *args), cwd=project, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "model.safetensors")


def wait_for_checkpoint(process: subprocess.Popen, checkpoint: Path, seconds: float = 300) -> None:
    """Until ``checkpoint`` is complete (its progress.json is written last); the run must still be going."""
    deadline = time.time() + seconds
    while not (checkpoint / "progress.json").is_file():
        assert process.poll() is None, f"the run finished before {checkpoint.name} could be caught"
        assert time.time() < deadline
        time.sleep(0.02)


def test_an_unchanged_spec_is_not_trained_again_and_a_changed_one_is(project):
    spec = write_spec(project, "cached")
    assert "training cached" in ftspec_run(project, spec.name).stdout
    again = ftspec_run(project, spec.name)  # how fast that is, is bench/startup.py's business
    assert "cached is up to date" in again.stdout and "training" not in again.stdout
    with (project / "text.jsonl").open("a") as data:  # touching the data retrains
        data.write(json.dumps({"text": "One more row about bowling a yorker at the stumps."}) + "\n")
    assert "training cached" in ftspec_run(project, spec.name).stdout
    changed = ftspec_run(project, spec.name, "--set", "train.learning_rate=5e-4")  # so does a setting
    assert "training cached" in changed.stdout
    assert "training cached" in ftspec_run(project, spec.name, "--force").stdout
    record = json.loads((project / "runs" / "cached" / "run.json").read_text())
    assert record["status"] == "finished" and set(record["versions"]) >= {"python", "torch", "transformers"}
    assert "## Provenance" in (project / "runs" / "cached" / "README.md").read_text()


def test_a_killed_run_resumes_to_the_same_weights(project):
    whole = write_spec(project, "whole")
    ftspec_run(project, whole.name)
    killed = write_spec(project, "killed")
    checkpoints = project / "runs" / "killed" / "checkpoints"
    process = subprocess.Popen(
        ftspec_command("run", killed.name),
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_checkpoint(process, checkpoints / "step-00000010")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (project / "runs" / "killed" / "model").exists()
    # A newer checkpoint that was never completed, and one still being written: both are skipped.
    shutil.copytree(checkpoints / "step-00000010", checkpoints / "step-00000035")
    (checkpoints / "step-00000035" / "progress.json").unlink()
    shutil.copytree(checkpoints / "step-00000010", checkpoints / "step-00000036.tmp")
    resumed = ftspec_run(project, killed.name)
    assert "(resuming)" in resumed.stdout and "resuming from step-000000" in resumed.stdout
    assert "step-00000035" not in resumed.stdout and "step-00000036" not in resumed.stdout
    expected, got = weights(project / "runs" / "whole"), weights(project / "runs" / "killed")
    assert expected.keys() == got.keys()
    for name in expected:
        assert (expected[name] - got[name]).abs().max().item() < 1e-5, name


def test_ctrl_c_stops_the_run_in_a_line_and_the_next_run_resumes(project):
    spec = write_spec(project, "interrupted")
    checkpoints = project / "runs" / "interrupted" / "checkpoints"
    shorter = ("--set", "train.max_steps=15")
    process = subprocess.Popen(
        ftspec_command("run", spec.name, *shorter),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C as a terminal sends it, even when these tests run where SIGINT is ignored (a background job).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for_checkpoint(process, checkpoints / "step-00000005")
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "train.py: interrupted; run again to resume from the last checkpoint" in out
    assert err.rstrip().endswith("ftspec: interrupted") and "Traceback" not in out + err
    assert json.loads((project / "runs" / "interrupted" / "run.json").read_text())["status"] == "running"
    assert "(resuming)" in ftspec_run(project, spec.name, *shorter).stdout


def test_a_launchers_sigterm_right_after_ctrl_c_still_stops_train_py_in_its_words(project):
    """accelerate launch answers Ctrl-C by terminating its child at once (and a scheduler preempts with
    SIGTERM alone): train.py, still raising its KeyboardInterrupt, must not die of the SIGTERM unheard."""
    spec = write_spec(project, "terminated")
    checkpoints = project / "runs" / "terminated" / "checkpoints"
    shorter = ("--set", "train.max_steps=15")
    command = ftspec_command("run", spec.name, *shorter)
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(process, checkpoints / "step-00000005")
    worker = train_worker(process.pid)
    worker.send_signal(signal.SIGINT)
    worker.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert "train.py: interrupted; run again to resume from the last checkpoint" in out + err
    assert "(resuming)" in ftspec_run(project, spec.name, *shorter).stdout


def test_a_run_directory_of_another_spec_is_not_overwritten(project):
    spec = write_spec(project, "cached")
    spec.write_text(spec.read_text().replace('name = "cached"', 'name = "intruder"'))
    done = ftspec_run(project, spec.name, check=False)
    assert done.returncode == 1 and "FT307" in done.stderr
    assert "holds the run of spec `cached`, not `intruder`" in done.stderr


# Runs train.py with its loss turned into NaN from the 8th micro-batch on (no spec setting makes a tiny
# model diverge on purpose, so the fault is injected around the generated script, not inside it).
POISON = """
import math
import train

calls = 0
row_losses = train.row_losses


def poisoned(model, batch):
    global calls
    calls += 1
    losses, counts = row_losses(model, batch)
    return (losses * math.nan if calls >= 8 else losses), counts


train.row_losses = poisoned
train.main()
"""


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_checkpoint(project):
    from ftspec import api

    spec = write_spec(project, "diverges")
    result = api.compile_spec(spec, project / "runs" / "diverges", target="cpu")
    api.write(result.files, result.out_dir)
    (result.out_dir / "poisoned.py").write_text(POISON)
    done = subprocess.run(
        [sys.executable, "poisoned.py"],
        cwd=result.out_dir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ACCELERATE_USE_CPU": "true"},
    )
    assert done.returncode == 1
    # The first step-0 evaluation takes the first micro-batches' calls; training steps follow.
    assert "training stopped" in done.stderr and "the loss is nan at step" in done.stderr
    assert not (result.out_dir / "model").exists()
    assert (result.out_dir / "checkpoints" / "step-00000005" / "progress.json").is_file()
