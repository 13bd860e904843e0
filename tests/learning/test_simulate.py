"""`simulate` on the tiny models: one JSON-ready object with before/after figures on the fixed
evaluation set, the gate and what was promoted; random raters are refused and nothing moves."""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidInput
from learning.simulate import simulate
from tests.conftest import FIXTURE_CORPUS


def test_random_raters_are_refused_and_the_champion_stays(tiny_model_dir, tmp_path):
    out = simulate("gan", "极影", 400, seed=3, raters="random", model_dir=tiny_model_dir, corpus_dir=FIXTURE_CORPUS,
                   cache_dir=tmp_path, eval_per_form=10, progress=False)
    json.dumps(out, ensure_ascii=False)
    for side in ("before", "after"):
        assert set(out[side]) >= {"preferred_share", "format", "rhyme", "tone"}
        assert out[side]["format"] == out[side]["rhyme"] == out[side]["tone"] == 1.0
    assert out["gate"]["passed"] is False and out["gate"]["reasons"]
    assert out["promoted"] is False and out["after"] == out["before"]
    assert out["rounds"][0]["ratings"] == 400


@pytest.mark.parametrize("args", [dict(prefer=" "), dict(raters="everyone"), dict(ratings=0)])
def test_bad_arguments_get_a_bilingual_message(tiny_model_dir, args):
    kw = dict(model="gan", prefer="月", ratings=10, seed=0, raters="preference") | args
    with pytest.raises(InvalidInput) as e:
        simulate(**kw, model_dir=tiny_model_dir, corpus_dir=FIXTURE_CORPUS)
    assert e.value.zh and e.value.en
