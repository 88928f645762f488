"""Benchmark `veil link`: time per stage and peak memory, by number of person mentions.

    .venv/bin/python bench/linkage_speed.py                       # 100,000 person mentions
    .venv/bin/python bench/linkage_speed.py --person-mentions 100000 1000000

A world of N companies yields about 7.4 person mentions per company, so each size asks for
ceil(n / 7.4) companies. The world is generated once under bench/out/world-C-S and loaded
once into bench/out/linkrun-C-S (both reused when present; neither is timed). Then, each in
a fresh child process on a fresh copy of the loaded run, so that its peak memory is the
link's alone:

1. link, training both models (an empty models directory: no saved model is used);
2. link again on another fresh copy with the models the first link saved (the "reuse a
   saved model" path: no training);
3. blocking analysis: for each blocking rule of the person and company models, the number
   of comparisons it generates alone, what it adds to the rules before it, and the running
   total (Splink's count_comparisons_from_blocking_rules, exact counts; person features get
   their company context from the first link's entities.parquet).

Stage times are wall time between consecutive stage starts. The stages are those
`link_run` reports through its progress callback (standardise, train or load model,
predict, cluster, link rows, each an Update naming its entity type as `subject`) plus the
steps between them, marked by wrapping the helpers linkage.run and linkage.resolver call:
deterministic (identifier links and provisional entities), context (person company
context), entity ids (stable IDs), suspects, write. Peak memory is the child's VmHWM
(high-water resident set); the high-water mark at the end of each stage shows where it
rose. Prints tables, then one JSON line for docs/PERFORMANCE.md. Never asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_worlds import OUT, ensure_world

from config.progress import Update
from config.settings import Environment, environment

MEMORY_LIMIT_ENV = Environment.variable("duckdb_memory_limit")

PERSONS_PER_COMPANY = 7.4
GOAL_SECONDS = 120.0
GOAL_MIB = 4 * 1024
EXACT_BLOCKING_UP_TO = 300_000  # mentions
SAMPLE_PROPORTION = 0.1
#: Files a link writes into a run directory: never copied from the loaded run.
LINK_OUTPUTS = {"entities", "links", "suspects", "entity_changes", "link_report", "models"}


# --- parent: worlds, loaded runs, children -------------------------------------------------


def ensure_loaded(world: Path, companies: int, seed: int) -> Path:
    """The world loaded into bench/out/linkrun-C-S once (a manifest marks a complete load)."""
    run = OUT / f"linkrun-{companies}-{seed}"
    if not (run / "manifest.json").exists():
        shutil.rmtree(run, ignore_errors=True)
        result = child("load", str(world / "sources.yaml"), str(run))
        print(f"loaded world in {result['seconds']:.1f} s: {run}", flush=True)
    return run


def fresh_copy(loaded: Path, target: Path) -> Path:
    """A copy of the loaded run's tables (not any link outputs) at `target`."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in loaded.iterdir():
        if path.is_file() and path.name.split(".")[0] not in LINK_OUTPUTS:
            shutil.copy2(path, target / path.name)
    return target


class Killed(RuntimeError):
    """A child went over the memory ceiling and was stopped."""


def child(mode: str, *args: str, max_rss_mib: float = 0.0) -> dict[str, Any]:
    """Run this script as `--child MODE ARGS` in a new process; return the JSON it wrote.

    With `max_rss_mib`, the child is stopped when its resident memory goes over it: the
    result then holds `killed` and the stages it got through (from its progress file).
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        events = Path(tmp) / "events.jsonl"
        env = {**os.environ, "LINKAGE_SPEED_EVENTS": str(events)}
        command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, *args]
        process = subprocess.Popen([*command, str(result)], env=env)
        started, rss = time.perf_counter(), 0.0
        while process.poll() is None:
            rss = max(rss, _status_mib("VmRSS", process.pid))
            if max_rss_mib and rss > max_rss_mib:
                process.kill()
                process.wait()
                lines = events.read_text().splitlines() if events.is_file() else []
                stages = _stages([json.loads(x) for x in lines], time.perf_counter() - started, rss)
                where = f" in {stages[-1]['entity_type']} {stages[-1]['stage']}" if stages else ""
                return {
                    "killed": f"over {max_rss_mib:,.0f} MiB{where}",
                    "seconds": time.perf_counter() - started,
                    "peak_rss_mib": rss,
                    "stages": stages,
                }
            time.sleep(0.5)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
        return json.loads(result.read_text(encoding="utf-8"))


# --- children ------------------------------------------------------------------------------


def _status_mib(field: str, pid: int | str = "self") -> float:
    """A VmHWM / VmRSS line of /proc/PID/status, in MiB (0 where /proc is missing)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mib() -> float:
    """Peak resident memory of this process: VmHWM, else ru_maxrss."""
    return _status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_load(sources: str, run: str, result: str) -> None:
    from loaders.run import load_run

    started = time.perf_counter()
    load_run(Path(sources), Path(run), secret=b"bench")
    _write_json(result, {"seconds": time.perf_counter() - started})


def child_link(run_dir: str, models_dir: str, result: str) -> None:
    """Link `run_dir` with `models_dir`; record each stage's start time and memory."""
    from splink.internals.linker_components.inference import LinkerInference
    from splink.internals.linker_components.training import LinkerTraining

    import linkage.resolver as resolver
    import linkage.run as lr

    started = time.perf_counter()
    events: list[dict[str, Any]] = []
    current = {"entity_type": "all", "stage": "setup"}
    log = os.environ.get("LINKAGE_SPEED_EVENTS")

    def mark(stage: str, entity_type: str | None = None) -> None:
        if entity_type is not None:
            current["entity_type"] = entity_type
        if stage in ("train", "load model", "predict"):
            current["stage"] = stage
        event = {
            "at": time.perf_counter() - started,
            "stage": stage,
            "entity_type": current["entity_type"],
            "peak_mib": _peak_mib(),
        }
        events.append(event)
        print(
            f"  [{event['at']:7.1f} s] {event['entity_type']} {stage} "
            f"(peak so far {event['peak_mib']:,.0f} MiB)",
            file=sys.stderr,
            flush=True,
        )
        if log:
            with open(log, "a", encoding="utf-8") as out:
                out.write(json.dumps(event) + "\n")

    def marked(
        stage: str | Callable[..., str], fn: Callable[..., Any], after: str | None = None
    ) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            mark(stage(*args, **kwargs) if callable(stage) else stage)
            value = fn(*args, **kwargs)
            if after is not None:
                mark(after)
            return value

        return wrapper

    def sub(step: str) -> Callable[..., str]:
        return lambda *_args, **_kwargs: f"{current['stage']}: {step}"

    def em_rule(_self: Any, rule: Any, *_args: Any, **_kwargs: Any) -> str:
        return f"train: EM on {rule}"

    # The steps between the callback's stages, marked where linkage.run and the resolver
    # call them, and the parts of training and prediction, marked where Splink is called.
    for module, name, stage in (
        (resolver, "identifier_links", "deterministic"),
        (resolver, "provisional_entities", "deterministic"),
        (lr, "company_context", "context"),
        (resolver, "stable_entity_ids", "entity ids"),
        (resolver, "suspected_person_errors", "suspects"),
        (resolver, "suspected_company_errors", "suspects"),
        (lr, "_write", "write"),
    ):
        setattr(module, name, marked(stage, getattr(module, name)))
    LinkerTraining.estimate_u_using_random_sampling = marked(
        "train: u sampling",
        LinkerTraining.estimate_u_using_random_sampling,
        after="train: tf tables and EM set-up",
    )
    LinkerTraining.estimate_parameters_using_expectation_maximisation = marked(
        em_rule, LinkerTraining.estimate_parameters_using_expectation_maximisation
    )
    LinkerInference.predict = marked(
        sub("Splink SQL"), LinkerInference.predict, after="predict: to pandas"
    )

    mark("setup", "all")

    def progress(update: Update) -> None:
        mark(update.stage, update.subject)  # resolver.announce: stage "train" of "company"

    summary = lr.link_run(Path(run_dir), models_dir=Path(models_dir), progress=progress)
    seconds = time.perf_counter() - started
    _write_json(
        result,
        {
            "seconds": seconds,
            "peak_rss_mib": _peak_mib(),
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "stages": _stages(events, seconds, _peak_mib()),
            "summary": summary.as_dict(),
        },
    )


def _stages(events: list[dict[str, Any]], end: float, peak: float) -> list[dict[str, Any]]:
    """Events (stage starts) -> stages with their seconds and the peak memory at their end
    (`end` and `peak`: those of the last); consecutive events of one stage are summed."""
    stages: list[dict[str, Any]] = []
    ends = [e["at"] for e in events[1:]] + [end]
    peaks = [e["peak_mib"] for e in events[1:]] + [peak]
    for event, until, peak in zip(events, ends, peaks, strict=True):
        entity_type = "all" if event["stage"] == "write" else event["entity_type"]
        seconds = until - event["at"]
        if stages and (stages[-1]["entity_type"], stages[-1]["stage"]) == (
            entity_type,
            event["stage"],
        ):
            stages[-1]["seconds"] += seconds
            stages[-1]["peak_mib"] = peak
        else:
            stages.append(
                {
                    "entity_type": entity_type,
                    "stage": event["stage"],
                    "seconds": seconds,
                    "peak_mib": peak,
                }
            )
    return stages


def child_blocking(run_dir: str, result: str) -> None:
    """Comparisons per blocking rule, for both models, on the run's features."""
    import pyarrow.parquet as pq
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules, n_largest_blocks

    from linkage import models
    from linkage.features import KEY, company_context, company_features, person_features

    run = Path(run_dir)
    companies = company_features(run)
    out: dict[str, Any] = {}
    if (run / "entities.parquet").is_file():
        entities = pq.read_table(run / "entities.parquet").to_pandas()
        mine = entities.loc[entities["entity_type"] == models.COMPANY, [*KEY, "entity_id"]]
        company_ids = companies[KEY].merge(mine, on=KEY, how="left")["entity_id"].to_numpy()
        out["context"] = "company entities of the link"
    else:  # the link did not finish: a company is its canonical name (else the mention)
        company_ids = companies["name_canonical"].fillna("#" + companies["mention_id"].astype(str))
        company_ids = company_ids.to_numpy()
        out["context"] = "canonical company names (no entities.parquet: the link did not finish)"
    persons = person_features(run)
    persons["context"] = company_context(persons, companies, company_ids)
    db_api = DuckDBAPI(connection=models.connect())
    for entity_type, frame, rules in (
        (models.PERSON, persons, models.person_blocking),
        (models.COMPANY, companies, models.company_blocking),
    ):
        models.add_blocking_keys(frame, entity_type)
        table = db_api.register(frame, table_name=f"{entity_type}_features")
        started = time.perf_counter()
        # Exact counts materialise every blocked pair: past EXACT_BLOCKING_UP_TO mentions,
        # Splink estimates them from a hash sample of SAMPLE_PROPORTION of each side.
        proportion = 1.0 if len(frame) <= EXACT_BLOCKING_UP_TO else SAMPLE_PROPORTION
        options = {
            "link_type": "dedupe_only",
            "unique_id_column_name": models.UNIQUE_ID,
            "record_sample_proportion": proportion,
        }
        together = count_comparisons_from_blocking_rules(table, blocking_rules=rules(), **options)
        rows = []
        for rule, counted in zip(rules(), together, strict=True):
            alone = count_comparisons_from_blocking_rules(table, blocking_rules=[rule], **options)
            largest: list[dict[str, Any]] = []
            with contextlib.suppress(Exception):  # exploding rules: Splink cannot list blocks
                largest = n_largest_blocks(
                    table, blocking_rule=rule, link_type="dedupe_only", n_largest=1
                ).as_record_list()
            rows.append(
                {
                    "rule": counted["blocking_rule"],
                    "alone": alone[0]["marginal_comparison_count"],
                    "added": counted["marginal_comparison_count"],
                    "cumulative": counted["cumulative_comparison_count"],
                    "largest_block": {k: str(v) for k, v in largest[0].items()} if largest else {},
                }
            )
        out[entity_type] = {
            "mentions": len(frame),
            "all_pairs": together[0]["total_possible_comparison_count"] if together else 0,
            "rules": rows,
            "sample_proportion": proportion,
            "seconds": time.perf_counter() - started,
        }
    _write_json(result, out)


def _write_json(path: str, data: Any) -> None:
    Path(path).write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")


# --- report --------------------------------------------------------------------------------


def print_link(label: str, result: dict[str, Any]) -> None:
    print(f"\n{label}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mib']:,.0f} MiB")
    if "killed" in result:
        print(f"STOPPED: {result['killed']} after {result['seconds']:.1f} s")
    print(f"{'entity':<9}{'stage':<48}{'seconds':>9}{'share':>8}{'peak MiB':>10}")
    for s in result["stages"]:
        share = s["seconds"] / result["seconds"] if result["seconds"] else 0.0
        print(
            f"{s['entity_type']:<9}{s['stage'][:47]:<48}{s['seconds']:>9.2f}{share:>8.1%}"
            f"{s['peak_mib']:>10,.0f}"
        )
    summary = result.get("summary")
    if summary is None:
        return
    for entity_type in ("company", "person"):
        r = summary[entity_type]
        print(
            f"{entity_type}: {r['mentions']:,} mentions, {r['deterministic_links']:,} "
            f"identifier links, {r['scored_pairs']:,} scored pairs, {r['entities']:,} entities; "
            f"link_run's own seconds {r['seconds']}"
        )


def print_blocking(blocking: dict[str, Any]) -> None:
    if "context" in blocking:
        print(f"\nblocking analysis; person company context from {blocking['context']}")
    for entity_type, b in blocking.items():
        if entity_type == "context":
            continue
        print(
            f"\n{entity_type} blocking: {b['mentions']:,} mentions, {b['all_pairs']:,} pairs "
            f"in all ({b['seconds']:.1f} s to count; "
            + (
                "exact)"
                if b["sample_proportion"] == 1.0
                else f"estimated from a {b['sample_proportion']:.0%} sample of each side)"
            )
        )
        print(f"{'rule':<58}{'alone':>13}{'added':>13}{'cumulative':>13}  largest block")
        for r in b["rules"]:
            largest = r["largest_block"]
            keys = ", ".join(v for k, v in largest.items() if k.startswith("key_"))
            block = f"{largest['count_l']} mentions: {keys}" if largest else "-"
            print(
                f"{r['rule'][:57]:<58}{r['alone']:>13,}{r['added']:>13,}{r['cumulative']:>13,}"
                f"  {block}"
            )


def stage_seconds(result: dict[str, Any]) -> dict[str, float]:
    return {f"{s['entity_type']}:{s['stage']}": round(s["seconds"], 2) for s in result["stages"]}


def link_json(result: dict[str, Any]) -> dict[str, Any]:
    out = {
        "seconds": round(result["seconds"], 2),
        "peak_rss_mib": round(result["peak_rss_mib"]),
        "stages": stage_seconds(result),
    }
    if "killed" in result:
        out["killed"] = result["killed"]
    return out


def bench(persons: int, seed: int, skip_blocking: bool, max_rss_mib: float) -> dict[str, Any]:
    companies = math.ceil(persons / PERSONS_PER_COMPANY)
    print(f"\n=== {persons:,} person mentions ({companies:,} companies, seed {seed}) ===")
    loaded = ensure_loaded(ensure_world(companies, seed), companies, seed)
    trained_run = fresh_copy(loaded, OUT / f"linkrun-{companies}-{seed}-trained")
    empty = OUT / f"linkrun-{companies}-{seed}-no-models"
    shutil.rmtree(empty, ignore_errors=True)
    empty.mkdir(parents=True)
    links = {"trained": child("link", str(trained_run), str(empty), max_rss_mib=max_rss_mib)}
    print_link("link, training both models", links["trained"])
    if "killed" not in links["trained"]:
        saved = OUT / f"linkrun-{companies}-{seed}-models"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(trained_run / "models", saved)
        reuse_run = fresh_copy(loaded, OUT / f"linkrun-{companies}-{seed}-reused")
        links["reused"] = child("link", str(reuse_run), str(saved), max_rss_mib=max_rss_mib)
        print_link("link, reusing the saved models", links["reused"])
    blocking = {} if skip_blocking else child("blocking", str(trained_run), max_rss_mib=max_rss_mib)
    print_blocking(blocking)
    for label, r in links.items():
        met = "killed" not in r and r["seconds"] < GOAL_SECONDS and r["peak_rss_mib"] < GOAL_MIB
        print(
            f"goal (< {GOAL_SECONDS:.0f} s and < {GOAL_MIB:,} MiB), {label}: "
            f"{'MET' if met else 'NOT MET'} ({r['seconds']:.1f} s, {r['peak_rss_mib']:,.0f} MiB"
            f"{', stopped: ' + r['killed'] if 'killed' in r else ''})"
        )
    out: dict[str, Any] = {"person_mentions_asked": persons, "companies": companies}
    summary = links["trained"].get("summary")
    if summary is not None:
        person, company = summary["person"], summary["company"]
        out |= {
            "person_mentions": person["mentions"],
            "company_mentions": company["mentions"],
            "scored_pairs": {"person": person["scored_pairs"], "company": company["scored_pairs"]},
            "entities": {"person": person["entities"], "company": company["entities"]},
        }
    out |= {label: link_json(r) for label, r in links.items()}
    if "killed" in blocking:
        out["blocking"] = {"killed": blocking["killed"]}
    elif blocking:
        out["blocking"] = {
            t: {r["rule"]: [r["alone"], r["added"], r["cumulative"]] for r in b["rules"]}
            for t, b in blocking.items()
            if t != "context"
        }
    return out


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        mode, args = sys.argv[2], sys.argv[3:]
        {"load": child_load, "link": child_link, "blocking": child_blocking}[mode](*args)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--person-mentions", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-blocking", action="store_true", help="no blocking analysis")
    parser.add_argument(
        "--max-rss-mib",
        type=float,
        default=12 * 1024,
        help="stop a child whose resident memory goes over this (0: never); default 12 GiB",
    )
    parser.add_argument(
        "--duckdb-memory-limit",
        default=None,
        help=f"memory_limit of the linkage's DuckDB connections, e.g. 2GB (sets "
        f"${MEMORY_LIMIT_ENV}; default: the environment's, else "
        f"{Environment.model_fields['duckdb_memory_limit'].default})",
    )
    args = parser.parse_args()
    if args.duckdb_memory_limit:
        os.environ[MEMORY_LIMIT_ENV] = args.duckdb_memory_limit
    results = [
        bench(n, args.seed, args.skip_blocking, args.max_rss_mib) for n in args.person_mentions
    ]
    print(
        json.dumps(
            {
                "bench": "linkage_speed",
                "cores": os.cpu_count(),
                "duckdb_memory_limit": environment().duckdb_memory_limit,
                "sizes": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
