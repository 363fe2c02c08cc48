"""`ftspec fmt`: one canonical layout for .ft files, with every comment kept where it belongs.

The grammar folds comments into newline tokens, so the AST has none. A small scanner
finds them, and each is attached by source position: a comment on a line of its own
to the item that follows it, a comment after code to the item that ends on its line,
a comment inside a list to the element it follows. The layout is then written afresh
from the AST; only comment text and the spelling of numbers survive from the source.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..diagnostics import Diagnostics
from .ast import Block, Setting, Value
from .lower import lower
from .parser import parse

TOP_ORDER = ("extends", "name", "domain", "description")
BLOCK_ORDER = ("base", "data", "tokenizer", "strategy", "objective", "train", "eval", "hardware", "output")
INDENT = "  "
MAX_WIDTH = 88
# Trailing comments start at this column (counting from 0), as in the examples of DESIGN.md,
# or two spaces after the widest commented setting of the group when that is further right.
COMMENT_COLUMN = 34
MAX_COMMENT_COLUMN = 60
BLANK = None  # a blank line in a run of trivia; runs of blank lines collapse to one

Trivia = list[str | None]


@dataclass
class Element:
    """A list element with the comments after it."""

    value: Value
    nested: ListComments | None
    trailing: str | None = None
    following: list[str] = field(default_factory=list)


@dataclass
class ListComments:
    """A list value's elements and the comments between its brackets."""

    elements: list[Element]
    open_comment: str | None = None
    open_following: list[str] = field(default_factory=list)

    def has_comments(self) -> bool:
        return bool(self.open_comment or self.open_following) or any(
            e.trailing or e.following or (e.nested and e.nested.has_comments()) for e in self.elements
        )


@dataclass
class Item:
    """A setting or block with its comments: own lines above, one after it, and (blocks) its body."""

    node: Setting | Block
    leading: Trivia
    trailing: str | None = None
    body: Body | None = None
    list_comments: ListComments | None = None


@dataclass
class Body:
    """The items of a document or block, the comment after `{`, and the trivia before `}`."""

    items: list[Item]
    end: Trivia
    open_comment: str | None = None


# Reading: comments found by a scanner, attached to the AST by position.


def scan_comments(text: str) -> dict[int, tuple[int, str]]:
    """Every comment of ``text`` by line: its column (from 1, as Lark counts) and its text."""
    comments = {}
    for number, line in enumerate(text.split("\n"), 1):
        start = _comment_start(line)
        if start is not None:
            comments[number] = (start + 1, line[start:].rstrip())
    return comments


def _comment_start(line: str) -> int | None:
    i = 0
    while i < len(line):
        if line[i] == "#":
            return i
        if line[i] == '"':  # skip a string literal: a `#` inside it is text
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        i += 1
    return None


class _Attacher:
    """Hands each comment of the source to the one place in the tree it belongs to."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.comments = scan_comments(text)
        self.taken: set[int] = set()

    def take(self, line: int) -> str | None:
        if line not in self.comments or line in self.taken:
            return None
        self.taken.add(line)
        return self.comments[line][1]

    def trivia(self, first: int, last: int) -> Trivia:
        """The comments and blank lines of lines ``first``..``last``, which hold nothing else."""
        out: Trivia = []
        for line in range(first, last + 1):
            comment = self.take(line)
            if comment is not None:
                out.append(comment)
            elif not out or out[-1] is not BLANK:
                out.append(BLANK)
        return out

    def body(self, nodes: Sequence[Setting | Block], open_line: int, close_line: int | None) -> Body:
        """Items between an opener line and a closing line (None: the end of the document)."""
        open_comment = None
        if close_line not in (None, open_line) and (not nodes or nodes[0].span.line != open_line):
            open_comment = self.take(open_line)
        items = []
        boundary = open_line
        for node in nodes:
            items.append(self.item(node, self.trivia(boundary + 1, node.span.line - 1), close_line))
            boundary = node.span.end_line
        last = len(self.lines) if close_line is None else close_line - 1
        return Body(items, self.trivia(boundary + 1, last), open_comment)

    def item(self, node: Setting | Block, leading: Trivia, close_line: int | None) -> Item:
        item = Item(node, leading)
        if isinstance(node, Block):
            item.body = self.body(node.items, node.span.line, node.span.end_line)
        elif node.value.kind == "list":
            item.list_comments = self.list_comments(node.value)
        # On the closing line of the enclosing block, a comment comes after its `}`: the block's.
        if node.span.end_line != close_line:
            item.trailing = self.take(node.span.end_line)
        return item

    def list_comments(self, value: Value) -> ListComments:
        """A list's comments: each goes with the element before it, or after `[` when none is."""
        elements = [Element(v, self.list_comments(v) if v.kind == "list" else None) for v in value.value]
        result = ListComments(elements)
        # A comment on the line of `]` would hide it, so the list's comments are on the lines before.
        for line in range(value.span.line, value.span.end_line):
            if line not in self.comments or line in self.taken:
                continue
            position = (line, self.comments[line][0])
            before = [e for e in elements if (e.value.span.end_line, e.value.span.end_column) <= position]
            comment = self.take(line)
            if before and before[-1].value.span.end_line == line:
                before[-1].trailing = comment
            elif before:
                before[-1].following.append(comment)
            elif line == value.span.line:
                result.open_comment = comment
            else:
                result.open_following.append(comment)
        return result


# Writing: the canonical layout.


def _strip_blanks(trivia: Trivia, leading: bool = True, trailing: bool = True) -> Trivia:
    start, end = 0, len(trivia)
    while leading and start < end and trivia[start] is BLANK:
        start += 1
    while trailing and end > start and trivia[end - 1] is BLANK:
        end -= 1
    return trivia[start:end]


def _trivia_lines(trivia: Trivia, indent: str) -> list[str]:
    return ["" if entry is BLANK else indent + entry for entry in trivia]


def quote(text: str) -> str:
    """A string literal for ``text`` with the escapes the grammar knows."""
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return f'"{text}"'


def inline(value: Value) -> str:
    """A value on one line: strings quoted afresh, numbers as written without `_` or a leading `+`."""
    if value.kind == "list":
        return "[" + ", ".join(inline(v) for v in value.value) + "]"
    if value.kind == "string":
        return quote(value.value)
    if value.kind in ("int", "float", "percent", "size"):
        return value.text.replace("_", "").removeprefix("+")
    return value.text


def _list_lines(value: Value, comments: ListComments, prefix: str, indent: str) -> list[str]:
    """A list after ``prefix``: on one line when it fits and has no comments, else one element per line."""
    one_line = prefix + inline(value)
    if len(one_line) <= MAX_WIDTH and not comments.has_comments():
        return [one_line]
    inner = indent + INDENT
    lines = [prefix + "[" + (f"  {comments.open_comment}" if comments.open_comment else "")]
    lines += [inner + comment for comment in comments.open_following]
    for element in comments.elements:
        if element.nested is not None:
            element_lines = _list_lines(element.value, element.nested, inner, inner)
        else:
            element_lines = [inner + inline(element.value)]
        element_lines[-1] += "," + (f"  {element.trailing}" if element.trailing else "")
        lines += element_lines + [inner + comment for comment in element.following]
    return [*lines, indent + "]"]


def _setting_lines(item: Item, indent: str, key_width: int) -> list[str]:
    setting = item.node
    prefix = f"{indent}{setting.key.ljust(key_width)} = "
    if item.list_comments is not None:
        return _list_lines(setting.value, item.list_comments, prefix, indent)
    return [prefix + inline(setting.value)]


def _block_lines(item: Item, indent: str) -> list[str]:
    block, body = item.node, item.body
    head = indent + block.name + (f" {block.label}" if block.label else "")
    end = _strip_blanks(body.end, leading=not body.items)
    if not body.items and not end and not body.open_comment:
        return [head + " { }"]
    lines = [head + " {" + (f"  {body.open_comment}" if body.open_comment else "")]
    lines += _items_lines(body.items, indent + INDENT)
    lines += _trivia_lines(end, indent + INDENT)
    return [*lines, indent + "}"]


def _comment_column(widths: list[int]) -> int | None:
    """The column trailing comments of one group align to; None: too far right, two spaces each."""
    if not widths:
        return None
    column = max(COMMENT_COLUMN, max(widths) + 2)
    return column if column <= MAX_COMMENT_COLUMN else None


def _is_setting(item: Item) -> bool:
    return isinstance(item.node, Setting)


def _aligns(item: Item, lines: list[str]) -> bool:
    """Only one-line settings align their comments; after a `]` or `}` a comment sits two spaces on."""
    return _is_setting(item) and len(lines) == 1


def _items_lines(items: list[Item], indent: str) -> list[str]:
    """Items of one group: `=` aligned over all its settings, and their trailing comments too."""
    key_width = max((len(item.node.key) for item in items if _is_setting(item)), default=0)
    code = [
        _setting_lines(item, indent, key_width) if _is_setting(item) else _block_lines(item, indent) for item in items
    ]
    column = _comment_column(
        [len(lines[0]) for item, lines in zip(items, code, strict=True) if item.trailing and _aligns(item, lines)]
    )
    out: list[str] = []
    for index, (item, lines) in enumerate(zip(items, code, strict=True)):
        out += _trivia_lines(item.leading if index else _strip_blanks(item.leading, trailing=False), indent)
        if item.trailing:
            last = lines[-1]
            aligned = column is not None and _aligns(item, lines)
            lines = [*lines[:-1], (last.ljust(column - 2) if aligned else last) + "  " + item.trailing]
        out += lines
    return out


def _sections(body: Body) -> list[list[str]]:
    """The file's sections in canonical order: header comments, top-level settings, then each block."""
    items = list(body.items)
    sections: list[list[str]] = []
    if items:
        leading = _strip_blanks(items[0].leading, trailing=False)
        if BLANK in leading:  # comments set apart from the first item by a blank line head the file
            split = len(leading) - 1 - leading[::-1].index(BLANK)
            sections.append(_trivia_lines(leading[:split], ""))
            leading = leading[split + 1 :]
        items[0] = replace(items[0], leading=leading)
    # The top-level settings are one section, reordered: blank lines within it would land at random.
    settings = [
        replace(item, leading=[c for c in item.leading if c is not BLANK]) for item in items if _is_setting(item)
    ]
    settings.sort(key=lambda item: _rank(TOP_ORDER, item.node.key))
    blocks = [item for item in items if not _is_setting(item)]
    blocks.sort(key=lambda item: _rank(BLOCK_ORDER, item.node.name))
    if settings:
        sections.append(_items_lines(settings, ""))
    sections += [_items_lines([block], "") for block in blocks]
    return sections


def _rank(order: tuple[str, ...], name: str) -> int:
    return order.index(name) if name in order else len(order)


def layout(body: Body) -> str:
    """The canonical text of a document's items and comments."""
    lines: list[str] = []
    for section in _sections(body):
        lines += ([""] if lines else []) + section
    end = _strip_blanks(body.end, leading=not lines)
    if end and end[0] is BLANK:
        end = end[1:]
        lines.append("")
    lines += _trivia_lines(end, "")
    return "\n".join(lines) + "\n" if lines else ""


def format_source(text: str, path: str = "<spec>") -> tuple[str | None, Diagnostics]:
    """The canonical layout of ``text``, or None and the diagnostics when it does not parse."""
    tree, diags = parse(text, path)
    if tree is None:
        return None, diags
    document, literal_diags = lower(tree, path, text)
    if literal_diags.has_errors:  # a bad escape or number: rewriting it would guess at its meaning
        return None, literal_diags
    attacher = _Attacher(text)
    body = attacher.body(document.items, 0, None)
    lost = set(attacher.comments) - attacher.taken
    assert not lost, f"fmt: comments on lines {sorted(lost)} found no place"
    return layout(body), diags


def read_source(path: str | Path) -> str:
    """A file's exact text: line endings are not translated, so CRLF files count as changed."""
    return Path(path).read_bytes().decode("utf-8")


def format_file(path: str | Path) -> tuple[str, str | None, Diagnostics]:
    """A file's text, its canonical layout (None when it does not parse) and the diagnostics."""
    text = read_source(path)
    formatted, diags = format_source(text, str(path))
    return text, formatted, diags


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a temporary file beside it, so it is never half-written."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
