"""Checking what users send, against the fields PoemRequest declares (engine/request.py).

`PoemBody`, the JSON body of POST /v1/poems, is generated from PoemRequest's fields (types, defaults,
bounds) plus `n`; `request_json` is what RemoteEngine sends and PoemBody reads back. `check_fields`
holds any other front end's values (the CLI's sampling options) to the same bounds. Every refusal is
one bilingual InvalidInput naming each bad field.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from engine.errors import InvalidInput
from engine.request import PoemRequest

MAX_POEMS = 16  # poems per HTTP call
# Fields a body may leave out or send as null: the poet then picks the form (五绝, or by the number
# of acrostic heads), the server its default model and scheme.
CHOSEN_BY_SERVER = ("form", "model", "scheme")
STRICT = ConfigDict(strict=True, extra="forbid")  # no "0.8" for 0.8, no unknown names


def request_fields() -> dict[str, tuple[Any, Any]]:
    """PoemRequest's fields as pydantic (annotation, default) pairs; `...` marks a required one."""
    hints = typing.get_type_hints(PoemRequest, include_extras=True)
    return {
        f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(PoemRequest)
    }


class _PoemBody(BaseModel):
    model_config = STRICT

    def requests(self, *, default_model: str, default_scheme: str) -> list[PoemRequest]:
        """n requests; with a seed, poem i uses seed + i (so each of the n differs, reproducibly)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(PoemRequest)}
        values["model"] = values["model"] or default_model
        values["scheme"] = values["scheme"] or default_scheme
        seed, n = values.pop("seed"), self.n  # type: ignore[attr-defined]
        return [
            PoemRequest(**values, seed=None if seed is None else (seed + i) % 2**31) for i in range(n)
        ]


PoemBody: type[_PoemBody] = create_model(  # type: ignore[call-overload]
    "PoemBody",
    __base__=_PoemBody,
    __doc__="POST /v1/poems: PoemRequest's fields and `n`, the number of poems.",
    **{
        name: (annotation | None, None) if name in CHOSEN_BY_SERVER else (annotation, default)
        for name, (annotation, default) in request_fields().items()
    },
    n=(Annotated[int, Ge(1), Le(MAX_POEMS)], 1),
)


def request_json(request: PoemRequest, n: int = 1) -> dict:
    """The body of POST /v1/poems asking for `request` (n poems)."""
    return {**dataclasses.asdict(request), "n": n}


class CheckBody(BaseModel):
    """POST /v1/check."""

    model_config = STRICT

    text: str
    scheme: str = "pingshui"
    form: str | None = None


def read_json(model: type[BaseModel], raw: bytes) -> Any:
    """`raw` JSON validated by `model` (JSON arrays fill tuples); InvalidInput if it is not JSON or
    does not fit."""
    import json

    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("请求体不是合法的 JSON。", "The request body is not valid JSON.") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise validation_error(e) from None


@functools.cache
def _fields_model(names: tuple[str, ...]) -> type[BaseModel]:
    declared = request_fields()
    return create_model("Fields", __config__=STRICT, **{n: (declared[n][0], ...) for n in names})


def check_fields(values: dict[str, Any], label: Callable[[str], str] = str) -> dict[str, Any]:
    """`values` of PoemRequest fields, checked against their declared types and bounds.
    `label` names a field in the error (the CLI: "--top-k")."""
    try:
        return dict(_fields_model(tuple(values)).model_validate(values))
    except ValidationError as e:
        raise validation_error(e, label, ("选项有误", "Bad option")) from None


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


def validation_error(
    err: ValidationError, label: Callable[[str], str] = str, what: tuple[str, str] = ("请求有误", "Bad request")
) -> InvalidInput:
    """A pydantic error as one bilingual message naming each bad field."""
    zh, en = [], []
    for e in err.errors(include_url=False):
        field = label(".".join(str(p) for p in e["loc"])) if e["loc"] else "body"
        problem = _ZH_PROBLEM.get(e["type"]) or ("类型不对" if e["type"].endswith("_type") else "取值无效")
        zh.append(f"「{field}」{problem}")
        en.append(f"{field}: " + ("the body must be a JSON object" if e["type"] == "model_type" else e["msg"]))
    return InvalidInput(f"{what[0]}：" + "；".join(zh), f"{what[1]}: " + "; ".join(en))
