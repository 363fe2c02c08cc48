"""The cost of a plan (`ftspec plan --price`): GPU-hours from the planner's duration, and money at a price."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from ftspec import api
from ftspec.cli.main import main
from ftspec.planner.cost import cost

QLORA_7B = (ROOT / "tests" / "plans" / "llama-7b-qlora.ft").read_text()


@pytest.fixture
def qlora_7b(tmp_path):
    """The 7B QLoRA spec of tests/plans on 10,000 rows of ~1,000 characters (~2.2M tokens an epoch).

    By hand: 6 x 6.78B + 2 x 40M trained FLOPs a token (forward, backward, recomputed forward) x 6.7M tokens over 3
    epochs = 2.7e17 FLOPs; at 40% of the l4's 121 TFLOP/s, 5,600 s or ~1.56 GPU-hours.
    """
    row = json.dumps({"question": "q" * 480, "answer": "a" * 480})
    (tmp_path / "data.jsonl").write_text((row + "\n") * 10_000)
    path = tmp_path / "llama-7b-qlora.ft"
    path.write_text(QLORA_7B)
    return path


def test_7b_qlora_on_an_l4_costs_gpu_hours_times_the_price(qlora_7b, capsys):
    assert main(["plan", str(qlora_7b), "--target", "l4", "--json", "--price", "0.8"]) == 0
    plan = json.loads(capsys.readouterr().out)
    estimates, processes = plan["estimates"], plan["hardware"]["processes"]
    assert processes == 1 and estimates["utilisation"] == 0.4
    # FLOPs over the l4's 121 TFLOP/s at 40%: the duration times one process, before its rounding.
    gpu_hours = estimates["train_flops"] / (121e12 * 0.4) / 3600
    assert plan["cost"] == {
        "gpu_hours": round(gpu_hours, 4),
        "price_per_gpu_hour": 0.8,
        "total": round(round(gpu_hours, 4) * 0.8, 2),
        "note": None,
    }
    assert plan["cost"]["gpu_hours"] == pytest.approx(estimates["duration_hours"] * processes, abs=1e-3)
    assert estimates["gpu_hours"] == plan["cost"]["gpu_hours"]  # the plan's figure; the price is the CLI's
    assert plan["cost"] == {"gpu_hours": 1.5644, "price_per_gpu_hour": 0.8, "total": 1.25, "note": None}


def test_the_plan_table_shows_the_cost(qlora_7b, capsys):
    assert main(["plan", str(qlora_7b), "--target", "l4", "--price", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "  cost        ~1.6 GPU-hours x 0.8 per GPU-hour = 1.25\n" in out
    assert main(["plan", str(qlora_7b), "--target", "l4"]) == 0
    assert "  cost        ~1.6 GPU-hours; give --price P (per GPU-hour) for the total\n" in capsys.readouterr().out


def test_gpu_hours_do_not_depend_on_how_many_gpus_share_them(qlora_7b):
    checkpointing = "train.gradient_checkpointing=true"  # one GPU would need it, eight would not: same FLOPs
    one = cost(api.check(qlora_7b, (checkpointing,), target="h100").plan, 2.0)
    eight = cost(api.check(qlora_7b, (checkpointing, "hardware.gpus=8"), target="h100").plan, 2.0)
    assert one["gpu_hours"] == pytest.approx(eight["gpu_hours"], rel=0.01) and eight["total"] > 0


def test_without_a_peak_the_cost_cannot_be_estimated(qlora_7b, capsys):
    assert main(["plan", str(qlora_7b), "--target", "cpu", "--json", "--price", "0.8"]) == 0
    assert json.loads(capsys.readouterr().out)["cost"] == {
        "gpu_hours": None,
        "price_per_gpu_hour": 0.8,
        "total": None,
        "note": "cannot be estimated: `cpu` has no peak FLOP/s figure; plan with --target NAME for a GPU",
    }
    assert main(["plan", str(qlora_7b)]) == 0  # no hardware block: decided at launch
    assert "  cost        cannot be estimated: `launch` has no peak FLOP/s figure" in capsys.readouterr().out


@pytest.mark.parametrize("price", ["-1", "nan", "cheap"])
def test_a_bad_price_is_a_usage_error(qlora_7b, price):
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(qlora_7b), "--price", price])
    assert exit_info.value.code == 2
