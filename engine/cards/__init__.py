"""Poem cards: a poem typeset 竖排 on letter paper, as a PNG to share (see render.py)."""

from engine.cards.render import render_card

__all__ = ["render_card"]
