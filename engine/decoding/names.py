"""What a request may name, and the rules its keyword or acrostic heads must meet: one definition
for every front end (the CLI, the HTTP API, the bot). Pure functions; each refusal is bilingual.

Form names are parsed by engine.prosody.forms.parse_form, rhyme schemes by
engine.prosody.tables.get_prosody. Whether the characters are in a model's vocabulary is the
Poet's call (engine/decoding/poet.py).
"""

from __future__ import annotations

import re

from engine.errors import InvalidInput, UnknownKeyword, echo
from engine.models.encoding import MAX_KEYWORD
from engine.prosody.forms import Form
from engine.text.han import all_han, han_only, is_han
from engine.text.script import to_simplified

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


def validate_keyword(raw: str | None, *, fallback: bool = True) -> str:
    """The stripped keyword, if it can be written about: 1 to MAX_KEYWORD characters.

    With `fallback` (the engine's rule) text that is not all Chinese may be longer, up to MAX_INPUT
    characters: the Poet replaces it by a theme, with a note. Without it (a chat keyword), any text
    over MAX_KEYWORD characters is refused.
    """
    keyword = (raw or "").strip()
    if not keyword:
        raise InvalidInput("请给出一个关键词，例如：春", "Please give a keyword, e.g. 春 (spring).")
    n = len(keyword)
    if n > MAX_INPUT or (n > MAX_KEYWORD and (all_han(keyword) or not fallback)):
        zh = f"关键词太长（{n} 个字），最多 {MAX_KEYWORD} 个字。"
        en = f"The keyword is too long ({n} characters); use at most {MAX_KEYWORD}."
        n_han = len(han_only(keyword))
        if not n_han:
            zh += "请用汉字，例如 春、月、山。"
            en += " Use Chinese characters, e.g. 春 (spring), 月 (moon), 山 (mountain)."
        elif n_han >= 10:
            zh += "要检查一首诗的格律，请用 /check（或 yinshi check）。"
            en += " To check a poem's meter, use /check (or yinshi check)."
        raise InvalidInput(zh, en)
    return keyword


def validate_heads(raw: str | None, form: Form | None = None) -> str:
    """Acrostic heads in simplified script: 4 Chinese characters (a quatrain) or 8 (a regulated
    verse), as many as `form` has lines; spaces and punctuation between them are dropped."""
    raw = raw or ""
    if len(raw) > MAX_INPUT:
        raise InvalidInput("藏头字须为 4 个或 8 个汉字。", "An acrostic needs 4 or 8 Chinese head characters.")
    heads = to_simplified(HEAD_SEPARATORS.sub("", raw))
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
