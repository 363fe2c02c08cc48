"""The spec reference for the README, generated from the validation models."""

from __future__ import annotations

import typing

from pydantic_core import PydanticUndefined

from . import schema
from .validate import describe

BEGIN, END = "<!-- reference:begin -->", "<!-- reference:end -->"
# Defaults the planner decides; the table says how.
RESOLVED = {
    ("data", "eval_split"): "10% when no `eval`",
    ("data", "packing"): "`true` for `text`; else rows of similar length are batched together",
    ("data", "shuffle_seed"): "`train.seed`",
    ("data", "weight"): "1 in a labelled block",
    ("data", "text"): '`"text"`',
    ("data", "prompt"): '`"prompt"` for `instruction`',
    ("data", "messages"): '`"messages"`',
    ("data", "template"): "`default`; the prompt alone with a `chat_template`",
    ("data", "chat_template"): "`tokenizer` (chatml for a learned tokenizer); none on `instruction` data",
    ("train", "epochs"): "1",
    ("train", "learning_rate"): "by strategy: full 2e-5, LoRA family 2e-4, ia3 3e-3, scratch 1e-3",
    ("eval", "metrics"): "by format",
    ("eval", "batch_size"): "the training micro-batch",
    ("output", "dir"): "`runs/<name>` at the project root",
    ("base", "revision"): "`main`",
    ("tokenizer", "model"): "the base's tokenizer",
    ("tokenizer", "eos_token"): "the tokenizer's (`<|endoftext|>` for a learned one)",
    ("tokenizer", "pad_token"): "the tokenizer's, else a spare token, else EOS (`<|pad|>` for a learned one)",
    ("scratch", "kv_heads"): "`heads`",
    ("scratch", "intermediate_size"): "4 x `hidden_size`",
    ("scratch", "context"): "`data.max_length`",
    ("ia3", "targets"): "peft's default for the architecture",
    ("ia3", "feedforward"): "peft's default for the architecture",
    ("dpo", "reference"): "`auto`",
    ("kto", "reference"): "`auto`",
}


def _default(owner: str, name: str, field) -> str:
    if (owner, name) in RESOLVED:
        return RESOLVED[(owner, name)]
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "unset"
    if value == "":
        return '`""`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[]`"
    return f"`{value}`"


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _type(field) -> str:
    """The field's type, with its bounds (`an integer, >= 8`)."""
    text = describe(field.annotation).replace("`", "")
    bounds = [
        f"{sign} {_number(getattr(meta, name))}"
        for meta in field.metadata
        for name, sign in _BOUNDS.items()
        if getattr(meta, name, None) is not None
    ]
    for arg in typing.get_args(field.annotation):  # bounds inside Annotated members of a union
        for meta in getattr(arg, "__metadata__", ()):
            bounds += [
                f"{sign} {_number(getattr(meta, name))}"
                for name, sign in _BOUNDS.items()
                if getattr(meta, name, None) is not None
            ]
    return text + (", " + " and ".join(bounds) if bounds else "")


HEADER = ["| setting | type | default | meaning |", "|---|---|---|---|"]


def row(owner: str, name: str, field) -> str:
    """One setting's row: ``owner`` is the block, the strategy kind, or "" at the top level."""
    meaning = (field.description or "").replace("|", "\\|")
    return f"| `{name}` | {_type(field)} | {_default(owner, name, field)} | {meaning} |"


def default_of(owner: str, name: str, field) -> str:
    """The default as the reference prints it (`8`, **required**, or how the planner decides it)."""
    return _default(owner, name, field)


def table(owner: str, model) -> list[str]:
    return [*HEADER, *(row(owner, name, field) for name, field in model.model_fields.items() if name != "kind")]


def reference() -> str:
    """The markdown reference of every block and strategy kind."""
    out = [BEGIN, "", "### Top level", "", *table("", schema.TopLevel)]
    for name, model in schema.BLOCKS.items():
        if name in schema.LABELLED:
            continue
        out += ["", f"### `{name}`", "", typing.cast(str, model.__doc__).strip(), "", *table(name, model)]
    for block, kinds in schema.LABELLED.items():
        for kind, model in kinds.items():
            doc = " ".join(typing.cast(str, model.__doc__).split())
            out += ["", f"### `{block} {kind}`", "", doc, "", *table(kind, model)]
    return "\n".join([*out, "", END])
