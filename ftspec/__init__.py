"""ftspec: a compiler for fine-tuning specs.

Each phase is reachable on its own, so a test (or a tool) can stop after any of them:

    parse -> lower -> compose -> validate -> check -> plan -> render -> write

The names below are imported on first use (PEP 562), so `python -m ftspec check` loads only what a check
needs: Jinja2 and the templates wait for a command that renders.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType

__version__ = "0.1.0"

_WHERE = {  # public name -> (module, attribute)
    "CODES": (".diagnostics", "CODES"),
    "Diagnostic": (".diagnostics", "Diagnostic"),
    "Diagnostics": (".diagnostics", "Diagnostics"),
    "FtspecError": (".diagnostics", "FtspecError"),
    "Loaded": (".spec.loader", "Loaded"),
    "Result": (".api", "Result"),
    "Span": (".diagnostics", "Span"),
    "check": (".api", "check"),
    "check_combinations": (".spec.combinations", "impossible_combinations"),
    "compile_spec": (".api", "compile_spec"),
    "extend": (".spec.compose", "extend"),
    "load": (".spec.loader", "load"),
    "lower": (".spec.lower", "lower"),
    "make_plan": (".planner", "make_plan"),
    "override": (".spec.compose", "override"),
    "parse": (".spec.parser", "parse"),
    "plan_spec": (".api", "plan_spec"),
    "render": (".render.files", "render"),
    "render_all": (".diagnostics", "render_all"),
    "validate": (".spec.validate", "validate"),
    "write": (".api", "write"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'ftspec' has no attribute {name!r}")
    module, attribute = _WHERE[name]
    value = getattr(import_module(module, __name__), attribute)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


class _Package(ModuleType):
    """Keeps `ftspec.render` the function, as the eager imports did, when the `render` subpackage loads later."""

    def __setattr__(self, name: str, value) -> None:
        if name == "render" and isinstance(value, ModuleType):
            return  # the subpackage stays reachable as sys.modules["ftspec.render"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
