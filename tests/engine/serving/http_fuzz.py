"""Hostile requests for the HTTP API, drawn from a seeded `random.Random`: the same seed gives the
same requests. Used by tests/engine/serving/test_http_fuzz.py (a few hundred) and
benchmarks/fuzz_http.py (10^5).

A request mixes the ways real traffic goes wrong: valid bodies with one to three fields replaced by
nasty values (lone surrogates, NaN, infinities, integers of thousands of digits, floats at and past
the bounds, wrong types), deeply nested JSON, random JSON, byte-level damage (truncation, flipped
bytes, invalid UTF-8) and odd paths and methods.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

KEYWORDS = ("春", "月", "山", "秋", "春花秋月", "明月", "spring", "", " ", "春" * 70, "\u3000")
FIELDS = {  # PoemBody's fields and a valid value of each
    "keyword": "春", "form": "wujue", "model": "gan", "acrostic": False, "scheme": "pingshui", "strict": True,
    "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.02, "theme": 1.5, "parallel": 2.0, "seed": 1,
    "latent": None, "n": 1,
}
CHECK_FIELDS = {"text": "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "scheme": "pingshui", "form": None}
# raw JSON fragments (not all expressible as Python values json.dumps would write)
NASTY_RAW = (
    '"\\ud800"', '"\\udfff\\ud800"', '"春\\ud83d"', '"\\u0000"', "NaN", "Infinity", "-Infinity", "1e999",
    "-1e999", "1" * 4400, "-" + "9" * 5000, "9223372036854775807", "9223372036854775808", "18446744073709551616",
    "-1", "0", "0.0", "-0.0", "1e-320", "0.9999999", "0.99", "0.999999999999", "1", "1.0000001", "5", "5.0001",
    "100000", "100001", "2147483648", "4.9e-324", "true", "null", '""', '"0.5"', "[]", "{}", "[null]",
    '["\\ud800"]', "[NaN, NaN, NaN, NaN]", "[Infinity]", "[1e308, -1e308]", "[" + ",".join(["0.5"] * 1100) + "]",
    '"wujue"', '"gan"', '"vae"', '"七律"', '"xinyun"', '"' + "a" * 5000 + '"', '"🌸"', '"\\n\\r\\t"',
)
PATHS = ("/v1/poems", "/v1/check", "/healthz", "/metrics", "/v1/poems/", "/v1", "/%ff", "/v1/poems?x=%ED%A0%80")


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    body: bytes
    kind: str  # which generator made it (for the report)


def _obj(fields: dict[str, str]) -> bytes:
    return ("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}").encode()


def _valid(rng: random.Random, check: bool) -> dict[str, str]:
    base = CHECK_FIELDS if check else {**FIELDS, "keyword": rng.choice(KEYWORDS[:6])}
    return {k: json.dumps(v, ensure_ascii=False) for k, v in base.items() if rng.random() < 0.8 or k in ("keyword", "text")}


def _mutated(rng: random.Random, check: bool) -> bytes:
    fields = _valid(rng, check)
    names = list(CHECK_FIELDS if check else FIELDS) + ["colour", "\ud800"]
    for _ in range(rng.randint(1, 3)):
        fields[rng.choice(names)] = rng.choice(NASTY_RAW)
    return _obj(fields)


def _nested(rng: random.Random) -> bytes:
    depth = rng.choice((10, 1000, 10_000, 100_000))
    opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
    inner = opener * depth + "1" + closer * depth
    return ('{"keyword": "春", "latent": ' + inner + "}").encode() if rng.random() < 0.5 else inner.encode()


def _random_json(rng: random.Random, depth: int = 0):
    pick = rng.random()
    if depth > 3 or pick < 0.4:
        return rng.choice([None, True, 0, -1, 2**70, 1.5, float("nan"), "春", "\ud800", "", "x" * rng.randint(0, 50)])
    if pick < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = list(FIELDS) + ["text", "", "\ud800"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _damaged(rng: random.Random, check: bool) -> bytes:
    data = bytearray(_obj(_valid(rng, check)))
    for _ in range(rng.randint(1, 4)):
        op, at = rng.random(), rng.randrange(len(data) + 1)
        if op < 0.3:
            del data[at:]
        elif op < 0.6 and at < len(data):
            data[at] = rng.randrange(256)
        else:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(data)


def fuzz_request(rng: random.Random) -> FuzzRequest:
    """One hostile request."""
    check = rng.random() < 0.3
    path = "/v1/check" if check else "/v1/poems"
    pick = rng.random()
    if pick < 0.55:
        return FuzzRequest("POST", path, _mutated(rng, check), "mutated")
    if pick < 0.65:
        return FuzzRequest("POST", path, _nested(rng), "nested")
    if pick < 0.8:
        body = json.dumps(_random_json(rng), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        return FuzzRequest("POST", path, body, "random-json")
    if pick < 0.95:
        return FuzzRequest("POST", path, _damaged(rng, check), "damaged")
    method = rng.choice(("GET", "POST", "PUT", "DELETE", "PATCH"))
    return FuzzRequest(method, rng.choice(PATHS), _mutated(rng, check) if method != "GET" else b"", "path")


def fuzz_requests(n: int, seed: int = 0) -> list[FuzzRequest]:
    rng = random.Random(seed)
    return [fuzz_request(rng) for _ in range(n)]


HAN = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def strict_json(text: str):
    """json.loads that refuses NaN and the infinities (they are not JSON)."""
    def refuse(name: str):
        raise ValueError(f"bare {name} in JSON")
    return json.loads(text, parse_constant=refuse)


def problems(req: FuzzRequest, status: int, content_type: str, raw: bytes) -> list[str]:
    """What is wrong with an answer: a 5xx other than 503, a body that is not strict JSON, an error
    without both a Chinese and an English message. Empty when the answer is fine."""
    found = []
    if status >= 500 and status != 503:
        found.append("5xx other than 503")
    if status == 200 and not req.path.startswith("/v1"):
        return found  # /healthz, /metrics
    if content_type != "application/json":
        return [*found, "not JSON (content type)"]
    try:
        data = strict_json(raw.decode("utf-8"))
    except ValueError:
        return [*found, "not strict JSON"]
    if status >= 400:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        if not (HAN.search(str(err.get("zh", ""))) and LATIN_WORD.search(str(err.get("en", "")))):
            found.append("error not bilingual")
    return found
