"""Combinations of data settings that cannot work: the rows chosen, the held-out set, chat roles, special tokens."""

from __future__ import annotations

import re

from ..diagnostics import Diagnostics
from .schema import Spec
from .sourcemap import SourceMap

# A split as datasets reads it: a name and an optional slice of rows or percentages, `train[10:20%]`.
BOUND = r"-?\d+%?"
SPLIT = re.compile(rf"^[A-Za-z_][A-Za-z0-9_.-]*(\[({BOUND})?:({BOUND})?\])?$")
HUB_ONLY = ("revision", "config", "data_files")
# What needs held-out rows, and so cannot run with `eval_split = 0%`.
NEEDS_HELD_OUT = (("eval", "every"), ("eval", "per_epoch"), ("eval", "metrics"), ("eval", "samples"))


def check_data_settings(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    """The impossible combinations of the `data` block's settings (no file is read: that is `api.check_data`)."""
    check_source(spec, sources, diags)
    _no_held_out(spec, sources, diags)
    _special_tokens(spec, sources, diags)


def check_source(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    """The checks of one data source (`spec.data`, which `sources` locates)."""
    _rows(spec, sources, diags)
    _roles(spec, sources, diags)


def _rows(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    data = spec.data
    if not SPLIT.match(data.split):
        diags.error(
            "FT240",
            f"`{data.split}` is not a split: a name with an optional slice of rows or percentages",
            sources.at("data", "split"),
            'write it as datasets does: `"train"`, `"train[:20%]"`, `"train[100:2000]"`',
        )
    if not data.train.startswith("hub:"):
        for key in HUB_ONLY:
            if sources.setting("data", key) is not None:
                diags.error(
                    "FT241",
                    f"`data.{key}` applies to a hub dataset, but `train` is a local file",
                    sources.at("data", key),
                    f'remove `{key}`, or read a hub dataset with `train = "hub:owner/name"`',
                )
    if data.min_length is not None and data.min_length > data.max_length:
        diags.error(
            "FT242",
            f"`min_length = {data.min_length}` is above `max_length = {data.max_length}`: no example would be kept",
            sources.at("data", "min_length"),
            f"lower `min_length` to at most {data.max_length}, or raise `max_length`",
        )


def _no_held_out(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    # A mixture holds rows out when any of its sources does.
    held = [data.eval or data.eval_split is None or data.eval_split.value != 0 for data in spec.mixture.values()]
    split = spec.data.eval_split
    if split is None or split.value != 0 or any(held):
        return
    for block, key in NEEDS_HELD_OUT:
        if sources.setting(block, key) is not None:
            diags.error(
                "FT243",
                f"`{block}.{key}` measures the held-out rows, but `eval_split = 0%` holds none out",
                sources.at(block, key),
                f"remove `{key}`, or hold rows out (`eval_split = 5%`, or an `eval` file)",
            )


def _roles(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    data = spec.data
    if data.format != "chat":
        return
    names = {"user_role": data.user_role, "assistant_role": data.assistant_role, "system_role": data.system_role}
    seen: dict[str, str] = {}
    for key, name in names.items():
        if name in seen:
            diags.error(
                "FT244",
                f"`{key}` and `{seen[name]}` are both `{name}`: a message's role would say nothing of who wrote it",
                sources.at("data", key),
                "give each role the name the data uses for it",
            )
        seen.setdefault(name, key)
    if data.role_key == data.content_key:
        diags.error(
            "FT244",
            f"`role_key` and `content_key` are both `{data.role_key}`",
            sources.at("data", "content_key"),
            'ShareGPT data uses `role_key = "from"` and `content_key = "value"`',
        )


def _special_tokens(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    tokenizer = spec.tokenizer
    for key in ("eos_token", "pad_token"):
        value = getattr(tokenizer, key)
        if value is not None and (not value or value != value.strip()):
            diags.error(
                "FT245",
                f"`tokenizer.{key}` must be a token's text without surrounding spaces, found {value!r}",
                sources.at("tokenizer", key),
                'write the token as the tokenizer spells it, e.g. `"<|endoftext|>"`',
            )
