"""Training memory per device, by component, from a model's dimensions and the plan's choices.

Pure arithmetic, no torch. Weights, gradients and optimizer state follow the ZeRO paper's accounting (Rajbhandari et
al. 2020) as PyTorch, Accelerate, peft and bitsandbytes lay them out. Activations follow Korthikanti et al. 2022
("Reducing Activation Recomputation in Large Transformer Models"), redone for what a Hugging Face Llama-style layer
under SDPA keeps for backward; `bench/memory.py` checks the figures against measured training steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

from ..inputs.modelinfo import ModelDims, layer_linears, parameter_count, parameter_shapes
from .activations import activations as step_activations
from .precision import DTYPES
from .state import FULL_KINDS, SHARDED, device_state

LORA_KINDS = {"lora", "qlora", "adalora"}  # adapters with the LoRA layout: rank x (in + out) per target
PEFT_DEFAULT_FRACTION = 0.01  # trainable share assumed for other PEFT kinds (ia3, lokr) when the caller gives none
# peft's default LoRA targets for Llama-style models, and what `all_linear` expands to.
DEFAULT_TARGETS = ("q_proj", "v_proj")
ALL_LINEAR = {"all_linear", "all-linear"}
# Kept free on every device: the CUDA context (~0.5 GiB), allocator fragmentation, and what the
# estimate does not count (communication buffers, kernels' workspaces beyond cuBLAS's).
MARGIN = 0.10


def usable(device_memory: float | None) -> float | None:
    """What a plan may use of a device's memory: all of it less the margin."""
    return device_memory * (1 - MARGIN) if device_memory else None


DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Modules peft can train in full beside an adapter (`modules_to_save`), by the name peft matches, and what they hold.
EMBEDDINGS, HEADS = {"embed_tokens", "wte", "word_embeddings", "embeddings"}, {"lm_head", "embed_out"}
CLASSIFIERS = {"score", "classifier"}  # peft adds these to `modules_to_save` for a classifier (task SEQ_CLS)


@dataclass(frozen=True)
class MemorySettings:
    """The choices one device's training memory depends on besides the model's dimensions, as the script applies them.

    A caller builds one for what it plans (ftspec.planner.fit from a plan, ftspec.suggest for a catalog entry,
    bench/memory.py for a measured case) and hands it to `estimate` with the model's `ModelDims`.
    """

    strategy: str
    micro_batch: int  # sequences per device and step: a preference batch counts both of each pair
    seq_len: int
    precision: str
    optimizer: str
    gradient_checkpointing: bool
    shard: str = "none"  # none, ddp, fsdp, zero2 or zero3
    processes: int = 1
    lora_rank: int | None = None  # None: peft's default, 8
    lora_targets: str | Sequence[str] | None = None  # None: peft's defaults for Llama; `all_linear`; names
    quant_bits: int | None = None  # None: 4 for qlora, no quantization otherwise
    trainable_fraction: float | None = None  # full fine-tuning of a share of the weights; the share of other PEFT kinds
    lora_dropout: float = 0.05
    double_quant: bool = True
    attention_mask: bool = True  # False for unpadded rows: transformers then passes no mask and SDPA runs causal
    accelerator: str = "cuda"
    # The dtype the base loads in (None: fp32 masters for full fine-tuning, the compute dtype for a frozen base).
    weight_dtype: str | None = None
    modules_to_save: Sequence[str] | None = ()
    num_labels: int | None = None  # makes a decoder a classifier, whose head has that many outputs
    loss_chunk: int = 0
    # `optimizer` moves the optimizer state, `all` the sharded model state too, to host memory; the device then keeps
    # only the layers being computed.
    offload: str = "none"
    offload_activations: bool = False
    attention: str = "sdpa"
    # A frozen copy of the weights (a preference objective's reference model under full fine-tuning), on the device.
    reference_copy: bool = False


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
    dtypes: tuple[tuple[str, str], ...] = ()  # the precision of master weights, gradients and optimizer state
    host: int = 0  # bytes one process keeps in host memory instead: offloaded model state and activations
    reference: int = 0  # a frozen copy of the weights: a preference objective's reference model

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.adapters + self.activations + self.reference


def _targets(dims: ModelDims, lora_targets) -> list[tuple[str, str, int, int]]:
    """The per-layer linears a LoRA-family adapter wraps (peft matches module names by suffix)."""
    linears = layer_linears(dims)
    if lora_targets is None:
        lora_targets = DEFAULT_TARGETS
    if isinstance(lora_targets, str):
        lora_targets = [name for name, *_ in linears] if lora_targets in ALL_LINEAR else [lora_targets]
    return [linear for linear in linears if linear[0] in set(lora_targets)]


def _saved_modules(dims: ModelDims, names, classifier: int | None) -> list[tuple[int, ...]]:
    """Shapes of the modules peft copies and trains in full beside an adapter (`modules_to_save`, a classifier head).

    Names are matched as peft matches them, by the module's own name; names of other modules are not counted.
    """
    h, v, names = dims.hidden_size, dims.vocab_size, set(names or ())
    shapes = [(v, h)] if names & EMBEDDINGS else []
    if names & HEADS and dims.kind == "decoder" and not classifier:
        shapes.append((v, h))
    if classifier:
        shapes.append((classifier, h))  # peft saves a classifier's new head whatever the spec lists
    return shapes


def state_dtypes(
    strategy: str, precision: str, optimizer: str, weight_dtype: str | None = None, saved_modules: bool = False
) -> dict[str, str]:
    """The precision the trained weights, their gradients and the optimizer state are kept in, as the script does.

    Trained weights keep the dtype they load in (`base.dtype`; fp32 masters unless it says otherwise), gradients
    follow them, and torch's AdamW and SGD keep their state in the parameter's dtype. peft's adapters are fp32 over
    any base; the modules it trains beside them (`modules_to_save`) are copies in the base's dtype.
    """
    sixteen = DTYPES.get(precision, "16-bit")
    full = strategy in FULL_KINDS
    stored = weight_dtype or ("float32" if full or precision == "fp32" else sixteen)
    if strategy == "qlora":
        stored = "float32"  # prepare_model_for_kbit_training upcasts what is not quantized
    weights = stored if full else "float32 adapters" + (f", {stored} modules_to_save" if saved_modules else "")
    states = {
        "adamw_8bit": "8-bit blocks (float32 for tensors under 4,096 values)",
        "adafactor": "float32 (factored second moments)",
    }
    states["paged_adamw_8bit"] = states["adamw_8bit"]
    states["paged_adamw_32bit"] = "float32 (paged: may spill to host memory)"
    return {"master_weights": weights, "gradients": weights, "optimizer_state": states.get(optimizer, weights)}


def _trainable(dims, strategy, base, stored, classifier, saved, rank, targets, fraction) -> tuple[list, int, int]:
    """The trainable tensors as (shape, bytes per value), how many parameters train, and how many are adapters."""
    h, layers = dims.hidden_size, dims.num_hidden_layers
    adapter_shapes = [shape for _, _, n_in, n_out in targets for shape in ((rank, n_in), (n_out, rank))] * layers
    if strategy == "loha":
        adapter_shapes *= 2  # two Hadamard-multiplied low-rank pairs per target
    if strategy in FULL_KINDS:
        shapes = [(shape, stored) for kind, shape in parameter_shapes(dims) if not (classifier and kind == "lm_head")]
        shapes += [((classifier, h), stored)] if classifier else []
        trainable = round(base * fraction) if fraction is not None else base
    elif adapter_shapes:
        shapes = [(shape, 4) for shape in adapter_shapes]
        trainable = sum(prod(shape) for shape in adapter_shapes)
    else:
        trainable = round(base * (fraction if fraction is not None else PEFT_DEFAULT_FRACTION))
        shapes = [((trainable,), 4)]
    adapter_only = 0 if strategy in FULL_KINDS else trainable
    return shapes + saved, trainable + sum(prod(shape) for shape, _ in saved), adapter_only


def _number_formats(full: bool, precision: str, weight_dtype: str | None, quant_bits: int | None) -> tuple:
    """Whether training is mixed precision, the bytes of a stored weight, and the activations' byte widths."""
    mixed = precision != "fp32"  # `auto` plans for a GPU, which picks bf16 or fp16
    stored = DTYPE_BYTES.get(weight_dtype or "") or (4 if full or not mixed else 2)
    c = 2 if mixed or stored == 2 else 4  # 16-bit weights compute in 16 bits, with autocast or without
    # fp32 weights keep the residual stream fp32 under autocast (norms return their weight's dtype); peft's
    # prepare_model_for_kbit_training upcasts a quantized model's norms and embeddings to fp32 too.
    residual = 4 if quant_bits or stored == 4 else 2
    # bitsandbytes layers return their input's dtype, so a quantized model's MLP runs in fp32 between matmuls.
    return mixed, stored, {"compute": c, "mixed": mixed, "residual": residual, "elementwise": 4 if quant_bits else c}


def _sizes(dims: ModelDims, num_labels: int | None) -> tuple:
    """A decoder classifier's label count (else None), the output head's width, the parameters, the head's weight."""
    classifier = num_labels if num_labels and dims.kind == "decoder" else None
    h, outputs = dims.hidden_size, classifier or dims.vocab_size
    base = parameter_count(dims)
    if classifier:  # AutoModelForSequenceClassification: a head of `num_labels` rows instead of the vocabulary's
        base += classifier * h - (0 if dims.tie_word_embeddings else dims.vocab_size * h)
    head = h * outputs if dims.kind == "decoder" else 0  # the output head's weight, tied or not
    return classifier, outputs, base, head


@dataclass(frozen=True)
class _Parameters:
    """What trains and how it is stored: the dimensions and the settings resolved once for every component."""

    full: bool
    quant_bits: int | None
    mixed: bool
    stored: int  # bytes of a stored weight
    types: dict  # the activations' byte widths (`_number_formats`)
    classifier: int | None
    outputs: int
    base: int
    head: int
    rank: int
    targets: list
    saved: list  # shapes of `modules_to_save` (and a classifier's head)
    saved_bytes: int
    shapes: list
    trainable: int
    adapter_only: int

    @property
    def adapter_params(self) -> int:
        return 0 if self.full else self.trainable


def _parameters(dims: ModelDims, s: MemorySettings) -> _Parameters:
    """The trained and frozen parameters of ``dims`` under ``s``, and the byte widths they are kept in."""
    full = s.strategy in FULL_KINDS
    quant_bits = 4 if s.strategy == "qlora" and s.quant_bits is None else s.quant_bits
    mixed, stored, types = _number_formats(full, s.precision, s.weight_dtype, quant_bits)
    classifier, outputs, base, head = _sizes(dims, s.num_labels)
    rank = s.lora_rank or 8
    targets = _targets(dims, s.lora_targets) if s.strategy in LORA_KINDS or s.strategy == "loha" else []
    saved = [] if full else _saved_modules(dims, s.modules_to_save, classifier)
    saved_bytes = 4 if quant_bits else stored
    kept = [(shape, saved_bytes) for shape in saved]
    shapes, trainable, adapter_only = _trainable(
        dims, s.strategy, base, stored, classifier, kept, rank, targets, s.trainable_fraction
    )
    return _Parameters(
        full=full,
        quant_bits=quant_bits,
        mixed=mixed,
        stored=stored,
        types=types,
        classifier=classifier,
        outputs=outputs,
        base=base,
        head=head,
        rank=rank,
        targets=targets,
        saved=saved,
        saved_bytes=saved_bytes,
        shapes=shapes,
        trainable=trainable,
        adapter_only=adapter_only,
    )


def _resident(dims: ModelDims, s: MemorySettings, p: _Parameters) -> dict[str, float]:
    """The weights, adapters, gradients and optimizer state one device holds through a step (`device_state`)."""
    saved = (p.adapter_params - p.adapter_only, p.saved_bytes)  # the parameters of `modules_to_save`, their bytes
    fraction = p.trainable / p.base if p.full else 1.0  # the share of the optimizer state a device keeps
    return device_state(
        dims,
        s.strategy,
        formats=(p.mixed, p.stored, p.types["compute"], p.quant_bits, s.double_quant),
        trained=(p.base, p.head, p.shapes, p.trainable, p.adapter_only, saved, fraction),
        optimizer=s.optimizer,
        on_cuda=s.accelerator == "cuda",
        shard=s.shard,
        processes=s.processes,
        offload=s.offload,
    )


def _activations(dims: ModelDims, s: MemorySettings, p: _Parameters, state: dict) -> tuple:
    """What the step keeps for backward, the loss's share, the step's phases and the host's share (`activations`)."""
    embeddings = bool(set(s.modules_to_save or ()) & EMBEDDINGS)
    trained_head = bool(p.classifier or len(p.saved) > (1 if embeddings else 0))
    frozen_copies = state["frozen_copies"]
    return step_activations(
        dims,
        p.types,
        full=p.full,
        micro_batch=s.micro_batch,
        seq_len=s.seq_len,
        outputs=p.outputs,
        classifier=bool(p.classifier),
        targets=p.targets,
        rank=p.rank,
        dropout=(1 if s.accelerator == "cuda" else 4) if s.lora_dropout and p.targets else 0,  # CUDA: a bool mask
        checkpointing=s.gradient_checkpointing,
        attention_mask=s.attention_mask,
        accelerator=s.accelerator,
        frozen_copies=(frozen_copies, 2 * p.head if frozen_copies else 0),
        trained=(trained_head, embeddings),
        copies=state["copies"],
        gradients=state["gradients"],
        loss_chunk=s.loss_chunk,
        sharded=s.shard in SHARDED,
        offload=s.offload_activations,
        attention=s.attention,
    )


def _reference(dims: ModelDims, s: MemorySettings, p: _Parameters, state: dict) -> tuple[float, float]:
    """A frozen reference copy's weights, and what its forward holds at its peak (0, 0 without one).

    The copy sits beside the trained weights for the whole run (no autocast copies: autocast caches only weights that
    train). Its forward runs without grad before the model's: the hidden states it returns (every layer's) and one
    layer's intermediates, then freed.
    """
    if not s.reference_copy:
        return 0, 0
    layers = dims.num_hidden_layers
    return state["sharded_weights"], (layers + 2) * s.micro_batch * s.seq_len * dims.hidden_size * p.types["residual"]


def estimate(dims: ModelDims, settings: MemorySettings) -> MemoryEstimate:
    """Per-device training memory of one micro-batch step of ``dims`` under ``settings``, by component, with the
    allocator's peak.

    >>> llama_2_7b = ModelDims("llama", 4096, 32, 32, 32, 11008, 32000, 4096, tie_word_embeddings=False)
    >>> lora = MemorySettings("lora", 1, 512, "bf16", "adamw", False, lora_rank=16, lora_targets="all_linear")
    >>> estimate(llama_2_7b, lora).trainable_params  # what peft prints for r=16 on every linear layer
    39976960
    """
    s, p = settings, _parameters(dims, settings)
    state = _resident(dims, s, p)
    activations, logits, phases, host_activations = _activations(dims, s, p, state)
    reference, reference_forward = _reference(dims, s, p, state)
    resident = state["weights"] + state["adapters"] + state["adapter_copies"] + state["optimizer"] + reference
    # cuBLAS and cuBLASLt keep 32 MiB workspaces each in PyTorch's allocator on Hopper (H200, torch 2.11).
    workspaces = 64 * 2**20 if s.accelerator == "cuda" else 0
    peak = resident + max(*phases, state["gradients"] + state["step"], reference_forward) + workspaces
    known_dtype = s.weight_dtype if s.weight_dtype in DTYPE_BYTES else None
    dtypes = state_dtypes(s.strategy, s.precision, s.optimizer, known_dtype, bool(p.saved))
    return MemoryEstimate(
        weights=round(state["weights"] + state["copies"]),
        gradients=round(state["gradients"]),
        optimizer=round(state["optimizer"]),
        adapters=round(state["adapters"] + state["adapter_copies"]),
        activations=round(activations),
        logits=round(logits),
        peak=round(peak),
        trainable_params=p.trainable,
        total_params=p.base + p.adapter_params,
        dtypes=tuple(dtypes.items()),
        host=round(state["host"] + host_activations),
        reference=round(reference),
    )
