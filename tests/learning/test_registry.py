"""The registry: the shipped models are the first champions; versions are recorded with their
parent, status and sha256; promoting and rolling back move aliases only; writes are atomic."""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidInput
from learning.registry import Registry, sha256_file


@pytest.fixture
def reg(tmp_path, tiny_model_dir) -> Registry:
    r = Registry(tmp_path / "registry")
    r.seed_shipped(tiny_model_dir)
    return r


def test_the_shipped_models_are_the_first_champions(reg, tiny_model_dir):
    for name in ("gan", "vae"):
        champ = reg.champion(name)
        assert champ.status == "champion" and champ.method == "shipped" and champ.parent is None
        assert champ.sha256 == sha256_file(tiny_model_dir / name / "model.pt")
        assert (reg.path(champ) / "model.pt").exists()
    assert reg.seed_shipped(tiny_model_dir) == []  # idempotent
    listed = json.loads(json.dumps([v.to_dict() for v in reg.list_versions()]))
    assert {"name", "version", "status", "sha256", "parent"} <= set(listed[0])


def test_promote_and_rollback_move_the_alias(reg, tiny_model_dir):
    first = reg.champion("gan").version
    v1 = reg.next_version("gan")
    reg.add("gan", v1, tiny_model_dir / "gan", parent=first, method="raft")
    assert reg.get("gan", v1).status == "candidate" and reg.champion("gan").version == first
    reg.promote("gan", v1, "challenger")
    assert reg.challenger("gan").version == v1 and reg.champion("gan").version == first
    reg.promote("gan", v1, "champion")
    assert reg.champion("gan").version == v1 and reg.challenger("gan") is None
    assert reg.get("gan", first).status == "archived"
    back = reg.rollback("gan")
    assert back.version == first and reg.champion("gan").version == first
    assert reg.get("gan", v1).status == "rejected"
    with pytest.raises(InvalidInput) as e:
        reg.rollback("gan")
    assert "roll back" in str(e.value) and "回退" in str(e.value)


def test_a_rejected_version_cannot_be_promoted_by_accident(reg, tiny_model_dir):
    v = reg.next_version("vae")
    reg.add("vae", v, tiny_model_dir / "vae", parent=reg.champion("vae").version, method="raft")
    reg.update("vae", v, status="rejected")
    with pytest.raises(InvalidInput):
        reg.promote("vae", v)


def test_writes_leave_no_temporary_files_and_survive_a_half_written_copy(reg, tiny_model_dir):
    v = reg.next_version("gan")
    stale = reg.root / "gan" / v  # a copy a killed process renamed but never recorded
    stale.mkdir()
    (stale / "model.pt").write_bytes(b"half")
    reg.add("gan", v, tiny_model_dir / "gan", parent=reg.champion("gan").version, method="raft")
    assert reg.get("gan", v).sha256 == sha256_file(tiny_model_dir / "gan" / "model.pt")
    assert not [p for p in reg.root.rglob("*") if ".tmp" in p.name]
    json.loads(reg.file.read_text())


def test_rollback_to_an_earlier_champion_skips_the_rejected_ones(reg, tiny_model_dir):
    first = reg.champion("gan").version
    versions = []
    for _ in range(3):
        v = reg.next_version("gan")
        reg.add("gan", v, tiny_model_dir / "gan", parent=reg.champion("gan").version, method="raft")
        reg.promote("gan", v)
        versions.append(v)
    assert reg.earlier_champions("gan") == [first, *versions[:2]]
    reg.rollback("gan")  # versions[2] rejected, versions[1] serves
    assert reg.earlier_champions("gan") == [first, versions[0]]
    with pytest.raises(InvalidInput):
        reg.rollback("gan", to=versions[2])  # rejected: not an earlier champion any more
    assert reg.rollback("gan", to=first).version == first
    assert reg.champion("gan").version == first and reg.get("gan", versions[1]).status == "rejected"
    assert reg.earlier_champions("gan") == [versions[0]]


def test_data_until_is_the_newest_rating_of_the_last_cycle(reg):
    assert reg.data_until("gan") is None
    reg.log_cycle({"name": "gan", "data": {"last": "2026-11-30T10:00:00"}})
    reg.log_cycle({"name": "gan", "data": {"ratings": 0, "last": None}})  # a cycle that found no ratings
    reg.log_cycle({"name": "vae", "data": {"last": "2026-12-01T10:00:00"}})
    assert reg.data_until("gan").isoformat() == "2026-11-30T10:00:00"


def test_the_shipped_figures_of_a_lineage_come_from_its_first_gate(reg, tiny_model_dir):
    shipped = reg.champion("gan").version
    assert reg.shipped_figures("gan", shipped, 400) is None  # the champion is the shipped model itself
    figures = {"distinct_2": 0.90, "classifier": 0.74}
    v1, v2 = reg.next_version("gan"), None
    reg.add("gan", v1, tiny_model_dir / "gan", parent=shipped, method="reinforce")
    reg.update("gan", v1, gate={"eval_prompts": 400, "champion": figures, "candidate": {"distinct_2": 0.88}})
    v2 = reg.next_version("gan")
    reg.add("gan", v2, tiny_model_dir / "gan", parent=v1, method="reinforce")
    assert reg.shipped_figures("gan", v2, 400) == (shipped, figures)  # two generations down
    assert reg.shipped_figures("gan", v2, 40) is None  # another evaluation set: not comparable
