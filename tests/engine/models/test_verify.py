"""A checkpoint that is about to serve is refused, with a bilingual message, when it was changed on
disk, holds a pickled payload, NaN weights or weights that do not fit; the payload never runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from engine.models.verify import CheckpointRefused, load_verified, read_blob
from learning.registry import sha256_file

REPO = Path(__file__).resolve().parents[3]
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def gan_copy(tiny_model_dir, tmp_path) -> Path:
    shutil.copytree(tiny_model_dir / "gan", tmp_path / "gan")
    return tmp_path / "gan"


def refused(path: Path, **kwargs) -> str:
    with pytest.raises(CheckpointRefused) as e:
        load_verified(path, "cpu", **kwargs)
    msg = str(e.value)
    assert HAN.search(e.value.zh) and "refused" in e.value.en, msg
    return msg


def test_a_good_checkpoint_loads_and_writes_poems_that_pass_their_check(gan_copy):
    m = load_verified(gan_copy, "cpu", sha256_file(gan_copy / "model.pt"))
    assert m.kind == "gan"


@pytest.mark.parametrize("name", ["gan", "vae"])
def test_the_shipped_checkpoints_load_with_weights_only(name):
    blob = read_blob(REPO / "models" / name)  # torch.load(weights_only=True) inside
    assert blob["kind"] == name and all(torch.isfinite(t).all() for t in blob["model"].values())


def test_a_file_changed_after_it_was_recorded_is_refused(gan_copy):
    recorded = sha256_file(gan_copy / "model.pt")
    data = bytearray((gan_copy / "model.pt").read_bytes())
    data[-100] ^= 1  # one bit
    (gan_copy / "model.pt").write_bytes(bytes(data))
    assert "sha256" in refused(gan_copy, expected_sha256=recorded)


def test_nan_weights_are_refused(gan_copy):
    blob = torch.load(gan_copy / "model.pt", weights_only=False)
    blob["model"]["out_bias"][3] = float("nan")
    torch.save(blob, gan_copy / "model.pt")
    assert "NaN" in refused(gan_copy)


class Payload:
    def __reduce__(self):
        return (Path.write_text, (Path(PAYLOAD_MARK), "ran"))


PAYLOAD_MARK = ""


def test_a_pickled_payload_is_refused_and_never_runs(gan_copy, tmp_path):
    global PAYLOAD_MARK
    PAYLOAD_MARK = str(tmp_path / "pwned")
    blob = torch.load(gan_copy / "model.pt", weights_only=False)
    blob["meta"]["note"] = Payload()
    torch.save(blob, gan_copy / "model.pt")
    msg = refused(gan_copy)
    assert "safely" in msg
    assert not (tmp_path / "pwned").exists()
    torch.load(gan_copy / "model.pt", weights_only=False)  # what a plain load would have done
    assert (tmp_path / "pwned").read_text() == "ran"


def test_weights_that_do_not_fit_the_model_are_refused(gan_copy):
    blob = torch.load(gan_copy / "model.pt", weights_only=False)
    blob["model"]["out_bias"] = blob["model"]["out_bias"][:-1]
    torch.save(blob, gan_copy / "model.pt")
    assert "do not fit" in refused(gan_copy)


def test_a_truncated_file_is_refused(gan_copy):
    data = (gan_copy / "model.pt").read_bytes()
    (gan_copy / "model.pt").write_bytes(data[: len(data) // 2])
    assert "complete" in refused(gan_copy)
