"""`ftspec run`: build a spec's base first when needed, compile into the run directory, launch.

This module starts processes; it never imports the training stack itself, so
ftspec adds well under a second before `accelerate launch` takes over.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from . import api
from .console import print_diagnostics, report, shown
from .render import LAUNCH, render

STACK = ("torch", "transformers", "peft", "accelerate", "datasets")
# Lines the training stack prints that say nothing to a user (see STACK.md).
NOISE = (
    "Failed to load CPU gemm_4bit_forward from kernels-community",
    "The following values were not passed to `accelerate launch`",
    "\t`--num_cpu_threads_per_process` was set to",
    "To avoid this warning pass in values for each of the problematic parameters",
)


def missing_stack() -> list[str]:
    return [name for name in STACK if importlib.util.find_spec(name) is None]


def environment(plan) -> dict[str, str]:
    """The launch environment: offline when nothing needs the hub, CPU process groups on CPU."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if plan.offline:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            env.setdefault(name, "1")
    if plan.hardware.accelerator == "cpu":
        env["ACCELERATE_USE_CPU"] = "true"
    return env


def launch(run_dir: Path, script: str, env: dict[str, str]) -> int:
    """Run ``script`` under `accelerate launch` in ``run_dir``, streaming its output."""
    command = [sys.executable, "-m", "accelerate.commands.launch", *LAUNCH.split()[2:-1], script]
    return stream(command, run_dir, env)


def stream(command: list[str], run_dir: Path, env: dict[str, str]) -> int:
    """Run ``command`` in ``run_dir``, passing its output through without the stack's noise."""
    with subprocess.Popen(
        command, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        for line in process.stdout:
            if not line.startswith(NOISE):
                sys.stdout.write(line)
                sys.stdout.flush()
    return process.returncode


def model_ready(loaded) -> bool:
    """Whether a spec's final model (what a dependent spec starts from) has been saved."""
    return (loaded.output_dir / "model" / "config.json").is_file()


def run(
    path: Path, overrides: tuple[str, ...] = (), target: str | None = "detect", force: bool = False, _depth: int = 0
) -> int:
    """Train one spec after its base spec; returns the exit code."""
    result = api.check(path, overrides, target)
    print_diagnostics(result)
    if not result.ok:
        return 1
    # Bad data stops the run here, before anything is built, written or launched.
    data = api.check_data(result.plan)
    report(data.diagnostics, result.sources, path)
    if data.has_errors:
        return 1
    print(data.table(), flush=True)
    missing = missing_stack()
    if missing:
        print(
            f"ftspec: `run` needs the training stack, and {', '.join(missing)} is not installed\n"
            "  help: pip install 'ftspec[train]'",
            file=sys.stderr,
        )
        return 1
    loaded, plan = result.loaded, result.plan
    dependency = loaded.dependency
    if dependency is not None and (force or not model_ready(dependency)):
        print(f"ftspec: building the base `{dependency.spec.name}` first ({shown(dependency.path)})")
        status = run(dependency.path, (), target, force, _depth + 1)
        if status != 0:
            return status
    run_dir = plan.output.dir
    files = render(plan, run_dir)
    api.write(files, run_dir)
    # The spec and every file it extends, as they were when this run started.
    api.write({path.name: loaded.texts[name] for name, path in loaded.files.items()}, run_dir / "spec")
    api.write({"data-report.json": data.to_json(run_dir)}, run_dir)
    print(
        f"ftspec: training {plan.name} in {shown(run_dir)} ({plan.hardware.target}, "
        f"precision {plan.hardware.precision})",
        flush=True,
    )
    status = launch(run_dir, "train.py", environment(plan))
    if status != 0:
        print(f"ftspec: training {plan.name} failed with exit code {status} (its output is above)", file=sys.stderr)
        return 1
    return run_eval(plan)


def run_eval(plan) -> int:
    """Run the evaluation harness of a trained run directory."""
    print(f"ftspec: evaluating {plan.name}", flush=True)
    status = stream([sys.executable, "eval.py"], plan.output.dir, environment(plan))
    if status != 0:
        print(f"ftspec: evaluating {plan.name} failed with exit code {status} (its output is above)", file=sys.stderr)
        return 1
    return 0


def evaluate(path: Path, overrides: tuple[str, ...] = (), target: str | None = "detect") -> int:
    """`ftspec eval`: evaluate the spec's last run again, with its train.py and a fresh eval.py."""
    result = api.check(path, overrides, target)
    print_diagnostics(result)
    if not result.ok:
        return 1
    plan = result.plan
    trained = plan.output.adapter if plan.strategy.saves == "adapter" else plan.output.model
    if not (plan.output.dir / "eval.py").is_file() or not trained.is_dir():
        print(
            f"ftspec: {plan.name} has no trained run in {shown(plan.output.dir)}\n  help: ftspec run {shown(path)}",
            file=sys.stderr,
        )
        return 1
    missing = missing_stack()
    if missing:
        print(
            f"ftspec: `eval` needs the training stack ({', '.join(missing)} missing)\n"
            "  help: pip install 'ftspec[train]'",
            file=sys.stderr,
        )
        return 1
    api.write({"eval.py": render(plan, plan.output.dir)["eval.py"]}, plan.output.dir)
    return run_eval(plan)
