"""The demo's saved plan: what a second run needs to continue without resending an event id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.demo_plan import DemoPlan, load_plan, save_plan
from streams.simulator import SimulationConfig

CUT = datetime(2026, 12, 7, 6, 45, 40, 810332, tzinfo=UTC)
CONFIG = SimulationConfig(
    seed=42, deals=2000, start=datetime(2026, 9, 8, 6, tzinfo=UTC), span=timedelta(days=90)
)
WHERE = ("127.0.0.1:9092", "crm.deal-events")


def test_a_saved_plan_loads_back_equal(tmp_path: Path) -> None:
    plan = DemoPlan.first_run(CONFIG, CUT, *WHERE).backfill_sent().sent(1234)
    save_plan(plan, tmp_path / "state" / "demo.json")
    assert load_plan(tmp_path / "state" / "demo.json") == plan


def test_a_missing_or_damaged_plan_is_none(tmp_path: Path) -> None:
    assert load_plan(tmp_path / "missing.json") is None
    (tmp_path / "cut.json").write_text('{"seed": 4')
    assert load_plan(tmp_path / "cut.json") is None
    (tmp_path / "naive.json").write_text(
        DemoPlan.first_run(CONFIG, CUT, *WHERE).model_dump_json().replace("Z", "")
    )
    assert load_plan(tmp_path / "naive.json") is None


def test_the_plan_gives_back_the_history_it_was_made_for() -> None:
    later = SimulationConfig(
        seed=42, deals=2000, start=datetime(2026, 9, 9, 11, tzinfo=UTC), invalid_pct=1.0
    )
    plan = DemoPlan.first_run(CONFIG, CUT, *WHERE)
    simulation = plan.simulation(later)
    assert (simulation.start, simulation.span, simulation.seed) == (CONFIG.start, CONFIG.span, 42)
    assert simulation.invalid_pct == 1.0  # the faults asked for now


def test_a_plan_continues_only_the_same_demo_on_the_same_topic() -> None:
    plan = DemoPlan.first_run(CONFIG, CUT, *WHERE)
    assert plan.continues(*WHERE, CONFIG)
    assert not plan.continues("broker:9092", WHERE[1], CONFIG)
    assert not plan.continues(WHERE[0], "other-topic", CONFIG)
    assert not plan.continues(*WHERE, SimulationConfig(seed=43, deals=2000))
    assert not plan.continues(*WHERE, SimulationConfig(seed=42, deals=2001))


def test_a_plan_with_its_own_seed_still_continues_the_demo_asked_for() -> None:
    plan = DemoPlan.first_run(CONFIG, CUT, *WHERE, seed=987654321)
    assert plan.seed == 987654321
    assert plan.simulation(CONFIG).seed == 987654321
    assert plan.continues(*WHERE, CONFIG)
