"""bf16 training: the choice follows the hardware, and a bf16 step computes the same loss and
gradients as fp32 to bf16's precision (softmax and loss stay fp32)."""

from __future__ import annotations

import pytest
import torch

from engine.models.poem_lm import PoemLM, PoemLMConfig, tied_softmax_loss
from engine.models.vae import PoemVAE, VAEConfig
from engine.training import precision


def test_fp32_is_plain_and_unknown_choices_are_refused_in_both_languages():
    dtype, figures = precision.choose("fp32", torch.device("cpu"))
    assert dtype == torch.float32 and figures["dtype"] == "fp32"
    with pytest.raises(ValueError, match="未知精度.*Unknown precision"):
        precision.choose("fp16", torch.device("cpu"))


def test_auto_takes_bf16_only_with_native_units(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.choose("auto", torch.device("cpu"))[0] == torch.float32
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    monkeypatch.setattr(precision, "matmul_speedup", lambda device: 1.1)  # native but not faster: fp32
    assert precision.choose("auto", torch.device("cpu"))[0] == torch.float32
    monkeypatch.setattr(precision, "matmul_speedup", lambda device: 4.0)
    dtype, figures = precision.choose("auto", torch.device("cpu"))
    assert dtype == torch.bfloat16 and figures["bf16_matmul_speedup"] == 4.0


def _grads(loss_fn, params):
    for p in params:
        p.grad = None
    loss = loss_fn()
    loss.backward()
    return loss.item(), [p.grad.clone() for p in params]


def _close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_a_bf16_step_of_the_tied_softmax_loss_matches_fp32():
    torch.manual_seed(0)
    e = torch.randn(300, 32, requires_grad=True)
    w = (0.3 * torch.randn(500, 32)).requires_grad_()
    b = torch.zeros(500, requires_grad=True)
    t = torch.randint(0, 500, (300,))
    t[::7] = -1  # ignored targets
    ref, g_ref = _grads(lambda: torch.nn.functional.cross_entropy(e @ w.t() + b, t, ignore_index=-1), [e, w, b])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, g_low = _grads(lambda: tied_softmax_loss(e.bfloat16(), w, b, t, chunk=128), [e, w, b])
    assert low == pytest.approx(ref, rel=1e-2)
    assert all(_close(x, y) > 0.99 for x, y in zip(g_low, g_ref, strict=True))
    assert g_low[1].dtype == torch.float32  # the master weights' gradients stay fp32


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_a_whole_model_step_under_bf16_autocast_matches_fp32(kind):
    torch.manual_seed(0)
    lm = PoemLMConfig(vocab_size=300, n_forms=4, n_embd=32, n_hidden=48, n_layer=1, dropout=0.0,
                      z_dim=8 if kind == "vae" else 0)
    model = PoemVAE(VAEConfig(lm=lm, enc_hidden=16, word_dropout=0.0)) if kind == "vae" else PoemLM(lm)
    model.eval()  # no dropout, the VAE's posterior mean: both passes see the same network
    B, T = 8, 12
    tokens = torch.randint(6, 300, (B, T))
    prev = torch.cat([torch.ones(B, 1, dtype=torch.long), tokens[:, :-1]], 1)
    slot, tone = torch.zeros(B, T, dtype=torch.long), torch.ones(B, T, dtype=torch.long)
    form, keyword = torch.zeros(B, dtype=torch.long), torch.randint(6, 300, (B, 2))

    def loss():
        if kind == "vae":
            return model(tokens, prev, slot, tone, form, keyword)[1]
        return model(prev, slot, tone, form, keyword, targets=tokens)[1]

    params = [p for p in model.parameters() if p.requires_grad]
    ref, g_ref = _grads(loss, params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, g_low = _grads(loss, params)
    assert low == pytest.approx(ref, rel=2e-2)
    assert sum(_close(x, y) > 0.98 for x, y in zip(g_low, g_ref, strict=True)) >= 0.9 * len(params)


def test_the_train_command_refuses_an_unknown_precision_before_reading_the_corpus(tmp_path):
    from typer.testing import CliRunner

    from app.cli import app

    r = CliRunner().invoke(app, ["train", "gan", "--precision", "fp16", "--corpus-dir", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "run")])
    assert r.exit_code == 2
    assert "未知精度" in r.output and "Unknown precision" in r.output
    assert not (tmp_path / "run").exists()
