"""A catalog of well-known open base models, shipped as data.

`models.toml`, next to this module, lists for each model its hub id, size, domains,
licence and the architecture numbers a memory planner needs, each fact taken from the
model's card or config.json. `load_catalog()` parses and validates the file once;
`find()` looks a model up by hub id; `estimate_params()` recomputes a parameter count
from the architecture, so a planner can size a model the catalog does not list.

The module needs only the standard library and pydantic, so `ftspec check` stays fast
and never imports torch or transformers.

>>> entry = find("meta-llama/llama-2-7b-hf")
>>> entry.params, estimate_params(entry.architecture, entry.kind)
(6738415616, 6738415616)
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["Architecture", "CatalogEntry", "Domain", "estimate_params", "find", "load_catalog"]

_CATALOG_PATH = Path(__file__).with_name("models.toml")

Domain = Literal["general", "medical", "biomedical", "clinical", "legal", "finance", "code", "multilingual", "science"]

# Decoders of the GPT-2 lineage: biased projections, LayerNorm and a two-matrix MLP.
# Every other decoder is counted as Llama-style (no biases, RMSNorm, gated three-matrix MLP),
# the layout of nearly every model released since 2023.
_GPT2_STYLE = frozenset({"gpt2", "gpt_bigcode", "gpt_neox", "phi", "starcoder2", "opt", "bloom", "biogpt"})
# GPT-2-lineage decoders with a learned position table (the others use rotary or ALiBi).
_LEARNED_POSITIONS = frozenset({"gpt2", "gpt_bigcode", "opt", "biogpt"})
# Llama-style decoders that keep biases on the query, key and value projections.
_QKV_BIAS = frozenset({"qwen2"})
# Token-type (segment) embeddings of BERT-style encoders; BERT's two is the default.
_TOKEN_TYPES = {"roberta": 1, "xlm-roberta": 1, "distilbert": 0}
# Encoders published without BERT's pooler (a dense layer over the first token).
_NO_POOLER = frozenset({"distilbert"})


class Architecture(BaseModel):
    """The dimensions a memory planner needs, named as in the model's transformers config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    def _heads_divide(self) -> Architecture:
        # Grouped-query attention shares each key/value head among an equal number of query heads.
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_key_value_heads must divide num_attention_heads")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("num_attention_heads must divide hidden_size")
        return self


class CatalogEntry(BaseModel):
    """One base model: what it is, what it may be used for, and how big it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
def load_catalog() -> tuple[CatalogEntry, ...]:
    """Parse and validate models.toml once; raise ValueError naming the first bad entry."""
    with _CATALOG_PATH.open("rb") as file:
        tables = tomllib.load(file).get("model", [])
    entries = []
    seen: set[str] = set()
    for number, table in enumerate(tables, start=1):
        name = table.get("id", f"#{number}")
        try:
            entry = CatalogEntry.model_validate(table)
        except ValidationError as err:
            raise ValueError(f"{_CATALOG_PATH.name}: model {name!r}: {err}") from err
        # Lookups ignore case, so ids must be unique ignoring case too.
        if entry.id.lower() in seen:
            raise ValueError(f"{_CATALOG_PATH.name}: model {name!r} is listed twice")
        seen.add(entry.id.lower())
        entries.append(entry)
    return tuple(entries)


@functools.lru_cache(maxsize=1)
def _by_id() -> dict[str, CatalogEntry]:
    return {entry.id.lower(): entry for entry in load_catalog()}


def find(model_id: str) -> CatalogEntry | None:
    """The catalog entry whose hub id matches `model_id` ignoring case, or None."""
    return _by_id().get(model_id.strip().lower())


def estimate_params(arch: Architecture, kind: str) -> int:
    """Count the parameters of a model from its dimensions (encoders without a task head)."""
    if kind == "encoder":
        return _encoder_params(arch)
    if kind != "decoder":
        raise ValueError(f"kind must be 'encoder' or 'decoder', not {kind!r}")
    if arch.model_type in _GPT2_STYLE:
        return _gpt2_style_params(arch)
    return _llama_style_params(arch)


def _kv_width(arch: Architecture) -> int:
    """Output width of the key (or value) projection: one head_dim per key/value head."""
    return arch.num_key_value_heads * (arch.hidden_size // arch.num_attention_heads)


def _llama_style_params(arch: Architecture) -> int:
    h, kv, embed = arch.hidden_size, _kv_width(arch), arch.vocab_size * arch.hidden_size
    attention = 2 * h * h + 2 * h * kv  # q and o are h x h; k and v shrink with GQA
    if arch.model_type in _QKV_BIAS:
        attention += h + 2 * kv
    mlp = 3 * h * arch.intermediate_size  # gate, up and down projections
    layer = attention + mlp + 2 * h  # two RMSNorm weights
    lm_head = 0 if arch.tie_word_embeddings else embed
    return embed + arch.num_hidden_layers * layer + h + lm_head  # + final norm


def _gpt2_style_params(arch: Architecture) -> int:
    h, kv, inner = arch.hidden_size, _kv_width(arch), arch.intermediate_size
    embed = arch.vocab_size * h
    positions = arch.max_position_embeddings * h if arch.model_type in _LEARNED_POSITIONS else 0
    attention = 2 * h * h + 2 * h * kv + 2 * h + 2 * kv  # weights and biases of q, k, v, o
    mlp = 2 * h * inner + inner + h  # up and down projections with biases
    layer = attention + mlp + 4 * h  # two LayerNorms, weight and bias each
    lm_head = 0 if arch.tie_word_embeddings else embed
    return embed + positions + arch.num_hidden_layers * layer + 2 * h + lm_head  # + final LayerNorm


def _encoder_params(arch: Architecture) -> int:
    h, inner = arch.hidden_size, arch.intermediate_size
    token_types = _TOKEN_TYPES.get(arch.model_type, 2)
    embeddings = (arch.vocab_size + arch.max_position_embeddings + token_types) * h + 2 * h  # + LayerNorm
    attention = 4 * h * h + 4 * h  # q, k, v and output projections with biases
    mlp = 2 * h * inner + inner + h
    layer = attention + mlp + 4 * h  # two LayerNorms
    pooler = 0 if arch.model_type in _NO_POOLER else h * h + h
    return embeddings + arch.num_hidden_layers * layer + pooler
