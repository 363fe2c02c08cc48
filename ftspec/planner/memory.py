"""Training memory per device, by component, from a model's dimensions and the plan's choices.

Pure arithmetic, no torch. Weights, gradients and optimizer state follow the ZeRO paper's accounting (Rajbhandari et
al. 2020) as PyTorch, Accelerate, peft and bitsandbytes lay them out. Activations follow Korthikanti et al. 2022
("Reducing Activation Recomputation in Large Transformer Models"), redone for what a Hugging Face Llama-style layer
under SDPA keeps for backward; `bench/memory.py` checks the figures against measured training steps.
"""

from __future__ import annotations

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
    weight_dtype: str | None = None,
    modules_to_save=(),
    num_labels: int | None = None,
    loss_chunk: int = 0,
    offload: str = "none",
    offload_activations: bool = False,
    attention: str = "sdpa",
    reference_copy: bool = False,
) -> MemoryEstimate:
    """Per-device training memory of one micro-batch step, by component, with the allocator's peak.

    ``weight_dtype`` is the dtype the base loads in (None: fp32 masters for full fine-tuning, the compute dtype for a
    frozen base); ``num_labels`` makes a decoder a classifier, whose head has that many outputs. ``offload`` moves
    the `optimizer` state, or `all` of the sharded model state, to host memory (`host`); the device then keeps only
    the layers being computed (`all`). ``reference_copy`` adds a frozen copy of the weights (a preference
    objective's reference model under full fine-tuning), which stays on the device.
    """
    full = strategy in FULL_KINDS
    if strategy == "qlora" and quant_bits is None:
        quant_bits = 4
    mixed, stored, types = _number_formats(full, precision, weight_dtype, quant_bits)
    classifier, outputs, base, head = _sizes(dims, num_labels)
    layers, rank = dims.num_hidden_layers, lora_rank or 8
    targets = _targets(dims, lora_targets) if strategy in LORA_KINDS or strategy == "loha" else []
    saved = [] if full else _saved_modules(dims, modules_to_save, classifier)
    saved_bytes = 4 if quant_bits else stored
    shapes, trainable, adapter_only = _trainable(
        dims, strategy, base, stored, classifier, [(s, saved_bytes) for s in saved], rank, targets, trainable_fraction
    )
    adapter_params = 0 if full else trainable
    fraction = trainable / base if full else 1.0

    on_cuda = accelerator == "cuda"
    state = device_state(
        dims,
        strategy,
        formats=(mixed, stored, types["compute"], quant_bits, double_quant),
        trained=(base, head, shapes, trainable, adapter_only, (adapter_params - adapter_only, saved_bytes), fraction),
        optimizer=optimizer,
        on_cuda=on_cuda,
        shard=shard,
        processes=processes,
        offload=offload,
    )
    weights, copies, adapters, gradients = state["weights"], state["copies"], state["adapters"], state["gradients"]
    optimizer_bytes, step, host, frozen_copies = (
        state["optimizer"],
        state["step"],
        state["host"],
        state["frozen_copies"],
    )
    adapter_copies = state["adapter_copies"]
    # A frozen reference copy sits beside the trained weights for the whole run (no autocast copies: autocast caches
    # only weights that train). Its forward runs without grad before the model's: the hidden states it returns
    # (every layer's) and one layer's intermediates, then freed.
    reference = state["sharded_weights"] if reference_copy else 0
    hidden_states = (layers + 2) * micro_batch * seq_len * dims.hidden_size * types["residual"]
    reference_forward = hidden_states if reference_copy else 0

    resident = weights + adapters + adapter_copies + optimizer_bytes + reference
    trained_head = bool(classifier or len(saved) > (1 if set(modules_to_save or ()) & EMBEDDINGS else 0))
    activations, logits, phases, host_activations = step_activations(
        dims,
        types,
        full=full,
        micro_batch=micro_batch,
        seq_len=seq_len,
        outputs=outputs,
        classifier=bool(classifier),
        targets=targets,
        rank=rank,
        dropout=(1 if on_cuda else 4) if lora_dropout and targets else 0,  # CUDA: a bool mask
        checkpointing=gradient_checkpointing,
        attention_mask=attention_mask,
        accelerator=accelerator,
        frozen_copies=(frozen_copies, 2 * head if frozen_copies else 0),
        trained=(trained_head, bool(set(modules_to_save or ()) & EMBEDDINGS)),
        copies=copies,
        gradients=gradients,
        loss_chunk=loss_chunk,
        sharded=shard in SHARDED,
        offload=offload_activations,
        attention=attention,
    )
    known_dtype = weight_dtype if weight_dtype in DTYPE_BYTES else None
    # cuBLAS and cuBLASLt keep 32 MiB workspaces each in PyTorch's allocator on Hopper (H200, torch 2.11).
    peak = resident + max(*phases, gradients + step, reference_forward) + (64 * 2**20 if on_cuda else 0)
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
        dtypes=tuple(state_dtypes(strategy, precision, optimizer, known_dtype, bool(saved)).items()),
        host=round(host + host_activations),
        reference=round(reference),
    )
