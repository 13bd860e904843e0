"""The gate: a candidate passes only when nothing regresses beyond its tolerance, it stays within
the KL budget and the reward model, trusted only when clearly above chance, prefers it."""

from __future__ import annotations

import torch

from engine.evaluation.gate import EvalSet, GateConfig, drift, judge, reward_credible, win_rate
from engine.request import PoemRequest

CHAMP = {"format": 1.0, "rhyme": 1.0, "tone": 1.0, "keyword_hit": 1.0, "distinct_2": 0.85, "repetition": 0.02,
         "nll": 4.6, "classifier": 0.8}
WIN = {"win_rate": 0.7, "ci_low": 0.65, "ci_high": 0.75}


def candidate(**changes):
    return {**CHAMP, "kl": 0.03, "win": WIN, **changes}


def test_a_better_candidate_within_every_tolerance_passes():
    assert judge(candidate(distinct_2=0.83, repetition=0.025, nll=4.63, classifier=0.82), CHAMP, GateConfig()) == []


def test_each_regression_is_a_reason():
    cfg = GateConfig()
    cases = {"tone": dict(tone=0.995), "distinct_2": dict(distinct_2=0.80), "repetition": dict(repetition=0.04),
             "nll": dict(nll=4.7), "classifier": dict(classifier=0.86), "KL": dict(kl=0.5),
             "prefer": dict(win={"win_rate": 0.52, "ci_low": 0.47, "ci_high": 0.57})}
    for word, change in cases.items():
        reasons = judge(candidate(**change), CHAMP, cfg)
        assert len(reasons) == 1 and word in reasons[0], (word, reasons)


def test_small_steps_that_add_up_are_refused_against_the_shipped_model():
    cfg = GateConfig()  # distinct-2 may fall 0.03 per cycle, 2 x 0.03 from the shipped model
    shipped = {**CHAMP, "distinct_2": 0.90}
    step = candidate(distinct_2=0.83)  # 0.02 below its parent (0.85): within one cycle's tolerance
    assert judge(step, CHAMP, cfg) == []
    [reason] = drift(step, shipped, "gan-2026.11.23", cfg)  # 0.07 below the shipped model
    assert "distinct_2 drifted from the shipped gan-2026.11.23" in reason
    assert drift(candidate(distinct_2=0.85), shipped, "gan-2026.11.23", cfg) == []  # 0.05: within 0.06


def test_a_reward_model_no_better_than_chance_is_not_trusted():
    cfg = GateConfig()
    assert reward_credible(0.70, 150, 150, 0.033, cfg) == []
    assert "chance" in reward_credible(0.55, 150, 150, 0.033, cfg)[0]
    assert "too few" in reward_credible(0.90, 5, 150, 0.1, cfg)[0]


def test_the_same_poems_do_not_win():
    ev = EvalSet([PoemRequest(keyword="春", seed=i) for i in range(50)], [], [], [])
    texts = [f"poem {i}" for i in range(50)]

    def reward(t, k, f):
        return torch.tensor([float(hash(x) % 100) for x in t])

    w = win_rate(reward, ev, texts, texts)
    assert w["win_rate"] == 0.5 and w["ci_low"] <= 0.5
