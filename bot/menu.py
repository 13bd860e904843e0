"""The command menu: each command's bilingual description (Telegram's setMyCommands, Discord's slash
commands, /help), the help text and the welcome."""

from __future__ import annotations

from bot.render import LINE_LENGTHS, line_length_name
from bot.replies import bilingual
from engine.decoding.names import MODEL_NAMES
from engine.prosody.forms import FORMS

_FORMS = "|".join(f.chinese for f in FORMS.values())
_MODELS = "|".join(MODEL_NAMES)
_LINES = "|".join(map(line_length_name, LINE_LENGTHS))

# (command, description); descriptions stay within 100 characters (Discord's limit)
COMMANDS: list[tuple[str, str]] = [
    ("poem", f"以关键词作诗 · Write a poem: /poem 春 [{_FORMS}] [{_MODELS}]"),
    ("acrostic", f"藏头诗 · Acrostic poem: /acrostic 春夏秋冬 (4 or 8 heads) [{_LINES}]"),
    ("check", "检查格律 · Check a poem's tones and rhymes: /check 床前明月光，…"),
    ("more", "再来一首 · Another take on your last poem"),
    ("rate", "评分 · Rate your last poem from 1 to 5: /rate 5"),
    ("card", "诗卡开关 · Poems with a picture card, or text only: /card on|off"),
    ("script", "繁简 · Traditional or simplified characters: /script 繁|简"),
    ("forget", "删除我的全部数据 · Delete all your data"),
    ("stats", "评分统计（管理员）· Rating statistics (admins)"),
    ("help", "用法 · How to use Yinshi"),
    ("start", "开始 · Start"),
]
DESCRIPTIONS = dict(COMMANDS)

# commands a platform does not offer (Discord rates by button and has no /start)
PLATFORM_LACKS: dict[str, set[str]] = {"discord": {"rate", "start"}}

WELCOME = bilingual(
    "你好！我是吟诗，会写五言、七言的绝句和律诗。发一个关键词（如「春」）试试。",
    "Hello! I am Yinshi; I write classical Chinese quatrains and regulated verse. "
    "Send a keyword such as 春 (spring) to begin.",
)


def help_text(platform: str | None = None) -> str:
    """Usage; on a platform without some commands (Discord) without those."""
    skip = PLATFORM_LACKS.get(platform or "", set())
    lines = ["吟诗 Yinshi · 用法 How to use", ""]
    lines += [f"/{name} — {desc}" for name, desc in COMMANDS if name not in skip]
    lines += [
        "",
        "例 Examples: /poem 春 · /poem 月 七律 vae · /acrostic 春夏秋冬"
        + ("" if "rate" in skip else " · /rate 5"),
        "诗下方的 ★ 可评分 · Rate a poem with the ★ buttons under it.",
        "/card off 只发文字，/script 繁 用繁體字 · /card off for text only, /script 繁 for traditional characters.",
    ]
    return "\n".join(lines)
