"""Decide where the base model comes from: nowhere (scratch), the hub, a directory, or another spec."""

from __future__ import annotations

from .plan import BasePlan, Plan


def decide_base(plan: Plan) -> Plan:
    """The base model's source.

    >>> from ftspec.planner.testing import plan_until
    >>> plan_until('base { model = "org/model" }', decide_base).base.revision
    'main'
    >>> plan_until('base { spec = "other.ft" }', decide_base).base.path.as_posix()
    '/project/runs/base/model'
    >>> plan_until('base { model = "package:pkg/model" }', decide_base).base.package
    ('pkg', 'model')
    """
    base, inputs = plan.spec.base, plan.inputs
    if base is None:
        return plan.with_(
            base=BasePlan(
                source="none", model=None, path=None, revision=None, spec=None, trust_remote_code=False, dtype="auto"
            )
        )
    common = dict(trust_remote_code=base.trust_remote_code, dtype=base.dtype)
    if base.spec is not None:
        decided = BasePlan(
            source="spec",
            model=None,
            path=inputs.dependency_output / "model",
            revision=None,
            spec=inputs.dependency_name,
            **common,
        )
    elif inputs.base_package is not None:
        decided = BasePlan(
            source="package",
            model=base.model,
            path=None,
            package=inputs.base_package,
            revision=None,
            spec=None,
            **common,
        )
    elif inputs.base_dir is not None:
        decided = BasePlan(source="local", model=None, path=inputs.base_dir, revision=None, spec=None, **common)
    else:
        decided = BasePlan(
            source="hub", model=base.model, path=None, revision=base.revision or "main", spec=None, **common
        )
    if base.trust_remote_code:
        plan = plan.note("trust_remote_code = true: the base repository's own Python code will run")
    return plan.with_(base=decided)
