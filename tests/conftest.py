"""Shared test helpers: run the CLI in-process and parse its JSON."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from compresstracker.cli.main import cli


class CliResult:
    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.output = result.output
        self.exception = result.exception

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def run_cli():
    """Invoke ``ctrack ARGS...`` in-process; returns exit code, stdout, stderr."""

    def _run(*args: str) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            traceback.print_exception(result.exception)
        return CliResult(result)

    return _run
