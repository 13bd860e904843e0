"""What callers ask the generators for, and what they get back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Sampling defaults (README, "Sampling defaults"): min-p 0.02 at temperature 1.05, no top-k or top-p;
# theme and couplet-partner bonuses (engine/corpus/associations.py) at these weights.
TEMPERATURE, TOP_P, MIN_P = 1.05, 1.0, 0.02
THEME, PARALLEL = 1.5, 2.0


@dataclass(frozen=True)
class PoemRequest:
    keyword: str  # the theme (1–4 characters), or the line heads in acrostic mode
    form: str = "wujue"  # wujue | qijue | wulv | qilv
    model: str = "gan"  # gan | vae
    acrostic: bool = False  # 藏头: keyword characters open the lines
    scheme: str = "pingshui"  # pingshui (平水韵) | xinyun (中华新韵)
    strict: bool = True  # tonal template as a hard mask (True) or a penalty (False)
    temperature: float = TEMPERATURE
    top_k: int = 0  # 0: off
    top_p: float = TOP_P  # 1.0: off (top-k and top-p take the slower torch.topk path)
    min_p: float = MIN_P  # keep characters at least this fraction as likely as the likeliest; 0: off
    theme: float = THEME  # weight of the keyword's theme characters (0: off)
    parallel: float = PARALLEL  # weight of couplet partners in the 颔联 and 颈联 of 律诗 (0: off)
    seed: int | None = None  # None: drawn at random and reported
    latent: tuple[float, ...] | None = None  # VAE only: sample near this latent (/more)


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
