"""The data checks of a mixture: every source's rows read as that source's format says, each fault naming it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..diagnostics import Diagnostic
from ..planner.mixture import source_plan
from ..planner.plan import Plan
from .check import DataReport, scan_data


def named(diagnostic: Diagnostic, source: str) -> Diagnostic:
    """``diagnostic`` with the source it was found in at the front of its message."""
    return replace(diagnostic, message=f"source `{source}`: {diagnostic.message}")


def per_source(plan: Plan, check: Callable[[Plan], list[Diagnostic]]) -> list[Diagnostic]:
    """``check`` run on each source of a mixture as that source's plan, its findings naming the source."""
    return [named(found, source.name) for source in plan.mixture.sources for found in check(source_plan(plan, source))]


@dataclass
class MixedReport:
    """The data reports of a mixture's sources, by source, in the spec's order, with their shares."""

    reports: dict[str, DataReport]
    shares: dict[str, float]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [named(found, name) for name, report in self.reports.items() for found in report.diagnostics]

    @property
    def has_errors(self) -> bool:
        return any(report.has_errors for report in self.reports.values())

    def table(self) -> str:
        """Each source's quality table under its name and share."""
        parts = []
        for name, report in self.reports.items():
            parts.append(f"source {name} ({self.shares[name]:.0%} of each epoch)\n{report.table()}")
        return "\n\n".join(parts)

    def to_json(self, start: Path | None = None) -> str:
        """The sources' quality reports as one JSON object by source, paths relative to ``start``."""
        by_source = {name: json.loads(report.to_json(start)) for name, report in self.reports.items()}
        return json.dumps({"sources": by_source, "shares": self.shares}, indent=2, sort_keys=True) + "\n"


def scan_mixture(plan: Plan) -> MixedReport:
    """Read every row of every source of a mixture (see `scan_data`)."""
    reports = {source.name: scan_data(source_plan(plan, source)) for source in plan.mixture.sources}
    return MixedReport(reports, {source.name: source.share for source in plan.mixture.sources})
