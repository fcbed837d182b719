"""The ``ctrack`` entry point. Commands live in sibling modules and are loaded lazily."""
from __future__ import annotations

import importlib
import re
import warnings

import click

from compresstracker import __version__
from compresstracker.errors import CTrackError, print_warnings_on_one_line

# command name -> (module inside compresstracker.cli, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("models", "models"),
    "inspect": ("inspect_cmd", "inspect_cmd"),
    "track": ("track", "track"),
    "datasets": ("datasets", "datasets"),
    "data": ("data", "data"),
    "eval": ("evaluate", "eval_cmd"),
    "score": ("score", "score"),
    "pack": ("pack", "pack"),
    "train": ("train", "train"),
    "recipes": ("train", "recipes"),
    "plan": ("compress", "plan"),
    "compress": ("compress", "compress"),
    "demo": ("demo", "demo"),
    "export": ("export", "export"),
    "bench": ("bench", "bench"),
    "search": ("search", "search"),
    "trax": ("vot", "trax"),
    "vot": ("vot", "vot"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs (fast --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._module_exists(name))

    @staticmethod
    def _module_exists(name: str) -> bool:
        module = COMMANDS[name][0]
        return importlib.util.find_spec(f"compresstracker.cli.{module}") is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._module_exists(name):
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"compresstracker.cli.{module}"), attr)

    def invoke(self, ctx: click.Context):
        """Turn library errors into one-line CLI errors (exit 2), never a traceback; warnings into one line."""
        try:
            with warnings.catch_warnings():
                print_warnings_on_one_line()
                return super().invoke(ctx)
        except click.UsageError as exc:  # a bad option or argument: one line too, with where to look
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            raise UserError(f"{exc.format_message()}{where}") from None
        except CTrackError as exc:
            raise UserError(_last_line(str(exc))) from None
        except OSError as exc:
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            raise UserError(f"{exc.strerror or exc}{where}") from None


def _last_line(message: str) -> str:
    """One line: an error re-raised from a worker process (torch's DataLoader) carries the worker's
    whole traceback in its message, with the error's own line last."""
    if "Traceback (most recent call last)" not in message:
        return message
    last = [line for line in message.splitlines() if line.strip()][-1]
    return re.sub(r"^[\w.]*(Error|Exception): ", "", last.strip())


class UserError(click.ClickException):
    exit_code = 2


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctrack")
def cli() -> None:
    """ctrack: compress transformer trackers (CompressTracker) and measure them exactly.

    Tables go to stdout, progress and notes to stderr; errors are one line with exit code 2.

    \b
    Examples:
      ctrack inspect OSTrack_ep0300.pth.tar
      ctrack track --checkpoint OSTrack_ep0300.pth.tar --frames seq/img --init-box 10,20,50,40 --out out.txt
      ctrack eval --checkpoint student.safetensors --dataset lasot --root /data/lasot
      ctrack compress --teacher OSTrack_ep0300.pth.tar --stages 4 --data lasot=/data/lasot --out ct4
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ctrack")


if __name__ == "__main__":
    main()
