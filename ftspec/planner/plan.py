"""The resolved plan: every value the emitted scripts use, each default made explicit.

A Plan starts as a draft holding the inputs (the Spec, the resolved files, the
hardware profile); the planner's passes fill one section each (`decide_fit`, the one
search, also revises the choices the spec left open: see ftspec.planner.fit). Serialised, it
becomes `plan.json`, with paths relative to the directory it is written to.
"""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from ..diagnostics import Diagnostic
from ..inputs.facts import Inputs
from ..spec.schema import Spec


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)


class BasePlan(Section):
    source: Literal["none", "hub", "local", "spec", "package"]
    model: str | None = Field(description="hub id")
    path: Path | None = Field(description="local directory of the weights")
    package: tuple[str, str] | None = Field(None, description="Python package and the directory in it")
    revision: str | None
    spec: str | None = Field(description="name of the spec that builds the base")
    trust_remote_code: bool
    dtype: str
    attention: str = Field("sdpa", description="attn_implementation, as resolved from `base.attention`")
    attention_reason: str = Field("", description="why this attention implementation")


class TokenizerPlan(Section):
    source: Literal["base", "train", "named"]
    model: str | None
    path: Path | None
    vocab_size: int | None
    eos_token: str | None
    pad_token: str | None


class DataPlan(Section):
    format: str
    loader: Literal["json", "csv", "text", "parquet", "hub"]
    train: tuple[Path, ...]
    eval: tuple[Path, ...]
    hub: str | None
    revision: str | None
    eval_split: float | None
    max_length: int
    overlong: Literal["cut", "drop", "error"] = "cut"
    packing: bool
    group_by_length: bool
    shuffle_seed: int
    text_column: str | None
    prompt_column: str | None
    response_column: str | None
    template: str | None
    train_on_prompt: bool
    messages_column: str | None
    chat_template: str | None
    label_column: str | None
    labels: tuple[str, ...] | None
    # Which rows are read (see spec.datablocks.Data for each setting's meaning).
    split: str = "train"
    config: str | None = None
    data_files: tuple[str, ...] | None = None
    max_samples: int | None = None
    min_length: int | None = None
    workers: int = 1
    loader_workers: int = 0
    input_column: str | None = Field(None, description="instruction: an optional input column")
    template_no_input: str | None = Field(None, description="the prompt template for rows whose input is empty")
    role_key: str | None = None
    content_key: str | None = None
    roles: dict[str, str] | None = Field(None, description="chat: the data's role names to the template's")
    chat_turns: bool = Field(False, description="instruction: prompt and response rendered as chat turns")
    held_out: bool = Field(True, description="whether any rows are held out; false with `eval_split = 0%`")


class SourcePlan(Section):
    """One source of a mixture: its own data plan, its weight and what an epoch draws from it."""

    name: str
    weight: float
    share: float = Field(description="the weight over the sum of the weights: its share of every epoch's sequences")
    data: DataPlan
    sequences: int | None = Field(None, description="training sequences of its own, estimated")
    drawn_per_epoch: int | None = Field(None, description="sequences an epoch draws from it, estimated")
    tokens_per_epoch: int | None = Field(None, description="tokens of the sequences drawn, estimated")


class MixturePlan(Section):
    """Several data sources (labelled data blocks) mixed by weight."""

    sources: tuple[SourcePlan, ...]
    epoch: str = Field(description="what one epoch of the mixture is")


class StrategyPlan(Section):
    kind: str
    saves: Literal["model", "adapter"]
    peft_class: str | None
    peft: dict[str, Any] | None
    adalora_schedule: dict[str, Any] | None
    quantization: dict[str, Any] | None
    architecture: dict[str, Any] | None
    freeze: tuple[str, ...]
    freeze_layers: int
    merge: bool


class ObjectivePlan(Section):
    """What the model is trained for beyond supervised learning: a preference objective and its data's layout."""

    kind: Literal["dpo", "kto", "orpo", "simpo"]
    loss: str = Field(description="the loss as the script writes it: sigmoid, ipo, hinge (dpo), kto, orpo, simpo")
    beta: float
    label_smoothing: float
    gamma: float = Field(description="SimPO's target margin (0 for the others)")
    desirable_weight: float
    undesirable_weight: float
    reference: Literal["none", "adapter", "copy"] = Field(
        description="`adapter`: the base with the adapter off; `copy`: a frozen copy of the starting weights"
    )
    layout: Literal["pairs", "conversations", "unpaired"] = Field(
        description="a prompt column with two answers; two conversations sharing a prompt; KTO's labelled answers"
    )
    chosen_column: str | None
    rejected_column: str | None
    completion_column: str | None
    label_column: str | None


class TrainPlan(Section):
    epochs: int | None
    max_steps: int | None
    learning_rate: float
    optimizer: str
    scheduler: str
    warmup_ratio: float | None
    warmup_steps: int | None
    weight_decay: float
    max_grad_norm: float
    seed: int
    log_every: int
    compile: bool
    gradient_checkpointing: bool
    loss_chunk: int  # positions per chunk of the output head in the loss; 0: the full logits at once
    use_reentrant: bool = False
    offload_activations: bool = False
    tf32: bool = False
    kernels: Literal["liger", "none"] = "none"
    kernels_reason: str = ""
    trackers: tuple[str, ...] | Literal["auto"] = "auto"
    project: str = ""
    run_name: str = ""
    micro_batch_size: int
    grad_accum: int
    effective_batch_size: int


class HardwarePlan(Section):
    target: str
    accelerator: str
    nodes: int
    devices_per_node: int
    processes: int
    device_memory_gib: float | None
    precision: Literal["bf16", "fp16", "fp32", "auto"]
    distributed: str
    offload: Literal["none", "optimizer", "all"] = "none"


class LauncherPlan(Section):
    """What starts the processes on each machine, and what that needs to know."""

    kind: Literal["none", "slurm", "kubernetes", "skypilot"]
    files: tuple[str, ...] = Field(description="the launcher's files beside launch.sh")
    elastic: bool = Field(description="torchrun's c10d rendezvous, so that a lost worker restarts the group")
    max_restarts: int
    port: int = Field(description="rendezvous port on the first machine")
    image: str = Field(description="container image, or the `${IMAGE}` placeholder")
    volume: str = Field(description="volume holding the project and its runs, or the `${VOLUME}` placeholder")
    mount: str = Field(description="where the volume is mounted in the containers")
    accelerator: str | None = Field(description="SkyPilot's name for the GPU, with its count per machine")
    gpus_per_node: int = Field(description="GPUs a machine asks for (0 on a CPU target)")


class EvalPlan(Section):
    metrics: tuple[str, ...]
    compare_base: bool
    prompts: tuple[str, ...]
    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    samples: int
    every: int | None
    per_epoch: int | None
    batch_size: int


class MemoryPlan(Section):
    """The estimated peak memory of one device, by component, against the device's memory."""

    source: str | None = Field(description="where the model's dimensions came from")
    per_device_gib: float | None = Field(description="estimated peak of one training step on one device")
    limit_gib: float | None = Field(description="memory of one device")
    usable_gib: float | None = Field(description="the limit less the safety margin")
    margin: float = Field(description="share of device memory kept free for what the estimate does not count")
    fits: bool | None
    components_gib: dict[str, float]
    trainable_params: int | None
    total_params: int | None
    state_dtypes: dict[str, str] = Field(
        description="precision of the trained weights (`master_weights`), their `gradients` and the `optimizer_state`"
    )
    host_gib: float | None = Field(
        None, description="state each machine keeps in its host memory instead (`offload`, `offload_activations`)"
    )
    host_limit_gib: float | None = Field(None, description="memory of each machine, when the target states it")


class EstimatePlan(Section):
    """Size of the job, estimated before anything runs."""

    tokens_per_epoch: int | None = Field(description="training tokens, counted or estimated as `token_count` says")
    token_count: str = Field(
        description="how the tokens were found: counted with the spec's own tokenizer, or estimated at 4 characters"
    )
    sequences_per_epoch: int | None
    optimizer_steps: int | None
    train_flops: float | None
    utilisation: float = Field(description="share of the hardware's peak FLOP/s the duration assumes")
    duration_hours: float | None
    gpu_hours: float | None = Field(
        None, description="the duration times the processes, each holding one GPU (from the FLOPs, unrounded)"
    )


class OutputPlan(Section):
    dir: Path
    model: Path
    adapter: Path | None
    checkpoints: Path
    logs: Path
    eval: Path
    save_every: int | None
    keep_last: int


class Plan(Section):
    inputs: Inputs = Field(exclude=True)
    diagnostics: tuple[Diagnostic, ...] = Field(default=(), exclude=True)
    name: str
    domain: str
    description: str
    spec_file: Path
    spec_hash: str
    overrides: tuple[str, ...]
    offline: bool | None = None
    base: BasePlan | None = None
    tokenizer: TokenizerPlan | None = None
    data: DataPlan | None = None
    mixture: MixturePlan | None = None
    strategy: StrategyPlan | None = None
    objective: ObjectivePlan | None = None
    train: TrainPlan | None = None
    hardware: HardwarePlan | None = None
    launcher: LauncherPlan | None = None
    eval: EvalPlan | None = None
    output: OutputPlan | None = None
    memory: MemoryPlan | None = None
    estimates: EstimatePlan | None = None
    notes: tuple[str, ...] = ()

    def with_(self, **changes) -> "Plan":
        return self.model_copy(update=changes)

    def note(self, text: str) -> "Plan":
        return self.with_(notes=(*self.notes, text))

    def diagnose(self, diagnostic: Diagnostic) -> "Plan":
        return self.with_(diagnostics=(*self.diagnostics, diagnostic))

    @property
    def spec(self) -> Spec:
        return self.inputs.spec

    @computed_field
    @property
    def fits(self) -> bool | None:
        """Whether the estimate fits the target (None when either is unknown); decided by `decide_fit`."""
        return self.memory.fits if self.memory is not None else None


def relative(value: Any, start: Path) -> Any:
    """``value`` with every Path made relative to ``start`` (POSIX separators), for output files."""
    if isinstance(value, Path):
        return Path(os.path.relpath(value, start)).as_posix()
    if isinstance(value, dict):
        return {key: relative(item, start) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [relative(item, start) for item in value]
    return value


def plan_dict(plan: Plan, start: Path) -> dict[str, Any]:
    """The plan as plain data with paths relative to ``start`` (a supervised plan's without `objective`, a single
    source's without `mixture`: the plans of specs that use neither stay as they were)."""
    data = relative(plan.model_dump(mode="python"), start)
    for optional in ("objective", "mixture"):
        if data.get(optional) is None:
            data.pop(optional, None)
    return data


def plan_json(plan: Plan, start: Path, extra: dict[str, Any] | None = None) -> str:
    """The one JSON document of a plan: `plan.json` as written to the directory ``start``, and what `ftspec plan
    --json` prints (paths relative to the run directory, so it equals that run's plan.json byte for byte).
    ``extra`` adds sections that are not the plan's (the cost at the price `--price` gives), never written to a
    plan.json."""
    document = plan_dict(plan, start)
    document |= extra or {}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
