"""``ctrack datasets``: the benchmark readers ctrack knows."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, emit_json, json_option


# Training sources that are not tracking benchmarks (no sequences to evaluate on), listed so users find them.
TRAINING_ONLY = {
    "name": "coco", "protocol": "training only", "splits": ["train2017", "val2017"], "default_split": "train2017",
    "description": "COCO 2017 (train/compress --data coco=ROOT): still-image pairs from "
    "<root>/annotations/instances_<split>.json and <root>/images/<split>/",
}


@click.group("datasets")
def datasets() -> None:
    """Benchmark datasets and their splits.

    \b
    Examples:
      ctrack datasets list
      ctrack datasets list --json
    """


@datasets.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List registered datasets: name, metric protocol, splits, description."""
    from compresstracker.cli.common import make_table
    from compresstracker.data import list_datasets

    records = list_datasets() + [TRAINING_ONLY]
    if as_json:
        emit_json(records)
        return
    table = make_table("datasets", "name", "protocol", "splits (default first)", "description")
    for record in records:
        default = record["default_split"]
        splits = [default, *(s for s in record["splits"] if s != default)]
        table.add_row(record["name"], record["protocol"] or "per layout", ", ".join(splits), record["description"])
    console.print(table)
