"""On one fixed batch, each objective's loss and rewards in the generated train.py equal a reference
implementation's within 1e-5: TRL's (a test-only dependency) for DPO's sigmoid, IPO and hinge losses, KTO,
ORPO's odds-ratio term and SimPO; the paper's formula, computed here, for what TRL does not have (conservative
DPO's label smoothing, ORPO's whole loss).

The generated functions run on a tiny random decoder; TRL's trainers are built on the same weights.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

pytest.importorskip("trl")

TOL = 1e-5
PROMPTS = [[5, 6, 7], [5, 6], [9, 10, 11, 12]]
CHOSEN = [[8, 9, 10, 11], [14, 15], [21, 22, 23]]
REJECTED = [[12, 13], [16, 17, 18, 19, 20], [24]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A random two-layer decoder and the shared test tokenizer, saved; its weights are the reference."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    directory = tmp_path_factory.mktemp("tiny")
    tok = tinymodels.tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(directory / "model")
    tok.save_pretrained(directory / "model")
    row = {"q": "How?", "c": "Straight.", "r": "Hit.", "a": "Straight.", "y": True}
    (directory / "d.jsonl").write_text(json.dumps(row) + "\n")
    return directory


def generated(tiny: Path, objective: str):
    """The generated train.py of a full fine-tune with ``objective``, imported as a module (main() not run)."""
    columns = (
        'prompt = "q"\n completion = "a"\n label = "y"'
        if "kto" in objective
        else 'prompt = "q"\n chosen = "c"\n rejected = "r"'
    )
    name = objective.split("{")[0].split()[-1] + str(abs(hash(objective)))
    spec = tiny / f"{name}.ft"
    spec.write_text(
        f'name = "{name}"\nbase {{ model = "model" }}\ndata {{ train = "d.jsonl"\n format = preference\n {columns} }}\n'
        f"strategy full {{ }}\n{objective}\n"
    )
    out = tiny / "out" / name
    result = api.compile_spec(spec, out, target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    api.write(result.files, out)
    return tinymodels.import_script(out / "train.py", f"train_{name}")


def models(tiny: Path):
    """The policy (the reference's weights, moved a little) and the reference."""
    import torch
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(tiny / "model")
    policy = copy.deepcopy(reference)
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return policy, reference.eval().requires_grad_(False)


def pair_batch(module, pad_id: int):
    rows = []
    for prompt, chosen, rejected in zip(PROMPTS, CHOSEN, REJECTED, strict=True):
        ids, labels = module.answer_tokens(prompt, chosen)
        rejected_ids, rejected_labels = module.answer_tokens(prompt, rejected)
        rows.append(
            {"input_ids": ids, "labels": labels, "rejected_input_ids": rejected_ids, "rejected_labels": rejected_labels}
        )
    return module.collate(rows, pad_id)


def trl_pair_inputs(pad_id: int):
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    examples = [
        {"prompt_ids": p, "chosen_ids": c, "rejected_ids": r} for p, c, r in zip(PROMPTS, CHOSEN, REJECTED, strict=True)
    ]
    return DataCollatorForPreference(pad_token_id=pad_id)(examples)


def ours(module, policy, reference, batch):
    """Mean loss, mean chosen and rejected rewards of the generated preference_terms."""
    # Only an objective with a frozen reference copy takes it (DPO and KTO here, under full fine-tuning).
    frozen = (reference,) if hasattr(module, "build_models") else ()
    loss, stats = module.preference_terms(policy, batch, *frozen)
    return loss.mean().item(), (stats[2] / stats[3]).item(), (stats[4] / stats[5]).item()


def dataset():
    from datasets import Dataset

    return Dataset.from_list([{"prompt": "How?", "chosen": " Straight.", "rejected": " Hit."}] * 2)


@pytest.mark.parametrize("loss", ["sigmoid", "ipo", "hinge"])
def test_dpo_losses_equal_trls(tiny, loss, tmp_path):
    from trl import DPOConfig, DPOTrainer

    beta = 0.3
    module = generated(tiny, f"objective dpo {{\n loss = {loss}\n beta = {beta}\n}}")
    policy, reference = models(tiny)
    tok = tinymodels.tokenizer()
    args = DPOConfig(output_dir=str(tmp_path), beta=beta, loss_type=[loss], report_to="none", use_cpu=True, bf16=False)
    trainer = DPOTrainer(
        model=copy.deepcopy(policy),
        ref_model=copy.deepcopy(reference),
        args=args,
        train_dataset=dataset(),
        processing_class=tok,
    )
    trainer.model.train()
    expected = trainer._compute_loss(trainer.model, trl_pair_inputs(tok.pad_token_id), False).item()
    metrics = trainer._metrics["train"]
    got = ours(module, policy, reference, pair_batch(module, tok.pad_token_id))
    assert got[0] == pytest.approx(expected, abs=TOL)
    assert got[1] == pytest.approx(metrics["rewards/chosen"][-1], abs=TOL)
    assert got[2] == pytest.approx(metrics["rewards/rejected"][-1], abs=TOL)


def test_conservative_dpo_is_the_papers_formula(tiny):
    """TRL's sigmoid loss has no label smoothing: cDPO's expected loss (Mitchell 2023), computed here."""
    import torch
    import torch.nn.functional as F

    beta, eps = 0.2, 0.1
    module = generated(tiny, f"objective dpo {{\n beta = {beta}\n label_smoothing = {eps}\n}}")
    policy, reference = models(tiny)
    batch = pair_batch(module, tinymodels.tokenizer().pad_token_id)
    with torch.no_grad():
        logps = [sequence_logps(m, batch) for m in (policy, reference)]
    (chosen, rejected), (ref_chosen, ref_rejected) = (x.chunk(2) for x in logps)
    z = beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
    expected = (-(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)).mean().item()
    got = ours(module, policy, reference, batch)
    assert got[0] == pytest.approx(expected, abs=TOL)
    assert got[1] == pytest.approx((beta * (chosen - ref_chosen)).mean().item(), abs=TOL)


def sequence_logps(model, batch):
    """Each row's summed log-probability of its labelled tokens, written independently of train.py."""
    import torch

    logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    picked = torch.gather(logits.log_softmax(-1), 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def test_kto_equals_trls(tiny, tmp_path):
    from datasets import Dataset
    from trl import KTOConfig, KTOTrainer
    from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference

    beta = 0.25
    module = generated(tiny, f"objective kto {{\n beta = {beta}\n desirable_weight = 1.5\n}}")
    policy, reference = models(tiny)
    tok = tinymodels.tokenizer()
    labels = [True, False, True]
    answers = [CHOSEN[0], REJECTED[1], CHOSEN[2]]
    rows = []
    for prompt, answer, label in zip(PROMPTS, answers, labels, strict=True):
        ids, ids_labels = module.answer_tokens(prompt, answer)
        rows.append(
            {"input_ids": ids, "labels": ids_labels, "prompt_ids": prompt, "answer_ids": answer, "desirable": label}
        )
    batch = module.collate(rows, tok.pad_token_id)
    previous = answers[-1:] + answers[:-1]  # TRL's mismatched pairs: each prompt with the previous answer
    examples = [
        {"prompt_ids": p, "completion_ids": a, "KL_completion_ids": k, "label": y}
        for p, a, k, y in zip(PROMPTS, answers, previous, labels, strict=True)
    ]
    inputs = DataCollatorForUnpairedPreference(pad_token_id=tok.pad_token_id)(examples)
    unpaired = Dataset.from_list(
        [
            {"prompt": "How?", "completion": " Straight.", "label": True},
            {"prompt": "Why?", "completion": " No.", "label": False},
        ]
    )
    args = KTOConfig(
        output_dir=str(tmp_path),
        beta=beta,
        desirable_weight=1.5,
        report_to="none",
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=2,
    )
    trainer = KTOTrainer(
        model=copy.deepcopy(policy),
        ref_model=copy.deepcopy(reference),
        args=args,
        train_dataset=unpaired,
        processing_class=tok,
    )
    trainer.model.train()
    expected = trainer._compute_loss(trainer.model, inputs, False).item()
    metrics = trainer._metrics["train"]
    got = ours(module, policy, reference, batch)
    assert got[0] == pytest.approx(expected, abs=TOL)
    assert got[1] == pytest.approx(metrics["rewards/chosen"][-1], abs=TOL)
    assert got[2] == pytest.approx(metrics["rewards/rejected"][-1], abs=TOL)


def _mean_logps(model, batch):
    counts = (batch["labels"][:, 1:] != -100).sum(-1)
    return sequence_logps(model, batch) / counts


def test_orpo_odds_ratio_equals_trls_and_the_loss_the_paper(tiny, tmp_path):
    import torch
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    beta = 0.2
    module = generated(tiny, f"objective orpo {{\n beta = {beta}\n}}")
    policy, _ = models(tiny)
    tok = tinymodels.tokenizer()
    batch = pair_batch(module, tok.pad_token_id)
    args = ORPOConfig(output_dir=str(tmp_path), beta=beta, report_to="none", use_cpu=True, bf16=False)
    trainer = ORPOTrainer(model=copy.deepcopy(policy), args=args, train_dataset=dataset(), processing_class=tok)
    with torch.no_grad():
        chosen, rejected = _mean_logps(policy, batch).chunk(2)
        ratio_losses, chosen_rewards, rejected_rewards, _, _ = trainer.odds_ratio_loss(chosen, rejected)
    # ORPO (Hong et al. 2024, eq. 6): the chosen answer's loss per token, less the weighted odds-ratio term.
    expected = (-chosen - ratio_losses).mean().item()
    got = ours(module, policy, None, batch)
    assert got[0] == pytest.approx(expected, abs=TOL)
    assert got[1] == pytest.approx(chosen_rewards.mean().item(), abs=TOL)
    assert got[2] == pytest.approx(rejected_rewards.mean().item(), abs=TOL)


def test_simpo_equals_trls(tiny, tmp_path):
    import torch
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    beta, gamma = 2.0, 0.7
    module = generated(tiny, f"objective simpo {{\n beta = {beta}\n gamma = {gamma}\n}}")
    policy, _ = models(tiny)
    tok = tinymodels.tokenizer()
    batch = pair_batch(module, tok.pad_token_id)
    args = CPOConfig(
        output_dir=str(tmp_path),
        loss_type="simpo",
        beta=beta,
        simpo_gamma=gamma,
        cpo_alpha=0.0,
        report_to="none",
        use_cpu=True,
        bf16=False,
    )
    trainer = CPOTrainer(model=copy.deepcopy(policy), args=args, train_dataset=dataset(), processing_class=tok)
    with torch.no_grad():
        chosen, rejected = _mean_logps(policy, batch).chunk(2)
        losses, chosen_rewards, rejected_rewards = trainer.cpo_loss(chosen, rejected)
    got = ours(module, policy, None, batch)
    assert got[0] == pytest.approx(losses.mean().item(), abs=TOL)
    assert got[1] == pytest.approx(chosen_rewards.mean().item(), abs=TOL)
    assert got[2] == pytest.approx(rejected_rewards.mean().item(), abs=TOL)
