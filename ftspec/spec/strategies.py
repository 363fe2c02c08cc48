"""The strategy blocks, one pydantic model per kind (`strategy lora { … }`)."""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

from typing import Literal

from pydantic import Field

from .values import Block, Fraction, Percent, Targets


class _Peft(Block):
    targets: Targets | None = Field(None, description="module names to adapt, or `all_linear`")
    modules_to_save: list[str] = Field([], description="modules trained in full beside the adapter")


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
        [],
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
    architecture: Literal["llama", "qwen2", "mistral", "gpt2"] = Field(
        "llama", description="model family: qwen2 is llama with q/k/v biases, mistral adds a sliding window"
    )
    hidden_size: int = Field(256, ge=8, le=65536, description="width of the residual stream")
    layers: int = Field(4, ge=1, le=1024, description="transformer blocks")
    heads: int = Field(4, ge=1, le=1024, description="attention heads")
    kv_heads: int | None = Field(
        None, ge=1, le=1024, description="key/value heads (not gpt2; fewer than `heads` is grouped-query attention)"
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
