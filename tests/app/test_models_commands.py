"""`yinshi models list|promote|rollback` as an operator runs them: a fresh registry shows the
shipped champions; a changed checkpoint is never promoted; rollback gives the champion role back."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app
from learning.registry import Registry, sha256_file

runner = CliRunner()


@pytest.fixture
def reg(tmp_path, tiny_model_dir, env) -> Registry:
    """The registry the commands use (settings.registry_dir), not yet seeded."""
    env(YINSHI_DATA_DIR=tmp_path, YINSHI_MODEL_DIR=tiny_model_dir)
    return Registry(tmp_path / "registry")


def listed() -> list[dict]:
    r = runner.invoke(app, ["models", "list", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def candidate(reg: Registry, tiny_model_dir, name: str = "gan") -> str:
    """A fine-tuned version as a cycle would record it (here: the shipped weights again)."""
    version = reg.next_version(name)
    reg.add(name, version, tiny_model_dir / name, parent=reg.champion(name).version, method="raft")
    return version


def test_a_fresh_registry_lists_the_shipped_champions(reg, tiny_model_dir):
    versions = listed()
    assert [(v["name"], v["status"], v["parent"]) for v in versions] == [("gan", "champion", None),
                                                                       ("vae", "champion", None)]
    for v in versions:
        assert v["sha256"] == sha256_file(tiny_model_dir / v["name"] / "model.pt")
        assert v["version"] == reg.champion(v["name"]).version
    assert listed() == versions  # listing again registers nothing new
    text = runner.invoke(app, ["models", "list", "gan"]).stdout
    assert versions[0]["version"] in text and "vae" not in text


def test_promote_refuses_a_tampered_checkpoint_and_moves_nothing(reg, tiny_model_dir):
    listed()
    champion = reg.champion("gan").version
    version = candidate(reg, tiny_model_dir)
    path = reg.path(reg.get("gan", version)) / "model.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = reg.file.read_bytes()
    r = runner.invoke(app, ["models", "promote", "gan", version])
    assert r.exit_code == 1
    assert "sha256" in r.stderr and "未改动" in r.stderr and "unchanged" in r.stderr
    assert reg.champion("gan").version == champion and reg.file.read_bytes() == before


def test_promote_then_rollback_restores_the_previous_champion(reg, tiny_model_dir):
    listed()
    first = reg.champion("gan").version
    version = candidate(reg, tiny_model_dir)
    r = runner.invoke(app, ["models", "promote", "gan", version, "--to", "challenger"])
    assert r.exit_code == 0, r.output
    assert reg.challenger("gan").version == version and reg.champion("gan").version == first
    r = runner.invoke(app, ["models", "promote", "gan", version])
    assert r.exit_code == 0, r.output
    assert {v["version"]: v["status"] for v in listed()} == {first: "archived", version: "champion",
                                                              reg.champion("vae").version: "champion"}
    r = runner.invoke(app, ["models", "rollback", "gan"])
    assert r.exit_code == 0, r.output
    assert reg.champion("gan").version == first and reg.get("gan", version).status == "rejected"
    # a rejected version needs --force to serve again
    r = runner.invoke(app, ["models", "promote", "gan", version])
    assert r.exit_code == 2 and "--force" in r.stderr and "已被否决" in r.stderr
    assert reg.champion("gan").version == first
    assert runner.invoke(app, ["models", "promote", "gan", version, "--force"]).exit_code == 0
    assert reg.champion("gan").version == version


def test_rollback_to_a_named_earlier_champion(reg, tiny_model_dir):
    listed()
    first = reg.champion("vae").version
    v1 = candidate(reg, tiny_model_dir, "vae")
    reg.promote("vae", v1)
    v2 = candidate(reg, tiny_model_dir, "vae")
    reg.promote("vae", v2)
    r = runner.invoke(app, ["models", "rollback", "vae", "--to", "vae-none"])
    assert r.exit_code == 2 and "不是" in r.stderr and "not an earlier" in r.stderr
    assert reg.champion("vae").version == v2
    r = runner.invoke(app, ["models", "rollback", "vae", "--to", first])
    assert r.exit_code == 0, r.output
    assert reg.champion("vae").version == first and reg.get("vae", v2).status == "rejected"
    assert reg.get("vae", v1).status == "archived"


def test_rollback_without_an_earlier_champion_is_a_bilingual_error(reg):
    r = runner.invoke(app, ["models", "rollback", "gan"])
    assert r.exit_code == 2 and "回退" in r.stderr and "no earlier champion" in r.stderr
    r = runner.invoke(app, ["models", "list", "gpt"])
    assert r.exit_code == 2 and "gan" in r.stderr
