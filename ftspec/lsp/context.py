"""Where a cursor is in a spec: the block around it, the key it is on, and the word under it.

An editor's buffer is usually broken while it is typed, so this does not parse: it scans tokens
(strings, comments, names, braces, `=`) up to the cursor and keeps a stack of open blocks. Lines and
columns count from 0, in characters, as the server hands them over.

>>> at = cursor_at('strategy lora {\\n  rank = 8\\n  al', 2, 4)
>>> at.block, at.label, at.in_value, at.prefix
('strategy', 'lora', False, 'al')
>>> cursor_at('train {\\n  scheduler = cos', 1, 17).key
'scheduler'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\\n]|\\.)*"?)|(?P<comment>#[^\n]*)|(?P<newline>\n)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)'
    r"|(?P<number>[+-]?[0-9.][A-Za-z0-9_.%+-]*)|(?P<punct>[{}\[\]=,])|(?P<space>[ \t\r]+)|(?P<other>.)"
)


@dataclass(frozen=True)
class Cursor:
    """What surrounds a cursor: ``block`` is "" at the top level; ``key`` is set when the cursor is in a value."""

    block: str
    label: str | None
    key: str | None
    in_value: bool
    prefix: str  # the part of the word (or of the string, without its quote) before the cursor
    in_string: bool
    statement: tuple[str, ...]  # the words of the statement before the prefix (`strategy` while typing a kind)
    in_comment: bool = False


def offset_of(text: str, line: int, character: int) -> int:
    """The offset in ``text`` of a 0-based line and character, clamped to the text."""
    lines = text.split("\n")
    if line >= len(lines):
        return len(text)
    return sum(len(item) + 1 for item in lines[:line]) + min(character, len(lines[line]))


def cursor_at(text: str, line: int, character: int) -> Cursor:
    """The Cursor at a 0-based line and character of ``text``."""
    end = offset_of(text, line, character)
    stack: list[tuple[str, str | None]] = []
    statement: list[tuple[str, str]] = []  # (kind, text) of the tokens since the statement began
    depth_list = 0
    last = None
    for match in _TOKEN.finditer(text, 0, end):
        kind, value = match.lastgroup, match.group()
        last = (kind, value, match.end())
        if kind in ("space", "comment"):
            continue
        if kind == "newline":
            if depth_list == 0:
                statement = []
            continue
        if value == "[":
            depth_list += 1
        elif value == "]":
            depth_list = max(0, depth_list - 1)
        if value == "{":
            words = [text_ for kind_, text_ in statement if kind_ == "word"]
            stack.append((words[0] if words else "", words[1] if len(words) > 1 else None))
            statement, depth_list = [], 0
            continue
        if value == "}":
            if stack:
                stack.pop()
            statement, depth_list = [], 0
            continue
        statement.append((kind, value))
    block, label = stack[-1] if stack else ("", None)
    prefix, in_string, in_comment = "", False, False
    if last is not None and last[2] == end:
        kind, value, _ = last
        if kind == "comment":
            in_comment = True
        elif kind == "string" and not (len(value) > 1 and value.endswith('"')):
            in_string, prefix = True, value[1:]
        elif kind in ("word", "number"):
            prefix = value
    if prefix and statement and statement[-1][1] == prefix and not in_string:
        statement = statement[:-1]
    elif in_string and statement and statement[-1][0] == "string":
        statement = statement[:-1]
    words = tuple(value for kind, value in statement if kind == "word")
    in_value = any(value == "=" for _, value in statement)
    key = statement[0][1] if in_value and statement and statement[0][0] == "word" else None
    return Cursor(block, label, key, in_value, prefix, in_string, words, in_comment)


@dataclass(frozen=True)
class Word:
    """The token under a position: its text, its kind (word, string, number) and its 0-based columns."""

    text: str
    kind: str
    start: int
    end: int


def word_at(text: str, line: int, character: int) -> Word | None:
    """The name, string or number under (or just before) a 0-based position, or None."""
    lines = text.split("\n")
    if line >= len(lines):
        return None
    source = lines[line]
    for match in _TOKEN.finditer(source):
        if match.lastgroup in ("word", "string", "number") and match.start() <= character <= match.end():
            return Word(match.group(), match.lastgroup, match.start(), match.end())
        if match.lastgroup == "comment":
            break
    return None
