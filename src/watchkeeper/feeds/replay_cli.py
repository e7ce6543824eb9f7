"""`watchkeeper replay`: what would have alerted, over historical input, without the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from watchkeeper.cli_common import console, fail
from watchkeeper.clock import monotonic
from watchkeeper.feeds.models import ServiceStage
from watchkeeper.feeds.parse import AsteriskOptions, Format, UnreadableFile
from watchkeeper.feeds.replay import read_input, replay
from watchkeeper.feeds.rhythm import Params
from watchkeeper.feeds.schemas import ServiceSettings


def settings_from_yaml(text: str, source: str = "SERVICES.yaml") -> tuple[dict[str, Params], Params]:
    import yaml  # only replays with a SERVICES.yaml need it

    """Per-service Params from YAML: `defaults:` and `services: {name: {stage, sensitivity, ...}}`."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("services", {}), dict):
        raise ValueError(f"{source}: expected 'defaults:' and 'services:' mappings")
    defaults = doc.get("defaults") or {}
    default = _params(defaults, f"{source}: defaults")
    out = {str(name): _params({**defaults, **(entry or {})}, f"{source}: services.{name}")
           for name, entry in doc.get("services", {}).items()}  # fmt: skip
    return out, default


def _params(entry: dict[str, Any], where: str) -> Params:
    values = dict(entry)
    stage = str(values.pop("stage", ServiceStage.PRODUCTION))
    if stage not in set(ServiceStage):
        raise ValueError(f"{where}: stage {stage!r} is not one of {', '.join(ServiceStage)}")
    try:
        return ServiceSettings.model_validate(values).params(stage)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where}: {problems}") from exc


def replay_command(
    input: Annotated[Path, typer.Argument(help="usage-csv (timestamp,service,count) or Asterisk Master.csv")],
    output: Annotated[Path, typer.Option("--output", "-o", help="alerts, one JSON object per line")],
    services: Annotated[Path | None, typer.Option("--services", help="per-service settings (YAML)")] = None,  # noqa: UP007
    format: Annotated[Format | None, typer.Option("--format", help="default: detected")] = None,  # noqa: UP007
    timezone: Annotated[str, typer.Option(help="time zone of Asterisk dates")] = "UTC",
) -> None:
    """Replay history through the feed model on a simulated clock: what would have alerted?"""
    params: dict[str, Params] = {}
    default = Params()
    if services is not None:
        try:
            params, default = settings_from_yaml(services.read_text(encoding="utf-8"), services.name)
        except (OSError, ValueError) as exc:
            raise fail(str(exc), 2) from exc
    started = monotonic()
    try:
        data = read_input(input, format, asterisk=AsteriskOptions(timezone=timezone))
    except (OSError, UnreadableFile) as exc:
        raise fail(f"cannot read {input}: {exc}", 2) from exc
    for error in data.errors[:20]:
        console.print(f"[yellow]{input}:{error.line or error.index}[/yellow] {error.field}: {error.reason}")
    alerts = replay(data.series, params, default=default)
    with output.open("w", encoding="utf-8") as sink:
        for alert in alerts:
            sink.write(json.dumps(alert.to_json()) + "\n")
    seconds = monotonic() - started
    kinds = {k: sum(1 for a in alerts if a.kind == k) for k in ("silence", "drop", "surge")}
    console.print(
        f"replayed {data.rows:,} rows ({data.rejected:,} rejected) of {len(data.series):,} services "
        f"in {seconds:.1f} s: {len(alerts)} alerts ({', '.join(f'{v} {k}' for k, v in kinds.items())}) -> {output}"
    )
