"""What a training run is told: `TrainConfig` (with the adversarial phase's `AdvConfig`) and named
presets over it. A preset is data, a dict of fields that differ from the defaults; `preset()`
applies one, then the caller's overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class AdvConfig:
    rollouts: int = 4  # Monte-Carlo completions per line end
    mle_mix: float = 0.5  # weight of a teacher-forced MLE loss mixed into each generator step
    baseline_decay: float = 0.9
    d_steps: int = 1  # discriminator updates per generator update
    temperature: float = 1.0  # the policy's own distribution while training
    extra: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    model: str = "gan"  # gan | vae
    out_dir: Path = Path("runs/gan")
    device: str = "auto"
    seed: int = 1337
    batch_size: int = 64  # poems per batch (one form per batch)
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 200
    epochs: float = 1.0  # MLE / VAE passes over the training split
    max_minutes: float | None = None  # stop the MLE/VAE phase after this long
    total_minutes: float | None = None  # the whole run's wall clock: the MLE/VAE phase leaves room for what follows
    grad_clip: float = 1.0
    weight_decay: float = 0.01  # AdamW's, on every parameter
    eval_every: int = 500
    n_embd: int = 256
    n_hidden: int = 512
    n_layer: int = 2
    dropout: float = 0.2
    min_char_count: int = 3
    limit_poems: int | None = None  # use only the first N training poems (tests, quick runs)
    resume: bool = False  # continue from out_dir/last if it exists
    threads: int | None = None  # torch CPU threads (None: timed, re-checked every eval_every steps; mle.ThreadPicker)
    precision: str = "auto"  # auto | fp32 | bf16: the MLE / VAE phase's matmul dtype (engine/training/precision.py)
    adv_minutes: float | None = None  # stop the adversarial phase after this long
    scheme: str = "pingshui"
    # VAE
    z_dim: int = 32
    kl_anneal_steps: int = 3000
    free_bits: float = 0.25
    word_dropout: float = 0.3
    # GAN
    d_pretrain_steps: int = 300
    adv_steps: int = 200
    adv_batch: int = 32
    adv_lr: float = 2e-4
    adv: AdvConfig = field(default_factory=AdvConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d


# Fields that differ from TrainConfig's defaults. GAN-only fields do not affect a VAE run.
PRESETS: dict[str, dict] = {
    "default": {},
    # the models in models/ (their meta.json), which also ran with --max-minutes 68 (gan) / 80 (vae)
    "shipped": {"batch_size": 128, "eval_every": 200, "d_pretrain_steps": 150, "adv_steps": 400, "adv_minutes": 35.0},
    # the whole run (MLE / VAE, then the GAN's discriminator and adversarial phases) within 150 minutes
    # of wall clock on 2 shared CPU cores, up to 3 epochs; the learning rate anneals over whichever
    # ends first (docs/training.md)
    "full": {
        "batch_size": 128, "epochs": 3.0, "total_minutes": 150.0, "eval_every": 250,
        "d_pretrain_steps": 150, "adv_steps": 400, "adv_minutes": 25.0,
    },
    # a few seconds on one CPU core: the tests' models (tests/conftest.py)
    "tiny": {
        "device": "cpu", "threads": 1, "precision": "fp32", "batch_size": 32, "n_embd": 32, "n_hidden": 64, "n_layer": 1, "eval_every": 10**6,
        "d_pretrain_steps": 5, "adv_steps": 2, "adv_batch": 8, "kl_anneal_steps": 20, "min_char_count": 1,
    },
}
FIELDS = frozenset(f.name for f in fields(TrainConfig))


def preset(name: str = "default", **overrides) -> TrainConfig:
    """The TrainConfig of a named preset, with `overrides` on top (None values leave a field as is)."""
    if name not in PRESETS:
        raise ValueError(f"未知预设「{name}」，可选：{'、'.join(PRESETS)} / Unknown preset {name!r}; choose {', '.join(PRESETS)}.")
    if unknown := overrides.keys() - FIELDS:
        raise TypeError(f"not TrainConfig fields: {sorted(unknown)}")
    return TrainConfig(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})
