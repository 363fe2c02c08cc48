"""What `ftspec run` says as it goes: a base built first, a run that is up to date, a run's last words."""

from __future__ import annotations

from pathlib import Path

from ..cli.console import print_diagnostics, report, shown


def building_first(result, data, path: Path, needed_by: str) -> None:
    """A base spec that must train first: say so, then its advice, held back until now."""
    print(
        f"ftspec: {needed_by} starts from the model of `{result.plan.name}` ({shown(path)}): building that first",
        flush=True,
    )
    print_diagnostics(result)
    report(data.diagnostics, result.sources, path)


def up_to_date(plan, path: Path, needed_by: str | None) -> None:
    """Say that a spec's last run can be used as it is."""
    where = shown(plan.output.dir)
    if needed_by is not None:
        print(f"ftspec: {needed_by} starts from the model of `{plan.name}` ({shown(path)}), up to date in {where}")
        return
    print(f"ftspec: {plan.name} is up to date: its last run in {where} used the same inputs (--force trains it again)")
    print(f"  results: {shown(plan.output.eval / 'report.md')}; talk to it: ftspec chat {shown(path)}")


def done(plan, path: Path, seconds: float) -> None:
    """The run's last words: how long it took and where its results are."""
    minutes, rest = divmod(round(seconds), 60)
    took = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    print(f"ftspec: {plan.name} done in {took} (bases built first included)")
    print(f"  results: {shown(plan.output.eval / 'report.md')} and the model in {shown(plan.output.dir)}")
    print(f"  talk to it: ftspec chat {shown(path)}")
