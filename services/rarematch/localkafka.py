"""Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1, provisioned from Maven."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from rarematch.common.service import settings_from_env
from rarematch.common.settings import (
    KafkaSecuritySettings,
    KafkaSettings,
    LocalKafkaSettings,
    env_name,
    load_settings,
)
from rarematch.localtls import ensure_broker_tls, ensure_secret

__all__ = [
    "DEFAULT_PORT",
    "KAFKA_VERSION",
    "LOG4J_VERSION",
    "SCALA_VERSION",
    "BrokerConfig",
    "BrokerError",
    "BrokerStatus",
    "client_env",
    "down",
    "kafka_app",
    "libs_dir",
    "pom_xml",
    "provision",
    "status",
    "up",
]

# The one place the broker version is pinned.
KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.25.1"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

DEFAULT_PORT: int = LocalKafkaSettings.model_fields["kafka_port"].default
HOST = "127.0.0.1"
MIN_JAVA = 17

ENV_PORT = env_name(LocalKafkaSettings, "kafka_port")
ENV_CACHE_DIR = env_name(LocalKafkaSettings, "cache_dir")
ENV_STATE_DIR = env_name(LocalKafkaSettings, "kafka_state_dir")

_MARKER = ".rarematch-provisioned"  # holds the pom it was provisioned from
_PID_FILE = "broker.pid"
_CLUSTER_ID_FILE = "cluster.id"
_LISTENER_FILE = "listener"  # PLAINTEXT or SASL_SSL: how the data dir was formatted
SCRAM_MECHANISM = "SCRAM-SHA-512"
CLIENT_USER = "rarematch"
"""The SCRAM user `up --secure` creates for the services and `publish`."""
_BROKER_USER = "broker"
"""The SCRAM user the broker talks to itself as (inter-broker listener)."""
_TAIL_LINES = 20
_NEEDS_TOOLS = (
    "Java 17+ and Maven are needed to run the local Kafka broker "
    "(e.g. `apt-get install openjdk-17-jre-headless maven`); "
    "alternatively run Kafka with docker compose and point rarematch at its bootstrap address."
)

Say = Callable[[str], None]

# Brokers started by this process, so they can be reaped (no zombies, no ResourceWarning).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(RuntimeError):
    """The local broker could not be provisioned, started or stopped; the message says why."""


@dataclass(frozen=True, init=False)
class BrokerConfig:
    """Where and on which ports the local broker runs; every path is absolute."""

    port: int
    controller_port: int
    cache_dir: Path
    state_dir: Path
    secure: bool
    """A SASL_SSL listener (SCRAM-SHA-512 users, a generated CA) instead of PLAINTEXT."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        cache_dir: Path | None = None,
        state_dir: Path | None = None,
        *,
        secure: bool = False,
    ) -> None:
        cport = port + 1 if controller_port is None else controller_port
        for name, value in (("port", port), ("controller_port", cport)):
            if not 0 < value < 65536:
                raise BrokerError(f"{name} must be between 1 and 65535, got {value}")
        if cport == port:
            raise BrokerError(f"controller_port must differ from port ({port})")
        if cache_dir is None or state_dir is None:
            settings = load_settings(LocalKafkaSettings)  # SettingsError when they are invalid
            cache_dir = settings.cache_dir if cache_dir is None else cache_dir
            state_dir = settings.kafka_state_dir if state_dir is None else state_dir
        cache = cache_dir.expanduser()
        default_dir = f"broker-{port}-secure" if secure else f"broker-{port}"
        state_dir = cache / default_dir if state_dir is None else state_dir
        object.__setattr__(self, "secure", secure)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "controller_port", cport)
        object.__setattr__(self, "cache_dir", cache.absolute())
        object.__setattr__(self, "state_dir", state_dir.expanduser().absolute())

    @classmethod
    def from_settings(
        cls,
        settings: LocalKafkaSettings,
        port: int | None = None,
        state_dir: Path | None = None,
        *,
        secure: bool = False,
    ) -> BrokerConfig:
        """Config from LocalKafkaSettings (`RAREMATCH_KAFKA_*`); `port`/`state_dir` override."""
        return cls(
            port=settings.kafka_port if port is None else port,
            cache_dir=settings.cache_dir,
            state_dir=settings.kafka_state_dir if state_dir is None else state_dir,
            secure=secure,
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def server_properties(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def log4j_properties(self) -> Path:
        return self.state_dir / "log4j2.properties"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / _PID_FILE

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    def password_file(self, user: str = CLIENT_USER) -> Path:
        """Where a SCRAM user's password is kept (owner-only), made on first use."""
        return self.secrets_dir / f"{user}.password"

    @property
    def listener(self) -> str:
        return "SASL_SSL" if self.secure else "PLAINTEXT"


@dataclass(frozen=True)
class BrokerStatus:
    """What `status()` found: our process (from the pid file) and whether it answers Kafka."""

    running: bool
    pid: int | None
    bootstrap: str
    version: str
    state_dir: Path
    answering: bool


def client_env(config: BrokerConfig) -> dict[str, str]:
    """The `RAREMATCH_*` settings a client needs to use this broker (`up --secure` prints them).

    Only file paths: the password stays in its file."""
    env = {env_name(KafkaSettings, "kafka_bootstrap"): config.bootstrap}
    if config.secure:
        ensure_secret(config.password_file())
        env |= {
            env_name(KafkaSettings, "kafka_security_protocol"): "SASL_SSL",
            env_name(KafkaSettings, "kafka_sasl_mechanism"): SCRAM_MECHANISM,
            env_name(KafkaSettings, "kafka_username"): CLIENT_USER,
            env_name(KafkaSettings, "kafka_password_file"): str(config.password_file()),
            env_name(KafkaSettings, "kafka_ca_file"): str(config.tls_dir / "ca.pem"),
        }
    return env


def _client_security(config: BrokerConfig) -> dict[str, Any]:
    """kafka-python arguments for our own checks of the broker (the client user's)."""
    if not config.secure:
        return {}
    from rarematch.common.kafka.security import client_security

    settings = KafkaSecuritySettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=SCRAM_MECHANISM,
        kafka_username=CLIENT_USER,
        kafka_password_file=config.password_file(),
        kafka_ca_file=config.tls_dir / "ca.pem",
    )
    return client_security(settings)


# --------------------------------------------------------------------------- provisioning


def libs_dir(config: BrokerConfig) -> Path:
    """Directory holding the broker's runtime jars."""
    return config.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def pom_xml() -> str:
    """A pom whose runtime dependencies are exactly the broker classpath."""
    log4j = "\n".join(
        f"""    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>"""
        for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl")
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
{log4j}
  </dependencies>
</project>
"""


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Exclusive advisory lock, so concurrent callers (CI jobs, pytest workers) serialise."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _is_provisioned(libs: Path) -> bool:
    marker = libs / _MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == pom_xml()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(_ANSI.sub("", text).strip().splitlines()[-lines:])


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"`{name}` was not found on PATH. {_NEEDS_TOOLS}")
    return path


def provision(config: BrokerConfig, say: Say = print) -> Path:
    """Download the broker jars once (atomically); later calls only check the marker."""
    libs = libs_dir(config)
    if _is_provisioned(libs):
        say(f"Apache Kafka {KAFKA_VERSION} already provisioned in {libs}")
        return libs
    version_dir = libs.parent
    with _locked(version_dir / ".lock"):
        if _is_provisioned(libs):  # another process finished while we waited for the lock
            say(f"Apache Kafka {KAFKA_VERSION} already provisioned in {libs}")
            return libs
        mvn = _require_tool("mvn")
        _require_tool("java")
        for stale in version_dir.glob("download-*"):  # left by an interrupted run
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix="download-", dir=version_dir))
        try:
            staged = work / "libs"
            pom = work / "pom.xml"
            pom.write_text(pom_xml(), encoding="utf-8")
            say(f"downloading Apache Kafka {KAFKA_VERSION} from Maven Central into {libs}")
            started = time.monotonic()
            cmd = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staged}",
            ]
            try:
                done = subprocess.run(
                    cmd,
                    cwd=work,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise BrokerError(
                    "Maven did not finish downloading the Kafka jars within 30 minutes; "
                    "check network access to Maven Central (or your mirror in ~/.m2/settings.xml)"
                ) from None
            jars = sorted(staged.glob("*.jar")) if staged.is_dir() else []
            if done.returncode != 0 or not jars:
                output = _tail(done.stdout + "\n" + done.stderr, 30) or "(no output)"
                raise BrokerError(
                    f"Maven could not download Apache Kafka {KAFKA_VERSION} "
                    f"(exit code {done.returncode}, {len(jars)} jars). Check network access to "
                    f"Maven Central or your ~/.m2/settings.xml mirror, then retry.\n"
                    f"Last lines of Maven output:\n{output}"
                )
            (staged / _MARKER).write_text(pom_xml(), encoding="utf-8")
            if libs.exists():  # an incomplete or outdated copy: swap it out
                libs.rename(work / "old-libs")
            staged.rename(libs)  # atomic: libs/ appears complete or not at all
        finally:
            shutil.rmtree(work, ignore_errors=True)
        size_mb = sum(jar.stat().st_size for jar in libs.glob("*.jar")) / 1e6
        say(f"downloaded {len(jars)} jars ({size_mb:.0f} MB) in {time.monotonic() - started:.1f} s")
        return libs


# --------------------------------------------------------------------------- configuration


def _server_properties(config: BrokerConfig) -> str:
    name = config.listener
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{config.controller_port}",
        "listeners": f"{name}://{HOST}:{config.port},CONTROLLER://{HOST}:{config.controller_port}",
        "advertised.listeners": f"{name}://{HOST}:{config.port}",
        "inter.broker.listener.name": name,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{name}:{name}",
        **(_secure_properties(config) if config.secure else {}),
        "log.dirs": str(config.data_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "log.cleaner.dedupe.buffer.size": "16777216",
    }
    lines = [f"{key}={value}" for key, value in settings.items()]
    header = "# Generated by rarematch.localkafka on every `up`; edits are overwritten."
    return "\n".join([header, *lines]) + "\n"


def _secure_properties(config: BrokerConfig) -> dict[str, str]:
    """SASL_SSL on the client listener: SCRAM-SHA-512 only, a PKCS#12 keystore, PEM truststore.

    The controller listener stays PLAINTEXT on loopback (broker and controller are one
    process); no authorizer, so any authenticated user may use every topic."""
    tls = ensure_broker_tls(config.tls_dir, HOST)
    broker_password = ensure_secret(config.password_file(_BROKER_USER))
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{_BROKER_USER}" password="{broker_password}";'
    )
    return {
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls.keystore_file),
        "ssl.keystore.password": tls.key_password,
        "ssl.key.password": tls.key_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca_file),
        "ssl.client.auth": "none",
    }


_LOG4J2_PROPERTIES = """\
# Generated by rarematch.localkafka on every `up`; edits are overwritten.
appender.f.type = File
appender.f.name = F
appender.f.fileName = ${sys:kafka.logs.dir}/server.log
appender.f.layout.type = PatternLayout
appender.f.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.f.ref = F
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


def _new_cluster_id() -> str:
    """Like Kafka's Uuid.randomUuid: url-safe base64, never starting with "-" (reads as a flag)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _cluster_id(config: BrokerConfig) -> str:
    """The persisted cluster id, else the one already in meta.properties, else a new one."""
    id_file = config.state_dir / _CLUSTER_ID_FILE
    if id_file.is_file() and (existing := id_file.read_text(encoding="utf-8").strip()):
        return existing
    meta = config.data_dir / "meta.properties"
    found = None
    if meta.is_file():
        match = re.search(r"^cluster\.id=(\S+)$", meta.read_text(encoding="utf-8"), re.M)
        found = match.group(1) if match else None
    cluster_id = found or _new_cluster_id()
    id_file.write_text(cluster_id + "\n", encoding="utf-8")
    return cluster_id


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home and (candidate := Path(java_home) / "bin" / "java").is_file():
        return str(candidate)
    return _require_tool("java")


def _check_java_version(java: str) -> None:
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"could not run `{java} -version` ({exc}). {_NEEDS_TOOLS}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return  # unusual vendor banner: let the broker itself complain if it must
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise BrokerError(
            f"{java} is Java {major}; Apache Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+. "
            f"{_NEEDS_TOOLS}"
        )


def _classpath(libs: Path) -> str:
    return f"{libs}/*"  # expanded by java itself, not a shell


def _format_storage(config: BrokerConfig, java: str, libs: Path, say: Say) -> None:
    cluster_id = _cluster_id(config)
    say(f"formatting {config.data_dir} (cluster id {cluster_id})")
    cmd = [
        java,
        "-Xmx128m",
        "-cp",
        _classpath(libs),
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cluster_id}",
        "-c",
        str(config.server_properties),
        "--ignore-formatted",
        *(_scram_users(config) if config.secure else []),
    ]
    try:
        done = subprocess.run(
            cmd,
            cwd=config.state_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(f"formatting {config.data_dir} took longer than 180 s") from None
    if done.returncode != 0:
        raise BrokerError(
            f"kafka-storage format failed for {config.data_dir} (exit code {done.returncode}). "
            f"If the data dir belongs to another cluster, run `rarematch kafka down` and "
            f"delete {config.state_dir}.\n{_tail(done.stdout + chr(10) + done.stderr)}"
        )


def _check_listener(config: BrokerConfig) -> None:
    """A data dir formatted for one listener cannot serve the other: SCRAM users are made at
    format time, so a plaintext data dir has none."""
    if not (config.data_dir / "meta.properties").is_file():
        return
    marker = config.state_dir / _LISTENER_FILE
    formatted = marker.read_text(encoding="utf-8").strip() if marker.is_file() else "PLAINTEXT"
    if formatted != config.listener:
        flag = "with" if formatted == "SASL_SSL" else "without"
        raise BrokerError(
            f"{config.state_dir} holds a broker formatted {flag} --secure; run `up` "
            f"{flag} --secure, or choose another --state-dir (or delete this one)"
        )


def _scram_users(config: BrokerConfig) -> list[str]:
    """`--add-scram` arguments: the broker's own user and the client user, stored at format."""
    arguments = []
    for user in (_BROKER_USER, CLIENT_USER):
        password = ensure_secret(config.password_file(user))
        arguments += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
    return arguments


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> list[str] | None:
    """argv of a live process, or None when it is gone (zombies have an empty cmdline)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            raw = proc.read_bytes()
        except OSError:
            return None
        args = [os.fsdecode(part) for part in raw.split(b"\0") if part]
        return args or None
    try:  # no procfs (macOS): ps gives the space-joined command line
        done = subprocess.run(
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = done.stdout.strip()
    return line.split(" ") if done.returncode == 0 and line else None


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:  # our own child: poll() is authoritative and reaps it
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # no procfs: assume alive; the cmdline check still guards identity
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _is_our_broker(pid: int, config: BrokerConfig) -> bool:
    """True only for a java process running kafka.Kafka with this state dir's server.properties."""
    deadline = time.monotonic() + 2.0
    while _alive(pid):
        args = _cmdline(pid)
        if args:
            return (
                Path(args[0]).name == "java"
                and "kafka.Kafka" in args
                and str(config.server_properties) in args
            )
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # the java launcher re-execs itself: cmdline is briefly empty
    return False


def _read_pid(config: BrokerConfig) -> int | None:
    try:
        text = config.pid_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _remove_pid_file(config: BrokerConfig) -> None:
    config.pid_file.unlink(missing_ok=True)


def _port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:port (SO_REUSEADDR, as the JVM does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _answers(bootstrap: str, timeout: float, security: dict[str, Any] | None = None) -> bool:
    """A real Kafka round trip: bootstrap, list topics, close (as the client user if secure)."""
    from kafka import KafkaAdminClient  # local import keeps the CLI's start-up quick

    timeout_ms = max(int(timeout * 1000), 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="rarematch-localkafka",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            **(security or {}),
        )
    except Exception:  # any failure to bootstrap just means "not answering yet"
        return False
    try:
        admin.list_topics()
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            admin.close()
    return True


_ERROR_LINE = re.compile(r"^\[[^\]]+\] (ERROR|FATAL) |^Caused by: ")


def _log_tails(config: BrokerConfig, offsets: dict[Path, int] | None = None) -> str:
    """Errors and last lines of server.log and java.out (only what was written since `offsets`)."""
    parts = []
    for log in (config.logs_dir / "server.log", config.logs_dir / "java.out"):
        try:
            with log.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max((offsets or {}).get(log, 0), size - 2_000_000))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        errors = [line for line in text.splitlines() if _ERROR_LINE.match(line)]
        if errors:
            parts.append(f"--- errors in {log} ---\n" + "\n".join(errors[-_TAIL_LINES:]))
        if text.strip():
            parts.append(f"--- last lines of {log} ---\n{_tail(text)}")
    return "\n".join(parts) or f"(nothing logged in {config.logs_dir})"


def _stop_pid(pid: int, config: BrokerConfig, timeout: float) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL; signals go only to our broker's pid."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if not _is_our_broker(pid, config):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def _wait_ready(config: BrokerConfig, pid: int, timeout: float, since: float) -> float:
    """Block until the broker answers; return seconds since `since`."""
    deadline = since + timeout
    while True:
        if not _alive(pid):
            raise BrokerError(f"the broker process (pid {pid}) exited during start-up")
        if _port_accepts(config.port):
            remaining = max(deadline - time.monotonic(), 1.0)
            if _answers(config.bootstrap, min(5.0, remaining), _client_security(config)):
                return time.monotonic() - since
        if time.monotonic() > deadline:
            raise BrokerError(
                f"the broker (pid {pid}) did not answer on {config.bootstrap} "
                f"within {timeout:.0f} s"
            )
        time.sleep(0.25)


# --------------------------------------------------------------------------- public API


def status(config: BrokerConfig) -> BrokerStatus:
    """Whether our broker (per the pid file) is running and answers Kafka requests."""
    pid = _read_pid(config)
    running = pid is not None and _is_our_broker(pid, config)
    answering = (
        running
        and _port_accepts(config.port)
        and _answers(config.bootstrap, 3.0, _client_security(config))
    )
    return BrokerStatus(
        running=running,
        pid=pid if running else None,
        bootstrap=config.bootstrap,
        version=KAFKA_VERSION,
        state_dir=config.state_dir,
        answering=answering,
    )


def up(config: BrokerConfig, say: Say = print, timeout: float = 90.0) -> BrokerStatus:
    """Provision, configure, format and start the broker; return once it answers."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(config.state_dir / ".lock"):
        current = status(config)
        if current.running and current.pid is not None:
            if not current.answering:
                say(f"broker (pid {current.pid}) is running; waiting for it to answer")
                try:
                    _wait_ready(config, current.pid, timeout, time.monotonic())
                except BrokerError as exc:
                    raise BrokerError(
                        f"{exc}. Stop it with `rarematch kafka down --state-dir "
                        f"{config.state_dir}` and retry.\n{_log_tails(config)}"
                    ) from None
            say(f"broker already running on {config.bootstrap} (pid {current.pid})")
            return status(config)
        if config.pid_file.exists():
            _remove_pid_file(config)  # stale: that process is gone or is not our broker
        for port in (config.port, config.controller_port):
            if not _port_free(port):
                raise BrokerError(
                    f"port {port} on {HOST} is already in use by another process (not the "
                    f"rarematch broker with state in {config.state_dir}). Stop that process "
                    f"(find it with `ss -ltnp 'sport = :{port}'`; a docker compose Kafka is a "
                    f"common culprit) or choose other ports with --port / {ENV_PORT}."
                )
        java = _java()
        _check_java_version(java)
        libs = provision(config, say)
        for directory in (config.data_dir, config.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        config.server_properties.write_text(_server_properties(config), encoding="utf-8")
        if config.secure:  # it holds the keystore and the broker user's passwords
            config.server_properties.chmod(0o600)
        config.log4j_properties.write_text(_LOG4J2_PROPERTIES, encoding="utf-8")
        _check_listener(config)
        _format_storage(config, java, libs, say)
        (config.state_dir / _LISTENER_FILE).write_text(config.listener + "\n", encoding="utf-8")
        return _start(config, java, libs, say, timeout)


def _start(config: BrokerConfig, java: str, libs: Path, say: Say, timeout: float) -> BrokerStatus:
    server_log = config.logs_dir / "server.log"
    java_out = config.logs_dir / "java.out"
    offsets = {server_log: server_log.stat().st_size if server_log.exists() else 0}
    cmd = [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:ParallelGCThreads=2",
        "-XX:ConcGCThreads=1",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config.log4j_properties}",
        f"-Dkafka.logs.dir={config.logs_dir}",
        "-cp",
        _classpath(libs),
        "kafka.Kafka",
        str(config.server_properties),
    ]
    say(f"starting Apache Kafka {KAFKA_VERSION} on {config.bootstrap} (logs in {config.logs_dir})")
    started = time.monotonic()
    with java_out.open("wb") as out:
        child = subprocess.Popen(
            cmd,
            cwd=config.state_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI; Ctrl-C in the terminal does not reach it
        )
    _CHILDREN[child.pid] = child
    config.pid_file.write_text(f"{child.pid}\n", encoding="utf-8")
    try:
        elapsed = _wait_ready(config, child.pid, timeout, started)
    except BaseException as exc:
        exited = child.poll()
        _stop_pid(child.pid, config, timeout=10.0)
        _remove_pid_file(config)
        if not isinstance(exc, BrokerError):
            raise
        detail = f" with exit code {exited}" if exited is not None else ""
        raise BrokerError(f"{exc}{detail}.\n{_log_tails(config, offsets)}") from None
    say(f"broker ready on {config.bootstrap} in {elapsed:.1f} s (pid {child.pid})")
    return BrokerStatus(
        running=True,
        pid=child.pid,
        bootstrap=config.bootstrap,
        version=KAFKA_VERSION,
        state_dir=config.state_dir,
        answering=True,
    )


def down(config: BrokerConfig, say: Say = print, timeout: float = 30.0) -> bool:
    """Stop our broker (never a recycled pid); return whether something was stopped."""
    if not config.state_dir.is_dir():
        say(f"no broker state in {config.state_dir}; nothing to stop")
        return False
    with _locked(config.state_dir / ".lock"):
        pid = _read_pid(config)
        if pid is None:
            say(f"no broker running from {config.state_dir}")
            return False
        if not _is_our_broker(pid, config):
            _remove_pid_file(config)
            say(f"broker (pid {pid}) is no longer running; removed stale pid file")
            return False
        say(f"stopping broker on {config.bootstrap} (pid {pid})")
        started = time.monotonic()
        _stop_pid(pid, config, timeout)
        if _alive(pid):
            raise BrokerError(f"broker (pid {pid}) survived SIGTERM and SIGKILL")
        _remove_pid_file(config)
        say(f"broker stopped in {time.monotonic() - started:.1f} s")
        return True


# --------------------------------------------------------------------------- CLI

kafka_app = typer.Typer(
    help=(
        f"Run a local single-node Apache Kafka {KAFKA_VERSION} broker (KRaft) on {HOST}, "
        "downloaded from Maven Central; needs Java 17+ and Maven."
    ),
    no_args_is_help=True,
)

PortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        help=f"Broker port on 127.0.0.1, controller +1 (default: {ENV_PORT}, else {DEFAULT_PORT}).",
        show_default=False,
    ),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help=(
            f"Config, data, logs, pid file (default: {ENV_STATE_DIR}, else <cache>/broker-<port>)."
        ),
    ),
]


SecureOption = Annotated[
    bool,
    typer.Option(
        "--secure",
        help=(
            "SASL_SSL with SCRAM-SHA-512 users and a generated CA (state in "
            "<cache>/broker-<port>-secure); `up` prints the client settings."
        ),
    ),
]


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


def _config(port: int | None, state_dir: Path | None, *, secure: bool = False) -> BrokerConfig:
    settings = settings_from_env(LocalKafkaSettings)  # bad ones: one line each, exit 2
    try:
        return BrokerConfig.from_settings(settings, port=port, state_dir=state_dir, secure=secure)
    except BrokerError as exc:
        _echo_err(f"error: {exc}")
        raise typer.Exit(1) from None


@kafka_app.command("up")
def up_command(
    port: PortOption = None,
    state_dir: StateDirOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for readiness.")
    ] = 90.0,
    secure: SecureOption = False,
) -> None:
    """Start the broker (downloading it first if needed); print the bootstrap address.

    With --secure, print the client settings instead, one `NAME=value` line each (the
    password stays in the file they name), ready for `set -a; . file` or an env file."""
    config = _config(port, state_dir, secure=secure)
    try:
        result = up(config, say=_echo_err, timeout=timeout)
    except BrokerError as exc:
        _echo_err(f"error: {exc}")
        raise typer.Exit(1) from None
    if not secure:
        typer.echo(result.bootstrap)
        return
    for name, value in client_env(config).items():
        typer.echo(f"{name}={shlex.quote(value)}")


@kafka_app.command("down")
def down_command(
    port: PortOption = None, state_dir: StateDirOption = None, secure: SecureOption = False
) -> None:
    """Stop the broker started by `up` (no-op when none is running)."""
    config = _config(port, state_dir, secure=secure)
    try:
        down(config, say=_echo_err)
    except BrokerError as exc:
        _echo_err(f"error: {exc}")
        raise typer.Exit(1) from None


@kafka_app.command("status")
def status_command(
    port: PortOption = None, state_dir: StateDirOption = None, secure: SecureOption = False
) -> None:
    """Show whether the broker runs and answers; exit 1 when it is not running."""
    config = _config(port, state_dir, secure=secure)
    result = status(config)
    pid = f" (pid {result.pid})" if result.pid is not None else ""
    typer.echo(f"running:   {'yes' if result.running else 'no'}{pid}")
    typer.echo(f"answering: {'yes' if result.answering else 'no'}")
    typer.echo(f"bootstrap: {result.bootstrap}")
    typer.echo(f"version:   Apache Kafka {result.version}")
    typer.echo(f"state dir: {result.state_dir}")
    if not result.running:
        raise typer.Exit(1)
