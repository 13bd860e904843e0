"""A fine-tuning cycle killed with SIGKILL (a random moment, then a random moment in fine-tuning)
leaves registry.json readable, the champion unchanged and still loading verified, and the database
intact (integrity check, same rows); the next run completes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.models.verify import load_verified
from learning.registry import Registry, sha256_file
from tests.conftest import FIXTURE_CORPUS
from tests.learning.helpers import likes, rated_database
from tests.learning.test_cycle import database_state

REPO = Path(__file__).resolve().parents[2]


def test_sigkill_leaves_the_champion_and_the_database_and_a_rerun_completes(tmp_path, tiny_model_dir):
    db = tmp_path / "y.db"
    url = f"sqlite:///{db}"
    rated_database(url, tiny_model_dir, 300, likes)
    reg = Registry(tmp_path / "registry")
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    champ = reg.champion("gan")
    rows = database_state(db)
    cmd = [sys.executable, "-m", "learning.cycle", "--model", "gan", "--registry", str(reg.root), "--database", url,
           "--corpus-dir", str(FIXTURE_CORPUS), "--cache-dir", str(tmp_path / "cache"), "--model-dir",
           str(tiny_model_dir), "--promote-to", "champion", "--steps", "4", "--eval-per-form", "5",
           "--min-labelled", "20", "--threads", "1", "--tune", json.dumps({"prompts": 4, "k": 4, "lr": 3e-3}), "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    state = reg.root / "gan" / ".work" / "state.json"

    def stage() -> str:
        try:
            return json.loads(state.read_text())["stage"]
        except (OSError, ValueError):
            return "none"

    rng = random.Random()
    for wait_for, extra in ((None, rng.uniform(0.5, 5.0)), ("tune", rng.uniform(0.0, 1.5))):
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while wait_for and stage() != wait_for and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        json.loads(reg.file.read_text())  # parses: written whole or not at all
        assert reg.champion("gan").version == champ.version
        assert sha256_file(reg.path(champ) / "model.pt") == champ.sha256
        load_verified(reg.path(champ), "cpu", champ.sha256)  # would still serve
        assert database_state(db) == rows
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert "gate" in record and reg.cycles("gan")[-1]["gate"] == record["gate"]
    now = reg.champion("gan")
    load_verified(reg.path(now), "cpu", now.sha256)
    assert database_state(db) == rows
    assert not (reg.root / "gan" / ".work").exists()
