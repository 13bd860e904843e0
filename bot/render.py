"""Plain-text rendering of poems and bilingual messages, shared by every adapter."""

from __future__ import annotations

from engine.errors import YinshiError
from engine.request import PoemResult

FORM_TITLES: dict[str, str] = {
    "wujue": "五言绝句",
    "qijue": "七言绝句",
    "wulv": "五言律诗",
    "qilv": "七言律诗",
}
MODEL_NAMES: dict[str, str] = {"gan": "生成对抗网络 GAN", "vae": "变分自编码器 VAE"}


def bilingual(zh: str, en: str) -> str:
    return f"{zh}\n{en}"


def error_text(err: YinshiError) -> str:
    return bilingual(err.zh, err.en)


def model_tag(model: str, version: str) -> str:
    """'— gan v2026.11.22' (a version written 'gan-2026.11.22' loses its model prefix)."""
    version = version.removeprefix(f"{model}-")
    version = version if version.startswith("v") else f"v{version}"
    return f"— {model} {version}"


def render_poem(result: PoemResult) -> str:
    """Title, the lines, the model tag, and the fallback note if the keyword was replaced.

    「春」· 五言绝句            「春夏秋冬」· 藏头 · 七言绝句
    春眠不觉晓，                春…，
    ...                         ...
    — gan v2026.11.22           — vae v1 · 藏头 acrostic
    """
    form = FORM_TITLES.get(result.form, result.form)
    title = f"「{result.keyword}」· 藏头 · {form}" if result.acrostic else f"「{result.keyword}」· {form}"
    tag = model_tag(result.model, result.model_version)
    if result.acrostic:
        tag += " · 藏头 acrostic"
    parts = [title, "", *result.lines, "", tag]
    if result.note:  # "中文 / English" -> one line each
        parts += ["", *(part.strip() for part in result.note.split(" / ", 1))]
    return "\n".join(parts)


def stars(score: int) -> str:
    return "★" * score + "☆" * (5 - score)
