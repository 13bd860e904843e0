"""`yinshi models scorer DIR` trains the checkpoint's reranking scorer and writes it in place: the
checkpoint still loads through the verified loader, requests then get the best of their candidates,
`yinshi eval --candidates` compares k on the same keywords and seeds; registry versions are never
rewritten; bad --candidates values are refused in both languages."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from app.cli import app
from app.settings import get_settings
from engine.decoding.poet import Poet
from engine.models.verify import load_verified
from engine.request import PoemRequest
from learning.registry import sha256_file

runner = CliRunner()
FIXTURE_CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "chinese-poetry"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def scored(tiny_model_dir, tmp_path_factory):
    """A copy of the tiny models whose gan/ got a scorer from the command; (model dir, data dir, output)."""
    root = tmp_path_factory.mktemp("scored")
    shutil.copytree(tiny_model_dir / "gan", root / "models" / "gan")
    before = sha256_file(root / "models" / "gan" / "model.pt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YINSHI_DATA_DIR", str(root / "data"))
        get_settings.cache_clear()
        r = runner.invoke(app, ["models", "scorer", str(root / "models" / "gan"), "--poems", "80", "--minutes", "1",
                                "--corpus-dir", str(FIXTURE_CORPUS)])
    get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    assert sha256_file(root / "models" / "gan" / "model.pt") != before
    return root / "models", root / "data", r.output


def test_the_scorer_is_written_into_a_checkpoint_that_still_loads_verified(scored):
    models, _, output = scored
    path = models / "gan"
    sha = sha256_file(path / "model.pt")
    assert sha in output and "held-out accuracy" in output
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    assert 0.0 <= meta["scorer"]["heldout_accuracy"] <= 1.0 and meta["scorer"]["generated_poems"] == 80
    m = load_verified(path, torch.device("cpu"), sha)
    assert m.scorer is not None and m.meta["scorer"] == meta["scorer"]
    poet = Poet({"gan": m}, torch.device("cpu"))
    [res] = poet.generate_batch([PoemRequest("春", seed=3, candidates=4)])
    assert res.extra["rerank"]["candidates"] == 4  # the scorer is in use when asked for
    [plain] = poet.generate_batch([PoemRequest("春", seed=3)])
    assert "rerank" not in plain.extra  # the default is one candidate (README, "Reranking")


def test_eval_compares_candidates_on_the_same_keywords_and_seeds(scored, tmp_path, env):
    models, data, _ = scored
    env(YINSHI_DATA_DIR=data)
    out = tmp_path / "figures.json"
    r = runner.invoke(app, ["eval", "--model", f"mine={models / 'gan'}", "--candidates", "1", "--candidates", "3",
                            "--n", "6", "--corpus-dir", str(FIXTURE_CORPUS), "--device", "cpu", "--no-per-form",
                            "--json", str(out)])
    assert r.exit_code == 0, r.output
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert set(results) == {"mine k=1", "mine k=3"} and results["mine k=3"]["n"] == 6


def test_a_registry_version_is_never_rewritten(tiny_model_dir, tmp_path, env):
    env(YINSHI_DATA_DIR=tmp_path)
    version = get_settings().registry_dir / "gan" / "gan-1"
    shutil.copytree(tiny_model_dir / "gan", version)
    before = sha256_file(version / "model.pt")
    r = runner.invoke(app, ["models", "scorer", str(version), "--corpus-dir", str(FIXTURE_CORPUS)])
    assert r.exit_code == 2 and "never rewritten" in r.stderr and HAN.search(r.stderr)
    assert sha256_file(version / "model.pt") == before


@pytest.mark.parametrize(
    "args",
    [
        ["poem", "春", "--candidates", "0"],
        ["poem", "春", "--candidates", "17"],
        ["eval", "--model", "gan", "--candidates", "4", "--candidates", "0"],
        ["bench", "--candidates", "17"],
    ],
)
def test_bad_candidates_are_refused_in_both_languages(args, tiny_model_dir):
    r = runner.invoke(app, [*args, "--model-dir", str(tiny_model_dir)])
    assert r.exit_code == 2, r.output
    assert "--candidates" in r.stderr and HAN.search(r.stderr) and "Bad option" in r.stderr


def test_bad_scorer_options_are_refused_in_both_languages(tiny_model_dir, tmp_path):
    shutil.copytree(tiny_model_dir / "gan", tmp_path / "gan")
    r = runner.invoke(app, ["models", "scorer", str(tmp_path / "gan"), "--poems", "5"])
    assert r.exit_code == 2 and "--poems" in r.stderr and HAN.search(r.stderr)
    r = runner.invoke(app, ["models", "scorer", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "model.pt" in r.stderr and HAN.search(r.stderr)
