"""Never run a stranger's code: hostile strings in every string setting stay data in every generated file.

A spec comes from someone else (a colleague, a pull request, a download). Whatever its strings hold — quotes,
triple quotes, backslashes, newlines, Jinja, shell expansions, Python — the compiled files must keep them as
values: in Python only inside string literals, in shell and YAML only quoted, and nothing may run on import,
on `bash -n` or on running launch.sh. The model card's table must survive them too.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
import tokenize
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ftspec import api

# The payloads. Each would run `touch pwned` (or expand something) if pasted into code, a shell or a template.
PAYLOADS = {
    "double-quote": 'say "hi"',
    "single-quote": "it's",
    "triple-double": 'a """ b "',
    "triple-single": "a ''' b '",
    "backslash": "C:\\new\\table\\",
    "newline": "one\ntwo\r\nthree",
    "jinja-expression": "{{ 7 * 7 }}",
    "jinja-statement": "{% for x in y %}",
    "shell-variable": "${HOME}",
    "command-substitution": "$(touch pwned)",
    "backticks": "`touch pwned`",
    "python-code": "__import__('os').system('touch pwned')",
    # Closes a naively quoted literal, runs code, and reopens one: valid Python if pasted between quotes.
    "breakout-double": "\" + __import__('os').system('touch pwned') + \"",
    "breakout-single": "' + __import__('os').system('touch pwned') + '",
    "comment": "x # y: z",
    "everything": "\"'\"\"\"'''\\\n{{ x }}{% if y %}${HOME}$(touch pwned)`touch pwned`"
    "__import__('os').system('touch pwned')",
}
# Words that may appear in generated code only inside string literals (they come from the payloads).
MARKERS = ("pwned", "__import__", "touch", "system", "HOME")
# The training stack, stubbed so the generated modules' top level can run here in milliseconds.
STACK = ("torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "bitsandbytes", "matplotlib")


class Ident(str):
    """A bare name in a spec (an enumeration value), not a string."""


def literal(value) -> str:
    """A spec literal: strings quoted with the language's escapes."""
    if isinstance(value, Ident):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    text = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{text}"'


def spec_text(blocks: dict[str, dict]) -> str:
    """``{"": top-level settings, "strategy lora": {...}, "data": {...}}`` as spec text."""
    lines = [f"{key} = {literal(value)}" for key, value in blocks.get("", {}).items()]
    for header, settings in blocks.items():
        if header:
            lines += [header + " {", *(f"  {key} = {literal(value)}" for key, value in settings.items()), "}"]
    return "\n".join(lines) + "\n"


def filename(payload: str) -> str:
    """The payload as a file name: everything but `/` (and NUL) is allowed on Linux."""
    return payload.replace("/", "_")


DEPENDENCY = spec_text(
    {
        "": {"name": "dep"},
        "data": {"train": "train.txt", "format": Ident("text")},
        "tokenizer": {"train": True},
        "strategy scratch": {"hidden_size": 64, "heads": 4},
    }
)


def base_blocks() -> dict[str, dict]:
    """A LoRA instruction spec on a hub model for two 8-GPU machines (so slurm.sh is written too)."""
    return {
        "": {"name": "hostile"},
        "base": {"model": "org/model"},
        "data": {"train": "train.jsonl", "format": Ident("instruction"), "prompt": "q", "response": "a"},
        "strategy lora": {},
        "train": {"batch_size": 32},
        "hardware": {"nodes": 2, "gpus": 8, "gpu": Ident("h100")},
    }


def classification(blocks: dict) -> dict:
    blocks["data"] = {
        "train": "train.csv",
        "format": Ident("classification"),
        "text": "t",
        "label": "l",
        "labels": ["neg", "pos"],
        "packing": False,
    }
    return blocks


def chat(blocks: dict) -> dict:
    blocks["data"] = {"train": "chat.jsonl", "format": Ident("chat")}
    return blocks


@dataclass
class Field:
    """How to put a payload into one setting, and where it must come out in the generated Python."""

    # (payload, spec directory) -> the spec's blocks; may create files in the directory.
    blocks: object
    # payload -> the exact string constant the generated Python must hold, or None (checked elsewhere).
    constant: object = None
    # payload -> a piece some string constant must contain (paths are rewritten relative to the output).
    part: object = None


def _set(block: str, key: str, value=lambda p: p, prepare=lambda b: b):
    def build(payload: str, directory: Path) -> dict:
        blocks = prepare(base_blocks())
        blocks.setdefault(block, {})[key] = value(payload)
        return blocks

    return build


def _column(key: str, prepare=lambda b: b):
    """A column setting holding the payload, and a data file that has that column (plain `check` reads it)."""

    def build(payload: str, directory: Path) -> dict:
        blocks = _set("data", key, prepare=prepare)(payload, directory)
        data = blocks["data"]
        # JSON keeps any column name exactly, where a CSV reader normalises line endings inside a quoted header.
        row = {data.get("messages", "messages"): [{"role": "assistant", "content": "b"}]}
        row |= {data[name]: "neg" for name in ("prompt", "response", "text", "label") if name in data}
        (directory / "columns.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
        data["train"] = "columns.jsonl"
        return blocks

    return build


def _file_setting(block: str, key: str, suffix: str, content: str, prepare=lambda b: b):
    """A setting naming a real file whose name holds the payload."""

    def build(payload: str, directory: Path) -> dict:
        (directory / (filename(payload) + suffix)).write_text(content, encoding="utf-8")
        blocks = prepare(base_blocks())
        blocks[block][key] = filename(payload) + suffix
        if key == "eval":
            blocks[block].pop("eval_split", None)
        return blocks

    return build


def _extends(payload: str, directory: Path) -> dict:
    (directory / (filename(payload) + ".ft")).write_text('description = "from the parent"\n', encoding="utf-8")
    blocks = base_blocks()
    blocks[""]["extends"] = filename(payload) + ".ft"
    return blocks


def _base_spec(payload: str, directory: Path) -> dict:
    (directory / (filename(payload) + ".ft")).write_text(DEPENDENCY, encoding="utf-8")
    blocks = base_blocks()
    blocks["base"] = {"spec": filename(payload) + ".ft"}
    return blocks


def _local_base(payload: str, directory: Path) -> dict:
    """`base.model` naming a local directory (its name holds the payload) rather than a hub id."""
    (directory / filename(payload)).mkdir()
    blocks = base_blocks()
    blocks["base"] = {"model": "./" + filename(payload)}
    return blocks


def _hub_data(blocks: dict) -> dict:
    blocks["data"]["train"] = "hub:org/data"
    return blocks


def _full(blocks: dict) -> dict:
    blocks["strategy full"] = blocks.pop("strategy lora")
    return blocks


def _doubled(payload: str) -> str:
    return payload.replace("{", "{{").replace("}", "}}")


FIELDS = {
    "domain": Field(_set("", "domain")),
    "description": Field(_set("", "description"), part=lambda p: p),  # in the docstring
    "base.model": Field(_set("base", "model", lambda p: "org/" + filename(p)), lambda p: "org/" + filename(p)),
    "base.model-directory": Field(_local_base, part=filename),
    "base.revision": Field(_set("base", "revision"), lambda p: p),
    "base.spec": Field(_base_spec),
    "extends": Field(_extends),
    "data.train": Field(_file_setting("data", "train", ".jsonl", "{}\n"), part=lambda p: filename(p) + ".jsonl"),
    "data.eval": Field(_file_setting("data", "eval", ".jsonl", "{}\n"), part=lambda p: filename(p) + ".jsonl"),
    "data.train-hub": Field(_set("data", "train", lambda p: "hub:org/" + filename(p)), lambda p: "org/" + filename(p)),
    "data.revision": Field(_set("data", "revision", prepare=_hub_data), lambda p: p),
    "data.text": Field(_column("text", classification), lambda p: p),
    "data.prompt": Field(_column("prompt"), lambda p: p),
    "data.response": Field(_column("response"), lambda p: p),
    # A template needs a placeholder; the payload's braces are doubled to stay literal text.
    "data.template": Field(
        _set("data", "template", lambda p: _doubled(p) + " {prompt}"), lambda p: _doubled(p) + " {q}"
    ),
    "data.label": Field(_column("label", classification), lambda p: p),
    "data.labels": Field(_set("data", "labels", lambda p: [p, "other"], classification), lambda p: p),
    "data.messages": Field(_column("messages", chat), lambda p: p),
    "data.chat_template": Field(
        _set("data", "chat_template", lambda p: p + " {{ messages }}", chat), lambda p: p + " {{ messages }}"
    ),
    "strategy.targets": Field(_set("strategy lora", "targets", lambda p: [p]), lambda p: p),
    "strategy.modules_to_save": Field(_set("strategy lora", "modules_to_save", lambda p: [p]), lambda p: p),
    "strategy.freeze": Field(_set("strategy full", "freeze", lambda p: [p], _full), lambda p: p),
    "eval.prompts": Field(_set("eval", "prompts", lambda p: [p, "second"]), lambda p: p),
    "tokenizer.model": Field(_set("tokenizer", "model"), lambda p: p),
    "output.dir": Field(_set("output", "dir"), part=lambda p: p),
}


def write_workspace(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "train.jsonl").write_text('{"q": "a", "a": "b"}\n', encoding="utf-8")
    (directory / "train.csv").write_text("t,l\nx,neg\n", encoding="utf-8")
    (directory / "train.txt").write_text("some text\n", encoding="utf-8")
    chat = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    (directory / "chat.jsonl").write_text(json.dumps(chat) + "\n", encoding="utf-8")


def compile_hostile(directory: Path, blocks: dict, spec_name: str = "hostile.ft") -> api.Result:
    spec = directory / spec_name
    spec.write_text(spec_text(blocks), encoding="utf-8")
    result = api.compile_spec(spec, directory.parent / "out")
    errors = [f"{d.code} {d.message}" for d in result.diagnostics if d.is_error]
    assert result.ok, errors
    return result


# --- the checks ------------------------------------------------------------------------------------------------


def string_constants(tree: ast.AST) -> set[str]:
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def check_python(name: str, text: str) -> set[str]:
    """The file parses, no payload word is code (or a comment), and the top level only defines things."""
    tree = ast.parse(text, name)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.STRING, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            continue
        # A comment holding a value means a template pasted it raw: one newline in it and it is code.
        found = [word for word in MARKERS if word in token.string]
        assert not found, f"{name}:{token.start[0]}: {found} outside a string literal: {token.line!r}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id not in MARKERS, f"{name}: a name `{node.id}` on line {node.lineno}"
        if isinstance(node, ast.Attribute):
            assert node.attr not in MARKERS, f"{name}: an attribute `.{node.attr}` on line {node.lineno}"
    for node in tree.body:
        assert isinstance(
            node, (ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef, ast.ClassDef, ast.Expr, ast.If)
        ), f"{name}:{node.lineno}: top-level {type(node).__name__}"
        if isinstance(node, ast.ClassDef):  # a class body that only defines methods (and a docstring) runs nothing
            assert not node.decorator_list and all(
                isinstance(part, ast.FunctionDef)
                or (isinstance(part, ast.Expr) and isinstance(part.value, ast.Constant))
                for part in node.body
            ), f"{name}:{node.lineno}: class {node.name} runs code when it is defined"
        if isinstance(node, ast.Expr):  # only the module docstring
            assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str), f"{name}:{node.lineno}"
        if isinstance(node, ast.If):  # only `if __name__ == "__main__":`
            assert ast.unparse(node.test) in ("__name__ == '__main__'", '__name__ == "__main__"'), ast.unparse(node)
    return string_constants(tree)


class Stub(types.ModuleType):
    """Any attribute, call or decorator of the training stack, doing nothing."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name[:1].isupper():  # a class the generated code may subclass (Sampler)
            return type(name, (), {})
        return Stub(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        return Stub(f"{self.__name__}()")


class StubFinder:
    """Serves a Stub for every module of the training stack."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in STACK:
            from importlib.machinery import ModuleSpec

            return ModuleSpec(name, StubFinder, is_package=True)
        return None

    @staticmethod
    def create_module(spec):
        module = Stub(spec.name)
        module.__path__ = []
        return module

    @staticmethod
    def exec_module(module):
        pass


def run_top_level(out: Path, files: dict[str, str]) -> None:
    """Import train.py and eval.py (not as __main__) with the training stack stubbed: only their top level runs."""
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] in (*STACK, "train", "eval")}
    for name in saved:
        del sys.modules[name]
    sys.meta_path.insert(0, StubFinder)
    try:
        for stem in ("train", "eval"):
            module = types.ModuleType(stem)
            module.__file__ = str(out / f"{stem}.py")
            sys.modules[stem] = module  # eval.py imports train
            exec(compile(files[f"{stem}.py"], module.__file__, "exec"), module.__dict__)
    finally:
        sys.meta_path.remove(StubFinder)
        for name in [name for name in sys.modules if name.split(".")[0] in (*STACK, "train", "eval")]:
            del sys.modules[name]
        sys.modules.update(saved)


def run_shell(out: Path, files: dict[str, str], scratch: Path) -> None:
    """`bash -n` every shell file, then run launch.sh with a stub `accelerate` that records its arguments."""
    for name in ("launch.sh", "slurm.sh"):
        if name in files:
            done = subprocess.run(["bash", "-n", str(out / name)], capture_output=True, text=True, cwd=scratch)
            assert done.returncode == 0, f"{name}: {done.stderr}"
    stubs = scratch / "bin"
    stubs.mkdir(exist_ok=True)
    accelerate = stubs / "accelerate"
    accelerate.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > accelerate.args\n', encoding="utf-8")
    accelerate.chmod(0o755)
    env = {
        "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(scratch),
        "MACHINE_RANK": "0",
        "MAIN_PROCESS_IP": "127.0.0.1",
    }
    done = subprocess.run(["bash", str(out / "launch.sh")], capture_output=True, text=True, cwd=scratch, env=env)
    assert done.returncode == 0, done.stderr
    assert (out / "accelerate.args").read_text(encoding="utf-8").split("\n")[0] == "launch"


def check_outputs(result: api.Result, scratch: Path) -> dict[str, set[str]]:
    """Every check on one compiled output; returns the string constants of each Python file."""
    out = result.out_dir
    api.write(result.files, out)
    constants = {name: check_python(name, text) for name, text in result.files.items() if name.endswith(".py")}
    config = yaml.safe_load(result.files["accelerate_config.yaml"])
    assert isinstance(config, dict) and "distributed_type" in config, config
    json.loads(result.files["plan.json"])
    run_top_level(out, result.files)
    run_shell(out, result.files, scratch)
    for where in (scratch, out, out.parent, Path.cwd()):
        assert not (where / "pwned").exists(), f"a payload ran: {where / 'pwned'} exists"
    return constants


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A working directory where a payload that ran would leave `pwned`."""
    directory = tmp_path / "cwd"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


# --- the tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", FIELDS)
def test_hostile_value_stays_a_string(field, payload, tmp_path, scratch):
    directory = tmp_path / "specs"
    write_workspace(directory)
    case = FIELDS[field]
    result = compile_hostile(directory, case.blocks(payload, directory))
    constants = check_outputs(result, scratch)
    every = set().union(*constants.values())
    if case.constant is not None:
        assert case.constant(payload) in every, f"{case.constant(payload)!r} is not a string constant"
    if case.part is not None:
        assert any(case.part(payload) in value for value in every), f"no string constant holds {case.part(payload)!r}"


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_hostile_spec_file_name(payload, tmp_path, scratch):
    """The spec's own path reaches the docstrings and the model card."""
    directory = tmp_path / "specs"
    write_workspace(directory)
    result = compile_hostile(directory, base_blocks(), filename(payload) + ".ft")
    constants = check_outputs(result, scratch)
    assert any(filename(payload) in value for value in constants["train.py"])


@pytest.mark.parametrize("name", ["a", "A.b-c_d", "0-", "9.._-_", "x" * 100])
def test_every_legal_name(name, tmp_path, scratch):
    """`name` is limited to letters, digits, `.`, `_` and `-`; each of them must survive every file."""
    directory = tmp_path / "specs"
    write_workspace(directory)
    blocks = base_blocks()
    blocks[""]["name"] = name
    result = compile_hostile(directory, blocks)
    constants = check_outputs(result, scratch)
    assert name in constants["eval.py"]
    assert f"--job-name={name}\n" in result.files["slurm.sh"]


@pytest.mark.parametrize("name", ["a b", "a\nb", "$(touch pwned)", "../up", ".hidden", "-flag", "x" * 101, ""])
def test_illegal_names_are_errors(name, tmp_path):
    directory = tmp_path / "specs"
    write_workspace(directory)
    blocks = base_blocks()
    blocks[""]["name"] = name
    spec = directory / "hostile.ft"
    spec.write_text(spec_text(blocks), encoding="utf-8")
    result = api.check(spec)
    assert [d.code for d in result.diagnostics if d.is_error] == ["FT106"]


# --- the model card ------------------------------------------------------------------------------------------------

TABLE_ROWS = 11  # rows of README.md.j2's table, after its header and separator


def card_table(readme: str) -> list[str]:
    """The lines of the model card's table, from its header to the first line that is not a row."""
    lines = readme.split("\n")
    start = lines.index("| | |")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


# Values the card shows in its table, each with a payload that breaks a Markdown table if pasted raw.
CARD_CASES = {
    f"{field}-{kind}": (field, payload)
    for field in ("domain", "base.model", "base.revision", "data.train")
    for kind, payload in (("pipe", "a | b"), ("newline", "a\nb"))
}
# Cases the model card does not survive yet (README.md.j2 writes values through its `md`/`code` filters).
CARD_BROKEN: set[str] = set()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason="README.md.j2 pastes the value raw"))
        if case in CARD_BROKEN
        else case
        for case in CARD_CASES
    ],
)
def test_model_card_table_survives(case, tmp_path):
    field, payload = CARD_CASES[case]
    directory = tmp_path / "specs"
    write_workspace(directory)
    result = compile_hostile(directory, FIELDS[field].blocks(payload, directory))
    table = card_table(result.files["README.md"])
    assert len(table) == 2 + TABLE_ROWS, table
    # Two cells: three pipes that are not escaped (`\|` is a pipe inside a cell).
    assert all(row.replace("\\|", "").count("|") == 3 for row in table), table


# --- trust_remote_code -------------------------------------------------------------------------------------------


def trust_remote_code(files: dict[str, str]):
    tree = ast.parse(files["train.py"])
    values = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["TRUST_REMOTE_CODE"]
    ]
    assert len(values) == 1, values
    return values[0]


@pytest.mark.parametrize(
    "setting, expected",
    [(None, False), (False, False), (True, True)],
    ids=["unset", "false", "true"],
)
@pytest.mark.parametrize("source", ["hub", "spec"])
def test_trust_remote_code_only_when_the_spec_says_so(setting, expected, source, tmp_path):
    directory = tmp_path / "specs"
    write_workspace(directory)
    blocks = base_blocks()
    if source == "spec":
        (directory / "dep.ft").write_text(DEPENDENCY, encoding="utf-8")
        blocks["base"] = {"spec": "dep.ft"}
    if setting is not None:
        blocks["base"]["trust_remote_code"] = setting
    files = compile_hostile(directory, blocks).files
    assert trust_remote_code(files) is expected
    # Every loader passes the constant: nothing hard-codes trust_remote_code=True.
    for name, text in files.items():
        assert "trust_remote_code=True" not in text.replace(" ", ""), name


@pytest.mark.parametrize("written", ['"true"', "1", "yes", "[true]"])
def test_trust_remote_code_takes_only_a_boolean(written, tmp_path):
    directory = tmp_path / "specs"
    write_workspace(directory)
    spec = directory / "hostile.ft"
    spec.write_text(
        spec_text(base_blocks()).replace(
            'model = "org/model"', f'model = "org/model"\n  trust_remote_code = {written}'
        ),
        encoding="utf-8",
    )
    result = api.check(spec)
    assert [d.code for d in result.diagnostics if d.is_error] in (["FT105"], ["FT104"]), result.diagnostics


def test_trust_remote_code_from_the_command_line(tmp_path):
    directory = tmp_path / "specs"
    write_workspace(directory)
    spec = directory / "hostile.ft"
    spec.write_text(spec_text(base_blocks()), encoding="utf-8")
    result = api.compile_spec(spec, tmp_path / "out", ("base.trust_remote_code=true",))
    assert result.ok and trust_remote_code(result.files) is True
    result = api.compile_spec(spec, tmp_path / "out", ('base.trust_remote_code="true"',))
    assert [d.code for d in result.diagnostics if d.is_error] == ["FT105"]


def test_shell_is_on_path():
    assert shutil.which("bash"), "these tests run bash -n and launch.sh"
