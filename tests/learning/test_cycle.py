"""A fine-tuning cycle: random raters are refused before any fine-tuning; a cycle killed with
SIGKILL at random points leaves the champion serving and the database intact, and the next run
resumes and finishes; a champion whose file was changed is refused."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.models.verify import CheckpointRefused, load_verified
from learning.cycle import CycleConfig, run_cycle
from learning.registry import Registry, sha256_file
from tests.conftest import FIXTURE_CORPUS
from tests.learning.helpers import likes, rated_database

REPO = Path(__file__).resolve().parents[2]
def config(tmp_path, url, model_dir, **kw) -> CycleConfig:
    return CycleConfig("gan", tmp_path / "registry", url, FIXTURE_CORPUS, tmp_path / "cache", model_dir,
                       promote_to="champion", min_labelled=20, eval_per_form=10, **kw)


def test_random_raters_are_refused_before_any_fine_tuning(tmp_path, tiny_model_dir):
    url = f"sqlite:///{tmp_path / 'y.db'}"
    rated_database(url, tiny_model_dir, 300, lambda text, rng: rng.randint(1, 5))
    record = run_cycle(config(tmp_path, url, tiny_model_dir), progress=False)
    assert not record["gate"]["passed"] and record["version"] is None
    assert any("chance" in r or "too few" in r for r in record["gate"]["reasons"])
    reg = Registry(tmp_path / "registry")
    assert [v.status for v in reg.list_versions("gan")] == ["champion"]
    assert reg.cycles("gan")[-1]["gate"]["passed"] is False


def test_a_changed_champion_is_refused_and_nothing_moves(tmp_path, tiny_model_dir):
    url = f"sqlite:///{tmp_path / 'y.db'}"
    rated_database(url, tiny_model_dir, 100, likes(tiny_model_dir))
    reg = Registry(tmp_path / "registry")
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    path = reg.path(reg.champion("gan")) / "model.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = reg.file.read_bytes()
    with pytest.raises(CheckpointRefused):
        run_cycle(config(tmp_path, url, tiny_model_dir), progress=False)
    assert reg.file.read_bytes() == before


def database_state(db: Path) -> tuple:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return tuple(con.execute(f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM {t}").fetchone()
                     for t in ("users", "poems", "ratings"))
    finally:
        con.close()


def test_sigkill_at_random_points_leaves_the_champion_and_the_database_intact(tmp_path, tiny_model_dir):
    db = tmp_path / "y.db"
    url = f"sqlite:///{db}"
    rated_database(url, tiny_model_dir, 400, likes(tiny_model_dir))
    reg = Registry(tmp_path / "registry")
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    champ = reg.champion("gan")
    rows = database_state(db)
    cmd = [sys.executable, "-m", "learning.cycle", "--model", "gan", "--registry", str(reg.root), "--database", url,
           "--corpus-dir", str(FIXTURE_CORPUS), "--cache-dir", str(tmp_path / "cache"), "--model-dir",
           str(tiny_model_dir), "--promote-to", "champion", "--steps", "6", "--eval-per-form", "10",
           "--min-labelled", "20", "--threads", "1", "--tune", json.dumps({"prompts": 4, "k": 4, "lr": 3e-3}), "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random()
    state = reg.root / "gan" / ".work" / "state.json"

    def stage() -> str:
        try:
            return json.loads(state.read_text())["stage"]
        except (OSError, ValueError):
            return "none"

    # one kill at a random moment, then one at a random moment within fine-tuning and within the gate
    for wait_for, extra in ((None, rng.uniform(1.0, 8.0)), ("tune", rng.uniform(0.0, 3.0)), ("gate", rng.uniform(0.0, 3.0))):
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while wait_for and stage() != wait_for and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert reg.champion("gan").version == champ.version
        assert sha256_file(reg.path(champ) / "model.pt") == champ.sha256
        load_verified(reg.path(champ), "cpu", champ.sha256)  # still serves
        assert database_state(db) == rows
        json.loads(reg.file.read_text())
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["version"] is not None, record
    now = reg.champion("gan")
    load_verified(reg.path(now), "cpu", now.sha256)
    assert database_state(db) == rows
    assert not (reg.root / "gan" / ".work").exists()
