"""Completion items for a cursor in a spec: block names, the keys of the block at the cursor, values.

Values come from the schema (enumerations, booleans), the file system (paths of path settings, relative to
the spec), the catalog (base models) and the planner's named templates. Every function is pure: text and a
position in, lsprotocol items out, so a test needs no client.
"""

from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types

from ..spec import schema
from ..spec.validate import TOP, describe, keys_of, literal_choices, model_for
from .context import Cursor, cursor_at

SPEC_FILE, DATA_FILE, DIRECTORY = "spec", "data", "directory"
# Settings that name a file or directory, what they name, and whether a catalog id also fits.
PATHS: dict[tuple[str, str], tuple[str, bool]] = {
    (TOP, "extends"): (SPEC_FILE, False),
    ("base", "spec"): (SPEC_FILE, False),
    ("base", "model"): (DIRECTORY, True),
    ("tokenizer", "model"): (DIRECTORY, True),
    ("data", "train"): (DATA_FILE, False),
    ("data", "eval"): (DATA_FILE, False),
    ("output", "dir"): (DIRECTORY, False),
}
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt", ".text", ".md")


def field_of(block: str, label: str | None, key: str):
    """The pydantic field a key names in a block (a strategy block by its kind), or None."""
    model = model_for(block, label)
    return None if model is None else model.model_fields.get(key)


def named_values(block: str, key: str) -> list[str]:
    """Names a string setting accepts besides free text: templates, chat templates."""
    if (block, key) == ("data", "template"):
        from ..planner.data import TEMPLATES

        return list(TEMPLATES)
    if (block, key) == ("data", "chat_template"):
        from ..planner.chat_templates import CHAT_TEMPLATES

        return ["tokenizer", *CHAT_TEMPLATES]
    return []


def _item(label: str, kind: types.CompletionItemKind, detail: str = "", insert: str | None = None, **extra):
    return types.CompletionItem(label=label, kind=kind, detail=detail or None, insert_text=insert, **extra)


def _blocks() -> list[types.CompletionItem]:
    items = []
    for name, model in schema.BLOCKS.items():
        if name in schema.LABELLED:
            continue
        items.append(
            _item(
                name,
                types.CompletionItemKind.Module,
                (model.__doc__ or "").strip(),
                f"{name} {{\n\t$0\n}}",
                insert_text_format=types.InsertTextFormat.Snippet,
            )
        )
    for block, kinds in schema.LABELLED.items():
        for kind, model in kinds.items():
            items.append(
                _item(
                    f"{block} {kind}",
                    types.CompletionItemKind.Module,
                    (model.__doc__ or "").strip(),
                    f"{block} {kind} {{\n\t$0\n}}",
                    insert_text_format=types.InsertTextFormat.Snippet,
                    filter_text=f"{block} {kind}",
                )
            )
    return items


def _keys(block: str, label: str | None) -> list[types.CompletionItem]:
    model = model_for(block, label)
    if model is None:
        return []
    return [
        _item(
            key,
            types.CompletionItemKind.Property,
            describe(model.model_fields[key].annotation).replace("`", ""),
            f"{key} = ",
            documentation=model.model_fields[key].description,
        )
        for key in keys_of(model)
    ]


def _kinds(block: str) -> list[types.CompletionItem]:
    return [
        _item(kind, types.CompletionItemKind.EnumMember, (model.__doc__ or "").strip())
        for kind, model in schema.LABELLED[block].items()
    ]


def _quoted(name: str, in_string: bool) -> str:
    return name if in_string else f'"{name}"'


def _catalog_models(in_string: bool) -> list[types.CompletionItem]:
    from ..inputs.catalog import load_catalog

    return [
        _item(
            entry.id,
            types.CompletionItemKind.Value,
            f"{entry.kind}, {entry.params / 1e9:.2g}B parameters, {entry.license}",
            _quoted(entry.id, in_string),
            sort_text="1" + entry.id,
        )
        for entry in load_catalog()
    ]


def _paths(directory: Path, partial: str, wanted: str, line: int, character: int) -> list[types.CompletionItem]:
    """Entries of the directory the partial path names: subdirectories, and files of the wanted kind."""
    head, _, tail = partial.rpartition("/")
    folder = directory / os.path.expanduser(head) if head or partial.startswith("/") else directory
    if partial.startswith("/"):
        folder = Path(head or "/")
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    replace = types.Range(types.Position(line, character - len(tail)), types.Position(line, character))
    items = []
    for entry in entries:
        if entry.name.startswith(".") and not tail.startswith("."):
            continue
        is_dir = entry.is_dir()
        if not is_dir and wanted == DIRECTORY:
            continue
        if not is_dir and wanted == SPEC_FILE and entry.suffix != ".ft":
            continue
        if not is_dir and wanted == DATA_FILE and entry.suffix.lower() not in DATA_SUFFIXES:
            continue
        name = entry.name + ("/" if is_dir else "")
        items.append(
            types.CompletionItem(
                label=name,
                kind=types.CompletionItemKind.Folder if is_dir else types.CompletionItemKind.File,
                text_edit=types.TextEdit(replace, name),
                sort_text=("0" if is_dir else "1") + name,
            )
        )
    return items


def _values(at: Cursor, directory: Path, line: int, character: int) -> list[types.CompletionItem]:
    field = field_of(at.block, at.label, at.key or "")
    if field is None:
        return []
    items: list[types.CompletionItem] = []
    path = PATHS.get((at.block, at.key or ""))
    if path is not None and at.in_string:
        items += _paths(directory, at.prefix, path[0], line, character)
    if path is not None and path[1]:
        items += _catalog_models(at.in_string)
    for name in named_values(at.block, at.key or ""):
        items.append(_item(name, types.CompletionItemKind.Value, "a named template", _quoted(name, at.in_string)))
    if at.in_string:
        return items
    for value in literal_choices(field.annotation):
        items.append(_item(str(value), types.CompletionItemKind.EnumMember, "one of the values"))
    if bool in _types(field.annotation):
        items += [_item(word, types.CompletionItemKind.Keyword) for word in ("true", "false")]
    return items


def _types(annotation) -> set:
    import typing

    args = typing.get_args(annotation)
    return {annotation} | {t for arg in args for t in _types(arg)} if args else {annotation}


def completions(text: str, line: int, character: int, path: Path) -> list[types.CompletionItem]:
    """What may be typed at a 0-based position of the spec ``text``, which is the file ``path``."""
    at = cursor_at(text, line, character)
    if at.in_comment:
        return []
    if at.in_value:
        return _values(at, path.parent, line, character)
    if at.in_string:
        return []
    if len(at.statement) == 1 and at.statement[0] in schema.LABELLED and at.block == TOP:
        return _kinds(at.statement[0])
    if at.statement:
        return []
    if at.block == TOP:
        return _keys(TOP, None) + _blocks()
    return _keys(at.block, at.label)
