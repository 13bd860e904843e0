"""The HTTP API over an AsyncEngine (aiohttp), and the `yinshi serve` command.

    POST /v1/poems   {"keyword": "春", "form": "wujue", "model": "gan", "n": 1, ...}
                     -> {"poems": [PoemResult.to_dict() + {"check": CheckReport.to_dict()}]}
    POST /v1/check   {"text": "...", "scheme": "pingshui", "form": null} -> CheckReport.to_dict()
    GET  /healthz    -> {"ok": true, "models": {"gan": "...", "vae": "..."}}
    GET  /metrics    -> Prometheus text format

Errors are JSON `{"error": {"zh": ..., "en": ..., "type": ...}}`: 400 bad input, 413 body too large,
503 (+ Retry-After) overloaded or shutting down, 504 timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

import typer
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.settings import Settings, get_settings
from engine.errors import EngineUnavailable, InvalidInput, Overloaded, RequestTimeout, YinshiError
from engine.request import MIN_P, PARALLEL, TEMPERATURE, THEME, TOP_P, PoemRequest
from engine.serving.async_engine import AsyncEngine

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_POEMS = 16
ENGINE = web.AppKey("engine", AsyncEngine)
SETTINGS = web.AppKey("settings", Settings)


# -- request bodies -----------------------------------------------------------------------------


class PoemBody(BaseModel):
    """POST /v1/poems. Types are strict (no "0.8" for 0.8); names are checked by the engine."""

    model_config = ConfigDict(strict=True, extra="forbid")

    keyword: str
    form: str | None = None  # None: 五绝, or by the number of heads for an acrostic
    model: str | None = None  # None: settings.default_model
    acrostic: bool = False
    scheme: str | None = None  # None: settings.default_scheme
    strict: bool = True
    temperature: float = Field(TEMPERATURE, gt=0, le=5)
    top_k: int = Field(0, ge=0, le=100_000)
    top_p: float = Field(TOP_P, gt=0, le=1)
    min_p: float = Field(MIN_P, ge=0, lt=1)
    theme: float = Field(THEME, ge=0, le=10)
    parallel: float = Field(PARALLEL, ge=0, le=10)
    seed: int | None = Field(None, ge=0, lt=2**31)
    latent: list[float] | None = Field(None, max_length=1024)  # VAE: write near this latent (/more)
    n: int = Field(1, ge=1, le=MAX_POEMS)

    def requests(self, settings: Settings) -> list[PoemRequest]:
        """n requests; with a seed, poem i uses seed + i (so each of the n differs, reproducibly)."""
        return [
            PoemRequest(
                keyword=self.keyword,
                form=self.form,  # type: ignore[arg-type]  # the poet reads None as "choose"
                model=self.model or settings.default_model,
                acrostic=self.acrostic,
                scheme=self.scheme or settings.default_scheme,
                strict=self.strict,
                temperature=self.temperature,
                top_k=self.top_k,
                top_p=self.top_p,
                min_p=self.min_p,
                theme=self.theme,
                parallel=self.parallel,
                seed=None if self.seed is None else (self.seed + i) % 2**31,
                latent=tuple(self.latent) if self.latent is not None else None,
            )
            for i in range(self.n)
        ]


class CheckBody(BaseModel):
    """POST /v1/check."""

    model_config = ConfigDict(strict=True, extra="forbid")

    text: str
    scheme: str = "pingshui"
    form: str | None = None


_ZH_PROBLEM = {
    "missing": "缺少此项",
    "extra_forbidden": "不认识此项",
    "greater_than": "数值太小",
    "greater_than_equal": "数值太小",
    "less_than": "数值太大",
    "less_than_equal": "数值太大",
    "too_long": "太长",
    "model_type": "应为 JSON 对象",
}


def validation_error(err: ValidationError) -> InvalidInput:
    """A pydantic error as one bilingual message naming each bad field."""
    zh, en = [], []
    for e in err.errors(include_url=False):
        field = ".".join(str(p) for p in e["loc"]) or "body"
        problem = _ZH_PROBLEM.get(e["type"]) or ("类型不对" if e["type"].endswith("_type") else "取值无效")
        zh.append(f"「{field}」{problem}")
        en.append(
            f"{field}: " + ("the body must be a JSON object" if e["type"] == "model_type" else e["msg"])
        )
    return InvalidInput("请求有误：" + "；".join(zh), "Bad request: " + "; ".join(en))


async def read_body(request: web.Request, model: type[BaseModel]) -> Any:
    raw = await request.read()  # raises 413 past client_max_size
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("请求体不是合法的 JSON。", "The request body is not valid JSON.") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e) from None


# -- handlers -----------------------------------------------------------------------------------


async def poems(request: web.Request) -> web.Response:
    engine, settings = request.app[ENGINE], request.app[SETTINGS]
    body: PoemBody = await read_body(request, PoemBody)
    requests = body.requests(settings)
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
    body: CheckBody = await read_body(request, CheckBody)
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


# -- the app and the command --------------------------------------------------------------------


def make_app(engine: AsyncEngine, settings: Settings | None = None) -> web.Application:
    """The HTTP API over a started (or lazily starting) engine; the caller owns the engine."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[bilingual_errors])
    app[ENGINE] = engine
    app[SETTINGS] = settings or engine.settings
    app.router.add_post("/v1/poems", poems)
    app.router.add_post("/v1/check", check)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def serving_app(settings: Settings) -> web.Application:
    """The app for `yinshi serve`: loads the models and closes the engine on shutdown."""
    engine = await AsyncEngine.open(settings)
    app = make_app(engine, settings)

    async def close_engine(_: web.Application) -> None:
        await engine.close()

    app.on_cleanup.append(close_engine)
    log.info("serving models %s", engine.model_versions)
    return app


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: settings.http_host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.http_port).")] = None,
) -> None:
    """Serve the poem engine over HTTP: POST /v1/poems, POST /v1/check, GET /healthz, GET /metrics."""
    settings = get_settings()
    model_dir = settings.model_dir
    if not any((model_dir / name / "model.pt").exists() for name in ("gan", "vae")):
        typer.echo(
            f"找不到模型：{model_dir} 下没有 gan/ 或 vae/ 检查点（请先训练，或设置 YINSHI_MODEL_DIR）。\n"
            f"No models: no gan/ or vae/ checkpoint under {model_dir} (train first, or set YINSHI_MODEL_DIR).",
            err=True,
        )
        raise typer.Exit(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(serving_app(settings), host=host or settings.http_host, port=port or settings.http_port)
