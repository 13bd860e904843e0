"""What the platform-neutral bot answers; adapters only render it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserRef:
    platform: str  # telegram | discord | console | http
    user_id: str  # the platform's user id (stored only as a salted hash)
    name: str | None = None


@dataclass
class Reply:
    text: str
    poem_id: int | None = None  # when set, the adapter shows 1–5 ★ rating buttons for this poem
    rating: int | None = None  # the user's current rating of that poem, shown on the buttons
    ephemeral: bool = False  # Discord: only the user sees it
    error: bool = False  # the reply explains a bad input
