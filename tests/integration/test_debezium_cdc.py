"""SQL on a real PostgreSQL, through real Kafka Connect + Debezium, the bridge and a worker.

An Odoo-style CRM (deploy/postgres/crm_schema.sql) gets leads before Connect starts (so
Debezium's snapshot reads them, `op: r`), then a script of changes: stages moved forward
and back, won, reopened, lost with a reason and restored, amount, salesperson and
deadline changed, a DELETE, an archive without a reason (a soft delete), and one
transaction that moves and wins a lead under one `write_date`. Beside each statement the
script states the canonical event it means, written by hand from Odoo's field meanings;
`tests.support.reference` computes the metrics of those events, and the worker's
aggregates must equal them exactly.

Then a bridge is killed (SIGKILL) in the middle of a second backlog and restarted: what
it had produced but not committed is produced again, and the worker, de-duplicating by
event id, still equals the reference.

It measures, and prints: the delay from a SQL UPDATE to the changed number on the
worker's /metrics, the bridge's rate over a backlog of 2,000 inserted leads (from the
producer timestamps of the events it wrote), and how many events the kill made it
produce twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.bridges.canonical import utc_text
from streams.bridges.mapping_file import load_mapping
from streams.domain.events import SCHEMA_VERSION, DealEvent
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.kafka.topics import ensure_topics
from streams.metric_context import build_context
from streams.settings import DEFAULT_ODOO_MAPPING_FILE
from tests.support.cdc import BridgeProcess, CdcStack, cdc_stack, produced_at_ms, topic_size
from tests.support.flow import Flow
from tests.support.oracle import Snapshot, differences, worker_state
from tests.support.reference import reference
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

BULK_LEADS = 2_000
STAGES = {1: "lead", 2: "qualified", 3: "proposal", 4: "4"}  # 4 is won: unmapped by design
WAIT_SECONDS = 120.0


@dataclass
class Script:
    """SQL statements and, beside them, the canonical events they mean."""

    base: datetime
    statements: list[str] = field(default_factory=list)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def at(self, minute: int) -> datetime:
        return self.base + timedelta(minutes=minute)

    def ts(self, minute: int) -> str:
        return f"'{self.at(minute).replace(tzinfo=None).isoformat(sep=' ')}'"

    def sql(self, statement: str) -> Script:
        self.statements.append(statement)
        return self

    def expect(self, kind: str, lead: int, at: datetime, **fields: Any) -> Script:
        self.expected.append(
            {
                "event_id": f"expected-{len(self.expected):06d}",
                "schema_version": SCHEMA_VERSION,
                "type": f"deal.{kind}",
                "occurred_at": utc_text(at),
                "deal_id": str(lead),
                "source": "odoo",
                **fields,
            }
        )
        return self

    def insert(
        self, lead: int, minute: int, stage: int, user: int, revenue: str, **extra: Any
    ) -> Script:
        columns = {
            "id": str(lead),
            "name": f"'lead {lead}'",
            "stage_id": str(stage),
            "team_id": "1",
            "user_id": str(user),
            "expected_revenue": revenue,
            "create_date": self.ts(minute),
            "write_date": self.ts(extra.pop("written", minute)),
            **{name: str(value) for name, value in extra.items()},
        }
        return self.sql(
            f"INSERT INTO crm_lead ({', '.join(columns)}) VALUES ({', '.join(columns.values())})"  # noqa: S608 - the test's own SQL
        )

    def update(self, lead: int, minute: int, assignments: str) -> Script:
        return self.sql(
            f"UPDATE crm_lead SET {assignments}, write_date = {self.ts(minute)} WHERE id = {lead}"  # noqa: S608 - the test's own SQL
        )

    def created(
        self, lead: int, minute: int, stage: int, user: int, revenue: str, **fields: Any
    ) -> Script:
        return self.expect(
            "created",
            lead,
            self.at(minute),
            pipeline="new-business",
            stage=STAGES[stage],
            owner=str(user),
            amount=revenue,
            currency="EUR",
            **fields,
        )

    def flush(self) -> str:
        text = ";\n".join(self.statements) + ";\n"
        self.statements.clear()
        return text


def snapshot_leads(script: Script) -> None:
    """Leads that exist before Debezium starts: its snapshot reads them as they are now."""
    s = script
    s.insert(1, 0, 2, 7, "1000.00", written=10).created(1, 0, 2, 7, "1000.00")
    s.insert(2, 5, 4, 8, "2500.50", written=60, probability=100, date_closed=s.ts(60))
    s.created(2, 5, 4, 8, "2500.50").expect(
        "won", 2, s.at(60), owner="8", amount="2500.50", currency="EUR"
    )
    s.insert(
        3, 8, 2, 7, "800.00", written=50, active="false", lost_reason_id=1, date_closed=s.ts(50)
    )
    s.created(3, 8, 2, 7, "800.00").expect("lost", 3, s.at(50), reason="too expensive")
    s.insert(4, 9, 1, 7, "300.00", written=20, active="false")
    s.created(4, 9, 1, 7, "300.00").expect("deleted", 4, s.at(20))


def streamed_changes(script: Script, deleted_at: datetime) -> None:
    """Changes Debezium streams from the WAL, each beside what it means."""
    s = script
    deadline = (s.base + timedelta(days=30)).date().isoformat()
    later_deadline = (s.base + timedelta(days=45)).date().isoformat()
    won_11 = {"owner": "7", "currency": "EUR"}
    # lead 11: forward, moved back, won, reopened, won again for more
    s.insert(11, 100, 1, 7, "5000.00", date_deadline=f"'{deadline}'")
    s.created(11, 100, 1, 7, "5000.00", expected_close_date=deadline)
    s.update(11, 110, "stage_id = 2").expect(
        "stage_changed", 11, s.at(110), pipeline="new-business", stage="qualified"
    )
    s.update(11, 120, "stage_id = 3").expect(
        "stage_changed", 11, s.at(120), pipeline="new-business", stage="proposal"
    )
    s.update(11, 130, "stage_id = 2").expect(
        "stage_changed", 11, s.at(130), pipeline="new-business", stage="qualified"
    )
    s.update(11, 140, f"stage_id = 4, probability = 100, date_closed = {s.ts(140)}")
    s.expect("won", 11, s.at(140), amount="5000.00", **won_11)
    s.update(11, 150, "stage_id = 3, probability = 50, date_closed = NULL")
    s.expect("reopened", 11, s.at(150), pipeline="new-business", stage="proposal")
    s.update(11, 160, "stage_id = 4, expected_revenue = 5500.00")
    s.expect("amount_changed", 11, s.at(160), amount="5500.00", currency="EUR")
    s.expect("won", 11, s.at(160), amount="5500.00", **won_11)
    # lead 12: lost with a reason, restored, then amount, salesperson and deadline in one write
    s.insert(12, 105, 1, 8, "3000.00").created(12, 105, 1, 8, "3000.00")
    s.update(12, 125, "active = false, lost_reason_id = 2, probability = 0")
    s.expect("lost", 12, s.at(125), reason="no people or skills")
    s.update(12, 135, "active = true, lost_reason_id = NULL")
    s.expect("reopened", 12, s.at(135), pipeline="new-business", stage="lead")
    s.update(
        12, 145, f"expected_revenue = 3200.00, user_id = 7, date_deadline = '{later_deadline}'"
    )
    s.expect("amount_changed", 12, s.at(145), amount="3200.00", currency="EUR")
    s.expect("owner_changed", 12, s.at(145), owner="7")
    s.expect("close_date_changed", 12, s.at(145), expected_close_date=later_deadline)
    # lead 13 deleted; lead 14 archived without a reason (a soft delete)
    s.insert(13, 108, 1, 8, "700.00").created(13, 108, 1, 8, "700.00")
    s.update(13, 118, "stage_id = 2").expect(
        "stage_changed", 13, s.at(118), pipeline="new-business", stage="qualified"
    )
    s.sql("DELETE FROM crm_lead WHERE id = 13").expect("deleted", 13, deleted_at)
    s.insert(14, 109, 2, 7, "900.00").created(14, 109, 2, 7, "900.00")
    s.update(14, 119, "active = false").expect("deleted", 14, s.at(119))
    # lead 15: one transaction, one write_date: moved, then won from there
    s.sql("BEGIN").insert(15, 200, 1, 8, "4000.00").created(15, 200, 1, 8, "4000.00")
    s.update(15, 210, "stage_id = 3").expect(
        "stage_changed", 15, s.at(210), pipeline="new-business", stage="proposal"
    )
    s.update(15, 210, "stage_id = 4").expect(
        "won", 15, s.at(210), owner="8", amount="4000.00", currency="EUR"
    )
    s.sql("COMMIT")
    # the snapshot's lead 1 moves on; lead 16 is the one whose update is timed
    s.update(1, 170, "stage_id = 3").expect(
        "stage_changed", 1, s.at(170), pipeline="new-business", stage="proposal"
    )
    s.insert(16, 220, 1, 7, "1000.00").created(16, 220, 1, 7, "1000.00")


def bulk_insert(written: str, first_lead: int) -> str:
    """`BULK_LEADS` new leads in one statement, ids from `first_lead`."""
    columns = "id, name, stage_id, team_id, user_id, expected_revenue, create_date, write_date"
    values = f"i, 'bulk ' || i, 1, 1, 9, (i % 50) * 100 + 100, {written}, {written}"
    rows = f"generate_series({first_lead}, {first_lead + BULK_LEADS - 1}) AS i"
    return f"INSERT INTO crm_lead ({columns}) SELECT {values} FROM {rows}"  # noqa: S608 - the test's own SQL


def expected_metrics(script: Script, flow: Flow, clock: datetime) -> Snapshot:
    ingestor = Ingestor(flow.settings(), clock=lambda: clock)
    events = []
    for payload in script.expected:
        outcome = ingestor.ingest(
            RawMessage(key=payload["deal_id"].encode(), value=json.dumps(payload).encode())
        )
        assert isinstance(outcome, DealEvent), (outcome, payload)
        events.append(outcome)
    return reference(events, build_context(flow.settings(), clock))


def open_pipeline_value(worker: WorkerProcess) -> float:
    samples = worker.try_scrape() or {}
    return sum(v for k, v in samples.items() if k.startswith("dealpulse_open_pipeline_value{"))


class Run:
    """One run of the path: the script so far, the stack, the worker and the current bridge."""

    def __init__(self, flow: Flow, clock: datetime, stack: CdcStack, worker: WorkerProcess) -> None:
        self.flow, self.clock, self.stack, self.worker = flow, clock, stack, worker
        self.script = Script(base=clock - timedelta(days=1))
        self.bridge_env = {**flow.env(), "DEALPULSE_CLOCK": clock.isoformat(), **stack.env}
        self.bridge: BridgeProcess | None = None
        self._bridges = 0

    def run_sql(self) -> None:
        self.stack.postgres.sql(self.script.flush())

    def start_bridge(self) -> BridgeProcess:
        self._bridges += 1
        log_path = self.flow.state_dir / f"bridge-{self._bridges}.log"
        self.bridge = BridgeProcess(self.bridge_env, log_path).start()
        return self.bridge

    def converge(self, what: str) -> None:
        """Wait until the worker's aggregates equal the reference of the script so far."""
        expected = expected_metrics(self.script, self.flow, self.clock)

        def converged() -> bool:
            if self.bridge is not None:
                self.bridge.check_alive()
            return not differences(worker_state(self.worker.base_url).snapshot, expected)

        try:
            wait_for(converged, timeout_seconds=WAIT_SECONDS, what=what)
        except AssertionError:
            diff = differences(worker_state(self.worker.base_url).snapshot, expected)
            raise AssertionError(f"{what}: the worker differs from the reference: {diff}") from None

    def timed_update(self) -> float:
        """Seconds from sending an UPDATE to the changed number on the worker's /metrics."""
        before = open_pipeline_value(self.worker)
        self.script.update(16, 230, "expected_revenue = 1500.00")
        self.script.expect(
            "amount_changed", 16, self.script.at(230), amount="1500.00", currency="EUR"
        )
        started = time.monotonic()
        self.run_sql()
        wait_for(
            lambda: open_pipeline_value(self.worker) != before,
            timeout_seconds=WAIT_SECONDS,
            what="the UPDATE on /metrics",
        )
        return time.monotonic() - started

    def backlog(self, first_lead: int) -> None:
        """With the bridge stopped, `BULK_LEADS` inserted leads, waiting in Debezium's topic."""
        assert self.bridge is not None
        assert self.bridge.stop() == 0
        bootstrap, topic = self.flow.kafka.bootstrap, self.stack.debezium_topic
        waiting_from = topic_size(bootstrap, topic)
        self.script.sql(bulk_insert(self.script.ts(240), first_lead))
        for lead in range(first_lead, first_lead + BULK_LEADS):
            self.script.created(lead, 240, 1, 9, str((lead % 50) * 100 + 100))
        self.run_sql()
        wait_for(
            lambda: topic_size(bootstrap, topic) >= waiting_from + BULK_LEADS,
            timeout_seconds=WAIT_SECONDS,
            what="Debezium to write the backlog",
        )


def test_sql_history_through_debezium_equals_the_reference(flow: Flow) -> None:
    clock = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    asyncio.run(ensure_topics(flow.settings()))
    worker_env = {**flow.env(), "DEALPULSE_CLOCK": clock.isoformat()}
    with (
        cdc_stack(flow.kafka.bootstrap, flow.app_id[-8:], flow.state_dir) as stack,
        WorkerProcess(worker_env, flow.state_dir) as worker,
    ):
        won_stages = stack.postgres.sql("SELECT id FROM crm_stage WHERE is_won").split()
        assert set(won_stages) == load_mapping(DEFAULT_ODOO_MAPPING_FILE).won_stages
        run = Run(flow, clock, stack, worker)
        try:
            snapshot_leads(run.script)
            run.run_sql()
            stack.connect.up()
            run.start_bridge()
            streamed_changes(run.script, deleted_at=clock - timedelta(minutes=1))
            run.run_sql()
            run.converge("the snapshot and the streamed history")
            assert run.bridge is not None
            created = 'dealpulse_bridge_events_total{source="debezium",type="deal.created"}'
            assert run.bridge.scrape().get(created, 0) > 0
            delay_seconds = run.timed_update()
            run.converge("the timed update")

            run.backlog(first_lead=1000)
            run.start_bridge()
            run.converge("the backlog")

            run.backlog(first_lead=3000)
            produced_before = topic_size(flow.kafka.bootstrap, flow.topic)
            run.start_bridge()
            wait_for(
                lambda: topic_size(flow.kafka.bootstrap, flow.topic) > produced_before,
                timeout_seconds=WAIT_SECONDS,
                what="the bridge to produce part of the second backlog",
            )
            assert run.bridge is not None
            run.bridge.kill()
            run.start_bridge()
            run.converge("a bridge killed in the middle of a backlog, then restarted")
        finally:
            if run.bridge is not None:
                run.bridge.stop()
        assert topic_size(flow.kafka.bootstrap, stack.dlq) == 0

    produced = produced_at_ms(flow.kafka.bootstrap, flow.topic)
    first = [at for lead in range(1000, 1000 + BULK_LEADS) for at in produced[str(lead).encode()]]
    span_seconds = max((max(first) - min(first)) / 1000, 0.001)
    again = sum(len(produced[str(lead).encode()]) for lead in range(3000, 3000 + BULK_LEADS))
    print(
        f"\nDebezium CDC: SQL UPDATE -> /metrics {delay_seconds:.2f} s; bridge "
        f"{BULK_LEADS / span_seconds:,.0f} events/s ({BULK_LEADS} events in {span_seconds:.2f} s); "
        f"after kill -9, {again - BULK_LEADS} of {BULK_LEADS} events produced twice, "
        "de-duplicated by the worker"
    )
