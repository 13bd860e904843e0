"""How a long-running command (`yinshi serve`, `yinshi run`) fails to start: one bilingual line and
exit code 1, never a traceback, for what the operator can fix (a refused checkpoint, an engine URL
nobody answers, a port already taken). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import typer

from engine.errors import YinshiError

ADDRESS_ERRORS = {
    errno.EADDRINUSE: (
        "地址已被占用（另有进程在此端口监听）", "the address is already in use (another process listens on that port)"
    ),
    errno.EADDRNOTAVAIL: ("本机没有这个地址", "this host has no such address"),
    errno.EACCES: ("没有权限在此端口监听", "no permission to listen on that port"),
}


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def failure_line(exc: BaseException) -> str | None:
    """The one line to print for a start-up failure the operator can fix; None for anything else."""
    for leaf in _leaves(exc):
        if isinstance(leaf, YinshiError):
            return str(leaf)
        if isinstance(leaf, OSError) and leaf.errno in ADDRESS_ERRORS:
            zh, en = ADDRESS_ERRORS[leaf.errno]
            return f"无法启动：{zh}。/ Cannot start: {en}: {leaf}"
    return None


def run_or_exit(main: Callable[[], object]) -> None:
    """Run `main`; a failure with a `failure_line` prints that line and exits with code 1."""
    try:
        main()
    except Exception as e:  # ExceptionGroup included
        line = failure_line(e)
        if line is None:
            raise
        typer.echo(line, err=True)
        raise typer.Exit(1) from None
