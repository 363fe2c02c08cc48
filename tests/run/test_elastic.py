"""Beyond one machine, simulated on this one (loopback, gloo, one CPU process per node): two
launch.sh started with node ranks 0 and 1 train as one group; under the elastic launcher a killed
worker restarts the group, which resumes to the uninterrupted run's weights; and a run checkpointed
on 2 processes resumes on 1 (and the reverse) to the weights of a run that was never stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tinymodels
from conftest import train_worker

from ftspec import api

pytestmark = pytest.mark.slow

SPEC = """name = "{name}"
base {{ model = "{base}" }}
data {{
  train      = "text.jsonl"
  max_length = 64
}}
strategy full {{ }}
train {{
  max_steps     = {steps}
  batch_size    = 8
  learning_rate = 1e-3
  log_every     = 1
  seed          = 3
}}
hardware {{
{hardware}
}}
output {{
  dir        = "runs/{name}"
  save_every = 2
  keep_last  = 20
}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("elastic")
    (root / "pyproject.toml").write_text("")
    tinymodels.causal_model(root / "base")
    shutil.copy(tinymodels.datasets(root / "data")["text"], root / "text.jsonl")
    return root


def compile_spec(project: Path, name: str, hardware: str, steps: int = 8) -> api.Result:
    spec = project / f"{name}.ft"
    spec.write_text(SPEC.format(name=name, base=project / "base", hardware=hardware, steps=steps))
    result = api.compile_spec(spec, project / "generated" / name, target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    return result


def environment(**extra: str) -> dict[str, str]:
    # launch.sh finds `accelerate` on PATH, as in an activated virtualenv.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "ACCELERATE_USE_CPU": "true", **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nodes(out_dir: Path, nodes: int = 2) -> list[subprocess.Popen]:
    """launch.sh once per simulated machine, as the launchers start it: rank, address and port set."""
    port = str(free_port())
    started = []
    for rank in range(nodes):
        env = environment(MACHINE_RANK=str(rank), MAIN_PROCESS_IP="127.0.0.1", MAIN_PROCESS_PORT=port)
        log = (out_dir / f"node-{rank}.log").open("w")
        started.append(subprocess.Popen(["bash", "launch.sh"], cwd=out_dir, env=env, stdout=log, stderr=log))
        time.sleep(1.0)  # the first machine hosts the rendezvous
    return started


def finish(processes: list[subprocess.Popen], out_dir: Path, seconds: float = 900) -> None:
    try:
        for process in processes:
            process.wait(timeout=seconds)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = "".join(path.read_text()[-3000:] for path in sorted(out_dir.glob("node-*.log")))
    assert all(process.returncode == 0 for process in processes), logs


def run_processes(out_dir: Path, processes: int) -> str:
    """train.py on ``processes`` CPU processes of this machine, whatever the plan was made for."""
    if processes == 1:
        command = [sys.executable, "train.py"]
    else:
        config = ["--config_file", "accelerate_config.yaml", "--num_processes", str(processes)]
        command = [sys.executable, "-m", "accelerate.commands.launch", *config, "--num_machines", "1", "train.py"]
    done = subprocess.run(command, cwd=out_dir, env=environment(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def weights(result: api.Result) -> dict:
    from safetensors.torch import load_file

    return load_file(result.plan.output.model / "model.safetensors")


def assert_close(got: dict, want: dict, rel: float) -> None:
    assert got.keys() == want.keys()
    worst = max(((got[k] - want[k]).abs().max() / want[k].abs().max().clamp(min=1e-12)).item() for k in want)
    assert worst <= rel, f"largest relative difference {worst:.2e}"


def forget_after(result: api.Result, step: int) -> None:
    """The run as if it had stopped just after the checkpoint of ``step``."""
    for checkpoint in result.plan.output.checkpoints.glob("step-*"):
        if int(checkpoint.name.split("-")[1]) > step:
            shutil.rmtree(checkpoint)
    shutil.rmtree(result.plan.output.model)


def test_two_nodes_train_as_one_group_and_match_one_process(project):
    result = compile_spec(project, "nodes", "nodes = 2")
    assert result.plan.hardware.processes == 2 and result.plan.launcher.kind == "slurm"
    finish(start_nodes(result.out_dir), result.out_dir)
    log = (result.out_dir / "node-0.log").read_text() + (result.out_dir / "node-1.log").read_text()
    assert "process 1 of 2" in log and "process 2 of 2" in log
    two_nodes = weights(result)
    shutil.rmtree(result.plan.output.dir)
    # One process, the same global batch of 8 (8 x 1 rows against 4 x 1 on each node).
    assert "process 1 of 1" in run_processes(result.out_dir, 1)
    assert_close(two_nodes, weights(result), rel=1e-4)


def test_a_killed_worker_restarts_the_group_which_resumes_to_the_same_weights(project):
    result = compile_spec(project, "elastic", "nodes = 2\n max_restarts = 2", steps=12)
    assert result.plan.launcher.elastic
    finish(start_nodes(result.out_dir), result.out_dir)
    uninterrupted = weights(result)
    shutil.rmtree(result.plan.output.dir)

    nodes = start_nodes(result.out_dir)
    try:
        checkpoint = result.plan.output.checkpoints / "step-00000004"
        deadline = time.time() + 600
        while not (checkpoint / "progress.json").is_file():
            assert all(node.poll() is None for node in nodes), "a node stopped before the kill"
            assert time.time() < deadline
            time.sleep(0.05)
        worker = train_worker(nodes[1].pid)
        worker.send_signal(signal.SIGKILL)
    finally:
        finish(nodes, result.out_dir)
    logs = (result.out_dir / "node-0.log").read_text() + (result.out_dir / "node-1.log").read_text()
    assert "resuming from step-" in logs, logs[-3000:]
    assert_close(weights(result), uninterrupted, rel=1e-5)


@pytest.mark.parametrize(("before", "after"), [(2, 1), (1, 2)])
def test_a_run_resumes_on_another_number_of_processes(project, before, after):
    result = compile_spec(project, f"resume-{before}-{after}", "processes = 2")
    run_processes(result.out_dir, before)
    uninterrupted = weights(result)
    forget_after(result, 4)
    log = run_processes(result.out_dir, after)
    assert "resuming from step-00000004: step 4" in log
    assert f"process 1 of {after}" in log
    assert_close(weights(result), uninterrupted, rel=1e-5)
