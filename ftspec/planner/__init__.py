"""The planner: an ordered list of small passes, each deciding one section of the Plan.

Hardware is an input (a HardwareProfile), never detected here; passes are pure. `decide_fit` is the one search:
it may revise the choices earlier passes made where the spec left them open (see its module). The last pass,
`advise`, adds warnings about choices that work but are probably not what was meant.
"""

from __future__ import annotations

from ..inputs.facts import Inputs
from ..inputs.hardware import HardwareProfile
from .advice import advise
from .attention import decide_attention
from .base import decide_base
from .batch import decide_batch
from .distribution import decide_distribution
from .estimates import decide_estimates
from .evaluation import decide_eval
from .fit import decide_fit
from .launcher import decide_launcher
from .loss import decide_loss
from .mixture import decide_sources
from .objective import decide_objective
from .offline import decide_offline
from .offload import check_host_memory, decide_offload
from .outputs import decide_outputs
from .plan import Plan
from .precision import decide_precision
from .schedule import decide_schedule
from .sharding import decide_sharded_quantization
from .special_tokens import decide_special_tokens
from .strategy import decide_strategy
from .targets import check_targets
from .tokenizer import decide_tokenizer
from .training import decide_training_options

PASSES = (
    decide_base,
    decide_tokenizer,
    decide_sources,
    decide_strategy,
    decide_objective,
    decide_special_tokens,
    check_targets,
    decide_distribution,
    decide_offload,
    decide_launcher,
    decide_precision,
    decide_batch,
    decide_attention,
    decide_loss,
    decide_schedule,
    decide_fit,
    check_host_memory,
    decide_training_options,
    decide_sharded_quantization,
    decide_estimates,
    decide_eval,
    decide_outputs,
    decide_offline,
    advise,
)


def draft(inputs: Inputs) -> Plan:
    """A plan with only its inputs and identity filled in."""
    spec = inputs.spec
    return Plan(
        inputs=inputs,
        name=spec.name,
        domain=spec.domain,
        description=spec.description,
        spec_file=inputs.spec_file,
        spec_hash=inputs.spec_hash,
        overrides=inputs.overrides,
    )


def run_passes(plan: Plan, passes=PASSES) -> Plan:
    for decide in passes:
        plan = decide(plan)
    return plan


def make_plan(inputs: Inputs) -> Plan:
    """Run every pass over a draft of ``inputs``."""
    return run_passes(draft(inputs))


__all__ = ["PASSES", "HardwareProfile", "draft", "make_plan", "run_passes"]
