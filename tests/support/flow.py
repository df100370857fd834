"""A Kafka cluster's address, and one isolated flow on it (the integration fixtures' values)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams.settings import Settings


@dataclass(frozen=True)
class Kafka:
    bootstrap: str


@dataclass(frozen=True)
class Flow:
    """One isolated flow: its own topics, consumer groups and state directory."""

    kafka: Kafka
    topic: str
    dlq: str
    app_id: str
    state_dir: Path
    control: str

    def env(self) -> dict[str, str]:
        return {
            "DEALPULSE_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "DEALPULSE_TOPIC_EVENTS": self.topic,
            "DEALPULSE_TOPIC_DLQ": self.dlq,
            "DEALPULSE_TOPIC_CONTROL": self.control,
            "DEALPULSE_APP_ID": self.app_id,
            "DEALPULSE_LOG_LEVEL": "info",
            "DEALPULSE_WEB_STATE_ENABLED": "true",  # the checks read every worker's state
        }

    def settings(self) -> Settings:
        return Settings(
            kafka_bootstrap=self.kafka.bootstrap,
            topic_events=self.topic,
            topic_dlq=self.dlq,
            topic_control=self.control,
            app_id=self.app_id,
        )
