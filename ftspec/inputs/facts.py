"""The planner's inputs, built once: what the front end resolved, the hardware, and the facts found on disk.

The front end (ftspec.spec.loader) resolves what a spec names — data files, a base directory or package, a
tokenizer directory, a base spec. The facts the planner needs beyond that — the model's dimensions and the size of
the training data — are found here, from a local directory, the local hub cache or the catalog, never the network.
"""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..spec.loader import Loaded, project_root
from ..spec.schema import Spec
from ..spec.sourcemap import SourceMap
from .basefiles import for_spec
from .hardware import HardwareProfile
from .modelinfo import ModelDims, cached_file, dims_from_architecture, read_config, scratch_config

# The vocabulary a scratch model is planned with when its tokenizer is named but not on this machine: Llama-2's.
FALLBACK_VOCAB = 32_000
TEXT_SUFFIXES, LINE_SUFFIXES = (".txt", ".text", ".md"), (".jsonl", ".csv")


class Inputs(BaseModel):
    """What the planner reads: the spec, what the front end resolved, the hardware, and the facts found here."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    spec: Spec
    sources: SourceMap
    spec_file: Path
    spec_hash: str
    overrides: tuple[str, ...] = ()
    data_train: tuple[Path, ...] = ()
    data_eval: tuple[Path, ...] = ()
    base_dir: Path | None = None  # a local base model directory
    base_package: tuple[str, str] | None = None  # (package, directory) of a model shipped in a Python package
    tokenizer_dir: Path | None = None  # a named tokenizer that is a local directory
    output_dir: Path  # the run directory
    dependency_output: Path | None = None  # the run directory of `base.spec`
    dependency_name: str | None = None
    project_root: Path
    hardware: HardwareProfile
    model_dims: ModelDims | None = None  # the base's dimensions (or the scratch model's), when known
    dims_source: str | None = None
    data_bytes: int = 0  # size and rows of the training files, for the token estimate
    data_rows: int = 0
    base_files: Any = None  # the base's config, tokenizer and safetensors headers (inputs.basefiles), when on disk
    # A mixture's files and their size by source: (training files, held-out files, bytes, rows).
    source_data: dict[str, tuple[tuple[Path, ...], tuple[Path, ...], int, int]] = {}

    def for_source(self, name: str) -> "Inputs":
        """These inputs as one source of the mixture sees them: its data block as `data`, its files and size."""
        train, held, size, rows = self.source_data[name]
        spec = self.spec.model_copy(update={"data": self.spec.mixture[name]})
        changes = {"spec": spec, "sources": self.sources.for_source(name), "data_train": train, "data_eval": held}
        return self.model_copy(update={**changes, "data_bytes": size, "data_rows": rows})


def inputs_for(loaded: Loaded, hardware: HardwareProfile) -> Inputs:
    """The Inputs of a loaded spec (without errors) on ``hardware``."""
    dependency = loaded.dependency if loaded.dependency is not None and loaded.dependency.spec else None
    dims, source = model_dims(loaded.spec, loaded.base_dir, loaded.tokenizer_dir, dependency)
    data_bytes, data_rows = data_size(loaded.data_train)
    by_source = {}
    for name, (train, held) in loaded.source_files.items():
        by_source[name] = (tuple(train), tuple(held), *data_size(train))
    return Inputs(
        spec=loaded.spec,
        sources=loaded.sources,
        spec_file=loaded.path,
        spec_hash=loaded.content_hash,
        overrides=loaded.overrides,
        data_train=tuple(loaded.data_train),
        data_eval=tuple(loaded.data_eval),
        base_dir=loaded.base_dir,
        base_package=loaded.base_package,
        tokenizer_dir=loaded.tokenizer_dir,
        output_dir=loaded.output_dir,
        dependency_output=dependency.output_dir if dependency else None,
        dependency_name=dependency.spec.name if dependency else None,
        project_root=project_root(loaded.path.parent),
        hardware=hardware,
        model_dims=dims,
        dims_source=source,
        data_bytes=data_bytes,
        data_rows=data_rows,
        base_files=for_spec(loaded),
        source_data=by_source,
    )


def catalog_dims(model: str) -> ModelDims | None:
    """The catalog's dimensions for a hub id, if the catalog lists it."""
    from .catalog import find  # the catalog's TOML is read only when something asks for it

    entry = find(model)
    return ModelDims(**entry.architecture.model_dump(), kind=entry.kind) if entry is not None else None


def tokenizer_vocab(spec: Spec, tokenizer_dir: Path | None) -> tuple[int, str | None]:
    """The vocabulary a scratch model gets from its tokenizer, and where that figure came from (None: the spec)."""
    tokenizer = spec.tokenizer
    if tokenizer.train:
        return tokenizer.vocab_size, None
    if tokenizer.model is None:
        return FALLBACK_VOCAB, "a 32,000-token vocabulary (no tokenizer named)"
    found = tokenizer_dir / "tokenizer.json" if tokenizer_dir else cached_file(tokenizer.model, None, "tokenizer.json")
    size = _vocab_of(found) if found is not None and found.is_file() else None
    if size:
        return size, f"the tokenizer.json of {tokenizer.model}"
    dims = catalog_dims(tokenizer.model)
    if dims is not None:
        return dims.vocab_size, f"the catalog's vocabulary for {tokenizer.model}"
    return FALLBACK_VOCAB, f"a 32,000-token vocabulary ({tokenizer.model}'s tokenizer is not on this machine)"


def _vocab_of(path: Path) -> int | None:
    """Tokens of a `tokenizer.json`: its model's vocabulary and the added tokens outside it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        vocab = data["model"]["vocab"]
        ids = set(vocab.values()) if isinstance(vocab, dict) else set(range(len(vocab)))
        ids.update(token["id"] for token in data.get("added_tokens", ()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return max(ids) + 1 if ids else None


def model_dims(
    spec: Spec, base_dir: Path | None, tokenizer_dir: Path | None = None, dependency: Loaded | None = None
) -> tuple[ModelDims | None, str | None]:
    """The dimensions the memory plan needs, and where they came from; never from the network."""
    if spec.strategy.kind == "scratch":
        vocab, where = tokenizer_vocab(spec, tokenizer_dir)
        config = scratch_config(spec.strategy, spec.data.max_length)
        return dims_from_architecture(config, vocab), "the spec's architecture" + (f", with {where}" if where else "")
    if base_dir is not None:
        return read_config(base_dir), "the base's config.json"
    if dependency is not None:
        # What the base spec will build, whether or not it is built yet: the plan stays the same either way.
        dims, _ = model_dims(dependency.spec, dependency.base_dir, dependency.tokenizer_dir, dependency.dependency)
        return dims, f"the model spec {dependency.spec.name} builds"
    base = spec.base
    if base is None or base.model is None:
        return None, None
    dims = read_config(base.model, base.revision)
    if dims is not None:
        return dims, "config.json in the local hub cache"
    dims = catalog_dims(base.model)
    return (dims, "the ftspec catalog") if dims is not None else (None, None)


def data_size(paths: list[Path] | tuple[Path, ...]) -> tuple[int, int]:
    """Bytes and rows of the training files, counted without parsing them (newlines, or blank lines for text)."""
    size = rows = 0
    for path in paths:
        suffix = path.suffix.lower()
        try:
            with path.open("rb") as file:
                previous = b""
                while chunk := file.read(1 << 20):
                    size += len(chunk)
                    if suffix in TEXT_SUFFIXES:
                        rows += (previous[-1:] + chunk).count(b"\n\n")
                    elif suffix in LINE_SUFFIXES:
                        rows += chunk.count(b"\n")
                    previous = chunk
        except OSError:
            continue
        if suffix in TEXT_SUFFIXES:
            rows += 1  # paragraphs are one more than the blank lines between them
        elif suffix == ".csv":
            rows -= 1  # the header
    return size, max(rows, 0)
