"""The HTTP API over an AsyncEngine (aiohttp); `yinshi serve` (app/commands/serve.py) runs it.

    POST /v1/poems   {"keyword": "春", "form": "wujue", "model": "gan", "n": 1, ...}
                     -> {"poems": [PoemResult.to_dict() + {"check": CheckReport.to_dict()}]}
    POST /v1/check   {"text": "...", "scheme": "pingshui", "form": null} -> CheckReport.to_dict()
    GET  /healthz    -> {"ok": true, "models": {"gan": "...", "vae": "..."}}
    GET  /metrics    -> Prometheus text format

The bodies are checked by engine/serving/schema.py (PoemBody is derived from PoemRequest). Errors are
JSON `{"error": {"zh": ..., "en": ..., "type": ...}}`: 400 bad input, 413 body too large, 503
(+ Retry-After) overloaded or shutting down, 504 timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from engine.errors import EngineUnavailable, Overloaded, RequestTimeout, YinshiError
from engine.request import PoemRequest
from engine.serving.async_engine import AsyncEngine
from engine.serving.schema import CheckBody, PoemBody, read_json

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Defaults:
    """What the server fills in where a body leaves model or scheme out."""

    model: str = PoemRequest.model
    scheme: str = PoemRequest.scheme


ENGINE = web.AppKey("engine", AsyncEngine)
DEFAULTS = web.AppKey("defaults", Defaults)


# -- handlers -----------------------------------------------------------------------------------


async def read_body(request: web.Request, model: type[BaseModel]) -> Any:
    return read_json(model, await request.read())  # read() raises 413 past client_max_size


async def poems(request: web.Request) -> web.Response:
    engine, defaults = request.app[ENGINE], request.app[DEFAULTS]
    body = await read_body(request, PoemBody)
    requests = body.requests(default_model=defaults.model, default_scheme=defaults.scheme)
    outcomes = await asyncio.gather(*(engine.generate(r) for r in requests), return_exceptions=True)
    for outcome in outcomes:  # any failure answers the whole call (they share their input)
        if isinstance(outcome, BaseException):
            raise outcome
    checks = await asyncio.gather(
        *(engine.check(p.text, r.scheme, p.form) for p, r in zip(outcomes, requests, strict=True))
    )
    return web.json_response(
        {"poems": [{**p.to_dict(), "check": c} for p, c in zip(outcomes, checks, strict=True)]},
        dumps=_dumps,
    )


async def check(request: web.Request) -> web.Response:
    body = await read_body(request, CheckBody)
    return web.json_response(await request.app[ENGINE].check(body.text, body.scheme, body.form), dumps=_dumps)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "models": request.app[ENGINE].model_versions}, dumps=_dumps)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[ENGINE].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


# -- errors -------------------------------------------------------------------------------------


def error_response(status: int, zh: str, en: str, kind: str, headers: dict | None = None) -> web.Response:
    body = {"error": {"zh": zh, "en": en, "type": kind}}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


HTTP_ERRORS = {
    404: ("没有这个地址。", "No such endpoint."),
    405: ("此地址不支持该请求方法。", "This endpoint does not accept that method."),
    413: (
        f"请求体太大（上限 {MAX_BODY_BYTES // 1024} KB）。",
        f"The request body is too large (limit {MAX_BODY_BYTES // 1024} KB).",
    ),
}


@web.middleware
async def bilingual_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure becomes a JSON error with a Chinese and an English message; nothing crashes."""
    try:
        return await handler(request)
    except (Overloaded, EngineUnavailable) as e:
        return error_response(503, e.zh, e.en, type(e).__name__, {"Retry-After": "1"})
    except RequestTimeout as e:
        return error_response(504, e.zh, e.en, type(e).__name__)
    except YinshiError as e:
        return error_response(400, e.zh, e.en, type(e).__name__)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        zh, en = HTTP_ERRORS.get(e.status, ("请求无法处理。", e.reason))
        return error_response(
            e.status, zh, en, "HTTPError", {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        )
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "服务器内部错误。", "Internal server error.", "InternalError")


# -- the app -----------------------------------------------------------------------------------


def make_app(engine: AsyncEngine, defaults: Defaults | None = None) -> web.Application:
    """The HTTP API over a started (or lazily starting) engine; the caller owns the engine."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[bilingual_errors])
    app[ENGINE] = engine
    app[DEFAULTS] = defaults or Defaults()
    app.router.add_post("/v1/poems", poems)
    app.router.add_post("/v1/check", check)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
