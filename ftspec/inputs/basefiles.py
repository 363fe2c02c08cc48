"""What a base model's own files say about its tokenizer, templates and weights, read without loading it.

A base directory (local, in a package, built by a base spec) or a snapshot of the local hub cache holds
`config.json`, `tokenizer.json`, `tokenizer_config.json`, `generation_config.json` and the safetensors
weights. They are read as JSON, and a safetensors file only as far as its header (an 8-byte little-endian
length, then JSON naming every tensor's dtype, shape and byte range): the weights themselves are never
loaded, except a few rows of the input embedding when a check asks for them. Never the network, never torch.
"""

from __future__ import annotations

import json
import os
import re
import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from .modelinfo import cached_file, hub_cache

NAMES = ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")
INDEX, SINGLE = "model.safetensors.index.json", "model.safetensors"
# The input embedding's tensor, by the names model families give it.
EMBEDDINGS = ("embed_tokens", "wte", "word_embeddings", "tok_embeddings", "embed_in")
HEADER_LIMIT = 100 << 20  # a safetensors header larger than this is not one


@dataclass(frozen=True)
class Tensor:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute byte offset of the data in ``file``


@dataclass(frozen=True)
class BaseFiles:
    """The base's files as read from ``directory``; a file that is not there is None (or empty)."""

    directory: Path
    config: dict | None = None
    tokenizer: dict | None = None  # tokenizer.json
    tokenizer_config: dict | None = None
    generation_config: dict | None = None
    tensors: dict[str, Tensor] = field(default_factory=dict)  # from the safetensors headers
    weight_names: tuple[str, ...] = ()  # every tensor name, also from an index whose shards are absent

    @property
    def has_tokenizer(self) -> bool:
        return self.tokenizer is not None

    def token(self, key: str) -> str | None:
        """A special token's text as tokenizer_config.json names it (`bos_token`, `eos_token`, `pad_token`)."""
        value = (self.tokenizer_config or {}).get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return value if isinstance(value, str) and value else None

    def added_tokens(self) -> dict[str, int]:
        """The tokenizer's added tokens (special or not) and their ids."""
        added = (self.tokenizer or {}).get("added_tokens") or []
        return {t["content"]: t["id"] for t in added if isinstance(t, dict) and "content" in t and _is_id(t.get("id"))}

    def token_id(self, text: str | None) -> int | None:
        if text is None:
            return None
        found = self.added_tokens().get(text)
        if found is None:
            vocab = self._vocab()
            found = vocab.get(text) if isinstance(vocab, dict) else None
        return found

    def _model(self) -> dict:
        """tokenizer.json's `model` (its vocabulary); {} when the file has none or not an object."""
        model = (self.tokenizer or {}).get("model")
        return model if isinstance(model, dict) else {}

    def _vocab(self):
        """The model's vocabulary, parsed from the file only when a token outside the added ones is asked for."""
        model = self._model()
        if "vocab" in model or "vocab_at" not in model:
            return model.get("vocab")
        try:
            return _DECODER.raw_decode(Path(model["vocab_file"]).read_text(encoding="utf-8"), model["vocab_at"])[0]
        except (OSError, ValueError):
            return None

    def vocabulary_size(self) -> int | None:
        """Ids the tokenizer can produce: one more than its largest id."""
        if self.tokenizer is None:
            return None
        model = self._model()
        vocab = model.get("vocab")
        ids = [i for i in vocab.values() if _is_id(i)] if isinstance(vocab, dict) else []
        if isinstance(vocab, list):  # Unigram models list (piece, score) pairs
            ids = [len(vocab) - 1]
        if isinstance(model.get("vocab_size"), int):
            ids.append(model["vocab_size"] - 1)
        ids += list(self.added_tokens().values())
        return max(ids) + 1 if ids else None

    def adds_bos(self) -> bool:
        """Whether encoding a text puts the BOS token in front of it, as the tokenizer is saved."""
        config = self.tokenizer_config or {}
        if isinstance(config.get("add_bos_token"), bool):
            return config["add_bos_token"]
        bos = self.token("bos_token")
        return bos is not None and bos in _leading_specials((self.tokenizer or {}).get("post_processor"))

    def chat_template(self) -> str | None:
        template = (self.tokenizer_config or {}).get("chat_template")
        if isinstance(template, list):  # named templates: the default one
            template = next((t.get("template") for t in template if t.get("name") == "default"), None)
        return template if isinstance(template, str) else None

    def stop_ids(self) -> tuple[int, ...]:
        """The token ids generation stops at: generation_config.json's eos, else config.json's."""
        for source in (self.generation_config, self.config):
            value = (source or {}).get("eos_token_id")
            if isinstance(value, int):
                return (value,)
            if isinstance(value, list) and all(isinstance(v, int) for v in value):
                return tuple(value)
        return ()

    def embedding(self) -> Tensor | None:
        """The input embedding's tensor, where the safetensors headers were read."""
        for name, tensor in sorted(self.tensors.items()):
            parts = name.split(".")
            if len(parts) > 1 and parts[-1] == "weight" and parts[-2] in EMBEDDINGS and len(tensor.shape) == 2:
                return tensor
        return None

    def embedding_module(self) -> str | None:
        """The input embedding's module name as peft's `trainable_token_indices` keys it (`embed_tokens`)."""
        tensor = self.embedding()
        return next(n for n, t in self.tensors.items() if t == tensor).split(".")[-2] if tensor else None


def _leading_specials(processor) -> list[str]:
    """The special tokens a post-processor puts before a single sequence."""
    if not isinstance(processor, dict):
        return []
    if processor.get("type") == "Sequence":
        return [t for inner in processor.get("processors") or [] for t in _leading_specials(inner)]
    if processor.get("type") == "TemplateProcessing":
        found = []
        for piece in processor.get("single") or []:
            if "Sequence" in piece:
                break
            found.append(piece.get("SpecialToken", {}).get("id"))
        return [t for t in found if t]
    if processor.get("type") in ("BertProcessing", "RobertaProcessing"):
        cls = processor.get("cls")
        return [cls[0]] if isinstance(cls, list) and cls else []
    return []


_DECODER = json.JSONDecoder()
# What precedes a BPE model's `"merges"` key: the last id of its vocabulary and the vocabulary's end.
VOCAB_END = re.compile(r"(\d+)\s*\}\s*,\s*$")
_SPACE = re.compile(r"\s*")


def _members(text: str, start: int, stop_at: str):
    """The members of the JSON object at ``start`` as (key, value, end), up to the member ``stop_at``, whose
    value is left unparsed (None, and the offset where it starts)."""
    at = _SPACE.match(text, start).end()
    if text[at] != "{":
        raise ValueError("not an object")
    at += 1
    while True:
        at = _SPACE.match(text, at).end()
        if text[at] == "}":
            return
        key, at = _DECODER.raw_decode(text, at)
        at = _SPACE.match(text, at).end()
        if text[at] != ":":
            raise ValueError("no colon")
        at = _SPACE.match(text, at + 1).end()
        if key == stop_at:
            yield key, None, at
            return
        value, at = _DECODER.raw_decode(text, at)
        yield key, value, at
        at = _SPACE.match(text, at).end()
        if text[at] == ",":
            at += 1


def _vocab_end(text: str, start: int):
    """The match of VOCAB_END before the `"merges"` key that follows ``start``; None when there is none."""
    at = text.find('"merges"', start)
    while at >= 0:  # a token spelt `merges` is a key inside the vocabulary: not preceded by its end
        end = VOCAB_END.search(text, max(start, at - 64), at)
        if end is not None and text[_SPACE.match(text, at + len('"merges"')).end()] == ":":
            return end
        at = text.find('"merges"', at + 1)
    return None


def _tokenizer_json(path: Path) -> dict | None:
    """A tokenizer.json without its merges, whose hundreds of thousands of pairs would cost most of a `check`.

    The `tokenizers` library writes `model` last and its `merges` after its `vocab`; a file in another
    order is parsed in full."""
    try:
        text = path.read_text(encoding="utf-8")
        found = {key: value for key, value, _ in _members(text, 0, "model") if key != "model"}
        model_at = next((at for key, value, at in _members(text, 0, "model") if key == "model"), None)
        if model_at is None or not {"added_tokens", "post_processor"} <= set(found):
            return _json(path)
        model = {key: value for key, value, _ in _members(text, model_at, "vocab") if key != "vocab"}
        vocab_at = next((at for key, _, at in _members(text, model_at, "vocab") if key == "vocab"), None)
        end = _vocab_end(text, vocab_at) if vocab_at is not None else None
        if end is not None:  # the vocabulary is written in id order: its last entry has the largest id
            model |= {"vocab_size": int(end.group(1)) + 1, "vocab_file": str(path), "vocab_at": vocab_at}
        else:
            model = {key: value for key, value, _ in _members(text, model_at, "merges") if key != "merges"}
        found["model"] = model
        return found
    except (OSError, ValueError, IndexError):
        return _json(path)


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _header(path: Path) -> dict[str, Tensor]:
    """The tensors one safetensors file holds, from its header alone; {} when it is not readable as one."""
    try:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > HEADER_LIMIT:
                return {}
            header = json.loads(handle.read(size))
    except (OSError, ValueError, struct.error):
        return {}
    found = {}
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        try:
            found[name] = Tensor(
                path, str(info["dtype"]), tuple(info["shape"]), 8 + size + int(info["data_offsets"][0])
            )
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return found


def read_directory(directory: Path) -> BaseFiles | None:
    """The base files in ``directory``; None when it holds none of them."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    read = {name: (_tokenizer_json if name == "tokenizer.json" else _json)(directory / name) for name in NAMES}
    tensors: dict[str, Tensor] = {}
    names: list[str] = []
    index = _json(directory / INDEX)
    if index is not None and isinstance(index.get("weight_map"), dict):
        names = sorted(index["weight_map"])
        for shard in sorted(set(map(str, index["weight_map"].values()))):
            if (directory / shard).is_file():
                tensors |= _header(directory / shard)
    elif (directory / SINGLE).is_file():
        tensors = _header(directory / SINGLE)
        names = sorted(tensors)
    if not any(read.values()) and not names:
        return None
    return BaseFiles(
        directory,
        config=read["config.json"],
        tokenizer=read["tokenizer.json"],
        tokenizer_config=read["tokenizer_config.json"],
        generation_config=read["generation_config.json"],
        tensors=tensors,
        weight_names=tuple(names),
    )


def read_base(path_or_id: str | os.PathLike, revision: str | None = None, cache: Path | None = None):
    """The base files of a local directory, else of the hub cache's snapshot for ``revision``."""
    local = Path(os.path.expanduser(path_or_id))
    if local.is_dir():
        return read_directory(local)
    config = cached_file(str(path_or_id), revision, "config.json", cache or hub_cache())
    return read_directory(config.parent) if config is not None else None


def _floats(raw: bytes, dtype: str) -> array | None:
    if dtype == "F32":
        return array("f", raw)
    if dtype == "BF16":  # a bfloat16 is the high half of a float32
        wide = bytearray(2 * len(raw))
        wide[2::4], wide[3::4] = raw[0::2], raw[1::2]
        return array("f", bytes(wide))
    if dtype == "F16":
        return array("f", struct.unpack(f"<{len(raw) // 2}e", raw))
    return None


def row_norms(tensor: Tensor, rows: list[int]) -> dict[int, float] | None:
    """The L2 norm of each of ``rows`` of a 2-D tensor, read from its file; None for other dtypes."""
    width = tensor.shape[1]
    size = {"F32": 4, "BF16": 2, "F16": 2}.get(tensor.dtype)
    if size is None:
        return None
    norms = {}
    try:
        with tensor.file.open("rb") as handle:
            for row in rows:
                if not 0 <= row < tensor.shape[0]:
                    continue
                handle.seek(tensor.start + row * width * size)
                values = _floats(handle.read(width * size), tensor.dtype)
                norms[row] = sum(v * v for v in values) ** 0.5
    except (OSError, ValueError):
        return None
    return norms


def for_spec(loaded) -> BaseFiles | None:
    """The base files of a loaded spec: its base (a directory or the hub cache), with the tokenizer files of
    `tokenizer.model` in place of the base's when the spec names one. A base spec's model is not read even
    when it is built, so that its plan is the same before and after (the model is ftspec's own)."""
    spec = loaded.spec
    if spec is None or spec.base is None or spec.base.spec is not None:
        return None
    if loaded.base_dir is not None:
        files = read_directory(loaded.base_dir)
    elif spec.base.model is not None:
        files = read_base(spec.base.model, spec.base.revision)
    else:
        files = None
    if files is None or spec.tokenizer.model is None:
        return files
    named = read_directory(loaded.tokenizer_dir) if loaded.tokenizer_dir else read_base(spec.tokenizer.model)
    tokenizer = (named.tokenizer, named.tokenizer_config) if named is not None else (None, None)
    return BaseFiles(
        files.directory,
        config=files.config,
        tokenizer=tokenizer[0],
        tokenizer_config=tokenizer[1],
        generation_config=files.generation_config,
        tensors=files.tensors,
        weight_names=files.weight_names,
    )
