"""The card of a generated poem: its lines, the keyword (or the 藏头 heads) as the title, the form and
model version as the footer, all in the poem's script (PoemResult.script).

    png = poem_card(result)               # in this thread (the CLI)
    png = await poem_card_async(result)   # on an event loop: in one of CARD_THREADS worker threads

Rendering is CPU work (~12 ms a card, engine/cards/render.py), so the bot and the HTTP API run it off
the event loop in a small pool of its own: at most CARD_THREADS cards render at once, the others wait
their turn, and poem decoding and database calls never queue behind cards.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from engine.cards.render import render_card
from engine.prosody.forms import FORMS
from engine.request import PoemResult
from engine.text.script import to_traditional

CARD_THREADS = 2
_pool = ThreadPoolExecutor(max_workers=CARD_THREADS, thread_name_prefix="yinshi-card")
SEAL = "吟诗"


def card_text(result: PoemResult) -> tuple[str, str, str]:
    """(title, footer, seal) of the poem's card, in its script: 「春」 · 五绝 · gan-2026.11.23 · 吟诗."""
    form = FORMS[result.form].chinese if result.form in FORMS else result.form
    footer = f"{form} · 藏头 · {result.model_version}" if result.acrostic else f"{form} · {result.model_version}"
    parts = (result.keyword, footer, SEAL)
    if result.script == "traditional":
        parts = tuple(to_traditional(p) for p in parts)  # type: ignore[assignment]
    return parts


def poem_card(result: PoemResult) -> bytes:
    """The PNG of the poem's card (1080 px tall; render_card)."""
    title, footer, seal = card_text(result)
    return render_card(result.lines, title, footer, seal=seal)


async def poem_card_async(result: PoemResult) -> bytes:
    """`poem_card` in one of the CARD_THREADS card threads, the event loop free meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_pool, poem_card, result)
