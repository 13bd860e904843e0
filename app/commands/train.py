"""`yinshi train vae|gan`: train a generator on the corpus and write a self-describing checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from app.settings import get_settings
from engine.training.config import PRESETS, TrainConfig

_D = TrainConfig()  # the defaults a preset starts from, shown in --help


def _help(text: str, field: str) -> str:
    return f"{text} (default: {getattr(_D, field)}, or the preset's)".lstrip()


def train_command(
    model: str = typer.Argument(..., help="gan | vae"),
    preset: str = typer.Option("default", help=f"hyperparameters to start from: {' | '.join(PRESETS)}"),
    out: Path = typer.Option(None, help="output directory (default: data_dir/runs/MODEL)"),
    corpus_dir: Path = typer.Option(None, help="chinese-poetry clone (default: settings.corpus_dir)"),
    device: str = typer.Option(None, help=_help("auto | cpu | cuda", "device")),
    epochs: float = typer.Option(None, help=_help("passes over the training split (MLE / VAE phase)", "epochs")),
    max_minutes: float = typer.Option(None, help="stop the MLE / VAE phase after this many minutes"),
    adv_minutes: float = typer.Option(None, help="GAN: stop the adversarial phase after this many minutes"),
    adv_steps: int = typer.Option(None, help=_help("GAN: policy-gradient steps", "adv_steps")),
    d_pretrain_steps: int = typer.Option(None, help=_help("GAN: discriminator pretraining steps", "d_pretrain_steps")),
    batch_size: int = typer.Option(None, help=_help("", "batch_size")),
    lr: float = typer.Option(None, help=_help("", "lr")),
    n_embd: int = typer.Option(None, help=_help("", "n_embd")),
    n_hidden: int = typer.Option(None, help=_help("", "n_hidden")),
    n_layer: int = typer.Option(None, help=_help("", "n_layer")),
    z_dim: int = typer.Option(None, help=_help("VAE latent size", "z_dim")),
    limit_poems: int = typer.Option(None, help="use only the first N training poems"),
    eval_every: int = typer.Option(None, help=_help("", "eval_every")),
    seed: int = typer.Option(None, help=_help("", "seed")),
    threads: int = typer.Option(None, help="torch CPU threads"),
    precision: str = typer.Option(None, help=_help("auto | fp32 | bf16 (auto: bf16 where the hardware has it and it is faster)", "precision")),
    resume: bool = typer.Option(False, help="continue from OUT/last"),
) -> None:
    """Train the GAN (MLE pretraining, discriminator, adversarial) or the VAE."""
    from engine.corpus.loader import load_corpus
    from engine.training.config import preset as make_config
    from engine.training.precision import check as check_precision
    from engine.training.train import train

    if model not in ("gan", "vae"):
        raise typer.BadParameter("模型只能是 gan 或 vae / model must be gan or vae")
    settings = get_settings()
    try:
        cfg = make_config(
            preset, model=model, out_dir=out or settings.data_dir / "runs" / model, device=device, epochs=epochs,
            max_minutes=max_minutes, adv_minutes=adv_minutes, adv_steps=adv_steps, d_pretrain_steps=d_pretrain_steps,
            batch_size=batch_size, lr=lr, n_embd=n_embd, n_hidden=n_hidden, n_layer=n_layer, z_dim=z_dim,
            limit_poems=limit_poems, eval_every=eval_every, seed=seed, threads=threads, precision=precision,
            resume=resume or None,
            min_char_count=settings.min_char_count,
        )
        check_precision(cfg.precision)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    poems = load_corpus(corpus_dir or settings.corpus_dir, cache_dir=settings.cache_dir, progress=True)
    final = train(cfg, poems)
    typer.echo(f"checkpoint: {final}")


def export_command(
    run: Path = typer.Argument(..., help="a checkpoint directory (e.g. data/runs/gan/final)"),
    to: Path = typer.Option(None, help="destination (default: settings.model_dir / KIND)"),
    version: str = typer.Option(None, help="version tag stored in the checkpoint (default: KIND-DATE)"),
) -> None:
    """Ship a trained checkpoint: fp16 weights, no optimizer state, a version tag."""
    import datetime as dt

    import torch

    from engine.models import checkpoint

    blob = checkpoint.load_blob(run)
    kind = blob["kind"]
    dest = to or get_settings().model_dir / kind
    dest.mkdir(parents=True, exist_ok=True)
    blob.pop("optimizer", None)
    blob["meta"]["version"] = version or f"{kind}-{dt.date.today():%Y.%m.%d}"
    for key in ("model", "disc"):
        if key in blob:
            blob[key] = {k: v.half() if v.is_floating_point() else v for k, v in blob[key].items()}
    torch.save(blob, dest / "model.pt")
    checkpoint.write_meta(dest, blob)
    size = (dest / "model.pt").stat().st_size / 2**20
    typer.echo(f"{kind} {blob['meta']['version']} -> {dest} ({size:.1f} MiB)")


def associations_command(
    checkpoints: list[Path] = typer.Argument(..., help="model directories to update (e.g. models/gan models/vae)"),
    corpus_dir: Path = typer.Option(None, help="chinese-poetry clone (default: settings.corpus_dir)"),
    calibrate: int = typer.Option(1000, help="poems the model writes to calibrate its corpus-word grading and character frequencies (0: none)"),
) -> None:
    """(Re)compute a checkpoint's corpus statistics (keyword lexicon, theme and couplet-partner
    associations, the groups poets rhyme each character in) from the training split, and calibrate
    the model's corpus-word grading and character frequencies against the corpus's
    (engine/decoding/calibration.py), in place.
    `yinshi train` writes the statistics itself."""
    import torch

    from engine.corpus.loader import load_corpus
    from engine.corpus.vocab import Vocab
    from engine.decoding import calibration
    from engine.decoding.poet import Poet, model_from_blob
    from engine.models import checkpoint
    from engine.prosody.forms import FORMS
    from engine.training.train import corpus_statistics

    settings = get_settings()
    corpus = load_corpus(corpus_dir or settings.corpus_dir, cache_dir=settings.cache_dir, progress=True)
    poems = [p for p in corpus if p.split == "train" and p.form in FORMS]
    valid = [p.lines for p in corpus if p.split == "valid" and p.form in FORMS]
    for path in checkpoints:
        blob = checkpoint.load_blob(path)
        blob.update(corpus_statistics(poems, Vocab.from_json(blob["vocab"])))
        blob["meta"]["associations_poems"] = len(poems)
        if calibrate > 0:
            device = torch.device("cpu")
            m = model_from_blob(blob, device, settings.quantize)
            poet = Poet({m.kind: m}, device)
            requests = calibration.training_requests([(p.lines, p.form, p.title) for p in poems], calibrate,
                                                     m.kind, known=lambda ch, m=m: ch in m.vocab)
            target = calibration.common_share(m.words, m.vocab.stoi, valid) if m.words is not None else None
            if target is not None:  # first the word grading, then the characters under it
                extra, graded = calibration.grade_words(poet, m.kind, requests, target)
                blob["associations"]["common_word_extra"] = extra
                blob["meta"]["word_grading"] = graded
                typer.echo(f"{path}: corpus words graded on {graded}")
            for round_ in range(calibration.ROUNDS):  # m.associations is blob["associations"]
                ratio, figures = calibration.measure(poet, m.kind, requests, refine=round_ > 0)
                m.associations["char_ratio"] = ratio
            blob["meta"]["calibration"] = figures
            typer.echo(f"{path}: calibrated on {figures}")
        checkpoint.save_blob(path, blob)
        typer.echo(f"{path}: {len(poems):,} training poems, {(path / 'model.pt').stat().st_size / 2**20:.1f} MiB")
