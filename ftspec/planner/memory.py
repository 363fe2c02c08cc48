"""Training memory per device, by component, from a model's dimensions and the plan's choices.

Pure arithmetic, no torch. Weights, gradients and optimizer state follow the ZeRO paper's accounting (Rajbhandari et
al. 2020) as PyTorch, Accelerate, peft and bitsandbytes lay them out. Activations follow Korthikanti et al. 2022
("Reducing Activation Recomputation in Large Transformer Models"), redone for what a Hugging Face Llama-style layer
under SDPA keeps for backward; `bench/memory.py` checks the figures against measured training steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, prod

from ..inputs.modelinfo import ModelDims, layer_linears, parameter_count, parameter_shapes

FULL_KINDS = {"full", "scratch"}
LORA_KINDS = {"lora", "qlora", "adalora"}  # adapters with the LoRA layout: rank x (in + out) per target
PEFT_DEFAULT_FRACTION = 0.01  # trainable share assumed for other PEFT kinds (ia3, lokr) when the caller gives none
# peft's default LoRA targets for Llama-style models, and what `all_linear` expands to.
DEFAULT_TARGETS = ("q_proj", "v_proj")
ALL_LINEAR = {"all_linear", "all-linear"}
SHARDED = ("fsdp", "zero3")  # weights, gradients and optimizer state split over the processes
PARTITIONED = ("fsdp", "zero2", "zero3")  # at least gradients and optimizer state split
# Kept free on every device: the CUDA context (~0.5 GiB), allocator fragmentation, and what the
# estimate does not count (communication buffers, kernels' workspaces beyond cuBLAS's).
MARGIN = 0.10


def usable(device_memory: float | None) -> float | None:
    """What a plan may use of a device's memory: all of it less the margin."""
    return device_memory * (1 - MARGIN) if device_memory else None


# bitsandbytes 4-bit: two values per byte, one absmax per 64-weight block, stored as fp32 (4 B) or, with double
# quantization, as one byte plus one fp32 second-level constant per 256 blocks (Dettmers et al. 2023, section 3).
NF4_BLOCK, NF4_BLOCK2 = 64, 256
# bitsandbytes 8-bit optimizers: one byte per moment, an fp32 absmax per 256-value block; tensors under 4096 values
# keep 32-bit moments (`min_8bit_size`).
OPT8_BLOCK, OPT8_MIN = 256, 4096


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device for each part of the training state; `logits` is the share of `activations` the loss takes.

    `total` adds every component as if all were resident at once (an upper bound on one step's state); `peak` follows
    the phases of a step, and is what a GPU's allocator reports as its maximum.
    """

    weights: int
    gradients: int
    optimizer: int
    adapters: int
    activations: int
    logits: int
    peak: int  # the allocator's high-water mark: components resident together only in turns
    trainable_params: int
    total_params: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.adapters + self.activations


def _targets(dims: ModelDims, lora_targets) -> list[tuple[str, str, int, int]]:
    """The per-layer linears a LoRA-family adapter wraps (peft matches module names by suffix)."""
    linears = layer_linears(dims)
    if lora_targets is None:
        lora_targets = DEFAULT_TARGETS
    if isinstance(lora_targets, str):
        lora_targets = [name for name, *_ in linears] if lora_targets in ALL_LINEAR else [lora_targets]
    return [linear for linear in linears if linear[0] in set(lora_targets)]


def _optimizer_bytes(optimizer: str, shapes: list[tuple[int, ...]]) -> int:
    """State bytes for the trainable tensors of ``shapes``."""
    total = 0
    for shape in shapes:
        n = prod(shape)
        if optimizer in ("adamw_8bit", "paged_adamw_8bit"):
            # Paged state can spill to host memory under pressure; it is counted here as resident.
            total += 8 * n if n < OPT8_MIN else 2 * n + 2 * 4 * ceil(n / OPT8_BLOCK)
        elif optimizer == "adafactor":
            # transformers' Adafactor (no first moment by default) factors a matrix's second moment into fp32 row and
            # column statistics; vectors keep a full fp32 second moment.
            total += 4 * (shape[0] + shape[1]) if len(shape) >= 2 else 4 * n
        elif optimizer == "sgd":
            total += 4 * n  # the fp32 momentum buffer (the generated script uses momentum 0.9)
        else:
            total += 8 * n  # AdamW: fp32 first and second moments
    return total


def _quantized_bytes(fan_in: int, fan_out: int, bits: int, double_quant: bool) -> float:
    """Bytes of one bitsandbytes-quantized linear layer's weight and constants."""
    n = fan_in * fan_out
    if bits == 8:
        return n + 4 * fan_out  # LLM.int8: int8 weights and an fp32 scale per output row
    constants = n / NF4_BLOCK * (1 + 4 / NF4_BLOCK2 if double_quant else 4)
    return n / 2 + constants


def _layer_activations(dims, t: dict, full: bool, targets: set, rank: int, dropout_bytes: int) -> float:
    """Bytes one decoder layer keeps for backward, per token."""
    h, i, heads = dims.hidden_size, dims.intermediate_size, dims.num_attention_heads
    c, mixed, residual, elementwise = t["compute"], t["mixed"], t["residual"], t["elementwise"]
    q = heads * dims.attention_head_dim
    # With a mask (or on the math kernel), k and v are repeated to every head: GQA inside SDPA needs a mask-free call.
    repeated = t["mask"] or t["math"] or dims.family != "llama"
    kv = q if repeated else dims.num_key_value_heads * dims.attention_head_dim
    # RMSNorm upcasts to fp32 and keeps that input plus 1/rms per token; a trained norm weight also keeps the
    # normalised input it multiplies.
    total = 2 * (4 * h + 4 + (residual * h if full else 0))
    # SDPA (flash or memory-efficient kernels) keeps q, k, v, its output and an fp32 logsumexp per head, no s x s
    # scores; a boolean mask is converted to an additive one in the compute dtype, which each layer keeps. CUDA has
    # no fp32 flash kernel and its memory-efficient one takes no GQA, so fp32 GQA falls to the math kernel, which
    # keeps the fp32 attention probabilities (s x s per head).
    mask, scores = c * t["seq"] if t["mask"] else 0, 4 * heads * t["seq"] if t["math"] else 0
    total += c * (2 * q + 2 * kv) + 4 * heads + mask + scores
    # SiLU keeps its input and the gate product both factors; GELU MLPs keep only the activation's input.
    gated = dims.family == "llama"
    total += (3 if gated else 1) * elementwise * i
    # Inputs the linears keep for their weight gradients, grouped by the tensor they read.
    roles = {role for _name, role, *_ in layer_linears(dims)}
    groups = [({"q", "k", "v", "qkv"}, h, residual, False), ({"o"}, q, c, True)]
    groups += [({"gate", "up"}, h, residual, False), ({"down"}, i, elementwise, False)]
    for readers, width, dtype_bytes, saved in groups:
        readers &= roles
        lora = len(readers & targets)
        if full:
            # Under autocast each linear casts an fp32 input to its own 16-bit copy; otherwise they share one.
            total += len(readers) * c * width if mixed and dtype_bytes == 4 else (0 if saved else dtype_bytes * width)
        elif lora:
            if dropout_bytes or mixed:
                # Each adapter applies its own dropout (keeping output and mask) or its own cast to 16 bits.
                total += lora * width * (c + dropout_bytes)
            elif not saved:
                total += 4 * width
            total += lora * rank * c  # lora_B keeps lora_A's output
    return total


def _loss_bytes(tokens: int, micro_batch: int, vocab: int, h: int, types: dict, loss_chunk: int) -> tuple[int, ...]:
    """The causal loss's bytes: (alive at the forward's end, the head's output then, held in backward through it).

    All positions at once: logits in the compute dtype, cross-entropy's fp32 log-softmax, and the fp32 copy the
    generated script's `logits[:, :-1].flatten(0, 1).float()` makes unless it is a view (one fp32 sequence); backward
    holds the log-softmax, its incoming gradient and its result, three fp32 logits. In chunks of `loss_chunk`
    positions (the head under torch.utils.checkpoint): one chunk's logits at a time, beside what stays for the whole
    step, the head's input copied without the last position, each position's loss and the last position's logits
    the model still computes.
    """
    c, mixed = types["compute"], types["mixed"]
    if not loss_chunk:
        head_output = tokens * vocab * c
        logits = head_output + tokens * vocab * (4 + (4 if micro_batch > 1 or mixed else 0))
        return logits, head_output, tokens * vocab * 12
    chunk = min(loss_chunk, tokens)
    kept = tokens * (types["residual"] * h + 4) + micro_batch * vocab * c
    return kept + chunk * vocab * (c + 4 + (4 if mixed else 0)), kept, kept + chunk * vocab * 12


def estimate(
    dims: ModelDims,
    *,
    strategy: str,
    micro_batch: int,
    seq_len: int,
    precision: str,
    optimizer: str,
    gradient_checkpointing: bool,
    shard: str = "none",
    processes: int = 1,
    lora_rank: int | None = None,
    lora_targets=None,
    quant_bits: int | None = None,
    trainable_fraction: float | None = None,
    lora_dropout: float = 0.05,
    double_quant: bool = True,
    attention_mask: bool = True,
    accelerator: str = "cuda",
    loss_chunk: int = 0,
) -> MemoryEstimate:
    """Per-device training memory of one micro-batch step, by component, with the allocator's peak."""
    full = strategy in FULL_KINDS
    if strategy == "qlora" and quant_bits is None:
        quant_bits = 4
    mixed = precision != "fp32"  # `auto` plans for a GPU, which picks bf16 or fp16
    c = 2 if mixed else 4
    # Full fine-tuning keeps fp32 master weights, so the residual stream stays fp32 under autocast; peft's
    # prepare_model_for_kbit_training upcasts a quantized model's norms and embeddings to fp32 too.
    residual = 4 if full or quant_bits or not mixed else c
    # bitsandbytes layers return their input's dtype, so a quantized model's MLP runs in fp32 between matmuls.
    types = {"compute": c, "mixed": mixed, "residual": residual, "elementwise": 4 if quant_bits or not mixed else c}
    layers, h, vocab = dims.num_hidden_layers, dims.hidden_size, dims.vocab_size
    base, linears = parameter_count(dims), layer_linears(dims)
    head = h * vocab if dims.kind == "decoder" else 0  # the output head's weight, tied or not

    rank = lora_rank or 8
    targets = _targets(dims, lora_targets) if strategy in LORA_KINDS or strategy == "loha" else []
    adapter_shapes = [shape for _, _, n_in, n_out in targets for shape in ((rank, n_in), (n_out, rank))] * layers
    if strategy == "loha":
        adapter_shapes *= 2  # two Hadamard-multiplied low-rank pairs per target
    if full:
        trainable_shapes = [shape for _kind, shape in parameter_shapes(dims)]
        trainable = round(base * trainable_fraction) if trainable_fraction is not None else base
    elif adapter_shapes:
        trainable_shapes = adapter_shapes
        trainable = sum(prod(shape) for shape in adapter_shapes)
    else:
        trainable = round(base * (trainable_fraction if trainable_fraction is not None else PEFT_DEFAULT_FRACTION))
        trainable_shapes = [(trainable,)]
    adapter_params = 0 if full else trainable
    fraction = trainable / base if full else 1.0

    # Weights: fp32 masters for full fine-tuning plus the 16-bit copies autocast makes for every matmul (the "6 bytes
    # per parameter" of mixed precision); a frozen base loads in the compute dtype; bitsandbytes leaves embeddings,
    # norms and the output head unquantized (fp32 after prepare_model_for_kbit_training), and the head's matmul
    # then keeps a 16-bit copy of it. peft keeps adapters in fp32, cast for each matmul under autocast.
    layer_linear_params = layers * sum(n_in * n_out for _, _, n_in, n_out in linears)
    copies = 2 * (layer_linear_params + head if full else head if quant_bits else 0) if mixed else 0
    if full:
        weights = 4 * base
    elif quant_bits:
        quantized = layers * sum(_quantized_bytes(n_in, n_out, quant_bits, double_quant) for *_, n_in, n_out in linears)
        weights = quantized + 4 * (base - layer_linear_params)
    else:
        weights = base * c
    adapters, adapter_copies = 4 * adapter_params, 2 * adapter_params if mixed else 0
    gradients = 4 * trainable  # fp32 gradients of fp32 trainable weights
    optimizer_bytes = _optimizer_bytes(optimizer, trainable_shapes) * fraction
    largest = max(prod(shape) for shape in trainable_shapes)
    # The step's temporaries: foreach AdamW (CUDA) takes the square root of every second moment at once, the
    # single-tensor loop (CPU) one tensor's. Adafactor holds grad**2 + eps and the factored estimate of one tensor at
    # once, and on CUDA a third tensor-sized buffer (measured for a 32000 x 512 embedding; 2048 columns showed two).
    # SGD and the 8-bit kernels work in place.
    on_cuda = accelerator == "cuda"
    step = {"adamw": 4 * (trainable if on_cuda else largest), "adafactor": (12 if on_cuda else 8) * largest}
    step = step.get(optimizer, 0)
    if shard in PARTITIONED:
        gradients, optimizer_bytes, step = gradients / processes, optimizer_bytes / processes, step / processes
    if shard in SHARDED:
        # Sharded fp32 weights (FSDP's layout, not DeepSpeed's 16-bit ones) plus the layer being computed and the one
        # prefetched, gathered in the compute dtype; the gathered layers replace autocast's copies.
        gathered = 2 * layer_linear_params / layers * c
        weights, adapters, copies = weights / processes + gathered, adapters / processes, 0
    elif shard == "ddp" and processes > 1:
        gradients *= 2  # DDP's reducer copies gradients into communication buckets of the same total size

    # Activations: what each layer keeps for backward, the tail (final norm, head input, labels, RoPE tables), and
    # the loss (`_loss_bytes`).
    tokens = micro_batch * seq_len
    dropout_bytes = (1 if accelerator == "cuda" else 4) if lora_dropout and targets else 0  # CUDA: a bool mask
    target_roles = {role for _name, role, *_ in targets}
    gqa = dims.family == "llama" and dims.num_key_value_heads < dims.num_attention_heads
    math = accelerator == "cuda" and not mixed and gqa and not attention_mask
    types |= {"seq": seq_len, "mask": attention_mask, "math": math}
    layer = tokens * _layer_activations(dims, types, full, target_roles, rank, dropout_bytes)
    tail, logits, head_output, loss_backward = tokens * (8 + 2 * dims.attention_head_dim * residual), 0, 0, 0
    if dims.kind == "decoder":
        tail += tokens * (4 * h + 4 + (residual * h if full else 0))
        if full:
            tail += tokens * (8 + c * h)  # token ids for the embedding gradient; the head's input
        logits, head_output, loss_backward = _loss_bytes(tokens, micro_batch, vocab, h, types, loss_chunk)
    tail += micro_batch * seq_len * seq_len if attention_mask else 0  # the boolean mask the model builds, once
    # A step's phases, each on top of the resident weights and optimizer state: the forward's end, backward through
    # the loss, the end of backward, and the optimizer step.
    if gradient_checkpointing:
        # Only each layer's input is kept; backward recomputes one layer at a time after the loss has been freed, and
        # autocast's weight copies die with the forward, before the fp32 loss.
        kept = tokens * layers * residual * h
        activations = kept + max(layer, tail + logits)
        phases = [copies + kept + tail + head_output, kept + tail + loss_backward, kept + layer + gradients]
    else:
        kept = layers * layer
        if not full:
            # Frozen embeddings: the first layer's input needs no gradient, so its norm keeps nothing and its q/k/v
            # dropouts keep no mask (with checkpointing the generated script makes the input require grad).
            kept -= tokens * (4 * h + 4 + len(target_roles & {"q", "k", "v", "qkv"}) * h * dropout_bytes)
        activations = kept + tail + logits
        phases = [copies + activations, copies + kept + tail + loss_backward, gradients]
    # cuBLAS and cuBLASLt keep 32 MiB workspaces each in PyTorch's allocator on Hopper (H200, torch 2.11).
    resident = weights + adapters + adapter_copies + optimizer_bytes
    peak = resident + max(*phases, gradients + step) + (64 * 2**20 if accelerator == "cuda" else 0)
    return MemoryEstimate(
        weights=round(weights + copies),
        gradients=round(gradients),
        optimizer=round(optimizer_bytes),
        adapters=round(adapters + adapter_copies),
        activations=round(activations),
        logits=round(logits),
        peak=round(peak),
        trainable_params=trainable,
        total_params=base + adapter_params,
    )
