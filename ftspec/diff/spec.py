"""`ftspec diff OLD NEW`: what changed in meaning between two specs, not in text.

Both sides go through the front end, so `extends` is composed and a value
written differently (`2e-4`, `0.0002`) is the same value; both are planned for
the same hardware, so a changed setting shows what it does to the job; and
their data is hashed, so a changed file under the same path shows. Either side
may be a git revision, `REV:PATH` (see `git_revision`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from .. import api
from ..diagnostics import Diagnostic
from ..spec.ast import Value
from ..spec.fmt import inline
from ..spec.loader import Loaded
from ..spec.validate import TOP
from .plans import consequences, learns_from
from .report import Change, SpecDiff
from .revisions import RevisionError, Side, open_side

__all__ = ["Outcome", "RevisionError", "compare", "setting_changes"]


@dataclass(frozen=True)
class _Strategy:
    """A strategy block whose kind changed: compared and shown whole, as one change."""

    kind: str
    settings: dict[str, Value]

    def plain(self) -> dict[str, Any]:
        return {"kind": self.kind, **{key: _data(value) for key, value in self.settings.items()}}

    def text(self) -> str:
        inner = ", ".join(f"{key} = {inline(value)}" for key, value in self.settings.items())
        return f"{self.kind} {{ {inner} }}" if inner else f"{self.kind} {{}}"


def _data(value: Value) -> Any:
    """A setting's value for JSON: plain, except percentages and sizes, which keep their unit as written."""
    if value.kind in ("percent", "size"):
        return inline(value)
    if value.kind == "list":
        return [_data(item) for item in value.value]
    return value.plain()


def _meaning(value: Value | _Strategy) -> Any:
    """What two values must share to mean the same: `2e-4` is `0.0002`, `format = text` is `"text"`, 5% is not 5."""
    if isinstance(value, _Strategy):
        return ("strategy", value.kind, tuple((k, _meaning(v)) for k, v in value.settings.items()))
    if value.kind == "list":
        return ("list", tuple(_meaning(item) for item in value.value))
    family = {"ident": "string", "float": "number", "int": "number"}.get(value.kind, value.kind)
    return (family, value.plain())


LABELLED = ("strategy", "objective")  # blocks with a kind: compared whole when the kind changed


def _settings(loaded: Loaded, whole: set[str]) -> dict[str, Value | _Strategy]:
    """The composed spec's settings by `block.key`, in the order they are written."""
    sources = loaded.sources
    entries: dict[str, Value | _Strategy] = {
        key: setting.value for (block, key), setting in sources.settings.items() if block == TOP
    }
    mixture = any(name.startswith("data.") for name in sources.blocks)
    for name, block in sources.blocks.items():
        if mixture and name == "data":
            continue  # a mixture's first source, under its own name as well
        values = {key: setting.value for (owner, key), setting in sources.settings.items() if owner == name}
        if name in whole:
            entries[name] = _Strategy(block.label or "", values)
            continue
        prefix = f"{name} {block.label}" if name in LABELLED else name
        entries.update({f"{prefix}.{key}": value for key, value in values.items()})
    return entries


def _kind(loaded: Loaded, name: str = "strategy") -> str | None:
    block = loaded.sources.blocks.get(name)
    return block.label if block is not None else None


def _shown(value: Value | _Strategy | None) -> tuple[Any, str | None]:
    if value is None:
        return None, None
    if isinstance(value, _Strategy):
        return value.plain(), value.text()
    return _data(value), inline(value)


def setting_changes(old: Loaded, new: Loaded) -> list[Change]:
    """Settings that differ in value: in NEW's order, then the removed ones in OLD's order."""
    # A block whose kind changed (or that one side lacks) is one change, shown whole.
    whole = {name for name in LABELLED if _kind(old, name) != _kind(new, name)}
    before, after = _settings(old, whole), _settings(new, whole)
    changes = []
    for key in [*after, *(key for key in before if key not in after)]:
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None and _meaning(was) == _meaning(now):
            continue
        (old_data, old_text), (new_data, new_text) = _shown(was), _shown(now)
        changes.append(Change(key, old_data, new_data, old_text, new_text))
    return changes


@dataclass
class Outcome:
    """A diff (None when a side could not be planned) and, by side, the diagnostics of a side with errors."""

    diff: SpecDiff | None
    problems: list[tuple[str, list[Diagnostic], dict[str, str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _renamed(side: Side, diagnostic: Diagnostic) -> Diagnostic:
    span = diagnostic.span
    return replace(
        diagnostic,
        span=replace(span, path=side.rename(span.path)) if span is not None else None,
        message=side.rename(diagnostic.message),
        help=side.rename(diagnostic.help) if diagnostic.help is not None else None,
    )


def compare(old: str, new: str, target: str | None = None) -> Outcome:
    """Diff two specs, each a file or `REV:PATH`, planned for ``target`` (None: each spec's `hardware`)."""
    with ExitStack() as stack:
        sides = [stack.enter_context(open_side(argument)) for argument in (old, new)]
        results = [api.check(side.path, target=target) for side in sides]
        outcome = Outcome(None)
        for side, result in zip(sides, results, strict=True):
            if not result.ok:
                found = [_renamed(side, d) for d in result.diagnostics]
                sources = {side.rename(name): text for name, text in result.sources.items()}
                outcome.problems.append((side.name, found, sources))
        if any(result.plan is None for result in results):
            return outcome  # the front end failed: there is no composed spec to compare
        (old_side, new_side), (before, after) = sides, results
        outcome.diff = SpecDiff(
            settings=setting_changes(before.loaded, after.loaded),
            consequences=consequences(before.plan, after.plan),
            learns_from=learns_from(before.plan, after.plan, old_side, new_side),
        )
        return outcome
