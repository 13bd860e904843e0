"""`yinshi models ...`: the shipped checkpoints under settings.model_dir."""

from __future__ import annotations

import typer

from app.commands.train import associations_command, export_command

models_app = typer.Typer(help="模型 The shipped checkpoints.", no_args_is_help=True)
models_app.command("export")(export_command)
models_app.command("associations")(associations_command)
