"""The .ft syntax tree after lowering: settings, blocks and typed values, each with its span."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Span

# Kinds of value a spec can hold; `Value.kind` is one of these.
VALUE_KINDS = ("string", "int", "float", "percent", "size", "bool", "ident", "list")

KIND_NAMES = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "percent": "a percentage",
    "size": "a size",
    "bool": "a boolean",
    "ident": "a name",
    "list": "a list",
}


@dataclass(frozen=True)
class Value:
    """A literal: ``value`` is a str, int, float (percent: the number before `%`),
    int bytes (size), bool, or a tuple of Values (list)."""

    kind: str
    value: Any
    span: Span
    text: str

    def plain(self) -> Any:
        """The Python value, lists included, without spans."""
        if self.kind == "list":
            return [item.plain() for item in self.value]
        return self.value

    def describe(self) -> str:
        return KIND_NAMES[self.kind]


@dataclass(frozen=True)
class Setting:
    key: str
    key_span: Span
    value: Value
    span: Span


@dataclass(frozen=True)
class Block:
    name: str
    name_span: Span
    label: str | None
    label_span: Span | None
    items: tuple[Setting | Block, ...]
    span: Span

    def settings(self) -> list[Setting]:
        return [item for item in self.items if isinstance(item, Setting)]


@dataclass(frozen=True)
class Document:
    path: str
    items: tuple[Setting | Block, ...]
    source: str = field(repr=False, default="")

    def settings(self) -> list[Setting]:
        return [item for item in self.items if isinstance(item, Setting)]

    def blocks(self) -> list[Block]:
        return [item for item in self.items if isinstance(item, Block)]
