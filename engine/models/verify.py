"""Loading a checkpoint that is about to serve: checked before it can replace anything.

`load_verified(path, device, expected_sha256)` reads `model.pt` once into memory and refuses it,
with a bilingual `CheckpointRefused`, when
- its sha256 differs from the one the registry recorded (changed or damaged on disk);
- it is not loadable with `torch.load(weights_only=True)`: a pickle that names any object
  besides tensors, dicts, lists, strings and numbers (code could run on loading). The one class
  allowed beyond those is `torch.torch_version.TorchVersion`, a `str` subclass the shipped
  checkpoints carry in `meta["torch"]` (train.py stored `torch.__version__` as it is);
- it lacks the parts a generator needs, or its weights do not fit the model it describes;
- any weight is NaN or infinite;
- a few poems written with it (one per form) fail their own check (form, rhyme, tones).
The bytes that were checked are the bytes that are loaded: nothing is read from disk twice.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import torch

from engine.decoding.poet import LoadedModel, Poet, model_from_blob
from engine.errors import YinshiError
from engine.models.checkpoint import SAFE_GLOBALS
from engine.prosody.check import check_poem
from engine.prosody.forms import FORMS
from engine.request import PoemRequest

SMOKE_KEYWORDS = ("春", "月", "山", "秋")  # one per form, fixed seeds: the same poems every time


class CheckpointRefused(YinshiError):
    def __init__(self, path: Path, zh: str, en: str):
        super().__init__(f"模型文件 {path} 未通过校验，未加载：{zh}", f"Checkpoint {path} refused, not loaded: {en}")


def read_blob(path: Path, expected_sha256: str | None = None) -> dict:
    """The checkpoint dict of `path` (a model directory or its model.pt), checked for its hash,
    for safe unpickling, its parts and finite weights."""
    path = Path(path)
    file = path / "model.pt" if path.is_dir() else path
    try:
        data = file.read_bytes()
    except OSError as e:
        raise CheckpointRefused(file, f"无法读取（{e.strerror}）", f"cannot be read ({e.strerror}).") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise CheckpointRefused(
            file, f"sha256 不符（记录 {expected_sha256[:12]}…，文件 {digest[:12]}…），文件被改动或损坏",
            f"its sha256 {digest[:12]}… differs from the recorded {expected_sha256[:12]}…: the file was changed or damaged.",
        )
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        what = next((ln.strip() for ln in str(e).splitlines() if "Unsupported global" in ln), "")
        raise CheckpointRefused(
            file, f"含张量以外的对象，不能安全读取 {what}",
            f"it holds objects other than tensors and plain data and cannot be loaded safely. {what}",
        ) from None
    except Exception as e:  # truncated or not a torch file at all
        raise CheckpointRefused(file, f"不是完整的模型文件（{type(e).__name__}）",
                                f"not a complete checkpoint ({type(e).__name__}: {e}).") from None
    check_parts(file, blob)
    return blob


def check_parts(file: Path, blob) -> None:
    if not isinstance(blob, dict) or blob.get("kind") not in ("gan", "vae") or not isinstance(blob.get("model"), dict):
        raise CheckpointRefused(file, "缺少模型类型或权重", "it lacks the model kind or the weights.")
    for key in ("config", "vocab", "meta"):
        if key not in blob:
            raise CheckpointRefused(file, f"缺少「{key}」", f"it lacks {key!r}.")
    for name, t in blob["model"].items():
        if not torch.is_tensor(t):
            raise CheckpointRefused(file, f"参数 {name} 不是张量", f"parameter {name} is not a tensor.")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointRefused(file, f"参数 {name} 含 NaN 或无穷大", f"parameter {name} holds NaN or infinity.")


def smoke_test(m: LoadedModel, device) -> None:
    """One poem per form with fixed seeds; each must have its form, rhyme and tones."""
    poet = Poet({m.kind: m}, device)
    reqs = [PoemRequest(keyword=k, form=f, model=m.kind, seed=i) for i, (k, f) in enumerate(zip(SMOKE_KEYWORDS, FORMS, strict=True))]
    for req, res in zip(reqs, poet.generate_batch(reqs), strict=True):
        if isinstance(res, Exception):
            raise CheckpointRefused(Path(m.version), f"试写失败：{res}", f"the smoke test failed: {res}")
        report = check_poem(res.text, form=req.form)
        if not report.ok:
            raise CheckpointRefused(
                Path(m.version), f"试写的{req.form}未通过格律检查：{res.text}",
                f"a smoke-test {req.form} fails its own check: {res.text!r}",
            )


def load_verified(path: Path, device, expected_sha256: str | None = None, quantize: bool = False,
                  smoke: bool = True) -> LoadedModel:
    """A generator that has passed every check above, ready to serve."""
    blob = read_blob(path, expected_sha256)
    device = torch.device(device) if isinstance(device, str) else device
    try:
        m = model_from_blob(blob, device, quantize)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        file = Path(path) / "model.pt" if Path(path).is_dir() else Path(path)
        raise CheckpointRefused(file, f"权重与模型结构不符（{type(e).__name__}）",
                                f"its weights do not fit the model it describes ({type(e).__name__}).") from None
    if smoke:
        smoke_test(m, device)
    return m
