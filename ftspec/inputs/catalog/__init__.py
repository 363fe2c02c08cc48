"""A catalog of well-known open base models, shipped as data.

`models.toml`, next to this module, lists for each model its hub id, size, domains,
licence and the architecture numbers a memory planner needs, each fact taken from the
model's card or config.json. `load_catalog()` parses and validates the file once;
`find()` looks a model up by hub id (validating that entry alone); `estimate_params()` recomputes a parameter count
from the architecture, so a planner can size a model the catalog does not list.

The module needs only the standard library and pydantic, so `ftspec check` stays fast
and never imports torch or transformers.

>>> entry = find("meta-llama/llama-2-7b-hf")
>>> entry.params, estimate_params(entry.architecture, entry.kind)
(6738415616, 6738415616)
"""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..modelinfo import ModelDims, parameter_count

__all__ = ["Architecture", "CatalogEntry", "Domain", "estimate_params", "find", "load_catalog"]

_CATALOG_PATH = Path(__file__).with_name("models.toml")

Domain = Literal["general", "medical", "biomedical", "clinical", "legal", "finance", "code", "multilingual", "science"]


class Architecture(BaseModel):
    """The dimensions a memory planner needs, named as in the model's transformers config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    model_type: str = Field(min_length=1)
    hidden_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_position_embeddings: int = Field(gt=0)
    tie_word_embeddings: bool

    @model_validator(mode="after")
    def _heads_divide(self) -> "Architecture":
        # Grouped-query attention shares each key/value head among an equal number of query heads.
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_key_value_heads must divide num_attention_heads")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("num_attention_heads must divide hidden_size")
        return self


class CatalogEntry(BaseModel):
    """One base model: what it is, what it may be used for, and how big it is."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    family: str = Field(min_length=1)
    params: int = Field(gt=0)
    kind: Literal["encoder", "decoder"]
    domains: tuple[Domain, ...] = Field(min_length=1)
    context_length: int = Field(gt=0)
    license: str = Field(min_length=1)
    commercial_use: bool
    license_note: str
    instruct_variant: str = Field(pattern=r"^$|^[\w.-]+/[\w.-]+$")
    source: str = Field(pattern=r"^https://\S+$")
    architecture: Architecture


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[dict, ...]:
    import tomllib  # only once a model is looked up (find) or listed

    with _CATALOG_PATH.open("rb") as file:
        return tuple(tomllib.load(file).get("model", []))


def _entry(table: dict, number: int) -> CatalogEntry:
    try:
        return CatalogEntry.model_validate(table)
    except ValidationError as err:
        raise ValueError(f"{_CATALOG_PATH.name}: model {table.get('id', f'#{number}')!r}: {err}") from err


@functools.lru_cache(maxsize=1)
def load_catalog() -> tuple[CatalogEntry, ...]:
    """Parse and validate models.toml once; raise ValueError naming the first bad entry."""
    entries = []
    seen: set[str] = set()
    for number, table in enumerate(_tables(), start=1):
        name = table.get("id", f"#{number}")
        entry = _entry(table, number)
        # Lookups ignore case, so ids must be unique ignoring case too.
        if entry.id.lower() in seen:
            raise ValueError(f"{_CATALOG_PATH.name}: model {name!r} is listed twice")
        seen.add(entry.id.lower())
        entries.append(entry)
    return tuple(entries)


@functools.lru_cache(maxsize=1)
def _by_id() -> dict[str, tuple[int, dict]]:
    return {str(table.get("id")).lower(): (number, table) for number, table in enumerate(_tables(), start=1)}


@functools.lru_cache(maxsize=64)
def _found(key: str) -> CatalogEntry | None:
    number, table = _by_id().get(key, (0, None))
    return None if table is None else _entry(table, number)


@functools.lru_cache(maxsize=1)
def _text() -> str:
    return _CATALOG_PATH.read_text(encoding="utf-8").lower()


def find(model_id: str) -> CatalogEntry | None:
    """The catalog entry whose hub id matches `model_id` ignoring case, or None.

    An id the file does not hold as a quoted string is no entry's (every id is written `id = "owner/name"`, which
    tests/inputs/test_catalog.py checks): a base outside the catalog is found absent without parsing the TOML.
    Only the entry found is validated (load_catalog validates them all).
    """
    key = model_id.strip().lower()
    return _found(key) if f'"{key}"' in _text() else None


def estimate_params(arch: Architecture, kind: str) -> int:
    """Count the parameters of a model from its dimensions (encoders without a task head)."""
    if kind not in ("encoder", "decoder"):
        raise ValueError(f"kind must be 'encoder' or 'decoder', not {kind!r}")
    return parameter_count(ModelDims(**arch.model_dump(), kind=kind))
