"""``ctrack models``: the registered tracker architectures."""
from __future__ import annotations

from typing import Any

import click

from compresstracker.cli.common import console, emit_json, json_option, make_table


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
    # Names are never cut ("ack_045025…") nor folded, so `ctrack models list | grep vitb` finds whole rows.
    name = ("Name", {"no_wrap": True, "min_width": max(len(r["name"]) for r in rows)})
    table = make_table("Architectures", name, "Family", ("Architecture", {"ratio": 1}), ("Sizes", {"no_wrap": True}),
                       ("Params", {"justify": "right", "no_wrap": True}), ("Description", {"ratio": 1}), collapse_padding=True)
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
    table = make_table("Checkpoint formats", "Name", ("Description", {"ratio": 1}), collapse_padding=True)
    for r in rows:
        table.add_row(r["name"], r["description"])
    console.print(table)
