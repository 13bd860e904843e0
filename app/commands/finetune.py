"""`yinshi finetune run|simulate`: one fine-tuning cycle on the stored ratings, or whole cycles
on simulated raters (learning/cycle.py, learning/simulate.py).

`run` works in this process: the command is already a process of its own apart from the app
that serves (cron, a systemd timer, a compose service or an operator start it), so a subprocess
would only load torch twice; the in-app schedule (learning/schedule.py) is what runs
`python -m learning.cycle` as a subprocess, to keep its event loop free. Progress goes to stderr,
the result to stdout.
"""

from __future__ import annotations

import json
import signal
import sys

import typer

from app.settings import Settings, get_settings

finetune_app = typer.Typer(help="微调 Fine-tune the generators on users' ratings.", no_args_is_help=True)

_TUNE_HELP = 'other fine-tuning settings as JSON, e.g. \'{"lr": 1e-4, "k": 8}\' (engine/training/preference.py)'


def fail(zh: str, en: str, as_json: bool = False, **fields) -> None:
    """A bilingual error on stderr (and, with --json, as one JSON object on stdout); exit 2."""
    if as_json:
        typer.echo(json.dumps({**fields, "error": {"zh": zh, "en": en}}, ensure_ascii=False))
    typer.echo(f"{zh} / {en}", err=True)
    raise typer.Exit(2)


def check_inputs(settings: Settings, model: str, method: str, tune: str | None, as_json: bool) -> dict:
    """The --tune settings as a dict, after checking the model, the method and the corpus."""
    from engine.training.preference import METHODS, PreferenceConfig

    if model not in ("gan", "vae"):
        fail("模型只能是 gan 或 vae", "The model must be gan or vae.", as_json, name=model)
    if method not in METHODS:
        fail(f"未知微调方法「{method}」，可选 {'、'.join(METHODS)}",
             f"Unknown method {method!r}; choose {', '.join(METHODS)}.", as_json, name=model)
    if not settings.corpus_dir.is_dir():
        fail(f"找不到诗词语料 {settings.corpus_dir}（评估集与回放要用它；请设置 YINSHI_CORPUS_DIR）",
             f"No corpus at {settings.corpus_dir} (the evaluation set and the replay need it; set YINSHI_CORPUS_DIR).",
             as_json, name=model)
    try:
        extra = json.loads(tune) if tune else {}
        if not isinstance(extra, dict):
            raise ValueError("not an object")
        PreferenceConfig(**extra)
    except (ValueError, TypeError) as e:
        fail(f"--tune 须是 PreferenceConfig 字段的 JSON 对象（{e}）",
             f"--tune must be a JSON object of PreferenceConfig fields ({e}).", as_json, name=model)
    return extra


@finetune_app.command("run")
def run_command(
    model: str = typer.Option(..., "--model", "-m", help="gan | vae"),
    as_json: bool = typer.Option(False, "--json", help="print the cycle's record as one JSON object"),
    promote_to: str = typer.Option(None, "--promote-to",
                                   help="where a candidate that passes the gate goes: challenger (an online trial "
                                        "on a share of traffic first) | champion (at once) (default: challenger, or "
                                        "champion when YINSHI_CHALLENGER_SHARE is 0)"),
    method: str = typer.Option("reinforce", "--method", help="reinforce | raft"),
    steps: int = typer.Option(None, "--steps", help="fine-tuning steps (default: PreferenceConfig.steps)"),
    tune: str = typer.Option(None, "--tune", help=_TUNE_HELP),
    when_due: bool = typer.Option(False, "--when-due",
                                  help="skip the cycle unless YINSHI_FINETUNE_MIN_RATINGS new liked or disliked "
                                       "ratings arrived since the last cycle's data, as the in-app schedule does "
                                       "(for timers)"),
    min_labelled: int = typer.Option(100, "--min-labelled", help="fewest liked + disliked ratings a cycle learns from"),
    eval_per_form: int = typer.Option(100, "--eval-per-form", help="the gate's evaluation prompts per form"),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """One cycle on the stored ratings: reward model, fine-tuning from the champion, the gate; a
    candidate that passes is promoted (to challenger by default) in the registry."""
    settings = get_settings()
    extra = check_inputs(settings, model, method, tune, as_json)
    promote_to = promote_to or ("challenger" if settings.challenger_share > 0 else "champion")
    if promote_to not in ("challenger", "champion"):
        fail("--promote-to 只能是 challenger 或 champion", "--promote-to must be challenger or champion.", as_json,
             name=model)
    import torch

    from engine.errors import YinshiError
    from engine.training.preference import PreferenceConfig
    from learning.cycle import CycleConfig, run_cycle
    from learning.registry import Registry

    if threads:
        torch.set_num_threads(threads)
    cfg = CycleConfig(model, settings.registry_dir, settings.resolved_database_url, settings.corpus_dir,
                      settings.cache_dir, settings.model_dir, promote_to, min_labelled=min_labelled,
                      eval_per_form=eval_per_form, seed=seed,
                      tune=PreferenceConfig(**{"method": method, "seed": seed, **({"steps": steps} if steps else {}),
                                               **extra}))
    try:
        if when_due:
            new = new_ratings(settings, Registry(settings.registry_dir).data_until(model), model)
            if new < settings.finetune_min_ratings:
                typer.echo(json.dumps({"name": model, "skipped": True, "new_ratings": new,
                                       "min_new": settings.finetune_min_ratings}) if as_json else
                           f"{model}: {new} new liked or disliked ratings < {settings.finetune_min_ratings} "
                           f"(YINSHI_FINETUNE_MIN_RATINGS); no cycle")
                return
        record = run_cycle(cfg, progress=True)
    except YinshiError as e:  # a cycle already running, a refused champion ...
        fail(e.zh, e.en, as_json, name=model)
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, default=str))
    else:
        typer.echo(summary(record))


def new_ratings(settings: Settings, since, model: str) -> int:
    """Liked or disliked ratings of `model`'s poems newer than `since` (None: all)."""
    from sqlmodel import Session

    from learning import data as D
    from storage.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            return D.count_labelled(session=session, model=model, since=since)
    finally:
        engine.dispose()


def summary(r: dict) -> str:
    g, d = r.get("gate", {}), r.get("data") or {}
    head = f"{r['name']}: {d.get('ratings', 0)} ratings ({d.get('liked', 0)} liked, {d.get('disliked', 0)} disliked); "
    if g.get("passed"):
        return head + f"candidate {r['version']} from {r['parent']} passed the gate, promoted to {r['promoted']}"
    what = f"candidate {r['version']} from {r['parent']} refused" if r.get("version") else "no candidate"
    return head + what + ", the champion serves on:\n  " + "\n  ".join(g.get("reasons", []))


@finetune_app.command("simulate")
def simulate_command(
    model: str = typer.Option(..., "--model", "-m", help="gan | vae"),
    prefer: str = typer.Option(..., "--prefer", help="characters the simulated users like, e.g. 月山"),
    ratings: int = typer.Option(2000, "--ratings", help="simulated ratings in all"),
    seed: int = typer.Option(1, "--seed"),
    raters: str = typer.Option("preference", "--raters",
                               help="preference (like poems with any of --prefer, noisily) | random (1-5 ★ at random)"),
    cycles: int = typer.Option(1, "--cycles", help="cycles; the ratings are shared out among them"),
    method: str = typer.Option("reinforce", "--method", help="reinforce | raft"),
    steps: int = typer.Option(None, "--steps", help="fine-tuning steps per cycle (default: PreferenceConfig.steps)"),
    tune: str = typer.Option(None, "--tune", help=_TUNE_HELP),
    eval_per_form: int = typer.Option(100, "--eval-per-form", help="evaluation prompts per form (the fixed set)"),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Whole cycles on a temporary database and registry, rated by simulated users with a hidden
    taste; prints the figures before and after, the gate and what was promoted. Touches nothing
    of the real database or registry."""
    settings = get_settings()
    extra = check_inputs(settings, model, method, tune, as_json)
    import torch

    from engine.errors import YinshiError
    from engine.training.preference import PreferenceConfig
    from learning.simulate import simulate

    if threads:
        torch.set_num_threads(threads)
    # a stopped simulation (SIGTERM) unwinds like Ctrl-C, so that its temporary directory is removed
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        out = simulate(model, prefer, ratings, seed, raters, cycles, model_dir=settings.model_dir,
                       corpus_dir=settings.corpus_dir, cache_dir=settings.cache_dir, eval_per_form=eval_per_form,
                       tune=PreferenceConfig(**{"method": method, "seed": seed,
                                                **({"steps": steps} if steps else {}), **extra}),
                       progress=True)
    except YinshiError as e:
        fail(e.zh, e.en, as_json, name=model)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, default=str))
        return
    print_simulation(out)


def print_simulation(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", "before", "after", title=f"{out['model']}: {out['ratings']} ratings, {out['raters']} raters "
                                                f"(prefer {out['prefer']}), seed {out['seed']}")
    for key in ("preferred_share", "format", "rhyme", "tone", "distinct_2", "repetition", "classifier"):
        b, a = out["before"].get(key), out["after"].get(key)
        table.add_row(key, *(f"{x:.3f}" if isinstance(x, float) else str(x) for x in (b, a)))
    console = Console()
    console.print(table)
    gate = out["gate"]
    console.print(f"gate: {'passed' if gate['passed'] else 'refused'}; promoted: {out['promoted']}; "
                  f"champion: {out['version']}; {out['seconds']} s")
    for reason in gate["reasons"]:
        console.print(f"  - {reason}")
