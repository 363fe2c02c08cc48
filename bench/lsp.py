"""How soon `ftspec lsp` publishes diagnostics after an edit, next to `ftspec check` from a cold process.

A real LSP client (pygls's) starts the server over stdio, opens a 100-line spec and changes one value
at a time, every other edit introducing an error; the latency is from sending `didChange` to receiving
the diagnostics of that version. The target is a median under 50 ms. Run: python bench/lsp.py [--edits N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "cricket" / "coaching.jsonl"


def spec_text(learning_rate: str = "2e-4") -> str:
    """A spec of 100 lines: every block, a comment above each setting."""
    blocks = {
        "": [("name", '"bench-lsp"'), ("domain", '"sports/cricket"'), ("description", '"A benchmark spec."')],
        "base": [("model", '"Qwen/Qwen2.5-0.5B"'), ("revision", '"main"'), ("dtype", "auto")],
        "data": [
            ("train", f'"{DATA}"'),
            ("format", "instruction"),
            ("prompt", '"question"'),
            ("response", '"answer"'),
            ("eval_split", "10%"),
            ("max_length", "256"),
            ("packing", "true"),
            ("template", "alpaca"),
        ],
        "strategy lora": [
            ("rank", "16"),
            ("alpha", "32"),
            ("dropout", "0.05"),
            ("targets", "[q_proj, k_proj, v_proj, o_proj]"),
            ("rslora", "false"),
        ],
        "train": [
            ("epochs", "3"),
            ("learning_rate", learning_rate),
            ("batch_size", "8"),
            ("grad_accum", "2"),
            ("scheduler", "cosine"),
            ("warmup", "5%"),
            ("weight_decay", "0.01"),
            ("seed", "42"),
        ],
        "eval": [("metrics", "[perplexity]"), ("prompts", '["How do I bowl a yorker?"]'), ("max_new_tokens", "64")],
        "hardware": [("gpu", "l4"), ("gpus", "1"), ("distributed", "auto")],
        "output": [("merge", "true"), ("keep_last", "2")],
    }
    lines = ["# bench-lsp.ft: a 100-line spec for bench/lsp.py", ""]
    for header, settings in blocks.items():
        indent = "  " if header else ""
        if header:
            lines.append(f"{header} {{")
        for key, value in settings:
            lines += [f"{indent}# {key}: set for the benchmark", f"{indent}{key} = {value}"]
        if header:
            lines += ["}", ""]
    lines += [f"# padding comment {i}" for i in range(100 - len(lines))]
    return "\n".join(lines[:100]) + "\n"


async def edits(path: Path, count: int, pause: float) -> list[float]:
    client = LanguageClient("bench", "1")
    arrived: dict[int, float] = {}
    errors: dict[int, int] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            arrived.setdefault(params.version, time.perf_counter())
            errors[params.version] = sum(d.severity == types.DiagnosticSeverity.Error for d in params.diagnostics)

    await client.start_io(sys.executable, "-m", "ftspec", "lsp", cwd=str(ROOT))
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    uri = from_fs_path(str(path))
    text = spec_text()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="ftspec", version=1, text=text))
    )
    while 1 not in arrived:
        await asyncio.sleep(0.005)
    line = text.split("\n").index("  learning_rate = 2e-4")
    latencies = []
    for version in range(2, count + 2):
        value = "3e-4" if version % 2 else "2e-4x"  # every other edit a malformed number (FT006)
        await asyncio.sleep(pause)
        text_lines = text.split("\n")
        old = text_lines[line]
        change = types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, 18), types.Position(line, len(old))), text=value
        )
        text_lines[line] = old[:18] + value
        text = "\n".join(text_lines)
        sent = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(version=version, uri=uri), [change])
        )
        while version not in arrived:
            await asyncio.sleep(0.0005)
        latencies.append(arrived[version] - sent)
    # The server checked the text as edited: the malformed edits have an error, the others none.
    assert all(bool(errors[v]) == (v % 2 == 0) for v in range(2, count + 2)), errors
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return latencies


def cold_check(path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ftspec", "check", str(path)], cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between edits (longer than the debounce)")
    parser.add_argument("--runs", type=int, default=5, help="cold `ftspec check` runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench-lsp.ft"
        path.write_text(spec_text(), encoding="utf-8")
        assert len(path.read_text().splitlines()) == 100
        latencies = asyncio.run(edits(path, args.edits, args.pause))
        cold = cold_check(path, args.runs)
    median = statistics.median(latencies)
    p90 = sorted(latencies)[int(len(latencies) * 0.9) - 1]
    print(
        f"diagnostics after an edit (100 lines, {len(latencies)} edits): median {median * 1000:6.1f} ms   "
        f"p90 {p90 * 1000:6.1f}   max {max(latencies) * 1000:6.1f}   (target: median < 50 ms)"
    )
    print(
        f"ftspec check from a cold process:            median {statistics.median(cold) * 1000:6.1f} ms   "
        f"min {min(cold) * 1000:6.1f}   max {max(cold) * 1000:6.1f}"
    )
    print(
        f"the server answers {statistics.median(cold) / median:.1f}x sooner than a cold `ftspec check`; "
        f"median {'within' if median < 0.05 else 'OVER'} the 50 ms target"
    )


if __name__ == "__main__":
    main()
