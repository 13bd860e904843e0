"""Errors a user can cause, each with a Chinese and an English message."""

from __future__ import annotations

ECHO_CHARS = 12  # at most this much of a user's input is quoted back in an error


def echo(text: str) -> str:
    """A short, single-line quote of user input for an error message."""
    text = " ".join(text.split())
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


class YinshiError(ValueError):
    """Base of user-facing errors. `str(e)` gives both languages."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en}")


class InvalidInput(YinshiError):
    """The input cannot be used (empty, too long, wrong script, unknown form...)."""


class UnknownKeyword(YinshiError):
    """No character of the keyword is in the model's vocabulary."""


class Overloaded(YinshiError):
    """The engine's queue is full: try again shortly."""

    def __init__(self) -> None:
        super().__init__("诗人正忙，请稍后再试。", "The poet is busy; please try again in a moment.")


class RequestTimeout(YinshiError):
    def __init__(self) -> None:
        super().__init__("作诗超时，请再试一次。", "Writing the poem took too long; please try again.")


class EngineUnavailable(YinshiError):
    """The engine is shut down, or a remote engine cannot be reached."""

    def __init__(self) -> None:
        super().__init__("诗人暂时不在，请稍后再试。", "The poet is not available right now; please try again later.")
