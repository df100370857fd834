"""The plain Faust app, written the obvious way: windowed `table[seller] += amount`.

    BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_TOPIC=... BENCH_APP_ID=... BENCH_DATA_DIR=... \
    BENCH_WEB_PORT=6100 BENCH_RATES='{"EUR": "1.08"}' python -m bench.peers.faust_plain

Won events are re-keyed by seller (`group_by`) and summed in two tumbling 1-day
tables (revenue in USD, deals won) in event time, RocksDB-backed, at-least-once
(Faust's default). What it does not do, because the obvious way does not:
drop duplicates, retract a win when a deal is reopened or deleted, or notice a
redelivery after a crash. `GET /state` lists every window of both tables.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import faust

DAY = timedelta(days=1)
EXPIRES = timedelta(days=92)  # dealpulse's default daily retention
WON = "deal.won"


class DealEvent(faust.Record, serializer="json", isodates=True):
    """The fields of the canonical event this app reads; the others are ignored."""

    event_id: str
    type: str
    occurred_at: datetime
    deal_id: str
    owner: str
    amount: str | None = None
    currency: str | None = None


OCCURRED_AT: Any = DealEvent.occurred_at
"""The field's descriptor (on the class, Faust fields are descriptors; typed as their values)."""


def build_app(env: dict[str, str]) -> Any:
    rates = {currency: Decimal(rate) for currency, rate in json.loads(env["BENCH_RATES"]).items()}
    app = faust.App(
        env["BENCH_APP_ID"],
        broker=f"kafka://{env['BENCH_BOOTSTRAP']}",
        store="rocksdb://",
        datadir=env["BENCH_DATA_DIR"],
        topic_partitions=int(env.get("BENCH_PARTITIONS", "8")),
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_port=int(env["BENCH_WEB_PORT"]),
        web_bind="127.0.0.1",
        autodiscover=False,
    )
    events = app.topic(env["BENCH_TOPIC"], key_type=str, value_type=DealEvent)
    revenue = (
        app.Table("revenue", default=float)
        .tumbling(DAY, expires=EXPIRES)
        .relative_to_field(OCCURRED_AT)
    )
    won = (
        app.Table("won", default=int).tumbling(DAY, expires=EXPIRES).relative_to_field(OCCURRED_AT)
    )

    @app.agent(events)
    async def count_wins(stream: Any) -> None:
        async for event in stream.filter(lambda e: e.type == WON).group_by(DealEvent.owner):
            revenue[event.owner] += float(Decimal(event.amount) * rates.get(event.currency, 1))
            won[event.owner] += 1

    @app.page("/state")
    async def state(web: Any, request: Any) -> Any:
        rows: dict[tuple[str, float], list[Any]] = {}
        for column, table in ((0, revenue.table), (1, won.table)):
            for (seller, (start, _end)), value in table.data.items():
                rows.setdefault((seller, start), [0.0, 0])[column] = value
        body = [[seller, start, *values] for (seller, start), values in sorted(rows.items())]
        return web.json(body)

    return app


def main() -> None:
    app = build_app(dict(os.environ))
    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
