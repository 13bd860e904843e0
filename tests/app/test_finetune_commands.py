"""`yinshi finetune run|simulate` as an operator or a timer runs them: one JSON object with the
cycle's record, recorded in the registry; no cycle without enough new ratings; clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from learning.registry import Registry
from tests.conftest import FIXTURE_CORPUS
from tests.learning.helpers import likes, rated_database

runner = CliRunner()
FAST = ["--steps", "4", "--tune", json.dumps({"prompts": 4, "k": 4, "lr": 3e-3}), "--eval-per-form", "10",
        "--min-labelled", "20", "--threads", "1"]


@pytest.fixture
def data_dir(tmp_path, tiny_model_dir, env):
    env(YINSHI_DATA_DIR=tmp_path, YINSHI_MODEL_DIR=tiny_model_dir, YINSHI_CORPUS_DIR=FIXTURE_CORPUS)
    return tmp_path


def test_run_json_is_one_cycle_record_kept_in_the_registry(data_dir, tiny_model_dir, env):
    rated_database(f"sqlite:///{data_dir / 'yinshi.db'}", tiny_model_dir, 360, likes(tiny_model_dir))
    env(YINSHI_FINETUNE_MIN_RATINGS=300)  # 360 new: due
    r = runner.invoke(app, ["finetune", "run", "--model", "gan", "--promote-to", "champion", "--when-due", "--json",
                            *FAST])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)  # exactly one JSON object on stdout; progress went to stderr
    reg = Registry(data_dir / "registry")
    shipped = reg.list_versions("gan")[0]
    assert record["name"] == "gan" and record["parent"] == shipped.version and shipped.method == "shipped"
    assert record["data"]["ratings"] == 360 and record["data"]["liked"] + record["data"]["disliked"] == 360
    assert isinstance(record["gate"]["passed"], bool) and isinstance(record["gate"]["reasons"], list)
    assert reg.cycles("gan")[-1]["version"] == record["version"]
    cand = reg.get("gan", record["version"])  # a candidate was made: promoted if the gate passed, else rejected
    assert cand.parent == shipped.version and cand.gate and record["tune"]["steps"] == 4
    assert (reg.champion("gan").version == cand.version) == record["gate"]["passed"]
    assert cand.status == ("champion" if record["gate"]["passed"] else "rejected")
    assert "gan reinforce" in r.stderr  # the progress bar
    # the same ratings again: a timer's run --when-due starts no cycle
    r = runner.invoke(app, ["finetune", "run", "--model", "gan", "--when-due", "--json", *FAST])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"name": "gan", "skipped": True, "new_ratings": 0, "min_new": 300}
    assert len(reg.cycles("gan")) == 1


def test_run_without_a_corpus_is_a_bilingual_error(data_dir, env):
    env(YINSHI_CORPUS_DIR=data_dir / "no-corpus")
    r = runner.invoke(app, ["finetune", "run", "--model", "vae", "--json"])
    assert r.exit_code == 2
    assert "语料" in r.stderr and "YINSHI_CORPUS_DIR" in r.stderr
    assert json.loads(r.stdout)["error"]["en"].startswith("No corpus")
    assert not (data_dir / "registry").exists()


@pytest.mark.parametrize("args, words", [(["--model", "gpt"], "gan or vae"), (["--model", "gan", "--tune", "[1]"], "--tune"),
                                         (["--model", "gan", "--method", "dpo"], "Unknown method")])
def test_bad_options_are_refused_before_any_work(data_dir, args, words):
    r = runner.invoke(app, ["finetune", "run", *args])
    assert r.exit_code == 2 and words in r.stderr


def test_simulate_json_prints_before_after_and_the_gate(data_dir):
    r = runner.invoke(app, ["finetune", "simulate", "--model", "gan", "--prefer", "极影", "--ratings", "300",
                            "--seed", "3", "--raters", "random", "--eval-per-form", "10", "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for side in ("before", "after"):
        assert {"preferred_share", "format", "rhyme", "tone"} <= set(out[side])
    assert out["gate"]["passed"] is False and out["gate"]["reasons"] and out["promoted"] is False
    assert out["version"] == out["rounds"][0]["version"]
    assert not (data_dir / "registry").exists() and not (data_dir / "yinshi.db").exists()  # a temporary world
    r = runner.invoke(app, ["finetune", "simulate", "--model", "gan", "--prefer", "月", "--raters", "everyone"])
    assert r.exit_code == 2 and "未知评分者" in r.stderr and "Unknown raters" in r.stderr


def test_a_stopped_simulation_leaves_no_temporary_directory(data_dir, tmp_path):
    """SIGTERM (a timer's stop, Ctrl-C's cousin) mid-simulation removes its temporary world."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import app; app()", "finetune", "simulate", "--model", "gan",
         "--prefer", "月", "--ratings", "100000", "--eval-per-form", "10", "--threads", "1", "--json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(scratch.glob("yinshi-simulate-*/sim.db")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(scratch.glob("yinshi-simulate-*")), "the simulation never started"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not list(scratch.glob("yinshi-simulate-*"))
