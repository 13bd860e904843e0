"""The running app's side of the learning loop (learning/): what serves, swaps, trials, schedules.

- **What serves**: per generator, the registry's champion (Settings.registry_dir) when it has one,
  else the shipped checkpoint (Settings.model_dir); a challenger, if any, beside it. Every
  checkpoint goes through engine.models.verify (its recorded sha256, weights only, finite, a smoke
  test) in a worker thread.
- **Hot swap**: a watcher polls registry.json (every atomic write renames a new file in, so its
  inode, size and time say when it changed) every `registry_poll_s`; when a champion or challenger
  moved it loads the new versions verified and calls `AsyncEngine.swap`: the batch in flight ends on
  the old models, later ones use the new. A refused checkpoint is logged and the old model serves on.
- **Online trial**: the challenger writes the poems of a stable share (`challenger_share`) of route
  keys (the bot's salted user hashes) per trial (learning.online.serves_challenger); every
  `online_check_s` the ratings per version decide (learning.online.check): promote or drop, which the
  next poll swaps in.
- **Schedule**: learning.schedule.FineTuneSchedule, one `python -m learning.cycle` at a time in a
  subprocess, when a generator has `finetune_min_ratings` new liked or disliked ratings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session

from app.settings import Settings
from engine.errors import YinshiError
from learning import online
from learning.registry import Registry, VersionRecord, sha256_file

if TYPE_CHECKING:
    from engine.decoding.poet import LoadedModel, Poet
    from engine.serving.async_engine import AsyncEngine, Route
    from learning.schedule import FineTuneSchedule

log = logging.getLogger(__name__)

SHIPPED = "shipped"  # the key of a generator served from Settings.model_dir


def open_registry(settings: Settings) -> Registry | None:
    """The registry, if one was written (reading never creates it)."""
    return Registry(settings.registry_dir) if (settings.registry_dir / "registry.json").exists() else None


@dataclass(frozen=True)
class Lineup:
    """What should serve: per generator its champion's record (None: the shipped checkpoint) and
    its challenger's (None: no trial)."""

    champions: dict[str, VersionRecord | None]
    challengers: dict[str, VersionRecord | None]

    @classmethod
    def read(cls, registry: Registry | None, names) -> Lineup:
        if registry is None:
            return cls({n: None for n in names}, {n: None for n in names})
        return cls({n: registry.champion(n) for n in names}, {n: registry.challenger(n) for n in names})


class Serving:
    """The generators that serve, loaded from a Lineup; each checkpoint verified, each loaded once
    (what stays in the lineup is reused), and a refused one never loaded again."""

    def __init__(self, settings: Settings):
        from engine.decoding.names import MODEL_NAMES
        from engine.device import resolve_device

        self.settings = settings
        self.device = resolve_device(settings.device)
        self.names = tuple(MODEL_NAMES)
        self.loaded: dict[tuple[str, str], LoadedModel] = {}  # (name, key) -> model, of what serves now
        self.champions: dict[str, str] = {}  # name -> key serving
        self.challengers: dict[str, str] = {}
        self.refused: set[tuple[str, str]] = set()
        self.shipped_sha: dict[str, str | None] = {}

    def key(self, name: str, rec: VersionRecord | None) -> str:
        """What identifies a checkpoint: a registry version and its sha256, or the shipped one (also
        the registry's copy of it, the same bytes: the first cycle's seeding reloads nothing)."""
        if rec is None:
            return SHIPPED
        if rec.method == "shipped":
            if name not in self.shipped_sha:
                path = self.settings.model_dir / name / "model.pt"
                self.shipped_sha[name] = sha256_file(path) if path.exists() else None
            if rec.sha256 == self.shipped_sha[name]:
                return SHIPPED
        return f"{rec.version}@{rec.sha256}"

    def _load(self, name: str, rec: VersionRecord | None, registry: Registry | None, role: str,
              strict: bool = False) -> LoadedModel | None:
        """The model of `rec` (None: the shipped one), verified; None if it is refused (logged
        once), or with `strict` its CheckpointRefused."""
        from app.poets import load_checked
        from engine.models.verify import load_verified

        k = (name, self.key(name, rec))
        if k in self.loaded:
            return self.loaded[k]
        if k in self.refused:
            return None
        try:
            if k[1] == SHIPPED:
                return load_checked(self.settings.model_dir / name, self.device, self.settings.quantize)
            assert registry is not None
            return load_verified(registry.path(rec), self.device, rec.sha256, quantize=self.settings.quantize)
        except YinshiError as e:
            self.refused.add(k)
            if strict:
                raise
            log.error("%s: %s %s refused, not served: %s", name, role, k[1], e)
            return None

    def build(self, lineup: Lineup, registry: Registry | None) -> tuple[Poet, Poet | None]:
        """The champions' poet and the challengers' (None: no trial), from `lineup`. A refused
        champion leaves the one serving now in place (at start: the shipped one); a refused
        challenger is left out. Runs in a worker thread. FileNotFoundError if nothing can serve."""
        from engine.decoding.poet import Poet

        loaded: dict[tuple[str, str], LoadedModel] = {}
        champions: dict[str, str] = {}
        for name in self.names:
            rec = lineup.champions[name]
            shipped = (self.settings.model_dir / name / "model.pt").exists()
            starting = name not in self.champions  # nothing of it serves yet: a bad shipped model fails the start
            k = self.key(name, rec)
            m = self._load(name, rec, registry, "champion", strict=starting and k == SHIPPED) \
                if rec is not None or shipped else None
            if m is None and name in self.champions:  # the one serving now serves on
                k = self.champions[name]
                m = self.loaded[(name, k)]
            elif m is None and rec is not None and shipped:  # at start: the shipped one
                k = SHIPPED
                m = self._load(name, None, None, "shipped model", strict=True)
            if m is not None:
                loaded[(name, k)], champions[name] = m, k
        if not champions:
            raise FileNotFoundError(f"no generator to serve: no registry champion and no checkpoint under "
                                    f"{self.settings.model_dir}")
        challengers: dict[str, str] = {}
        for name, rec in lineup.challengers.items():
            if rec is not None and name in champions:
                m = self._load(name, rec, registry, "challenger")
                if m is not None:
                    loaded[(name, self.key(name, rec))], challengers[name] = m, self.key(name, rec)
        self.loaded, self.champions, self.challengers = loaded, champions, challengers
        poet = Poet({n: loaded[(n, k)] for n, k in champions.items()}, self.device)
        trial = Poet({n: loaded[(n, k)] for n, k in challengers.items()}, self.device) if challengers else None
        return poet, trial

    def serves(self, lineup: Lineup) -> bool:
        """Whether `lineup` is what serves now (or was refused: nothing new to load)."""
        for name in self.names:
            want = self.key(name, lineup.champions[name])
            if self.champions.get(name, want) != want and (name, want) not in self.refused:
                return False
            want = lineup.challengers[name]
            if self.challengers.get(name) != (None if want is None else self.key(name, want)) and \
                    (want is None or (name, self.key(name, want)) not in self.refused):
                return False
        return True


def route(challenger: Poet | None, share: float) -> Route | None:
    """Which requests the challenger writes: a stable share of route keys, drawn afresh per trial
    (the hash covers the challenger's version)."""
    if challenger is None or share <= 0:
        return None
    versions = challenger.model_versions
    return lambda name, k: online.serves_challenger(f"{versions[name]}:{k}", share)


def serving_poets(settings: Settings) -> tuple[Serving, Poet, Poet | None]:
    """At start-up (in a worker thread): what the registry says serves, else the shipped models."""
    serving = Serving(settings)
    registry = open_registry(settings)
    poet, challenger = serving.build(Lineup.read(registry, serving.names), registry)
    return serving, poet, challenger


@contextlib.asynccontextmanager
async def serving_engine(settings: Settings, db: Engine | None = None) -> AsyncIterator[tuple[AsyncEngine, LearningLoop]]:
    """The registry's champions (and challengers) behind a started AsyncEngine, with the learning
    loop running; both closed on exit."""
    from app.poets import engine_options
    from engine.serving.async_engine import AsyncEngine

    serving, poet, challenger = await asyncio.to_thread(serving_poets, settings)
    async with AsyncEngine(poet, engine_options(settings)) as engine:
        if challenger is not None:
            await engine.swap(poet, challenger, route(challenger, settings.challenger_share))
        async with LearningLoop(settings, engine, serving, db) as loop:
            yield engine, loop


class LearningLoop:
    """The watcher (hot swap, online trial) and the fine-tuning schedule of one running app."""

    def __init__(self, settings: Settings, engine: AsyncEngine, serving: Serving, db: Engine | None = None):
        """Without `db` only the watcher runs (no online trial decisions, no schedule)."""
        self.settings, self.engine, self.serving, self.db = settings, engine, serving, db
        self.trials: dict[str, dict] = {}  # per generator, the last online decision (for /stats)
        self.schedule: FineTuneSchedule | None = None
        self._seen: tuple | None = self._signature()
        self._task: asyncio.Task | None = None

    # -- lifetime ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="yinshi-registry-watch")
        if self.db is not None and self.settings.finetune_interval_s > 0 and self.schedule is None:
            self.schedule = self._schedule()
            self.schedule.start()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.schedule is not None:
            await self.schedule.close()

    async def __aenter__(self) -> LearningLoop:
        self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        weighed = loop.time()
        while True:
            await asyncio.sleep(self.settings.registry_poll_s)
            try:
                await self.poll()
                if loop.time() - weighed >= self.settings.online_check_s:
                    weighed = loop.time()
                    if await self.weigh_trials():
                        await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed poll must not end the watcher
                log.exception("the registry watch failed")

    # -- hot swap ---------------------------------------------------------------------------------

    def _signature(self) -> tuple | None:
        try:
            st = (self.settings.registry_dir / "registry.json").stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    async def poll(self) -> bool:
        """Swap in the registry's champions and challengers if they changed; True if it swapped."""
        sig = self._signature()
        if sig == self._seen:
            return False
        self._seen = sig
        registry = open_registry(self.settings)

        def read() -> tuple[Lineup, bool]:
            lineup = Lineup.read(registry, self.serving.names)
            return lineup, self.serving.serves(lineup)  # (may hash a shipped checkpoint once)

        lineup, same = await asyncio.to_thread(read)
        if same:
            return False
        before = (dict(self.serving.champions), dict(self.serving.challengers))
        poet, challenger = await asyncio.to_thread(self.serving.build, lineup, registry)
        if (self.serving.champions, self.serving.challengers) == before:
            return False  # everything new was refused: the old models serve on
        await self.engine.swap(poet, challenger, route(challenger, self.settings.challenger_share))
        log.info("now serving %s, on trial %s", poet.model_versions, challenger.model_versions if challenger else {})
        return True

    # -- online trial -----------------------------------------------------------------------------

    def _rating_stats(self):
        from storage.queries import ratings_by_model_version

        with Session(self.db) as session:
            return ratings_by_model_version(session=session)

    async def weigh_trials(self) -> list[online.Decision]:
        """Apply the online decision to every challenger (promote, drop or wait); the decisions made."""
        registry = open_registry(self.settings)
        if self.db is None or registry is None or not any(registry.challenger(n) for n in self.serving.names):
            return []
        stats = await asyncio.to_thread(self._rating_stats)
        acted = []
        for name in self.serving.names:
            d = await asyncio.to_thread(online.check, registry, stats, name)
            if d is None:
                continue
            self.trials[name] = d.to_dict()
            if d.action != "wait":
                log.info("%s: online trial decided %s (P(better) %.3f)", name, d.action, d.p_better)
                acted.append(d)
        return acted

    # -- the schedule -----------------------------------------------------------------------------

    def _schedule(self) -> FineTuneSchedule:
        from learning.schedule import FineTuneSchedule

        s = self.settings
        return FineTuneSchedule(registry=Registry(s.registry_dir), models=s.finetune_models,
                                interval_s=s.finetune_interval_s, min_new_ratings=s.finetune_min_ratings,
                                count_new=self.count_new, cycle_args=self.cycle_args)

    def count_new(self, model: str, since) -> int:
        from learning.data import count_labelled

        with Session(self.db) as session:
            return count_labelled(session=session, model=model, since=since)

    def cycle_args(self, model: str) -> list[str]:
        """`python -m learning.cycle` arguments for `model` from Settings."""
        s = self.settings
        return ["--model", model, "--registry", str(s.registry_dir), "--database", s.resolved_database_url,
                "--corpus-dir", str(s.corpus_dir), "--cache-dir", str(s.cache_dir), "--model-dir", str(s.model_dir),
                "--promote-to", "challenger" if s.challenger_share > 0 else "champion"]

    # -- /stats -----------------------------------------------------------------------------------

    async def stats_lines(self) -> list[str]:
        """For admins' /stats: the last cycles and the online trials."""
        return await asyncio.to_thread(self._stats_lines)

    def _stats_lines(self) -> list[str]:
        registry = open_registry(self.settings)
        if registry is None:
            return []
        lines = []
        cycles = registry.cycles()[-5:]
        if cycles:
            lines.append("微调 · Fine-tuning cycles (latest last)")
            lines += [cycle_line(c) for c in cycles]
        if self.schedule is not None and self.schedule.running:
            lines.append(f"  running now: {self.schedule.running}")
        trials = []
        stats = None
        for name in self.serving.names:
            champ, chall = registry.champion(name), registry.challenger(name)
            if champ is None or chall is None:
                continue
            if self.db is None:
                continue
            stats = stats if stats is not None else self._rating_stats()
            post = online.posteriors(stats, name)
            d = online.decide(post.get(champ.version, online.Posterior(0, 0)),
                              post.get(chall.version, online.Posterior(0, 0)))
            trials.append(f"{name}: {chall.version} {posterior_text(d.challenger)} against champion "
                          f"{champ.version} {posterior_text(d.champion)}; P(better) {d.p_better:.2f} → {d.action}")
        if trials:
            lines.append(f"在试 · On trial (share {self.settings.challenger_share:.0%}; P(≥4★) posterior means)")
            lines += ["  " + t for t in trials]
        return lines


def posterior_text(p: online.Posterior) -> str:
    return f"mean {p.mean:.3f} (n={p.total}, ≥4★ {p.good})"


def cycle_line(c: dict) -> str:
    """One cycle in one line: when, which, the ratings it used, the gate's figures, the outcome."""
    data, reward, gate = c.get("data") or {}, c.get("reward") or {}, c.get("gate") or {}
    auc = reward.get("auc")
    parts = [f"  {str(c.get('at', ''))[:16]} {c.get('name')} {c.get('version') or '—'}",
             f"ratings {data.get('ratings', 0)} (liked {data.get('liked', 0)}, disliked {data.get('disliked', 0)})",
             f"reward AUC {auc:.3f}" if isinstance(auc, float) else "reward AUC —"]
    cand, champ = gate.get("candidate") or {}, gate.get("champion") or {}
    win = cand.get("win") or {}
    if win:
        parts.append(f"win {win.get('win_rate', 0):.2f} [{win.get('ci_low', 0):.2f}, {win.get('ci_high', 0):.2f}]")
    for k in ("format", "rhyme", "tone", "distinct_2", "kl"):
        if k in cand:
            parts.append(f"{k} {cand[k]:.3f}" + (f"/{champ[k]:.3f}" if k in champ else ""))
    if c.get("promoted"):
        parts.append(f"promoted to {c['promoted']}")
    elif c.get("error"):
        parts.append(f"failed: {c['error']}")
    else:
        reasons = gate.get("reasons") or []
        parts.append("refused: " + ("; ".join(reasons[:2]) if reasons else "—"))
    return ", ".join(parts)
