"""The fast decoding path: logits over the allowed characters only, the int8 decoder, min-p sampling.
Each must give what the plain path would, or (int8) differ only by rounding."""

from __future__ import annotations

import random

import pytest
import torch

from engine.decoding.output_head import OutputHead
from engine.decoding.poet import Poet
from engine.decoding.sampling import sample
from engine.models.int8_lm import Int8Decoder
from engine.request import PoemRequest

THEMES = ["春", "秋", "月", "山", "风", "花", "明月", "江", "雨", "夜"]


@pytest.fixture(scope="module")
def fp32_poet(tiny_model_dir) -> Poet:
    return Poet.load(tiny_model_dir, device="cpu", quantize=False)


@pytest.fixture(scope="module")
def int8_poet(tiny_model_dir) -> Poet:
    poet = Poet.load(tiny_model_dir, device="cpu", quantize=True)
    for m in poet.models.values():  # the int8 path is tested on every host, fast there or not
        m.int8 = m.int8 or Int8Decoder(m.net.decoder if m.kind == "vae" else m.net)
    return poet


def _outputs(decoder, n=16, steps=6, seed=0):
    """Step outputs (to be scored against the embedding) over a few random decoding steps."""
    g = torch.Generator().manual_seed(seed)
    V = decoder.cfg.vocab_size
    slot, tone = torch.arange(steps).expand(n, steps), torch.randint(1, 3, (n, steps), generator=g)
    form, kw = torch.randint(0, 4, (n,), generator=g), torch.randint(6, V, (n, 4), generator=g)
    pos, state = decoder.start(form, kw, slot, tone)
    outs = []
    for t in range(steps):
        e, state = decoder.step(torch.randint(6, V, (n,), generator=g), pos[:, t], state)
        outs.append(e)
    return torch.cat(outs)


def _full_logits(lm, e):
    return e @ lm.tok_emb.weight.t() + lm.out_bias


@torch.no_grad()
def test_restricted_logits_are_the_full_logits_at_the_allowed_columns(fp32_poet):
    m = fp32_poet.models["gan"]
    lm = m.decoder
    head = OutputHead(lm, m.masks_for("pingshui", torch.device("cpu")))
    e = _outputs(lm)
    full = _full_logits(lm, e)  # (n, V)
    for k in range(4):
        assert len(head.cols[k]) < full.shape[1]
        torch.testing.assert_close(head.logits(e, k), full[:, head.cols[k]])
        absent = (head.inv[k] < 0).nonzero()[:, 0]
        assert not torch.isin(absent, head.cols[k]).any()


@torch.no_grad()
def test_int8_decoder_follows_the_fp32_one(fp32_poet):
    lm = fp32_poet.models["gan"].decoder
    q = Int8Decoder(lm)
    a, b = _full_logits(lm, _outputs(lm)), _full_logits(lm, _outputs(q))
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    assert cos.min() > 0.99
    assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.9


@pytest.mark.parametrize("poet_name", ["fp32_poet", "int8_poet"])
def test_a_poem_does_not_depend_on_its_batch_mates(request, poet_name):
    poet = request.getfixturevalue(poet_name)
    rng = random.Random(5)
    reqs = [PoemRequest(keyword=rng.choice(THEMES), form=f, model=rng.choice(["gan", "vae"]),
                        temperature=rng.choice([0.5, 1.0, 1.5]), strict=rng.random() < 0.7,
                        top_p=rng.choice([1.0, 1.0, 0.8]), seed=rng.randrange(10**6))
            for f in ("wujue", "qilv") for _ in range(12)]
    batched = poet.generate_batch(reqs)
    single = [poet.generate_batch([r])[0] for r in reqs]
    assert [r.lines for r in batched] == [r.lines for r in single]


def test_min_p_never_draws_an_unlikely_character():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 300, generator=g) * 3
    logits[:, ::7] = float("-inf")  # masked columns
    none, half = torch.zeros(64, 1, dtype=torch.long), torch.ones(64, 1)
    for min_p in (0.05, 0.3):
        for _ in range(20):
            pick = sample(logits, torch.rand(64, generator=g), none, half, torch.full((64, 1), min_p))
            p = torch.softmax(logits, 1)
            chosen = p.gather(1, pick[:, None])[:, 0]
            assert (chosen >= min_p * p.max(1).values - 1e-6).all()


@pytest.mark.parametrize("top_p", [1.0, 0.999])  # the min-p path and the top-k/top-p path
def test_sampling_follows_the_distribution(top_p):
    logits = torch.log(torch.tensor([[4.0, 2.0, 1.0, 0.0, 1.0]]))  # p = 4/8, 2/8, 1/8, 0, 1/8
    n = 8000
    u = (torch.arange(n) + 0.5) / n  # an even grid of uniforms: exact frequencies
    pick = sample(logits.expand(n, 5), u, torch.zeros(n, 1, dtype=torch.long), torch.full((n, 1), top_p),
                  torch.zeros(n, 1))
    counts = torch.bincount(pick, minlength=5).tolist()
    assert counts == [4000, 2000, 1000, 0, 1000]
