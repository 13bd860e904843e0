"""`yinshi models ...`: the model registry (which version serves) and the shipped checkpoints.

The registry lives in settings.registry_dir (data_dir/registry, learning/registry.py); the shipped
checkpoints under settings.model_dir are its first champions, registered the first time any of
these commands (or a fine-tuning cycle) runs. A version is verified (sha256, safe loading, finite
weights, a smoke test) before promote or rollback lets it serve; a refused one moves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.train import associations_command, export_command
from app.settings import Settings, get_settings

models_app = typer.Typer(help="模型 The model registry and the shipped checkpoints.", no_args_is_help=True)
models_app.command("export")(export_command)
models_app.command("associations")(associations_command)

ALIASES = ("champion", "challenger")


def open_registry(settings: Settings):
    """The registry of `settings`, its shipped champions registered if it has none yet."""
    from learning.registry import Registry

    reg = Registry(settings.registry_dir)
    reg.seed_shipped(settings.model_dir)
    return reg


def fail(zh: str, en: str, code: int = 2) -> None:
    typer.echo(f"{zh} / {en}", err=True)
    raise typer.Exit(code)


def check_name(name: str) -> None:
    from learning.registry import NAMES

    if name not in NAMES:
        fail(f"模型只能是 {' 或 '.join(NAMES)}", f"The model must be {' or '.join(NAMES)}.")


def verify(reg, rec) -> None:
    """Refuse (exit 1, nothing moved) a version whose checkpoint is changed, damaged or unsafe."""
    from engine.errors import YinshiError
    from engine.models.verify import load_verified

    try:
        load_verified(reg.path(rec), "cpu", rec.sha256)
    except YinshiError as e:
        fail(f"{e.zh}；在役模型未改动", f"{e.en} The serving model is unchanged.", code=1)


@models_app.command("list")
def list_command(
    name: str = typer.Argument(None, help="gan | vae (default: both)"),
    as_json: bool = typer.Option(False, "--json", help="a JSON array, one object per version"),
) -> None:
    """Every registered version: status (champion, challenger, candidate, rejected, archived), parent, sha256."""
    from engine.errors import YinshiError

    if name is not None:
        check_name(name)
    try:
        reg = open_registry(get_settings())
        versions = reg.list_versions(name)
    except YinshiError as e:
        fail(e.zh, e.en)
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], ensure_ascii=False))
        return
    if not versions:
        typer.echo("注册表为空 / The registry is empty.", err=True)
        return
    rows = [("name", "version", "status", "parent", "method", "created", "sha256")]
    rows += [(v.name, v.version, v.status, v.parent or "-", v.method, v.created[:16], v.sha256[:12]) for v in versions]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


@models_app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="gan | vae"),
    version: str = typer.Argument(..., help="the version to promote (see `yinshi models list`)"),
    to: str = typer.Option("champion", "--to", help="champion (serves all traffic) | challenger (a share, on trial)"),
    force: bool = typer.Option(False, "--force", help="promote a version the gate or the online check rejected"),
) -> None:
    """Verify VERSION's checkpoint, then let it serve as champion (or challenger)."""
    from engine.errors import YinshiError

    check_name(name)
    if to not in ALIASES:
        fail("只能晋升为 champion 或 challenger", "Promote to champion or challenger only.")
    reg = open_registry(get_settings())
    try:
        rec = reg.get(name, version)
        if rec.status == "rejected" and not force:
            fail(f"版本「{version}」已被否决；确要上线请加 --force",
                 f"Version {version} was rejected; add --force to promote it anyway.")
        current = reg.alias(name, to)
        if current is not None and current.version == version:
            typer.echo(f"{name} {to}: {version} (unchanged)")
            return
        if to == "challenger" and rec.status == "champion":
            fail(f"「{version}」已是在役模型，不能再做挑战者", f"{version} is the champion; it cannot be the challenger.")
        verify(reg, rec)
        reg.promote(name, version, to, reason="promoted by hand" + (" (--force)" if force else ""))
    except YinshiError as e:
        fail(e.zh, e.en)
    typer.echo(f"{name} {to}: {version}")


@models_app.command("rollback")
def rollback_command(
    name: str = typer.Argument(..., help="gan | vae"),
    to: str = typer.Option(None, "--to", help="an earlier champion (default: the one before the current)"),
) -> None:
    """Give the champion role back to the previous champion (or an earlier one); the current
    champion, and any challenger, are marked rejected."""
    from engine.errors import YinshiError

    check_name(name)
    reg = open_registry(get_settings())
    try:
        current = reg.champion(name)
        earlier = reg.earlier_champions(name)
        target = to or (earlier[-1] if earlier else None)
        if current is None or target is None:
            fail(f"「{name}」没有可回退的上一版本", f"{name} has no earlier champion to roll back to.")
        if target in earlier:
            verify(reg, reg.get(name, target))
        back = reg.rollback(name, to=target, reason="rolled back by hand")  # refuses a `to` not in `earlier`
    except YinshiError as e:
        fail(e.zh, e.en)
    typer.echo(f"{name} champion: {back.version} (was {current.version}, now rejected)")


@models_app.command("scorer")
def scorer_command(
    checkpoints: list[Path] = typer.Argument(..., help="model directories to update (e.g. models/gan models/vae)"),
    minutes: float = typer.Option(6.0, "--minutes", help="time per model, generating its poems included"),
    poems: int = typer.Option(3000, "--poems", help="poems the model writes (and as many real ones)"),
    corpus_dir: Path = typer.Option(None, help="chinese-poetry clone (default: settings.corpus_dir)"),
) -> None:
    """Train a checkpoint's reranking scorer (the SeqGAN discriminator's CNN, real training poems
    against the model's own) and write it into the checkpoint in place, its held-out accuracy in
    meta (engine/training/scorer.py). Requests then keep the best of `candidates` poems. Registry
    versions are never rewritten: run it on a model directory, then register that."""
    import torch

    from engine.corpus.loader import load_corpus
    from engine.decoding.poet import model_from_blob
    from engine.errors import YinshiError
    from engine.models.verify import load_verified, read_blob
    from engine.training.scorer import ScorerConfig, save_scorer, train_scorer
    from learning.registry import sha256_file

    settings = get_settings()
    if not 0 < minutes <= 600 or not 10 <= poems <= 100_000:
        fail("--minutes 须在 0 到 600 之间，--poems 须在 10 到 100000 之间",
             "--minutes must be in (0, 600] and --poems in [10, 100000].")
    for path in checkpoints:
        if not (path / "model.pt").is_file():
            fail(f"{path} 下没有 model.pt", f"No model.pt under {path}.")
        if path.resolve().is_relative_to(settings.registry_dir.resolve()):
            fail(f"{path} 是注册表中的版本，版本不可改写", f"{path} is a registry version; versions are never rewritten.")
    corpus = load_corpus(corpus_dir or settings.corpus_dir, cache_dir=settings.cache_dir, progress=True)
    device = torch.device("cpu")
    for path in checkpoints:
        try:
            blob = read_blob(path)  # safe loading, its parts, finite weights
            m = model_from_blob(blob, device, settings.quantize)
            state, meta = train_scorer(m, corpus, ScorerConfig(poems=poems, minutes=minutes), progress=typer.echo)
            save_scorer(path, blob, state, meta)
            load_verified(path, device, sha256_file(path / "model.pt"))  # loads as serving will
        except YinshiError as e:
            fail(e.zh, e.en, code=1)
        except ValueError as e:  # no training poems to learn from
            fail(f"无法训练评分器：{e}", f"Cannot train the scorer: {e}", code=1)
        sha = sha256_file(path / "model.pt")
        typer.echo(f"{path}: scorer held-out accuracy {meta['heldout_accuracy']:.1%} on {meta['heldout_poems']:,} "
                   f"poems ({meta['generated_poems']:,} generated, {meta['minutes']:.1f} min); sha256 {sha}")
        stale_registry_copy(settings, m.kind, m.version, sha)


def stale_registry_copy(settings: Settings, name: str, version: str, sha256: str) -> None:
    """Say so when the registry holds an earlier copy of a rewritten checkpoint under its version."""
    from learning.registry import Registry

    if not (settings.registry_dir / "registry.json").is_file():
        return
    if any(v.version == version and v.sha256 != sha256 for v in Registry(settings.registry_dir).list_versions(name)):
        typer.echo(f"注意：注册表中的 {name} {version} 仍是改写前的副本（版本不可改写），在役模型未改动 / "
                   f"Note: the registry's {name} {version} is the copy from before (versions are never "
                   "rewritten); what serves is unchanged.", err=True)
