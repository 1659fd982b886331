"""Rule authors' commands: `rarematch rules lint | test | fmt | impact` and `rarematch explain`.

Exit codes follow OPA: 0 ok, 1 the files or the case did not load, 2 program tests failed.
`rules impact` follows `git diff --exit-code` instead: 0 nothing changes, 1 something changes,
2 the rules or the cases did not load (or a usage error).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from rarematch.common.contracts import Case, CriterionStatus
from rarematch.common.contracts.cloudevents import describe_validation_error, parse_body
from rarematch.common.kafka.records import RecordRejected
from rarematch.common.located_yaml import YamlSyntaxError
from rarematch.common.rule_errors import RuleError
from rarematch.eligibility.domain.evaluate import CompiledRules, decide_program
from rarematch.eligibility.domain.impact import Impact, ProgramImpact, impact
from rarematch.eligibility.domain.lifecycle import Change
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.handlers import reject_unknown_codes
from rarematch.eligibility.rulebook.canonical import canonical_yaml
from rarematch.eligibility.rulebook.files import collect_program_files
from rarematch.eligibility.rulebook.parse import RuleSet
from rarematch.eligibility.rulebook.program_tests import run_program_tests
from rarematch.eligibility.rulebook.store import RulesInvalid, compile_validated
from rarematch.eligibility.rulebook.validate import Validation, validate, validate_paths
from rarematch.notifier.adapters.routing_file import ROUTING_FILE

__all__ = ["explain", "rules_app"]

rules_app = typer.Typer(help="Tools for rule authors: validate and test program files.")
Paths = Annotated[
    list[Path] | None,
    typer.Argument(help="Program files, folders of them, or a rules directory [default: rules]"),
]
Format = Annotated[Literal["pretty", "json"], typer.Option("--format", help="pretty or json")]
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@rules_app.command("lint")
def lint(paths: Paths = None, output: Format = "pretty") -> None:
    """Validate program files and routing.yaml: schema, OncoTree codes, HLA alleles, ranges,
    duplicate ids, impossible criteria, routes that do not exist."""
    with _validated(paths, output) as (rule_set, _):
        if output == "json":
            _out.print_json(data={"errors": [], "programs": len(rule_set.programs)})
            return
        _out.print(f"{len(rule_set.programs)} program files OK (rules version {rule_set.version})")


@rules_app.command("test")
def run_tests(paths: Paths = None, output: Format = "pretty") -> None:
    """Run the `tests:` of each program file; report criteria that no test exercises."""
    with _validated(paths, output) as (rule_set, rules):
        folders = {pid: Path(file).parent for pid, file in rule_set.files.items()}
        reports = run_program_tests(rules, folders)
    results = [(report, result) for report in reports for result in report.results]
    failed = sum(not result.passed for _, result in results)
    if output == "json":
        _out.print_json(
            data=[
                {
                    "file": rule_set.files[report.program.id],
                    "program": report.program.id,
                    "tests": [
                        {"note": r.note, "passed": r.passed, "problems": list(r.problems)}
                        for r in report.results
                    ],
                    "unexercised": report.unexercised,
                }
                for report in reports
            ]
        )
    else:
        for report in reports:
            _out.print(f"{rule_set.files[report.program.id]} ({report.program.id})")
            for result in report.results:
                mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
                _out.print(f"  {mark} {result.note}")
                for problem in result.problems:
                    _out.print(f"         {problem}", markup=False)
            if not report.program.tests:
                _out.print("  [yellow]no tests[/]: add eligible, ineligible and needs_info cases")
            if report.unexercised:
                _out.print(
                    "  [yellow]not exercised[/] (no test shows them failing): "
                    + ", ".join(report.unexercised)
                )
        total = len(results)
        verdict = (
            f"[red]FAIL: {failed}/{total}[/]" if failed else f"[green]PASS: {total}/{total}[/]"
        )
        _out.print("-" * 40 + f"\n{verdict}")
    if failed:
        raise typer.Exit(2)


@rules_app.command("fmt")
def fmt(
    paths: Paths = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 listing files that would change")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print a unified diff of the changes")
    ] = False,
) -> None:
    """Rewrite program files (and routing.yaml) canonically: 2-space indent, comments kept."""
    try:
        files = _yaml_files(paths or [Path("rules")])
    except OSError as error:
        _fail(str(error))
    changed, errors = [], []
    for name, data in files:
        try:
            text = data.decode("utf-8")
            formatted = canonical_yaml(text)
        except UnicodeDecodeError as error:
            errors.append(RuleError(name, 1, 1, "not_utf8", f"not UTF-8 text ({error.reason})"))
            continue
        except YamlSyntaxError as error:
            where = error.location
            errors.append(RuleError(name, where.line, where.column, error.code, str(error)))
            continue
        if formatted == text:
            continue
        changed.append(name)
        if diff:
            lines = difflib.unified_diff(
                text.splitlines(keepends=True),
                formatted.splitlines(keepends=True),
                f"{name} (as it is)",
                f"{name} (formatted)",
            )
            typer.echo("".join(lines), nl=False)
        elif check:
            _out.print(f"would reformat {name}", markup=False)
        else:
            Path(name).write_text(formatted, encoding="utf-8")
            _out.print(f"reformatted {name}", markup=False)
    if errors:
        _report(errors, dict(files), "pretty")
    verb = "would be reformatted" if check or diff else "reformatted"
    _err.print(f"{len(changed)} file(s) {verb}, {len(files) - len(changed)} unchanged")
    if check and changed:
        raise typer.Exit(1)


def _yaml_files(paths: list[Path]) -> list[tuple[str, bytes]]:
    """Program files as `rules lint` finds them, and the routing.yaml of a rules directory."""
    files = dict(collect_program_files(paths))
    for path in paths:
        routing = path / ROUTING_FILE
        if routing.is_file():
            files[str(routing)] = routing.read_bytes()
    return sorted(files.items())


def explain(
    case_file: Annotated[Path, typer.Argument(help="A case JSON file (the case event body)")],
    program: Annotated[str | None, typer.Option(help="Only this program id")] = None,
    rules_dir: Annotated[Path, typer.Option("--rules", help="Rules directory")] = Path("rules"),
) -> None:
    """Explain a case against every program (or one): each criterion and the roll-up."""
    try:
        case = parse_body(Case, case_file.read_bytes())
    except OSError as unreadable:
        _fail(f"{case_file}: {unreadable.strerror}")
    except ValidationError as invalid:
        _fail(f"{case_file}: {describe_validation_error(invalid)}")
    with _validated([rules_dir], "pretty") as (rule_set, rules):
        programs = [p for p in rule_set.programs if program in (None, p.id)]
        if not programs:
            _fail(f"no program '{program}' in {rules_dir}; known: {', '.join(rule_set.files)}")
        now = datetime.now(UTC)
        for item in programs:
            decision = decide_program(case, item, rules, now)
            table = Table(title=f"{item.id}: {item.title}", title_justify="left", expand=False)
            for column in ("status", "criterion", "value seen", "protocol text"):
                table.add_column(column, overflow="fold")
            for c in decision.criteria:
                table.add_row(
                    _STATUS_STYLE[c.status],
                    f"{c.section}/{c.criterion_id}" + (" (defining)" if c.defining else ""),
                    c.observed or "-",
                    c.text,
                )
            _out.print(table)
            closed = " (program closed: not matched)" if item.status == "closed" else ""
            tier = f", tier {decision.tier.value}" if decision.tier else ""
            _out.print(f"[bold]outcome: {decision.outcome.value}{tier}[/]{closed}")
            if decision.facts_to_collect:
                _out.print("to collect: " + "; ".join(decision.facts_to_collect), markup=False)
            _out.print(f"rules version {decision.rules_version}\n", style="dim")


_STATUS_STYLE = {
    CriterionStatus.MET: "[green]met[/]",
    CriterionStatus.NOT_MET: "[red]not met[/]",
    CriterionStatus.UNKNOWN: "[yellow]unknown[/]",
}


@contextmanager
def _validated(paths: list[Path] | None, output: str) -> Iterator[tuple[RuleSet, CompiledRules]]:
    """The service's own validation and compilation of the files; report errors and exit 1."""
    validation = validate_paths(paths or [Path("rules")], bundled_oncotree())
    with _compiled(validation, output) as rules:
        assert validation.rule_set is not None
        yield validation.rule_set, rules


@contextmanager
def _compiled(validation: Validation, output: str, code: int = 1) -> Iterator[CompiledRules]:
    """Compile what was validated as the service does; on errors report them as `lint` does
    and exit with `code`."""
    try:
        rules = compile_validated(validation, bundled_oncotree())
    except RulesInvalid as invalid:
        _report(invalid.errors, validation.sources, output, code)
    try:
        yield rules
    finally:
        rules.engine.close()


def _report(
    errors: list[RuleError], sources: dict[str, bytes], output: str, code: int = 1
) -> NoReturn:
    if output == "json":
        _out.print_json(data={"errors": [_error_json(e) for e in errors]})
    else:
        for problem in errors:
            _err.print(_error_text(problem, sources.get(problem.file, b"")), markup=False)
        count = len({e.file for e in errors})
        _err.print(f"{len(errors)} error(s) in {count} file(s)", markup=False)
    raise typer.Exit(code)


_QUOTE_CHARS = 160
"""The longest source line quoted under an error (an oversized file may be one line)."""


def _error_text(error: RuleError, source: bytes) -> str:
    lines = source.decode("utf-8", "replace").splitlines()
    text = str(error)
    if 0 < error.line <= len(lines):
        line = lines[error.line - 1]
        if len(line) > _QUOTE_CHARS:
            line = line[:_QUOTE_CHARS] + " ..."
        caret = f"\n    {' ' * (error.column - 1)}^" if error.column <= _QUOTE_CHARS else ""
        text += f"\n    {line}{caret}"
    return text


def _error_json(error: RuleError) -> dict[str, object]:
    return {
        "file": error.file,
        "line": error.line,
        "column": error.column,
        "code": error.code,
        "message": error.message,
    }


def _fail(message: str, code: int = 1) -> NoReturn:
    _err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


IMPACT_CHANGES = 1
"""`rules impact` exit code when any decision changes (0: none; 2: nothing could be compared)."""
IMPACT_INVALID = 2


@rules_app.command("impact")
def impact_command(
    proposed: Annotated[
        Path, typer.Argument(metavar="PROPOSED_RULES", help="The proposed rules directory")
    ],
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases", help="Active cases: a .jsonl file, one case event body (JSON) per line"
        ),
    ] = None,
    from_topic: Annotated[
        bool,
        typer.Option(
            "--from-topic",
            help="Active cases from the case-state topic (RAREMATCH_KAFKA_BOOTSTRAP, "
            "RAREMATCH_CASE_STATE_TOPIC and the Kafka security settings)",
        ),
    ] = False,
    base: Annotated[
        Path, typer.Option("--base", help="The rules directory the service runs now")
    ] = Path("rules"),
    output: Format = "pretty",
) -> None:
    """Preview what the service would publish after reloading PROPOSED rules: per program, the
    cases newly eligible, newly needs_info, revoked, changed (outcome or facts to collect) and
    unchanged (case ids only). Exit 0 when nothing changes, 1 when anything does, 2 when the
    rules or the cases do not load. Cases come from a file (--cases) or, read as the service
    restores them, from the compacted case-state topic (--from-topic)."""
    if (cases is None) == (not from_topic):
        _fail("give --cases FILE.jsonl or --from-topic (one of them)", IMPACT_INVALID)
    lines = _file_lines(cases) if cases is not None else _topic_lines()
    now = datetime.now(UTC)
    oncotree = bundled_oncotree()  # the service's load_rules: validate, then compile
    with (
        _compiled(validate(base, oncotree), output, IMPACT_INVALID) as base_rules,
        _compiled(validate(proposed, oncotree), output, IMPACT_INVALID) as proposed_rules,
    ):
        active, skipped = _read_cases(lines, base_rules)
        result = impact(active, base_rules, proposed_rules, now)
    for case_id, why in result.rejected:
        skipped.append(f"case {case_id}: the engine refused it ({why}); not compared")
    if output == "json":
        _out.print_json(data=_impact_json(result, base_rules, proposed_rules, skipped))
    else:
        for problem in skipped:
            _err.print(problem, markup=False)
        _print_impact(result, base_rules, proposed_rules, len(skipped))
    if result.changes:
        raise typer.Exit(IMPACT_CHANGES)


def _file_lines(path: Path) -> tuple[str, list[tuple[str, bytes]]]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as unreadable:
        _fail(f"{path}: {unreadable.strerror}", IMPACT_INVALID)
    return str(path), [(f"{path}:{n}", line) for n, line in enumerate(lines, start=1)]


def _topic_lines() -> tuple[str, list[tuple[str, bytes]]]:
    """The active cases of the case-state topic, with the service's own settings and reader."""
    from rarematch.common.kafka.security import client_security
    from rarematch.common.settings import EligibilitySettings, SettingsError, load_settings
    from rarematch.eligibility.adapters.changelog import active_cases

    try:
        settings = load_settings(EligibilitySettings)
    except SettingsError as error:
        _fail("; ".join(error.problems), IMPACT_INVALID)
    topic = settings.case_state_topic
    try:
        cases = active_cases(
            settings.kafka_bootstrap,
            client_security(settings),
            topic,
            settings.decision_state_topic,
        )
    except Exception as error:  # unreachable broker, missing topic: say where, exit 2
        _fail(
            f"{topic} on {settings.kafka_bootstrap}: {type(error).__name__}: {error}",
            IMPACT_INVALID,
        )
    return topic, [(f"{topic} key {case_id}", value) for case_id, value in cases]


def _read_cases(
    source: tuple[str, list[tuple[str, bytes]]], rules: CompiledRules
) -> tuple[list[Case], list[str]]:
    """Valid cases, read as the service reads case events; a later line with the same case id
    replaces an earlier one (the latest version is the active case). A bad line is reported
    where it is (file:line) and skipped; no valid case at all is an error."""
    path, lines = source
    active: dict[str, Case] = {}
    skipped: list[str] = []
    for where, line in lines:
        if not line.strip():
            continue
        try:
            case = parse_body(Case, line)
            reject_unknown_codes(case, rules)
        except ValidationError as invalid:
            skipped.append(f"{where}: {describe_validation_error(invalid)}; line skipped")
            continue
        except RecordRejected as rejected:
            skipped.append(f"{where}: {rejected}; line skipped")
            continue
        active.pop(case.case_id, None)
        active[case.case_id] = case
    if not active:
        for problem in skipped:
            _err.print(problem, markup=False)
        _fail(f"{path}: no valid case (one case JSON body per line)", IMPACT_INVALID)
    return list(active.values()), skipped


def _change_json(case_id: str, change: Change) -> dict[str, object]:
    return {
        "case_id": case_id,
        "outcome": change.outcome.value,
        "previous": change.previous.value if change.previous else None,
        "reason": change.reason.value,
        "failing_criterion": change.failing_criterion,
    }


def _impact_json(
    result: Impact, base: CompiledRules, proposed: CompiledRules, skipped: list[str]
) -> dict[str, object]:
    return {
        "base_version": base.version,
        "proposed_version": proposed.version,
        "cases": result.cases,
        "skipped": skipped,
        "changes": result.changes,
        "programs": [
            {
                "program_id": p.program_id,
                "status": p.status,
                "newly_eligible": p.newly_eligible,
                "newly_needs_info": p.newly_needs_info,
                "revoked": [_change_json(case_id, c) for case_id, c in p.revoked],
                "changed": [_change_json(case_id, c) for case_id, c in p.changed],
                "unchanged": p.unchanged,
            }
            for p in result.programs
        ],
    }


def _print_impact(
    result: Impact, base: CompiledRules, proposed: CompiledRules, skipped: int
) -> None:
    _out.print(
        f"{result.cases} case(s), rules {base.version} -> {proposed.version}"
        + (f"; {skipped} skipped (see above)" if skipped else ""),
        markup=False,
    )
    quiet = [p for p in result.programs if not p.changes and p.status in _QUIET]
    for program in result.programs:
        if program not in quiet:
            _print_program(program)
    if quiet:
        _out.print(f"{len(quiet)} other program(s): same content, no change", markup=False)
    _out.print(f"{result.changes} change(s)", markup=False)


_QUIET = ("same", "closed_both")


def _print_program(program: ProgramImpact) -> None:
    _out.print(f"[bold]{program.program_id}[/] ({program.status.replace('_', ' ')})")
    rows: list[tuple[str, list[str]]] = [
        ("newly eligible", program.newly_eligible),
        ("newly needs_info", program.newly_needs_info),
        ("revoked", [_described(case_id, c) for case_id, c in program.revoked]),
        ("changed", [_described(case_id, c) for case_id, c in program.changed]),
        ("unchanged", program.unchanged),
    ]
    for label, ids in rows:
        listed = f": {', '.join(ids)}" if ids else ""
        _out.print(f"  {label:<17}{len(ids):>5}{listed}", markup=False)


def _described(case_id: str, change: Change) -> str:
    why = change.failing_criterion or change.reason.value
    was = change.previous.value if change.previous else "none"
    now = change.outcome.value
    return f"{case_id} ({was} -> {now}, {why})" if now != "revoked" else f"{case_id} ({was}, {why})"
