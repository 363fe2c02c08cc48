"""Diagnostics as data: a code, a severity, a message, a span and a help line.

Phases collect diagnostics and keep going; only the CLI renders them and picks
the exit code. Every code is registered in ``CODES`` with a one-line summary,
and ``tests/diagnostics/`` holds one broken spec per code.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Span:
    """A half-open range of source text; lines and columns count from 1."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    help: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


@dataclass
class Diagnostics:
    """An ordered collection that phases append to."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span | None = None, help: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, span, help, Severity.ERROR))

    def warning(self, code: str, message: str, span: Span | None = None, help: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, span, help, Severity.WARNING))

    def extend(self, other: Diagnostics | list[Diagnostic]) -> None:
        self.items.extend(other.items if isinstance(other, Diagnostics) else other)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class FtspecError(Exception):
    """Raised by the public API when a phase ends with errors."""

    def __init__(self, diagnostics: Diagnostics | list[Diagnostic]):
        self.diagnostics = diagnostics if isinstance(diagnostics, Diagnostics) else Diagnostics(list(diagnostics))
        first = next(iter(self.diagnostics), None)
        super().__init__(f"{first.code} {first.message}" if first else "ftspec error")


def closest(word: str, choices, cutoff: float = 0.6) -> str | None:
    """The choice most like ``word``, if any is close enough to be a typo."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, choices) -> str | None:
    """The closest of ``choices`` to ``word`` as a help line, or None."""
    match = closest(word, choices)
    return f"did you mean `{match}`?" if match else None


def one_of(choices) -> str:
    return ", ".join(f"`{c}`" for c in choices)


# Every diagnostic code with a one-line summary. A meta-test checks each has a case.
CODES: dict[str, str] = {
    # Syntax
    "FT001": "unexpected character",
    "FT002": "unterminated string",
    "FT003": "unknown escape sequence in a string",
    "FT004": "unclosed block or list",
    "FT005": "unexpected token",
    "FT006": "malformed number, percentage or size",
    # Structure and values
    "FT101": "unknown block",
    "FT102": "unknown setting",
    "FT103": "unknown strategy kind",
    "FT104": "unknown value for an enumeration",
    "FT105": "wrong type of value",
    "FT106": "value out of range",
    "FT107": "duplicate setting or block",
    "FT108": "missing required setting",
    "FT109": "block label missing or not allowed",
    "FT110": "malformed --set override",
    "FT111": "blocks nested too deep",
    "FT112": "chain of specs (`extends`, `base.spec`) too long",
    "FT113": "spec file too large",
    "FT114": "spec with too many tokens",
    # Combinations
    "FT201": "`scratch` strategy with a `base`",
    "FT202": "`compare_base` without a base to compare",
    "FT203": "`packing` with classification data",
    "FT204": "a column setting the data format needs is missing or does not apply",
    "FT205": "two settings that exclude each other",
    "FT206": "a fine-tuning strategy without a `base`",
    "FT207": "`merge` with a strategy that has nothing to merge",
    "FT208": "tokenizer setting that does not apply",
    "FT209": "classification settings that do not agree",
    "FT210": "architecture dimensions that do not agree",
    "FT211": "metric that does not apply to the task",
    "FT212": "prompt template that is neither a name nor a template",
    "FT213": "answer-generation setting on a classification spec",
    "FT214": "nucleus sampling (`top_p`) with greedy decoding",
    "FT215": "answers scored against references that text data does not have",
    "FT230": "an `objective` on data that holds no preferences",
    "FT231": "preference data without the columns its objective reads",
    "FT232": "reference settings on an objective that takes no reference model",
    "FT233": "preference data without an `objective`",
    "FT234": "preference column that the objective does not read",
    "FT235": "`reference = adapter` with a strategy that has no adapter",
    "FT236": "`packing` with preference data",
    "FT220": "container setting (`image`, `volume`) for a launcher that starts no container",
    "FT240": "`data.split` that is not a split name with an optional slice",
    "FT241": "hub dataset setting (`revision`, `config`, `data_files`) for a local data file",
    "FT242": "`data.min_length` above `max_length`: no example would be kept",
    "FT243": "held-out measurement with `eval_split = 0%`, which holds no rows out",
    "FT244": "chat role names or message keys that do not tell the roles apart",
    "FT245": "special token override that is not a token of the tokenizer",
    "FT246": "chat data left to the tokenizer's own chat template, which the base's tokenizer lacks",
    "FT260": "an unlabelled `data` block beside the labelled ones of a mixture",
    "FT261": "classification data in a mixture of sources",
    "FT262": "a run-wide data setting (`max_length`, `packing`...) set differently by two sources of a mixture",
    "FT263": "a hub dataset as a source of a mixture",
    "FT264": "`data.weight` outside a mixture",
    "FT265": "answer scores (`rouge_l`, `chrf`, `response_loss`, `samples`) asked of a mixture",
    "FT266": "instruction rows rendered as chat turns in a mixture",
    "FT267": "`tokenizer.train` with a mixture of sources",
    "FT268": "a preference objective with a mixture of sources",
    "FT250": "`offload` with a distribution that cannot offload that state",
    "FT251": "`tf32` on a target without TensorFloat-32",
    # Files and dependencies
    "FT301": "spec file not found or unreadable",
    "FT302": "data file not found",
    "FT303": "base model, base spec or tokenizer cannot be used",
    "FT304": "cycle between specs",
    "FT305": "hub model or tokenizer not in the local cache while offline",
    "FT306": "data files ftspec cannot read as the format asks",
    "FT307": "output directory that holds files ftspec did not write",
    "FT308": "output directory that may never be a run directory (`/`, the home directory)",
    "FT309": "output path that cannot be written (not a directory, no permission, full disk)",
    "FT310": "run directory in use by another `ftspec run`",
    # Plans
    "FT401": "batch size that does not divide over the processes",
    "FT402": "precision the target hardware does not support",
    "FT403": "plan that does not fit in the memory of the target devices",
    "FT404": "quantized base that cannot be sharded",
    "FT405": "plan whose memory cannot be checked: the base's size is unknown (warning)",
    "FT406": "SkyPilot launcher without a GPU model to ask for",
    "FT407": "elastic restarts with no checkpoint before the end: a restart starts over (warning)",
    "FT410": "float16 weights trained under fp16 mixed precision, whose gradient scaler refuses them",
    "FT430": "frozen reference model that does not fit beside the trained one",
    "FT420": "`loss_chunk` on a classifier, whose loss has no output head over a vocabulary",
    "FT435": "flash-attention where it cannot run: a CPU, fp32, or a GPU older than Ampere",
    "FT436": "flash-attention with packed micro-batches of several rows: packed examples would attend to each other",
    "FT437": "kernel package the target says it does not have (`hardware.installed`)",
    "FT438": "Liger kernels on a CPU target or a model family Liger does not patch",
    "FT439": "offloaded state that does not fit in the host memory of the target",
    # Advice (warnings)
    "FT501": "learning rate far from what the strategy usually needs",
    "FT502": "general base where the catalog has one of similar size for the spec's domain",
    "FT503": "model trained from scratch on far fewer tokens than a compute-optimal run",
    "FT504": "training set too small for the strategy and the size of the base",
    "FT505": "base whose licence does not allow commercial use",
    "FT506": "adapters on a base small enough to train whole",
    "FT511": "no held-out set (`eval_split = 0%`): the run reports no held-out loss (warning)",
    "FT514": "activation offloading on a CPU target, where host memory is the device's (warning)",
    "FT515": "gradient-checkpointing option without gradient checkpointing (warning)",
    # Data files (`check --data` and `run`)
    "FT601": "data file that is not valid UTF-8",
    "FT602": "data row that is not one JSON object",
    "FT603": "CSV row with a different number of fields than the header",
    "FT604": "data file without rows",
    "FT605": "column the data format reads is missing from a data file",
    "FT606": "label outside the declared `labels`",
    "FT607": "empty or whitespace-only text in a column the format reads",
    "FT608": "chat row that is not a list of role/content messages with an assistant turn",
    "FT609": "template placeholder naming a column the data file lacks",
    "FT610": "value of a column the format reads with a type the training script cannot read",
    "FT620": "example longer than `max_length` with `data.overlong = error`",
    "FT621": "example whose every answer token lies beyond `max_length` (warning)",
    "FT622": "no example keeps an answer token within `max_length`: nothing would be learned",
    "FT630": "preference row whose chosen and rejected answers are identical",
    "FT631": "preference row that is not two answers, or two conversations sharing a prompt, with text",
    "FT633": "KTO row whose label is not true or false",
    "FT629": "`data.overlong` with `format = text`, which is split into pieces rather than cut",
    # Data quality (warnings)
    "FT701": "many duplicate examples",
    "FT702": "near-empty examples",
    "FT703": "many examples longer than `max_length`",
    "FT704": "label with few examples",
    # Base model, tokenizer and template pitfalls, from the base's own files
    "FT801": "chat-template tokens the base never trained, under a strategy that cannot train them (warning)",
    "FT802": "tokenizer that produces ids beyond the model's embedding rows",
    "FT803": "prompt template that writes the BOS token the tokenizer adds already (warning)",
    "FT804": "adapter target that matches no module of the base",
    "FT805": "adapter target that matches the modules of only some layers (warning)",
    "FT806": "attention implementation that ignores the base's attention soft-capping",
    "FT807": "chat template whose end-of-turn token is not a token generation stops at (warning)",
    "FT808": "padding token that is the end-of-sequence token, with no other token to pad with (warning)",
    "FT809": "text rows that begin with the BOS token the tokenizer adds already (warning)",
}


# A source line longer than LONG_LINE (a data row, say) is shown as a WINDOW of characters around the span.
LONG_LINE, WINDOW = 200, 120


def excerpt(source: str, column: int, end: int) -> tuple[str, int, int]:
    """A window of a long line around columns [column, end), marked `…` where cut, and the span's columns in it."""
    start = max(0, min(column - 1 - WINDOW // 3, len(source) - WINDOW))
    stop = min(len(source), start + WINDOW)
    shift = (1 if start else 0) - start
    text = ("…" if start else "") + source[start:stop] + ("…" if stop < len(source) else "")
    return text, column + shift, min(end, stop + 1) + shift


# Control and bidirectional-override characters a spec's values (or file names) may carry into what is printed:
# escaped in messages, blanked in source lines (one character each, so the carets stay aligned). Either way a
# value can neither forge another diagnostic line nor send escape sequences to the terminal.
_UNPRINTABLE = (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPED = {c: f"\\u{c:04x}" for c in _UNPRINTABLE} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_BLANKED = dict.fromkeys(_UNPRINTABLE, "\ufffd")


def render(diagnostic: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """Render one diagnostic like a compiler: location, code, source line, carets, help."""
    sources = sources or {}
    label = "" if diagnostic.is_error else "warning: "
    span = diagnostic.span
    if span is None:
        lines = [f"ftspec: {diagnostic.code} {label}{diagnostic.message}".translate(_ESCAPED)]
    else:
        lines = [f"{span}: {diagnostic.code} {label}{diagnostic.message}".translate(_ESCAPED)]
        text = sources.get(span.path)
        if text is None:
            try:
                text = Path(span.path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = None
        if text is not None:
            # Lines as the parser counts them: splitlines() would also break at \x0c, \u2028 and friends.
            source_lines = [line.removesuffix("\r") for line in text.split("\n")]
            if 1 <= span.line <= len(source_lines):
                source = source_lines[span.line - 1]
                gutter = f"{span.line:>4} | "
                column = span.column
                end = span.end_column if span.end_line == span.line else len(source) + 1
                if len(source) > LONG_LINE:
                    source, column, end = excerpt(source, column, end)
                source = source.replace("\t", " ").translate(_BLANKED)
                width = max(1, end - column)
                lines.append(gutter + source)
                lines.append(" " * (len(gutter) + column - 1) + "^" * width)
            elif span.line == len(source_lines) + 1:
                gutter = f"{span.line:>4} | "
                lines.append(gutter)
                lines.append(" " * len(gutter) + "^")
    if diagnostic.help:
        lines.append(f"  help: {diagnostic.help}".translate(_ESCAPED))
    return "\n".join(lines)


def render_all(diagnostics, sources: dict[str, str] | None = None) -> str:
    return "\n\n".join(render(d, sources) for d in diagnostics)
