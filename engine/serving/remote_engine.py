"""An engine in another process or host: the AsyncEngine interface over `yinshi serve`'s HTTP API.

    async with RemoteEngine("http://127.0.0.1:8080") as engine:
        poem = await engine.generate(PoemRequest("春"))

Errors come back as the same YinshiError classes the local engine raises; a server that cannot be
reached, or refuses our bearer `token`, gives EngineUnavailable; its rate limit (429) Overloaded.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import aiohttp

from engine.errors import (
    EngineUnavailable,
    InvalidInput,
    Overloaded,
    RequestTimeout,
    UnknownKeyword,
    YinshiError,
)
from engine.request import PoemRequest, PoemResult
from engine.serving.schema import request_json

log = logging.getLogger(__name__)

_NO_ARGS = {
    "Overloaded": Overloaded,
    "RateLimited": Overloaded,  # the server's per-client limit: busy, try again shortly
    "RequestTimeout": RequestTimeout,
    "EngineUnavailable": EngineUnavailable,
}
_RESULT_FIELDS = {f.name for f in fields(PoemResult)}


def result_from_json(data: dict[str, Any]) -> PoemResult:
    """A PoemResult from its `to_dict()` form (extra keys such as text and check are ignored)."""
    values = {k: v for k, v in data.items() if k in _RESULT_FIELDS}
    if values.get("latent") is not None:
        values["latent"] = tuple(values["latent"])
    return PoemResult(**values)


def error_from_json(status: int, data: Any) -> YinshiError:
    """The YinshiError a server's error body stands for."""
    if status == 401:  # our configuration, not the user's input: logged for the operator
        log.error("the engine refused our token (HTTP 401): check YINSHI_HTTP_API_TOKEN on both sides")
        return EngineUnavailable()
    if status == 429:
        return Overloaded()
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("zh"), str) or not isinstance(err.get("en"), str):
        return (
            EngineUnavailable()
            if status >= 500
            else InvalidInput("请求被拒绝。", f"Request refused (HTTP {status}).")
        )
    kind = err.get("type")
    if kind in _NO_ARGS:
        return _NO_ARGS[kind]()
    if status >= 500:
        return EngineUnavailable()
    return (UnknownKeyword if kind == "UnknownKeyword" else InvalidInput)(err["zh"], err["en"])


class RemoteEngine:
    """`generate`, `check` and `model_versions` of a `yinshi serve` at `base_url`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        token: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session, self._own_session = session, session is None
        self._versions: dict[str, str] = {}

    async def start(self) -> RemoteEngine:
        """Open the connection pool and read the served model versions (EngineUnavailable if down)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            await self.refresh()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> RemoteEngine:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def model_versions(self) -> dict[str, str]:
        """The served versions, as of `start()`/`refresh()` and the latest poems."""
        return dict(self._versions)

    async def refresh(self) -> dict[str, str]:
        data = await self._call("GET", "/healthz")
        self._versions = dict(data["models"])
        return self.model_versions

    async def generate(self, request: PoemRequest) -> PoemResult:
        data = await self._call("POST", "/v1/poems", request_json(request))
        result = result_from_json(data["poems"][0])
        self._versions[result.model] = result.model_version  # follows swaps on the server
        return result

    async def check(self, text: str, scheme: str = "pingshui", form: str | None = None) -> dict:
        return await self._call("POST", "/v1/check", {"text": text, "scheme": scheme, "form": form})

    async def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        if self._session is None:
            raise RuntimeError(
                "RemoteEngine is not started: use `async with RemoteEngine(url)` or `await start()`"
            )
        try:
            async with self._session.request(
                method, self.base_url + path, json=body, headers=self._headers
            ) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
                if resp.status >= 400:
                    raise error_from_json(resp.status, data)
                if data is None:
                    raise EngineUnavailable()
                return data
        except TimeoutError:
            raise RequestTimeout() from None
        except aiohttp.ClientError:
            raise EngineUnavailable() from None
