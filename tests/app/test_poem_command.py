"""`yinshi poem`, `yinshi eval --model` and `yinshi models export` as a user runs them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import app

runner = CliRunner()


def test_poem_json_has_the_documented_fields(tiny_model_dir):
    r = runner.invoke(app, ["poem", "春", "--form", "七绝", "--model", "vae", "--seed", "3", "--json",
                            "--model-dir", str(tiny_model_dir), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout.strip())
    assert {"text", "form", "model", "model_version", "keyword", "seed", "check"} <= obj.keys()
    assert obj["form"] == "qijue" and obj["model"] == "vae" and obj["seed"] == 3
    lines = obj["text"].split("\n")
    assert len(lines) == 4 and all(len(ln) == 8 for ln in lines)
    assert obj["check"]["ok"] and obj["check"]["form"] == "qijue"


def test_poem_is_reproducible_with_a_seed(tiny_model_dir):
    args = ["poem", "月", "--seed", "9", "--model-dir", str(tiny_model_dir), "--device", "cpu"]
    assert runner.invoke(app, args).stdout == runner.invoke(app, args).stdout


def test_keywords_from_stdin_give_one_json_object_per_poem(tiny_model_dir):
    r = runner.invoke(app, ["poem", "-", "--n", "2", "--json", "--model-dir", str(tiny_model_dir), "--device", "cpu"],
                      input="春\nphone\n\n秋\n")
    assert r.exit_code == 0, r.output
    objs = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert len(objs) == 6
    assert [o["requested_keyword"] or o["keyword"] for o in objs[::2]] == ["春", "phone", "秋"]
    assert objs[2]["note"] and objs[2]["keyword"] in objs[2]["text"]


def test_each_stdin_keyword_gets_its_own_seed_reproducible_from_the_seed(tiny_model_dir):
    args = ["poem", "-", "--n", "2", "--seed", "7", "--json", "--model-dir", str(tiny_model_dir), "--device", "cpu"]
    first = runner.invoke(app, args, input="春\n秋\n")
    assert first.exit_code == 0, first.output
    assert [json.loads(line)["seed"] for line in first.stdout.splitlines()] == [7, 8, 9, 10]
    assert runner.invoke(app, args, input="春\n秋\n").stdout == first.stdout


def test_bad_form_is_a_clear_bilingual_error(tiny_model_dir):
    r = runner.invoke(app, ["poem", "春", "--form", "八绝", "--model-dir", str(tiny_model_dir), "--device", "cpu"])
    assert r.exit_code == 2
    assert "未知诗体" in r.stderr and "Unknown form" in r.stderr


def test_sampling_options_reach_the_generator(tiny_model_dir, tiny_poet):
    from engine.request import PoemRequest

    args = ["poem", "江", "--form", "wulv", "--seed", "3", "--json", "--model-dir", str(tiny_model_dir), "--device", "cpu"]
    r = runner.invoke(app, [*args, "--temperature", "0.6", "--top-k", "30", "--parallel", "0", "--theme", "0.5", "--words", "3", "--plan", "2"])
    assert r.exit_code == 0, r.output
    [want] = tiny_poet.generate_batch([PoemRequest("江", form="wulv", seed=3, temperature=0.6, top_k=30,
                                                   parallel=0.0, theme=0.5, words=3.0, plan=2.0)])
    assert json.loads(r.stdout)["text"] == want.text
    assert json.loads(runner.invoke(app, args).stdout)["text"] != want.text


def test_sampling_options_out_of_bounds_are_refused_in_both_languages(tiny_model_dir):
    r = runner.invoke(app, ["poem", "春", "--top-p", "0", "--temperature", "9", "--model-dir", str(tiny_model_dir)])
    assert r.exit_code == 2
    assert "--top-p" in r.stderr and "--temperature" in r.stderr and "数值太" in r.stderr


def test_default_model_and_scheme_come_from_the_settings(tiny_model_dir, monkeypatch):
    from app.settings import get_settings

    monkeypatch.setenv("YINSHI_DEFAULT_MODEL", "vae")
    monkeypatch.setenv("YINSHI_DEFAULT_SCHEME", "xinyun")
    get_settings.cache_clear()
    try:
        r = runner.invoke(app, ["poem", "秋", "--json", "--model-dir", str(tiny_model_dir), "--device", "cpu"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["model"] == "vae" and obj["check"]["scheme"] == "xinyun"


def test_missing_models_are_explained(tmp_path):
    r = runner.invoke(app, ["poem", "春", "--model-dir", str(tmp_path)])
    assert r.exit_code == 2 and "yinshi train" in r.stderr


def test_eval_draws_poems_from_a_model(tiny_model_dir, tmp_path):
    from tests.conftest import FIXTURE_CORPUS

    out = tmp_path / "eval.json"
    r = runner.invoke(app, ["eval", "--model", "gan", "--model-dir", str(tiny_model_dir), "--device", "cpu",
                            "--corpus-dir", str(FIXTURE_CORPUS), "--no-cache", "--n", "30", "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())["results"]["gan"]
    assert res["n"] == 30
    assert res["format_valid"] == 1.0 and res["rhyme_rate"] == 1.0 and res["keyword_hit"] == 1.0
    assert res["distinct_chars"] > 30 and res["variant_poems"] == 0 and 0 <= res["beyond_top_share"] <= 1
    assert res["rare_rhyme_rate"] is not None and res["rhyme_chars"] >= 60


def test_export_ships_half_size_weights_that_predict_the_same(tiny_model_dir, tmp_path):
    import torch

    from engine.decoding.poet import Poet

    r = runner.invoke(app, ["models", "export", str(tiny_model_dir / "gan"), "--to", str(tmp_path / "gan"),
                            "--version", "gan-test"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "gan" / "model.pt").stat().st_size < 0.7 * (tiny_model_dir / "gan" / "model.pt").stat().st_size
    shipped = Poet.load(tmp_path, device="cpu")
    original = Poet.load(tiny_model_dir, device="cpu", names=("gan",))
    assert shipped.model_versions == {"gan": "gan-test"}
    x = torch.randint(6, len(original.models["gan"].vocab), (8, 24))
    zeros, form = torch.zeros_like(x), torch.zeros(8, dtype=torch.long)
    kw = x[:, :4]
    with torch.no_grad():
        a = torch.log_softmax(original.models["gan"].net(x, zeros, zeros, form, kw)[0], -1)
        b = torch.log_softmax(shipped.models["gan"].net(x, zeros, zeros, form, kw)[0], -1)
    assert (a.exp() - b.exp()).abs().max() < 1e-2  # fp16 storage moves no probability by more than 1%


def test_associations_recompute_the_statistics_and_calibrate_in_place(tiny_model_dir, tmp_path, env):
    import shutil

    import torch

    from tests.conftest import FIXTURE_CORPUS

    env(YINSHI_DATA_DIR=tmp_path / "data")
    shutil.copytree(tiny_model_dir / "gan", tmp_path / "gan")
    blob = torch.load(tmp_path / "gan" / "model.pt", weights_only=False)
    del blob["rhyme_usage"]
    torch.save(blob, tmp_path / "gan" / "model.pt")
    r = runner.invoke(app, ["models", "associations", str(tmp_path / "gan"), "--corpus-dir", str(FIXTURE_CORPUS),
                            "--calibrate", "24"])
    assert r.exit_code == 0, r.output
    with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):  # (meta["torch"])
        blob = torch.load(tmp_path / "gan" / "model.pt", weights_only=True)  # still loadable safely
    assert blob["rhyme_usage"]["春"] and blob["associations"]["char_ratio"].shape == blob["associations"]["char_counts"].shape
    assert blob["meta"]["calibration"]["poems"] == 24
    assert sorted(p.name for p in (tmp_path / "gan").iterdir()) == ["meta.json", "model.pt"]  # no temporary file


def test_the_commands_before_the_models_group_still_answer():
    for old in ("export", "associations"):
        assert runner.invoke(app, [old, "--help"]).exit_code == 0


def test_shipped_default_models_write_valid_poems_without_training():
    """The README promises `yinshi poem` right after set-up: the committed models must load and obey."""
    from app.poets import load_poet
    from app.settings import Settings
    from engine.prosody.check import check_poem
    from engine.request import PoemRequest

    poet = load_poet(Settings(_env_file=None), device="cpu")
    assert set(poet.model_versions) == {"gan", "vae"}
    reqs = [PoemRequest(keyword="秋", form=f, model=m, seed=1) for f in ("wujue", "qijue", "wulv", "qilv")
            for m in ("gan", "vae")]
    for req, res in zip(reqs, poet.generate_batch(reqs), strict=True):
        report = check_poem("".join(res.lines))
        assert report.strict_ok and report.rhyme_ok, report.render()
        assert "秋" in "".join(res.lines) and res.model_version == poet.model_versions[req.model]
