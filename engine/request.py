"""What callers ask the generators for, and what they get back.

PoemRequest declares each field once, with its bounds and a one-line help: the HTTP body
(engine/serving/schema.py), the CLI's sampling options (app/commands/options.py) and the decoding
columns of a stored poem (storage/models.py `Decoding`, checked against `DECODING` by the tests) are
derived from it. The bounds are metadata (annotated-types): a PoemRequest built in code is not checked
against them; the front ends validate what users send.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le, Lt, MaxLen, doc

# Sampling defaults (README, "Sampling defaults"): min-p 0.02 at temperature 1.2, no top-k or top-p;
# theme and couplet-partner bonuses (engine/corpus/associations.py) and the corpus-word bonus
# (engine/decoding/words.py) at these weights.
TEMPERATURE, TOP_P, MIN_P = 1.2, 1.0, 0.02
THEME, PARALLEL, WORDS, PLAN = 1.5, 2.0, 3.0, 0.0
MAX_LATENT = 1024  # VAE latent size a request may carry
# Measured on the shipped models: min-p from 1 - 1e-7 up makes every character garbage (in float32 the
# likeliest character falls below its own threshold), while at 0.99 sampling is already greedy. A
# VAE latent is ~N(0, 1); finite values decode, NaN or infinity give garbage.
MAX_MIN_P = 0.99
MAX_LATENT_VALUE = 1e6
MAX_SEED = 2**63  # a seed is a 64-bit signed integer (torch.Generator, the decoder's draws)
# Candidates per request: the model's real-vs-generated scorer keeps the most real-looking of them
# (engine/decoding/rerank.py; a checkpoint without a scorer draws one). One by default: on the shipped
# models best-of-4 left the independent classifier where it was, at 1.7x the latency (README, "Reranking").
CANDIDATES, MAX_CANDIDATES = 1, 16
Script = Literal["simplified", "traditional"]  # the models write simplified; traditional is OpenCC s2t


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
        float, Ge(0), Le(MAX_MIN_P), doc("keep characters at least this fraction as likely as the likeliest; 0: off")
    ] = MIN_P
    theme: Annotated[float, Ge(0), Le(10), doc("weight of the keyword's theme characters; 0: off")] = THEME
    parallel: Annotated[float, Ge(0), Le(10), doc("weight of couplet partners in 律诗 (对仗); 0: off")] = PARALLEL
    words: Annotated[float, Ge(0), Le(10), doc("weight of two-character units that are corpus words; 0: off")] = WORDS
    plan: Annotated[float, Ge(0), Le(10), doc("weight of each line's planned sub-topic of the theme; 0: off")] = PLAN
    candidates: Annotated[int, Ge(1), Le(MAX_CANDIDATES), doc(
        "poems drawn per request, the one the model's scorer finds most real returned; 1: no reranking"
        " (a model without a scorer always draws one)")] = CANDIDATES
    seed: Annotated[int, Ge(0), Lt(MAX_SEED)] | None = None  # None: drawn at random and reported
    # (the same seed and settings write the same poem; candidate j draws from rerank.candidate_seeds)
    latent: Annotated[  # VAE only: near this latent (/more)
        tuple[Annotated[float, Ge(-MAX_LATENT_VALUE), Le(MAX_LATENT_VALUE)], ...], MaxLen(MAX_LATENT)
    ] | None = None
    script: Annotated[
        Script, doc("simplified | traditional: the poem's lines in traditional script (phrase-aware: 白髮, 發現)")
    ] = "simplified"
    route_key: Annotated[  # the bot sends its salted user hash; the HTTP API's callers may send their own
        str, MaxLen(128), doc("who asks (e.g. a salted user hash): a model on trial writes a stable share of keys' poems")
    ] | None = None


# The sampling settings (top-k and top-p take the slower torch.topk path) and the number of candidates,
# and what a stored poem records of its request so that a rating can be tied to the decoding that
# produced it (and to the script it was shown in).
SAMPLING = ("temperature", "top_k", "top_p", "min_p", "theme", "parallel", "words", "plan", "candidates")
DECODING = ("scheme", "strict", *SAMPLING, "script")


@dataclass
class PoemResult:
    lines: list[str]  # each line with its punctuation: "春眠不觉晓，"
    form: str
    model: str
    model_version: str
    keyword: str  # the keyword actually used (after any fallback)
    seed: int  # the request's (drawn at random if it gave none): the same seed and settings write this poem again
    acrostic: bool = False
    requested_keyword: str | None = None  # set when the keyword was replaced by a fallback
    note: str | None = None  # bilingual note on a fallback, shown to the user
    latent: tuple[float, ...] | None = None  # VAE latent of this poem, for /more
    # "rerank" when several candidates were drawn: {"candidates": k, "chosen": j, "candidate_seed": the
    # seed that writes this poem with candidates 1, "scores": the scorer's real-logits, one per candidate}
    extra: dict = field(default_factory=dict)
    script: Script = "simplified"  # the script of `lines`
    simplified_lines: list[str] | None = None  # the lines as the model wrote them, when `lines` are traditional

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def simplified_text(self) -> str:
        """The poem as the model wrote it (what is stored and checked), whatever script it is shown in."""
        return "\n".join(self.lines if self.simplified_lines is None else self.simplified_lines)

    def in_script(self, script: Script) -> PoemResult:
        """This poem with its lines in `script`: traditional is OpenCC's phrase-aware s2t of each line
        (白发 → 白髮, 发新枝 → 發新枝, 干净 → 乾淨, 树干 → 樹幹, 干戈 stays), the model's lines kept in
        `simplified_lines`. The keyword stays as the model used it (a key for /more)."""
        if script == self.script:
            return self
        if (self.script, script) != ("simplified", "traditional"):
            raise ValueError(f"cannot turn a {self.script} poem into {script}")
        from engine.text.script import to_traditional

        return replace(self, lines=[to_traditional(line) for line in self.lines], script=script,
                       simplified_lines=list(self.lines))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["text"] = self.text
        return d
