"""The chunked causal loss equals the full-logits loss: same loss within 1e-5, same gradients within 1e-4.

Each causal format's train.py is compiled twice, `loss_chunk = 7` and `loss_chunk = 0`, and both `row_losses` run
on the same model and batch, for full fine-tuning and every PEFT kind (wrapping a tiny Llama and a tiny GPT-2, tied
and untied heads).
"""

from __future__ import annotations

import json

import pytest
import tinymodels
import torch

from ftspec import api

FORMATS = {
    "text": "",
    "instruction": '  format = instruction\n  prompt = "q"\n  response = "a"\n',
    "chat": "  format = chat\n",
}
KINDS = ("full", "lora", "qlora", "adalora", "ia3", "loha", "lokr")
IGNORE = -100


def compiled(directory, data: str, chunk: int):
    """The train.py of a causal spec with `loss_chunk = chunk`, imported (its top level only)."""
    directory.mkdir()
    row = {"text": "x", "q": "a question", "a": "an answer"}
    row["messages"] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    (directory / "rows.jsonl").write_text(json.dumps(row) + "\n")  # plain check reads the columns
    spec = directory / "spec.ft"
    spec.write_text(
        'name = "chunks"\nbase { model = "HuggingFaceTB/SmolLM2-135M" }\n'
        f'data {{\n  train = "rows.jsonl"\n{data}}}\nstrategy lora {{ }}\ntrain {{ loss_chunk = {chunk} }}\n'
    )
    result = api.compile_spec(spec, directory / "out", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    return tinymodels.import_script(result.out_dir / "train.py", f"train_{directory.name}")


@pytest.fixture(scope="module", params=list(FORMATS))
def scripts(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"chunked-{request.param}")
    chunked = compiled(root / "chunked", FORMATS[request.param], 7)
    full = compiled(root / "full", FORMATS[request.param], 0)
    assert chunked.LOSS_CHUNK == 7 and not hasattr(full, "LOSS_CHUNK")
    return chunked, full


def model(family: str, kind: str):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if family == "gpt2":  # a tied head
        base = GPT2LMHeadModel(
            GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0)
        )
    else:
        config = LlamaConfig(
            vocab_size=97,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            tie_word_embeddings=False,
        )
        base = LlamaForCausalLM(config)
    base.eval()  # no dropout: both losses see the same network
    if kind == "full":
        return base
    import peft

    targets = ["c_attn"] if family == "gpt2" else ["q_proj", "v_proj"]
    if kind == "qlora":
        pytest.importorskip("bitsandbytes")
        base = quantized(base)
    configs = {
        "lora": peft.LoraConfig(r=4, target_modules=targets, init_lora_weights=False),
        "qlora": peft.LoraConfig(r=4, target_modules=targets, init_lora_weights=False),
        "adalora": peft.AdaLoraConfig(init_r=4, target_modules=targets, total_step=10),
        "ia3": peft.IA3Config(target_modules=targets, feedforward_modules=[], init_ia3_weights=False),
        "loha": peft.LoHaConfig(r=4, target_modules=targets, init_weights=False),
        "lokr": peft.LoKrConfig(r=4, target_modules=targets, init_weights=False),
    }
    return peft.get_peft_model(base, configs[kind]).eval()


def quantized(base):
    """The base with its layers' linears in bitsandbytes 8-bit, as the QLoRA strategy loads them."""
    import bitsandbytes as bnb

    for name, module in list(base.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and "lm_head" not in f"{name}.{child_name}":
                replacement = bnb.nn.Linear8bitLt(
                    child.in_features, child.out_features, bias=child.bias is not None, has_fp16_weights=False
                )
                replacement.load_state_dict(child.state_dict())
                setattr(module, child_name, replacement)
    return base


def batch():
    torch.manual_seed(1)
    input_ids = torch.randint(0, 97, (3, 11))
    labels = input_ids.clone()
    labels[0, :4] = IGNORE  # a masked prompt
    labels[2, 7:] = IGNORE  # padding
    return {"input_ids": input_ids, "labels": labels, "position_ids": torch.arange(11).expand(3, 11)}


def losses_and_grads(script, net, rows):
    net.zero_grad(set_to_none=True)
    losses, counts = script.row_losses(net, rows)
    losses.sum().backward()
    grads = {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}
    return losses.detach(), counts, grads


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("kind", KINDS)
def test_chunked_loss_and_gradients_equal_the_full_logits(scripts, family, kind):
    chunked, full = scripts
    if family == "gpt2" and kind in ("qlora", "loha", "lokr"):
        pytest.skip("GPT-2's Conv1D layers take neither bitsandbytes nor LyCORIS adapters")
    net, rows = model(family, kind), batch()
    expected, expected_counts, expected_grads = losses_and_grads(full, net, rows)
    got, counts, grads = losses_and_grads(chunked, net, rows)
    assert torch.equal(counts, expected_counts)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert grads.keys() == expected_grads.keys() and grads
    for name, grad in grads.items():
        scale = expected_grads[name].abs().max().clamp(min=1e-12)
        assert (grad - expected_grads[name]).abs().max() / scale < 1e-4, name


def test_no_grad_path_equals_the_full_logits(scripts):
    chunked, full = scripts
    net, rows = model("llama", "lora"), batch()
    with torch.no_grad():
        torch.testing.assert_close(chunked.row_losses(net, rows)[0], full.row_losses(net, rows)[0])


def test_one_chunk_runs_the_head_once(scripts, monkeypatch):
    """When one chunk holds every position, the head is not checkpointed (nothing recomputed), same results."""
    chunked, full = scripts
    net, rows = model("llama", "full"), batch()
    expected, _, expected_grads = losses_and_grads(full, net, rows)
    monkeypatch.setattr(chunked, "LOSS_CHUNK", rows["input_ids"][:, 1:].numel())

    def no_checkpoint(*args, **kwargs):
        raise AssertionError("a single chunk was checkpointed")

    monkeypatch.setattr(chunked, "checkpoint", no_checkpoint)
    got, _, grads = losses_and_grads(chunked, net, rows)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6)


def test_a_frozen_head_runs_once_per_chunk_for_any_incoming_gradient(scripts, monkeypatch):
    """Under an adapter the head does not train: no chunk is recomputed in backward, and each position's gradient is
    right however the loss weighs the positions (here each row by a different factor, as a preference loss does)."""
    chunked, full = scripts
    net, rows = model("llama", "lora"), batch()
    weights = torch.tensor([0.5, -2.0, 3.0])

    def weighted(script):
        net.zero_grad(set_to_none=True)
        losses, _ = script.row_losses(net, rows)
        (losses * weights).sum().backward()
        return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}

    expected = weighted(full)

    def no_checkpoint(*args, **kwargs):
        raise AssertionError("a frozen head's chunk was checkpointed")

    monkeypatch.setattr(chunked, "checkpoint", no_checkpoint)
    got = weighted(chunked)
    assert got.keys() == expected.keys() and got
    for name, grad in got.items():
        scale = expected[name].abs().max().clamp(min=1e-12)
        assert (grad - expected[name]).abs().max() / scale < 1e-4, name
