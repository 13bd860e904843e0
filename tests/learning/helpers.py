"""Databases of tiny-GAN poems rated by a rule, for the cycle and schedule tests."""

from __future__ import annotations

import random
from collections import Counter
from functools import cache
from pathlib import Path

import torch
from sqlmodel import Session

from engine.decoding.poet import Poet, load_model
from engine.request import PoemRequest
from storage import queries
from storage.db import make_engine

KEYWORDS = "春秋月山风花"  # the prompts' keywords: never the liked characters


@cache
def liked_characters(model_dir: Path, target: float = 0.25, union: float = 0.45) -> str:
    """A few characters, none a keyword, the first in about `target` of the tiny GAN's poems and all
    together in about `union` of them: a taste that raters can have, with enough liked and disliked
    poems to judge a reward model, and that a few fine-tuning steps can serve, whatever the tiny
    model happened to learn and however it decodes."""
    m = load_model(model_dir / "gan", torch.device("cpu"))
    rng = random.Random(7)
    reqs = [PoemRequest(keyword=rng.choice(KEYWORDS), form=rng.choice(["wujue", "qijue", "wulv", "qilv"]),
                        model="gan", seed=rng.randrange(2**31)) for _ in range(300)]
    poems = [set(r.text) - set(KEYWORDS + "，。\n") for r in Poet({"gan": m}, torch.device("cpu")).generate_batch(reqs)]
    counts = Counter(ch for p in poems for ch in p)

    def share(chars: str) -> float:
        return sum(any(c in p for c in chars) for p in poems) / len(poems)

    liked = min(counts, key=lambda ch: (abs(counts[ch] / len(poems) - target), ch))
    while share(liked) < union - 0.05 and len(liked) < 4:
        liked += min((ch for ch in counts if ch not in liked), key=lambda ch: (abs(share(liked + ch) - union), ch))
    return liked


def rated_database(url: str, model_dir: Path, n: int, rater, seed: int = 0) -> None:
    """`n` poems of the tiny GAN for 30 users, each rated once by `rater(text, rng)`."""
    m = load_model(model_dir / "gan", torch.device("cpu"))
    poet = Poet({"gan": m}, torch.device("cpu"))
    rng = random.Random(seed)
    reqs = [PoemRequest(keyword=rng.choice(KEYWORDS), form=rng.choice(["wujue", "qijue", "wulv", "qilv"]),
                        model="gan", seed=rng.randrange(2**31)) for _ in range(n)]
    engine = make_engine(url)
    with Session(engine) as s:
        users = [queries.get_or_create_user(session=s, platform="console", user_id=f"u{i}", salt="t") for i in range(30)]
        for i, res in enumerate(poet.generate_batch(reqs)):
            u = users[i % 30]
            p = queries.add_poem(session=s, user=u, text=res.text, keyword=res.keyword, form=res.form, model="gan",
                                 model_version=res.model_version, seed=res.seed)
            queries.rate_poem(session=s, user=u, poem_id=p.id, score=rater(res.text, rng))
    engine.dispose()


def likes(model_dir: Path):
    """A rater who gives 5 ★ to poems with a liked character (`liked_characters`), else 1 or 2."""
    liked = liked_characters(model_dir)
    return lambda text, rng: 5 if any(c in text for c in liked) else rng.choice((1, 2))
