"""The control plane's names: Faust's consumer group and changelogs stay apart from the engine's,
and the names that persist in Kafka do not drift."""

from __future__ import annotations

import pytest

from streams.engine.deal_engine import KafkaClients
from streams.kafka.topics import CONTROL_PARTITIONS, changelog_topic, control_topic
from streams.settings import Settings
from streams.topology import (
    QUOTA_AGENT,
    QUOTA_TABLE,
    SETTINGS_AGENT,
    SETTINGS_TABLE,
    build_topology,
    quota_changelog_topic,
    settings_changelog_topic,
)

SETTINGS = Settings(app_id="sales", topic_control="sales.control")


def test_faust_joins_a_group_of_its_own_and_the_engine_keeps_its_group() -> None:
    """Faust's consumer group is its app id; the engine's is `DEALPULSE_APP_ID`, where existing
    deployments have committed offsets."""
    app = build_topology(SETTINGS).app
    assert app.conf.id == "sales-control"
    assert KafkaClients(SETTINGS).consumer_options()["group_id"] == "sales"
    assert changelog_topic(SETTINGS) == "sales-deals-changelog"


@pytest.mark.parametrize(
    ("name", "changelog"),
    [
        (QUOTA_TABLE, "sales-control-quotas-changelog"),
        (SETTINGS_TABLE, "sales-control-settings-changelog"),
    ],
)
def test_the_control_tables_are_global_and_their_changelog_names_are_fixed(
    name: str, changelog: str
) -> None:
    table = build_topology(SETTINGS).app.tables[name]
    assert table.changelog_topic.get_topic_name() == changelog
    assert changelog in {quota_changelog_topic(SETTINGS), settings_changelog_topic(SETTINGS)}
    assert table.is_global
    assert table.partitions == CONTROL_PARTITIONS == 1
    # The GlobalTable pitfalls (faust-streaming issues 212 and 283): every change applied as
    # it comes, and the changelog read on after recovery on every worker.
    assert table.recovery_buffer_size == 1
    assert table.synchronize_all_active_partitions


@pytest.mark.parametrize("name", [QUOTA_AGENT, SETTINGS_AGENT])
def test_the_agents_read_the_control_topic(name: str) -> None:
    agents = build_topology(SETTINGS).app.agents
    (agent,) = [agent for agent in agents.values() if agent.name == name]
    assert agent.channel.topics == ("sales.control",)


def test_the_control_topic_is_compacted_with_one_partition() -> None:
    spec = control_topic(SETTINGS)
    assert (spec.name, spec.partitions) == ("sales.control", 1)
    assert dict(spec.configs) == {"cleanup.policy": "compact"}
