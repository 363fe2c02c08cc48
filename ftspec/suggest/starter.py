"""`ftspec new DATA`: a starter spec for a data file, so nobody starts from a blank file.

The format and the columns are detected from the file's first rows (read as the generated script reads
them), the label set of classification data from all of them; the base is the first model `ftspec suggest`
lists for the domain, the task and the hardware (one whose licence allows commercial use first), with the
cheapest strategy that fits. The spec is written in `ftspec fmt`'s layout with a comment on each setting.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from ..datacheck.rows import DataFile, Row, read_rows
from ..diagnostics import Span
from ..planner.data import LOADERS
from ..spec import schema
from ..spec.fmt import format_source, quote
from .candidates import SuggestError, candidates, hardware, resolve_domain

FIRST_ROWS, ALL_ROWS = 50, 200_000
PROMPTS = ("prompt", "instruction", "question", "query", "input", "source", "context")
RESPONSES = ("response", "output", "answer", "completion", "reply", "target", "chosen")
LABELS = ("label", "labels", "sentiment", "class", "category", "intent", "rating", "polarity")
TEXTS = ("text", "comment", "sentence", "review", "content", "document", "body", "message", "feedback")
MAX_LABELS = 50


class StarterError(ValueError):
    """The data file cannot start a spec: unreadable, empty, or of no format ftspec knows."""


@dataclass
class Detected:
    """What the first rows say: the format, the columns by spec key, the labels, a sequence length."""

    format: str
    columns: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    max_length: int = 512
    rows: int = 0


class _Faults:
    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, code: str, message: str, span: Span, help: str | None = None, line: int = 0) -> None:
        self.found.append(f"{span}: {code} {message}")


def _rows(path: Path, limit: int) -> tuple[str, list[Row]]:
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise StarterError(f"`{path.name}` is not a data file ftspec reads: " + ", ".join(LOADERS))
    if not path.is_file():
        raise StarterError(f"data file `{path}` does not exist")
    faults = _Faults()
    source = DataFile(path, str(path), Span(str(path), 1, 1, 1, 2), loader)
    rows = list(islice(read_rows(source, loader, faults), limit))
    if faults.found and len(rows) < limit:
        raise StarterError(f"`{path.name}` cannot be read as {loader}: {faults.found[0]}")
    if not rows:
        raise StarterError(f"`{path.name}` has no rows")
    return loader, rows


def _named(columns: list[str], names: tuple[str, ...], skip: tuple[str, ...] = ()) -> str | None:
    lowered = {column.lower(): column for column in columns if column not in skip}
    return next((lowered[name] for name in names if name in lowered), None)


def _is_chat(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _looks_chat(value) -> bool:
    try:
        return isinstance(value, str) and _is_chat(json.loads(value))
    except ValueError:
        return False


def _length(rows: list[Row], columns: list[str]) -> int:
    """A power of two that holds ~95% of the first rows at ~4 characters a token; 64 to 2048."""
    sizes = sorted(sum(len(str(row.values.get(c, ""))) for c in columns) // 4 + 8 for row in rows)
    wanted = sizes[min(len(sizes) - 1, int(len(sizes) * 0.95))]
    return min(2048, max(64, 1 << (wanted - 1).bit_length()))


def _detect_columns(rows: list[Row]) -> Detected:
    columns = list(rows[0].values)
    chat = next((c for c in columns if all(_is_chat(r.values.get(c)) for r in rows)), None)
    if chat is not None:
        return Detected("chat", {"messages": chat}, max_length=_length(rows, [chat]))
    if rows[0].kind == "csv" and any(_looks_chat(rows[0].values.get(c)) for c in columns):
        raise StarterError(
            "chat data must be JSON (jsonl or json): a CSV cell is text, not a list of role/content messages"
        )
    prompt, response = _named(columns, PROMPTS), _named(columns, RESPONSES)
    if prompt and response and prompt != response:
        return Detected(
            "instruction", {"prompt": prompt, "response": response}, max_length=_length(rows, [prompt, response])
        )
    label = _named(columns, LABELS)
    strings = [c for c in columns if c != label and all(isinstance(r.values.get(c), str) for r in rows)]
    text = _named(strings, TEXTS) or max(strings, key=lambda c: sum(len(r.values[c]) for r in rows), default=None)
    if label and text:
        return Detected("classification", {"text": text, "label": label}, max_length=_length(rows, [text]))
    if text:
        return Detected("text", {"text": text}, max_length=_length(rows, [text]))
    raise StarterError(
        "cannot tell the format from the columns " + ", ".join(f"`{c}`" for c in columns) + ": name them "
        "`prompt`/`response` (instruction), `messages` (chat), `text`/`label` (classification) or `text`"
    )


def detect(path: Path) -> Detected:
    """The format, columns, labels and a sequence length of a data file."""
    loader, rows = _rows(path, FIRST_ROWS)
    found = Detected("text", max_length=_length(rows, ["text"])) if loader == "text" else _detect_columns(rows)
    if found.format == "text" and loader == "text":
        found.columns = {}
    if found.format == "classification":
        _, every = _rows(path, ALL_ROWS)
        labels = sorted({str(row.values.get(found.columns["label"])) for row in every})
        if len(labels) > MAX_LABELS:
            raise StarterError(f"column `{found.columns['label']}` has {len(labels)} distinct values: not labels")
        found.labels, found.rows = labels, len(every)
    return found


def choose_base(domain: str, task: str, target: str | None, gpu_memory: str | None):
    """The catalog entry and strategy for the domain, task and hardware: the first that fits."""
    wanted = resolve_domain(domain)
    hw = hardware(target if target != "cpu" else None, None, gpu_memory)
    found, _ = candidates(wanted, task, hw, 4)
    usable = [c for c in found if hw is None or c.fit is not None]
    if not usable:
        raise SuggestError(f"no model of the catalog for `{domain}` fits {hw.name}")
    best = sorted(usable, key=lambda c: not c.entry.commercial_use)[0]  # stable: keeps suggest's order otherwise
    return best.entry, (best.fit.strategy if best.fit is not None else "lora"), bool(best.fit and best.fit.sharded)


def _name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "model"
    return name[:100]


def _doc(model, key: str) -> str:
    return (model.model_fields[key].description or "").split(";")[0]


def _label(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and value not in ("true", "false") else quote(value)


def _block(header: str, settings: list[tuple[str, str, str]]) -> list[str]:
    return [f"{header} {{", *(f"  {key} = {value}  # {comment}" for key, value, comment in settings), "}", ""]


def _data_settings(found: Detected, train: str) -> list[tuple[str, str, str]]:
    settings = [
        ("train", quote(train), _doc(schema.Data, "train")),
        ("format", found.format, "detected from the first rows: " + _doc(schema.Data, "format")),
    ]
    for key, column in found.columns.items():
        settings.append((key, quote(column), f"detected: {_doc(schema.Data, key)}"))
    if found.labels:
        labels = "[" + ", ".join(_label(label) for label in found.labels) + "]"
        settings.append(("labels", labels, f"every value of `{found.columns['label']}` in the file, sorted"))
    if found.format == "chat":
        settings.append(("chat_template", quote("chatml"), _doc(schema.Data, "chat_template")))
    settings.append(("eval_split", "10%", _doc(schema.Data, "eval_split")))
    settings.append(("max_length", str(found.max_length), "holds ~95% of the first rows (about 4 characters a token)"))
    return settings


STRATEGY = {
    "full": [("freeze", "[]", "train every weight; `embeddings`, `lm_head` or globs to freeze some")],
    "lora": [
        ("rank", "16", "adapter rank r"),
        ("alpha", "32", "updates are scaled by alpha/r"),
        ("targets", "all_linear", "every linear layer gets an adapter"),
    ],
    "qlora": [
        ("bits", "4", "the frozen base is quantized to 4 bits"),
        ("rank", "16", "adapter rank r"),
        ("alpha", "32", "updates are scaled by alpha/r"),
        ("targets", "all_linear", "every linear layer gets an adapter"),
    ],
}


def starter(
    data: Path,
    spec: Path,
    domain: str = "general",
    target: str | None = None,
    gpu_memory: str | None = None,
    name: str | None = None,
) -> tuple[str, Detected, str, str]:
    """The starter spec's text for ``data``, to be written at ``spec``; and what was detected and chosen.

    StarterError when the data cannot start a spec; SuggestError for an unknown domain or hardware.
    """
    found = detect(data)
    entry, strategy, sharded = choose_base(domain, found.format, target, gpu_memory)
    train = os.path.relpath(data.resolve(), spec.resolve().parent).replace(os.sep, "/")
    why = f"{entry.family}, {entry.params / 1e9:.2g}B parameters, licence {entry.license}; from `ftspec suggest`"
    lines = [
        f"# {spec.name}: a starter spec for {data.name}, written by `ftspec new`; `ftspec check` it, then tune it",
        f"name = {quote(name or _name(data))}  # {_doc(schema.TopLevel, 'name')}",
        f"domain = {quote(domain)}  # {_doc(schema.TopLevel, 'domain')}",
        "",
        *_block("base", [("model", quote(entry.id), why)]),
        *_block("data", _data_settings(found, train)),
        *_block(f"strategy {strategy}", STRATEGY[strategy]),
        *_block(
            "train",
            [
                ("epochs", "3", _doc(schema.Train, "epochs")),
                ("batch_size", "8", _doc(schema.Train, "batch_size")),
                ("scheduler", "cosine", _doc(schema.Train, "scheduler")),
                ("warmup", "5%", "warm-up over 5% of the optimizer steps"),
            ],
        ),
    ]
    hw = []
    if target is not None and target in schema.GPU_NAMES:
        hw.append(("gpu", target, "the card the plan is made for"))
    if sharded:
        hw.append(("distributed", "fsdp", "the model fits only sharded over the GPUs"))
    if hw:
        lines += _block("hardware", hw)
    text, problems = format_source("\n".join(lines), str(spec))
    if text is None:  # the pieces above are literals ftspec writes itself; a failure here is a bug
        raise AssertionError(f"ftspec new wrote a spec fmt cannot read: {list(problems)}")
    return text, found, entry.id, strategy


def write_spec(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file beside it, so a failure never leaves half a spec."""
    import tempfile

    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
