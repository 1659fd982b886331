"""`rarematch`: run the services, the local broker, the demo, and the rule authors' tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import BaseModel

from rarematch.authoring import explain, rules_app
from rarematch.localkafka import kafka_app

__all__ = ["DECISION_STATE_SCHEMA", "PROGRAM_SCHEMA", "app"]

PROGRAM_SCHEMA = "program.schema.json"
DECISION_STATE_SCHEMA = "decision-state.schema.json"
"""The eligibility service's changelog values (rarematch.decision-state)."""
"""Point editors at this (e.g. `# yaml-language-server: $schema=...`) to validate while typing."""

app = typer.Typer(
    help="Eligibility matching for rare-cancer gene- and cell-therapy programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(rules_app, name="rules", no_args_is_help=True)
app.command()(explain)
schemas_app = typer.Typer(help="JSON Schemas of the event contracts.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


@app.command()
def eligibility() -> None:
    """Run the eligibility service (settings from RAREMATCH_* environment variables)."""
    from rarematch.eligibility.__main__ import main

    main()


@app.command()
def notifier(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send and store nothing")
    ] = False,
) -> None:
    """Run the notifier service (settings from RAREMATCH_* environment variables)."""
    from rarematch.notifier.__main__ import main

    main(dry_run=dry_run)


@app.command()
def publish(
    paths: Annotated[list[Path], typer.Argument(help="Case JSON files or directories of them")],
    event: Annotated[str, typer.Option(help="submitted, updated or withdrawn")] = "submitted",
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap; default RAREMATCH_KAFKA_BOOTSTRAP")
    ] = None,
) -> None:
    """Publish case files as CloudEvents to the cases topic (a stand-in intake system)."""
    from rarematch.common.kafka.security import client_security
    from rarematch.common.service import settings_from_env
    from rarematch.common.settings import KafkaSettings
    from rarematch.publish import EVENT_TYPES, PublishError, case_files, publish_cases

    if event not in EVENT_TYPES:
        _fail(f"--event must be one of {', '.join(EVENT_TYPES)}")
    settings = settings_from_env(KafkaSettings)
    try:
        ids = publish_cases(
            case_files(paths),
            bootstrap or settings.kafka_bootstrap,
            settings.cases_topic,
            event,
            security=client_security(settings),
        )
    except PublishError as error:
        _fail(str(error))
    typer.echo(f"published {len(ids)} case.{event} events to {settings.cases_topic}")


@app.command()
def demo(
    rules: Annotated[Path, typer.Option(help="Rules directory")] = Path("rules"),
    cases: Annotated[Path, typer.Option(help="Sample cases directory")] = Path("examples/cases"),
    logs: Annotated[Path, typer.Option(help="Where service logs go")] = Path("var/demo"),
) -> None:
    """Broker, both services and a loopback SMTP server; publish the sample cases; print emails."""
    from rarematch.common.service import settings_from_env
    from rarematch.common.settings import DemoSettings, EligibilitySettings, NotifierSettings
    from rarematch.demo import run_demo
    from rarematch.localkafka import BrokerError

    settings = settings_from_env(DemoSettings, children=(EligibilitySettings, NotifierSettings))
    try:
        raise typer.Exit(run_demo(rules, cases, logs, settings))
    except BrokerError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        typer.echo("interrupted; everything was stopped", err=True)
        raise typer.Exit(130) from None


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path, typer.Argument(help="Where to write")] = Path("schemas"),
    check: Annotated[bool, typer.Option(help="Fail if files differ instead of writing")] = False,
) -> None:
    """Write the JSON Schemas of event bodies and program files (`--check`: drift, no writes)."""
    from rarematch.common.contracts.schemas import EVENT_SCHEMAS, render_schema
    from rarematch.eligibility.domain.criteria import Program
    from rarematch.eligibility.domain.lifecycle import DecisionState

    schemas: dict[str, type[BaseModel]] = {
        **EVENT_SCHEMAS,
        PROGRAM_SCHEMA: Program,
        DECISION_STATE_SCHEMA: DecisionState,
    }
    stale = []
    for name, model in schemas.items():
        path, text = directory / name, render_schema(model)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        _fail(f"out of date: {', '.join(stale)}; run `rarematch schemas export`")
    typer.echo("schemas up to date" if check else f"wrote {len(schemas)} schemas to {directory}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
