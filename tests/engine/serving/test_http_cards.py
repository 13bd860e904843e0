"""POST /v1/poems with "script": "traditional" and "image": true: the poems in traditional script with
the model's simplified lines beside them, each with its card as base64 PNG; and through RemoteEngine."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from engine.request import PoemRequest
from engine.serving.remote_engine import RemoteEngine
from engine.text.script import to_traditional
from tests.engine.serving.http_helpers import assert_bilingual


async def test_poems_in_traditional_script_with_their_cards(base_url, http):
    body = {"keyword": "春", "form": "wulv", "seed": 4, "n": 2, "script": "traditional", "image": True}
    async with http.post(f"{base_url}/v1/poems", json=body) as resp:
        assert resp.status == 200, await resp.text()
        poems = (await resp.json())["poems"]
    plain = (await (await http.post(f"{base_url}/v1/poems", json={**body, "script": "simplified", "image": False})).json())["poems"]
    images = []
    for poem, simplified in zip(poems, plain, strict=True):
        assert poem["script"] == "traditional"
        assert poem["simplified_lines"] == simplified["lines"]  # the same poems, as the model wrote them
        assert poem["lines"] == [to_traditional(line) for line in simplified["lines"]]
        assert poem["text"] == "\n".join(poem["lines"])
        assert poem["check"]["ok"] == simplified["check"]["ok"]  # checked as written
        with Image.open(io.BytesIO(base64.b64decode(poem["image_png_base64"]))) as card:
            card.load()
            assert card.format == "PNG" and card.size == (1440, 1080)  # 五律: 8 lines + title + seal
        images.append(poem["image_png_base64"])
    assert images[0] != images[1]  # two poems, two cards
    assert "image_png_base64" not in plain[0]  # only when asked for


@pytest.mark.parametrize("bad", [{"script": "繁"}, {"image": "yes"}, {"image": 1}])
async def test_a_bad_script_or_image_field_is_a_bilingual_400(base_url, http, bad):
    async with http.post(f"{base_url}/v1/poems", json={"keyword": "春", **bad}) as resp:
        assert resp.status == 400
        err = assert_bilingual(await resp.json())
    assert next(iter(bad)) in err["en"]


async def test_remote_engine_asks_for_the_script_and_keeps_the_simplified_lines(base_url, engine):
    async with RemoteEngine(base_url) as remote:
        result = await remote.generate(PoemRequest("月", seed=9, script="traditional"))
    local = await engine.generate(PoemRequest("月", seed=9))
    assert result.script == "traditional" and result.simplified_lines == local.lines
    assert result.lines == [to_traditional(line) for line in local.lines]
