"""Decide where a run writes: the run directory and what goes in it."""

from __future__ import annotations

from .plan import OutputPlan, Plan


def decide_outputs(plan: Plan) -> Plan:
    """The run directory (`output.dir`, else `runs/<name>` at the project's root) and its layout.

    >>> from ftspec.planner.testing import plan_until
    >>> o = plan_until('', decide_outputs).output
    >>> o.dir.as_posix(), o.adapter.name, o.model.name
    ('/project/runs/demo', 'adapter', 'model')
    """
    spec = plan.spec
    directory = plan.inputs.output_dir
    decided = OutputPlan(
        dir=directory,
        model=directory / "model",
        adapter=directory / "adapter" if plan.strategy.saves == "adapter" else None,
        checkpoints=directory / "checkpoints",
        logs=directory / "logs",
        eval=directory / "eval",
        save_every=spec.output.save_every,
        keep_last=spec.output.keep_last,
    )
    return plan.with_(output=decided)
