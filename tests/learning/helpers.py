"""Databases of tiny-GAN poems rated by a rule, for the cycle and schedule tests."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from sqlmodel import Session

from engine.decoding.poet import Poet, load_model
from engine.request import PoemRequest
from storage import queries
from storage.db import make_engine

LIKED = "极影"


def rated_database(url: str, model_dir: Path, n: int, rater, seed: int = 0) -> None:
    """`n` poems of the tiny GAN for 30 users, each rated once by `rater(text, rng)`."""
    m = load_model(model_dir / "gan", torch.device("cpu"))
    poet = Poet({"gan": m}, torch.device("cpu"))
    rng = random.Random(seed)
    reqs = [PoemRequest(keyword=rng.choice("春秋月山风花"), form=rng.choice(["wujue", "qijue", "wulv", "qilv"]),
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


def likes(text, rng):
    return 5 if any(c in text for c in LIKED) else rng.choice((1, 2))
