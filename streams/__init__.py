"""dealpulse: real-time sales metrics from CRM deal events on Kafka."""

__version__ = "0.1.0"
