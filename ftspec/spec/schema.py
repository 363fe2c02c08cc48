"""The validation models: one pydantic model per block and per strategy kind.

Defaults that depend on other settings (the learning rate of a strategy, packing
for a format) are ``None`` here and resolved by the planner, which records them.
The README's spec reference is generated from these models (`ftspec.spec.reference`).
"""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

from typing import Annotated, Literal

from pydantic import Field

from .datablocks import CHAT_TEMPLATE_NAMES, RUN_WIDE, Data  # noqa: F401
from .objectives import OBJECTIVES, REFERENCED_KINDS, Dpo, Kto, Objective, Orpo, Simpo  # noqa: F401
from .strategies import (  # noqa: F401  (re-exported: the schema is one namespace to its readers)
    IA3,
    PEFT_KINDS,
    STRATEGIES,
    AdaLora,
    Full,
    LoHa,
    LoKr,
    Lora,
    QLora,
    Scratch,
    Strategy,
)
from .values import Block, Fraction, Percent, Size, Targets  # noqa: F401


class Base(Block):
    """The pretrained model to start from."""

    model: str | None = Field(None, description="a hub id (`owner/name`) or a local directory")
    spec: str | None = Field(None, description="another `.ft` file whose model this one starts from")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    trust_remote_code: bool = Field(False, description="run the model repository's own Python code")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="dtype the weights load in; `auto` follows the training precision"
    )
    attention: Literal["auto", "eager", "sdpa", "flash_attention_2", "flex_attention"] = Field(
        "auto",
        description="attention kernel; `auto`: flash_attention_2 on a GPU target with fp16/bf16 that has `flash_attn`"
        " installed (`hardware.installed`), eager for a base that soft-caps attention without it, else sdpa",
    )


class Tokenizer(Block):
    """The tokenizer: the base's, a named one, or one trained on the data."""

    train: bool = Field(False, description="learn a byte-level BPE vocabulary from `data.train`")
    vocab_size: int = Field(8192, ge=256, le=1_048_576, description="vocabulary size to learn")
    model: str | None = Field(None, description="a hub id or directory to take the tokenizer from")
    eos_token: str | None = Field(
        None, description="the end-of-sequence token, a token of the tokenizer (closes every example)"
    )
    pad_token: str | None = Field(None, description="the padding token, a token of the tokenizer")


TRACKERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "trackio")


class Train(Block):
    """The optimisation: how long, how fast, how big a batch."""

    epochs: int | None = Field(None, ge=1, le=100_000, description="passes over the training set; excludes `max_steps`")
    max_steps: int | None = Field(None, ge=1, le=10**9, description="optimizer steps; excludes `epochs`")
    learning_rate: float | None = Field(None, gt=0, le=1, description="peak learning rate")
    batch_size: int = Field(
        8, ge=1, le=1_000_000, description="examples per step across all devices, before accumulation"
    )
    grad_accum: int = Field(1, ge=1, le=100_000, description="steps accumulated into one optimizer step")
    optimizer: Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"] = Field(
        "adamw", description="optimizer"
    )
    scheduler: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "polynomial", "cosine_with_restarts", "inverse_sqrt"
    ] = Field("cosine", description="learning-rate schedule after warm-up")
    warmup: Percent | int = Field(0, description="warm-up: a percentage of the optimizer steps, or a step count")
    weight_decay: float = Field(0.0, ge=0, le=1, description="decoupled weight decay")
    max_grad_norm: float = Field(1.0, ge=0, description="gradient clipping norm; 0 turns clipping off")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto",
        description="bf16 where the GPUs have it, else fp16, else fp32 (fp32 on a CPU, where bf16 must be asked for)",
    )
    gradient_checkpointing: bool | Literal["auto"] = Field("auto", description="recompute activations to save memory")
    use_reentrant: bool = Field(
        False, description="gradient checkpointing through torch's reentrant implementation (the older one)"
    )
    offload_activations: bool = Field(
        False,
        description="keep the tensors saved for backward in host memory (`torch.autograd.graph.save_on_cpu`), "
        "for long context on GPUs",
    )
    tf32: bool = Field(False, description="TensorFloat-32 matmuls and convolutions on Ampere and newer GPUs")
    kernels: Literal["auto", "liger", "none"] = Field(
        "auto",
        description="fused kernels: `liger` patches Liger-Kernel's RMSNorm, RoPE and SwiGLU into the model; `auto` "
        "uses it on a GPU target that has `liger_kernel` installed (`hardware.installed`) for a family it supports",
    )
    trackers: list[Literal[TRACKERS]] | Literal["auto"] = Field(  # type: ignore[valid-type]
        "auto", description="experiment trackers Accelerate logs to; `auto`: TensorBoard when installed; `[]`: none"
    )
    project: str | None = Field(None, description="the trackers' project (experiment) name; the spec's name if unset")
    run_name: str | None = Field(None, description="the trackers' run name; the spec's name if unset")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="seed of initialisation, dropout and data order")
    log_every: int = Field(10, ge=1, description="optimizer steps between two log lines")
    compile: bool = Field(False, description="compile the model with torch.compile")
    loss_chunk: Annotated[int, Field(ge=0, le=1_000_000)] | Literal["auto"] = Field(
        "auto",
        description="positions per chunk of the output head in a causal loss, so the full logits never exist; "
        "0 takes the whole batch at once; `auto` sizes chunks to about 128 MiB of float32 logits",
    )


class Eval(Block):
    """How the tuned model is evaluated."""

    metrics: (
        list[
            Literal[
                "perplexity",
                "loss",
                "response_loss",
                "rouge_l",
                "chrf",
                "accuracy",
                "macro_f1",
                "precision",
                "recall",
                "confusion_matrix",
                "preference_accuracy",
                "reward_margin",
            ]
        ]
        | None
    ) = Field(None, description="metrics to report")
    compare_base: bool = Field(False, description="evaluate the base model on the same data and prompts")
    prompts: list[str] = Field([], description="prompts to generate answers for")
    max_new_tokens: int = Field(64, ge=1, le=32_768, description="tokens generated per prompt")
    temperature: float = Field(
        0.0, ge=0.0, le=10.0, description="sampling temperature of generated answers; 0 is greedy (deterministic)"
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling: the probability mass sampled from")
    repetition_penalty: float = Field(
        1.2, ge=1.0, le=10.0, description="divides the score of tokens already generated (1 is none)"
    )
    samples: int = Field(
        24, ge=0, le=100_000, description="held-out examples answered and scored against their reference answers"
    )
    every: int | None = Field(None, ge=1, le=10**9, description="evaluate every N optimizer steps during training")
    per_epoch: int | None = Field(None, ge=1, le=1000, description="evaluate N times per epoch during training")
    batch_size: int | None = Field(None, ge=1, le=1_000_000, description="evaluation batch size")


GPU_NAMES = ("h200", "h100", "a100", "a100_40gb", "a10g", "l40s", "l4", "t4", "v100", "rtx4090", "rtx3090", "cpu")


class Hardware(Block):
    """The machines that will run it, when they are not the one compiling."""

    nodes: int = Field(1, ge=1, le=10_000, description="machines")
    gpus: Annotated[int, Field(ge=0, le=1024)] | Literal["auto"] = Field(
        "auto", description="GPUs per machine, or `auto` (what is visible)"
    )
    gpu: Literal[GPU_NAMES] | None = Field(None, description="card model, for its memory and bf16 support")  # type: ignore[valid-type]
    gpu_memory: Size | None = Field(None, description="memory per GPU")
    processes: int | None = Field(None, ge=1, le=1024, description="processes per machine on a CPU target")
    distributed: Literal["auto", "none", "ddp", "fsdp", "zero2", "zero3"] = Field(
        "auto", description="how work is spread over devices"
    )
    offload: Literal["none", "optimizer", "all"] = Field(
        "none",
        description="model state kept in host memory: the `optimizer` state (DeepSpeed ZeRO-2/3), or `all` of "
        "weights, gradients and optimizer state (FSDP, ZeRO-3); `auto` distribution then picks ZeRO",
    )
    host_memory: Size | None = Field(None, description="memory of each machine, checked against what `offload` moves")
    installed: list[Literal["flash_attn", "liger_kernel"]] | None = Field(
        None, description="optional kernel packages the target has installed, for the `auto` choices (detected at run)"
    )
    launcher: Literal["auto", "none", "slurm", "kubernetes", "skypilot"] = Field(
        "auto",
        description="what starts the machines: `slurm.sh`, a Kubeflow `TrainJob`/`PyTorchJob`, a SkyPilot task;"
        " `auto` is `slurm` for several nodes, else `none` (`launch.sh` alone)",
    )
    max_restarts: int = Field(
        0, ge=0, le=1000, description="restarts of the process group after a lost worker (torchrun's elastic c10d)"
    )
    image: str | None = Field(None, description="container image (`kubernetes`, `skypilot`); else `${IMAGE}`")
    volume: str | None = Field(
        None, description="volume holding the project and its runs (`kubernetes`, `skypilot`); else `${VOLUME}`"
    )


class Output(Block):
    """Where results go and what is saved."""

    dir: str | None = Field(None, description="run directory")
    merge: bool = Field(False, description="also save the adapter merged into the full-precision base")
    save_every: int | None = Field(None, ge=1, le=10**9, description="optimizer steps between checkpoints")
    keep_last: int = Field(2, ge=1, le=1000, description="checkpoints kept")


class TopLevel(Block):
    """Settings outside any block."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100, description="the model's name; also its directory name"
    )
    domain: str = Field("general", description="the domain it serves, e.g. `healthcare`, `sports/cricket`")
    description: str = Field("", description="one sentence for the model card")
    extends: str | None = Field(None, description="a spec whose settings this one starts from")


BLOCKS: dict[str, type[Block]] = {
    "base": Base,
    "data": Data,
    "tokenizer": Tokenizer,
    "strategy": Block,  # chosen by label from STRATEGIES
    "objective": Block,  # chosen by label from OBJECTIVES
    "train": Train,
    "eval": Eval,
    "hardware": Hardware,
    "output": Output,
}
REQUIRED_BLOCKS = ("data", "strategy")
# Blocks whose label picks their model: `strategy lora { … }`, `objective dpo { … }`.
LABELLED: dict[str, dict[str, type[Block]]] = {"strategy": STRATEGIES, "objective": OBJECTIVES}


class Spec(Block):
    """A whole validated spec."""

    name: str
    domain: str = "general"
    description: str = ""
    extends: str | None = None
    base: Base | None = None
    data: Data  # the single source; in a mixture, its first source (every source shares the RUN_WIDE settings)
    mixture: dict[str, Data] = Field({})  # labelled data blocks by name, in the spec's order
    tokenizer: Tokenizer = Tokenizer()
    strategy: Strategy = Field(discriminator="kind")
    objective: Objective | None = Field(None, discriminator="kind")
    train: Train = Train()
    eval: Eval = Eval()
    hardware: Hardware = Hardware()
    output: Output = Output()
