"""The `centaurus` typer app. Commands are thin: parse, call one library function, print.

Library code raises `CentaurusError`s; `main` turns each into one line on stderr and exit code 2.
"""
import sys

import typer
from centaurus_cli.data import data_app
from centaurus_cli.demo import demo
from centaurus_cli.denoise import denoise
from centaurus_cli.export import export
from centaurus_cli.kws import kws_app
from centaurus_cli.lm import lm
from centaurus_cli.train import evaluate, info, train
from centaurus_cli.transcribe import transcribe

from centaurus.errors import CentaurusError

# Plain help (rich_markup_mode None): typer's rich panels print every flag, --help too, as `--flag <bool>`.
HELP = {"rich_markup_mode": None, "context_settings": {"help_option_names": ["-h", "--help"]}}
app = typer.Typer(help="Centaurus: real-time audio with deep state-space models.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False, **HELP)


def _version(shown: bool) -> None:
    if shown:
        from centaurus import __version__
        typer.echo(f"centaurus {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """Centaurus: real-time audio with deep state-space models."""


app.add_typer(data_app, name="data")
app.add_typer(kws_app, name="kws")
app.command()(demo)
app.command()(train)
app.command(name="eval")(evaluate)
app.command()(info)
app.command()(export)
app.command()(denoise)
app.command()(transcribe)
app.command()(lm)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except CentaurusError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None


def _one_line(err: CentaurusError) -> str:
    """The error's message; one raised in a DataLoader worker arrives re-raised with the worker's traceback in
    its message, whose last line is the original 'module.Type: message'."""
    lines = str(err).strip().splitlines()
    if len(lines) > 1 and lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        return lines[-1].split(": ", 1)[-1]
    return str(err)


if __name__ == "__main__":
    main()
