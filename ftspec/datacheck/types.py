"""The types of values the training script can read (FT610): checked for JSON and Parquet rows, whose
values may be numbers, lists or objects; CSV and plain text hold only strings.

`datasets` loads a column with one type for every row, and the script reads the columns a format names
as text (a label may also be a whole number): `{"text": 5}` or `{"text": ["a", "b"]}` would pass every
other check and then stop train.py in its tokenizer or collator.
"""

from __future__ import annotations

from typing import Any

# What a column read as text may hold, and what a label column may hold, by the `data` key that names it.
TEXT_KEYS = ("text", "prompt", "response", "template")
LABEL_KEYS = ("label",)


def kind_of(value: Any) -> str:
    """A value's JSON kind, in words."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def type_fault(key: str, column: str, value: Any) -> tuple[str, str] | None:
    """(message, help) when ``value`` of ``column`` (named by `data.<key>`) is not a type the script reads."""
    if value is None or isinstance(value, str):
        return None  # null is an empty value, reported as such
    if key in LABEL_KEYS:
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        return (
            f"the label in `{column}` is {kind_of(value)}, not a string or a whole number",
            'write the label as text, such as "positive", one of `data.labels`',
        )
    if key in TEXT_KEYS:
        return (
            f"the value of `{column}` is {kind_of(value)}, not a string",
            f'the training script reads `{column}` as text: write it as a JSON string, such as "…"',
        )
    return None
