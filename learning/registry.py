"""The model registry: every version of each generator, with its checkpoint, and aliases that move.

Versions are immutable. `champion` (what serves) and `challenger` (what serves a share of traffic
while its ratings come in, learning/online.py) are aliases per generator; promoting and rolling
back move them, nothing else. Layout of the registry root (Settings: data_dir / "registry"):

    registry.json             versions, aliases, alias history and the last cycles (atomic writes)
    .lock                     held by whoever reads, modifies and writes registry.json
    <name>/<version>/         model.pt and meta.json of one version, never changed once written

Every write goes to a temporary file that is fsynced and then renamed over the old one (and the
directory fsynced), so a reader, or a process killed at any point, sees the old state or the new
one, never half of one. The shipped checkpoints (models/gan, models/vae) are the first champions.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import InvalidInput

STATUSES = ("candidate", "challenger", "champion", "rejected", "archived")
NAMES = ("gan", "vae")
MAX_CYCLES = 200  # cycle records kept in registry.json
CHECKPOINT_FILES = ("model.pt", "meta.json")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class VersionRecord:
    name: str  # gan | vae
    version: str  # e.g. gan-2026.11.23 (shipped), gan-2026.12.01-ft1 (fine-tuned)
    status: str  # candidate | challenger | champion | rejected | archived
    sha256: str  # of model.pt
    parent: str | None = None  # the version it was fine-tuned from
    method: str = "shipped"  # shipped | raft | reinforce ...
    created: str = field(default_factory=now)
    data_window: dict = field(default_factory=dict)  # ratings used: count, first/last time, labels
    gate: dict = field(default_factory=dict)  # figures and reasons (engine/evaluation/gate.py)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a fsynced temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def unknown_version(name: str, version: str) -> InvalidInput:
    return InvalidInput(f"没有模型版本「{name}/{version}」", f"No model version {name}/{version}.")


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.file = self.root / "registry.json"

    # -- reading ----------------------------------------------------------------------------------

    def _read(self) -> dict:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        data.setdefault("versions", [])
        data.setdefault("aliases", {})
        data.setdefault("history", [])
        data.setdefault("cycles", [])
        return data

    def list_versions(self, name: str | None = None) -> list[VersionRecord]:
        """Every version, oldest first (of one generator if `name` is given)."""
        return [VersionRecord(**v) for v in self._read()["versions"] if name in (None, v["name"])]

    def get(self, name: str, version: str) -> VersionRecord:
        for rec in self.list_versions(name):
            if rec.version == version:
                return rec
        raise unknown_version(name, version)

    def alias(self, name: str, alias: str) -> VersionRecord | None:
        """The version an alias (champion | challenger) points at, if any."""
        version = self._read()["aliases"].get(name, {}).get(alias)
        return self.get(name, version) if version else None

    def champion(self, name: str) -> VersionRecord | None:
        return self.alias(name, "champion")

    def challenger(self, name: str) -> VersionRecord | None:
        return self.alias(name, "challenger")

    def path(self, rec: VersionRecord) -> Path:
        """The directory holding the version's model.pt and meta.json."""
        return self.root / rec.name / rec.version

    def shipped_figures(self, name: str, version: str, eval_prompts: int) -> tuple[str, dict] | None:
        """(version, gate figures) of the shipped model that `version` descends from, as the first gate
        of its lineage measured it on an evaluation set of `eval_prompts` prompts; None when `version`
        is itself shipped or no such gate was recorded."""
        recs = {v.version: v for v in self.list_versions(name)}
        root = recs.get(version)
        while root is not None and root.method != "shipped" and root.parent in recs:
            root = recs[root.parent]
        if root is None or root.version == version or root.method != "shipped":
            return None
        for v in recs.values():
            if v.parent == root.version and v.gate.get("eval_prompts") == eval_prompts and "champion" in v.gate:
                return root.version, v.gate["champion"]
        return None

    def history(self, name: str | None = None) -> list[dict]:
        return [h for h in self._read()["history"] if name in (None, h["name"])]

    def cycles(self, name: str | None = None) -> list[dict]:
        """Records of the last fine-tuning cycles, oldest first."""
        return [c for c in self._read()["cycles"] if name in (None, c.get("name"))]

    def data_until(self, name: str) -> datetime | None:
        """The newest rating time the last cycle of `name` learnt from (None: no cycle yet)."""
        for c in reversed(self.cycles(name)):
            last = (c.get("data") or {}).get("last")
            if last:
                return datetime.fromisoformat(last)
        return None

    # -- writing ----------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[dict]:
        """Read registry.json under the lock, let the caller change it, write it back atomically."""
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                yield data
                atomic_write(self.file, (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def next_version(self, name: str, day: str | None = None) -> str:
        """A fresh version name: <name>-<YYYY.MM.DD>-ft<n>."""
        day = day or datetime.now(UTC).strftime("%Y.%m.%d")
        n = 1 + sum(1 for v in self.list_versions(name) if v.method != "shipped")
        taken = {v.version for v in self.list_versions(name)}
        while f"{name}-{day}-ft{n}" in taken:
            n += 1
        return f"{name}-{day}-ft{n}"

    def add(self, name: str, version: str, src: Path, *, status: str = "candidate", parent: str | None = None,
            method: str = "shipped", data_window: dict | None = None, notes: str = "") -> VersionRecord:
        """Copy the checkpoint directory `src` (model.pt, meta.json) in as a new version. The copy
        is written under a temporary name, fsynced and renamed; then the record is added."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if any(v.version == version for v in self.list_versions(name)):
            raise InvalidInput(f"模型版本「{name}/{version}」已存在", f"Model version {name}/{version} exists already.")
        final = self.root / name / version
        tmp = self.root / name / f".tmp-{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for fname in CHECKPOINT_FILES:
            if (Path(src) / fname).exists():
                shutil.copyfile(Path(src) / fname, tmp / fname)
                with open(tmp / fname, "rb") as f:
                    os.fsync(f.fileno())
        fsync_dir(tmp)
        if final.exists():  # left by a process killed before it recorded the version
            shutil.rmtree(final)
        os.rename(tmp, final)
        fsync_dir(final.parent)
        rec = VersionRecord(name, version, status, sha256_file(final / "model.pt"), parent, method,
                            data_window=data_window or {}, notes=notes)
        with self.transaction() as data:
            data["versions"].append(rec.to_dict())
            if status in ("champion", "challenger"):
                self._move(data, name, status, version, "add")
        return rec

    def seed_shipped(self, model_dir: Path, names=NAMES) -> list[VersionRecord]:
        """Register the shipped checkpoints `model_dir/<name>` as the first champions of the
        generators that have none yet (by their meta.json version). Returns the new records."""
        out = []
        for name in names:
            src = Path(model_dir) / name
            if self.champion(name) is not None or not (src / "model.pt").exists():
                continue
            meta = json.loads((src / "meta.json").read_text(encoding="utf-8")) if (src / "meta.json").exists() else {}
            version = meta.get("version") or f"{name}-{meta.get('data_hash', 'dev')[:8]}"  # as the Poet names it
            if any(v.version == version for v in self.list_versions(name)):
                continue
            out.append(self.add(name, version, src, status="champion", method="shipped",
                                notes=f"shipped checkpoint {src}"))
        return out

    def update(self, name: str, version: str, **fields) -> VersionRecord:
        """Set record fields (status, gate, notes ...) of one version."""
        with self.transaction() as data:
            for v in data["versions"]:
                if v["name"] == name and v["version"] == version:
                    v.update(fields)
                    return VersionRecord(**v)
        raise unknown_version(name, version)

    def promote(self, name: str, version: str, to: str = "champion", reason: str = "") -> VersionRecord:
        """Point the `to` alias (champion | challenger) at `version`. A replaced champion is
        archived; a replaced challenger too."""
        if to not in ("champion", "challenger"):
            raise InvalidInput("只能晋升为 champion 或 challenger", "Promote to champion or challenger only.")
        rec = self.get(name, version)
        if rec.status == "rejected" and not reason:
            raise InvalidInput(
                f"版本「{version}」未通过评估，不能上线", f"Version {version} was rejected; it cannot serve."
            )
        with self.transaction() as data:
            self._move(data, name, to, version, reason or "promote")
        return self.get(name, version)

    def earlier_champions(self, name: str) -> list[str]:
        """The versions that served as champion before the current one and may serve again (not
        rejected), the most recent last."""
        return self._earlier_champions(self._read(), name)

    def rollback(self, name: str, to: str | None = None, reason: str = "rollback") -> VersionRecord:
        """Move the champion alias back to the champion before it (or to `to`, an earlier champion);
        the current one is marked rejected. Any challenger is dropped too. Returns the champion now
        serving."""
        with self.transaction() as data:
            current = data["aliases"].get(name, {}).get("champion")
            previous = self._earlier_champions(data, name)
            if current is None or not previous:
                raise InvalidInput(f"「{name}」没有可回退的上一版本", f"{name} has no earlier champion to roll back to.")
            if to is not None and to not in previous:
                raise InvalidInput(
                    f"「{to}」不是「{name}」可回退的早先版本（可选：{'、'.join(previous)}）",
                    f"{to} is not an earlier {name} champion to roll back to (choose from: {', '.join(previous)}).",
                )
            target = to or previous[-1]
            challenger = data["aliases"][name].get("challenger")
            if challenger:
                self._set_status(data, name, challenger, "rejected")
                data["aliases"][name]["challenger"] = None
            self._move(data, name, "champion", target, reason)
            self._set_status(data, name, current, "rejected")
            return VersionRecord(**next(v for v in data["versions"] if v["name"] == name and v["version"] == target))

    def drop_challenger(self, name: str, reason: str = "online check") -> VersionRecord | None:
        """Stop serving the challenger (its ratings lost to the champion's): it is marked rejected."""
        with self.transaction() as data:
            version = data["aliases"].get(name, {}).get("challenger")
            if not version:
                return None
            data["aliases"][name]["challenger"] = None
            self._set_status(data, name, version, "rejected")
            data["history"].append({"at": now(), "name": name, "alias": "challenger", "from": version, "to": None,
                                    "reason": reason})
        return self.get(name, version)

    def log_cycle(self, entry: dict) -> None:
        """Append one cycle's record (ratings used, gate figures, promoted or not)."""
        with self.transaction() as data:
            data["cycles"] = (data["cycles"] + [{"at": now(), **entry}])[-MAX_CYCLES:]

    # -- helpers (inside a transaction) -----------------------------------------------------------

    @staticmethod
    def _earlier_champions(data: dict, name: str) -> list[str]:
        current = data["aliases"].get(name, {}).get("champion")
        rejected = {v["version"] for v in data["versions"] if v["name"] == name and v["status"] == "rejected"}
        out = [h["to"] for h in data["history"] if h["name"] == name and h["alias"] == "champion"
               and h["to"] not in (current, None) and h["to"] not in rejected]
        return list(dict.fromkeys(reversed(out)))[::-1]  # each once, at its latest time

    @staticmethod
    def _set_status(data: dict, name: str, version: str, status: str) -> None:
        for v in data["versions"]:
            if v["name"] == name and v["version"] == version:
                v["status"] = status

    def _move(self, data: dict, name: str, alias: str, version: str, reason: str) -> None:
        aliases = data["aliases"].setdefault(name, {"champion": None, "challenger": None})
        old = aliases.get(alias)
        if old and old != version:
            self._set_status(data, name, old, "archived")
        if alias == "champion" and aliases.get("challenger") == version:
            aliases["challenger"] = None
        aliases[alias] = version
        self._set_status(data, name, version, alias)
        data["history"].append({"at": now(), "name": name, "alias": alias, "from": old, "to": version,
                                "reason": reason})
