"""The `yinshi` command line. Each command group lives beside the code it drives; this wires them."""

from __future__ import annotations

import typer

app = typer.Typer(help="Yinshi 吟诗: classical Chinese poetry generator and chat bot.", no_args_is_help=True)

from app.run import run_command  # noqa: E402

app.command("run")(run_command)

from app.commands.data import data_app  # noqa: E402

app.add_typer(data_app, name="data")

from app.commands.check import check_command  # noqa: E402

app.command("check")(check_command)

from app.commands.train import train_command  # noqa: E402

app.command("train")(train_command)

from app.commands.poem import poem_command  # noqa: E402

app.command("poem")(poem_command)

from app.commands.bench import bench_command  # noqa: E402

app.command("bench")(bench_command)

from engine.serving.http_api import serve_command  # noqa: E402

app.command("serve")(serve_command)

from app.commands.evaluate import eval_command  # noqa: E402

app.command("eval")(eval_command)

from app.commands.train import associations_command, export_command  # noqa: E402

app.command("export")(export_command)
app.command("associations")(associations_command)
