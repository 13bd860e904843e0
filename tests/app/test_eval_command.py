"""`yinshi eval --model NAME=DIR` reads the checkpoint through the verified loader (app.poets.load_checked),
as poem, serve and run do: a damaged, NaN or pickled model.pt is refused in both languages, exit code 2,
and a pickled payload never runs; a sound checkpoint is scored."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from app.cli import app

runner = CliRunner()
FIXTURE_CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "chinese-poetry"
HAN = re.compile(r"[\u4e00-\u9fff]")
PAYLOAD_MARK: list[Path] = []


class Payload:
    def __reduce__(self):
        return (Path.write_text, (PAYLOAD_MARK[0], "ran"))


def damage(path: Path, kind: str) -> None:
    if kind == "overwritten":  # 0xFF over the second quarter of the file
        data = bytearray(path.read_bytes())
        n = len(data) // 4
        data[n : 2 * n] = b"\xff" * n
        path.write_bytes(bytes(data))
        return
    blob = torch.load(path, weights_only=False)
    if kind == "nan":
        next(iter(blob["model"].values())).fill_(float("nan"))
    else:
        blob["meta"]["note"] = Payload()
    torch.save(blob, path)


def evaluate(model_dir: Path, tmp_path: Path, env) -> object:
    env(YINSHI_DATA_DIR=tmp_path / "data")  # the reference cache goes there
    return runner.invoke(app, ["eval", "--model", f"mine={model_dir}", "--n", "4", "--corpus-dir",
                               str(FIXTURE_CORPUS), "--device", "cpu", "--no-per-form",
                               "--json", str(tmp_path / "figures.json")])


@pytest.fixture
def gan_copy(tiny_model_dir, tmp_path) -> Path:
    shutil.copytree(tiny_model_dir / "gan", tmp_path / "gan")
    return tmp_path / "gan"


@pytest.mark.parametrize("kind", ["overwritten", "nan", "pickled"])
def test_eval_refuses_a_damaged_or_unsafe_checkpoint(gan_copy, tmp_path, env, kind):
    PAYLOAD_MARK[:] = [tmp_path / "pwned"]
    damage(gan_copy / "model.pt", kind)
    r = evaluate(gan_copy, tmp_path, env)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    line = r.output.strip().splitlines()[-1]
    assert "model.pt" in line and "refused" in line and HAN.search(line), r.output
    assert not (tmp_path / "pwned").exists()  # the payload never ran
    assert not (tmp_path / "figures.json").exists()


def test_eval_scores_a_sound_checkpoint(gan_copy, tmp_path, env):
    r = evaluate(gan_copy, tmp_path, env)
    assert r.exit_code == 0, r.output
    figures = json.loads((tmp_path / "figures.json").read_text(encoding="utf-8"))
    assert figures["results"]["mine"]["n"] == 4
