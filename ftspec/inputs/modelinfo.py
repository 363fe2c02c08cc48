"""A base model's dimensions, read from its `config.json` on disk, and the parameter shapes they imply.

Reads a local directory or the local Hugging Face hub cache only: never the network, never transformers.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Literal

# Encoder families and how their `config.json` spells their sizes; everything else reads as a Llama-style decoder.
ENCODERS = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "mpnet", "distilbert"}
DISTILBERT_KEYS = {"hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads"}
GPT2_KEYS = {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}
COMMIT = re.compile(r"[0-9a-f]{40}")
# Decoders of the GPT-2 lineage: biased projections, LayerNorm and a two-matrix MLP. Every other
# decoder is counted as Llama-style (no biases, RMSNorm, a gated three-matrix MLP).
GPT2_STYLE = frozenset({"gpt2", "gpt_bigcode", "gpt_neox", "phi", "starcoder2", "opt", "bloom", "biogpt"})
# GPT-2-lineage decoders with a learned position table (the others use rotary or ALiBi).
LEARNED_POSITIONS = frozenset({"gpt2", "gpt_bigcode", "opt", "biogpt"})
# Llama-style decoders that keep biases on the query, key and value projections.
QKV_BIAS = frozenset({"qwen2"})
# Token-type (segment) embeddings of BERT-style encoders; BERT's two is the default.
TOKEN_TYPES = {"roberta": 1, "xlm-roberta": 1, "distilbert": 0}


@dataclass(frozen=True)
class ModelDims:
    """The sizes that decide a transformer's memory."""

    model_type: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    kind: Literal["decoder", "encoder"] = "decoder"
    head_dim: int | None = None  # set where a config gives it apart from hidden_size / heads (Gemma, Qwen3)

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def family(self) -> Literal["llama", "gpt2", "bert", "distilbert"]:
        """The parameter layout: gated-MLP decoders, GPT-2, BERT-style encoders or DistilBERT."""
        if self.model_type == "distilbert":
            return "distilbert"
        if self.kind == "encoder":
            return "bert"
        return "gpt2" if self.model_type in GPT2_STYLE else "llama"


def hub_cache(hf_home: str | os.PathLike | None = None) -> Path:
    """The hub cache: ``hf_home``/hub, else $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if hf_home is not None:
        return Path(hf_home) / "hub"
    return hub_cache_choice()[0]


def hub_cache_choice() -> tuple[Path, str]:
    """The hub cache the environment chooses, and how to name it to a user (`$HF_HOME/hub`, not a temp path)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]), "$HF_HUB_CACHE"
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub", "$HF_HOME/hub"
    return Path.home() / ".cache" / "huggingface" / "hub", "~/.cache/huggingface/hub"


def cached_file(repo_id: str, revision: str | None, filename: str, cache: Path | None = None) -> Path | None:
    """``filename`` of the snapshot that ``revision`` (a branch, tag or commit) names in the hub cache, if there."""
    repo = (cache or hub_cache()) / ("models--" + repo_id.replace("/", "--"))
    revision = revision or "main"
    ref = repo / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else revision
    except OSError:
        return None
    if not COMMIT.fullmatch(commit):
        return None
    path = repo / "snapshots" / commit / filename
    return path if path.is_file() else None


def dims_from_config(config: dict) -> ModelDims:
    """Translate one `config.json` (gpt2, BERT, DistilBERT or Llama-style keys) into ModelDims."""
    if isinstance(config.get("text_config"), dict):  # multimodal wrappers keep the language model's sizes inside
        config = {**config, **config["text_config"]}
    model_type = str(config.get("model_type", "llama"))
    keys = {name: name for name in DISTILBERT_KEYS}
    if model_type == "distilbert":
        keys = DISTILBERT_KEYS
    elif model_type == "gpt2" or "n_embd" in config:
        model_type, keys = "gpt2", GPT2_KEYS
    hidden = int(config[keys["hidden_size"]])
    heads = int(config[keys["num_attention_heads"]])
    if model_type == "gpt2":
        intermediate = config.get("n_inner") or 4 * hidden  # n_inner None means the classic 4h MLP
        positions = config.get("n_positions", 1024)
    else:
        intermediate = config.get("hidden_dim" if model_type == "distilbert" else "intermediate_size") or 4 * hidden
        positions = config.get("max_position_embeddings", 2048)
    kind = "encoder" if model_type in ENCODERS else "decoder"
    # GPT-2 and encoders tie their output embeddings when the key is absent; Llama-style configs default to untied.
    tied = config.get("tie_word_embeddings", model_type == "gpt2" or kind == "encoder")
    head_dim = config.get("head_dim")
    return ModelDims(
        model_type=model_type,
        hidden_size=hidden,
        num_hidden_layers=int(config[keys["num_hidden_layers"]]),
        num_attention_heads=heads,
        num_key_value_heads=int(config.get("num_key_value_heads") or heads),
        intermediate_size=int(intermediate),
        vocab_size=int(config["vocab_size"]),
        max_position_embeddings=int(positions),
        tie_word_embeddings=bool(tied),
        kind=kind,
        head_dim=int(head_dim) if head_dim and int(head_dim) != hidden // heads else None,
    )


def read_config(
    path_or_id: str | os.PathLike, revision: str | None = None, hf_home: str | os.PathLike | None = None
) -> ModelDims | None:
    """The dimensions in a local directory's or the hub cache's `config.json`; None when there is none on disk."""
    # os.path leaves `~nosuchuser` as it is, where Path.expanduser raises.
    local = Path(os.path.expanduser(path_or_id))
    if local.is_file():
        path = local
    elif (local / "config.json").is_file():
        path = local / "config.json"
    else:
        path = cached_file(str(path_or_id), revision, "config.json", hub_cache(hf_home))
    if path is None:
        return None
    try:
        return dims_from_config(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):  # unreadable or not a transformers config
        return None


def layer_linears(dims: ModelDims) -> list[tuple[str, str, int, int]]:
    """Each transformer layer's linear layers as (module name, role, in_features, out_features)."""
    h, i = dims.hidden_size, dims.intermediate_size
    q, kv = dims.num_attention_heads * dims.attention_head_dim, dims.num_key_value_heads * dims.attention_head_dim
    family = dims.family
    if family == "gpt2":  # one fused q/k/v projection; a plain (not gated) MLP
        return [("c_attn", "qkv", h, q + 2 * kv), ("c_proj", "o", q, h), ("c_fc", "up", h, i), ("c_proj", "down", i, h)]
    if family in ("bert", "distilbert"):
        names = ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2")
        if family == "bert":
            names = ("query", "key", "value", "dense", "dense", "dense")
        roles = (("q", h, h), ("k", h, h), ("v", h, h), ("o", h, h), ("up", h, i), ("down", i, h))
        return [(name, *role) for name, role in zip(names, roles, strict=True)]
    return [
        ("q_proj", "q", h, q),
        ("k_proj", "k", h, kv),
        ("v_proj", "v", h, kv),
        ("o_proj", "o", q, h),
        ("gate_proj", "gate", h, i),
        ("up_proj", "up", h, i),
        ("down_proj", "down", i, h),
    ]


def parameter_shapes(dims: ModelDims) -> list[tuple[str, tuple[int, ...]]]:
    """Every parameter tensor as (kind, shape); kind is `embedding`, `lm_head`, `norm`, `bias` or a linear's name."""
    h, v, family = dims.hidden_size, dims.vocab_size, dims.family
    shapes: list[tuple[str, tuple[int, ...]]] = [("embedding", (v, h))]
    biased = family != "llama"  # GPT-2 and BERT linears and norms carry biases; Llama-style ones do not
    encoder = family in ("bert", "distilbert")
    if encoder or dims.model_type in LEARNED_POSITIONS:
        shapes.append(("embedding", (dims.max_position_embeddings, h)))
    if encoder and TOKEN_TYPES.get(dims.model_type, 2):
        shapes.append(("embedding", (TOKEN_TYPES.get(dims.model_type, 2), h)))
    if encoder:
        shapes += [("norm", (h,)), ("bias", (h,))]  # the embeddings' LayerNorm
    norms = [("norm", (h,)), ("bias", (h,))] if biased else [("norm", (h,))]
    for _ in range(dims.num_hidden_layers):
        for name, role, fan_in, fan_out in layer_linears(dims):
            shapes.append((name, (fan_out, fan_in)))
            if biased or (dims.model_type in QKV_BIAS and role in ("q", "k", "v")):
                shapes.append(("bias", (fan_out,)))
        shapes += norms * 2
    if family in ("llama", "gpt2"):
        shapes += norms  # the final norm before the output head
    if family == "bert":
        shapes += [("pooler", (h, h)), ("bias", (h,))]
    if dims.kind == "decoder" and not dims.tie_word_embeddings:
        shapes.append(("lm_head", (v, h)))
    return shapes


def parameter_count(dims: ModelDims) -> int:
    """Parameters of the whole model (tied embeddings counted once; no task head for encoders)."""
    return sum(prod(shape) for _kind, shape in parameter_shapes(dims))


def dims_from_architecture(architecture: dict, vocab_size: int) -> ModelDims:
    """The dimensions of a model built from scratch: the plan's config arguments and the tokenizer's size."""
    config = {key: value for key, value in architecture.items() if value is not None}
    if config.get("model_type") == "gpt2":  # the plan names gpt2's sizes as transformers' attribute map does
        config |= {
            "n_embd": config["hidden_size"],
            "n_layer": config["num_hidden_layers"],
            "n_head": config["num_attention_heads"],
            "n_inner": config["intermediate_size"],
            "n_positions": config["max_position_embeddings"],
        }
    return dims_from_config(config | {"vocab_size": vocab_size})


def scratch_config(strategy, max_length: int) -> dict:
    """The transformers config arguments of a model built from scratch."""
    heads = strategy.heads
    common = {
        "model_type": strategy.architecture,
        "hidden_size": strategy.hidden_size,
        "num_hidden_layers": strategy.layers,
        "num_attention_heads": heads,
        "intermediate_size": strategy.intermediate_size or 4 * strategy.hidden_size,
        "max_position_embeddings": strategy.context or max_length,
        "tie_word_embeddings": strategy.tie_embeddings,
    }
    if strategy.architecture != "gpt2":  # llama, qwen2 (q/k/v biases) and mistral share these names
        return common | {"num_key_value_heads": strategy.kv_heads or heads, "attention_dropout": strategy.dropout}
    return common | {"resid_pdrop": strategy.dropout, "embd_pdrop": strategy.dropout, "attn_pdrop": strategy.dropout}
