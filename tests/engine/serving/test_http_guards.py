"""The HTTP API under hostile or careless clients: malformed bodies are one 400 and one log line,
slow bodies are cut off, a flood of checks cannot starve the poems, and the optional bearer token
and per-client rate limit hold."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import aiohttp
import pytest

from bot.ratelimit import RateLimiter
from engine.errors import EngineUnavailable
from engine.request import MAX_MIN_P, PoemRequest, PoemResult
from engine.serving.async_engine import AsyncEngine
from engine.serving.http_api import ApiOptions, _dumps
from engine.serving.remote_engine import RemoteEngine
from tests.engine.serving.http_helpers import (
    JINGYESI,
    assert_bilingual,
    options,
    serving,
)

LATENT_NAN = b'{"keyword": "\\u6625", "model": "vae", "latent": [' + b", ".join([b"NaN"] * 32) + b"]}"


def strict_json(raw: bytes):
    """JSON as the standard defines it: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"bare {name}")
    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


async def post_raw(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str, bytes]:
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, resp.content_type, await resp.read()


@pytest.mark.parametrize(
    ("path", "body", "mentions"),
    [
        ("/v1/poems", b'{"keyword": "\\u6625", "form": "\\ud800"}', "surrogate"),
        ("/v1/poems", b'{"keyword": "\\u6625", "model": "\\ud800"}', "surrogate"),
        ("/v1/poems", b'{"keyword": "\\u6625", "scheme": "\\udfff"}', "surrogate"),
        ("/v1/poems", b'{"keyword": "\\ud800\\u6625"}', "surrogate"),
        ("/v1/poems", '{"keyword": "\ud800"}'.encode("utf-8", "surrogatepass"), "Unicode"),  # raw bytes ED A0 80
        ("/v1/check", b'{"text": "\\ud800"}', "surrogate"),
        ("/v1/poems", b"[" * 30_000 + b"]" * 30_000, "nested"),
        ("/v1/poems", b'{"keyword": "\\u6625", "latent": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested"),
        ("/v1/poems", b'{"keyword": "\\u6625", "seed": ' + b"7" * 4400 + b"}", "too large"),
        ("/v1/poems", b'{"keyword": "\\u6625", "top_k": -' + b"9" * 5000 + b"}", "too large"),
        ("/v1/poems", LATENT_NAN, "finite"),
        ("/v1/poems", b'{"keyword": "\\u6625", "model": "vae", "latent": [Infinity, -Infinity]}', "finite"),
        ("/v1/poems", b'{"keyword": "\\u6625", "temperature": NaN}', "finite"),
        ("/v1/poems", b'{"keyword": "\\u6625", "min_p": 0.9999999}', "min_p"),
        ("/v1/poems", b'{"keyword": "\\u6625", "seed": 9223372036854775808}', "seed"),
        ("/v1/poems", b'{"keyword": "\\u6625", "seed": -1}', "seed"),
    ],
)
async def test_malformed_bodies_are_a_400_bilingual_json_error(base_url, http, path, body, mentions):
    status, content_type, raw = await post_raw(http, base_url + path, body)
    assert (status, content_type) == (400, "application/json"), raw[:300]
    err = assert_bilingual(strict_json(raw))
    assert mentions.lower() in err["en"].lower()
    assert "codec" not in err["en"] and "\\x" not in err["en"]  # no Python codec message


async def test_seeds_up_to_2_63_are_served_and_reproducible(base_url, http):
    body = {"keyword": "春", "seed": 2**63 - 1, "n": 2}  # the second poem wraps round to seed 0
    async with http.post(f"{base_url}/v1/poems", json=body) as resp:
        assert resp.status == 200, await resp.text()
        seeds = [p["seed"] for p in (await resp.json())["poems"]]
    assert seeds == [2**63 - 1, 0]


async def test_the_largest_min_p_and_finite_latents_still_give_poems_that_scan(base_url, http):
    body = {"keyword": "春", "model": "vae", "min_p": MAX_MIN_P, "latent": [1e6, -1e6] * 16, "seed": 3, "n": 4}
    async with http.post(f"{base_url}/v1/poems", json=body) as resp:
        assert resp.status == 200, await resp.text()
        poems = strict_json(await resp.read())["poems"]
    assert all(p["check"]["ok"] for p in poems)
    assert all(math.isfinite(x) for p in poems for x in p["latent"])


def test_responses_are_strict_json_even_with_a_lone_surrogate_inside():
    text = _dumps({"zh": "春\ud800"})
    text.encode("utf-8")  # encodable: the surrogate is escaped
    assert strict_json(text.encode()) == {"zh": "春\ud800"}
    with pytest.raises(ValueError):
        _dumps({"latent": [float("nan")]})  # never a bare NaN


async def test_a_bad_request_logs_one_line_without_a_traceback(base_url, http, caplog):
    caplog.set_level(logging.DEBUG)
    for body in (b"[" * 30_000, b'{"keyword": "\\u6625", "seed": ' + b"1" * 5000 + b"}", LATENT_NAN, b"{no"):
        caplog.clear()
        status, _, _ = await post_raw(http, f"{base_url}/v1/poems", body)
        assert status == 400
        mine = [r for r in caplog.records if r.name.startswith("engine.serving")]
        assert len(mine) == 1 and mine[0].levelno in (logging.INFO, logging.WARNING)
        assert not any(r.exc_info or r.levelno >= logging.ERROR for r in caplog.records)


async def test_a_body_that_never_arrives_is_cut_off(engine):
    async with serving(engine, ApiOptions(body_timeout_s=0.5)) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /v1/poems HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"keyword\":")
        await writer.drain()
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer
    assert time.monotonic() - started < 5
    assert_bilingual(json.loads(answer.split(b"\r\n\r\n", 1)[1]))


async def test_a_flood_of_checks_is_bounded_and_poems_still_come(tiny_poet, http):
    async with AsyncEngine(tiny_poet, options(check_workers=1, max_checks=4)) as engine, serving(engine) as url:
        big = {"text": (JINGYESI + "\n") * 60}  # ~1,500 characters: refused by check_poem, after a scan
        flood = [asyncio.ensure_future(post_raw(http, f"{url}/v1/check", json.dumps(big).encode()))
                 for _ in range(200)]
        async with http.post(f"{url}/v1/poems", json={"keyword": "春", "n": 2}) as resp:
            assert resp.status == 200
        statuses = [status for status, _, _ in await asyncio.gather(*flood)]
    assert set(statuses) <= {400, 503} and statuses.count(503) > 0  # refused at once, never queued unbounded
    async with AsyncEngine(tiny_poet, options()) as engine:
        assert (await engine.check(JINGYESI))["form"] == "wujue"


async def test_with_a_token_the_api_wants_it_and_remote_engine_sends_it(engine, http):
    async with serving(engine, ApiOptions(api_token="s3cret-token")) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            async with http.post(f"{url}/v1/poems", json={"keyword": "春"}, headers=headers) as resp:
                assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
                assert assert_bilingual(await resp.json())["type"] == "Unauthorized"
        async with http.get(f"{url}/metrics") as resp:
            assert resp.status == 401
        async with http.get(f"{url}/healthz") as resp:  # probes need no token
            assert resp.status == 200
        async with RemoteEngine(url, token="s3cret-token") as remote:
            assert isinstance(await remote.generate(PoemRequest("春")), PoemResult)
        async with RemoteEngine(url) as remote:
            with pytest.raises(EngineUnavailable):
                await remote.generate(PoemRequest("春"))


async def test_the_per_client_rate_limit_answers_429_with_retry_after(engine, http):
    async with serving(engine, limiter=RateLimiter(2)) as url:
        for _ in range(2):
            async with http.post(f"{url}/v1/check", json={"text": JINGYESI}) as resp:
                assert resp.status == 200
        async with http.post(f"{url}/v1/poems", json={"keyword": "春"}) as resp:
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) >= 1
            assert assert_bilingual(await resp.json())["type"] == "RateLimited"
        async with http.get(f"{url}/healthz") as resp:  # not counted
            assert resp.status == 200
