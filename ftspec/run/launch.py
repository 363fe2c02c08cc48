"""`ftspec run`: build a spec's base first when needed, compile into the run directory, launch.

This module starts processes; it never imports the training stack itself, so
ftspec adds well under a second before `accelerate launch` takes over.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

from .. import api
from ..cli.console import print_diagnostics, report, shown
from ..diagnostics import Diagnostics, FtspecError
from ..inputs.modelinfo import cached_file, hub_cache_choice
from ..render.files import LAUNCH, render
from ..render.write import output_error
from .provenance import RUN_FILE, changes, provenance, provenance_markdown, read_run
from .rundir import RunLock, claim

STACK = ("torch", "transformers", "peft", "accelerate", "datasets")
# Lines the training stack prints that say nothing to a user (see STACK.md).
NOISE = (
    "Failed to load CPU gemm_4bit_forward from kernels-community",
    "The following values were not passed to `accelerate launch`",
    "\t`--num_cpu_threads_per_process` was set to",
    "To avoid this warning pass in values for each of the problematic parameters",
    # Checkpoints of a model with tied embeddings store the shared tensor once; reloading restores it.
    "Removed shared tensor",
)


def missing_stack() -> list[str]:
    return [name for name in STACK if importlib.util.find_spec(name) is None]


def offline_switch() -> str | None:
    """The variable that turns the hub off for transformers (`HF_HUB_OFFLINE=1`), if one does."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


# How long `ftspec run` waits for the hub to answer before deciding it cannot be reached.
HUB_PROBE_SECONDS = 3.0


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub (HF_ENDPOINT, else huggingface.co) opens within ``timeout``."""
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def hub_wants(plan) -> list[tuple]:
    """The hub models and tokenizers a run downloads: (what, repo, revision, a file it has, spec block and key)."""
    wanted = []
    if plan.base.source == "hub":
        wanted.append(("base model", plan.base.model, plan.base.revision, "config.json", ("base", "model")))
    if plan.tokenizer.source == "named" and plan.inputs.tokenizer_dir is None:
        wanted.append(("tokenizer", plan.tokenizer.model, None, "tokenizer_config.json", ("tokenizer", "model")))
    return wanted


def offline_misses(plan) -> tuple[Diagnostics, bool]:
    """FT305 for each hub model or tokenizer the run cannot get, found before launching (the training stack
    would fail with tracebacks, after a minute of retries when no hub answers); and whether to run offline.

    With offline mode on, what the local cache lacks is missing. With it off, a short probe decides: a hub
    that answers serves what is missing; when none answers, the cache must have everything, and the run
    then goes offline rather than retry.
    """
    found, wanted = Diagnostics(), hub_wants(plan)
    switch = offline_switch()
    if not wanted or (switch is None and hub_reachable()):
        return found, False
    missing = [want for want in wanted if cached_file(want[1], want[2], want[3]) is None]
    why = f"offline mode is on ({switch}={os.environ[switch]})" if switch else "the hub cannot be reached"
    for what, repo, revision, _, (block, key) in missing:
        found.error(
            "FT305",
            f"{what} `{repo}` (revision {revision or 'main'}) is not in the local Hugging Face cache, and {why}",
            plan.inputs.sources.at(block, key),
            f"download it where there is network (`hf download {repo}`) into the cache this run reads "
            f"({hub_cache_choice()[1]}), or set `{key}` to a local directory",
        )
    return found, switch is None


def environment(plan, offline: bool = False) -> dict[str, str]:
    """The launch environment: offline when nothing needs the hub (or no hub answers), CPU process groups on CPU."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if plan.offline or offline:
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
    """Run ``command`` in ``run_dir``, passing its output through without the stack's noise.

    Ctrl-C reaches the whole process group: the script's last words (where it stopped) are still passed
    on before the interrupt goes up; a second Ctrl-C stops waiting for them.
    """
    with subprocess.Popen(
        command, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        try:
            _pass_on(process.stdout)
        except KeyboardInterrupt:
            _pass_on(process.stdout, quiet=True)
            raise
    return process.returncode


def _pass_on(lines, quiet: bool = False) -> None:
    dropped = False
    for line in lines:
        # A noisy block's blank lines go with it.
        dropped = any(noise in line for noise in NOISE) or (dropped and not line.strip())
        if dropped:
            continue
        if quiet and ("Traceback" in line or line.startswith((" ", "KeyboardInterrupt", "subprocess."))):
            continue  # the stack's tracebacks for the interrupt itself
        sys.stdout.write(line)
        sys.stdout.flush()


def run(
    path: Path, overrides: tuple[str, ...] = (), target: str | None = "detect", force: bool = False, _depth: int = 0
) -> int:
    """Train one spec after its base spec, unless its last finished run is up to date; returns the exit code."""
    result = api.check(path, overrides, target)
    print_diagnostics(result)
    if not result.ok:
        return 1
    # Bad data stops the run here, before anything is built, written or launched.
    data = api.check_data(result.plan)
    report(data.diagnostics, result.sources, path)
    if data.has_errors:
        return 1
    missing = missing_stack()
    if missing:
        print(
            f"ftspec: `run` needs the training stack, and {', '.join(missing)} is not installed\n"
            "  help: pip install 'ftspec[train]'",
            file=sys.stderr,
        )
        return 1
    loaded, plan = result.loaded, result.plan
    misses, offline = offline_misses(plan)
    if misses:
        report(misses, result.sources, path)
        return 1
    span = plan.inputs.sources.at("output", "dir")
    claimed = claim(plan.output.dir, plan.name, span, force)
    if claimed:
        report(claimed, result.sources, path)
        return 1
    dependency_hash = None
    if loaded.dependency is not None:
        # The base is built like any spec: it skips itself when its last run is up to date.
        name = loaded.dependency.spec.name
        print(
            f"ftspec: {plan.name} starts from the model of `{name}` ({shown(loaded.dependency.path)}): "
            "building that first",
            flush=True,
        )
        status = run(loaded.dependency.path, (), target, False, _depth + 1)
        if status != 0:
            return status
        dependency_hash = (read_run(loaded.dependency.output_dir) or {}).get("content_hash")
    try:
        with RunLock(plan.output.dir, span):
            return train_in(result, data, dependency_hash, force, offline)
    except FtspecError as err:  # the lock is held, or the disk refused a write
        report(list(err.diagnostics), result.sources, path)
        return 1
    except OSError as err:  # the model card's provenance could not be appended
        report([output_error(plan.output.dir, err, span)], result.sources, path)
        return 1


def train_in(result: api.Result, data, dependency_hash: str | None, force: bool, offline: bool) -> int:
    """Train in a claimed and locked run directory: skipped when up to date, resumed when it can be."""
    loaded, plan = result.loaded, result.plan
    run_dir = plan.output.dir
    previous = read_run(run_dir)
    record = provenance(plan, loaded.files, dependency_hash, previous)
    same = previous is not None and previous.get("content_hash") == record["content_hash"] and not force
    if same and previous.get("status") == "finished":
        print(
            f"ftspec: {plan.name} is up to date: its last run in {shown(run_dir)} used the same inputs "
            "(--force trains it again)"
        )
        return 0
    if not same and (run_dir / "checkpoints").is_dir():
        why = "--force" if force else "its " + " and ".join(changes(previous, record)) + " changed"
        print(f"ftspec: {plan.name} starts afresh ({why}): the checkpoints of its last run are removed", flush=True)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    print(data.table(), flush=True)
    span = plan.inputs.sources.at("output", "dir")
    api.write(render(plan, run_dir), run_dir, span)
    # The spec and every file it extends, as they were when this run started.
    api.write({path.name: loaded.texts[name] for name, path in loaded.files.items()}, run_dir / "spec", span)
    api.write({"data-report.json": data.to_json(run_dir)}, run_dir, span)
    write_run(run_dir, record, "running")
    resuming = " (resuming)" if same and complete_checkpoints(run_dir) else ""
    print(
        f"ftspec: training {plan.name} in {shown(run_dir)} ({plan.hardware.target}, "
        f"precision {plan.hardware.precision}){resuming}",
        flush=True,
    )
    status = launch(run_dir, "train.py", environment(plan, offline))
    if status != 0:
        print(f"ftspec: training {plan.name} failed with exit code {status} (its output is above)", file=sys.stderr)
        # Should even this write fail (a full disk), run.json still says `running`: the next run resumes.
        write_run(run_dir, record, "failed")
        return 1
    status = run_eval(plan, offline)
    if status == 0:
        write_run(run_dir, record, "finished")
        with (run_dir / "README.md").open("a", encoding="utf-8") as card:
            card.write("\n" + provenance_markdown(record))
    return status


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints whose save finished (progress.json is written last); train.py verifies them further."""
    return sorted(p.parent for p in (run_dir / "checkpoints").glob("step-*/progress.json") if p.parent.suffix != ".tmp")


def write_run(run_dir: Path, record: dict, status: str) -> None:
    """run.json with the run's status: `running` (or `failed`) runs resume, `finished` ones are up to date."""
    api.write({RUN_FILE: json.dumps({**record, "status": status}, indent=2, sort_keys=True) + "\n"}, run_dir)


def run_eval(plan, offline: bool = False) -> int:
    """Run the evaluation harness of a trained run directory."""
    print(f"ftspec: evaluating {plan.name}", flush=True)
    status = stream([sys.executable, "eval.py"], plan.output.dir, environment(plan, offline))
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
    misses, offline = offline_misses(plan)
    if misses:
        report(misses, result.sources, path)
        return 1
    api.write({"eval.py": render(plan, plan.output.dir)["eval.py"]}, plan.output.dir)
    return run_eval(plan, offline)
