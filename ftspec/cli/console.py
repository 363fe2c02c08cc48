"""What the command line prints: diagnostics with their summary, and paths as the user sees them."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import render_all
from ..figures import plural
from ..spec.specfiles import display_path


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (as diagnostics show paths)."""
    return display_path(path)


def print_diagnostics(result) -> None:
    """Every diagnostic of a pipeline result on stderr, then a one-line count."""
    report(result.diagnostics, result.sources, result.loaded.path)


def report(diagnostics, sources: dict[str, str], path: Path | str) -> None:
    """``diagnostics`` rendered against ``sources`` on stderr, then a one-line count for ``path``."""
    if not diagnostics:
        return
    print(render_all(diagnostics, sources), file=sys.stderr)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [plural(n, word) for n, word in ((errors, "error"), (warnings, "warning")) if n]
    print(f"\n{shown(Path(path))}: " + ", ".join(parts), file=sys.stderr)
