"""The objective blocks, one pydantic model per kind (`objective dpo { … }`).

No `objective` block is plain supervised learning. Each kind trains on `format = preference` data; the defaults
are the papers' (DPO: Rafailov et al. 2023; IPO: Azar et al. 2023; ORPO: Hong et al. 2024; SimPO: Meng et al. 2024;
KTO: Ethayarajh et al. 2024), as TRL also sets them.
"""

# Without `from __future__ import annotations`, as every module of pydantic models (see ftspec.spec.values).

from typing import Literal

from pydantic import Field

from .values import Block, Fraction


class _Referenced(Block):
    reference: Literal["auto", "adapter", "copy"] | None = Field(
        None,
        description="the frozen reference model: `adapter` is the base with the adapter switched off (no second "
        "copy), `copy` a frozen copy of the starting weights; `auto` (or unset) is `adapter` for adapter "
        "strategies, else `copy`",
    )


class Dpo(_Referenced):
    """Direct preference optimisation (Rafailov et al. 2023), with the IPO and hinge losses; beta 0.1 as in the
    paper."""

    kind: Literal["dpo"] = "dpo"
    beta: float = Field(0.1, gt=0, le=100, description="strength of the pull toward the reference (KL weight)")
    loss: Literal["sigmoid", "ipo", "hinge"] = Field(
        "sigmoid",
        description="`sigmoid`: DPO's logistic loss; `ipo`: IPO's squared loss on per-token log ratios "
        "(Azar et al. 2023); `hinge`: SLiC's hinge (Zhao et al. 2023)",
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="share of pairs assumed mislabelled (conservative DPO; `sigmoid` only)"
    )


class Kto(_Referenced):
    """Kahneman-Tversky optimisation on unpaired rows, each labelled desirable or not (Ethayarajh et al. 2024)."""

    kind: Literal["kto"] = "kto"
    beta: float = Field(0.1, gt=0, le=100, description="strength of the pull toward the reference")
    desirable_weight: float = Field(1.0, gt=0, le=100, description="weight of the losses of desirable rows")
    undesirable_weight: float = Field(1.0, gt=0, le=100, description="weight of the losses of undesirable rows")


class Orpo(Block):
    """Odds-ratio preference optimisation: supervised loss on the chosen plus an odds-ratio term, no reference
    (Hong et al. 2024); beta is the paper's lambda, 0.1."""

    kind: Literal["orpo"] = "orpo"
    beta: float = Field(0.1, gt=0, le=100, description="weight of the odds-ratio term beside the supervised loss")


class Simpo(Block):
    """Simple preference optimisation: length-normalised log-probabilities as the reward, a target margin gamma,
    no reference (Meng et al. 2024); TRL's defaults beta 2.0, gamma 0.5."""

    kind: Literal["simpo"] = "simpo"
    beta: float = Field(2.0, gt=0, le=100, description="scale of the length-normalised reward")
    gamma: float = Field(0.5, ge=0, le=100, description="target reward margin (the paper's gamma)")
    label_smoothing: Fraction = Field(0.0, description="share of pairs assumed mislabelled")


OBJECTIVES: dict[str, type[Block]] = {"dpo": Dpo, "kto": Kto, "orpo": Orpo, "simpo": Simpo}
REFERENCED_KINDS = ("dpo", "kto")  # objectives measured against a frozen reference model
# Settings that only an objective with a reference takes (a diagnostic, not an unknown key, on the others).
REFERENCE_SETTINGS = ("reference",)
Objective = Dpo | Kto | Orpo | Simpo
