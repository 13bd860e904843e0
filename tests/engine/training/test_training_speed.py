"""The faster training recipe (docs/training.md) changes speed, not what is learnt: the chunked loss
is the full softmax, the thread count follows the measured speed, a run ends within its time
budget, and every evaluation says when it happened and how much it had seen."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from engine.models.poem_lm import PoemLM, PoemLMConfig, tied_softmax_loss
from engine.models.transformer_lm import TransformerLM, TransformerLMConfig
from engine.training.config import preset
from engine.training.mle import ThreadPicker, thread_candidates
from engine.training.train import DISC_MINUTES, FINISH_MINUTES, mle_minutes, train


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_chunked_loss_has_the_loss_and_gradients_of_the_full_softmax(chunk):
    g = torch.Generator().manual_seed(0)
    e, w, b = (torch.randn(*s, generator=g, requires_grad=True) for s in ((50, 8), (30, 8), (30,)))
    t = torch.randint(0, 30, (50,), generator=g)
    t[[3, 7, 49]] = -1  # ignored positions
    fused = tied_softmax_loss(e, w, b, t, chunk=chunk)
    plain = F.cross_entropy(e @ w.t() + b, t, ignore_index=-1)
    assert fused.item() == pytest.approx(plain.item(), abs=1e-5)
    for gf, gp in zip(torch.autograd.grad(3 * fused, (e, w, b)), torch.autograd.grad(3 * plain, (e, w, b)),
                      strict=True):
        assert torch.allclose(gf, gp, atol=1e-6)


def _batch(vocab: int, B: int = 4, T: int = 12):
    g = torch.Generator().manual_seed(1)
    toks = torch.randint(4, vocab, (B, T), generator=g)
    prev = torch.cat([torch.ones(B, 1, dtype=torch.long), toks[:, :-1]], 1)
    slot = torch.arange(T).expand(B, T)
    return prev, slot, torch.randint(0, 4, (B, T), generator=g), torch.zeros(B, dtype=torch.long), toks[:, :2], toks


def test_poem_lm_trains_on_the_nll_of_its_own_logits():
    """What the loss optimises is the NLL of the logits decoding uses (full vocabulary)."""
    model = PoemLM(PoemLMConfig(vocab_size=40, n_embd=8, n_hidden=16, n_layer=1)).eval()
    prev, slot, tone, form, kw, toks = _batch(40)
    logits, none = model(prev, slot, tone, form, kw)
    assert none is None and logits.shape == (4, 12, 40)
    with torch.enable_grad():
        _, loss = model(prev, slot, tone, form, kw, targets=toks)
    assert loss.requires_grad
    assert loss.item() == pytest.approx(F.cross_entropy(logits.flatten(0, 1), toks.flatten()).item(), abs=1e-5)


def test_transformer_sees_no_future_token():
    model = TransformerLM(TransformerLMConfig(vocab_size=40, n_embd=16, n_head=2, n_layer=2)).eval()
    prev, slot, tone, form, kw, _ = _batch(40)
    changed = prev.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 40
    a, _ = model(prev, slot, tone, form, kw)
    b, _ = model(changed, slot, tone, form, kw)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6)
    assert not torch.allclose(a[:, 8:], b[:, 8:])


@pytest.mark.parametrize("cores, expected", [(1, [1]), (2, [1, 2]), (6, [1, 2, 4, 6]), (16, [1, 2, 4, 8, 16])])
def test_thread_candidates(cores, expected):
    assert thread_candidates(cores) == expected


def test_thread_picker_follows_the_faster_count_as_the_load_changes():
    picker = ThreadPicker([1, 2], every=20, trial=3)
    speed = {1: 1.0, 2: 3.0}  # seconds per 1,000 tokens: another job is running, two threads are slower
    used = []
    for step in range(60):
        if step == 30:
            speed = {1: 1.0, 2: 0.6}  # the other job ended
        t = picker.threads_for(step)
        used.append(t)
        picker.record(step, t, speed[t] * 1.5, 1500)
    assert used[:3] == [1, 1, 1]  # before the first trial: one thread, safe on a shared host
    assert used[3:9] == [1, 1, 1, 2, 2, 2]  # the trial
    assert set(used[9:23]) == {1}  # one thread won
    assert set(used[29:43]) == {1} and set(used[49:]) == {2}  # the trial at step 43 saw the load go


def test_thread_picker_with_one_core_never_tries_another():
    picker = ThreadPicker([1], every=5)
    assert {picker.threads_for(s) for s in range(30)} == {1}
    assert all(picker.record(s, 1, 1.0, 100) is None for s in range(30))


def test_a_time_budget_leaves_room_for_the_phases_after_mle():
    vae = preset("default", model="vae", total_minutes=150)
    gan = preset("default", model="gan", total_minutes=150, adv_minutes=30)
    assert mle_minutes(vae, 1.0) == pytest.approx(150 - 1 - FINISH_MINUTES)
    assert mle_minutes(gan, 1.0) == pytest.approx(150 - 1 - FINISH_MINUTES - DISC_MINUTES - 30)
    assert mle_minutes(preset("default", total_minutes=150, max_minutes=20), 1.0) == 20
    assert mle_minutes(preset("default", max_minutes=20), 1.0) == 20
    assert mle_minutes(preset("default"), 1.0) is None


def test_full_preset_trains_several_epochs_within_150_minutes():
    for model in ("gan", "vae"):
        cfg = preset("full", model=model)
        assert cfg.epochs >= 3 and cfg.total_minutes <= 150 and cfg.threads is None
        assert mle_minutes(cfg, 1.0) > 90  # most of the budget goes to the MLE / VAE phase


def test_each_evaluation_logs_when_it_happened_and_what_it_had_seen(fixture_poems, tmp_path):
    cfg = preset("tiny", model="vae", out_dir=tmp_path, epochs=2, limit_poems=200, eval_every=4, warmup_steps=3)
    cfg.threads = None  # timed (a None override would leave the preset's 1)
    try:
        train(cfg, fixture_poems, verbose=False)
    finally:
        torch.set_num_threads(1)  # the picker may have chosen more; other tests expect one
    log = [json.loads(ln) for ln in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    evals = [r for r in log if "valid_loss" in r]
    assert len(evals) >= 3
    for key in ("minutes", "tokens", "epoch", "load1", "threads", "lr"):
        assert all(key in r for r in evals), key
    assert [r["tokens"] for r in evals] == sorted({r["tokens"] for r in evals})  # strictly increasing
    assert evals[-1]["epoch"] == pytest.approx(2.0)
    trials = [r for r in log if r.get("event") == "threads"]
    assert trials and all(r["chosen"] in thread_candidates() for r in trials)
