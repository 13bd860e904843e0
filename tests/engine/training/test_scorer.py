"""The reranking scorer learns real training poems from the model's own, on the training split only,
from real poems the decoder could have written; its weights load only when finite."""

from __future__ import annotations

import pytest
import torch

from engine.decoding.poet import load_model, scorer_from_blob
from engine.training import scorer as S


@pytest.fixture(scope="module")
def gan(tiny_model_dir):
    return load_model(tiny_model_dir / "gan", torch.device("cpu"))


@pytest.fixture(scope="module")
def trained(gan, fixture_poems):
    """A scorer for the tiny GAN, and the poems the real side was drawn from."""
    seen: list = []

    def spy(poems, m, counts, rng):
        seen.extend(poems)
        return real_poems(poems, m, counts, rng)

    real_poems = S.real_poems
    S.real_poems = spy
    try:
        state, meta = S.train_scorer(gan, fixture_poems, S.ScorerConfig(poems=160, minutes=2, epochs=10))
    finally:
        S.real_poems = real_poems
    return state, meta, seen


def test_the_scorer_tells_real_poems_from_the_models_own(trained):
    _, meta, _ = trained
    assert meta["generated_poems"] == 160 and sum(meta["per_form"].values()) == 160
    assert 48 <= meta["real_poems"] <= 3 * 160  # up to three per generated poem, as the fixture has them
    assert meta["heldout_poems"] == 2 * int(0.15 * 160)  # as many real as generated ones
    assert meta["train_accuracy"] >= 0.75  # it learns what sets the tiny model's poems apart
    assert 0.0 <= meta["heldout_accuracy"] <= 1.0 and len(meta["history"]) == 10


def test_real_poems_come_from_the_training_split_only(trained, fixture_poems):
    _, _, seen = trained
    assert seen and all(p.split == "train" for p in seen)
    assert any(p.split == "valid" for p in fixture_poems)  # there were others to leave out


def test_real_poems_hold_only_characters_the_decoder_writes(gan, fixture_poems):
    import random

    train = [p for p in fixture_poems if p.split == "train" and p.form]
    real = S.real_poems(train, gan, {"wujue": 20, "qilv": 20}, random.Random(0))
    writable = gan.masks_for("pingshui", "cpu").is_char
    assert real and all(e.real and e.form in ("wujue", "qilv") for e in real)
    for e in real:
        chars = [t for t in e.tokens if t not in (4, 5)]  # ，。
        assert all(bool(writable[t]) for t in chars)


def test_the_scorer_is_stored_in_fp16_and_refused_with_nan_weights(trained):
    state, meta, _ = trained
    assert all(t.dtype == torch.float16 for t in state.values())
    scorer = scorer_from_blob({"scorer": state, "meta": {"scorer": meta}}, torch.device("cpu"))
    assert scorer is not None and not scorer.training
    bad = {k: v.clone() for k, v in state.items()}
    next(iter(bad.values())).view(-1)[0] = float("nan")
    with pytest.raises(ValueError):
        scorer_from_blob({"scorer": bad, "meta": {"scorer": meta}}, torch.device("cpu"))
