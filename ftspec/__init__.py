"""ftspec: a compiler for fine-tuning specs.

Each phase is reachable on its own, so a test (or a tool) can stop after any of them:

    parse -> lower -> compose -> validate -> check -> plan -> render -> write
"""

from .api import Result, check, compile_spec, plan_spec, write
from .diagnostics import CODES, Diagnostic, Diagnostics, FtspecError, Span, render_all
from .planner import make_plan
from .render.files import render
from .spec.combinations import impossible_combinations as check_combinations
from .spec.compose import extend, override
from .spec.loader import Loaded, load
from .spec.lower import lower
from .spec.parser import parse
from .spec.validate import validate

__version__ = "0.1.0"

__all__ = [
    "CODES",
    "Diagnostic",
    "Diagnostics",
    "FtspecError",
    "Loaded",
    "Result",
    "Span",
    "check",
    "check_combinations",
    "compile_spec",
    "extend",
    "load",
    "lower",
    "make_plan",
    "override",
    "parse",
    "plan_spec",
    "render",
    "render_all",
    "validate",
    "write",
]
