"""A few hundred hostile requests (tests/engine/serving/http_fuzz.py; benchmarks/fuzz_http.py sends
10^5): every answer is JSON (never a bare NaN), every error is bilingual, nothing is a 500, and
nothing is logged as an error."""

from __future__ import annotations

import logging

from yarl import URL

from tests.engine.serving.http_fuzz import fuzz_requests, problems

N = 500


async def test_hostile_requests_get_clean_json_answers(base_url, http, caplog):
    caplog.set_level(logging.INFO)
    found: dict[str, int] = {}
    statuses: set[int] = set()
    for req in fuzz_requests(N, seed=2026):
        async with http.request(req.method, URL(base_url + req.path, encoded=True), data=req.body,
                                headers={"Content-Type": "application/json"}) as resp:
            statuses.add(resp.status)
            for problem in problems(req, resp.status, resp.content_type, await resp.read()):
                found[problem] = found.get(problem, 0) + 1
    assert not found
    assert {200, 400} <= statuses <= {200, 400, 404, 405, 413}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
