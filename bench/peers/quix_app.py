"""The Quix Streams peer: per-deal state, then daily won revenue and deals per seller.

Runs in the separate venv (`make bench` creates `.venv-bench`), as a user of the
current Quix Streams release would write it:

    BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_TOPIC=... BENCH_GROUP=... BENCH_OUTPUT=... \
    BENCH_DATA_DIR=... BENCH_RATES='{"EUR": "1.08"}' .venv-bench/bin/python -m bench.peers.quix_app

1. Keyed by deal (the input topic's key), a stateful step (RocksDB, changelogged,
   at-least-once, Quix's defaults) drops events already seen by `event_id` and
   keeps the deal's current win; a win, a reopen, a loss or a deletion emits the
   change to the seller's numbers (the old win retracted, the new one added).
   Status events older than the last one applied are ignored, which copes with
   swapped events of one deal.
2. The changes are re-keyed by seller (`group_by`), timestamped with the win's
   event time, and summed in a tumbling 1-day window whose grace is dealpulse's
   92-day retention; `.current()` sends every update to the output topic, where
   the bench reads the last value of each (seller, day).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from quixstreams import Application  # type: ignore[import-not-found, unused-ignore]
from quixstreams.dataframe.windows import Sum  # type: ignore[import-not-found, unused-ignore]

DAY = timedelta(days=1)
GRACE = timedelta(days=92)
WON = "deal.won"
ENDS_A_WIN = frozenset({"deal.reopened", "deal.lost", "deal.deleted"})
SEEN_PREFIX = "seen:"
LAST_STATUS_AT = "last_status_at"
CURRENT_WIN = "win"
DELETED = "deleted"


def _epoch_ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def win_changes(rates: dict[str, Decimal]) -> Any:
    def changes(event: dict[str, Any], state: Any) -> list[dict[str, Any]]:
        seen_key = SEEN_PREFIX + event["event_id"]
        if state.exists(seen_key) or state.get(DELETED, False):
            return []
        state.set(seen_key, True)
        kind = event["type"]
        if kind != WON and kind not in ENDS_A_WIN:
            return []
        at = _epoch_ms(event["occurred_at"])
        if at < state.get(LAST_STATUS_AT, 0):
            return []  # an older status than the one applied: it arrived out of order
        state.set(LAST_STATUS_AT, at)
        old = state.get(CURRENT_WIN)
        new = None
        if kind == WON:
            revenue = Decimal(event["amount"]) * rates.get(event["currency"], Decimal(1))
            new = {"seller": event["owner"], "won_at_ms": at, "revenue": float(revenue)}
        if kind == "deal.deleted":
            state.set(DELETED, True)
        state.set(CURRENT_WIN, new)
        out = []
        if old is not None:
            out.append({**old, "revenue": -old["revenue"], "deals": -1})
        if new is not None:
            out.append({**new, "deals": 1})
        return out

    return changes


def main() -> None:
    env = os.environ
    rates = {currency: Decimal(rate) for currency, rate in json.loads(env["BENCH_RATES"]).items()}
    app = Application(
        broker_address=env["BENCH_BOOTSTRAP"],
        consumer_group=env["BENCH_GROUP"],
        auto_offset_reset="earliest",
        state_dir=env["BENCH_DATA_DIR"],
        loglevel="ERROR",
    )
    events = app.topic(env["BENCH_TOPIC"], key_deserializer="str", value_deserializer="json")
    output = app.topic(env["BENCH_OUTPUT"], key_serializer="str", value_serializer="json")
    sdf = app.dataframe(events)
    sdf = sdf.apply(win_changes(rates), stateful=True, expand=True)
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: value["won_at_ms"])
    sdf = sdf.group_by("seller", name="by-seller")
    sdf = (
        sdf.tumbling_window(DAY, grace_ms=GRACE)
        .agg(revenue=Sum("revenue"), deals=Sum("deals"))
        .current()
    )
    sdf.to_topic(output)
    app.run()


if __name__ == "__main__":
    main()
