"""Parse .ft text into a Lark tree with source positions; syntax errors become diagnostics."""

from __future__ import annotations

import hashlib
import sys
from functools import lru_cache
from pathlib import Path

from ..diagnostics import Diagnostics, Span
from ..usercache import cache_folder

# Lark imports the third-party `regex` module when it is installed (the training stack brings it) for its
# `regex=True` option, which ftspec does not use; that import alone is ~4% of a cold `ftspec check`. Lark falls
# back to `re` when `regex` cannot be imported, which a None in sys.modules makes so while Lark is first imported.
_WITHOUT_REGEX = "lark" not in sys.modules and "regex" not in sys.modules
if _WITHOUT_REGEX:
    sys.modules["regex"] = None  # type: ignore[assignment]
try:
    import lark as lark_package
    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
finally:
    if _WITHOUT_REGEX:
        del sys.modules["regex"]


def grammar_path() -> Path:
    """The grammar: packaged next to this module in a wheel, in `grammar/` in a checkout."""
    packaged = Path(__file__).with_name("ftspec.lark")
    return packaged if packaged.exists() else Path(__file__).parents[2] / "grammar" / "ftspec.lark"


# Blocks nested deeper than this are refused (FT111) while lexing: no block nests in another at all, and
# every phase after the parser recurses once per level (lists have their own cap, in lowering).
MAX_BLOCK_DEPTH = 16
# Brackets of both kinds open at once: past this the parser is not even asked (lowering refuses lists
# deeper than 16 with FT005; a spec of 20,000 `[` would still take seconds to parse first).
MAX_OPEN = 64


# A spec is a page of settings: a file larger than this (FT113), or with more tokens (FT114), is refused
# before it costs seconds and gigabytes to parse. A list of 10,000 prompts still fits.
MAX_SPEC_BYTES = 1 << 20
MAX_TOKENS = 25_000


class TooManyTokens(Exception):
    """Raised by the post-lexer at the token past MAX_TOKENS."""

    def __init__(self, token: Token):
        super().__init__(token)
        self.token = token


class TooDeep(Exception):
    """Raised by the post-lexer at the first opener past MAX_BLOCK_DEPTH blocks or MAX_OPEN brackets."""

    def __init__(self, token: Token, message: str):
        super().__init__(message)
        self.token, self.message = token, message


class _Brackets:
    """Post-lexer: drops newlines inside `[...]`, remembers unclosed openers, bounds block nesting."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open: list[Token] = []

    def process(self, stream):
        self.open = []
        braces = 0
        for count, token in enumerate(stream):
            if count >= MAX_TOKENS:
                raise TooManyTokens(token)
            if token.type in ("LSQB", "LBRACE"):
                self.open.append(token)
                braces += token.type == "LBRACE"
                if braces > MAX_BLOCK_DEPTH:
                    raise TooDeep(token, f"blocks nest more than {MAX_BLOCK_DEPTH} deep")
                if len(self.open) > MAX_OPEN:
                    raise TooDeep(token, f"brackets nest more than {MAX_OPEN} deep")
            elif token.type in ("RSQB", "RBRACE") and self.open:
                braces -= self.open.pop().type == "LBRACE"
            if token.type == "_NL" and self.open and self.open[-1].type == "LSQB":
                continue
            yield token


def cache_file(grammar: str) -> str | bool:
    """Where Lark keeps the built parse tables for this grammar, or False when there is nowhere to keep them.

    Building the LALR tables costs a cold `ftspec check` more than parsing a spec does; Lark pickles them and
    checks the grammar's hash, its options and its own version on loading, rebuilding on any mismatch or
    damaged file. The file lives in the user's cache directory (not the shared temporary one: a pickle is
    code), named by the grammar's hash so that two checkouts with different grammars do not take turns.
    """
    folder = cache_folder()
    if folder is None:  # no home directory, or a read-only one: build the tables each time
        return False
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    python = f"{sys.version_info[0]}{sys.version_info[1]}"
    return str(folder / f"parser-{digest}-lark{lark_package.__version__}-py{python}.pickle")


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _Brackets]:
    postlex = _Brackets()
    grammar = grammar_path().read_text(encoding="utf-8")
    lark = Lark(
        grammar,
        cache=cache_file(grammar),
        start=["document", "value_only"],
        parser="lalr",
        lexer="contextual",
        postlex=postlex,
        propagate_positions=True,
        maybe_placeholders=True,
    )
    return lark, postlex


TOO_LARGE_HELP = "a spec holds settings, not data: put long texts and lists in a data file"


def too_large(size: int) -> str:
    return f"the spec is {size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,} bytes (1 MiB)"


def token_span(path: str, token: Token) -> Span:
    return Span(path, token.line, token.column, token.end_line, token.end_column)


_DESCRIBE = {
    "IDENT": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "EQUAL": "`=`",
    "COMMA": "`,`",
    "_NL": "the end of the line",
    "$END": "the end of the file",
}


def _expected(allowed) -> str:
    names = sorted({_DESCRIBE.get(name, name) for name in allowed})
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] if names else "nothing"


def _unexpected_token(path: str, err: UnexpectedToken, history: list[Token], diags: Diagnostics) -> None:
    token = err.token
    allowed = set(err.expected)
    previous = history[-1] if history else None
    span = (
        token_span(path, token)
        if token.type != "$END"
        else Span(path, token.line, token.column, token.line, token.column + 1)
    )
    found = _DESCRIBE.get(token.type, repr(str(token)))
    if token.type not in ("$END", "_NL"):
        found = f"`{token}`"
    if (
        "EQUAL" in allowed
        and previous is not None
        and previous.type == "IDENT"
        and token.type in ("STRING", "NUMBER", "LSQB")
    ):
        diags.error("FT005", f"expected `=` between `{previous}` and its value", span, f"write `{previous} = {token}`")
    elif "EQUAL" in allowed and previous is not None and previous.type == "IDENT" and token.type == "_NL":
        diags.error(
            "FT005",
            f"`{previous}` is not followed by `= value` or a block",
            token_span(path, previous),
            f"write `{previous} = <value>` or `{previous} {{ ... }}`",
        )
    elif {"STRING", "NUMBER", "IDENT", "LSQB"} <= allowed and previous is not None and previous.type == "EQUAL":
        diags.error(
            "FT005",
            f"missing value after `=`, found {found}",
            span,
            "give a value: a string, a number, a name such as `true`, or a list",
        )
    elif "_NL" in allowed and token.type in ("IDENT", "NUMBER", "STRING"):
        diags.error(
            "FT005",
            f"unexpected {found}: one setting per line",
            span,
            "put each setting on its own line; quote text that contains spaces",
        )
    elif token.type == "RBRACE":
        diags.error("FT005", "unexpected `}` with no open block", span, "remove it, or open a block with `name {`")
    else:
        diags.error("FT005", f"unexpected {found}, expected {_expected(allowed)}", span)


def parse(text: str, path: str = "<spec>", start: str = "document") -> tuple[Tree | None, Diagnostics]:
    """Parse ``text``; returns the tree (None on a syntax error) and the diagnostics."""
    lark, postlex = _parser()
    diags = Diagnostics()
    history: list[Token] = []

    def remember(token: Token) -> Token:
        history.append(token)
        return token

    if len(text) > MAX_SPEC_BYTES:
        diags.error("FT113", too_large(len(text.encode("utf-8", "replace"))), Span(path, 1, 1, 1, 2), TOO_LARGE_HELP)
        return None, diags
    try:
        return lark.parse(text, start=start), diags
    except TooManyTokens as err:
        diags.error(
            "FT114",
            f"the spec has more than {MAX_TOKENS:,} tokens (names, values, brackets)",
            token_span(path, err.token),
            "a spec holds settings, not data: put long lists of prompts or examples in a data file",
        )
    except TooDeep as err:
        help = "blocks do not nest, and no setting takes lists nested so deep: close what is open first"
        diags.error("FT111", err.message, token_span(path, err.token), help)
    except UnexpectedCharacters as err:
        line_text = text.split("\n")[err.line - 1].removesuffix("\r")  # lines as Lark counts them
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = Span(path, err.line, err.column, err.line, err.column + 1)
        if char == '"':
            rest = line_text[err.column - 1 :]
            diags.error(
                "FT002",
                "unterminated string",
                Span(path, err.line, err.column, err.line, err.column + len(rest)),
                'close the string with `"` on the same line; write a newline inside it as `\\n`',
            )
        else:
            diags.error(
                "FT001",
                f"unexpected character `{char}`",
                span,
                "settings look like `key = value`; `#` starts a comment",
            )
    except UnexpectedEOF:  # pragma: no cover - LALR reports EOF as UnexpectedToken
        diags.error("FT004", "unexpected end of file", None)
    except UnexpectedToken as err:
        if err.token.type == "$END" and postlex.open:
            opener = postlex.open[-1]
            kind = "block" if opener.type == "LBRACE" else "list"
            close = "}" if opener.type == "LBRACE" else "]"
            diags.error("FT004", f"this {kind} is never closed", token_span(path, opener), f"add `{close}` to close it")
        else:
            _unexpected_token(path, err, _history_before(text, err), diags)
    except UnexpectedInput as err:  # pragma: no cover - any other parse failure
        diags.error("FT005", "syntax error", Span(path, err.line, err.column, err.line, err.column + 1))
    return None, diags


def _history_before(text: str, err: UnexpectedToken) -> list[Token]:
    """The significant token just before the error: Lark's own history is not kept for LALR."""
    history = list(err.token_history or [])
    if history:
        return history
    lark, _ = _parser()
    tokens = []
    try:
        for token in lark.lex(text[: err.token.start_pos] if err.token.start_pos is not None else text):
            tokens.append(token)
    except UnexpectedInput:
        pass
    return tokens[-1:]
