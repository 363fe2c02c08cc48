"""Composition of documents: `extends` merges a parent spec, `--set` overrides one value.

Both work on the AST, so every setting keeps the span of the file (or override)
that wrote it, and a diagnostic about an inherited value points into the parent.
"""

from __future__ import annotations

from dataclasses import replace

from ..diagnostics import Span
from .ast import Block, Document, Setting, Value


def _same_block(old: Block, new: Block) -> bool:
    """Blocks merge by name; a mixture's labelled data blocks by name and label (each is its own source)."""
    if old.name != new.name:
        return False
    return old.name != "data" or old.label == new.label


def _merge_items(parent: tuple, child: tuple) -> tuple:
    """Child settings replace the parent's by key; blocks merge by name (and strategy kind)."""
    out: list = list(parent)
    for item in child:
        if isinstance(item, Setting):
            index = next((i for i, old in enumerate(out) if isinstance(old, Setting) and old.key == item.key), None)
        else:
            index = next((i for i, old in enumerate(out) if isinstance(old, Block) and _same_block(old, item)), None)
        if index is None:
            out.append(item)
        elif isinstance(item, Block) and item.label == out[index].label:
            out[index] = replace(item, items=_merge_items(out[index].items, item.items))
        else:
            out[index] = item  # a setting, or a strategy of another kind, replaces the parent's
    return tuple(out)


def extend(child: Document, parent: Document) -> Document:
    """``child`` on top of ``parent``; the child's `extends` setting is dropped."""
    own = tuple(item for item in child.items if not (isinstance(item, Setting) and item.key == "extends"))
    return replace(child, items=_merge_items(parent.items, own))


def override(doc: Document, path: tuple[str, ...], value: Value, span: Span) -> Document:
    """Set ``block.key`` (or a top-level ``key``) to ``value``, as `--set` does."""
    *blocks, key = path
    setting = Setting(key, span, value, span)
    if not blocks:
        return replace(doc, items=_merge_items(doc.items, (setting,)))
    name = blocks[0]
    existing = next((item for item in doc.items if isinstance(item, Block) and item.name == name), None)
    label = existing.label if existing else None
    block = Block(name, span, label, None, (setting,), span)
    return replace(doc, items=_merge_items(doc.items, (block,)))
