"""What the learning-loop tests of app/ share: settings over a temporary data dir, and registry
versions made from the tiny models (the same weights under a new version name, or damaged)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from app.settings import Settings
from engine.models.verify import read_blob
from learning.registry import Registry


def loop_settings(tmp_path: Path, tiny_model_dir: Path, **overrides) -> Settings:
    values = dict(data_dir=tmp_path, model_dir=tiny_model_dir, device="cpu", quantize=False, request_timeout_s=60.0,
                  registry_poll_s=0.05, finetune_interval_s=0, database_url=f"sqlite:///{tmp_path / 'y.db'}")
    return Settings(_env_file=None, **{**values, **overrides})


def checkpoint_as(tiny_model_dir: Path, name: str, version: str, out: Path) -> Path:
    """The tiny `name` checkpoint re-saved as `version` (what a fine-tuning cycle writes)."""
    blob = read_blob(tiny_model_dir / name)
    blob["meta"] = {**blob["meta"], "version": version}
    out.mkdir(parents=True, exist_ok=True)
    torch.save(blob, out / "model.pt")
    (out / "meta.json").write_text(json.dumps({"version": version}))
    return out


def add_version(reg: Registry, tiny_model_dir: Path, name: str, version: str, tmp: Path, *,
                to: str | None = None, damage: bool = False) -> None:
    """Register the tiny `name` model as `version`, promoted `to` champion or challenger; `damage`
    flips a byte of the registered file first (its sha256 no longer matches)."""
    reg.add(name, version, checkpoint_as(tiny_model_dir, name, version, tmp / version), parent=None, method="test")
    if damage:
        path = reg.path(reg.get(name, version)) / "model.pt"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    if to:
        reg.promote(name, version, to, reason="test")
