"""The HTTP API end to end on 127.0.0.1 (a real aiohttp server over the tiny models), and
RemoteEngine, the client engine adapters use to reach it from another process."""

from __future__ import annotations

import asyncio
import socket

import pytest

from engine.errors import EngineUnavailable, InvalidInput, Overloaded
from engine.request import PoemRequest, PoemResult
from engine.serving.async_engine import AsyncEngine
from engine.serving.http_api import MAX_BODY_BYTES
from engine.serving.remote_engine import RemoteEngine
from tests.engine.serving.http_helpers import (
    HAN,
    JINGYESI,
    assert_bilingual,
    options,
    serving,
    until,
)
from tests.fakes.gated_poet import Gate


async def test_poems_come_with_their_prosody_check(base_url, http, engine):
    body = {"keyword": "春", "form": "qijue", "model": "gan", "seed": 5, "n": 3}
    async with http.post(f"{base_url}/v1/poems", json=body) as resp:
        assert resp.status == 200
        data = await resp.json()
    poems = data["poems"]
    assert [p["seed"] for p in poems] == [5, 6, 7]
    for p in poems:
        assert p["form"] == "qijue" and p["model"] == "gan"
        assert p["model_version"] == engine.model_versions["gan"]
        assert len(p["lines"]) == 4 and p["text"] == "\n".join(p["lines"])
        assert p["check"]["form"] == "qijue"
        assert len(p["check"]["lines"]) == 4
    again = await (await http.post(f"{base_url}/v1/poems", json={**body, "n": 1})).json()
    assert again["poems"][0]["lines"] == poems[0]["lines"]  # a seed reproduces its poem


async def test_acrostic_and_vae_options_reach_the_generator(base_url, http):
    body = {"keyword": "春花秋月", "acrostic": True, "model": "vae", "scheme": "xinyun", "seed": 1}
    async with http.post(f"{base_url}/v1/poems", json=body) as resp:
        assert resp.status == 200, await resp.text()
        [poem] = (await resp.json())["poems"]
    assert [line[0] for line in poem["lines"]] == list("春花秋月")
    assert poem["model"] == "vae" and len(poem["latent"]) > 0
    assert poem["check"]["scheme"] == "xinyun"


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "body"),
        (b'{"form": "wujue"}', "keyword"),
        (b'{"keyword": "\\u6625", "n": 0}', "n"),
        (b'{"keyword": "\\u6625", "n": 17}', "n"),
        (b'{"keyword": "\\u6625", "temperature": "hot"}', "temperature"),
        (b'{"keyword": "\\u6625", "seed": 1.5}', "seed"),
        (b'{"keyword": "\\u6625", "top_p": 0}', "top_p"),
        (b'{"keyword": "\\u6625", "latent": "near"}', "latent"),
        (b'{"keyword": "\\u6625", "colour": "red"}', "colour"),
        (b'{"keyword": "\\u6625", "model": "gpt"}', "gpt"),
        (b'{"keyword": "\\u6625", "form": "sonnet"}', "sonnet"),
        (b'{"keyword": "\\u6625", "scheme": "cmudict"}', "cmudict"),
        (b'{"keyword": ""}', "keyword"),
        (b'{"keyword": "\\u6625\\u590f", "acrostic": true}', "acrostic"),
    ],
)
async def test_bad_input_gets_400_in_chinese_and_english(base_url, http, body, mentions):
    async with http.post(
        f"{base_url}/v1/poems", data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
        err = assert_bilingual(await resp.json())
    assert mentions.lower() in err["en"].lower()


async def test_an_oversized_body_is_refused_with_413(base_url, http):
    body = {"text": "春" * MAX_BODY_BYTES}
    async with http.post(f"{base_url}/v1/check", json=body) as resp:
        assert resp.status == 413
        assert_bilingual(await resp.json())


async def test_unknown_paths_and_methods_answer_json_errors(base_url, http):
    async with http.get(f"{base_url}/v2/poems") as resp:
        assert resp.status == 404
        assert_bilingual(await resp.json())
    async with http.get(f"{base_url}/v1/poems") as resp:
        assert resp.status == 405
        assert "POST" in resp.headers["Allow"]
        assert_bilingual(await resp.json())


async def test_check_endpoint(base_url, http):
    async with http.post(f"{base_url}/v1/check", json={"text": JINGYESI}) as resp:
        assert resp.status == 200
        report = await resp.json()
    assert report["form"] == "wujue" and report["scheme"] == "pingshui"
    async with http.post(f"{base_url}/v1/check", json={"text": JINGYESI, "scheme": "cmudict"}) as resp:
        assert resp.status == 400
        assert "cmudict" in assert_bilingual(await resp.json())["en"]
    async with http.post(f"{base_url}/v1/check", json={"text": 42}) as resp:
        assert resp.status == 400
        assert "text" in assert_bilingual(await resp.json())["en"]


async def test_healthz_lists_the_loaded_models(base_url, http, engine):
    async with http.get(f"{base_url}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"ok": True, "models": engine.model_versions}
    assert set(engine.model_versions) == {"gan", "vae"}


async def test_metrics_expose_the_batch_histogram_and_counters(base_url, http):
    await http.post(f"{base_url}/v1/poems", json={"keyword": "月", "n": 4})
    async with http.get(f"{base_url}/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    assert 'yinshi_batch_size_bucket{le="4.0"}' in text
    assert "yinshi_requests_total 4.0" in text
    assert "yinshi_request_latency_seconds_count 4.0" in text
    assert "yinshi_queue_depth 0.0" in text


async def test_overloaded_is_503_with_retry_after(tiny_poet, http):
    gate = Gate(tiny_poet)
    async with AsyncEngine(gate, options(max_queue=1)) as engine, serving(engine) as url:
        first = asyncio.create_task(http.post(f"{url}/v1/poems", json={"keyword": "春"}))
        await gate.wait_entered()
        second = asyncio.create_task(http.post(f"{url}/v1/poems", json={"keyword": "秋"}))
        await until(lambda: engine.queue_depth == 1)  # the second request is waiting
        async with http.post(f"{url}/v1/poems", json={"keyword": "雪"}) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
            assert assert_bilingual(await resp.json())["type"] == "Overloaded"
        gate.opened.set()
        for task in (first, second):
            resp = await task
            assert resp.status == 200
            resp.release()


async def test_timeout_is_504(tiny_poet, http):
    gate = Gate(tiny_poet)
    async with AsyncEngine(gate, options(request_timeout_s=0.2)) as engine, serving(engine) as url:
        async with http.post(f"{url}/v1/poems", json={"keyword": "春"}) as resp:
            assert resp.status == 504
            assert assert_bilingual(await resp.json())["type"] == "RequestTimeout"
        gate.opened.set()


# -- RemoteEngine ---------------------------------------------------------------------------------


async def test_remote_engine_writes_checks_and_reports_versions_like_the_local_one(base_url, engine):
    async with RemoteEngine(base_url) as remote:
        assert remote.model_versions == engine.model_versions
        poem = await remote.generate(PoemRequest("山", form="wulv", model="vae", seed=3))
        local = await engine.generate(PoemRequest("山", form="wulv", model="vae", seed=3))
        assert isinstance(poem, PoemResult)
        assert poem.lines == local.lines and poem.latent == local.latent
        more = await remote.generate(PoemRequest("山", form="wulv", model="vae", seed=4, latent=poem.latent))
        assert len(more.lines) == 8
        report = await remote.check(JINGYESI)
        assert report == await engine.check(JINGYESI)


async def test_every_field_of_a_request_reaches_the_remote_generator(base_url, engine):
    """Nothing is lost on the way: the HTTP body is PoemRequest's own fields."""
    request = PoemRequest("春", form="qilv", model="vae", scheme="xinyun", strict=False, temperature=0.7,
                          top_k=40, top_p=0.9, min_p=0.05, theme=0.5, parallel=0.0, words=0.5, plan=1.5, seed=11)
    async with RemoteEngine(base_url) as remote:
        poem = await remote.generate(request)
    assert poem.lines == (await engine.generate(request)).lines
    assert poem.lines != (await engine.generate(PoemRequest("春", form="qilv", model="vae", seed=11))).lines


async def test_remote_engine_raises_the_engines_bilingual_errors(base_url):
    async with RemoteEngine(base_url) as remote:
        with pytest.raises(InvalidInput) as err:
            await remote.generate(PoemRequest("春", model="gpt"))
        assert "gpt" in err.value.en and HAN.search(err.value.zh)
        with pytest.raises(InvalidInput):
            await remote.check("床前明月光", scheme="cmudict")


async def test_remote_engine_passes_overloaded_through(tiny_poet):
    gate = Gate(tiny_poet)
    async with AsyncEngine(gate, options(max_queue=1)) as engine, serving(engine) as url:
        async with RemoteEngine(url) as remote:
            first = asyncio.create_task(remote.generate(PoemRequest("春")))
            await gate.wait_entered()
            second = asyncio.create_task(remote.generate(PoemRequest("秋")))
            await until(lambda: engine.queue_depth == 1)
            with pytest.raises(Overloaded):
                await remote.generate(PoemRequest("雪"))
            gate.opened.set()
            assert all(isinstance(r, PoemResult) for r in await asyncio.gather(first, second))


async def test_remote_engine_without_a_server_is_unavailable_in_both_languages():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineUnavailable) as err:
        async with RemoteEngine(f"http://127.0.0.1:{port}"):
            pass
    assert HAN.search(err.value.zh) and "not available" in err.value.en


@pytest.mark.parametrize("field", ["scheme", "form", "model"])
async def test_an_unknown_name_is_quoted_short_in_the_error(base_url, http, field):
    long = "x" * 10_000
    async with http.post(f"{base_url}/v1/poems", json={"keyword": "春", field: long}) as resp:
        assert resp.status == 400
        err = assert_bilingual(await resp.json())
    assert "x" * 12 in err["en"] and "x" * 13 not in err["en"] + err["zh"]  # engine.errors.ECHO_CHARS, then …
    assert len(err["zh"]) < 200 and len(err["en"]) < 200
    if field == "scheme":
        async with http.post(f"{base_url}/v1/check", json={"text": JINGYESI, "scheme": long}) as resp:
            assert resp.status == 400
            err = assert_bilingual(await resp.json())
        assert len(err["zh"]) < 200 and len(err["en"]) < 200
