"""launch.sh sets OpenMP's threads on a CPU target: the machine's cores shared among its processes, unless set."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ftspec import api

ROOT = Path(__file__).resolve().parents[2]


def threads_seen(launch_sh: str, tmp_path: Path, env: dict[str, str]) -> str:
    """OMP_NUM_THREADS as launch.sh exports it: the script run up to its `exec`, which is swapped for an echo."""
    head = launch_sh.split("\nexec ")[0]
    script = tmp_path / "launch.sh"
    script.write_text(head + '\necho "$OMP_NUM_THREADS"\n')
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_a_cpu_launch_gives_each_process_the_cores_unless_the_user_chose(tmp_path):
    result = api.compile_spec(ROOT / "specs" / "cricket-coach.ft", tmp_path / "out", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    launch_sh = result.files["launch.sh"]
    env = {name: value for name, value in os.environ.items() if name != "OMP_NUM_THREADS"}
    cores = len(os.sched_getaffinity(0))  # what nproc counts
    processes = max(1, result.plan.hardware.processes // result.plan.hardware.nodes)
    assert threads_seen(launch_sh, tmp_path, env) == str(max(1, cores // processes))
    assert threads_seen(launch_sh, tmp_path, {**env, "OMP_NUM_THREADS": "3"}) == "3"


def test_a_gpu_launch_leaves_the_threads_to_the_launcher(tmp_path):
    result = api.compile_spec(ROOT / "specs" / "cricket-coach.ft", tmp_path / "out", target="a100")
    assert result.ok, [d.message for d in result.diagnostics]
    assert "OMP_NUM_THREADS" not in result.files["launch.sh"]
