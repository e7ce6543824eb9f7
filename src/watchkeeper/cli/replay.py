"""`watchkeeper replay`: what would have alerted, over historical input, without the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from watchkeeper.cli.common import console, fail
from watchkeeper.clock import known_zone, monotonic
from watchkeeper.feeds.errors import UnreadableFile
from watchkeeper.feeds.models import ServiceStage
from watchkeeper.feeds.parse import AsteriskOptions, Format
from watchkeeper.feeds.replay import read_input, replay
from watchkeeper.feeds.rhythm import Params
from watchkeeper.feeds.schemas import ServiceSettings
from watchkeeper.words import count


def settings_from_yaml(text: str, source: str = "SERVICES.yaml") -> tuple[dict[str, Params], Params]:
    """Per-service Params from YAML: `defaults:` and `services: {name: {stage, sensitivity, ...}}`."""
    import yaml  # only replays with a SERVICES.yaml need it

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("services") or {}, dict):
        raise ValueError(f"{source}: expected 'defaults:' and 'services:' mappings")
    unknown = sorted(str(key) for key in doc if key not in ("defaults", "services"))
    if unknown:  # a typo ('servces:') would otherwise leave every setting unapplied, silently
        raise ValueError(f"{source}: unknown key {', '.join(map(repr, unknown))}; expected 'defaults:' and 'services:'")
    defaults = _mapping(doc.get("defaults"), f"{source}: defaults")
    default = _params(defaults, f"{source}: defaults")
    out = {}
    for name, entry in (doc.get("services") or {}).items():
        where = f"{source}: services.{name}"
        out[str(name)] = _params({**defaults, **_mapping(entry, where)}, where)
    return out, default


def _mapping(entry: Any, where: str) -> dict[str, Any]:
    """A YAML entry of settings: a mapping, or nothing."""
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where}: expected settings such as {{stage: production, max_silence: 6h}}, "
            f"got {type(entry).__name__} {entry!r}"
        )
    return entry


def _params(entry: dict[str, Any], where: str) -> Params:
    values = dict(entry)
    if isinstance(values.get("holidays"), bool):  # YAML 1.1 reads NO (Norway), no, off and on as booleans
        raise ValueError(
            f"{where}: holidays was read as {str(values['holidays']).lower()}: for Norway's holidays "
            "quote the code (holidays: 'NO'); for none, leave holidays out"
        )
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
    services: Annotated[Path | None, typer.Option("--services", help="per-service settings (YAML)")] = None,
    format: Annotated[Format | None, typer.Option("--format", help="default: detected")] = None,
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
    try:
        known_zone(timezone)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    try:  # before the work: a replay can take minutes, and only then find it cannot write
        sink = output.open("w", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}", 2) from exc
    started = monotonic()
    try:
        data = read_input(input, format, asterisk=AsteriskOptions(timezone=timezone))
    except (OSError, UnreadableFile) as exc:
        sink.close()
        raise fail(f"cannot read {input}: {exc}", 2) from exc
    for error in data.errors[:20]:
        console.print(f"[yellow]{input}:{error.line or error.index}[/yellow] {error.field}: {error.reason}")
    alerts = replay(data.series, params, default=default)
    with sink:
        for alert in alerts:
            sink.write(json.dumps(alert.to_json()) + "\n")
    seconds = monotonic() - started
    kinds = {k: sum(1 for a in alerts if a.kind == k) for k in ("silence", "drop", "surge")}
    missing = sum(a.missing or 0.0 for a in alerts)
    console.print(
        f"replayed {count(data.rows, 'row')} ({data.rejected:,} rejected) of {count(len(data.series), 'service')} "
        f"in {seconds:.1f} s: {count(len(alerts), 'alert')} ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
        f"about {missing:,.0f} records missing -> {output}"
    )
