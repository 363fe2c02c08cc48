"""Python literals for generated code, written the way `ruff format` writes them.

Every value from a spec reaches generated code through these functions, never
by pasting text, so a hostile string stays a string.
"""

from __future__ import annotations

import math

LINE_WIDTH = 88


def string(text: str) -> str:
    """A string literal, preferring double quotes unless that needs more escapes."""
    body = repr(text)[1:-1]  # repr escapes backslashes, control characters and one quote style
    if repr(text)[0] == '"':  # repr chose double quotes: the text has ' but no "
        return '"' + body + '"'
    unescaped = body.replace("\\'", "'")
    if unescaped.count('"') > unescaped.count("'"):
        return "'" + body + "'"
    return '"' + unescaped.replace('"', '\\"') + '"'


def literal(value) -> str:
    """One-line literal of None, bools, numbers, strings and lists/tuples/dicts of them."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (list, tuple)):
        items = ", ".join(literal(item) for item in value)
        return f"[{items}]"
    if isinstance(value, dict):
        items = ", ".join(f"{literal(key)}: {literal(item)}" for key, item in sorted(value.items()))
        return "{" + items + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def block(value, indent: int = 0, prefix: int = 0) -> str:
    """A literal that fits in the line after ``prefix`` characters, else exploded one item per line."""
    flat = literal(value)
    if prefix + len(flat) <= LINE_WIDTH or not isinstance(value, (list, tuple, dict)) or not value:
        return flat
    inner = " " * (indent + 4)
    if isinstance(value, dict):
        lines = [
            f"{inner}{literal(key)}: {block(item, indent + 4, indent + 4 + len(literal(key)) + 2)},"
            for key, item in sorted(value.items())
        ]
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    lines = [f"{inner}{block(item, indent + 4, indent + 4)}," for item in value]
    return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"


def assign(name: str, value) -> str:
    """`NAME = literal`, wrapped the way ruff would wrap it."""
    return f"{name} = {block(value, 0, len(name) + 3)}"
