"""`veil alerts run|list|show|review|export`: reincorporation alerts for the inspectors.

Alerts are printed and exported as `service.api.disclosure.printed` shows them (ID masks
without the birth month and day, no resident ID inside a text), alerts stored by a sweep
from before evidence was built so included."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import neo4j
import typer
from rich.table import Table
from rich.text import Text

from alerts.answers import Alert, EvidenceTarget, Mention
from alerts.store import (
    AlertFilter,
    export,
    get_alert,
    latest_full_sweep,
    list_alerts,
    review,
    sweep,
)
from config.graph import load_graph_config
from config.rules import load_rules
from service.api.disclosure import printed
from service.cmd_graph import AS_OF_HELP, CONFIG_HELP, graph_driver, parse_as_of
from service.console import console, print_json, run_guarded, styled

alerts_app = typer.Typer(no_args_is_help=True, help="Reincorporation alerts: run, list, review.")

RULES_HELP = "rules file (default: $VEIL_RULES or config/rules.yaml)"


def run(
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    since: str | None = typer.Option(
        None, "--since", help="only roles that started on or after this day (after a wave)"
    ),
    rules: Path | None = typer.Option(None, "--rules", help=RULES_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    rule_set = load_rules(rules)
    graph_config = load_graph_config(config)
    day, first = parse_as_of(as_of), parse_as_of(since, "--since")
    with graph_driver(json_output) as (driver, database):
        with console.status("Evaluating the alert rules..."):
            summary = sweep(
                driver,
                rule_set,
                graph_config.control,
                day,
                first,
                database,
                graph_config.load.atomic_rows,
            )
        if json_output:
            print_json(sweep_counts(summary.as_dict()))
            return
        new = [printed(a) for a in list_alerts(driver, AlertFilter(sweep_id=summary.id), database)]
    print_sweep(summary.as_dict())
    if new:
        print_alerts(new, f"new in this sweep ({len(new)})")


def sweep_counts(summary: dict[str, Any]) -> dict[str, Any]:
    """The sweep as counts (a sweep at 100,000 companies raises tens of thousands of alerts:
    their evidence belongs in `veil alerts export`, not in a summary)."""
    counted = ("new", "reopened", "identity_conflicts")
    return {
        **{k: v for k, v in summary.items() if k not in counted},
        **{k: len(summary[k]) for k in counted},
        "details": "veil alerts list --new --json; veil alerts export FILE.jsonl|FILE.csv",
    }


def print_sweep(summary: dict[str, Any]) -> None:
    table = Table(title=f"alert sweep {summary['sweep']} as of {summary['as_of']}")
    for column in ("rule", "triggering records", "persons reached", "alerts raised"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rule, n in summary["triggers"].items():
        table.add_row(
            rule,
            f"{n:,}",
            f"{summary['persons_reached'].get(rule, 0):,}",
            f"{summary['raised'].get(rule, 0):,}",
        )
    console.print(table)
    console.print(
        f"new: {len(summary['new'])}, reopened (evidence changed after a dismissal): "
        f"{len(summary['reopened'])}, withdrawn (no longer raised): {summary['withdrawn']}, "
        f"{summary['seconds']['total']:.1f} s"
    )
    if summary["identity_conflicts"]:
        console.print(
            Text(
                f"not raised: {len(summary['identity_conflicts'])} findings where the "
                "resident IDs on the old and the new record cannot be one person's (a linkage "
                "error to review with `veil explain`)",
                style="yellow",
            )
        )
    if summary.get("doubtful"):
        console.print(
            Text(
                f"{sum(summary['doubtful'].values()):,} alerts raised with a doubt in their "
                "evidence (a triggering company that matches no registry record: the company "
                "alerted may be that company written another way); see `evidence.doubts`",
                style="yellow",
            )
        )
    if summary["undated_triggers"]:
        console.print(
            Text(
                f"{summary['undated_triggers']} triggering records carry no date and "
                "open no window: check their source",
                style="yellow",
            )
        )


def print_alerts(alerts: list[Alert], title: str) -> None:
    table = Table(title=title)
    for column in (
        "id",
        "rule",
        "status",
        "person",
        "role",
        "company",
        "region",
        "since",
        "window end",
    ):
        table.add_column(column, no_wrap=column == "id")
    for a in alerts:
        table.add_row(
            a.id,
            a.rule,
            a.status + ("" if a.active else " (inactive)"),
            a.person_name or a.person_id,
            a.role,
            a.company_name or a.company_id,
            a.region_code or "",
            str(a.role_start or "?"),
            str(a.window_end or "open"),
        )
    console.print(table)


def print_alert(alert: Alert) -> None:
    """One alert in full, in the order an inspector reads it."""
    alert = printed(alert)
    ev = alert.evidence
    rule, trigger, target = ev.rule, ev.trigger, ev.target
    company = target.company
    console.print(
        styled(
            (alert.id, "bold"),
            f"  {rule.id} ({rule.severity})  status: {alert.status}",
        )
    )
    console.print(styled(("Rule", "bold"), f" {rule.title}\n  {rule.legal_basis}"))
    source = trigger.company
    what = ", ".join(trigger.categories or []) or trigger.list_name or ""
    console.print(
        styled(
            ("Trigger", "bold"),
            f" {trigger.kind} {trigger.reference or ''} "
            f"({trigger.source}:{trigger.record_id}) on {trigger.day}: {what}"
            + (f"; removed {trigger.removed}" if trigger.removed else "")
            + (f"; management period ends {trigger.expires}" if trigger.expires else "")
            + (f"\n  against {source.name} ({source.uscc or source.entity_id})" if source else ""),
        )
    )
    person = ev.person
    console.print(
        styled(
            ("Person", "bold"),
            f" {person.name} {person.entity_id} "
            f"IDs {', '.join(person.id_masks) or 'none on record'}",
        )
    )
    for tie in ev.ties:
        detail = tie.model_dump(mode="json", exclude={"how", "records", "paths"}, exclude_none=True)
        console.print(
            f"  tied as {tie.how}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in detail.items())})" if detail else "")
            + f" via {', '.join(tie.records)}",
            highlight=False,
        )
    identity = ev.identity
    console.print(
        styled(
            ("Identity", "bold"),
            " old record: "
            + "; ".join(_mention(m) for m in identity.old_mentions)
            + "\n  new record: "
            + "; ".join(_mention(m) for m in identity.new_mentions),
        )
    )
    for hop in identity.path or []:
        levels = ", ".join(f"{lv.comparison}={lv.level} ({lv.match_weight:+})" for lv in hop.levels)
        console.print(
            f"  {_mention(hop.from_)} = {_mention(hop.to)}: {hop.evidence}, "
            f"p={hop.match_probability:.4f}" + (f" [{levels}]" if levels else ""),
            highlight=False,
        )
    if identity.note:
        console.print(f"  ({identity.note})", highlight=False)
    console.print(
        styled(
            ("Target", "bold"),
            f" {target.role} of {company and company.name} "
            f"({company and (company.uscc or company.entity_id)}, industry "
            f"{company and company.industry_code}, region {company and company.region_code}) "
            f"from {target.start or _unknown_start(target)}"
            + (f" until {target.end}" if target.end else "")
            + (" (began before the trigger and continued)" if target.began_before_trigger else "")
            + (" (the company's end closed the role)" if target.end_by_company else "")
            + (
                " (the company has ended, on a day no record gives: the role may have "
                "ended with it)"
                if target.company_ended_undated
                else ""
            ),
        )
    )
    for path in target.control.paths if target.control else []:
        console.print(f"  {path}", highlight=False)
    window = ev.window
    console.print(
        styled(
            ("Window", "bold"),
            f" {window.start} to {window.end or 'open'} ({window.period})",
        )
    )


def _mention(m: Mention) -> str:
    return f"{m.name or '?'} [{m.id or 'no ID'}] ({m.mention})"


STATUS_HELP = "new, acknowledged, confirmed, dismissed"
REGION_HELP = "region code prefix, e.g. 3101"
INDUSTRY_HELP = "GB/T 4754 code prefix, e.g. F52 or H62"
SINCE_HELP = "only alerts raised or changed on or after this day (YYYY-MM-DD, UTC)"
NEW_HELP = "only those new in the latest full sweep"


@dataclass(frozen=True)
class FilterOptions:
    """The filters `veil alerts list` and `export` both take, written once: each field is
    one option (`takes_filters` gives a command all of them)."""

    status: Annotated[str | None, typer.Option("--status", help=STATUS_HELP)] = None
    rule: Annotated[str | None, typer.Option("--rule", help="a rule id from rules.yaml")] = None
    region: Annotated[str | None, typer.Option("--region", help=REGION_HELP)] = None
    industry: Annotated[str | None, typer.Option("--industry", help=INDUSTRY_HELP)] = None
    since: Annotated[str | None, typer.Option("--since", help=SINCE_HELP)] = None
    new: Annotated[bool, typer.Option("--new", help=NEW_HELP)] = False
    include_inactive: Annotated[
        bool, typer.Option("--all", help="also alerts no longer raised")
    ] = False

    def alert_filter(self, driver: neo4j.Driver, database: str) -> AlertFilter:
        """The store's filter; `--new`: those first raised or reopened by the latest full
        sweep."""
        return AlertFilter(
            status=self.status,
            rule=self.rule,
            region=self.region,
            industry=self.industry,
            since=parse_as_of(self.since, "--since"),
            sweep_id=latest_full_sweep(driver, database) if self.new else None,
            include_inactive=self.include_inactive,
        )


def takes_filters(command: Callable[..., None]) -> Callable[..., None]:
    """`command(..., filters: FilterOptions, ...)` as typer sees it: FilterOptions' fields
    as options in place of `filters`, gathered back into one FilterOptions on each call
    (typer has no dependencies of its own)."""
    names = [f.name for f in fields(FilterOptions)]
    hints = get_type_hints(FilterOptions, include_extras=True)
    own = inspect.signature(command, eval_str=True)
    kind = own.parameters["filters"].kind
    options = [
        inspect.Parameter(f.name, kind, default=f.default, annotation=hints[f.name])
        for f in fields(FilterOptions)
    ]
    parameters: list[inspect.Parameter] = []
    for parameter in own.parameters.values():
        parameters += options if parameter.name == "filters" else [parameter]

    @functools.wraps(command)
    def with_filters(**given: Any) -> None:
        chosen = {name: given.pop(name) for name in names}
        command(**given, filters=FilterOptions(**chosen))

    # typer reads a command's options from its signature (inspect honours __signature__,
    # which typeshed does not declare on functions: hence the ignore).
    with_filters.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    return with_filters


@takes_filters
def list_command(
    filters: FilterOptions,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        alerts = [
            printed(a)
            for a in list_alerts(driver, filters.alert_filter(driver, database), database)
        ]
    if json_output:
        print_json([a.model_dump(mode="json") for a in alerts])
    else:
        print_alerts(alerts, f"{len(alerts)} alerts")


def show(
    alert: str = typer.Argument(..., help="an alert ID"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        found = printed(get_alert(driver, alert, database))
    if json_output:
        print_json(found.model_dump(mode="json"))
    else:
        print_alert(found)


def review_command(
    alert: str = typer.Argument(..., help="an alert ID"),
    status: str = typer.Option(..., "--status", help="acknowledged, confirmed, dismissed, new"),
    reviewer: str = typer.Option(..., "--reviewer", help="who decides"),
    reason: str = typer.Option("", "--reason", help="why (required to dismiss)"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        found = printed(review(driver, alert, status, reviewer, reason, database))
    if json_output:
        print_json(found.model_dump(mode="json"))
    else:
        console.print(f"{found.id}: {found.status} by {found.reviewer}", highlight=False)


@takes_filters
def export_command(
    path: Path = typer.Argument(..., help="a .jsonl (full evidence) or .csv file"),
    *,
    filters: FilterOptions,
) -> None:
    with graph_driver() as (driver, database):
        alerts = [
            printed(a)
            for a in list_alerts(driver, filters.alert_filter(driver, database), database)
        ]
    n = export(alerts, path)
    console.print(f"{n} alerts written to {path}", highlight=False)


alerts_app.command("run", help="Evaluate every rule over the graph and store the alerts.")(
    run_guarded(run)
)
alerts_app.command(
    "list", help="List alerts (filters: status, rule, region, industry, since, new)."
)(run_guarded(list_command))
alerts_app.command("show", help="One alert in full, with its evidence.")(run_guarded(show))
alerts_app.command("review", help="Acknowledge, confirm or dismiss an alert.")(
    run_guarded(review_command)
)
alerts_app.command("export", help="Write alerts to JSONL or CSV.")(run_guarded(export_command))


def _unknown_start(target: EvidenceTarget) -> str:
    bound = target.start_no_earlier_than
    return (
        f"an unknown date (no earlier than {bound}, the company's establishment)"
        if bound
        else "an unknown date"
    )
