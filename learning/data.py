"""Rated poems -> labelled examples: what the reward model and the fine-tuning learn from.

- One rating per user and poem: the latest (a user who re-rates a poem changes their mind).
- Labels: 4-5 ★ liked (1), 1-2 ★ disliked (0), 3 ★ neutral (None: a prompt, not a label).
- Per-user hygiene. A user with at least `CONSTANT_MIN` ratings who gives every poem the same
  score says nothing about the poems: weight 0. A user who floods is capped: their ratings share
  a total weight of at most max(`FLOOD_FLOOR`, `FLOOD_SHARE` of all labelled ratings).
- Held out by time: the newest `HELDOUT_SHARE` of the labelled ratings judge the reward model;
  a poem rated on both sides of the cut is kept out of the training side.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from engine.request import DECODING, PoemRequest
from storage.models import Poem, Rating

LIKED_MIN, DISLIKED_MAX = 4, 2
HELDOUT_SHARE = 0.2
CONSTANT_MIN = 5
FLOOD_SHARE, FLOOD_FLOOR = 0.05, 20


@dataclass(frozen=True)
class RatedExample:
    poem_id: int
    user_id: int
    score: int  # 1-5
    rated_at: datetime
    text: str
    keyword: str
    form: str
    model: str
    model_version: str
    seed: int
    acrostic: bool
    decoding: dict  # engine.request.DECODING fields the poem row knows (None: unknown)
    weight: float = 1.0

    @property
    def label(self) -> int | None:
        return 1 if self.score >= LIKED_MIN else 0 if self.score <= DISLIKED_MAX else None

    def request(self) -> PoemRequest:
        """The request that wrote the poem (unknown sampling settings: today's defaults)."""
        known = {k: v for k, v in self.decoding.items() if v is not None}
        return PoemRequest(keyword=self.keyword, form=self.form, model=self.model, acrostic=self.acrostic,
                           seed=self.seed, **known)


@dataclass
class RatingData:
    train: list[RatedExample]  # oldest first; neutral ones included (their prompts are used)
    heldout: list[RatedExample]  # the newest labelled ratings
    report: dict = field(default_factory=dict)

    def labelled(self, part: str = "train") -> list[RatedExample]:
        return [e for e in getattr(self, part) if e.label is not None and e.weight > 0]


def load_ratings(*, session: Session, model: str, until: datetime | None = None) -> list[RatedExample]:
    """Every rating of poems of `model` (up to `until`), oldest first, the latest per user and poem.
    (A query: its home is storage/queries.py once that module takes it.)"""
    stmt = select(Rating, Poem).join(Poem, col(Rating.poem_id) == Poem.id).where(Poem.model == model)
    if until is not None:
        stmt = stmt.where(col(Rating.updated_at) <= until)
    latest: dict[tuple[int, int], tuple[Rating, Poem]] = {}
    for r, p in session.exec(stmt.order_by(col(Rating.updated_at), col(Rating.id))).all():
        latest[(r.user_id, r.poem_id)] = (r, p)
    out = [
        RatedExample(
            poem_id=p.id, user_id=r.user_id, score=r.score, rated_at=r.updated_at, text=p.text, keyword=p.keyword,
            form=p.form, model=p.model, model_version=p.model_version, seed=p.seed, acrostic=p.acrostic,
            decoding={k: getattr(p, k, None) for k in DECODING},
        )
        for r, p in latest.values()
    ]
    return sorted(out, key=lambda e: (e.rated_at, e.poem_id, e.user_id))


def count_labelled(*, session: Session, model: str, since: datetime | None = None) -> int:
    """Liked or disliked ratings of `model`'s poems newer than `since` (the schedule's trigger)."""
    stmt = (select(func.count()).select_from(Rating).join(Poem, col(Rating.poem_id) == Poem.id)
            .where(Poem.model == model, or_(Rating.score >= LIKED_MIN, Rating.score <= DISLIKED_MAX)))
    if since is not None:
        stmt = stmt.where(col(Rating.updated_at) > since)
    return int(session.exec(stmt).one())


def user_weights(examples: list[RatedExample]) -> tuple[dict[int, float], dict]:
    """Weight of each user's ratings, and what hygiene did."""
    scores: dict[int, list[int]] = defaultdict(list)
    for e in examples:
        scores[e.user_id].append(e.score)
    labelled = sum(1 for e in examples if e.label is not None)
    cap = max(FLOOD_FLOOR, FLOOD_SHARE * labelled)
    weights, constant, capped = {}, [], []
    for user, s in scores.items():
        n_lab = sum(1 for x in s if x >= LIKED_MIN or x <= DISLIKED_MAX)
        if len(s) >= CONSTANT_MIN and len(set(s)) == 1:
            weights[user] = 0.0
            constant.append(user)
        elif n_lab > cap:
            weights[user] = cap / n_lab
            capped.append(user)
        else:
            weights[user] = 1.0
    return weights, {"users": len(scores), "constant_users": len(constant), "capped_users": len(capped),
                     "cap": round(cap, 1)}


def prepare(examples: list[RatedExample], heldout_share: float = HELDOUT_SHARE) -> RatingData:
    """Weights and the split by time (examples oldest first, as load_ratings returns them)."""
    weights, hygiene = user_weights(examples)
    weighted = [RatedExample(**{**e.__dict__, "weight": weights[e.user_id]}) for e in examples]
    labelled = [i for i, e in enumerate(weighted) if e.label is not None and e.weight > 0]
    n_held = int(round(len(labelled) * heldout_share))
    cut = labelled[-n_held] if n_held else len(weighted)
    heldout = [e for e in weighted[cut:] if e.label is not None and e.weight > 0]
    held_poems = {e.poem_id for e in heldout}
    train = [e for e in weighted[:cut] if e.poem_id not in held_poems]
    counts = Counter(e.label for e in weighted)
    report = {
        "ratings": len(examples),
        "liked": counts[1],
        "disliked": counts[0],
        "neutral": counts[None],
        **hygiene,
        "train_labelled": sum(1 for e in train if e.label is not None and e.weight > 0),
        "heldout": len(heldout),
        "first": examples[0].rated_at.isoformat() if examples else None,
        "last": examples[-1].rated_at.isoformat() if examples else None,
        "heldout_from": weighted[cut].rated_at.isoformat() if cut < len(weighted) else None,
    }
    return RatingData(train, heldout, report)
