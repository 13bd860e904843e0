"""`candidates` over HTTP: out-of-bounds values get a bilingual 400; a sound value reaches the poet, from
a JSON body and through RemoteEngine, and the poem kept is the one a direct call keeps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.decoding.poet import Poet
from engine.models.gan_discriminator import DiscConfig, Discriminator
from engine.request import PoemRequest
from engine.serving.async_engine import AsyncEngine
from engine.serving.remote_engine import RemoteEngine
from tests.engine.serving.http_helpers import assert_bilingual, options, serving


@pytest.mark.parametrize("value", [b"0", b"17", b"-1", b"2.5", b'"4"', b"null"])
async def test_bad_candidates_get_400_in_chinese_and_english(base_url, http, value):
    body = b'{"keyword": "\\u6625", "candidates": ' + value + b"}"
    async with http.post(f"{base_url}/v1/poems", data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        err = assert_bilingual(await resp.json())
    assert "candidates" in err["en"] and "candidates" in err["zh"]


@pytest.fixture
def scored_poet(tiny_poet) -> Poet:
    torch.manual_seed(0)
    m = tiny_poet.models["gan"]
    scorer = Discriminator(DiscConfig(vocab_size=len(m.vocab))).eval()
    return Poet({"gan": dataclasses.replace(m, scorer=scorer, masks={}, heads={})}, torch.device("cpu"))


async def test_candidates_reach_the_poet_from_json_and_remote_engine(scored_poet, http):
    want = scored_poet.generate_batch([PoemRequest("秋", form="qijue", seed=9, candidates=3)])[0]
    async with AsyncEngine(scored_poet, options()) as engine, serving(engine) as url:
        body = {"keyword": "秋", "form": "qijue", "model": "gan", "seed": 9, "candidates": 3}
        async with http.post(f"{url}/v1/poems", json=body) as resp:
            assert resp.status == 200, await resp.text()
            [poem] = (await resp.json())["poems"]
        async with RemoteEngine(url) as remote:
            remote_res = await remote.generate(PoemRequest("秋", form="qijue", model="gan", seed=9, candidates=3))
    assert poem["lines"] == want.lines and poem["extra"]["rerank"] == want.extra["rerank"]
    assert poem["extra"]["rerank"]["candidates"] == 3 and poem["seed"] == 9
    assert remote_res.lines == want.lines
