"""The ``ctrack`` entry point. Commands live in sibling modules and are loaded lazily."""
from __future__ import annotations

import importlib
import click

from compresstracker import __version__
from compresstracker.errors import CTrackError

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
        """Turn library errors into one-line CLI errors (exit 2), never a traceback."""
        try:
            return super().invoke(ctx)
        except CTrackError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            raise UserError(f"{exc.strerror or exc}{where}") from None


class UserError(click.ClickException):
    exit_code = 2


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctrack")
def cli() -> None:
    """ctrack: compress transformer trackers (CompressTracker) and measure them exactly.

    \b
    Examples:
      ctrack inspect OSTrack_ep0300.pth.tar
      ctrack track --checkpoint OSTrack_ep0300.pth.tar --frames seq/img --init-box 10,20,50,40 --output out.txt
      ctrack eval --checkpoint student.safetensors --dataset lasot --root /data/lasot
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ctrack")


if __name__ == "__main__":
    main()
