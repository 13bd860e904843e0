"""Start-up failures an operator can fix end in one bilingual line and a non-zero exit code: a
damaged or empty model.pt, an engine URL nobody answers, a port already taken. Seeds out of
[0, 2^63) are refused per poem, never failing the whole batch."""

from __future__ import annotations

import json
import re
import shutil
import socket

import pytest
from typer.testing import CliRunner

from app.cli import app

runner = CliRunner()
HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def one_bilingual_line(output: str, after_logs: bool = False) -> str:
    """The one line a failure prints (`after_logs`: the last line, after the start-up's log lines)."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert lines and (after_logs or len(lines) == 1), output
    assert HAN.search(lines[-1]) and len(LATIN_WORD.findall(lines[-1])) >= 3, output
    assert "Traceback" not in output and "Aborted" not in output
    return lines[-1]


@pytest.fixture
def damaged_models(tiny_model_dir, tmp_path):
    """A copy of the gan model, one with its model.pt empty and one with 0xFF over a quarter of it."""
    dirs = {}
    for damage in ("empty", "overwritten"):
        root = tmp_path / damage
        shutil.copytree(tiny_model_dir / "gan", root / "gan")
        path = root / "gan" / "model.pt"
        data = bytearray(path.read_bytes())
        if damage == "empty":
            data = bytearray()
        else:
            n = len(data) // 4
            data[n : 2 * n] = b"\xff" * n
        path.write_bytes(bytes(data))
        dirs[damage] = root
    return dirs


@pytest.mark.parametrize("damage", ["empty", "overwritten"])
def test_poem_refuses_a_damaged_checkpoint_in_one_line(damaged_models, damage):
    r = runner.invoke(app, ["poem", "春", "--model-dir", str(damaged_models[damage]), "--device", "cpu"])
    assert r.exit_code == 2
    assert "model.pt" in one_bilingual_line(r.output)


def test_serve_refuses_a_damaged_checkpoint_in_one_line(damaged_models, env, restore_logging):
    env(YINSHI_MODEL_DIR=damaged_models["overwritten"])
    r = runner.invoke(app, ["serve", "--port", "0"])
    assert r.exit_code == 1
    assert "model.pt" in one_bilingual_line(r.stderr, after_logs=True)


def test_serve_on_a_busy_port_says_so_in_one_line(tiny_model_dir, env, restore_logging):
    env(YINSHI_MODEL_DIR=tiny_model_dir, YINSHI_DEVICE="cpu", YINSHI_HTTP_HOST="127.0.0.1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = runner.invoke(app, ["serve", "--port", str(busy.getsockname()[1])])
    assert r.exit_code == 1
    assert "in use" in one_bilingual_line(r.stderr, after_logs=True)


def test_run_with_an_engine_url_nobody_answers_says_so_in_one_line(tmp_path, env, restore_logging):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    env(YINSHI_ENGINE_URL=url, YINSHI_DATA_DIR=tmp_path, TELEGRAM_BOT_TOKEN="", DISCORD_BOT_TOKEN="")
    r = runner.invoke(app, ["run"], input="")
    assert r.exit_code == 1
    line = one_bilingual_line(r.stderr, after_logs=True)
    assert url in line and "YINSHI_ENGINE_URL" in line


@pytest.mark.parametrize("seed", [str(2**63), "-1"])
def test_a_seed_out_of_range_is_refused_in_both_languages(tiny_model_dir, seed):
    r = runner.invoke(app, ["poem", "春", "--seed", seed, "--model-dir", str(tiny_model_dir), "--device", "cpu"])
    assert r.exit_code == 2
    assert "seed" in one_bilingual_line(r.stderr)


def test_a_seed_past_2_63_fails_only_its_own_poem(tiny_model_dir):
    args = ["poem", "春", "--seed", str(2**63 - 2), "--n", "3", "--json", "--model-dir", str(tiny_model_dir), "--device", "cpu"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    objs = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [o.get("seed") for o in objs[:2]] == [2**63 - 2, 2**63 - 1]
    assert "seed" in objs[2]["error"]["en"] and HAN.search(objs[2]["error"]["zh"])
