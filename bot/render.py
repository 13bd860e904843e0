"""Plain-text rendering of poems, forms, models and ratings, shared by every adapter."""

from __future__ import annotations

from engine.prosody.forms import FORMS, Form
from engine.request import PoemResult
from engine.text.script import to_traditional

MODEL_TITLES: dict[str, str] = {"gan": "生成对抗网络 GAN", "vae": "变分自编码器 VAE"}
NUMERALS = {5: "五", 7: "七"}
LINE_LENGTHS = sorted({f.line_len for f in FORMS.values()})  # 5, 7


def line_length_name(line_len: int) -> str:
    """五言 or 七言."""
    return f"{NUMERALS[line_len]}言"


def form_title(form: Form) -> str:
    """The full name of a form: 五言绝句, 七言律诗 ..."""
    return line_length_name(form.line_len) + ("绝句" if form.n_lines == 4 else "律诗")


def model_tag(model: str, version: str) -> str:
    """'— gan v2026.11.22' (a version written 'gan-2026.11.22' loses its model prefix)."""
    version = version.removeprefix(f"{model}-")
    version = version if version.startswith("v") else f"v{version}"
    return f"— {model} {version}"


def render_poem(result: PoemResult) -> str:
    """Title, the lines, the model tag, and the fallback note if the keyword was replaced; all in
    the poem's script (the lines already are: PoemResult.in_script).

    「春」· 五言绝句            「春夏秋冬」· 藏头 · 七言绝句
    春眠不觉晓，                春…，
    ...                         ...
    — gan v2026.11.22           — vae v1 · 藏头 acrostic
    """
    form = form_title(FORMS[result.form]) if result.form in FORMS else result.form
    title = f"「{result.keyword}」· 藏头 · {form}" if result.acrostic else f"「{result.keyword}」· {form}"
    tag = model_tag(result.model, result.model_version)
    if result.acrostic:
        tag += " · 藏头 acrostic"
    note = [part.strip() for part in result.note.split(" / ", 1)] if result.note else []  # 中文 / English
    if result.script == "traditional":
        title, tag, *note = (to_traditional(part) for part in (title, tag, *note))
    return "\n".join([title, "", *result.lines, "", tag, *([""] + note if note else [])])


def stars(score: int) -> str:
    return "★" * score + "☆" * (5 - score)
