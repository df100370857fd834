"""Results on disk: `<stamp>.json`, a Markdown table, a PNG chart, and the targets.

`latest.json`, `latest.md` and `latest.png` in the same directory are copies
of the newest run; with `update_docs` the Markdown also replaces the block
between the markers in `docs/performance.md`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.config import REPO_ROOT
from bench.scrape import scrape_seconds

DOCS_PAGE = REPO_ROOT / "docs" / "performance.md"
DOCS_START = "<!-- bench:latest:start -->"
DOCS_END = "<!-- bench:latest:end -->"
MB = 1_000_000
TARGET_RSS_BYTES = 500 * MB
THROUGHPUT_ROWS = (
    ("ceiling: aiokafka + orjson", ("ceiling", "aiokafka")),
    ("ceiling: confluent-kafka + orjson", ("ceiling", "confluent_kafka")),
    ("dealpulse, 1 worker", ("dealpulse", "one_worker")),
    ("dealpulse, 2 workers", ("dealpulse", "two_workers")),
    ("Quix Streams", ("peers", "quix")),
    ("plain Faust", ("peers", "faust_plain")),
)


def section(results: dict[str, Any], *path: str) -> dict[str, Any]:
    found: Any = results
    for name in path:
        found = found.get(name, {}) if isinstance(found, dict) else {}
    return found if isinstance(found, dict) else {}


def rate(results: dict[str, Any], *path: str) -> float | None:
    value = section(results, *path).get("events_per_second")
    return float(value) if isinstance(value, int | float) else None


CHART_LABELS = {
    "ceiling: aiokafka + orjson": "aiokafka\nceiling",
    "ceiling: confluent-kafka + orjson": "confluent-kafka\nceiling",
    "dealpulse, 1 worker": "dealpulse\n1 worker",
    "dealpulse, 2 workers": "dealpulse\n2 workers",
    "Quix Streams": "Quix\nStreams",
    "plain Faust": "plain\nFaust",
}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    dealpulse = rate(results, "dealpulse", "one_worker")
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, measured: str, met: bool | None) -> None:
        rows.append({"target": name, "wanted": target, "measured": measured, "met": met})

    for name, peer, wanted in (("Quix Streams", "quix", 1.5), ("plain Faust", "faust_plain", 3.0)):
        ratio = _ratio(dealpulse, rate(results, "peers", peer))
        add(f"events/s vs {name}", f">= {wanted}x", _x(ratio), _at_least(ratio, wanted))
    share = _ratio(dealpulse, rate(results, "ceiling", "aiokafka"))
    add("share of the aiokafka ceiling, 1 worker", ">= 25 %", _pct(share), _at_least(share, 0.25))
    scaling = _ratio(rate(results, "dealpulse", "two_workers"), dealpulse)
    add("two workers vs one", ">= 1.3x", _x(scaling), _at_least(scaling, 1.3))
    for workers in ("one_worker", "two_workers"):
        exact = section(results, "dealpulse", workers, "check").get("exact")
        add(
            f"dealpulse {workers.replace('_', ' ')}: numbers equal the batch",
            "exact",
            "exact" if exact else ("differ" if exact is False else "n/a"),
            exact,
        )
    for events_per_second in ("5000", "20000"):
        at_rate = section(results, "latency", events_per_second)
        within = at_rate.get("share_within_500ms")
        add(
            f"p99 latency at {int(events_per_second):,} events/s",
            "<= 0.5 s",
            _seconds(at_rate.get("p99_seconds"))
            + (f" ({within:.2%} within 0.5 s)" if isinstance(within, float) else ""),
            None if within is None else within >= 0.99,
        )
    for kind, limit in (("local", 5.0), ("changelog", 20.0)):
        seconds = section(results, "recovery", kind).get("seconds_to_correct")
        add(
            f"recovery, {kind} state",
            f"<= {limit:g} s",
            _seconds(seconds),
            None if seconds is None else seconds <= limit,
        )
    peak = section(results, "memory").get("peak_rss_bytes")
    add(
        "peak RSS of the worker holding the full state",
        "<= 500 MB",
        "n/a" if peak is None else f"{peak / MB:.0f} MB",
        None if peak is None else peak <= TARGET_RSS_BYTES,
    )
    at_10k = section(results, "scrape", "10000")
    scrape = scrape_seconds(at_10k) if at_10k else None
    add(
        "scrape at 10,000 sellers",
        "<= 0.1 s",
        _seconds(scrape),
        None if scrape is None else scrape <= 0.1,
    )
    return rows


def _at_least(value: float | None, wanted: float) -> bool | None:
    return None if value is None else value >= wanted


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _seconds(value: Any) -> str:
    return f"{value:.3f} s" if isinstance(value, int | float) else "n/a"


def _count(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else "n/a"


def _why_missing(found: dict[str, Any]) -> str:
    return str(found.get("skipped") or found.get("error") or "not run")


def markdown(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    workload = results.get("workload", {})
    ram = machine.get("ram_bytes")
    lines = [
        f"Run `{results.get('run_id')}` at {results.get('started_at')}, "
        f"scale {results.get('config', {}).get('scale')}.",
        "",
        f"Machine: {machine.get('cores')} cores ({machine.get('cpu')}), "
        f"{(ram or 0) / 2**30:.1f} GiB RAM, Python {machine.get('python')}, "
        f"Kafka {machine.get('kafka')}, {machine.get('os')}.",
        f"Workload: {_count(workload.get('events'))} events over "
        f"{_count(workload.get('deals'))} deals, {workload.get('sellers')} sellers, "
        f"{workload.get('pipelines')} pipelines, {workload.get('partitions')} partitions, "
        f"{workload.get('duplicate_pct')} % duplicates, "
        f"{workload.get('out_of_order_pct')} % out-of-order (seed {workload.get('seed')}).",
        "",
        "| engine | events/s | events/s incl. start-up | s to lag 0 | vs aiokafka ceiling "
        "| wrong (seller, day) keys | revenue abs. error |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ceiling = rate(results, "ceiling", "aiokafka")
    for label, path in THROUGHPUT_ROWS:
        found = section(results, *path)
        if "events_per_second" not in found:
            lines.append(f"| {label} | {_why_missing(found)} | | | | | |")
            continue
        check = found.get("check", {})
        won = check.get("won_per_seller_day", check)
        share = _ratio(float(found["events_per_second"]), ceiling)
        lines.append(
            f"| {label} | {_count(found['events_per_second'])} "
            f"| {_count(found.get('wall_events_per_second'))} "
            f"| {_seconds(found.get('seconds_to_lag_zero'))} | {_pct(share)} "
            f"| {won.get('wrong_keys', '')} | {won.get('revenue_abs_error', '')} |"
        )
    split = section(results, "dealpulse", "two_workers").get("cpu_seconds")
    if isinstance(split, dict) and split:
        shares = ", ".join(f"{name} {_seconds(value)}" for name, value in sorted(split.items()))
        lines += ["", f"CPU time while two workers drained the topic: {shares}."]
    lines += [
        "",
        "| latency at | achieved rate | p50 | p99 | max under | within 0.5 s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, found in section(results, "latency").items():
        if isinstance(found, dict) and "p99_seconds" in found:
            within = found.get("share_within_500ms")
            lines.append(
                f"| {int(key):,} events/s | {_count(found.get('achieved_rate'))} "
                f"| {_seconds(found.get('p50_seconds'))} | {_seconds(found.get('p99_seconds'))} "
                f"| {_seconds(found.get('max_seconds_at_most'))} "
                f"| {'n/a' if within is None else f'{within:.2%}'} |"
            )
    if not any("p99_seconds" in str(v) for v in section(results, "latency").values()):
        lines.append(f"| - | {_why_missing(section(results, 'latency'))} | | | | |")
    lines += ["", "| recovery after SIGKILL | seconds to correct numbers |", "| --- | ---: |"]
    for kind in ("local", "changelog"):
        found = section(results, "recovery", kind)
        seconds = found.get("seconds_to_correct")
        shown = _seconds(seconds) if seconds is not None else _why_missing(found)
        lines.append(f"| {found.get('state', kind)} | {shown} |")
    lines += ["", "| /metrics at | scrape (bench/scrape_cost.py) |", "| --- | --- |"]
    scrape = section(results, "scrape")
    if "skipped" in scrape or "error" in scrape:
        lines.append(f"| - | {_why_missing(scrape)} |")
    for sellers, found in scrape.items():
        if isinstance(found, dict):
            lines.append(f"| {int(sellers):,} sellers | {_scrape_cell(found)} |")
    lines += ["", "| target | wanted | measured | met |", "| --- | --- | --- | --- |"]
    for row in results.get("targets", []):
        met = {True: "yes", False: "**no**", None: "n/a"}[row["met"]]
        lines.append(f"| {row['target']} | {row['wanted']} | {row['measured']} | {met} |")
    return "\n".join(lines) + "\n"


def _scrape_cell(found: dict[str, Any]) -> str:
    cells = []
    for configuration in ("capped", "uncapped"):
        cost = found.get(configuration)
        if isinstance(cost, dict):
            timings = _seconds(scrape_seconds(cost))
            if "cold_ms" in cost:  # the export cache: steady and first
                timings = (
                    f"{timings} with {cost.get('changed_deals', '?')} deals won since the last "
                    f"scrape, {_seconds(cost['cold_ms'] / 1000)} cold"
                )
                if "rebuilt_ms" in cost:  # results of before the reference exporter went
                    timings += f", {_seconds(cost['rebuilt_ms'] / 1000)} rebuilt"
            cells.append(
                f"{configuration}: {timings}; "
                f"{cost.get('bytes', 0) / MB:.2f} MB, {cost.get('series', '?')} series"
            )
    return "; ".join(cells) or _seconds(scrape_seconds(found))


def chart(results: dict[str, Any], path: Path) -> str | None:
    """A bar chart of events/s against the ceilings and the peers; None if it cannot be drawn."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        from matplotlib import pyplot  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return "matplotlib is not installed: pip install -e '.[bench]'"
    labels, values, colours = [], [], []
    for label, section_path in THROUGHPUT_ROWS:
        value = rate(results, *section_path)
        if value is not None:
            labels.append(CHART_LABELS.get(label, label))
            values.append(value)
            colours.append(
                "#999999"
                if section_path[0] == "ceiling"
                else "#1f77b4"
                if section_path[0] == "dealpulse"
                else "#ff7f0e"
            )
    if not values:
        return "no throughput was measured in this run"
    figure, axes = pyplot.subplots(figsize=(9, 4.5))
    bars = axes.bar(labels, values, color=colours)
    axes.bar_label(bars, labels=[f"{v:,.0f}" for v in values])
    ceiling = rate(results, "ceiling", "aiokafka")
    if ceiling:
        axes.axhline(ceiling / 2, linestyle="--", color="#1f77b4", linewidth=1)
        axes.text(
            len(values) - 0.5,
            ceiling / 2,
            "50 % of aiokafka ceiling",
            ha="right",
            va="bottom",
            fontsize=8,
        )
    axes.set_yscale("log")  # the ceilings are orders of magnitude above the engines
    axes.set_ylabel("events/s (log scale)")
    events = results.get("workload", {}).get("events")
    axes.set_title(
        f"Throughput on {events:,} events ({results.get('machine', {}).get('cores')} "
        "cores), higher is better"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return None


def write(
    results: dict[str, Any], out_dir: Path, stamp: str, *, update_docs: bool, latest: bool = True
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    results["targets"] = targets(results)
    png = out_dir / f"{stamp}.png"
    results["chart"] = {"path": png.name, "skipped": chart(results, png)}
    if results["chart"]["skipped"]:
        results["chart"]["path"] = None
    table = markdown(results)
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    (out_dir / f"{stamp}.md").write_text(table)
    for suffix in ("json", "md", "png") if latest else ():
        produced = out_dir / f"{stamp}.{suffix}"
        if produced.exists():
            shutil.copyfile(produced, out_dir / f"latest.{suffix}")
    if update_docs:
        replace_docs_block(table)
    return json_path


def replace_docs_block(table: str, page: Path = DOCS_PAGE) -> None:
    text = page.read_text()
    head, found, rest = text.partition(DOCS_START)
    _, found_end, tail = rest.partition(DOCS_END)
    if not found or not found_end:
        raise ValueError(f"{page} lacks the markers {DOCS_START} ... {DOCS_END}")
    page.write_text(f"{head}{DOCS_START}\n{table}{DOCS_END}{tail}")
