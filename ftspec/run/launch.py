"""`ftspec run`: build a spec's base first when needed, compile into the run directory, launch.

This module starts processes; it never imports the training stack itself, so
ftspec adds well under a second before `accelerate launch` takes over.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .. import api
from ..cli import STARTUP_ONLY
from ..cli.console import print_diagnostics, report, shown
from ..diagnostics import Diagnostics, FtspecError
from ..inputs.modelinfo import cached_file, hub_cache_choice
from ..render.files import render, render_file
from ..render.view import OFFLINE, launch_environment
from ..render.write import output_error
from .messages import building_first, done, up_to_date
from .provenance import RUN_FILE, STACK, changes, provenance, provenance_markdown, read_run
from .rundir import RunLock, claim

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


# What only ftspec's own runs add to a script's environment: quieter output under ftspec's progress.
QUIET = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def environment(plan, offline: bool = False) -> dict[str, str]:
    """The environment ftspec starts the run directory's scripts in: the caller's, quieter, offline when no
    hub answers (``offline``), with this Python's commands first on PATH (launch.sh's `accelerate`).

    The run's own environment is launch.sh's (render.view.launch_environment): training executes launch.sh,
    and eval.py and chat.py get the same variables here.
    """
    env = {name: value for name, value in os.environ.items() if name not in STARTUP_ONLY}
    for name, value in QUIET.items():
        env.setdefault(name, value)
    if offline:
        for name, value in OFFLINE.items():
            env.setdefault(name, value)
    for _, variables in launch_environment(plan):
        env.update(variables)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def launch(run_dir: Path, env: dict[str, str]) -> int:
    """Train by executing the run directory's launch.sh, the command a user is given, streaming its output."""
    return stream(["bash", str(run_dir / "launch.sh")], run_dir, env)


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


ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What ftspec has already said about the stack's notices during this command.
_SAID: set[str] = set()


class LoadReport:
    """transformers' weight-loading table (a `LOAD REPORT` heading, a table, notes), printed at every
    load with ANSI codes: read whole, then said once per command in ftspec's words."""

    def __init__(self) -> None:
        self.inside, self.notes, self.keys = False, False, {}

    def swallow(self, line: str) -> bool:
        """Whether ``line`` belongs to a report (and is held back); says the report when it ends."""
        plain = ANSI.sub("", line)
        if "LOAD REPORT" in plain:
            self.inside, self.notes, self.keys = True, False, {}
            return True
        if not self.inside:
            return False
        if plain.startswith("Notes:"):
            self.notes = True
            return True
        if self.notes and plain.startswith("- "):
            return True
        if not self.notes:
            cells = [cell.strip() for cell in plain.split("|")]
            if len(cells) >= 2 and cells[0] and cells[1] and cells[0] != "Key" and not cells[0].startswith("-"):
                self.keys[cells[0]] = cells[1]
            return True
        self.inside = False
        self.say()
        return not plain.strip()

    def say(self) -> None:
        missing = sorted(key for key, status in self.keys.items() if status == "MISSING")
        message = (
            f"ftspec: the base checkpoint has no {', '.join(missing)}: a new head starts from random weights, "
            "as expected when a pretrained model gets a new task"
        )
        if len(missing) < len(self.keys):
            found = ", ".join(f"{key} ({status.lower()})" for key, status in sorted(self.keys.items()))
            message = f"ftspec: loading the base model reported {found}"
        if message not in _SAID:
            _SAID.add(message)
            sys.stdout.write(message + "\n")


def _pass_on(lines, quiet: bool = False) -> None:
    dropped = False
    report = LoadReport()
    for line in lines:
        if report.swallow(line):
            continue
        # A noisy block's blank lines go with it.
        dropped = any(noise in line for noise in NOISE) or (dropped and not line.strip())
        if dropped:
            continue
        if quiet and ("Traceback" in line or line.startswith((" ", "KeyboardInterrupt", "subprocess."))):
            continue  # the stack's tracebacks for the interrupt itself
        sys.stdout.write(line)
        sys.stdout.flush()


def run(
    path: Path,
    overrides: tuple[str, ...] = (),
    target: str | None = "detect",
    force: bool = False,
    _depth: int = 0,
    _needed_by: str | None = None,
) -> int:
    """Train one spec after its base spec, unless its last finished run is up to date; returns the exit code."""
    started = time.monotonic()
    result = api.check(path, overrides, target)
    # A base spec's advice is shown when it trains, not on every run that only reuses its model.
    if not result.ok or _needed_by is None:
        print_diagnostics(result)
    if not result.ok:
        return 1
    # Bad data stops the run here, before anything is built, written or launched.
    data = api.check_data(result.plan)
    if data.has_errors or _needed_by is None:
        report(data.diagnostics, result.sources, path)
    if data.has_errors:
        return 1
    offline = launchable(result, path)
    if offline is None:
        return 1
    loaded, plan = result.loaded, result.plan
    span = plan.inputs.sources.at("output", "dir")
    claimed = claim(plan.output.dir, plan.name, span, force)
    if claimed:
        report(claimed, result.sources, path)
        return 1
    dependency_hash = None
    if loaded.dependency is not None:
        # The base is built like any spec: it skips itself when its last run is up to date.
        status = run(loaded.dependency.path, (), target, False, _depth + 1, plan.name)
        if status != 0:
            return status
        dependency_hash = (read_run(loaded.dependency.output_dir) or {}).get("content_hash")
    try:
        with RunLock(plan.output.dir, span):
            trained = train_in(result, data, Because(dependency_hash, force, offline, _needed_by, path))
    except FtspecError as err:  # the lock is held, or the disk refused a write
        report(list(err.diagnostics), result.sources, path)
        return 1
    except OSError as err:  # the model card's provenance could not be appended
        report([output_error(plan.output.dir, err, span)], result.sources, path)
        return 1
    if trained is True and _needed_by is None:
        done(plan, path, time.monotonic() - started)
    return 0 if trained is not False else 1


@dataclass(frozen=True)
class Because:
    """Why and how a spec trains: what its base hashed to, --force, offline, which spec needs it, its path."""

    dependency_hash: str | None
    force: bool
    offline: bool
    needed_by: str | None
    path: Path


def train_in(result: api.Result, data, why: Because) -> bool | None:
    """Train in a claimed and locked run directory: skipped when up to date (None), resumed when it can be.

    True when it trained and evaluated, False when either failed."""
    loaded, plan = result.loaded, result.plan
    run_dir = plan.output.dir
    previous = read_run(run_dir)
    record = provenance(plan, loaded.files, why.dependency_hash, previous)
    same = previous is not None and previous.get("content_hash") == record["content_hash"] and not why.force
    if same and previous.get("status") == "finished":
        up_to_date(plan, why.path, why.needed_by)
        return None
    if why.needed_by is not None:
        building_first(result, data, why.path, why.needed_by)
    if not same and (run_dir / "checkpoints").is_dir():
        reason = "--force" if why.force else "its " + " and ".join(changes(previous, record)) + " changed"
        print(f"ftspec: {plan.name} starts afresh ({reason}): the checkpoints of its last run are removed", flush=True)
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
    status = launch(run_dir, environment(plan, why.offline))
    if status != 0:
        print(f"ftspec: training {plan.name} failed with exit code {status} (its output is above)", file=sys.stderr)
        # Should even this write fail (a full disk), run.json still says `running`: the next run resumes.
        write_run(run_dir, record, "failed")
        return False
    if run_eval(plan, why.offline) != 0:
        return False
    write_run(run_dir, record, "finished")
    with (run_dir / "README.md").open("a", encoding="utf-8") as card:
        card.write("\n" + provenance_markdown(record))
    return True


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints whose save finished (progress.json is written last); train.py verifies them further."""
    return sorted(p.parent for p in (run_dir / "checkpoints").glob("step-*/progress.json") if p.parent.suffix != ".tmp")


def launchable(result, path: Path) -> bool | None:
    """Whether to run offline, once the stack is installed and the hub files are there; None (and why) if not."""
    missing = missing_stack()
    if missing:
        print(
            f"ftspec: `run` needs the training stack, and {', '.join(missing)} is not installed\n"
            "  help: pip install 'ftspec[train]'",
            file=sys.stderr,
        )
        return None
    misses, offline = offline_misses(result.plan)
    if misses:
        report(misses, result.sources, path)
        return None
    return offline


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
    api.write({"eval.py": render_file(plan, plan.output.dir, "eval.py")}, plan.output.dir)
    return run_eval(plan, offline)
