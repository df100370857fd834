"""The project's own PostgreSQL: a private cluster under `.dealpulse/`, for the CDC demo and tests.

A newcomer needs a CRM database that Debezium can read without touching the
machine's own PostgreSQL: `initdb` makes a cluster of its own (`wal_level=logical`,
trust on 127.0.0.1 only), `pg_ctl` runs it on its own port, and the Odoo-style
schema of `deploy/postgres/crm_schema.sql` (tables, `REPLICA IDENTITY FULL`, the
publication) is applied on every `up`, idempotently. PostgreSQL refuses to run as
root, so as root the server runs as the `postgres` user Debian's package creates.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streams.cdc.processes import port_in_use
from streams.errors import CdcError, PrerequisiteMissingError
from streams.preflight import ensure_directory
from streams.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "crm_schema.sql"
SERVER_USER = "postgres"
"""The database superuser, and the OS user the server runs as when we are root."""
_DEBIAN_BINARIES = Path("/usr/lib/postgresql")
_INSTALL_HINT = "PostgreSQL's server (Debian: apt-get install postgresql)"
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "logical",
    "max_wal_senders": "4",
    "max_replication_slots": "4",
    "fsync": "off",  # a disposable local cluster: speed over crash safety
    "synchronous_commit": "off",
    "shared_buffers": "32MB",
    "unix_socket_directories": "''",  # TCP only: a socket path may pass the 107-byte limit
}


@dataclass(frozen=True, slots=True)
class PostgresStatus:
    running: bool
    port: int
    database: str

    def describe(self) -> str:
        where = f"127.0.0.1:{self.port}, database {self.database}"
        if not self.running:
            return f"local PostgreSQL is not running (would listen on {where})"
        return f"local PostgreSQL on {where}: answering"


class LocalPostgres:
    def __init__(self, settings: Settings, schema_file: Path = SCHEMA_FILE) -> None:
        self._root = settings.local_postgres_dir.resolve()
        self._port = settings.local_postgres_port
        self._database = settings.local_postgres_database
        self._schema_file = schema_file

    @property
    def port(self) -> int:
        return self._port

    @property
    def database(self) -> str:
        return self._database

    @property
    def log_file(self) -> Path:
        return self._root / "postgres.log"

    @property
    def _data_dir(self) -> Path:
        return self._root / "data"

    def status(self) -> PostgresStatus:
        return PostgresStatus(self._running(), self._port, self._database)

    def up(self) -> PostgresStatus:
        """Create the cluster on first use, start it unless it runs, apply the schema."""
        ensure_directory(self._root, "DEALPULSE_LOCAL_POSTGRES_DIR")
        with self._lock():
            if not (self._data_dir / "PG_VERSION").exists():
                self._init_cluster()
            if not self._running():
                self._start()
            self._ensure_database()
            self.sql(self._schema_file.read_text())
        return PostgresStatus(True, self._port, self._database)

    def down(self) -> bool:
        """Stop the cluster (fast shutdown); False if it was not running. Its data stays."""
        if not self._root.is_dir():
            return False
        with self._lock():
            if not self._running():
                return False
            self._as_server_user(
                [self._binary("pg_ctl"), "stop", "-D", str(self._data_dir), "-m", "fast", "-w"],
                what="stopping PostgreSQL",
            )
            return True

    def sql(self, script: str, database: str | None = None) -> str:
        """Run `script` with psql as the superuser over TCP; its unaligned output."""
        result = subprocess.run(  # noqa: S603 - our own binary and arguments
            [
                self._binary("psql"),
                *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
                *("-h", "127.0.0.1", "-p", str(self._port), "-U", SERVER_USER),
                *("-d", database or self._database, "-f", "-"),
            ],
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CdcError(f"SQL on the local PostgreSQL failed: {result.stderr.strip()}")
        return result.stdout

    def _running(self) -> bool:
        if not (self._data_dir / "postmaster.pid").exists():
            return False
        result = subprocess.run(  # noqa: S603 - our own binary and arguments
            [self._binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self._port)],
            check=False,
        )
        return result.returncode == 0

    def _init_cluster(self) -> None:
        self._data_dir.mkdir(mode=0o700, exist_ok=True)
        self._give_to_server_user(self._root, self._data_dir)
        self._as_server_user(
            [
                self._binary("initdb"),
                *("-D", str(self._data_dir), "-U", SERVER_USER),
                *("--auth=trust", "--encoding=UTF8", "--locale=C"),
            ],
            what="initdb",
        )
        settings = {**_SERVER_SETTINGS, "port": str(self._port)}
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# dealpulse's local CDC cluster\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _start(self) -> None:
        if port_in_use(self._port):
            raise CdcError(
                f"port {self._port} is already in use by another process; set "
                "DEALPULSE_LOCAL_POSTGRES_PORT to a free port"
            )
        self.log_file.touch()
        self._give_to_server_user(self.log_file)
        self._as_server_user(
            [
                self._binary("pg_ctl"),
                *("start", "-D", str(self._data_dir), "-l", str(self.log_file)),
                *("-w", "-t", "60"),
            ],
            what=f"starting PostgreSQL (log: {self.log_file})",
        )

    def _ensure_database(self) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self._database}'"  # noqa: S608 - a checked identifier (the setting's pattern)
        exists = self.sql(query, database="postgres")
        if not exists.strip():
            self.sql(f'CREATE DATABASE "{self._database}"', database="postgres")

    def _as_server_user(self, argv: Sequence[str], *, what: str) -> None:
        """Run a server tool, as `postgres` when we are root (the server refuses root)."""
        command = list(argv)
        if os.geteuid() == 0:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", SERVER_USER, "--", *command]
        result = subprocess.run(  # noqa: S603 - our own binaries and arguments
            command, capture_output=True, text=True, check=False, cwd="/"
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()[-1500:]
            raise CdcError(f"{what} failed (exit {result.returncode}): {output}")

    def _give_to_server_user(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError as error:
            raise PrerequisiteMissingError(
                f"no `{SERVER_USER}` user to run the local PostgreSQL as (we are root, and "
                f"PostgreSQL refuses root); install {_INSTALL_HINT}"
            ) from error
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _binary(self, name: str) -> str:
        return str(server_binaries() / name)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Two `up` calls at once must still leave one cluster."""
        with (self._root / "launcher.lock").open("w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def server_binaries() -> Path:
    """The directory of `initdb` and `pg_ctl`: Debian keeps them out of PATH, per version."""
    versions = sorted(
        (path for path in _DEBIAN_BINARIES.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).resolve().parent
    raise PrerequisiteMissingError(
        f"`initdb` was not found; the local CRM database needs {_INSTALL_HINT}"
    )
