"""Drive the local single-node Kafka broker (deploy/local/kafka.sh) from tests."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "deploy" / "local" / "kafka.sh"

# What kafka.sh logs on stderr for a broker with a SASL_SSL listener.
_CA_PEM_LINE = "kafka.sh: CA certificate (PEM): "
# What `kafka.sh status` logs on stderr for a running broker: "running (pid N, Kafka 4.4.0)".
_RUNNING_VERSION = re.compile(r"kafka\.sh: running \(pid (\d+), Kafka (\S+)\)")

# Outer bounds only: kafka.sh has its own deadlines (KAFKA_START_TIMEOUT, KAFKA_STOP_TIMEOUT).
_START_TIMEOUT_S = 900.0  # a first start also downloads the jars with Maven
_STOP_TIMEOUT_S = 120.0
_SHORT_TIMEOUT_S = 60.0


class BrokerScriptError(RuntimeError):
    """kafka.sh failed; the message carries its stderr (which includes the broker log tail)."""

    def __init__(self, command: list[str], returncode: int | None, stderr: str) -> None:
        outcome = "timed out" if returncode is None else f"exited with {returncode}"
        super().__init__(f"{' '.join(command)} {outcome}:\n{stderr.rstrip()}")
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


class LocalBroker:
    """A Kafka broker on 127.0.0.1:``port`` (KRaft controller on ``port + 1``).

    ``cache_dir`` overrides the cache root (jars and run dirs); default: the script's default,
    ``$WIRE_INGEST_CACHE`` or ``<repo>/.cache``. The broker gets a fresh temporary data dir
    on its first start; ``stop(keep_data=True)`` and ``kill()`` keep it for the next start.

    With ``sasl_ssl_port`` the broker also listens on 127.0.0.1:``sasl_ssl_port`` with
    SASL_SSL (SCRAM-SHA-256 or -512 over TLS) besides PLAINTEXT on ``port``: clients log in as
    ``scram_user``/``scram_password`` (created when the data dir is formatted, i.e. on a fresh
    start) and verify the broker with the CA certificate at :attr:`ca_file`.

    With ``relay`` (``(relayed_port, relay_port)``) it also listens on 127.0.0.1:``relayed_port``
    (PLAINTEXT) and advertises that listener as 127.0.0.1:``relay_port``, where a test runs a
    :class:`~tests.support.relay.Relay` to it: a client bootstrapped through the relay
    (:attr:`relay_bootstrap`) sends all of its traffic across it, so the test can cut it off.
    """

    def __init__(
        self,
        port: int,
        cache_dir: Path | None = None,
        *,
        sasl_ssl_port: int | None = None,
        scram_user: str = "wire",
        scram_password: str = "wire-secret",
        relay: tuple[int, int] | None = None,
    ) -> None:
        if not 1 <= port <= 65534:
            raise ValueError(f"port must be in 1..65534 (port + 1 is the controller), got {port}")
        if sasl_ssl_port is not None and (
            not 1 <= sasl_ssl_port <= 65535 or sasl_ssl_port in (port, port + 1)
        ):
            raise ValueError(
                f"sasl_ssl_port must be in 1..65535 and differ from {port} and {port + 1}, "
                f"got {sasl_ssl_port}"
            )
        if relay is not None and (
            relay[0] == relay[1] or {*relay} & {port, port + 1, sasl_ssl_port}
        ):
            raise ValueError(
                f"relay ports {relay} must differ from each other and {port}, {port + 1}"
            )
        self.port = port
        self.relay = relay
        self.cache_dir = cache_dir
        self.sasl_ssl_port = sasl_ssl_port
        self.scram_user = scram_user
        self.scram_password = scram_password
        self._ca_file: Path | None = None

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT bootstrap address (also with a SASL_SSL listener: admin, inter-broker)."""
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """Bootstrap address of the SASL_SSL listener."""
        if self.sasl_ssl_port is None:
            raise RuntimeError("this broker has no SASL_SSL listener (no sasl_ssl_port)")
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def relayed_port(self) -> int:
        """The port of the RELAYED listener: where a relay forwards to."""
        if self.relay is None:
            raise RuntimeError("this broker has no RELAYED listener (no relay)")
        return self.relay[0]

    @property
    def relay_bootstrap(self) -> str:
        """The address the RELAYED listener advertises: a client's bootstrap through the relay."""
        if self.relay is None:
            raise RuntimeError("this broker has no RELAYED listener (no relay)")
        return f"127.0.0.1:{self.relay[1]}"

    @property
    def ca_file(self) -> Path:
        """PEM file of the CA that signed the broker's TLS certificate, as kafka.sh reported it.

        Known once :meth:`start` (or :meth:`is_running`) has seen the broker with its SASL_SSL
        listener; it changes after ``stop()`` without ``keep_data``.
        """
        if self.sasl_ssl_port is None:
            raise RuntimeError("this broker has no SASL_SSL listener (no sasl_ssl_port)")
        if self._ca_file is None:
            raise RuntimeError("CA file not known yet: start() the broker first")
        return self._ca_file

    def start(self) -> str:
        """Start the broker (no-op if it runs), wait until it serves clients, return bootstrap."""
        proc = self._run("start", timeout=_START_TIMEOUT_S)
        out = proc.stdout.strip()
        if out != self.bootstrap:
            raise BrokerScriptError(
                [str(KAFKA_SH), "start"], 0, f"expected {self.bootstrap!r} on stdout, got {out!r}"
            )
        self._note_ca_file(proc.stderr, "start")
        return out

    def stop(self, keep_data: bool = False) -> None:
        """Stop gracefully (SIGKILL after 30 s); delete the data dir unless ``keep_data``."""
        self._run("stop", *(["--keep-data"] if keep_data else []), timeout=_STOP_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL the broker at once; its data is kept for the next start()."""
        self._run("kill", timeout=_SHORT_TIMEOUT_S)

    def is_running(self) -> bool:
        """True if the broker process is up and has finished starting."""
        proc = self._run("status", timeout=_SHORT_TIMEOUT_S, check=False)
        if proc.returncode in (0, 3):
            if proc.returncode == 0:
                self._note_ca_file(proc.stderr, "status")
            return proc.returncode == 0
        raise BrokerScriptError([str(KAFKA_SH), "status"], proc.returncode, proc.stderr)

    def kafka_version(self) -> str:
        """The Kafka release kafka.sh starts: ``$KAFKA_VERSION``, else the script's default."""
        return self._run("version", timeout=_SHORT_TIMEOUT_S).stdout.strip()

    def running_version(self) -> str | None:
        """The Kafka release of the running broker (from its JVM's class path), else None."""
        proc = self._run("status", timeout=_SHORT_TIMEOUT_S, check=False)
        found = _RUNNING_VERSION.search(proc.stderr) if proc.returncode == 0 else None
        return found.group(2) if found else None

    def pid(self) -> int:
        """The running broker's process id: a test that must kill it at an exact moment
        signals it itself (``kill()`` first runs kafka.sh, which takes its lock)."""
        proc = self._run("status", timeout=_SHORT_TIMEOUT_S)
        found = _RUNNING_VERSION.search(proc.stderr)
        if found is None:
            raise BrokerScriptError([str(KAFKA_SH), "status"], 0, proc.stderr)
        return int(found.group(1))

    def _note_ca_file(self, stderr: str, command: str) -> None:
        if self.sasl_ssl_port is None:
            return
        paths = [
            line.removeprefix(_CA_PEM_LINE)
            for line in stderr.splitlines()
            if line.startswith(_CA_PEM_LINE)
        ]
        if not paths:
            raise BrokerScriptError(
                [str(KAFKA_SH), command], 0, f"no CA certificate path on stderr:\n{stderr}"
            )
        self._ca_file = Path(paths[-1])

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KAFKA_PORT"] = str(self.port)
        env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        env.pop("KAFKA_DATA_DIR", None)  # data dirs are managed per port by kafka.sh
        # The SASL_SSL and RELAYED listeners are this object's choice, never the calling shell's.
        for name in (
            "KAFKA_SASL_SSL_PORT",
            "KAFKA_SCRAM_USER",
            "KAFKA_SCRAM_PASSWORD",
            "KAFKA_RELAYED_PORT",
            "KAFKA_RELAY_PORT",
        ):
            env.pop(name, None)
        if self.relay is not None:
            env["KAFKA_RELAYED_PORT"], env["KAFKA_RELAY_PORT"] = map(str, self.relay)
        if self.sasl_ssl_port is not None:
            env["KAFKA_SASL_SSL_PORT"] = str(self.sasl_ssl_port)
            env["KAFKA_SCRAM_USER"] = self.scram_user
            env["KAFKA_SCRAM_PASSWORD"] = self.scram_password
        if self.cache_dir is not None:
            env["WIRE_INGEST_CACHE"] = str(self.cache_dir.resolve())
        return env

    def _run(
        self, *args: str, timeout: float, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(KAFKA_SH), *args]
        try:
            proc = subprocess.run(
                command,
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            raise BrokerScriptError(command, None, stderr or str(exc)) from exc
        if check and proc.returncode != 0:
            raise BrokerScriptError(command, proc.returncode, proc.stderr)
        return proc


def _port_is_free(port: int) -> bool:
    # No SO_REUSEADDR: a port still in TIME_WAIT counts as taken, which errs on the safe side.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_port_floor() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # IANA dynamic range (macOS and others)


@contextmanager
def own_broker() -> Iterator[LocalBroker]:
    """A broker of the test's own on free ports, for a test that stops, kills or restarts it:
    not running when the block starts (the test starts it), stopped with its data deleted
    when the block ends, however it ends."""
    broker = LocalBroker(free_port())
    try:
        broker.stop()
        yield broker
    finally:
        broker.stop()


def relayed_broker() -> LocalBroker:
    """A broker on free ports with a RELAYED listener on another, advertising a fourth."""
    port = free_port()
    while True:
        relay = (free_port(), free_port())
        if len({port, port + 1, *relay}) == 4:
            return LocalBroker(port, relay=relay)


def free_port() -> int:
    """A free loopback port P such that P + 1 is free too (broker and controller ports).

    Candidates are drawn at random from below the kernel's ephemeral port range, so client
    connections opened meanwhile cannot take them, and parallel sessions rarely pick the same.
    A port can still be taken by someone else before the broker binds it: kafka.sh then fails
    with a clear "already in use" error.
    """
    rng = random.SystemRandom()
    floor = _ephemeral_port_floor()
    low, high = (10000, floor - 2) if floor - 2 > 11000 else (1024, 65534)
    for _ in range(500):
        port = rng.randint(low, high)
        if _port_is_free(port) and _port_is_free(port + 1):
            return port
    raise RuntimeError(f"no free pair of loopback ports found in {low}..{high + 1}")
