"""Checking what users send, against the fields PoemRequest declares (engine/request.py).

`PoemBody`, the JSON body of POST /v1/poems, is generated from PoemRequest's fields (types, defaults,
bounds) plus `n` and `image` (each poem's card as base64 PNG); `request_json` is what RemoteEngine
sends and PoemBody reads back. `check_fields` holds any other front end's values (the CLI's
sampling options) to the same bounds, and `check_request` a whole PoemRequest built in code (the
Poet checks every request it is given). No number may be NaN or infinite, no text may hold a lone
surrogate (it cannot be encoded, so it could never be answered). Every refusal is one bilingual
InvalidInput naming each bad field and never quoting the bad value.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Annotated, Any

from annotated_types import Ge, Le, MaxLen
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from engine.errors import InvalidInput
from engine.request import MAX_SEED, PoemRequest

MAX_POEMS = 16  # poems per HTTP call
MAX_CHECK_CHARS = 2000  # text of one check (a 律诗 is 64 with punctuation; check_poem refuses past 200)
# Fields a body may leave out or send as null: the poet then picks the form (五绝, or by the number
# of acrostic heads), the server its default model and scheme.
CHOSEN_BY_SERVER = ("form", "model", "scheme")
# no "0.8" for 0.8, no unknown names, no NaN or infinity
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


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
            PoemRequest(**values, seed=None if seed is None else (seed + i) % MAX_SEED) for i in range(n)
        ]


PoemBody: type[_PoemBody] = create_model(  # type: ignore[call-overload]
    "PoemBody",
    __base__=_PoemBody,
    __doc__="POST /v1/poems: PoemRequest's fields, `n` (the number of poems) and `image` (their cards).",
    **{
        name: (annotation | None, None) if name in CHOSEN_BY_SERVER else (annotation, default)
        for name, (annotation, default) in request_fields().items()
    },
    n=(Annotated[int, Ge(1), Le(MAX_POEMS)], 1),
    image=(bool, False),
)


def request_json(request: PoemRequest, n: int = 1) -> dict:
    """The body of POST /v1/poems asking for `request` (n poems)."""
    return {**dataclasses.asdict(request), "n": n}


class CheckBody(BaseModel):
    """POST /v1/check."""

    model_config = STRICT

    text: Annotated[str, MaxLen(MAX_CHECK_CHARS)]
    scheme: str = "pingshui"
    form: str | None = None


def read_json(model: type[BaseModel], raw: bytes) -> Any:
    """`raw` JSON validated by `model` (JSON arrays fill tuples); InvalidInput if it is not JSON or
    does not fit. One parse, by pydantic's own parser: it has no recursion or integer-length limits
    of Python's json module to trip over (deep nesting and huge numbers are plain invalid input)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise validation_error(e) from None
    except (RecursionError, ValueError, UnicodeError):  # not expected from pydantic-core; kept a 400 anyway
        raise InvalidInput("请求体不是合法的 JSON。", "The request body is not valid JSON.") from None


@functools.cache
def _fields_model(names: tuple[str, ...]) -> type[BaseModel]:
    declared = request_fields()
    return create_model("Fields", __config__=STRICT, **{n: (declared[n][0], ...) for n in names})


def check_fields(values: dict[str, Any], label: Callable[[str], str] = str) -> dict[str, Any]:
    """`values` of PoemRequest fields, checked against their declared types and bounds.
    `label` names a field in the error (the CLI: "--top-k")."""
    try:
        checked = dict(_fields_model(tuple(values)).model_validate(values))
    except ValidationError as e:
        raise validation_error(e, label, ("选项有误", "Bad option")) from None
    if bad := [name for name, v in values.items() if isinstance(v, str) and not _encodable(v)]:
        raise _surrogates(bad, label, ("选项有误", "Bad option"))
    return checked


def check_request(request: PoemRequest) -> None:
    """InvalidInput unless every field of `request` has its declared type and bounds (seed in
    [0, 2^63), min-p at most MAX_MIN_P, a finite latent ...) and no text holds a lone surrogate."""
    values = vars(request)
    try:
        _RequestFields.model_validate(values)
    except ValidationError as e:
        raise validation_error(e) from None
    if bad := [name for name in _TEXT_FIELDS if values[name] is not None and not _encodable(values[name])]:
        raise _surrogates(bad)


_RequestFields = create_model(  # PoemRequest's fields; as in PoemBody, form, model and scheme may be None
    "RequestFields",
    __config__=STRICT,
    **{n: (a | None if n in CHOSEN_BY_SERVER else a, ...) for n, (a, _) in request_fields().items()},
)
_TEXT_FIELDS = tuple(name for name, (annotation, _) in request_fields().items() if annotation is str)


def _encodable(text: str) -> bool:
    """False when `text` holds a lone surrogate (\\ud800): not Unicode text, it cannot be sent anywhere."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogates(
    names: list[str], label: Callable[[str], str] = str, what: tuple[str, str] = ("请求有误", "Bad request")
) -> InvalidInput:
    fields = "、".join(f"「{label(n)}」" for n in names)
    return InvalidInput(
        f"{what[0]}：{fields}含有无效的 Unicode 字符（孤立的代理项）",
        f"{what[1]}: {', '.join(map(label, names))}: invalid Unicode text (a lone surrogate)",
    )


_ZH_PROBLEM = {
    "missing": "缺少此项",
    "extra_forbidden": "不认识此项",
    "greater_than": "数值太小",
    "greater_than_equal": "数值太小",
    "less_than": "数值太大",
    "less_than_equal": "数值太大",
    "too_long": "太长",
    "model_type": "应为 JSON 对象",
    "finite_number": "须为有限的数（不能是 NaN 或无穷大）",
}


def validation_error(
    err: ValidationError, label: Callable[[str], str] = str, what: tuple[str, str] = ("请求有误", "Bad request")
) -> InvalidInput:
    """A pydantic error as one bilingual message naming each bad field."""
    errors = err.errors(include_url=False, include_input=False)
    if invalid := next((e for e in errors if e["type"] == "json_invalid"), None):
        return _not_json(str(invalid["ctx"].get("error", "")) if invalid.get("ctx") else "")
    zh, en = [], []
    for e in errors:
        # a key may be any text: at most 40 characters of it are quoted
        field = label(".".join(str(p) for p in e["loc"]))[:40] if e["loc"] else "body"
        problem = _ZH_PROBLEM.get(e["type"]) or ("类型不对" if e["type"].endswith("_type") else "取值无效")
        zh.append(f"「{field}」{problem}")
        en.append(f"{field}: " + ("the body must be a JSON object" if e["type"] == "model_type" else e["msg"]))
    return InvalidInput(f"{what[0]}：" + "；".join(zh), f"{what[1]}: " + "; ".join(en))


def _not_json(detail: str) -> InvalidInput:
    """The body does not parse: pydantic-core's reason (its position, never the bad text)."""
    if "surrogate" in detail or "hex escape" in detail or "unicode" in detail:
        return InvalidInput(
            f"请求体含有无效的 Unicode 字符（如孤立的代理项 \\ud800）：{detail}",
            f"The request body holds invalid Unicode (such as a lone surrogate \\ud800): {detail}",
        )
    if "recursion limit" in detail:
        return InvalidInput("请求体的 JSON 嵌套太深。", f"The request body's JSON is nested too deeply: {detail}")
    if "number out of range" in detail:
        return InvalidInput(f"请求体中的数字太大：{detail}", f"A number in the request body is too large: {detail}")
    return InvalidInput(f"请求体不是合法的 JSON：{detail}", f"The request body is not valid JSON: {detail}")
