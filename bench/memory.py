"""Check ftspec.planner.memory's estimates against the measured training state of one optimizer step.

Small random Llama-style models (no download) train for one step, across strategies, sequence lengths, micro-batches,
precisions and gradient checkpointing, as the generated script runs them. The training state is counted exactly:
parameters (and bitsandbytes quantization constants), gradients and optimizer state after the step, plus the peak
over the step of the tensors autograd saved for backward (deduplicated by storage, parameters excluded) and of the
logits while they are alive; that is compared with the estimate's `total`. On CUDA the bench also compares the
estimate's `peak` with `torch.cuda.max_memory_allocated` over a second step, and runs larger cases too.

Checkpointing is reentrant here so that the saved-tensor hooks also see the recomputed layer (what it keeps matches
the non-reentrant default). The hooks cannot see autocast's cached 16-bit weight copies under checkpointing, which
the estimate counts: those rows read a few percent high.

Offloaded plans (`hardware.offload`, `train.offload_activations`) split the estimate into the device's share and the
host's (`host` column). On a CPU both are the same memory, so such a row compares the device estimate plus the host's
with the measured state: what offload moves must be counted once, neither lost nor twice. The split itself is
measurable only on a GPU: there the bench runs the second step under `torch.autograd.graph.save_on_cpu` and compares
the device peak with the allocator's; the optimizer's offload needs DeepSpeed's CPU Adam and is not run here.
Run: python bench/memory.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

from ftspec.inputs.modelinfo import read_config  # noqa: E402
from ftspec.planner.memory import MemoryEstimate, MemorySettings, estimate  # noqa: E402

MIB = 2**20


@dataclass(frozen=True)
class Case:
    """One measured configuration."""

    hidden: int
    layers: int
    vocab: int
    seq: int
    batch: int
    strategy: str = "full"  # full | lora | qlora
    targets: tuple[str, ...] | str = ("q_proj", "v_proj")
    rank: int = 8
    dropout: float = 0.05
    precision: str = "fp32"  # fp32 | bf16 (autocast, as Accelerate's mixed precision)
    optimizer: str = "adamw"
    checkpointing: bool = False
    heads: int = 4
    kv_heads: int = 2
    tied: bool = False
    padded: bool = False  # pad the first row: transformers then builds a mask, and SDPA needs k and v per head
    weights: str | None = None  # the dtype the base loads in (`base.dtype`); None: the planner's `auto`
    modules_to_save: tuple[str, ...] = ()
    labels: int | None = None  # a decoder classifier (AutoModelForSequenceClassification) with this many labels
    loss_chunk: int = 0  # positions per chunk of the output head in the loss, as train.loss_chunk; 0: all at once
    offload: str = "none"  # `hardware.offload`: model state the estimate moves to the host
    offload_activations: bool = False  # `train.offload_activations`: saved tensors in host memory (save_on_cpu)
    dpo: bool = False  # DPO: chosen and rejected in one batch of 2 x `batch` rows, after the reference's forward

    @property
    def name(self) -> str:
        adapter = ""
        if self.strategy != "full":
            targets = "all" if isinstance(self.targets, str) else "qv"
            adapter = f" r{self.rank} {targets}{'' if self.dropout else ' nodrop'}"
        return (
            f"{self.strategy}{adapter} h{self.hidden} L{self.layers} V{self.vocab // 1000}k s{self.seq} b{self.batch} "
            f"{self.precision} {self.optimizer}{' ckpt' if self.checkpointing else ''}{' pad' if self.padded else ''}"
            + (f" w-{self.weights}" if self.weights else "")
            + (" +" + "+".join(self.modules_to_save) if self.modules_to_save else "")
            + (f" cls{self.labels}" if self.labels else "")
            + (f" chunk{self.loss_chunk}" if self.loss_chunk else "")
            + (f" offload-{self.offload}" if self.offload != "none" else "")
            + (" offload-act" if self.offload_activations else "")
            + (" dpo" if self.dpo else "")
        )


CASES = [
    Case(64, 2, 4096, 64, 1),
    Case(128, 4, 8192, 256, 4),
    Case(128, 4, 8192, 256, 4, checkpointing=True),
    Case(256, 4, 16384, 512, 2, strategy="lora"),
    Case(256, 4, 16384, 256, 8, strategy="lora", targets="all_linear", rank=16, checkpointing=True),
    Case(192, 3, 8192, 128, 8, strategy="lora", targets="all_linear", dropout=0.0),
    Case(512, 8, 4096, 512, 4),
    Case(256, 4, 8192, 128, 4, precision="bf16"),
    Case(256, 4, 8192, 128, 4, precision="bf16", checkpointing=True),
    Case(256, 4, 4096, 256, 4, precision="bf16", heads=8, kv_heads=8, tied=True, padded=True),
    Case(512, 8, 32000, 512, 1, strategy="lora", precision="bf16", checkpointing=True),
    Case(256, 4, 16384, 256, 2, strategy="lora", targets="all_linear", precision="bf16"),
    Case(512, 8, 32000, 256, 2, strategy="qlora", targets="all_linear", rank=16, precision="bf16", checkpointing=True),
    Case(256, 4, 8192, 128, 2, strategy="qlora", targets="all_linear", precision="bf16"),
    Case(512, 8, 32000, 128, 2, optimizer="adafactor", tied=True),
    Case(384, 6, 16384, 64, 8, optimizer="sgd"),
    Case(256, 4, 16384, 128, 2, strategy="lora", modules_to_save=("embed_tokens", "lm_head")),
    Case(256, 4, 8192, 128, 4, strategy="lora", precision="bf16", modules_to_save=("embed_tokens", "lm_head")),
    Case(256, 4, 8192, 128, 4, precision="bf16", weights="bfloat16"),
    Case(256, 4, 8192, 128, 4, precision="bf16", weights="bfloat16", checkpointing=True),
    Case(256, 4, 8192, 256, 4, strategy="lora", precision="bf16", weights="float32"),
    Case(
        256,
        4,
        8192,
        256,
        4,
        strategy="lora",
        targets="all_linear",
        precision="bf16",
        weights="float32",
        checkpointing=True,
    ),
    Case(256, 4, 32000, 512, 4, strategy="lora", precision="bf16", labels=2),
    Case(256, 4, 32000, 512, 4, precision="bf16", labels=2),
]
# On a GPU the same kinds of case at sizes where the allocator's fixed costs (the cuBLAS workspace) stay small.
CASES += [  # DPO: a frozen reference copy for full fine-tuning, the adapter switched off for LoRA
    Case(128, 4, 8192, 256, 2, dpo=True),
    Case(128, 4, 8192, 256, 2, strategy="lora", dpo=True),
]
CUDA_CASES = [
    Case(1024, 8, 32000, 1024, 4, precision="bf16", heads=16, kv_heads=4),
    Case(1024, 8, 32000, 1024, 4, precision="bf16", heads=16, kv_heads=4, checkpointing=True),
    Case(2048, 8, 32000, 512, 1, precision="bf16", heads=16, kv_heads=8),
    Case(1024, 8, 32000, 512, 2, heads=16, kv_heads=4),
    Case(2048, 8, 32000, 2048, 4, strategy="lora", precision="bf16", heads=16, kv_heads=8),
    Case(2048, 8, 32000, 1024, 4, strategy="lora", targets="all_linear", rank=16, precision="bf16", checkpointing=True),
    Case(1024, 8, 32000, 1024, 8, strategy="lora", targets="all_linear", dropout=0.0, precision="bf16", heads=16),
    Case(1024, 8, 32000, 512, 4, strategy="qlora", targets="all_linear", rank=16, precision="bf16", checkpointing=True),
    Case(2048, 8, 32000, 512, 2, optimizer="adafactor", precision="bf16", heads=16, kv_heads=8),
    Case(1024, 8, 32000, 512, 4, precision="bf16", heads=16, kv_heads=16, padded=True),
]
CASES += [  # the chunked loss, where the vocabulary dominates
    Case(128, 2, 32000, 512, 2, loss_chunk=256),
    Case(256, 2, 32000, 512, 2, strategy="lora", loss_chunk=256),
    Case(256, 2, 32000, 256, 4, strategy="lora", precision="bf16", checkpointing=True, loss_chunk=512),
]
CASES += [  # offloaded plans: on a CPU, the device's share and the host's together against the measured state
    Case(256, 4, 8192, 128, 4, offload="optimizer"),
    Case(256, 4, 16384, 256, 4, strategy="lora", targets="all_linear", offload="optimizer"),
    Case(256, 4, 8192, 256, 4, checkpointing=True, offload_activations=True),
    Case(256, 4, 8192, 256, 4, strategy="lora", precision="bf16", checkpointing=True, offload_activations=True),
]
CUDA_CASES += [
    Case(1024, 8, 32000, 2048, 4, precision="bf16", heads=16, kv_heads=4, checkpointing=True, offload_activations=True),
]
QUICK = [
    Case(128, 2, 4096, 128, 2),
    Case(128, 2, 4096, 128, 2, strategy="lora", checkpointing=True),
    Case(128, 2, 32000, 256, 2, strategy="lora", loss_chunk=128),
]


def build(case: Case, workdir: Path, device: str = "cpu"):
    """The model of ``case`` (random weights) on ``device``, and its dimensions read back from its saved config."""
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=case.hidden,
        intermediate_size=case.hidden * 8 // 3 // 8 * 8,
        num_hidden_layers=case.layers,
        num_attention_heads=case.heads,
        num_key_value_heads=case.kv_heads,
        vocab_size=case.vocab,
        max_position_embeddings=max(case.seq, 512),
        tie_word_embeddings=case.tied,
        attn_implementation="sdpa",
    )
    if case.labels:
        config.num_labels, config.pad_token_id = case.labels, case.vocab - 1  # rows end where the padding starts
    config.save_pretrained(workdir)
    dims = read_config(workdir)
    with torch.device(device):
        model = (LlamaForSequenceClassification if case.labels else LlamaForCausalLM)(config)
    compute = torch.bfloat16 if case.precision == "bf16" else torch.float32
    loaded = getattr(torch, case.weights) if case.weights else compute  # what the generated script's BASE_DTYPE says
    if case.strategy == "full":
        model = model.to(getattr(torch, case.weights)) if case.weights else model
        if case.checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        return model, dims
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    ckpt = {"use_reentrant": True}  # see the module's docstring
    if case.strategy == "qlora":
        from transformers import BitsAndBytesConfig

        model.save_pretrained(workdir)
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        model = LlamaForCausalLM.from_pretrained(
            workdir, dtype=compute, quantization_config=quantization, device_map={"": device}
        )
        model = prepare_model_for_kbit_training(model, case.checkpointing, gradient_checkpointing_kwargs=ckpt)
    else:
        model = model.to(loaded)  # a frozen base loads in the compute dtype unless `base.dtype` says otherwise
        if case.checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt)
            model.enable_input_require_grads()
    targets = "all-linear" if isinstance(case.targets, str) else list(case.targets)
    lora = LoraConfig(
        r=case.rank,
        lora_alpha=2 * case.rank,
        lora_dropout=case.dropout,
        target_modules=targets,
        modules_to_save=list(case.modules_to_save) or None,
        task_type="SEQ_CLS" if case.labels else "CAUSAL_LM",
    )
    return get_peft_model(model, lora, autocast_adapter_dtype=True), dims


def make_optimizer(case: Case, params):
    if case.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=1e-3, scale_parameter=False, relative_step=False, warmup_init=False)
    if case.optimizer == "sgd":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    return torch.optim.AdamW(params, lr=1e-4)


class LiveBytes:
    """Bytes of tracked tensors alive now and at the peak; a storage counts once while any reference to it lives."""

    def __init__(self, exclude: set[int]):
        self.exclude, self.refs, self.live, self.peak = exclude, {}, 0, 0

    def _release(self, key: int) -> None:
        count, size = self.refs[key]
        if count == 1:
            del self.refs[key]
            self.live -= size
        else:
            self.refs[key] = (count - 1, size)

    def track(self, tensor: torch.Tensor, owner) -> None:
        """Count ``tensor``'s storage until ``owner`` is garbage."""
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key in self.exclude or storage.nbytes() == 0:
            return
        count, size = self.refs.get(key, (0, storage.nbytes()))
        if count == 0:
            self.live += size
            self.peak = max(self.peak, self.live)
        self.refs[key] = (count + 1, size)
        weakref.finalize(owner, self._release, key)


class Saved:
    """What the pack hook hands autograd: the tensor, and a lifetime the tracker watches."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor


def storages(tensors) -> dict[int, int]:
    return {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}


def state_tensors(model) -> list[torch.Tensor]:
    """Parameters, and the constants bitsandbytes keeps beside a 4-bit weight."""
    tensors = list(model.parameters())
    for param in model.parameters():
        quant = getattr(param, "quant_state", None)
        while quant is not None:
            tensors += [t for t in (quant.absmax, quant.code, getattr(quant, "offset", None)) if t is not None]
            quant = getattr(quant, "state2", None)
    return tensors


def reference_forward(model, reference, ids, positions) -> None:
    """DPO's reference log-probabilities, without grad: the frozen copy, or the model with its adapter off."""
    with torch.no_grad():
        if reference is not None:
            reference(input_ids=ids, position_ids=positions, use_cache=False)
        else:
            with model.disable_adapter():
                model(input_ids=ids, position_ids=positions, use_cache=False)


def train_step(model, case: Case, device: str, tracker: LiveBytes | None, reference=None):
    """Forward and backward as the generated script runs them: autocast forward, fp32 summed cross-entropy."""
    rows = case.batch * (2 if case.dpo else 1)
    ids = torch.randint(0, case.vocab - 1, (rows, case.seq), device=device)
    positions = torch.arange(case.seq, device=device).expand(rows, -1)
    mask = torch.ones_like(ids)
    mask[0, case.seq * 3 // 4 :] = 0
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=case.precision == "bf16")
    hooks = contextlib.nullcontext()
    if case.dpo:
        reference_forward(model, reference, ids, positions)
    if tracker is not None:

        def pack(tensor):
            saved = Saved(tensor)
            tracker.track(tensor, saved)
            return saved

        hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda saved: saved.tensor)
    with hooks:
        if case.loss_chunk:
            with autocast:
                chunked_loss_backward(model, case, ids, positions, tracker)
            return
        with autocast:
            mask_argument = {"attention_mask": mask} if case.padded else {}
            logits = model(input_ids=ids, position_ids=positions, use_cache=False, **mask_argument).logits
        predictions = logits.float() if case.labels else logits[:, :-1].flatten(0, 1).float()
        if tracker is not None:
            tracker.track(logits, logits)
            tracker.track(predictions, predictions)
        labels = ids[:, 0] % case.labels if case.labels else ids[:, 1:].flatten()
        loss = torch.nn.functional.cross_entropy(predictions, labels, reduction="sum")
        del logits, predictions
        loss.backward()


def chunked_loss_backward(model, case: Case, ids, positions, tracker: LiveBytes | None) -> None:
    """The generated script's chunked loss: the head over `loss_chunk` positions at a time under checkpoint.

    Checkpoint's own hooks hide what the chunk saves, so the chunk's logits are tracked while alive (in forward and
    again when backward recomputes them), beside the head's input copy and each position's loss.
    """
    from torch.utils.checkpoint import checkpoint

    output = model(input_ids=ids, position_ids=positions, use_cache=False, output_hidden_states=True, logits_to_keep=1)
    head = model.get_output_embeddings()
    hidden = output.hidden_states[-1][:, :-1].flatten(0, 1)

    def token_losses(chunk, labels):
        logits = head(chunk)
        predictions = logits.float()
        log_probs = predictions.log_softmax(-1)  # what cross_entropy computes first, here in sight of the tracker
        if tracker is not None:
            for tensor in (logits, predictions, log_probs):
                tracker.track(tensor, tensor)
        return torch.nn.functional.nll_loss(log_probs, labels, reduction="none")

    pieces = zip(hidden.split(case.loss_chunk), ids[:, 1:].flatten().split(case.loss_chunk), strict=True)
    losses = torch.cat([checkpoint(token_losses, h, y, use_reentrant=False) for h, y in pieces])
    if tracker is not None:
        tracker.track(hidden, hidden)
        tracker.track(losses, losses)
        tracker.track(output.logits, output.logits)
    del output, hidden
    losses.sum().backward()


def measure(case: Case, model, device: str) -> dict[str, int]:
    """Bytes of the training state by component after one step; on CUDA also the allocator's peak over a second."""
    optimizer = make_optimizer(case, [p for p in model.parameters() if p.requires_grad])
    reference = None
    if case.dpo and case.strategy == "full":
        import copy

        reference = copy.deepcopy(model).eval().requires_grad_(False)
    weights = storages(state_tensors(model))
    if reference is not None:
        weights |= storages(state_tensors(reference))
    tracker = LiveBytes(exclude=set(weights))
    train_step(model, case, device, tracker, reference)
    optimizer.step()
    grads = storages(p.grad for p in model.parameters() if p.grad is not None)
    states = [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    measured = {
        "weights": sum(weights.values()),
        "gradients": sum(grads.values()),
        "optimizer": sum(storages(states).values()),
        "activations": tracker.peak,
    }
    measured["total"] = sum(measured.values())
    if device == "cuda":
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        offloaded = torch.autograd.graph.save_on_cpu(pin_memory=True)
        with offloaded if case.offload_activations else contextlib.nullcontext():
            train_step(model, case, device, None, reference)
        optimizer.step()
        torch.cuda.synchronize()
        measured["peak"] = torch.cuda.max_memory_allocated()
    return measured


def run(case: Case, device: str = "cpu") -> tuple[MemoryEstimate, dict[str, int]]:
    """Estimate and measure one case."""
    with tempfile.TemporaryDirectory() as workdir:
        model, dims = build(case, Path(workdir), device)
    model.train()
    settings = MemorySettings(
        strategy=case.strategy,
        micro_batch=case.batch * (2 if case.dpo else 1),
        seq_len=case.seq,
        precision=case.precision,
        optimizer=case.optimizer,
        gradient_checkpointing=case.checkpointing,
        lora_rank=case.rank,
        lora_targets=case.targets,
        lora_dropout=case.dropout,
        attention_mask=case.padded,  # unpadded rows: transformers passes no mask and SDPA runs causal
        accelerator=device,
        weight_dtype=case.weights,
        modules_to_save=case.modules_to_save,
        num_labels=case.labels,
        loss_chunk=case.loss_chunk,
        offload=case.offload,
        offload_activations=case.offload_activations,
        reference_copy=case.dpo and case.strategy == "full",
    )
    return estimate(dims, settings), measure(case, model, device)


def quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small cases only")
    parser.add_argument("--only", help="only the cases whose name contains this")
    args = parser.parse_args()
    quiet()
    import peft
    import transformers

    device = "cuda" if torch.cuda.is_available() else "cpu"
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}"
    print(f"device: {device} ({versions})")
    print("MiB: the estimate by component and in total against the measured training state; the estimated peak")
    print(f"{'config':<76} {'weights':>8} {'grads':>7} {'optim':>7} {'adapt':>6} {'activ':>8} {'(logits)':>8}", end="")
    cuda_columns = f" {'measured':>9} {'error':>7}" if device == "cuda" else ""
    print(f" {'total':>8} {'measured':>9} {'error':>7} {'peak':>8}{cuda_columns}")
    started, errors, peak_errors = time.perf_counter(), [], []
    cases = QUICK if args.quick else CASES + CUDA_CASES if device == "cuda" else CASES
    cases = [case for case in cases if args.only is None or args.only in case.name]
    for case in cases:
        if case.strategy == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
            print(f"{case.name:<76} skipped: bitsandbytes is not installed")
            continue
        predicted, measured = run(case, device)
        # On a CPU the host is the same memory; on a GPU `total` compares the training state wherever it lives.
        errors.append((predicted.total + predicted.host - measured["total"]) / measured["total"])
        parts = [predicted.weights + predicted.reference, predicted.gradients, predicted.optimizer, predicted.adapters]
        cells = " ".join(f"{part / MIB:{width}.1f}" for part, width in zip(parts, (8, 7, 7, 6), strict=True))
        row = f"{case.name:<76} {cells} {predicted.activations / MIB:8.1f} {predicted.logits / MIB:8.1f} "
        row += f"{(predicted.total + predicted.host) / MIB:8.1f} {measured['total'] / MIB:9.1f} {errors[-1]:+7.1%} "
        row += f"{predicted.peak / MIB:8.1f}"
        if "peak" in measured:
            peak_errors.append((predicted.peak - measured["peak"]) / measured["peak"])
            row += f" {measured['peak'] / MIB:9.1f} {peak_errors[-1]:+7.1%}"
        print(row + (f"  host {predicted.host / MIB:.1f}" if predicted.host else ""))
    print(f"{len(errors)} configurations in {time.perf_counter() - started:.0f} s")
    if peak_errors:
        print(f"peak against the CUDA allocator: max relative error {max(map(abs, peak_errors)):.1%}, ", end="")
        print(f"median {statistics.median(map(abs, peak_errors)):.1%}")
    print(f"max relative error: {max(map(abs, errors)):.1%}, median: {statistics.median(map(abs, errors)):.1%}")


if __name__ == "__main__":
    main()
