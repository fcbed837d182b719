"""``ctrack models``: the registered tracker architectures."""
from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.table import Table

from compresstracker.cli.common import console, emit_json, json_option


def _parameter_count(name: str) -> int:
    """Parameters of a registered architecture, built on the meta device (nothing is allocated)."""
    import torch

    from compresstracker.models import build_model

    with torch.device("meta"):
        return sum(p.numel() for p in build_model(name).parameters())


def _rows() -> list[dict[str, Any]]:
    from compresstracker.models import family_of, get_config, list_models

    rows = []
    for entry in list_models():
        config = get_config(entry["name"])
        family = family_of(config)
        rows.append({
            "name": entry["name"],
            "family": family.name,
            "description": entry["description"],
            **family.summary(config),
            "architecture": family.architecture(config),
            "template_size": config.template_size,
            "search_size": config.search_size,
            "params": _parameter_count(entry["name"]),
            "config": config.to_dict(),
        })
    return rows


@click.group("models")
def models() -> None:
    """Registered tracker architectures.

    \b
    Examples:
      ctrack models list
      ctrack models list --json
      ctrack models formats
    """


@models.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List architectures of every family: structure, input sizes, parameters."""
    rows = _rows()
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Architectures", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("Name", no_wrap=True)
    table.add_column("Family", no_wrap=True)
    table.add_column("Architecture", ratio=1)
    table.add_column("Sizes", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("Description", ratio=1)
    for r in rows:
        table.add_row(
            r["name"], r["family"], r["architecture"], f"{r['template_size']}/{r['search_size']}",
            f"{r['params'] / 1e6:.2f}M", r["description"],
        )
    console.print(table)


@models.command("formats")
@json_option
def formats_cmd(as_json: bool) -> None:
    """List the checkpoint formats ctrack reads (recognised by their keys, not their file names)."""
    from compresstracker.checkpoints import list_formats

    rows = list_formats()
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Checkpoint formats", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("Name", no_wrap=True)
    table.add_column("Description", ratio=1)
    for r in rows:
        table.add_row(r["name"], r["description"])
    console.print(table)
