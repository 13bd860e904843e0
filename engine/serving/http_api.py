"""The HTTP API over an AsyncEngine (aiohttp); `yinshi serve` (app/commands/serve.py) runs it.

    POST /v1/poems   {"keyword": "春", "form": "wujue", "model": "gan", "n": 1, ...}
                     -> {"poems": [PoemResult.to_dict() + {"check": CheckReport.to_dict()}]}
                     "script": "traditional": lines and text in traditional script (the model's
                     simplified lines in "simplified_lines"); "image": true: each poem also has
                     "image_png_base64", its card (engine/cards), rendered in the card threads
    POST /v1/check   {"text": "...", "scheme": "pingshui", "form": null} -> CheckReport.to_dict()
    GET  /healthz    -> {"ok": true, "models": {"gan": "...", "vae": "..."}}
    GET  /metrics    -> Prometheus text format

The bodies are checked by engine/serving/schema.py (PoemBody is derived from PoemRequest). Errors are
JSON `{"error": {"zh": ..., "en": ..., "type": ...}}`, made in one place (`errors`), each logged as
one line without a traceback (a traceback only for a bug: 500): 400 bad input, 401 no or wrong
bearer token (when `ApiOptions.api_token` is set), 408 body not received within
`body_timeout_s` (the connection is closed), 413 body too large, 429 (+ Retry-After) over the
per-client rate limit, 503 (+ Retry-After) overloaded or shutting down, 504 timeout. A connection
that has not sent a whole request head within `header_timeout_s` is closed without an answer.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from engine.cards.poem import poem_card_async
from engine.errors import EngineUnavailable, Overloaded, RequestTimeout, YinshiError
from engine.prosody.check import check_poem
from engine.request import PoemRequest
from engine.serving.async_engine import AsyncEngine
from engine.serving.schema import CheckBody, PoemBody, read_json

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
LINGER_S = 1.0  # after an answer, unread body is drained this long at most (aiohttp's default: 10 s)
GUARDED = ("/v1/", "/metrics")  # what the bearer token protects (/healthz stays open for probes)
LIMITED = ("/v1/",)  # what the per-client rate limit counts


@dataclass(frozen=True)
class ApiOptions:
    """What the server fills in where a body leaves model or scheme out, and how it guards itself
    (app/poets.py builds it from the Settings of the same names)."""

    model: str = PoemRequest.model
    scheme: str = PoemRequest.scheme
    body_timeout_s: float = 5.0  # a body not received by then: 408 and the connection is closed
    # A connection that has not sent a whole request head by then after it opened, or has idled that
    # long since its last answer, is closed (aiohttp's keep-alive timer, which runs from the moment a
    # connection opens). Longer than aiohttp clients keep an idle connection (15 s): they close first.
    header_timeout_s: float = 20.0
    api_token: str | None = None  # set: GUARDED paths need `Authorization: Bearer <api_token>`


class Limiter(Protocol):
    """A per-key rate limit (bot.ratelimit.RateLimiter is one)."""

    def allow(self, key: str) -> bool: ...

    def retry_after(self, key: str) -> float: ...


ENGINE = web.AppKey("engine", AsyncEngine)
OPTIONS = web.AppKey("options", ApiOptions)
LIMITER = web.AppKey("limiter", object)


class Unauthorized(YinshiError):
    def __init__(self) -> None:
        super().__init__(
            "需要有效的访问令牌（Authorization: Bearer …）。",
            "A valid access token is required (Authorization: Bearer ...).",
        )


class RateLimited(YinshiError):
    def __init__(self, retry_after_s: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"请求太频繁，请 {self.retry_after} 秒后再试。",
            f"Too many requests; please try again in {self.retry_after} s.",
        )


class BodyTimeout(YinshiError):
    def __init__(self, limit_s: float) -> None:
        super().__init__(
            f"请求体未在 {limit_s:g} 秒内传完，连接已关闭。",
            f"The request body did not arrive within {limit_s:g} s; the connection is closed.",
        )


# -- handlers -----------------------------------------------------------------------------------


async def read_body(request: web.Request, model: type[BaseModel]) -> Any:
    """The body, checked by `model`; read() raises 413 past client_max_size."""
    limit = request.app[OPTIONS].body_timeout_s
    try:
        raw = await asyncio.wait_for(request.read(), limit)
    except TimeoutError:
        raise BodyTimeout(limit) from None
    return read_json(model, raw)


async def poems(request: web.Request) -> web.Response:
    engine, options = request.app[ENGINE], request.app[OPTIONS]
    body = await read_body(request, PoemBody)
    requests = body.requests(default_model=options.model, default_scheme=options.scheme)
    outcomes = await asyncio.gather(*(engine.generate(r) for r in requests), return_exceptions=True)
    for outcome in outcomes:  # any failure answers the whole call (they share their input)
        if isinstance(outcome, BaseException):
            raise outcome
    # the poems' own checks: small and at most MAX_POEMS, not queued behind /v1/check's
    pairs, usage = list(zip(outcomes, requests, strict=True)), engine.rhyme_usage
    checks = await asyncio.to_thread(
        lambda: [check_poem(p.simplified_text, r.scheme, p.form, usage).to_dict() for p, r in pairs]
    )
    answers = [{**p.to_dict(), "check": c} for p, c in zip(outcomes, checks, strict=True)]
    if body.image:  # at most MAX_POEMS cards, ~12 ms each, CARD_THREADS at a time off the loop
        cards = await asyncio.gather(*(poem_card_async(p) for p in outcomes))
        for answer, png in zip(answers, cards, strict=True):
            answer["image_png_base64"] = base64.b64encode(png).decode("ascii")
    return json_response({"poems": answers})


async def check(request: web.Request) -> web.Response:
    body = await read_body(request, CheckBody)
    return json_response(await request.app[ENGINE].check(body.text, body.scheme, body.form))


async def healthz(request: web.Request) -> web.Response:
    return json_response({"ok": True, "models": request.app[ENGINE].model_versions})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[ENGINE].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _dumps(data: Any) -> str:
    """Strict JSON (a NaN raises rather than being written bare); a lone surrogate escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, allow_nan=False)
    return text


# -- guards and errors --------------------------------------------------------------------------


@web.middleware
async def guard(request: web.Request, handler) -> web.StreamResponse:
    """The bearer token (constant-time compare) and the per-client rate limit, before any work."""
    token = request.app[OPTIONS].api_token
    if token and request.path.startswith(GUARDED):
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        given_bytes = given.strip().encode("utf-8", "replace")
        if scheme != "Bearer" or not hmac.compare_digest(given_bytes, token.encode()):
            raise Unauthorized()
    limiter: Limiter | None = request.app.get(LIMITER)
    if limiter is not None and request.path.startswith(LIMITED):
        key = request.remote or "-"
        if not limiter.allow(key):
            raise RateLimited(limiter.retry_after(key))
    return await handler(request)


def error_response(status: int, zh: str, en: str, kind: str, headers: dict | None = None) -> web.Response:
    return json_response({"error": {"zh": zh, "en": en, "type": kind}}, status, headers)


def status_of(e: YinshiError) -> tuple[int, dict | None]:
    """The HTTP status and headers of a refusal."""
    if isinstance(e, Overloaded | EngineUnavailable):
        return 503, {"Retry-After": "1"}
    if isinstance(e, RateLimited):
        return 429, {"Retry-After": str(e.retry_after)}
    if isinstance(e, Unauthorized):
        return 401, {"WWW-Authenticate": "Bearer"}
    if isinstance(e, BodyTimeout):
        return 408, {"Connection": "close"}
    return (504, None) if isinstance(e, RequestTimeout) else (400, None)


HTTP_ERRORS = {
    404: ("没有这个地址。", "No such endpoint."),
    405: ("此地址不支持该请求方法。", "This endpoint does not accept that method."),
    413: (
        f"请求体太大（上限 {MAX_BODY_BYTES // 1024} KB）。",
        f"The request body is too large (limit {MAX_BODY_BYTES // 1024} KB).",
    ),
}


@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure becomes a JSON error with a Chinese and an English message and one log line
    (INFO for a client's mistake, WARNING for a refusal under load); a traceback only for a bug."""
    try:
        return await handler(request)
    except YinshiError as e:
        status, headers = status_of(e)
        _log_refusal(request, status, type(e).__name__, e.en)
        response = error_response(status, e.zh, e.en, type(e).__name__, headers)
        if isinstance(e, BodyTimeout):
            response.force_close()
        return response
    except web.HTTPException as e:
        if e.status < 400:
            raise
        zh, en = HTTP_ERRORS.get(e.status, ("请求无法处理。", e.reason))
        _log_refusal(request, e.status, "HTTPError", en)
        return error_response(
            e.status, zh, en, "HTTPError", {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        )
    except ConnectionError as e:  # the client went away mid-body: an answer nobody reads, no traceback
        _log_refusal(request, 400, type(e).__name__, "the client closed the connection")
        return error_response(400, "连接已断开。", "The client closed the connection.", type(e).__name__)
    except Exception:
        log.exception("%s %r failed", request.method, request.path[:200])
        return error_response(500, "服务器内部错误。", "Internal server error.", "InternalError")


def _log_refusal(request: web.Request, status: int, kind: str, en: str) -> None:
    level = logging.WARNING if status in (408, 429) or status >= 500 else logging.INFO
    log.log(level, "%s %r -> %d %s: %r", request.method, request.path[:200], status, kind, en[:300])


# -- the app -----------------------------------------------------------------------------------


def make_app(
    engine: AsyncEngine, options: ApiOptions | None = None, limiter: Limiter | None = None
) -> web.Application:
    """The HTTP API over a started (or lazily starting) engine; the caller owns the engine.
    `limiter`: a per-client rate limit, keyed by the client's address (None: no limit)."""
    options = options or ApiOptions()
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[errors, guard],
        handler_args={"lingering_time": LINGER_S, "keepalive_timeout": options.header_timeout_s},
    )
    app[ENGINE] = engine
    app[OPTIONS] = options
    if limiter is not None:
        app[LIMITER] = limiter
    app.router.add_post("/v1/poems", poems)
    app.router.add_post("/v1/check", check)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
