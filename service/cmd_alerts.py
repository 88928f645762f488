"""`veil alerts run|list|show|review|export`: reincorporation alerts for the inspectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from alerts.store import (
    export,
    get_alert,
    latest_full_sweep,
    list_alerts,
    review,
    sweep,
)
from config.graph import load_graph_config
from config.rules import load_rules
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
    settings = load_graph_config(config).control
    day, first = parse_as_of(as_of), parse_as_of(since)
    with graph_driver(json_output) as (driver, database):
        with console.status("Evaluating the alert rules..."):
            summary = sweep(driver, rule_set, settings, day, first, database)
        if json_output:
            print_json(sweep_counts(summary.as_dict()))
            return
        new = list_alerts(driver, sweep_id=summary.id, database=database)
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


def print_alerts(alerts: list[dict[str, Any]], title: str) -> None:
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
            a["id"],
            a["rule"],
            a["status"] + ("" if a.get("active", True) else " (inactive)"),
            a.get("person_name") or a["person_id"],
            a["role"],
            a.get("company_name") or a["company_id"],
            a.get("region_code") or "",
            a.get("role_start") or "?",
            a.get("window_end") or "open",
        )
    console.print(table)


def print_alert(alert: dict[str, Any]) -> None:
    """One alert in full, in the order an inspector reads it."""
    ev = alert["evidence"]
    rule, trigger, target = ev["rule"], ev["trigger"], ev["target"]
    company = target["company"] or {}
    console.print(
        styled(
            (alert["id"], "bold"),
            f"  {rule['id']} ({rule['severity']})  status: {alert['status']}",
        )
    )
    console.print(styled(("Rule", "bold"), f" {rule['title']}\n  {rule['legal_basis']}"))
    source = trigger.get("company") or {}
    what = ", ".join(trigger.get("categories") or []) or trigger.get("list", "")
    console.print(
        styled(
            ("Trigger", "bold"),
            f" {trigger['kind']} {trigger.get('reference') or ''} "
            f"({trigger['source']}:{trigger['record_id']}) on {trigger['date']}: {what}"
            + (f"; removed {trigger['removed']}" if trigger.get("removed") else "")
            + (f"; management period ends {trigger['expires']}" if trigger.get("expires") else "")
            + (
                f"\n  against {source.get('name')} "
                f"({source.get('uscc') or source.get('entity_id')})"
                if source
                else ""
            ),
        )
    )
    person = ev["person"]
    console.print(
        styled(
            ("Person", "bold"),
            f" {person['name']} {person['entity_id']} "
            f"IDs {', '.join(person['id_masks']) or 'none on record'}",
        )
    )
    for tie in ev["ties"]:
        detail = {k: v for k, v in tie.items() if k not in ("how", "records", "paths")}
        console.print(
            f"  tied as {tie['how']}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in detail.items())})" if detail else "")
            + f" via {', '.join(tie['records'])}",
            highlight=False,
        )
    identity = ev["identity"]
    console.print(
        styled(
            ("Identity", "bold"),
            " old record: "
            + "; ".join(_mention(m) for m in identity["old_mentions"])
            + "\n  new record: "
            + "; ".join(_mention(m) for m in identity["new_mentions"]),
        )
    )
    for hop in identity.get("path", []):
        levels = ", ".join(
            f"{lv['comparison']}={lv['level']} ({lv['match_weight']:+})" for lv in hop["levels"]
        )
        console.print(
            f"  {_mention(hop['from'])} = {_mention(hop['to'])}: {hop['evidence']}, "
            f"p={hop['match_probability']:.4f}" + (f" [{levels}]" if levels else ""),
            highlight=False,
        )
    if identity.get("note"):
        console.print(f"  ({identity['note']})", highlight=False)
    console.print(
        styled(
            ("Target", "bold"),
            f" {target['role']} of {company.get('name')} "
            f"({company.get('uscc') or company.get('entity_id')}, industry "
            f"{company.get('industry_code')}, region {company.get('region_code')}) from "
            f"{target['start'] or _unknown_start(target)}"
            + (f" until {target['end']}" if target["end"] else "")
            + (
                " (began before the trigger and continued)"
                if target["began_before_trigger"]
                else ""
            )
            + (" (the company's end closed the role)" if target.get("end_by_company") else "")
            + (
                " (the company has ended, on a day no record gives: the role may have "
                "ended with it)"
                if target.get("company_ended_undated")
                else ""
            ),
        )
    )
    for path in (target.get("control") or {}).get("paths", []):
        console.print(f"  {path}", highlight=False)
    window = ev["window"]
    console.print(
        styled(
            ("Window", "bold"),
            f" {window['start']} to {window['end'] or 'open'} ({window['period']})",
        )
    )


def _mention(m: dict[str, Any]) -> str:
    return f"{m.get('name') or '?'} [{m.get('id') or 'no ID'}] ({m['mention']})"


def list_command(
    status: str | None = typer.Option(
        None, "--status", help="new, acknowledged, confirmed, dismissed"
    ),
    rule: str | None = typer.Option(None, "--rule", help="a rule id from rules.yaml"),
    region: str | None = typer.Option(None, "--region", help="region code prefix, e.g. 3101"),
    new: bool = typer.Option(False, "--new", help="only those new in the latest full sweep"),
    include_inactive: bool = typer.Option(False, "--all", help="also alerts no longer raised"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        sweep_id = latest_full_sweep(driver, database) if new else None
        alerts = list_alerts(driver, status, rule, region, sweep_id, include_inactive, database)
    if json_output:
        print_json(alerts)
    else:
        print_alerts(alerts, f"{len(alerts)} alerts")


def show(
    alert: str = typer.Argument(..., help="an alert ID"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        found = get_alert(driver, alert, database)
    if json_output:
        print_json(found)
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
        found = review(driver, alert, status, reviewer, reason, database)
    if json_output:
        print_json(found)
    else:
        console.print(f"{found['id']}: {found['status']} by {found['reviewer']}", highlight=False)


def export_command(
    path: Path = typer.Argument(..., help="a .jsonl (full evidence) or .csv file"),
    status: str | None = typer.Option(None, "--status"),
    rule: str | None = typer.Option(None, "--rule"),
    region: str | None = typer.Option(None, "--region"),
    new: bool = typer.Option(False, "--new", help="only those new in the latest full sweep"),
    include_inactive: bool = typer.Option(False, "--all"),
) -> None:
    with graph_driver() as (driver, database):
        sweep_id = latest_full_sweep(driver, database) if new else None
        alerts = list_alerts(driver, status, rule, region, sweep_id, include_inactive, database)
    n = export(alerts, path)
    console.print(f"{n} alerts written to {path}", highlight=False)


alerts_app.command("run", help="Evaluate every rule over the graph and store the alerts.")(
    run_guarded(run)
)
alerts_app.command("list", help="List alerts (filters: status, rule, region, new).")(
    run_guarded(list_command)
)
alerts_app.command("show", help="One alert in full, with its evidence.")(run_guarded(show))
alerts_app.command("review", help="Acknowledge, confirm or dismiss an alert.")(
    run_guarded(review_command)
)
alerts_app.command("export", help="Write alerts to JSONL or CSV.")(run_guarded(export_command))


def _unknown_start(target: dict[str, Any]) -> str:
    bound = target.get("start_no_earlier_than")
    return (
        f"an unknown date (no earlier than {bound}, the company's establishment)"
        if bound
        else "an unknown date"
    )
