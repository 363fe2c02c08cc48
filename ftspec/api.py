"""The public API: each phase callable on its own, and the pipelines the CLI runs.

load(path)            parse, lower, compose, validate and check a spec file
plan_spec(loaded)     plan it against a hardware profile
render(plan, out)     the output files as text
write(files, out)     write them atomically
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Diagnostics
from .inputs.facts import inputs_for
from .inputs.hardware import PROFILES, HardwareProfile, detect, from_block
from .planner import make_plan
from .planner.plan import Plan
from .spec.loader import Buffers, Loaded, load, project_root, sorted_diagnostics


@dataclass
class Result:
    """What a pipeline produced, and every diagnostic on the way."""

    loaded: Loaded
    plan: Plan | None = None
    files: dict[str, str] = field(default_factory=dict)
    out_dir: Path | None = None

    @property
    def diagnostics(self) -> list[Diagnostic]:
        found = Diagnostics(list(self.loaded.diagnostics))
        if self.plan is not None:
            found.extend(list(self.plan.diagnostics))
        return sorted_diagnostics(found)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def sources(self) -> dict[str, str]:
        return self.loaded.texts


def hardware_for(loaded: Loaded, target: str | None) -> HardwareProfile:
    """``target`` is a shipped profile name, `detect` for this machine, or None for the spec's `hardware` block."""
    if target == "detect":
        return detect()
    if target is not None and target not in PROFILES:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(PROFILES)}")
    return from_block(loaded.spec.hardware, target)


def plan_spec(loaded: Loaded, target: str | None = None) -> Plan:
    return make_plan(inputs_for(loaded, hardware_for(loaded, target)))


def check(
    path: str | Path, overrides: tuple[str, ...] = (), target: str | None = None, buffers: Buffers = None
) -> Result:
    """Front end and planner: every error a compile would meet, without writing anything.

    ``buffers`` (resolved path to text) stand in for files on disk: an editor checks its unsaved buffers.
    """
    loaded = load(path, overrides, buffers=buffers)
    result = Result(loaded)
    if loaded.ok:
        result.plan = plan_spec(loaded, target)
        if not any(d.is_error for d in result.plan.diagnostics):
            from .datacheck.bos import leading_bos
            from .datacheck.columns import column_faults  # the first row of each data file, in milliseconds

            faults = [*column_faults(result.plan), *leading_bos(result.plan)]
            if result.plan.mixture is not None:
                from .datacheck.mixture import per_source

                faults = per_source(result.plan, lambda own: [*column_faults(own), *leading_bos(own)])
            for found in faults:
                result.plan = result.plan.diagnose(found)
    return result


def check_data(plan: Plan):
    """Read every row of the plan's data files: a DataReport of located faults and the quality report."""
    from .datacheck.check import scan_data  # only `check --data` and `run` read the data

    if plan.mixture is not None:
        from .datacheck.mixture import scan_mixture

        return scan_mixture(plan)
    return scan_data(plan)


def default_out_dir(loaded: Loaded) -> Path:
    return project_root(loaded.path.parent) / "generated" / loaded.spec.name


def compile_spec(
    path: str | Path, out_dir: str | Path | None = None, overrides: tuple[str, ...] = (), target: str | None = None
) -> Result:
    """Check, plan and render a spec; nothing is written (see `write`)."""
    result = check(path, overrides, target)
    if not result.ok:
        return result
    from .render.files import render  # Jinja2 is only needed once there is something to write

    result.out_dir = Path(out_dir).resolve() if out_dir is not None else default_out_dir(result.loaded)
    result.files = render(result.plan, result.out_dir)
    return result


def write(files: dict[str, str], out_dir: Path, span=None) -> None:
    """Replace ``out_dir``'s generated files atomically: a failure leaves the previous output intact.

    Files are written to a fresh sibling directory, then swapped in with renames; anything else
    already in ``out_dir`` (a run's checkpoints, say) is kept. An OS error raises FtspecError (FT309).
    """
    from .render.write import write_files

    write_files(files, out_dir, span)
