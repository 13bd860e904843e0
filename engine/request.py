"""What callers ask the generators for, and what they get back.

PoemRequest declares each field once, with its bounds and a one-line help: the HTTP body
(engine/serving/schema.py), the CLI's sampling options (app/commands/options.py) and the decoding
columns of a stored poem (storage/models.py `Decoding`, checked against `DECODING` by the tests) are
derived from it. The bounds are metadata (annotated-types): a PoemRequest built in code is not checked
against them; the front ends validate what users send.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated

from annotated_types import Ge, Gt, Le, Lt, MaxLen, doc

# Sampling defaults (README, "Sampling defaults"): min-p 0.02 at temperature 1.05, no top-k or top-p;
# theme and couplet-partner bonuses (engine/corpus/associations.py) at these weights.
TEMPERATURE, TOP_P, MIN_P = 1.05, 1.0, 0.02
THEME, PARALLEL = 1.5, 2.0
MAX_LATENT = 1024  # VAE latent size a request may carry


@dataclass(frozen=True)
class PoemRequest:
    keyword: str  # the theme (1–4 characters), or the line heads in acrostic mode
    form: str = "wujue"  # wujue | qijue | wulv | qilv
    model: str = "gan"  # gan | vae (front ends default to Settings.default_model)
    acrostic: bool = False  # 藏头: keyword characters open the lines
    scheme: str = "pingshui"  # pingshui (平水韵) | xinyun (中华新韵)
    strict: bool = True  # tonal template as a hard mask (True) or a penalty (False)
    temperature: Annotated[float, Gt(0), Le(5), doc("softmax temperature")] = TEMPERATURE
    top_k: Annotated[int, Ge(0), Le(100_000), doc("keep the k likeliest characters; 0: off")] = 0
    top_p: Annotated[float, Gt(0), Le(1), doc("keep the likeliest characters up to this mass; 1.0: off")] = TOP_P
    min_p: Annotated[
        float, Ge(0), Lt(1), doc("keep characters at least this fraction as likely as the likeliest; 0: off")
    ] = MIN_P
    theme: Annotated[float, Ge(0), Le(10), doc("weight of the keyword's theme characters; 0: off")] = THEME
    parallel: Annotated[float, Ge(0), Le(10), doc("weight of couplet partners in 律诗 (对仗); 0: off")] = PARALLEL
    seed: Annotated[int, Ge(0), Lt(2**31)] | None = None  # None: drawn at random and reported
    latent: Annotated[tuple[float, ...], MaxLen(MAX_LATENT)] | None = None  # VAE only: near this latent (/more)


# The sampling settings (top-k and top-p take the slower torch.topk path), and what a stored poem
# records of its request so that a rating can be tied to the decoding that produced it.
SAMPLING = ("temperature", "top_k", "top_p", "min_p", "theme", "parallel")
DECODING = ("scheme", "strict", *SAMPLING)


@dataclass
class PoemResult:
    lines: list[str]  # each line with its punctuation: "春眠不觉晓，"
    form: str
    model: str
    model_version: str
    keyword: str  # the keyword actually used (after any fallback)
    seed: int
    acrostic: bool = False
    requested_keyword: str | None = None  # set when the keyword was replaced by a fallback
    note: str | None = None  # bilingual note on a fallback, shown to the user
    latent: tuple[float, ...] | None = None  # VAE latent of this poem, for /more
    extra: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["text"] = self.text
        return d
