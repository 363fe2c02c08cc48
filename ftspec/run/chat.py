"""`ftspec chat`: talk to the model of a spec's last run, through the run directory's chat.py.

chat.py imports eval.py of that run (which stands alone), so questions reach the model with exactly the
prompt or chat template it was trained with. This module only starts it: the training stack is
imported by chat.py alone, when chat runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .. import api
from ..cli.console import print_diagnostics, shown
from ..render.files import render_file
from .launch import environment, missing_stack


def chat(
    path: Path,
    overrides: tuple[str, ...] = (),
    target: str | None = "detect",
    compare: bool = False,
    prompts: tuple[str, ...] = (),
) -> int:
    """Open a session with the last run's model (or answer ``prompts``); returns the exit code."""
    result = api.check(path, overrides, target)
    print_diagnostics(result)
    if not result.ok:
        return 1
    plan = result.plan
    run_dir = plan.output.dir
    trained = plan.output.adapter if plan.strategy.saves == "adapter" else plan.output.model
    if not (run_dir / "train.py").is_file() or not trained.is_dir():
        print(
            f"ftspec: {plan.name} has never run: there is no trained model in {shown(run_dir)}\n"
            f"  help: build it first with `ftspec run {shown(path)}`",
            file=sys.stderr,
        )
        return 1
    if compare and plan.base.source == "none":
        print(
            f"ftspec: {plan.name} is trained from scratch (`strategy {plan.strategy.kind}`): "
            "it has no base to compare with\n  help: leave out --compare",
            file=sys.stderr,
        )
        return 2
    missing = missing_stack()
    if missing:
        print(
            f"ftspec: `chat` needs the training stack ({', '.join(missing)} missing)\n"
            "  help: pip install 'ftspec[train]'",
            file=sys.stderr,
        )
        return 1
    api.write({name: render_file(plan, run_dir, name) for name in ("eval.py", "chat.py")}, run_dir)
    command = [sys.executable, "chat.py", *(["--compare"] if compare else [])]
    for prompt in prompts:
        command += ["--prompt", prompt]
    env = environment(plan)
    # The stack's informational notices (weight-loading reports) are not for a conversation.
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    with subprocess.Popen(command, cwd=run_dir, env=env) as process:
        try:
            return process.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached chat.py too, which ends on its own; a signal to ftspec alone did not.
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait()
            return 130
