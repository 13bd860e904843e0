"""What a request may name, and the rules its keyword or acrostic heads must meet: one definition
for every front end (the CLI, the HTTP API, the bot). Pure functions; each refusal is bilingual.

Form names are parsed by engine.prosody.forms.parse_form, rhyme schemes by
engine.prosody.tables.get_prosody. Whether the characters are in a model's vocabulary is the
Poet's call (engine/decoding/poet.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from engine.errors import InvalidInput, UnknownKeyword, echo
from engine.models.encoding import MAX_KEYWORD
from engine.prosody.forms import Form
from engine.text.english import english_glosses
from engine.text.han import han_only, is_han
from engine.text.script import to_simplified, to_standard

MODEL_NAMES = ("gan", "vae")
DEFAULT_MODEL = "gan"
MODEL_ALIASES: dict[str, str] = {
    "gan": "gan",
    "对抗": "gan",
    "生成对抗": "gan",
    "生成对抗网络": "gan",
    "vae": "vae",
    "变分": "vae",
    "变分自编码": "vae",
    "变分自编码器": "vae",
}
MAX_INPUT = 64  # characters: longer keywords or heads are refused before anything else
HEAD_SEPARATORS = re.compile(r"[\s,，、.。;；:：!！?？·\-—_'\"“”‘’「」『』()（）]+")  # dropped between heads


def parse_model(name: str | None) -> str:
    """'gan', 'vae', '对抗', '变分自编码器' ... to a model name; empty means DEFAULT_MODEL."""
    if not name or not name.strip():
        return DEFAULT_MODEL
    key = MODEL_ALIASES.get(name.strip().lower())
    if key is None:
        raise InvalidInput(
            f"未知模型「{echo(name)}」，可选 gan（对抗）或 vae（变分）。",
            f"Unknown model {echo(name)!r}; choose gan or vae.",
        )
    return key


def validate_keyword(raw: str | None) -> str:
    """The stripped keyword, if it can be written about: at most MAX_KEYWORD Chinese characters, and
    at most MAX_INPUT characters in all. Other text (an English word, a word the vocabulary lacks)
    passes: the Poet writes on a related keyword instead, with a note (`resolve_keyword`). The one
    rule of the CLI, the HTTP API and the bot."""
    keyword = (raw or "").strip()
    if not keyword:
        raise InvalidInput("请给出一个关键词，例如：春", "Please give a keyword, e.g. 春 (spring).")
    n, n_han = len(keyword), len(han_only(keyword))
    if n > MAX_INPUT or n_han > MAX_KEYWORD:
        zh = f"关键词太长（{n} 个字），最多 {MAX_KEYWORD} 个汉字。"
        en = f"The keyword is too long ({n} characters); use at most {MAX_KEYWORD} Chinese characters."
        if n_han >= 10:
            zh += "要检查一首诗的格律，请用 /check（或 yinshi check）。"
            en += " To check a poem's meter, use /check (or yinshi check)."
        raise InvalidInput(zh, en)
    return keyword


def resolve_keyword(
    raw: str, usable: Callable[[str], bool], count: Callable[[str], int], theme: str
) -> tuple[str, str | None]:
    """The keyword to write about for a validated `raw`, and a bilingual note when it is not `raw`
    itself. `usable(word)`: the model can write it; `count(word)`: how often the corpus uses it.

    1. `raw` in standard simplified script (隠 → 隐, 風 → 风), if usable;
    2. English: the commonest usable word CC-CEDICT gives for it, first senses first (moon → 月);
    3. Chinese the model cannot write whole (手机): its longest usable part, the last one (a Chinese
       compound ends in its head), else its character the corpus uses most;
    4. else `theme` (the caller's fallback), saying it is unrelated."""
    text = to_standard(to_simplified(raw.strip()))
    if usable(text):
        return text, None
    if not han_only(text) and (found := _english(raw, usable, count)):
        return found, (f"「{raw}」译作「{found}」为题。 / Wrote about 「{found}」 for {raw!r} "
                       "(CC-CEDICT).")
    if part := _part(han_only(text), usable, count):
        return part, (f"「{raw}」不在古典诗词字库中，取其「{part}」为题。 / {raw!r} is not in the classical "
                      f"poetry vocabulary; wrote about its part 「{part}」.")
    return theme, (f"「{raw}」不在古典诗词字库中，改以「{theme}」为题。 / {raw!r} is not in the classical "
                   f"poetry vocabulary; wrote about 「{theme}」 instead.")


MIN_THEME_COUNT = 200  # a character the corpus uses less often than this makes a poor theme


def _english(raw: str, usable: Callable[[str], bool], count: Callable[[str], int]) -> str | None:
    words = [(w, sense) for w, sense in english_glosses(raw) if len(w) <= MAX_KEYWORD and usable(w)]
    if not words:
        return None
    return min(words, key=lambda ws: (ws[1], len(ws[0]) > 1 or count(ws[0]) < MIN_THEME_COUNT, -count(ws[0])))[0]


def _part(han: str, usable: Callable[[str], bool], count: Callable[[str], int]) -> str | None:
    for n in range(min(len(han), MAX_KEYWORD), 1, -1):  # the longest word, the last first
        for i in range(len(han) - n, -1, -1):
            if usable(han[i : i + n]):
                return han[i : i + n]
    chars = [ch for ch in han if usable(ch)]
    common = [ch for ch in chars if count(ch) >= MIN_THEME_COUNT]
    return common[-1] if common else max(chars, key=count, default=None)


def validate_heads(raw: str | None, form: Form | None = None) -> str:
    """Acrostic heads in simplified script: 4 Chinese characters (a quatrain) or 8 (a regulated
    verse), as many as `form` has lines; spaces and punctuation between them are dropped."""
    raw = raw or ""
    if len(raw) > MAX_INPUT:
        raise InvalidInput("藏头字须为 4 个或 8 个汉字。", "An acrostic needs 4 or 8 Chinese head characters.")
    heads = to_standard(to_simplified(HEAD_SEPARATORS.sub("", raw)))
    if not heads:
        raise InvalidInput(
            "请给出藏头字，例如：春夏秋冬", "Please give the head characters, e.g. 春夏秋冬."
        )
    if bad := "".join(ch for ch in heads if not is_han(ch)):
        raise UnknownKeyword(
            f"藏头字须为汉字：「{echo(bad)}」。", f"Head characters must be Chinese characters: {echo(bad)!r}."
        )
    if len(heads) not in (4, 8):
        raise InvalidInput(
            f"藏头字须为 4 个（绝句）或 8 个（律诗），你给了 {len(heads)} 个。",
            f"An acrostic needs 4 heads (a quatrain) or 8 (a regulated verse); you gave {len(heads)}.",
        )
    if form is not None and form.n_lines != len(heads):
        raise InvalidInput(
            f"{form.chinese}有 {form.n_lines} 句，藏头字却有 {len(heads)} 个。",
            f"A {form.name} has {form.n_lines} lines but you gave {len(heads)} head characters.",
        )
    return heads
