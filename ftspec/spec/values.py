"""The values settings take beside plain numbers and strings, and the base of every block model."""

# Pydantic models are defined without `from __future__ import annotations` (here and in every module of
# models): pydantic would otherwise compile each annotation from its string when the model is built, a
# share of every cold `ftspec check`. Forward references are quoted instead.

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Percent:
    """A percentage as written (`5%` is Percent(5.0))."""

    value: float

    @property
    def fraction(self) -> float:
        return self.value / 100.0

    def __str__(self) -> str:
        return f"{self.value:g}%"


@dataclass(frozen=True)
class Size:
    """A size in bytes (`80GiB`)."""

    bytes: int

    @property
    def gib(self) -> float:
        return self.bytes / 2**30

    def __str__(self) -> str:
        return f"{self.gib:g}GiB"


class Block(BaseModel):
    # Validators are built on first use: a spec touches a few of these models, not all.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Targets = Literal["all_linear"] | list[str]
