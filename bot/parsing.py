"""Reading a chat message: the command and its arguments, form and model names in any order, and
the bilingual refusals of what cannot be read. Pure functions; the rules a keyword or acrostic heads
must meet are engine.decoding.names's."""

from __future__ import annotations

from bot.render import LINE_LENGTHS, line_length_name
from engine.decoding.names import MODEL_ALIASES, MODEL_NAMES, parse_model
from engine.errors import InvalidInput, echo
from engine.prosody.forms import FORM_ALIASES, FORMS, Form

# 五言/七言 (or 5/7): an acrostic's line length; its line count comes from the heads
LINE_LEN_ALIASES: dict[str, int] = {
    **{line_length_name(n): n for n in LINE_LENGTHS},
    **{str(n): n for n in LINE_LENGTHS},
}
COMMAND_ALIASES = {"cangtou": "acrostic", "藏头": "acrostic"}
MAX_DIGITS = 19  # longer numbers are beyond every database's ids (2^63 - 1 has 19 digits)


def split_command(text: str) -> tuple[str, str]:
    """'/poem@Bot 春 七律' -> ('poem', '春 七律'); text without a leading slash is a /poem keyword."""
    if text[:1] not in ("/", "／"):
        return "poem", text
    head, *tail = text[1:].split(maxsplit=1) or [""]
    command = head.split("@", 1)[0].lower()
    return COMMAND_ALIASES.get(command, command), tail[0] if tail else ""


def parse_options(
    tokens: list[str], *, line_lengths: bool = False
) -> tuple[list[str], str | None, str | None, int | None]:
    """Split command arguments into (words, form name, model name, line length), options in any order.
    Line lengths (五言/七言) are options only when `line_lengths` (acrostics)."""
    words: list[str] = []
    form = model = None
    line_len = None
    for tok in tokens:
        low = tok.lower()
        if low in MODEL_ALIASES:
            model = MODEL_ALIASES[low]
        elif low in FORM_ALIASES or tok in FORM_ALIASES:
            form = FORM_ALIASES.get(low) or FORM_ALIASES[tok]
        elif line_lengths and tok in LINE_LEN_ALIASES:
            line_len = LINE_LEN_ALIASES[tok]
        else:
            words.append(tok)
    return words, form, model, line_len


def parse_rate_args(args: list[str]) -> tuple[int | None, int]:
    """'/rate 5' -> (None, 5): the last poem; '/rate 12 5' -> (12, 5). A poem number longer than any
    id is no poem (and is never turned into an int: Python refuses 4,300 digits and more)."""
    if not args or len(args) > 2 or not all(a.isdigit() and a.isascii() for a in args):
        raise InvalidInput(
            "用法：/rate 5（给上一首诗评 1–5 分）或 /rate 诗号 5。",
            "Usage: /rate 5 (rate your last poem 1–5) or /rate POEM_ID 5.",
        )
    *poem, score = args
    if poem and len(poem[0].lstrip("0")) > MAX_DIGITS:
        raise no_such_poem(poem[0])
    if len(score.lstrip("0")) > MAX_DIGITS:
        raise score_out_of_range()
    nums = [int(a) for a in args]
    return (nums[0] if len(nums) == 2 else None), nums[-1]


def no_such_poem(poem_id: int | str) -> InvalidInput:
    return InvalidInput(f"找不到第 {echo(str(poem_id))} 首诗。", f"There is no poem number {echo(str(poem_id))}.")


def score_out_of_range() -> InvalidInput:
    return InvalidInput("评分须为 1 到 5 的整数。", "A rating must be a whole number from 1 to 5.")


def form_named(name: str) -> Form:
    """The form of any of its names (wujue, 五绝, 五言绝句 ...)."""
    key = FORM_ALIASES.get(name.strip().lower()) or FORM_ALIASES.get(name.strip())
    if key is None:
        zh, en = options_hint()
        raise InvalidInput(f"未知诗体「{echo(name)}」。{zh}", f"Unknown form {echo(name)!r}; {en}.")
    return FORMS[key]


def choose_model(name: str | None, loaded: dict[str, str], default: str) -> str:
    """The model a user named (any alias), else `default`; either must be loaded (when any is)."""
    if name is None or not name.strip():
        return default if default in loaded or not loaded else next(iter(loaded))
    model = parse_model(name)
    if model not in loaded:
        have = ", ".join(loaded) or "-"
        raise InvalidInput(
            f"模型 {model} 未加载（已加载：{have}）。", f"The {model} model is not loaded (loaded: {have})."
        )
    return model


def check_length(text: str, limit: int) -> None:
    if len(text) > limit:
        raise InvalidInput(
            f"消息太长（{len(text)} 字），上限 {limit} 字。",
            f"The message is too long ({len(text)} characters; the limit is {limit}).",
        )


def options_hint() -> tuple[str, str]:
    forms = "、".join(f"{f.chinese}({f.name})" for f in FORMS.values())
    models = ", ".join(MODEL_NAMES)
    return f"诗体可选：{forms}；模型可选：gan（对抗）、vae（变分）", f"forms: {forms}; models: {models}"


def unknown_options(words: list[str]) -> InvalidInput:
    zh, en = options_hint()
    quoted = "、".join(f"「{echo(w)}」" for w in words[:3])
    return InvalidInput(
        f"无法识别 {quoted}（关键词只能有一个）。{zh}",
        f"Cannot understand {', '.join(repr(echo(w)) for w in words[:3])} (give one keyword). {en}.",
    )
