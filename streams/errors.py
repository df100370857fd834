"""The one exception tree of dealpulse.

Bad *input* is never an exception: it becomes a `Rejection` (a DLQ record with a
reason and a counter). Exceptions are for the operator's environment and
configuration, and only the CLI turns them into an exit code::

    DealpulseError
    ├── ConfigurationError      settings or files that cannot work
    │   └── MappingFileError    a bridge's mapping file (streams.bridges.mapping_file)
    ├── PrerequisiteMissingError     Java, Maven or a jar the local broker needs
    ├── BrokerError             the local broker did not start, answer or stop
    ├── CdcError                the local PostgreSQL or Kafka Connect did not start, answer or stop
    ├── KafkaUnavailableError   Kafka did not answer in time, or refused the credentials
    ├── ReplayError             a process of `dealpulse replay` failed or vanished
    ├── CrmUnavailableError     a bridge could not read the CRM's API (answered 503)
    └── ScrapeError             `dealpulse top` could not read a worker's /metrics
"""


class DealpulseError(Exception):
    """Root of every error dealpulse raises on purpose."""


class ConfigurationError(DealpulseError):
    """Settings or configuration files that cannot work as given."""


class PrerequisiteMissingError(DealpulseError):
    """A tool the local broker needs (Java, Maven) is not installed."""


class BrokerError(DealpulseError):
    """The local Kafka broker did not start, answer or stop as expected."""


class CdcError(DealpulseError):
    """The local PostgreSQL or Kafka Connect (with Debezium) did not start, answer or stop."""


class ReplayError(DealpulseError):
    """A process of `dealpulse replay` failed or ended without its result."""


class CrmUnavailableError(DealpulseError):
    """A bridge could not read what it needs from the CRM's API; the webhook is answered
    503 so the CRM delivers it again."""


class KafkaUnavailableError(DealpulseError):
    """Kafka did not answer within the wait allowed, or refused the client's credentials."""


class ScrapeError(DealpulseError):
    """A worker's /metrics could not be read: unreachable, credentials refused, or not
    Prometheus text."""
