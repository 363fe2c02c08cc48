"""The data block: where the examples come from, which rows are used, and how they become tokens."""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

from typing import Literal

from pydantic import Field

from .values import Block, Percent

# Settings of the run as a whole, not of one source: in a mixture every source that sets one sets the same value.
RUN_WIDE = ("max_length", "min_length", "overlong", "packing", "shuffle_seed", "workers", "loader_workers")

# Chat templates ftspec knows by name; `tokenizer` is the base tokenizer's own.
CHAT_TEMPLATE_NAMES = ("tokenizer", "chatml", "llama3", "llama2", "mistral", "qwen2.5", "qwen3", "gemma", "phi-3")


class Data(Block):
    """Where the examples come from and how they become tokens."""

    train: str = Field(description="a local file or glob (jsonl, json, csv, parquet, txt), or `hub:owner/name`")
    eval: str | None = Field(None, description="a held-out file; excludes `eval_split`")
    eval_split: Percent | None = Field(
        None, description="share of `train` held out for evaluation; `0%` trains on every row and holds none out"
    )
    revision: str | None = Field(None, description="revision of a `hub:` dataset")
    config: str | None = Field(None, description="configuration (subset) name of a `hub:` dataset")
    data_files: list[str] | None = Field(None, min_length=1, description="files of a `hub:` dataset to read")
    split: str = Field("train", description="the split read from `train`, with an optional slice: `train[:20%]`")
    max_samples: int | None = Field(
        None, ge=1, le=10**12, description="read at most this many rows of the split, the first ones in file order"
    )
    format: Literal["text", "instruction", "chat", "classification", "preference"] = Field(
        "text", description="what a row is; `preference`: a prompt with a better and a worse answer (an `objective`)"
    )
    max_length: int = Field(512, ge=8, le=1_048_576, description="tokens per training sequence; see `overlong`")
    min_length: int | None = Field(
        None, ge=1, le=1_048_576, description="drop examples of fewer tokens than this (before packing)"
    )
    overlong: Literal["cut", "drop", "error"] = Field(
        "cut", description="an example longer than `max_length`: cut at it, dropped, or an error (not `text`)"
    )
    packing: bool | None = Field(None, description="pack short examples into full sequences")
    shuffle_seed: int | None = Field(None, ge=0, le=2**32 - 1, description="seed of the data order")
    workers: int = Field(1, ge=1, le=1024, description="processes that tokenise the rows (datasets' `num_proc`)")
    loader_workers: int = Field(
        0, ge=0, le=1024, description="worker processes of each training data loader; 0 loads in the training process"
    )
    text: str | None = Field(None, description="text column (`text`, `classification`)")
    prompt: str | None = Field(
        None,
        description="prompt column (`instruction`, `preference`: without it, `chosen`/`rejected` are conversations)",
    )
    input: str | None = Field(
        None, description="optional input column (`instruction`); `alpaca` leaves its `Input:` out where it is empty"
    )
    response: str | None = Field(None, description="response column (`instruction`)")
    template: str | None = Field(
        None, description="prompt template: `alpaca`, `default`, `plain`, or a string with `{column}`s"
    )
    train_on_prompt: bool = Field(False, description="also compute the loss on prompt tokens (`instruction`, `chat`)")
    messages: str | None = Field(None, description="column of message lists (`chat`)")
    role_key: str = Field("role", description="key of a message's role (`chat`); ShareGPT's is `from`")
    content_key: str = Field("content", description="key of a message's text (`chat`); ShareGPT's is `value`")
    user_role: str = Field("user", description="the role name of the user's messages in the data; ShareGPT: `human`")
    assistant_role: str = Field(
        "assistant", description="the role name of the model's messages in the data; ShareGPT: `gpt`"
    )
    system_role: str = Field("system", description="the role name of system messages in the data")
    chat_template: str | None = Field(
        None,
        description="a name (" + ", ".join(f"`{n}`" for n in CHAT_TEMPLATE_NAMES) + ") or a Jinja chat template; "
        "on `instruction` data it renders prompt and response as one user and one assistant turn",
    )
    chosen: str | None = Field(None, description="column of the preferred answer or conversation (`preference`)")
    rejected: str | None = Field(None, description="column of the worse answer or conversation (`preference`)")
    completion: str | None = Field(None, description="answer column of unpaired rows (`preference` with `kto`)")
    weight: float | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="a labelled block (`data NAME { }`) is one source of a mixture, and its share of every "
        "epoch's training sequences is its weight over the sum of the weights. An epoch has as many sequences as "
        "all sources' training splits together; a source's share is drawn from its own sequences, as whole "
        "shuffled passes and then the rest without replacement, anew each epoch from the shuffling seed",
    )
    label: str | None = Field(
        None, description="label column (`classification`; with `kto`, true for a desirable answer)"
    )
    labels: list[str] | None = Field(None, min_length=2, description="the label set, in order (`classification`)")
