"""The validation models: one pydantic model per block and per strategy kind.

Defaults that depend on other settings (the learning rate of a strategy, packing
for a format) are ``None`` here and resolved by the planner, which records them.
The README's spec reference is generated from these models (`ftspec.spec.reference`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Percent:
    """A percentage as written (`5%` is Percent(5.0))."""

    value: float

    @property
    def fraction(self) -> float:
        return self.value / 100.0

    def __str__(self) -> str:
        return f"{self.value:g}%"


@dataclass(frozen=True)
class Size:
    """A size in bytes (`80GiB`)."""

    bytes: int

    @property
    def gib(self) -> float:
        return self.bytes / 2**30

    def __str__(self) -> str:
        return f"{self.gib:g}GiB"


class Block(BaseModel):
    # Validators are built on first use: a spec touches a few of these models, not all.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Targets = Literal["all_linear"] | list[str]


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
        description="attention kernel; `auto`: eager for a base that soft-caps attention, else transformers' choice",
    )


class Data(Block):
    """Where the examples come from and how they become tokens."""

    train: str = Field(description="a local file or glob (jsonl, json, csv, parquet, txt), or `hub:owner/name`")
    eval: str | None = Field(None, description="a held-out file; excludes `eval_split`")
    eval_split: Percent | None = Field(None, description="share of `train` held out for evaluation")
    revision: str | None = Field(None, description="revision of a `hub:` dataset")
    format: Literal["text", "instruction", "chat", "classification"] = Field("text", description="what a row is")
    max_length: int = Field(512, ge=8, le=1_048_576, description="tokens per training sequence; see `overlong`")
    overlong: Literal["cut", "drop", "error"] = Field(
        "cut", description="an example longer than `max_length`: cut at it, dropped, or an error (not `text`)"
    )
    packing: bool | None = Field(None, description="pack short examples into full sequences")
    shuffle_seed: int | None = Field(None, ge=0, le=2**32 - 1, description="seed of the data order")
    text: str | None = Field(None, description="text column (`text`, `classification`)")
    prompt: str | None = Field(None, description="prompt column (`instruction`)")
    response: str | None = Field(None, description="response column (`instruction`)")
    template: str | None = Field(None, description="prompt template: `alpaca`, `plain`, or a string with `{column}`s")
    train_on_prompt: bool = Field(False, description="also compute the loss on prompt tokens (`instruction`, `chat`)")
    messages: str | None = Field(None, description="column of role/content lists (`chat`)")
    chat_template: str | None = Field(None, description="`chatml`, `llama3`, or a Jinja chat template")
    label: str | None = Field(None, description="label column (`classification`)")
    labels: list[str] | None = Field(None, min_length=2, description="the label set, in order (`classification`)")


class Tokenizer(Block):
    """The tokenizer: the base's, a named one, or one trained on the data."""

    train: bool = Field(False, description="learn a byte-level BPE vocabulary from `data.train`")
    vocab_size: int = Field(8192, ge=256, le=1_048_576, description="vocabulary size to learn")
    model: str | None = Field(None, description="a hub id or directory to take the tokenizer from")


class _Peft(Block):
    targets: Targets | None = Field(None, description="module names to adapt, or `all_linear`")
    modules_to_save: list[str] = Field(default_factory=list, description="modules trained in full beside the adapter")


class _LoraOptions(_Peft):
    rank: int = Field(8, ge=1, le=4096, description="adapter rank r")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: updates are scaled by alpha/r")
    dropout: Fraction = Field(0.05, description="dropout on the adapter's input")
    targets: Targets = Field("all_linear", description="module names to adapt, or `all_linear`")
    dora: bool = Field(False, description="weight-decomposed LoRA (DoRA)")
    rslora: bool = Field(False, description="rank-stabilised scaling alpha/sqrt(r)")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train")


class Full(Block):
    """Train every weight, except the ones frozen here."""

    kind: Literal["full"] = "full"
    freeze: list[str] = Field(
        default_factory=list,
        description='`embeddings`, `lm_head`, or parameter-name globs such as `"model.layers.0.*"`',
    )
    freeze_layers: int = Field(0, ge=0, description="freeze the first N transformer layers")


class Lora(_LoraOptions):
    """Low-rank adapters (LoRA), with the DoRA and rsLoRA variants."""

    kind: Literal["lora"] = "lora"


class QLora(_LoraOptions):
    """LoRA on a base quantized to 4 or 8 bits with bitsandbytes."""

    kind: Literal["qlora"] = "qlora"
    bits: Literal[4, 8] = Field(4, description="quantization of the frozen base")
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type")
    double_quant: bool = Field(True, description="also quantize the quantization constants")
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="dtype of the 4-bit matmuls; follows the precision when `auto`"
    )


class AdaLora(_Peft):
    """Adaptive-rank LoRA: ranks start at `init_rank` and are pruned to `target_rank` on average."""

    kind: Literal["adalora"] = "adalora"
    init_rank: int = Field(12, ge=1, le=4096, description="rank every adapter starts with")
    target_rank: int = Field(8, ge=1, le=4096, description="average rank after pruning")
    alpha: float = Field(16.0, gt=0, description="scaling numerator")
    dropout: Fraction = Field(0.05, description="dropout on the adapter's input")
    targets: Targets = Field("all_linear", description="module names to adapt, or `all_linear`")
    warmup: Percent | int = Field(Percent(10), description="steps before pruning starts (`tinit`)")
    final: Percent | int = Field(Percent(20), description="steps at the end with the ranks fixed (`tfinal`)")
    interval: int = Field(1, ge=1, description="steps between two rank reallocations (`deltaT`)")
    orth_reg_weight: float = Field(0.5, ge=0, description="weight of the orthogonality regulariser")


class IA3(_Peft):
    """(IA)^3: learned rescaling vectors on keys, values and feed-forward activations."""

    kind: Literal["ia3"] = "ia3"
    feedforward: list[str] | None = Field(None, description="which of `targets` are feed-forward modules")


class LoHa(_Peft):
    """Low-rank Hadamard product adapters (LyCORIS LoHa)."""

    kind: Literal["loha"] = "loha"
    rank: int = Field(8, ge=1, le=4096, description="rank of each Hadamard factor")
    alpha: float = Field(8.0, gt=0, description="scaling numerator")
    rank_dropout: Fraction = Field(0.0, description="dropout over ranks during training")
    module_dropout: Fraction = Field(0.0, description="probability of disabling a whole adapter in a step")
    targets: Targets = Field("all_linear", description="module names to adapt, or `all_linear`")


class LoKr(_Peft):
    """Low-rank Kronecker product adapters (LyCORIS LoKr)."""

    kind: Literal["lokr"] = "lokr"
    rank: int = Field(8, ge=1, le=4096, description="rank of the Kronecker factor")
    alpha: float = Field(8.0, gt=0, description="scaling numerator")
    rank_dropout: Fraction = Field(0.0, description="dropout over ranks during training")
    module_dropout: Fraction = Field(0.0, description="probability of disabling a whole adapter in a step")
    decompose_both: bool = Field(False, description="also decompose the left Kronecker factor")
    decompose_factor: int = Field(-1, ge=-1, description="Kronecker factor size; -1 picks a balanced one")
    targets: Targets = Field("all_linear", description="module names to adapt, or `all_linear`")


class Scratch(Block):
    """A new model with random weights, shaped by these hyper-parameters."""

    kind: Literal["scratch"] = "scratch"
    architecture: Literal["llama", "gpt2"] = Field("llama", description="model family")
    hidden_size: int = Field(256, ge=8, le=65536, description="width of the residual stream")
    layers: int = Field(4, ge=1, le=1024, description="transformer blocks")
    heads: int = Field(4, ge=1, le=1024, description="attention heads")
    kv_heads: int | None = Field(
        None, ge=1, le=1024, description="key/value heads (llama; fewer than `heads` is grouped-query attention)"
    )
    intermediate_size: int | None = Field(None, ge=8, description="feed-forward width")
    context: int | None = Field(None, ge=8, le=1_048_576, description="positions the model handles")
    tie_embeddings: bool = Field(True, description="share the input embedding with the output head")
    dropout: Fraction = Field(0.0, description="dropout in attention and feed-forward layers")


STRATEGIES: dict[str, type[Block]] = {
    "full": Full,
    "lora": Lora,
    "qlora": QLora,
    "adalora": AdaLora,
    "ia3": IA3,
    "loha": LoHa,
    "lokr": LoKr,
    "scratch": Scratch,
}
PEFT_KINDS = ("lora", "qlora", "adalora", "ia3", "loha", "lokr")
Strategy = Full | Lora | QLora | AdaLora | IA3 | LoHa | LoKr | Scratch


class Train(Block):
    """The optimisation: how long, how fast, how big a batch."""

    epochs: int | None = Field(None, ge=1, le=100_000, description="passes over the training set; excludes `max_steps`")
    max_steps: int | None = Field(None, ge=1, le=10**9, description="optimizer steps; excludes `epochs`")
    learning_rate: float | None = Field(None, gt=0, le=1, description="peak learning rate")
    batch_size: int = Field(
        8, ge=1, le=1_000_000, description="examples per step across all devices, before accumulation"
    )
    grad_accum: int = Field(1, ge=1, le=100_000, description="steps accumulated into one optimizer step")
    optimizer: Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd"] = Field(
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
            ]
        ]
        | None
    ) = Field(None, description="metrics to report")
    compare_base: bool = Field(False, description="evaluate the base model on the same data and prompts")
    prompts: list[str] = Field(default_factory=list, description="prompts to generate answers for")
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
    "train": Train,
    "eval": Eval,
    "hardware": Hardware,
    "output": Output,
}
REQUIRED_BLOCKS = ("data", "strategy")


class Spec(Block):
    """A whole validated spec."""

    name: str
    domain: str = "general"
    description: str = ""
    extends: str | None = None
    base: Base | None = None
    data: Data
    tokenizer: Tokenizer = Tokenizer()
    strategy: Strategy = Field(discriminator="kind")
    train: Train = Train()
    eval: Eval = Eval()
    hardware: Hardware = Hardware()
    output: Output = Output()
