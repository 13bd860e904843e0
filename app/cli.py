"""The `yinshi` command line: every command group is a module of app/commands; this wires them.

Command modules import only typer and light modules at the top (torch, sklearn, aiohttp inside the
commands), so `yinshi --help` starts fast.
"""

from __future__ import annotations

import typer

from app.commands import bench, check, data, evaluate, finetune, models, poem, run, serve, train

app = typer.Typer(help="Yinshi 吟诗: classical Chinese poetry generator and chat bot.", no_args_is_help=True)

app.command("poem")(poem.poem_command)
app.command("check")(check.check_command)
app.add_typer(data.data_app, name="data")
app.command("train")(train.train_command)
app.command("eval")(evaluate.eval_command)
app.add_typer(models.models_app, name="models")
app.add_typer(finetune.finetune_app, name="finetune")
app.command("bench")(bench.bench_command)
app.command("serve")(serve.serve_command)
app.command("run")(run.run_command)

# the names before `yinshi models ...`
app.command("export", hidden=True)(train.export_command)
app.command("associations", hidden=True)(train.associations_command)
