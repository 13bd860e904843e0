"""Self-describing checkpoints: weights plus config, vocabulary, data hash and metrics.

A model directory holds `model.pt` (torch) and `meta.json` (the same metadata, readable without
torch). Loading rebuilds the model from the checkpoint alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch.torch_version import TorchVersion

from engine.corpus.vocab import Vocab


def save(
    path: Path,
    *,
    kind: str,
    model: torch.nn.Module,
    config: dict,
    vocab: Vocab,
    meta: dict,
    extra_state: dict | None = None,
    half: bool = False,
) -> None:
    """Write `path/model.pt` and `path/meta.json`. `half` stores floating weights as fp16."""
    path.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    blob = {"kind": kind, "config": config, "vocab": vocab.to_json(), "meta": meta, "model": sd}
    if extra_state:
        blob.update(extra_state)
    tmp = path / "model.pt.tmp"
    torch.save(blob, tmp)
    tmp.replace(path / "model.pt")
    write_meta(path, blob)


def write_meta(path: Path, blob: dict) -> None:
    """`path/meta.json`: the checkpoint's kind, config and meta, readable without torch."""
    (path / "meta.json").write_text(
        json.dumps({"kind": blob["kind"], "config": blob["config"], **blob["meta"]}, ensure_ascii=False, indent=2)
        + "\n"
    )


def save_blob(path: Path, blob: dict) -> None:
    """Rewrite `path/model.pt` atomically (a temporary file, flushed to disk, then renamed over it: a
    reader or a crash never sees half a checkpoint), then `path/meta.json` to match it."""
    tmp = path / "model.pt.tmp"
    with tmp.open("wb") as f:
        torch.save(blob, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path / "model.pt")
    write_meta(path, blob)


SAFE_GLOBALS = [TorchVersion]  # the one non-plain type a checkpoint holds (meta's torch version)


def load_blob(path: Path, map_location="cpu") -> dict:
    """`path/model.pt` unpickled safely: tensors and plain data only, never code (a serving path
    checks more: engine/models/verify.py)."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        return torch.load(path / "model.pt", map_location=map_location, weights_only=True)


def load_state(model: torch.nn.Module, state: dict) -> None:
    """Load weights stored in any float dtype into a model of the model's dtype."""
    own = model.state_dict()
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
