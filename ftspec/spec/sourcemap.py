"""Where each block and setting of a (composed) spec was written: the spans diagnostics point at.

Filled by ftspec.spec.validate as it checks a document; read by every later check that reports on a setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Span
from .ast import Block, Setting


@dataclass
class SourceMap:
    """Where each block and setting of a (composed) spec was written."""

    path: str
    blocks: dict[str, Block] = field(default_factory=dict)
    settings: dict[tuple[str, str], Setting] = field(default_factory=dict)

    def setting(self, block: str, key: str) -> Setting | None:
        return self.settings.get((block, key))

    def at(self, block: str, key: str | None = None) -> Span:
        """The best place to point at: the value, else the block's header, else the file's start."""
        if key is not None and (block, key) in self.settings:
            return self.settings[(block, key)].value.span
        if block in self.blocks:
            b = self.blocks[block]
            end = b.label_span or b.name_span
            return Span(b.name_span.path, b.name_span.line, b.name_span.column, end.end_line, end.end_column)
        return Span(self.path, 1, 1, 1, 2)

    def alias(self, name: str, block: str) -> None:
        """Let ``name`` stand for ``block``: a mixture's first source answers for `data`."""
        self.blocks[name] = self.blocks[block]
        for (owner, key), setting in list(self.settings.items()):
            if owner == block:
                self.settings[(name, key)] = setting

    def for_source(self, name: str) -> SourceMap:
        """This map with the source ``name`` of a mixture as `data`, for what is checked per source."""
        view = SourceMap(self.path, dict(self.blocks), {k: v for k, v in self.settings.items() if k[0] != "data"})
        view.alias("data", f"data.{name}")
        return view

    def key_at(self, block: str, key: str) -> Span:
        s = self.settings.get((block, key))
        return s.key_span if s else self.at(block)

    def whole(self, block: str, key: str) -> Span:
        s = self.settings.get((block, key))
        return s.span if s else self.at(block)
