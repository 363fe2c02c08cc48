"""The resident training state of one device: weights, adapters, gradients and optimizer state, as sharding and
offload leave them. Part of `memory.estimate`, which adds the activations."""

from __future__ import annotations

from math import ceil, prod

from ..inputs.modelinfo import ModelDims, layer_linears

FULL_KINDS = {"full", "scratch"}
SHARDED = ("fsdp", "zero3")  # weights, gradients and optimizer state split over the processes
PARTITIONED = ("fsdp", "zero2", "zero3")  # at least gradients and optimizer state split
# bitsandbytes 4-bit: two values per byte, one absmax per 64-weight block, stored as fp32 (4 B) or, with double
# quantization, as one byte plus one fp32 second-level constant per 256 blocks (Dettmers et al. 2023, section 3).
NF4_BLOCK, NF4_BLOCK2 = 64, 256
# bitsandbytes 8-bit optimizers: one byte per moment, an fp32 absmax per 256-value block; tensors under 4096 values
# keep 32-bit moments (`min_8bit_size`).
OPT8_BLOCK, OPT8_MIN = 256, 4096


def device_state(
    dims: ModelDims,
    strategy: str,
    *,
    formats: tuple,
    trained: tuple,
    optimizer: str,
    on_cuda: bool,
    shard: str,
    processes: int,
    offload: str,
) -> dict[str, float]:
    """Bytes one device holds through a step, before activations.

    ``formats`` is (mixed precision, bytes of a stored weight, the compute dtype's bytes, quantization bits, double
    quantization); ``trained`` is (parameters, the output head's weight, the trainable tensors as (shape, bytes),
    trainable parameters, adapter parameters, the parameters of `modules_to_save` and their bytes, the share of the
    optimizer state a device keeps).
    """
    mixed, stored, compute, quant_bits, double_quant = formats
    base, head, shapes, trainable, adapter_only, (saved, saved_bytes), fraction = trained
    full, layers = strategy in FULL_KINDS, dims.num_hidden_layers
    layer_linear_params = layers * sum(n_in * n_out for _, _, n_in, n_out in layer_linears(dims))
    weights, copies = weight_bytes(dims, strategy, base, stored, head, mixed, quant_bits, double_quant)
    # peft keeps adapters in fp32, cast for each matmul under autocast, and its copies of `modules_to_save` in the
    # base's dtype (fp32 over a quantized base).
    adapters = 4 * adapter_only + saved_bytes * saved
    adapter_copies = 2 * adapter_only if mixed else 0
    # A frozen fp32 base under autocast: each matmul casts its weight to 16 bits, and autograd keeps that copy for
    # the input's gradient (autocast caches only weights that require grad): one layer's linears per layer.
    frozen_copies = 2 * layer_linear_params / layers if mixed and stored == 4 and not full and not quant_bits else 0
    gradients, optimizer, step = gradients_and_optimizer(optimizer, shapes, full, stored, trainable, on_cuda)
    gathered = 2 * layer_linear_params / layers * compute
    weights, adapters, copies, gradients, optimizer, step = per_device(shard, processes, gathered)(
        weights, adapters, copies, gradients, optimizer * fraction, step
    )
    sharded_weights = weights
    gathered = gathered if shard in SHARDED else None
    weights, adapters, gradients, optimizer, step, host = offloaded(
        offload, gathered, weights, adapters, gradients, optimizer, step
    )
    return {
        "weights": weights,
        "sharded_weights": sharded_weights,  # before offload: what a frozen reference copy of them takes
        "copies": copies,
        "adapters": adapters,
        "adapter_copies": adapter_copies,
        "frozen_copies": frozen_copies,
        "gradients": gradients,
        "optimizer": optimizer,
        "step": step,
        "host": host,
    }


def optimizer_bytes(optimizer: str, shapes: list[tuple[tuple[int, ...], int]]) -> int:
    """State bytes for the trainable tensors of ``shapes``, each (shape, bytes per value of the parameter)."""
    total = 0
    for shape, size in shapes:
        n = prod(shape)
        if optimizer in ("adamw_8bit", "paged_adamw_8bit"):
            # Paged state can spill to host memory under pressure; it is counted here as resident.
            total += 8 * n if n < OPT8_MIN else 2 * n + 2 * 4 * ceil(n / OPT8_BLOCK)
        elif optimizer == "adafactor":
            # transformers' Adafactor (no first moment by default) factors a matrix's second moment into fp32 row and
            # column statistics; vectors keep a full fp32 second moment.
            total += 4 * (shape[0] + shape[1]) if len(shape) >= 2 else 4 * n
        elif optimizer == "paged_adamw_32bit":
            total += 8 * n  # bitsandbytes' 32-bit moments are float32 whatever the parameter's dtype
        elif optimizer == "sgd":
            total += size * n  # the momentum buffer, in the gradient's dtype (the generated script uses momentum 0.9)
        else:
            total += 2 * size * n  # torch's AdamW: first and second moments in the parameter's dtype
    return total


def quantized_bytes(fan_in: int, fan_out: int, bits: int, double_quant: bool) -> float:
    """Bytes of one bitsandbytes-quantized linear layer's weight and constants."""
    n = fan_in * fan_out
    if bits == 8:
        return n + 4 * fan_out  # LLM.int8: int8 weights and an fp32 scale per output row
    constants = n / NF4_BLOCK * (1 + 4 / NF4_BLOCK2 if double_quant else 4)
    return n / 2 + constants


def weight_bytes(dims, strategy, base, stored, head, mixed, quant_bits, double_quant) -> tuple[float, float]:
    """The weights' bytes, and the 16-bit copies autocast keeps of them through the forward.

    fp32 masters for full fine-tuning plus the 16-bit copies autocast makes for every matmul (the "6 bytes per
    parameter" of mixed precision), or 16-bit weights that need no copy; a frozen base in its dtype; bitsandbytes
    leaves embeddings, norms and the output head unquantized (fp32 after prepare_model_for_kbit_training), and the
    head's matmul then keeps a 16-bit copy of it.
    """
    linears, full = layer_linears(dims), strategy in FULL_KINDS
    layer_linear_params = dims.num_hidden_layers * sum(n_in * n_out for _, _, n_in, n_out in linears)
    cached = mixed and (stored == 4 or quant_bits)
    copies = 2 * (layer_linear_params + head if full else head if quant_bits else 0) if cached else 0
    if full:
        return stored * base, copies
    if quant_bits:
        per_layer = sum(quantized_bytes(n_in, n_out, quant_bits, double_quant) for *_, n_in, n_out in linears)
        return dims.num_hidden_layers * per_layer + 4 * (base - layer_linear_params), copies
    return base * stored, copies


def gradients_and_optimizer(optimizer, shapes, full, stored, trainable, on_cuda) -> tuple[float, float, float]:
    """Gradients (in their parameters' dtype), optimizer state, and the optimizer step's temporaries.

    Foreach AdamW (CUDA) takes the square root of every second moment at once, the single-tensor loop (CPU) one
    tensor's. Adafactor holds grad**2 + eps and the factored estimate of one tensor at once, and on CUDA a third
    tensor-sized buffer (measured for a 32000 x 512 embedding; 2048 columns showed two). SGD and the 8-bit kernels
    work in place.
    """
    gradients = stored * trainable if full else sum(prod(shape) * size for shape, size in shapes)
    largest = max(prod(shape) for shape, _ in shapes)
    largest_bytes = max(prod(shape) * size for shape, size in shapes)
    step = {"adamw": gradients if on_cuda else largest_bytes, "adafactor": (12 if on_cuda else 8) * largest}
    return gradients, optimizer_bytes(optimizer, shapes), step.get(optimizer, 0)


def offloaded(offload: str, gathered, weights, adapters, gradients, optimizer_bytes, step) -> tuple[float, ...]:
    """Weights, adapters, gradients, optimizer state and step temporaries left on the device, and the host's bytes.

    The optimizer steps on the host (DeepSpeed's CPU Adam, FSDP's CPU offload): its state lives there, and its step's
    temporaries (at most a tensor's size) leave the device too. With `all` over sharded state (``gathered`` is then
    the gathered layers' bytes), each process's shard of weights and gradients lives on the host as well.
    """
    if offload == "none":
        return weights, adapters, gradients, optimizer_bytes, step, 0.0
    host, optimizer_bytes, step = optimizer_bytes, 0, 0
    if offload == "all" and gathered is not None:
        host += weights - gathered + adapters + gradients
        weights, adapters, gradients = gathered, 0, 0
    return weights, adapters, gradients, optimizer_bytes, step, host


def per_device(shard: str, processes: int, gathered: float):
    """What one device holds of weights, adapters, their copies, gradients, optimizer state and step buffers."""

    def share(weights, adapters, copies, gradients, optimizer_bytes, step):
        if shard in PARTITIONED:
            gradients, optimizer_bytes, step = gradients / processes, optimizer_bytes / processes, step / processes
        if shard in SHARDED:
            # Sharded fp32 weights (FSDP's layout, not DeepSpeed's 16-bit ones) plus the layer being computed and the
            # one prefetched (``gathered``, in the compute dtype); the gathered layers replace autocast's copies.
            weights, adapters, copies = weights / processes + gathered, adapters / processes, 0
        elif shard == "ddp" and processes > 1:
            gradients *= 2  # DDP's reducer copies gradients into communication buckets of the same total size
        return weights, adapters, copies, gradients, optimizer_bytes, step

    return share
