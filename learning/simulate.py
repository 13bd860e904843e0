"""`yinshi finetune simulate`: the loop, offline, against raters whose taste it cannot see.

    python -m learning.simulate --model gan --prefer 月山 --ratings 2000 --seed 1 [--raters random] --json
        --model-dir models --corpus-dir ../shared/data/chinese-poetry --cache-dir data/cache

A temporary database (storage/, migrated as in production) and a temporary registry whose first
champion is the shipped checkpoint. Simulated users ask for poems (keywords and forms of real
test-split poems), the current champion writes them, they are stored with their decoding settings
and rated, then whole cycles run (learning/cycle.py, promoting straight to champion: there is no
traffic for an online trial). Raters:
- preference: a poem's appeal is +1 if it contains any of CHARS, else -1; a quarter of appeals are
  flipped (taste is noisy); the score is round(3 + appeal + the user's bias + noise), clipped to
  1-5, so about a quarter of ratings are 3 ★;
- random: 1-5 ★ uniformly, whatever the poem.
Users differ in activity (a few rate a lot), and one in twenty gives every poem the same score.
A tenth of the poems are rated by a second user. Figures before and after are taken on the gate's
fixed evaluation set (engine/evaluation/gate.py: the same prompts and seeds).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from sqlalchemy import event
from sqlmodel import Session

from engine.decoding.poet import Poet
from engine.errors import InvalidInput, YinshiError
from engine.evaluation import gate as G
from engine.evaluation.evaluate import ReferenceData, load_reference
from engine.models.verify import load_verified
from engine.prosody.forms import FORMS
from engine.request import DECODING, PoemRequest
from engine.training.preference import METHODS, PreferenceConfig
from learning.cycle import CycleConfig, run_cycle
from learning.registry import Registry
from storage import queries
from storage.db import make_engine
from storage.models import Decoding

RATERS = ("preference", "random")
FLIP = 0.25  # share of appeals flipped
NOISE, BIAS = 0.8, 0.6  # sd of a rating's noise and of a user's bias, in stars
CONSTANT_USERS = 0.05  # share of users who give every poem one score
SECOND_RATER = 0.1  # share of poems also rated by another user


@dataclass(frozen=True)
class SimUser:
    id: str
    bias: float
    activity: float
    constant: int | None  # the one score this user gives, if any


def make_users(n: int, rng: random.Random) -> list[SimUser]:
    return [SimUser(f"sim{i}", rng.gauss(0, BIAS), rng.paretovariate(1.5),
                    rng.choice((1, 5)) if rng.random() < CONSTANT_USERS else None) for i in range(n)]


def score(text: str, prefer: str, user: SimUser, raters: str, rng: random.Random) -> int:
    """The stars a simulated user gives a poem."""
    if raters == "random":
        return rng.randint(1, 5)
    if user.constant is not None:
        return user.constant
    appeal = 1 if any(c in text for c in prefer) else -1
    if rng.random() < FLIP:
        appeal = -appeal
    return min(5, max(1, round(3 + appeal + user.bias + rng.gauss(0, NOISE))))


def user_prompts(ref: ReferenceData, rng: random.Random, per_form: int = 300) -> list[tuple[str, str]]:
    """(keyword, form) pairs a reader might ask for: test-split poems' keywords (the evaluation set
    takes the valid split's)."""
    out = []
    for f in FORMS:
        pool = list(ref.test[f]) or list(ref.valid[f])
        for p in rng.sample(pool, min(per_form, len(pool))):
            out.append((ref.theme.real_keyword(p.title, p.lines, rng) or p.lines[0][0], f))
    return out


def figures(m, ev: G.EvalSet, ref: ReferenceData, prefer: str) -> dict:
    texts = G.write(m, Poet({m.kind: m}, torch.device("cpu")), ev)
    figs = G.poem_figures(texts, ev, ref)
    share = sum(any(c in t for c in prefer) for t in texts) / len(texts)
    return {"preferred_share": share, **{k: figs[k] for k in ("format", "rhyme", "tone")},
            "distinct_2": figs["distinct_2"], "repetition": figs["repetition"], "classifier": figs["classifier"]}


def rate_round(n: int, *, reg: Registry, model: str, engine, users: list[SimUser], prompts, prefer: str,
               raters: str, rng: random.Random, batch: int = 128) -> dict:
    """`n` ratings of poems the current champion writes for the simulated users."""
    rec = reg.champion(model)
    m = load_verified(reg.path(rec), torch.device("cpu"), rec.sha256, smoke=False)
    poet = Poet({model: m}, torch.device("cpu"))
    weights = [u.activity for u in users]
    done, scores = 0, []
    with Session(engine) as session:
        db_users = {}
        while done < n:
            k = min(batch, n - done)
            asked = [(rng.choices(users, weights)[0], rng.choice(prompts)) for _ in range(k)]
            reqs = [PoemRequest(keyword=kw, form=f, model=model, seed=rng.randrange(2**31)) for _, (kw, f) in asked]
            for (user, _), req, res in zip(asked, reqs, poet.generate_batch(reqs), strict=True):
                if isinstance(res, YinshiError) or done >= n:
                    continue
                second = rng.choice(users) if rng.random() < SECOND_RATER else user
                raters_of = [user] if second is user else [user, second]
                for u in raters_of:
                    if u.id not in db_users:
                        db_users[u.id] = queries.get_or_create_user(session=session, platform="sim", user_id=u.id,
                                                                    salt="sim")
                poem = queries.add_poem(
                    session=session, user=db_users[user.id], text=res.text, keyword=res.keyword, form=res.form,
                    model=model, model_version=res.model_version, seed=res.seed,
                    decoding=Decoding(**{f: getattr(req, f) for f in DECODING}),
                )
                for u in raters_of:
                    if done < n:
                        s = score(res.text, prefer, u, raters, rng)
                        queries.rate_poem(session=session, user=db_users[u.id], poem_id=poem.id, score=s)
                        scores.append(s)
                        done += 1
    return {"ratings": len(scores), "scores": {s: scores.count(s) for s in range(1, 6)}}


def simulate(model: str, prefer: str, ratings: int, seed: int, raters: str = "preference", cycles: int = 1, *,
             model_dir: Path, corpus_dir: Path, cache_dir: Path | None = None, eval_per_form: int = 100,
             tune: PreferenceConfig | None = None, gate: G.GateConfig | None = None, progress: bool = True,
             keep: Path | None = None) -> dict:
    """Whole cycles on simulated ratings; returns before/after figures, the gate and what was promoted."""
    prefer = "".join(dict.fromkeys(prefer.strip()))
    if not prefer:
        raise InvalidInput("请给出偏好的字，例如：月山", "Give the preferred characters, e.g. 月山.")
    if raters not in RATERS:
        raise InvalidInput(f"未知评分者「{raters}」，可选 preference 或 random",
                           f"Unknown raters {raters!r}; choose preference or random.")
    if ratings < 1 or cycles < 1:
        raise InvalidInput("评分数与轮数至少为 1", "Ratings and cycles must be at least 1.")
    started = time.time()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    root = Path(tempfile.mkdtemp(prefix="yinshi-simulate-"))
    try:
        reg = Registry(root / "registry")
        reg.seed_shipped(model_dir, names=(model,))
        if reg.champion(model) is None:
            raise InvalidInput(f"{model_dir} 中没有 {model} 模型", f"No {model} checkpoint in {model_dir}.")
        url = f"sqlite:///{root / 'sim.db'}"
        engine = make_engine(url)
        event.listen(engine, "connect", _no_fsync)
        engine.dispose()
        ref = load_reference(corpus_dir, cache_dir=cache_dir)
        ev = G.build_evalset(ref, eval_per_form)
        champ = reg.champion(model)
        before = _figures_of(reg, champ, ev, ref, prefer)
        users = make_users(max(20, ratings // 25), rng)
        prompts = user_prompts(ref, rng)
        rounds, last = [], {}
        for c in range(cycles):
            t0 = time.time()
            n = ratings // cycles + (1 if c < ratings % cycles else 0)
            rated = rate_round(n, reg=reg, model=model, engine=engine, users=users, prompts=prompts, prefer=prefer,
                               raters=raters, rng=rng)
            cfg = CycleConfig(model, reg.root, url, corpus_dir, cache_dir, promote_to="champion",
                              min_labelled=20, eval_per_form=eval_per_form, seed=seed * 100 + c,
                              tune=tune or PreferenceConfig(seed=seed * 100 + c), gate=gate or G.GateConfig())
            t1 = time.time()
            last = run_cycle(cfg, progress=progress)
            previous, champ = champ, reg.champion(model)
            if champ.version != previous.version:
                now = _figures_of(reg, champ, ev, ref, prefer)
            else:  # the champion stayed: its figures are known
                now = rounds[-1]["after"] if rounds else before
            cand = None
            if last.get("version") and last["version"] != champ.version:  # a candidate the gate refused
                cand = _figures_of(reg, reg.get(model, last["version"]), ev, ref, prefer)
            rounds.append({"cycle": c + 1, **rated, "rating_seconds": round(t1 - t0, 1),
                           "cycle_seconds": last.get("seconds"), "reward_auc": (last.get("reward") or {}).get("auc"),
                           "passed": last["gate"]["passed"], "reasons": last["gate"]["reasons"],
                           "version": champ.version, "after": now, "candidate": cand or now,
                           "gate": _gate_figures(last)})
        engine.dispose()
        return {
            "model": model, "prefer": prefer, "ratings": ratings, "seed": seed, "raters": raters, "cycles": cycles,
            "before": before, "after": rounds[-1]["after"],
            "gate": {"passed": last["gate"]["passed"], "reasons": last["gate"]["reasons"]},
            "promoted": any(r["passed"] for r in rounds), "version": reg.champion(model).version,
            "rounds": rounds, "seconds": round(time.time() - started, 1),
        }
    finally:
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)


def _figures_of(reg: Registry, rec, ev: G.EvalSet, ref: ReferenceData, prefer: str) -> dict:
    return figures(load_verified(reg.path(rec), torch.device("cpu"), rec.sha256, smoke=False), ev, ref, prefer)


def _no_fsync(dbapi_connection, _record) -> None:
    """The simulation's database is thrown away: no fsync per commit (production keeps FULL)."""
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def _gate_figures(record: dict) -> dict:
    """The gate figures of a cycle, compact: candidate and champion side by side."""
    g = record.get("gate") or {}
    cand, champ = g.get("candidate") or {}, g.get("champion") or {}
    out = {k: [cand.get(k), champ.get(k)] for k in ("distinct_2", "repetition", "nll", "classifier", "keyword_hit")
           if k in cand}
    if cand:
        out["kl"] = cand.get("kl")
        out["win"] = cand.get("win")
    if record.get("reward"):
        out["reward_auc"] = record["reward"].get("auc")
        out["reward_z"] = record["reward"].get("z")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m learning.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("gan", "vae"), required=True)
    p.add_argument("--prefer", required=True, help="characters the simulated users like, e.g. 月山")
    p.add_argument("--ratings", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--raters", choices=RATERS, default="preference")
    p.add_argument("--cycles", type=int, default=1)
    p.add_argument("--method", choices=METHODS, default=PreferenceConfig.method)
    p.add_argument("--steps", type=int, default=PreferenceConfig.steps)
    p.add_argument("--tune", type=json.loads, default={},
                   help='other fine-tuning settings as JSON, e.g. \'{"lr": 1e-4, "k": 8}\' (PreferenceConfig)')
    p.add_argument("--eval-per-form", type=int, default=100)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--cache-dir", type=Path, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        out = simulate(a.model, a.prefer, a.ratings, a.seed, a.raters, a.cycles, model_dir=a.model_dir,
                       corpus_dir=a.corpus_dir, cache_dir=a.cache_dir, eval_per_form=a.eval_per_form,
                       tune=PreferenceConfig(**{"method": a.method, "steps": a.steps, "seed": a.seed, **a.tune}),
                       progress=not a.json)
    except YinshiError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False, default=str) if a.json else json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
