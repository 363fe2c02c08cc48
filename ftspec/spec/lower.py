"""Lower a Lark parse tree to the ftspec AST, converting literals and keeping spans."""

from __future__ import annotations

import math
import re

from ..diagnostics import Diagnostics, Span
from .ast import Block, Document, Setting, Value
from .parser import Token, Tree, token_span  # Lark's, imported as the parser imports it

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_SIZE_UNITS = {
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}
# Longer numbers are refused (FT006): int() of more than 4,300 digits raises, and no setting needs them.
_MAX_DIGITS = 400
# Lists nest deeper than this are refused (FT005): no setting takes more than a list of lists,
# and lowering (like every later phase) recurses once per level.
_MAX_LIST_DEPTH = 16
_NUMBER = re.compile(r"(?P<num>[+-]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?)(?P<suffix>[A-Za-z%]*)")


def _node_span(path: str, node: Tree) -> Span:
    meta = node.meta
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


_SPECIAL = re.compile(r"\\(.?)|\0", re.DOTALL)


def unescape(token: Token, path: str, diags: Diagnostics) -> str:
    """The text of a string token with its escapes applied; unknown escapes are FT003.

    Only the escapes and NULs are visited (a regular expression finds them), so a long string costs
    one pass over its text.
    """
    body = str(token)[1:-1]
    if "\\" not in body and "\0" not in body:
        return body
    out: list[str] = []
    done = 0
    for match in _SPECIAL.finditer(body):
        out.append(body[done : match.start()])
        done = match.end()
        column = token.column + 1 + match.start()
        if match.group(0) == "\0":
            # Outside strings the lexer refuses NUL; inside, it would reach paths (where the OS refuses it
            # with ValueError) and generated files, so it is refused here the same way.
            diags.error("FT001", "unexpected character `\\0`", Span(path, token.line, column, token.line, column + 1))
            continue
        nxt = match.group(1)
        if not nxt:  # a trailing backslash cannot end a string token; kept as written
            out.append("\\")
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
        else:
            diags.error(
                "FT003",
                f"unknown escape sequence `\\{nxt}`",
                Span(path, token.line, column, token.line, column + 2),
                'strings know `\\"`, `\\\\`, `\\n`, `\\t` and `\\r`; write a backslash as `\\\\`',
            )
            out.append(nxt)
    out.append(body[done:])
    return "".join(out)


def number(token: Token, path: str, diags: Diagnostics) -> Value:
    """Classify a NUMBER token as int, float, percent or size."""
    text = str(token)
    span = token_span(path, token)
    match = _NUMBER.fullmatch(text)
    assert match is not None  # the grammar's NUMBER and _NUMBER are the same pattern
    num, suffix = match.group("num").replace("_", ""), match.group("suffix")
    is_float = any(c in num for c in ".eE")
    # Python refuses to convert integers of thousands of digits, and floats overflow to infinity:
    # neither is a value any setting takes, so report it here rather than crash on it later.
    if len(num) > _MAX_DIGITS or not math.isfinite(float(num)):
        diags.error("FT006", f"`{text[:40]}{'…' if len(text) > 40 else ''}` is too long or too large a number", span)
        return Value("int", 0, span, text)
    if suffix == "":
        return Value("float" if is_float else "int", float(num) if is_float else int(num), span, text)
    if suffix == "%":
        return Value("percent", float(num), span, text)
    if suffix in _SIZE_UNITS and math.isfinite(float(num) * _SIZE_UNITS[suffix]):
        return Value("size", int(float(num) * _SIZE_UNITS[suffix]), span, text)
    if suffix in _SIZE_UNITS:
        diags.error("FT006", f"`{text}` is too large a size", span)
        return Value("size", 0, span, text)
    diags.error(
        "FT006",
        f"`{text}` is not a number, a percentage or a size",
        span,
        "write a number (`3`, `2e-4`), a percentage (`10%`) or a size with a unit: " + ", ".join(_SIZE_UNITS),
    )
    return Value("float" if is_float else "int", float(num) if is_float else int(float(num)), span, text)


def value(node, path: str, diags: Diagnostics, depth: int = 0) -> Value:
    if isinstance(node, Tree) and node.data == "list":
        if depth >= _MAX_LIST_DEPTH:
            span = _node_span(path, node)
            diags.error("FT005", f"lists nest more than {_MAX_LIST_DEPTH} deep", span, "no setting takes such a list")
            return Value("list", (), span, "")
        items = tuple(
            value(child, path, diags, depth + 1)
            for child in node.children
            if isinstance(child, Tree) or (child is not None and child.type not in ("LSQB", "RSQB"))
        )
        return Value("list", items, _node_span(path, node), "")
    token: Token = node.children[0]
    span = token_span(path, token)
    if node.data == "string":
        return Value("string", unescape(token, path, diags), span, str(token))
    if node.data == "number":
        return number(token, path, diags)
    word = str(token)
    if word in ("true", "false"):
        return Value("bool", word == "true", span, word)
    return Value("ident", word, span, word)


def _statement(node: Tree, path: str, diags: Diagnostics) -> Setting | Block:
    if node.data == "setting":
        key, val = node.children
        return Setting(str(key), token_span(path, key), value(val, path, diags), _node_span(path, node))
    name, label, _lbrace, *body, _rbrace = node.children
    items = tuple(_statement(child, path, diags) for child in body if isinstance(child, Tree))
    return Block(
        str(name),
        token_span(path, name),
        str(label) if label is not None else None,
        token_span(path, label) if label is not None else None,
        items,
        _node_span(path, node),
    )


def lower(tree: Tree, path: str, source: str = "") -> tuple[Document, Diagnostics]:
    """Turn a `document` tree into a Document; literal problems become diagnostics."""
    diags = Diagnostics()
    items = tuple(_statement(child, path, diags) for child in tree.children if isinstance(child, Tree))
    return Document(path, items, source), diags


def lower_value(tree: Tree, path: str) -> tuple[Value, Diagnostics]:
    """Lower a `value_only` tree (a `--set` value)."""
    diags = Diagnostics()
    return value(tree.children[0], path, diags), diags
