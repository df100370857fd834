"""End to end with real components: Kafka, two workers, Prometheus, Grafana's queries,
Alertmanager and a webhook.

One run proves, in this order:

1. **Sums.** Two workers fold a simulated workload from eight partitions. Once every offset
   is committed and they own disjoint partitions covering all eight, Prometheus'
   `sum without (instance, job)` of every business series equals the batch computation of
   the same messages as exported (the current and previous window of each granularity,
   relative to the workers' fixed clock), and every recording-rule ratio equals the batch's
   numerator over its denominator for the same labels. No partition is exported twice.
2. **Alerts.** With nothing left to consume, DealpulseIngestionStalled fires and its
   notification reaches the webhook (through the `critical` receiver); new events resolve
   it and the resolved notification arrives too; once they are folded, it fires again.
   This runs while both workers are up: a worker down would, by design, inhibit it
   (DealpulseWorkerDown).
3. **Boards.** Every query of every panel of both Grafana boards, its variables filled for
   tenant "default", returns at least one series with a value (not NaN). The workload's
   sellers have this month's quotas, in two teams (loaded with `dealpulse quotas load`'s
   `load_quotas` onto the flow's control topic), so the quota panels have data. It runs right
   after the resumed events of step 2 are folded, so the rate panels show real rates.
4. **A seller behind pace.** Quotas of 100,000 for every seller make those who won little
   this month behind pace: DealpulseSellerBehindPace fires at the webhook; a second load
   replacing the month with a quota of 1 for each seller who won this month (and none for
   the others) resolves it.
5. **A worker killed.** After `kill -9` of one worker, the survivor owns all eight
   partitions; Prometheus again equals the batch (now with the resumed events) and no
   series is exported twice.

Money and seconds are compared with a relative tolerance of 1e-6 (Prometheus keeps float64,
the workers and the batch keep decimals); counts exactly.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from deploy.grafana.dashboards_src import expand_variables, panel_queries, query_variables
from streams.domain.windows import Window, shift_window, window_start
from streams.exposition import catalogue as cat
from streams.exposition.samples import exposition_samples
from streams.kafka.topics import ensure_topics
from streams.metric_context import build_context
from streams.quotas_command import load_quotas
from streams.settings import Settings
from streams.simulator import OutboundMessage, SimulationConfig, generate
from streams.simulator.messages import WireEvent, encode_event, format_timestamp
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce
from tests.support.oracle import batch_result, worker_partitions
from tests.support.prometheus_stack import (
    PACE_ALERT,
    RECORDING_RULES,
    STALL_ALERT,
    Alertmanager,
    Prometheus,
    WebhookReceiver,
)
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

E2E_CLOCK = datetime(2026, 11, 11, 23, 0, tzinfo=UTC)
"""The workers' fixed clock: a Wednesday evening, so today, this week and this month all
hold events (`tests.support.workload.CLOCK` is a midnight: its current day is empty, and
the boards show current windows); over a fifth of the month has elapsed, past which
DealpulseSellerBehindPace may fire."""

WORKLOAD = SimulationConfig(
    seed=20,
    deals=4_500,
    sellers=40,
    start=E2E_CLOCK - timedelta(days=400),
    span=timedelta(days=400),
    duplicate_pct=1.0,
    out_of_order_pct=5.0,
    late_pct=1.0,
    invalid_pct=0.5,
)
"""About 19,500 messages with duplicates, disorder, late and invalid ones. Deals start over
400 days so that wins churn up to the clock; seed 20 puts every windowed metric, churn
included, in every exported window (`missing_windows` checks it first)."""

RESUMED = SimulationConfig(
    seed=21,
    deals=30,
    tenants=2,
    start=E2E_CLOCK - timedelta(days=7),
    span=timedelta(days=7),
    invalid_pct=5.0,
)
"""The events that end the stall: deals of two other tenants (ids "tenant-01/deal-..."), so
new deals rather than replays of the first workload's."""

RETENTION = {"retention_days": 14, "retention_weeks": 8, "retention_months": 6}
"""Windows the workers keep (defaults: 92 days, 53 weeks, 25 months): shorter, so that the
400-day workload has events older than every window (too late), which the engine board
shows, and a scrape has less state to read."""

STALL_WINDOW = "15s"
"""How far back the test's copy of DealpulseIngestionStalled looks (deployed: 10 minutes)."""

PARTITIONS = list(range(8))
TENANT = "default"
QUOTA_SELLERS = 40
"""The workload's sellers ("seller-001"...): each gets a quota for this month."""
HIGH_QUOTA = 100_000
LOW_QUOTA = 1
CONSUME_TIMEOUT_SECONDS = 300.0
PROMETHEUS_TIMEOUT_SECONDS = 120.0
ALERT_TIMEOUT_SECONDS = 120.0
TAKEOVER_TIMEOUT_SECONDS = 180.0
RELATIVE_TOLERANCE = 1e-6

LabelPairs = tuple[tuple[str, str], ...]
Exported = dict[str, dict[LabelPairs, Decimal]]
"""Series as Prometheus should hold them after summing the workers: name -> labels -> value."""

EXPORTED_NAMES = tuple(
    name
    for spec in cat.ALL_METRICS
    for name in ((spec.bucket, spec.sum, spec.count) if spec.kind == "histogram" else (spec.name,))
)
MEASURED = frozenset(
    {
        cat.WON_REVENUE.name,
        cat.CHURNED_REVENUE.name,
        cat.OPEN_PIPELINE_VALUE.name,
        cat.OPEN_PIPELINE_WEIGHTED_VALUE.name,
        cat.PERIOD_WON_REVENUE.name,
        cat.FORECAST_REVENUE.name,
        cat.FORECAST_REVENUE_UNWEIGHTED.name,
        cat.SLIPPED_VALUE.name,
        cat.TICKET_SIZE.sum,
        cat.SALES_CYCLE.sum,
        cat.TIME_IN_STAGE.sum,
    }
)
"""Money and seconds: decimal sums that float64 can only approximate. Everything else counts."""

WINDOW_LEVEL = ("granularity", "window_start", "window")
SELLER_LEVEL = ("tenant", "pipeline", "seller")
PIPELINE_LEVEL = ("tenant", "pipeline")
TENANT_LEVEL = ("tenant",)
STAGE_LEVEL = ("tenant", "pipeline", "stage")


@dataclass(frozen=True)
class Ratio:
    """A ratio the recording rules compute at each level: sums first, division after."""

    name: str
    numerator: str
    denominator: str
    levels: tuple[tuple[str, ...], ...]

    def rule(self, level: tuple[str, ...]) -> str:
        return f"{'_'.join((*level, *WINDOW_LEVEL))}:dealpulse_{self.name}:ratio"

    def expected(self, exported: Exported, level: tuple[str, ...]) -> dict[LabelPairs, Decimal]:
        """numerator / denominator per label set, 0 without a numerator, none if the
        denominator is 0: what the rule records."""
        numerators = _summed(exported.get(self.numerator, {}), (*level, *WINDOW_LEVEL))
        denominators = _summed(exported.get(self.denominator, {}), (*level, *WINDOW_LEVEL))
        return {
            labels: numerators.get(labels, Decimal(0)) / denominator
            for labels, denominator in denominators.items()
            if denominator > 0
        }


RATIOS = (
    Ratio(
        "win_rate",
        cat.DEALS_WON.name,
        cat.DEALS_CLOSED.name,
        (SELLER_LEVEL, PIPELINE_LEVEL, TENANT_LEVEL),
    ),
    Ratio(
        "average_ticket",
        cat.WON_REVENUE.name,
        cat.DEALS_WON.name,
        (SELLER_LEVEL, PIPELINE_LEVEL, TENANT_LEVEL),
    ),
    Ratio("stage_conversion", cat.STAGE_ADVANCED.name, cat.STAGE_ENTERED.name, (STAGE_LEVEL,)),
    Ratio(
        "logo_churn_rate",
        cat.DEALS_CHURNED.name,
        cat.DEALS_ACTIVE_AT_WINDOW_START.name,
        (PIPELINE_LEVEL, TENANT_LEVEL),
    ),
)


# --- Fixtures: every process stops at the end, also when the test fails -------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


@pytest.fixture
def alertmanager(receiver: WebhookReceiver, tmp_path: Path) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path / "alertmanager", receiver.url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def workers(flow: Flow) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    """Two workers of the flow on the fixed clock, not started yet."""
    env = {
        **flow.env(),
        **{f"DEALPULSE_{name.upper()}": str(windows) for name, windows in RETENTION.items()},
        "DEALPULSE_CLOCK": E2E_CLOCK.isoformat(),
    }
    pair = (WorkerProcess(env, flow.state_dir), WorkerProcess(env, flow.state_dir))
    try:
        yield pair
    finally:
        for worker in pair:
            worker.stop()


@pytest.fixture
def prometheus(
    workers: tuple[WorkerProcess, WorkerProcess], alertmanager: Alertmanager, tmp_path: Path
) -> Iterator[Prometheus]:
    """Prometheus scraping the two workers, not started yet (it starts once they have
    folded the workload: no DealpulseWorkerDown while they boot, no scrapes slowing them)."""
    server = Prometheus(
        tmp_path / "prometheus",
        [_instance(worker) for worker in workers],
        alertmanager.address,
        stall_window=STALL_WINDOW,
    )
    try:
        yield server
    finally:
        server.stop()


# --- The test ------------------------------------------------------------------------------


def test_every_recorded_ratio_is_checked() -> None:
    """Every ratio of the deal windows (`window_start`) is compared with the batch; the quota
    ratios (attainment, pace, forecast attainment) are checked by promtool's tests and, here,
    by the board's panels."""
    rules = yaml.safe_load(RECORDING_RULES.read_text())
    recorded = {
        rule["record"]
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("record", "").endswith(":ratio") and "window_start" in rule["record"]
    }
    assert recorded == {ratio.rule(level) for ratio in RATIOS for level in ratio.levels}


def test_prometheus_boards_and_alerts_end_to_end(
    flow: Flow,
    workers: tuple[WorkerProcess, WorkerProcess],
    prometheus: Prometheus,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    settings = workers_settings(flow)
    initial = [*generate(WORKLOAD, now=E2E_CLOCK), deal_without_created()]
    resumed = list(generate(RESUMED, now=E2E_CLOCK))
    expected_initial = exported(initial, settings)
    assert missing_windows(expected_initial) == [], "the workload misses windows: change seed"
    asyncio.run(ensure_topics(settings))
    for worker in workers:
        worker.start()
    # Both join before any event comes: joining mid-stream is test_crash_and_rebalance's
    # subject; this test follows the numbers from Kafka to Prometheus.
    wait_for(lambda: owners(workers), timeout_seconds=120, what="disjoint owners of 0..7")
    high = {f"seller-{number:03d}": HIGH_QUOTA for number in range(1, QUOTA_SELLERS + 1)}
    load_quotas(settings, quota_file(tmp_path / "quotas.csv", high))
    produce(flow.kafka.bootstrap, flow.topic, initial)

    # 1. Sums across two workers equal the batch.
    wait_until_consumed(flow)
    wait_for(lambda: owners(workers), timeout_seconds=120, what="still disjoint owners of 0..7")
    prometheus.start()
    wait_for(
        lambda: set(prometheus.targets_up().items()) == {(_instance(w), 1.0) for w in workers},
        timeout_seconds=60,
        what="Prometheus scraping both workers",
    )
    wait_until_empty(
        lambda: differences(prometheus, expected_initial),
        what="Prometheus to equal the batch with two workers",
    )
    assert partitions_exported_twice(prometheus) == []
    assert prometheus.values("sum(dealpulse_partitions_owned)") == {(): len(PARTITIONS)}

    # 2. Stalled, then resumed: both notifications reach the webhook.
    wait_for(
        lambda: receiver.latest_status(STALL_ALERT) == "firing",
        timeout_seconds=ALERT_TIMEOUT_SECONDS,
        what=f"{STALL_ALERT} firing at the webhook",
    )
    assert receiver.receivers_notified(STALL_ALERT) == {"critical"}
    resumed_at = time.monotonic()
    produce(flow.kafka.bootstrap, flow.topic, resumed)
    wait_for(
        lambda: receiver.latest_status(STALL_ALERT, since=resumed_at) == "resolved",
        timeout_seconds=ALERT_TIMEOUT_SECONDS,
        what=f"{STALL_ALERT} resolved at the webhook",
    )
    resolved_at = time.monotonic()
    wait_until_consumed(flow)

    # 3. Every panel of every board has data; now, while the resumed events are within the
    # rate panels' one-minute range.
    wait_until_empty(lambda: panels_without_data(prometheus), what="every panel to have data")

    # 2, continued. The flow stopped again: the alert follows it, not Prometheus' start.
    wait_for(
        lambda: receiver.latest_status(STALL_ALERT, since=resolved_at) == "firing",
        timeout_seconds=ALERT_TIMEOUT_SECONDS,
        what=f"{STALL_ALERT} firing again once the resumed events are folded",
    )

    # 4. A seller behind pace fires; a lower quota resolves it.
    wait_for(
        lambda: receiver.latest_status(PACE_ALERT) == "firing",
        timeout_seconds=ALERT_TIMEOUT_SECONDS,
        what=f"{PACE_ALERT} firing at the webhook",
    )
    assert receiver.receivers_notified(PACE_ALERT) == {"warning"}
    lowered_at = time.monotonic()
    low = dict.fromkeys(sellers_who_won_this_month(expected_initial), LOW_QUOTA)
    load_quotas(settings, quota_file(tmp_path / "lowered.csv", low))
    wait_for(
        lambda: receiver.latest_status(PACE_ALERT, since=lowered_at) == "resolved",
        timeout_seconds=ALERT_TIMEOUT_SECONDS,
        what=f"{PACE_ALERT} resolved at the webhook",
    )

    # 5. One worker killed: the survivor takes over, sums still equal, nothing twice.
    killed, survivor = workers
    killed.kill()
    wait_for(
        lambda: sorted(worker_partitions(survivor.base_url)) == PARTITIONS,
        timeout_seconds=TAKEOVER_TIMEOUT_SECONDS,
        what="the survivor to own all partitions",
    )
    wait_until_consumed(flow)
    wait_for(
        lambda: prometheus.targets_up() == {_instance(killed): 0.0, _instance(survivor): 1.0},
        timeout_seconds=60,
        what="Prometheus to see the killed worker down",
    )
    wait_until_empty(
        lambda: differences(prometheus, exported([*initial, *resumed], settings)),
        what="Prometheus to equal the batch with the survivor alone",
    )
    assert partitions_exported_twice(prometheus) == []
    assert series_exported_twice(prometheus) == []
    assert prometheus.values("sum(dealpulse_partitions_owned)") == {(): len(PARTITIONS)}


# --- The workload --------------------------------------------------------------------------


def workers_settings(flow: Flow) -> Settings:
    """The settings the workers run with (their environment), for the batch computation."""
    return flow.settings().model_copy(update=RETENTION)


def quota_file(path: Path, quotas: Mapping[str, int]) -> Path:
    """This month's `quotas` by seller ("seller-NNN"), in teams east (odd numbers, with a
    team quota of its own) and west (the sum of its sellers')."""
    month = E2E_CLOCK.strftime("%Y-%m")
    rows = ["period,seller,team,amount", f"{month},,east,2000000"]
    for seller, amount in sorted(quotas.items()):
        team = "east" if int(seller.removeprefix("seller-")) % 2 else "west"
        rows.append(f"{month},{seller},{team},{amount}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def sellers_who_won_this_month(expected: Exported) -> set[str]:
    """Sellers of tenant "default" with won revenue in the current month."""
    return {
        labels["seller"]
        for labels, value in (
            (dict(pairs), value) for pairs, value in expected[cat.PERIOD_WON_REVENUE.name].items()
        )
        if labels["tenant"] == TENANT
        and labels["granularity"] == "month"
        and labels["window"] == "current"
        and value > 0
    }


def deal_without_created() -> OutboundMessage:
    """A deal whose deal.created never arrived. The simulator writes consistent stories
    only; the "Deal anomalies" panel needs a live deal with an anomaly (`no_created`)."""
    occurred_at = E2E_CLOCK - timedelta(days=2)
    event: WireEvent = {
        "event_id": str(uuid.UUID(int=20, version=4)),
        "schema_version": 1,
        "type": "deal.stage_changed",
        "occurred_at": format_timestamp(occurred_at),
        "deal_id": "deal-without-created",
        "tenant": TENANT,
        "pipeline": "new-business",
        "stage": "qualified",
        "owner": "seller-001",
        "source": "simcrm",
    }
    return encode_event(event, occurred_at)


def exported(messages: Iterable[OutboundMessage], settings: Settings) -> Exported:
    """The batch result of `messages` as the workers together export it: histograms
    cumulated, active deals as running totals (`exposition_samples`), only the current and
    previous window of each granularity, labelled like the collector labels them."""
    ctx = build_context(settings, E2E_CLOCK)
    assert settings.export_windows == 2, "the window names below assume current and previous"
    names: dict[Window, str] = {}
    for granularity in ctx.cutoffs:
        current = window_start(E2E_CLOCK, granularity, ctx.timezone)
        names[Window(granularity, current)] = "current"
        names[Window(granularity, shift_window(current, granularity, -1))] = "previous"
    series: defaultdict[str, dict[LabelPairs, Decimal]] = defaultdict(dict)
    snapshot = batch_result(messages, settings, E2E_CLOCK)
    for key, value in exposition_samples(snapshot, ctx).items():
        labels = dict(key.labels)
        if key.window is not None:
            if key.window not in names:
                continue
            labels["granularity"] = key.window.granularity.value
            labels["window_start"] = key.window.start.isoformat()
            labels["window"] = names[key.window]
        series[key.metric][tuple(sorted(labels.items()))] = value
    return dict(series)


def missing_windows(series: Exported) -> list[str]:
    """Windowed metrics with no series of tenant "default" in an exported window."""
    missing = []
    for spec in cat.ALL_METRICS:
        if not spec.windowed:
            continue
        name = spec.bucket if spec.kind == "histogram" else spec.name
        found = {
            (labels["granularity"], labels["window"])
            for labels in map(dict, series.get(name, {}))
            if labels["tenant"] == TENANT
        }
        missing += [
            f"{name} {granularity} {window}"
            for granularity in ("day", "week", "month")
            for window in ("current", "previous")
            if (granularity, window) not in found
        ]
    return missing


# --- What the test reads ------------------------------------------------------------------


def differences(prometheus: Prometheus, expected: Exported) -> list[str]:
    """Where Prometheus' sums over the workers, or its recorded ratios, differ from the
    batch."""
    found: list[str] = []
    for name in EXPORTED_NAMES:
        actual = prometheus.values(f"sum without (instance, job) ({name})")
        found += _compare(name, actual, expected.get(name, {}), exact=name not in MEASURED)
    for ratio in RATIOS:
        for level in ratio.levels:
            rule = ratio.rule(level)
            found += _compare(
                rule, prometheus.values(rule), ratio.expected(expected, level), exact=False
            )
    return found


def panels_without_data(prometheus: Prometheus) -> list[str]:
    """Panel queries (variables filled for tenant "default") with no series that has a
    value."""
    variables = query_variables(TENANT)
    empty = []
    for uid, title, expr in panel_queries():
        promql = expand_variables(expr, variables)
        if all(math.isnan(sample.value) for sample in prometheus.query(promql)):
            empty.append(f"{uid} / {title}: {promql}")
    return empty


def partitions_exported_twice(prometheus: Prometheus) -> list[str]:
    """Per-partition engine series that more than one worker exports."""
    return [
        f"{name} partition {sample.labels['partition']}: {sample.value:g} workers"
        for name in ("dealpulse_consumer_lag", "dealpulse_newest_event_timestamp_seconds")
        for sample in prometheus.query(f'count by (partition) ({name}{{job="dealpulse"}}) > 1')
    ]


def series_exported_twice(prometheus: Prometheus) -> list[str]:
    """dealpulse series present on more than one instance (the name copied to a label,
    which aggregation would drop)."""
    named = (
        'label_replace({__name__=~"dealpulse_.+", job="dealpulse"}, '
        '"name", "$1", "__name__", "(.+)")'
    )
    return [
        str(dict(sample.labels))
        for sample in prometheus.query(f"count without (instance) ({named}) > 1")
    ]


def owners(workers: Iterable[WorkerProcess]) -> dict[int, int] | None:
    """Partition -> worker index, once the workers own disjoint partitions covering all."""
    owned: dict[int, int] = {}
    for index, worker in enumerate(workers):
        for partition in worker_partitions(worker.base_url):
            if partition in owned:
                return None
            owned[partition] = index
    return owned if sorted(owned) == PARTITIONS else None


def wait_until_consumed(flow: Flow) -> None:
    wait_for(
        lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
        timeout_seconds=CONSUME_TIMEOUT_SECONDS,
        what="every offset committed",
    )


def wait_until_empty(check: Callable[[], list[str]], *, what: str) -> None:
    """Wait until `check` finds nothing; at the deadline, fail with what it last found."""
    last: list[str] = []

    def settled() -> bool:
        nonlocal last
        last = check()
        return not last

    try:
        wait_for(settled, timeout_seconds=PROMETHEUS_TIMEOUT_SECONDS, what=what)
    except AssertionError as error:
        shown = "\n  ".join(last[:30])
        raise AssertionError(f"{error}\n  {shown}\n  ({len(last)} in all)") from None


def _instance(worker: WorkerProcess) -> str:
    return f"127.0.0.1:{worker.web_port}"


def _summed(
    series: Mapping[LabelPairs, Decimal], keep: tuple[str, ...]
) -> dict[LabelPairs, Decimal]:
    sums: defaultdict[LabelPairs, Decimal] = defaultdict(Decimal)
    for labels, value in series.items():
        by_name = dict(labels)
        sums[tuple(sorted((name, by_name[name]) for name in keep))] += value
    return dict(sums)


def _compare(
    what: str,
    actual: Mapping[LabelPairs, float],
    expected: Mapping[LabelPairs, Decimal],
    *,
    exact: bool,
    limit: int = 5,
) -> list[str]:
    wrong = [
        f"{what}{dict(labels)}: Prometheus {actual.get(labels)} != batch {expected.get(labels)}"
        for labels in sorted(set(actual) | set(expected))
        if not _equal(actual.get(labels), expected.get(labels), exact=exact)
    ]
    return wrong[:limit] + (
        [f"{what}: ... {len(wrong) - limit} more"] if len(wrong) > limit else []
    )


def _equal(actual: float | None, expected: Decimal | None, *, exact: bool) -> bool:
    if actual is None or expected is None:
        return False
    if exact:  # counts: integers, exact in float64 far beyond these
        return actual == float(expected)
    return math.isclose(actual, float(expected), rel_tol=RELATIVE_TOLERANCE)
