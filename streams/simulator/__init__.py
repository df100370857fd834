"""A simulated CRM: deterministic deal-lifecycle events, with optional delivery faults.

    from streams.simulator import SimulationConfig, generate
    from streams.simulator.sinks import produce, write_jsonl

    config = SimulationConfig(seed=42, deals=1_000, invalid_pct=2.0)
    write_jsonl(generate(config), "deals.jsonl")

The same config always yields the same bytes. Only `streams.simulator.sinks`
imports aiokafka, so generating events (and testing with them) needs no Kafka.
"""

from streams.simulator.config import SimulationConfig, SimulationConfigError
from streams.simulator.faults import fault_count
from streams.simulator.generate import generate, valid_messages
from streams.simulator.invalid import INVALID_KINDS, SCHEMA_VALID_KINDS, InvalidKind
from streams.simulator.lifecycle import deal_lifecycle
from streams.simulator.messages import OutboundMessage

__all__ = [
    "INVALID_KINDS",
    "SCHEMA_VALID_KINDS",
    "InvalidKind",
    "OutboundMessage",
    "SimulationConfig",
    "SimulationConfigError",
    "deal_lifecycle",
    "fault_count",
    "generate",
    "valid_messages",
]
