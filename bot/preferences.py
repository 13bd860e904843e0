"""A user's two settings, /card on|off and /script 繁|简: the words each accepts, and what the bot
answers. They are stored per user (storage: users.card, users.script; bot.records.Preferences),
and a user who never chose has the bot's defaults: cards as Settings.cards says, simplified script.
"""

from __future__ import annotations

from bot.replies import bilingual
from engine.errors import InvalidInput, echo
from engine.request import Script

CARD_WORDS: dict[str, bool] = {
    **dict.fromkeys(("on", "yes", "true", "1", "开", "開", "开启", "開啟", "打开", "打開"), True),
    **dict.fromkeys(("off", "no", "false", "0", "关", "關", "关闭", "關閉"), False),
}
SCRIPT_WORDS: dict[str, Script] = {
    **dict.fromkeys(("繁", "繁体", "繁體", "正体", "正體", "traditional", "trad", "t", "tc", "zh-hant"), "traditional"),
    **dict.fromkeys(("简", "簡", "简体", "簡體", "simplified", "simp", "s", "sc", "zh-hans"), "simplified"),
}


def parse_card(args: list[str]) -> bool | None:
    """'/card off' -> False, '/card 开' -> True; '/card' alone -> None (show the setting)."""
    if not args:
        return None
    if len(args) == 1 and (choice := CARD_WORDS.get(args[0].lower())) is not None:
        return choice
    raise InvalidInput(
        f"看不懂「{echo(' '.join(args))}」。用法：/card on（诗附图片诗卡）或 /card off（只发文字）。",
        f"Cannot understand {echo(' '.join(args))!r}. Usage: /card on (poems come with a picture card) "
        "or /card off (text only).",
    )


def parse_script(args: list[str]) -> Script | None:
    """'/script 繁' -> 'traditional', '/script simplified' -> 'simplified'; alone -> None."""
    if not args:
        return None
    if len(args) == 1 and (choice := SCRIPT_WORDS.get(args[0].lower())) is not None:
        return choice
    raise InvalidInput(
        f"看不懂「{echo(' '.join(args))}」。用法：/script 繁（繁體字）或 /script 简（简体字）。",
        f"Cannot understand {echo(' '.join(args))!r}. Usage: /script 繁 (traditional characters) "
        "or /script 简 (simplified).",
    )


def card_text(on: bool, *, changed: bool) -> str:
    if on:
        zh = "好的，之后的诗附一张诗卡（图片），文字照发。" if changed else "诗卡：开。/card off 可关闭。"
        en = "Cards on: each poem comes as a picture card, with its text." if changed else "Cards are on; /card off turns them off."
    else:
        zh = "好的，之后的诗只发文字。/card on 可重新打开诗卡。" if changed else "诗卡：关。/card on 可打开。"
        en = "Cards off: poems come as text only; /card on turns them back on." if changed else "Cards are off; /card on turns them on."
    return bilingual(zh, en)


def script_text(script: Script, *, changed: bool) -> str:
    if script == "traditional":
        zh = "好的，之後的詩用繁體字。" if changed else "字體：繁體。/script 简 可改回简体。"
        en = "Script: traditional characters from now on." if changed else "Script: traditional; /script 简 for simplified."
    else:
        zh = "好的，之后的诗用简体字。" if changed else "字体：简体。/script 繁 可改用繁體。"
        en = "Script: simplified characters from now on." if changed else "Script: simplified; /script 繁 for traditional."
    return bilingual(zh, en)
