"""Validate a lowered Document against the schema; every error points at its source.

Structure (unknown or duplicate blocks and keys, labels) is checked here with
"did you mean" help; types and ranges by the pydantic models, whose errors are
mapped back to the span of the value that caused them. All errors of a file
are collected in one pass.
"""

from __future__ import annotations

import types
import typing

from pydantic import ValidationError

from ..diagnostics import Diagnostics, Span, closest, did_you_mean, one_of
from ..figures import plural
from . import schema
from .ast import Block, Document, Setting, Value
from .objectives import REFERENCE_SETTINGS
from .sourcemap import SourceMap

TOP = ""  # the block name used for top-level settings


def model_for(block: str, label: str | None) -> type[schema.Block] | None:
    if block == TOP:
        return schema.TopLevel
    if block in schema.LABELLED:
        return schema.LABELLED[block].get(label or "")
    return schema.BLOCKS.get(block)


def keys_of(model: type[schema.Block]) -> list[str]:
    return [name for name in model.model_fields if name != "kind"]


# --- describing types for messages -------------------------------------------


def describe(annotation) -> str:
    """A human description of a field's type: 'an integer', 'a list of strings'..."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [describe(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "one of " + one_of(args)
    if origin is list:
        inner = describe(args[0]) if args else "values"
        return "a list of " + _plural(inner)
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "`true` or `false`",
        schema.Percent: "a percentage such as `10%`",
        schema.Size: "a size such as `80GiB`",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _plural(description: str) -> str:
    if description.startswith("one of "):
        return "values, each " + description
    for article in ("an ", "a "):
        if description.startswith(article):
            noun = description[len(article) :]
            return noun if noun.endswith("s") else noun + "s"
    return description


def literal_choices(annotation) -> list:
    """Every Literal option inside an annotation (through unions, lists, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    out: list = []
    for arg in typing.get_args(annotation):
        out.extend(literal_choices(arg))
    return out


# --- values to Python --------------------------------------------------------


def to_python(value: Value):
    if value.kind == "list":
        return [to_python(item) for item in value.value]
    if value.kind == "percent":
        return schema.Percent(value.value)
    if value.kind == "size":
        return schema.Size(value.value)
    return value.value


_RANGE = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
    "too_short": "at least {min_length} items long",
    "too_long": "at most {max_length} items long",
    "string_too_long": "at most {max_length} characters long",
    "string_pattern_mismatch": "made of letters, digits, `.`, `_` and `-`, starting with a letter or digit",
}


def _qualified(block: str, key: str) -> str:
    return key if block == TOP else f"{block}.{key}"


def _field_errors(
    block: str,
    label: str | None,
    model: type[schema.Block],
    values: dict[str, Value],
    error: ValidationError,
    sources: SourceMap,
    diags: Diagnostics,
) -> None:
    by_field: dict[str, list[dict]] = {}
    for err in error.errors():
        by_field.setdefault(str(err["loc"][0]), []).append(err)
    for name, errors in by_field.items():
        qualified = _qualified(block, name)
        if name not in values:
            if any(e["type"] == "missing" for e in errors):
                diags.error(
                    "FT108",
                    f"missing required setting `{qualified}`",
                    sources.at(block),
                    f"add `{name} = ...` ({describe(model.model_fields[name].annotation)})"
                    + ("" if block == TOP else f" to the `{block}` block"),
                )
            continue
        value = values[name]
        annotation = model.model_fields[name].annotation
        index = next((e["loc"][1] for e in errors if len(e["loc"]) > 1 and isinstance(e["loc"][1], int)), None)
        target = (
            value.value[index] if index is not None and value.kind == "list" and index < len(value.value) else value
        )
        literal = [e for e in errors if e["type"] == "literal_error"]
        ranged = [e for e in errors if e["type"] in _RANGE]
        if target.kind in ("string", "ident") and literal:
            choices = literal_choices(annotation)
            help = did_you_mean(target.value, choices)
            help = (help + " " if help else "") + "expected " + one_of(choices)
            diags.error("FT104", f"`{target.value}` is not a valid value for `{qualified}`", target.span, help)
        elif ranged and (target.kind not in ("string", "ident") or not literal):
            err = ranged[0]
            bound = _RANGE[err["type"]].format(**{k: _number(v) for k, v in err.get("ctx", {}).items()})
            shown = target.text or plural(len(target.value), "item")
            diags.error("FT106", f"`{qualified}` must be {bound}, found {shown}", target.span)
        else:
            found = target.describe()
            help = None
            if target.kind == "string" and _looks_numeric(target.value):
                help = f"remove the quotes: `{name} = {target.value}`"
            elif target.kind in ("string", "ident") and literal_choices(annotation):
                help = "expected " + one_of(literal_choices(annotation))
            diags.error("FT105", f"`{qualified}` expects {describe(annotation)}, found {found}", target.span, help)


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _looks_numeric(text: str) -> bool:
    try:
        float(text.rstrip("%"))
        return True
    except ValueError:
        return False


def _check_items(
    block: str, label: str | None, items, model: type[schema.Block] | None, sources: SourceMap, diags: Diagnostics
) -> dict[str, Value]:
    """Unknown, duplicate and nested items of one block; returns the settings by key."""
    values: dict[str, Value] = {}
    known = keys_of(model) if model else []
    for item in items:
        if isinstance(item, Block):
            if block == TOP:
                continue  # blocks at top level are handled by the caller
            diags.error(
                "FT101",
                f"blocks do not nest: `{item.name}` inside `{block}`",
                item.name_span,
                f"close `{block}` with `}}` before opening `{item.name}`",
            )
            continue
        if item.key in values:
            first = sources.settings[(block, item.key)]
            diags.error(
                "FT107",
                f"`{_qualified(block, item.key)}` is set twice",
                item.key_span,
                f"the first is on line {first.key_span.line}; keep one",
            )
            continue
        if model is not None and item.key not in known:
            diags.error(
                "FT102",
                f"unknown setting `{item.key}`" + ("" if block == TOP else f" in `{block}`"),
                item.key_span,
                _unknown_key_help(block, label, item.key, known),
            )
            continue
        values[item.key] = item.value
        sources.settings[(block, item.key)] = item
    return values


def _unknown_key_help(block: str, label: str | None, key: str, known: list[str]) -> str:
    close = did_you_mean(key, known)
    if close:
        return close
    homes = [name for name, model in schema.BLOCKS.items() if name != "strategy" and key in keys_of(model)]
    kinds = [kind for kind, model in schema.STRATEGIES.items() if key in keys_of(model)]
    if homes:
        return f"`{key}` belongs in the `{homes[0]}` block"
    if kinds and block == "strategy":
        named = [f"`strategy {k}`" for k in kinds]
        return f"`{key}` is a setting of " + (", ".join(named[:-1]) + " and " if len(named) > 1 else "") + named[-1]
    owners = {k: name for name, model in reversed(schema.BLOCKS.items()) if name != "strategy" for k in keys_of(model)}
    # A key from another block is a guess, not a typo in this one: it must be closer to count
    # (`target` in `hardware` is not `text` of `data`).
    word = closest(key, owners, cutoff=0.75)
    if word and owners[word] != block:
        return f"did you mean `{word}`? it belongs in the `{owners[word]}` block"
    where = "at the top level" if block == TOP else f"in `{block}`" + (f" {label}" if label else "")
    return f"settings {where}: " + ", ".join(known)


def _reference_settings(item: Block, diags: Diagnostics) -> tuple:
    """FT232: reference settings on an objective that has no reference model (ORPO, SimPO); the other items."""
    if item.label in schema.REFERENCED_KINDS:
        return item.items
    for setting in [s for s in item.items if isinstance(s, Setting) and s.key in REFERENCE_SETTINGS]:
        diags.error(
            "FT232",
            f"`objective {item.label}` takes no reference model, but `{setting.key}` is given",
            setting.key_span,
            f"remove `{setting.key}`; "
            + " and ".join(f"`objective {k}`" for k in schema.REFERENCED_KINDS)
            + " compare against a reference",
        )
    return tuple(s for s in item.items if not (isinstance(s, Setting) and s.key in REFERENCE_SETTINGS))


def _block_model(item, name: str, sources: SourceMap, diags: Diagnostics):
    """The validation model of a block, or None (after its diagnostic) when the block's values cannot be checked: a
    block given twice, an unknown block, a missing or unknown kind."""
    if name in sources.blocks:
        first = sources.blocks[name]
        shown = f"data {item.label}" if name != item.name else item.name
        diags.error(
            "FT107",
            f"block `{shown}` appears twice",
            item.name_span,
            f"the first is on line {first.name_span.line}; merge them into one",
        )
        return None
    if item.name not in schema.BLOCKS:
        help = did_you_mean(item.name, schema.BLOCKS) or "blocks are: " + ", ".join(schema.BLOCKS)
        if item.name in schema.TopLevel.model_fields:
            help = f"`{item.name}` is a setting: write `{item.name} = ...`"
        diags.error("FT101", f"unknown block `{item.name}`", item.name_span, help)
        return None
    sources.blocks[name] = item
    model = model_for(item.name, item.label)
    if item.name in schema.LABELLED:
        kinds = schema.LABELLED[item.name]
        if item.label is None:
            diags.error(
                "FT109",
                f"`{item.name}` needs a kind",
                item.name_span,
                f"write `{item.name} {next(iter(kinds))} {{ ... }}`; kinds: " + ", ".join(kinds),
            )
            return None
        if model is None:
            help = did_you_mean(item.label, kinds)
            help = (help + " " if help else "") + "kinds: " + ", ".join(kinds)
            diags.error("FT103", f"unknown {item.name} kind `{item.label}`", item.label_span, help)
            return None
    elif item.label is not None and item.name != "data":
        diags.error(
            "FT109",
            f"`{item.name}` takes no label",
            item.label_span,
            f"write `{item.name} {{ ... }}`; only `strategy` and `objective` have a kind, and `data NAME` names"
            " a source",
        )
    return model


def validate(doc: Document) -> tuple[schema.Spec | None, SourceMap, Diagnostics]:
    """Check a Document's structure and values; returns the Spec when there are no errors."""
    diags = Diagnostics()
    sources = SourceMap(doc.path)
    validated: dict[str, object] = {}

    top_values = _check_items(TOP, None, doc.items, schema.TopLevel, sources, diags)
    mixture: dict[str, schema.Data] = {}
    for item in doc.blocks():
        # A labelled data block is one source of a mixture, recorded as `data.NAME`.
        name = f"data.{item.label}" if item.name == "data" and item.label is not None else item.name
        model = _block_model(item, name, sources, diags)
        if model is None:
            continue
        items = _reference_settings(item, diags) if item.name == "objective" else item.items
        values = _check_items(name, item.label, items, model, sources, diags)
        try:
            checked = model.model_validate({k: to_python(v) for k, v in values.items()})
        except ValidationError as error:
            _field_errors(name, item.label, model, values, error, sources, diags)
            continue
        if name != item.name:
            mixture[item.label] = checked
        else:
            validated[item.name] = checked

    try:
        top = schema.TopLevel.model_validate({k: to_python(v) for k, v in top_values.items()})
    except ValidationError as error:
        _field_errors(TOP, None, schema.TopLevel, top_values, error, sources, diags)
        top = None

    labelled = [block for key, block in sources.blocks.items() if key.startswith("data.")]
    if labelled and "data" in sources.blocks:
        diags.error(
            "FT260",
            "an unlabelled `data` block beside labelled ones (`data NAME { ... }`)",
            sources.blocks["data"].name_span,
            f"one source is `data {{ ... }}`; a mixture labels every source: `data {labelled[0].label} {{ ... }}`"
            f" and name this one too, e.g. `data main {{ ... }}`",
        )
    elif mixture:
        from .mixture import combine  # the mixture's own module, which builds on this one

        validated["data"], validated["mixture"] = combine(mixture, sources, diags)
    for required in schema.REQUIRED_BLOCKS:
        if required not in sources.blocks and not (required == "data" and labelled):
            example = "strategy lora { ... }" if required == "strategy" else f"{required} {{ ... }}"
            diags.error(
                "FT108",
                f"missing `{required}` block",
                Span(doc.path, 1, 1, 1, 2),
                f"add `{example}`" + ("; kinds: " + ", ".join(schema.STRATEGIES) if required == "strategy" else ""),
            )

    if diags.has_errors or top is None:
        return None, sources, diags
    return schema.Spec(**dict(top), **validated), sources, diags
