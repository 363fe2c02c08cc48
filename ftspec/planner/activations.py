"""Activations: what a training step keeps for backward, per layer and in the tail, and the phases of a step.

Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models"), redone for what a Hugging
Face Llama-style layer under SDPA keeps for backward; used by ftspec.planner.memory, checked by `bench/memory.py`.
"""

from __future__ import annotations

from ..inputs.modelinfo import ModelDims, layer_linears


def layer_activations(dims, t: dict, full: bool, targets: set, rank: int, dropout_bytes: int) -> float:
    """Bytes one decoder layer keeps for backward, per token."""
    h, i, heads = dims.hidden_size, dims.intermediate_size, dims.num_attention_heads
    c, mixed, residual, elementwise = t["compute"], t["mixed"], t["residual"], t["elementwise"]
    q = heads * dims.attention_head_dim
    # With a mask (or on the math kernel), k and v are repeated to every head: GQA inside SDPA needs a mask-free call.
    repeated = t["mask"] or t["math"] or t["eager"] or dims.family != "llama"
    kv = q if repeated else dims.num_key_value_heads * dims.attention_head_dim
    # RMSNorm upcasts to fp32 and keeps that input plus 1/rms per token; a trained norm weight also keeps the
    # normalised input it multiplies.
    total = 2 * (4 * h + 4 + (residual * h if full else 0))
    # SDPA (flash or memory-efficient kernels) keeps q, k, v, its output and an fp32 logsumexp per head, no s x s
    # scores; a boolean mask is converted to an additive one in the compute dtype, which each layer keeps. CUDA has
    # no fp32 flash kernel and its memory-efficient one takes no GQA, so fp32 GQA falls to the math kernel, which
    # keeps the fp32 attention probabilities (s x s per head).
    mask, scores = c * t["seq"] if t["mask"] else 0, 4 * heads * t["seq"] if t["math"] else 0
    if t["eager"]:
        # Eager attention keeps its fp32 softmax output (s x s per head) and, under autocast, the 16-bit cast of it
        # that multiplies v.
        scores = (4 + (c if mixed else 0)) * heads * t["seq"]
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


def loss_bytes(tokens: int, micro_batch: int, vocab: int, h: int, types: dict, loss_chunk: int) -> tuple[int, ...]:
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


def activations(dims: ModelDims, types: dict, **k) -> tuple[float, float, list[float], float]:
    """Bytes kept for backward on the device, the loss's share of them, the step's phases (each on top of the resident
    state), and the bytes kept in host memory instead (`offload`: torch.autograd.graph.save_on_cpu).

    What each layer keeps, the tail (final norm, head input, labels, RoPE tables), and the loss (`loss_bytes`).
    Offloaded, what the layers keep moves to the host; the device still holds one layer's tensors while they are
    computed or copied back for its backward, and the tail and the loss, counted in full as if they stayed.
    """
    full, micro_batch, seq_len, outputs = k["full"], k["micro_batch"], k["seq_len"], k["outputs"]
    layers, h, c, residual = dims.num_hidden_layers, dims.hidden_size, types["compute"], types["residual"]
    mixed, tokens, targets, dropout_bytes = types["mixed"], micro_batch * seq_len, k["targets"], k["dropout"]
    target_roles = {role for _name, role, *_ in targets}
    gqa = dims.family == "llama" and dims.num_key_value_heads < dims.num_attention_heads
    math = k["accelerator"] == "cuda" and not mixed and gqa and not k["attention_mask"]
    types = types | {"seq": seq_len, "mask": k["attention_mask"], "math": math, "eager": k["attention"] == "eager"}
    layer_copies, head_copy = k["frozen_copies"]
    layer = tokens * layer_activations(dims, types, full, target_roles, k["rank"], dropout_bytes) + layer_copies
    tail, logits, head_output, loss_backward = tokens * (8 + 2 * dims.attention_head_dim * residual), 0, 0, 0
    trained_head, trained_embedding = k["trained"]
    if dims.kind == "decoder":
        tail += tokens * (4 * h + 4 + (residual * h if full else 0)) + head_copy
        if full:
            tail += tokens * (8 + c * h)  # token ids for the embedding gradient; the head's input
        else:
            tail += tokens * ((c * h if trained_head else 0) + (8 if trained_embedding else 0))
        if k["classifier"]:
            # The head scores every position; the loss reads one per row.
            head_output = tokens * outputs * c
            logits = head_output + micro_batch * outputs * 8
            loss_backward = micro_batch * outputs * 12
        else:
            logits, head_output, loss_backward = loss_bytes(tokens, micro_batch, outputs, h, types, k["loss_chunk"])
    tail += micro_batch * seq_len * seq_len if k["attention_mask"] else 0  # the boolean mask the model builds, once
    copies, gradients = k["copies"], k["gradients"]
    # A step's phases: the forward's end, backward through the loss, the end of backward (the optimizer step is the
    # caller's).
    if k["checkpointing"]:
        # Only each layer's input is kept; backward recomputes one layer at a time after the loss has been freed, and
        # autocast's weight copies die with the forward, before the fp32 loss.
        kept = tokens * layers * residual * h
        host, kept = (kept, 0) if k["offload"] else (0, kept)
        activations = kept + max(layer, tail + logits)
        return (
            activations,
            logits,
            [copies + kept + tail + head_output, kept + tail + loss_backward, kept + layer + gradients],
            host,
        )
    kept = layers * layer
    if not full:
        # Frozen embeddings: the first layer's input needs no gradient, so its norm keeps nothing, its q/k/v
        # dropouts keep no mask and its q/k/v matmuls no weight copy (with checkpointing the generated script makes
        # the input require grad).
        first = {"q", "k", "v", "qkv"}
        kept -= tokens * (4 * h + 4 + len(target_roles & first) * h * dropout_bytes)
        if layer_copies:
            kept -= 2 * sum(n_in * n_out for _, role, n_in, n_out in layer_linears(dims) if role in first)
    if k["offload"]:
        activations = layer + tail + logits
        phases = [copies + activations, copies + layer + tail + loss_backward, layer + gradients]
        return activations, logits, phases, kept
    activations = kept + tail + logits
    return activations, logits, [copies + activations, copies + kept + tail + loss_backward, gradients], 0
