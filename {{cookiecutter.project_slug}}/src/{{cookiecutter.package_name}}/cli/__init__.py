"""The project's single command-line interface: `{{ cookiecutter.package_name }} --help`.

Every entry point is a command of this one typer app: the pipeline stages (`cli.develop`),
serving, smoke test, batch scoring, monitoring, the benchmarks and the prediction log's writer
process (`cli.operate`). Bad input never shows a traceback: `main()` prints one `error: ...`
line and exits 2 (1 when a quality gate refuses).
"""

from __future__ import annotations

import sys

import typer

from {{ cookiecutter.package_name }}.cli import develop, operate
from {{ cookiecutter.package_name }}.cli.app import CLI_MESSAGE_LIMIT, app
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError, one_line

COMMAND_MODULES = (develop, operate)  # imported for their commands, registered on `app`


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one line on stderr."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args or ["--help"], prog_name="{{ cookiecutter.package_name }}", standalone_mode=False)
    except GateFailedError as error:
        typer.echo(f"error: {one_line(error, CLI_MESSAGE_LIMIT)}", err=True)
        sys.exit(1)
    except UserError as error:
        typer.echo(f"error: {one_line(error, CLI_MESSAGE_LIMIT)}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as error:  # usage errors: unknown option, bad value, ...
        typer.echo(
            f"error: {one_line(error.format_message(), CLI_MESSAGE_LIMIT)} (see --help)", err=True
        )
        sys.exit(error.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
