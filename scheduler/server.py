"""``manage.py runscheduler``: the ``luigid`` equivalent, one daphne process.

It serves the project's ASGI application (``settings.ASGI_APPLICATION``: the
Luigi protocol under /api/, the REST API, the dashboard, the admin, static
files through WhiteNoise, and WebSockets) and runs the scheduler's maintenance
pass on a timer in a thread (``prune_if_due``: any number of processes may do
so, one prunes at a time).

Differences from luigid's flags (spec §6.3), on purpose:

- ``--address`` defaults to 127.0.0.1, not every interface.
- ``--pidfile`` is honoured in the foreground too.
- ``--logdir`` defaults to ``var/log`` under the current directory when
  backgrounded; the log is ``runscheduler.log``, rotated at midnight, 7 kept;
  whatever the process itself prints goes to ``runscheduler.out``.
- No ``--state-path``: the database is the state.

Start-up refuses, with one clear line and a non-zero exit, when migrations are
missing, the pidfile names a live process, the address is taken, or the address
is not a loopback one while authentication (``SCHEDULER_AUTH``) is off (unless
``--insecure``: anyone who can reach the port could then mark tasks done). With
``--background`` the command returns only once the daemon listens (or has
failed, with its reason).

SIGTERM and SIGINT shut down gracefully: stop listening, close WebSockets
(code 1001, clients reconnect elsewhere and catch up), let in-flight HTTP
requests finish (at most ``shutdown_timeout`` seconds), then exit 0. A second
signal stops at once.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

LOG_NAME = "runscheduler.log"
OUT_NAME = "runscheduler.out"
# Seconds WebSocket clients get to answer the closing handshake on shutdown.
CLOSE_HANDSHAKE = 2.0


class ServerError(Exception):
    """Why the server cannot start, in one line that says what to do."""


@dataclass(frozen=True)
class Options:
    address: str = "127.0.0.1"
    port: int = 8082
    unix_socket: Path | None = None
    background: bool = False
    pidfile: Path | None = None
    logdir: Path | None = None
    access_log: bool = False
    # Seconds between maintenance checks (capped by the scheduler's prune_interval).
    maintenance_interval: float = 5.0
    shutdown_timeout: float = 30.0
    # Serve a non-loopback address with authentication off.
    insecure: bool = False

    @property
    def where(self) -> str:
        if self.unix_socket is not None:
            return f"unix socket {self.unix_socket}"
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/"

    def endpoint(self) -> str:
        """The Twisted endpoint description daphne listens on."""

        def escape(text: str) -> str:
            return text.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")

        if self.unix_socket is not None:
            return f"unix:{escape(str(self.unix_socket))}"
        return f"tcp:port={self.port}:interface={escape(self.address.strip('[]'))}"


# --------------------------------------------------------------------------- checks


def pending_migrations() -> list[str]:
    """Migrations not applied to the default database, as ``app.name``."""
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        raise ServerError(f"cannot reach the database: {exc}".strip()) from exc
    finally:
        connections.close_all()
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_migrations() -> None:
    pending = pending_migrations()
    if pending:
        shown = ", ".join(pending[:5]) + (
            f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        )
        raise ServerError(
            f"the database is missing {len(pending)} migration(s) ({shown}); "
            "run `python manage.py migrate` first"
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_pidfile(path: Path) -> None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ServerError(f"cannot read the pidfile {path}: {exc.strerror}") from exc
    if text.isdigit() and int(text) != os.getpid() and pid_alive(int(text)):
        raise ServerError(f"already running with pid {text} (pidfile {path})")


def check_exposure(options: Options) -> None:
    """No open scheduler on the network by accident."""
    from .auth.conf import auth_enabled, is_loopback

    if options.unix_socket is not None or is_loopback(options.address):
        return
    if auth_enabled() or options.insecure:
        if not auth_enabled():
            logger.warning(
                "serving %s with authentication off (--insecure): anyone who can reach it "
                "can change the scheduler",
                options.where,
            )
        return
    raise ServerError(
        f"refusing to listen on {options.address} with authentication off: anyone who "
        "can reach the port could mark tasks done or disable workers. Set "
        "SCHEDULER_AUTH=true and give workers API tokens (manage.py create_api_token), "
        "or pass --insecure if the network is trusted"
    )


def check_address(options: Options) -> None:
    """Fail early, with a clear message, when the address cannot be listened on."""
    if options.unix_socket is not None:
        _check_unix_socket(options.unix_socket)
        return
    try:
        infos = socket.getaddrinfo(
            options.address.strip("[]"), options.port, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise ServerError(f"cannot listen on {options.address!r}: {exc.strerror}") from exc
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted does
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServerError(_bind_message(options, exc.errno, exc.strerror)) from exc


def _bind_message(options: Options, code: int | None, reason: str | None) -> str:
    if code == errno.EADDRINUSE:
        return (
            f"{options.where} is already in use (another runscheduler or luigid?); "
            "stop it or pick another --port"
        )
    if code == errno.EACCES:
        return f"not allowed to listen on {options.where}; use a port above 1023"
    if code == errno.EADDRNOTAVAIL:
        return f"{options.address} is not an address of this machine"
    return f"cannot listen on {options.where}: {reason}"


def _check_unix_socket(path: Path) -> None:
    if not path.exists():
        if not path.parent.is_dir():
            raise ServerError(f"cannot create the unix socket {path}: no directory {path.parent}")
        return
    if not path.is_socket():
        raise ServerError(f"{path} exists and is not a socket; remove it or pick another path")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            path.unlink()  # left by a server that died: nobody listens
            return
        except OSError as exc:
            raise ServerError(f"cannot use the unix socket {path}: {exc.strerror}") from exc
    raise ServerError(f"unix socket {path} is already in use by a running server")


# --------------------------------------------------------------------------- process


def configure_logging(logdir: Path | None, background: bool) -> None:
    root = logging.getLogger()
    if background:
        for handler in list(root.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                root.removeHandler(handler)
    if logdir is None:
        return
    handler = logging.handlers.TimedRotatingFileHandler(
        logdir / LOG_NAME, when="midnight", backupCount=7, encoding="utf-8"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    )
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def close_database() -> None:
    """Close every connection, and every pool (psycopg's pool runs threads)."""
    connections.close_all()
    for connection in connections.all(initialized_only=True):
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()


def daemonize(logdir: Path) -> int | None:
    """Detach (double fork, new session). Returns, in the original process, the
    read end of a pipe the daemon reports its start on; None in the daemon."""
    read_end, write_end = os.pipe()
    first = os.fork()
    if first:
        os.close(write_end)
        os.waitpid(first, 0)
        return read_end
    os.close(read_end)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(logdir / OUT_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(devnull)
    os.close(out)
    _Report.fd = write_end
    return None


class _Report:
    """The daemon's one message to the process that started it."""

    fd: int | None = None

    @classmethod
    def send(cls, text: str) -> None:
        if cls.fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(cls.fd, text.encode()[:4000])
            os.close(cls.fd)
        cls.fd = None


def wait_for_daemon(read_end: int, logdir: Path) -> int:
    """In the starting process: the daemon's pid once it listens; raise why it did not."""
    chunks = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read(4096):
            chunks.append(chunk)
    text = b"".join(chunks).decode(errors="replace").strip()
    if text.startswith("ok "):
        return int(text.split()[1])
    raise ServerError(text or f"the server exited during start-up; see {logdir / LOG_NAME}")


class PidFile:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self) -> None:
        if self.path is not None:
            check_pidfile(self.path)
            self.path.write_text(f"{os.getpid()}\n")

    def remove(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()


class Maintenance(threading.Thread):
    """Runs the maintenance pass when due, like luigid's prune timer."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="scheduler-maintenance", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import InterfaceError, OperationalError, close_old_connections

        from . import dbhealth
        from .errors import SchedulerUnavailable
        from .rpc import maybe_prune
        from .service import Ctx

        try:
            while not self.stopped.wait(self.interval):
                if dbhealth.unavailable() is not None:
                    continue  # the database is away: nothing to maintain, no traceback
                try:
                    maybe_prune(Ctx.make())
                except (OperationalError, InterfaceError, SchedulerUnavailable) as exc:
                    dbhealth.note_failure(exc)
                    logger.warning("maintenance pass skipped: database unavailable: %s", exc)
                except Exception:
                    logger.exception("maintenance pass failed")
                finally:
                    close_old_connections()
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


class _LogStream:
    """daphne's access log written to the ``scheduler.server.access`` logger."""

    access = logging.getLogger("scheduler.server.access")

    def write(self, line: str) -> None:
        self.access.info(line.rstrip("\n"))

    def flush(self) -> None:
        pass


# --------------------------------------------------------------------------- server


@contextlib.contextmanager
def _twisted_without_tls():
    """Keep Twisted from loading its optional TLS layer while it is first imported.

    runscheduler serves plain HTTP (TLS ends at a reverse proxy, as for luigid), but
    Twisted loads pyOpenSSL and its TLS protocol whenever they are installed (daphne
    requires them): about 5 MiB of resident memory for nothing. Only that first import
    is affected; code that imports ``OpenSSL`` later still gets it.
    """
    if "twisted.internet.reactor" in sys.modules or "OpenSSL" in sys.modules:
        yield  # already loaded (by the host site): nothing to save
        return
    sys.modules["OpenSSL"] = None  # type: ignore[assignment]  # import fails: Twisted skips TLS
    try:
        yield
    finally:
        if "OpenSSL" in sys.modules and sys.modules["OpenSSL"] is None:
            del sys.modules["OpenSSL"]


def _http_factory() -> type:
    """daphne's HTTP factory, building requests that leave form bodies alone.

    Twisted parses an ``application/x-www-form-urlencoded`` POST body into
    ``request.args`` (its Content-Type parsing goes through the email package);
    daphne never reads ``args``, it hands the raw body to the application, which
    parses it itself. Luigi's clients post every call that way, so this was about
    a tenth of the serving thread's time per call. ``parsePOSTFormSubmission`` is
    Twisted's switch for it."""
    from daphne.http_protocol import HTTPFactory, WebRequest

    class Request(WebRequest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._parsePOSTFormSubmission = False

    class Factory(HTTPFactory):
        def log(self, request: Any) -> None:
            """Twisted's own access line, formatted for every request and written to
            Twisted's global log, which daphne sends nowhere at the verbosity it runs
            with here (a few percent of the serving thread's time per call). The
            access log, when on, is daphne's (``--access-log``)."""

        def buildProtocol(self, addr: Any) -> Any:
            protocol = super().buildProtocol(addr)
            protocol.requestFactory = Request
            return protocol

    return Factory


class SchedulerServer:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.daphne: Any = None
        self.stopping = False
        self.sockets_deadline = 0.0
        self.pidfile = PidFile(options.pidfile)

    def run(self) -> int | None:
        """Serve until SIGTERM/SIGINT; raises ServerError when it cannot start.

        With ``background``, returns the daemon's pid in the starting process."""
        options = self.options
        check_exposure(options)
        check_migrations()
        if options.pidfile is not None:
            check_pidfile(options.pidfile)
        check_address(options)
        logdir = options.logdir
        if options.background:
            logdir = logdir or Path.cwd() / "var" / "log"
        if logdir is not None:
            try:
                logdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ServerError(f"cannot create the log directory {logdir}: {exc}") from exc
        if options.background:
            assert logdir is not None
            close_database()  # a fork must not inherit connections or pool threads
            read_end = daemonize(logdir)
            if read_end is not None:
                return wait_for_daemon(read_end, logdir)
        try:
            self._serve(logdir)
        except ServerError as exc:
            _Report.send(str(exc))
            raise
        except BaseException as exc:
            _Report.send(f"the server failed to start: {exc!r}; see the log")
            raise
        return None

    def _serve(self, logdir: Path | None) -> None:
        # daphne.server installs Twisted's asyncio reactor on import: import it here,
        # in the serving process, after any fork.
        with _twisted_without_tls():
            import daphne.server
        from channels.routing import get_default_application
        from daphne.access import AccessLogGenerator
        from daphne.server import Server
        from twisted.internet import reactor

        from visualiser.feed import max_message_size

        daphne.server.HTTPFactory = _http_factory()

        class Daphne(Server):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.ports: list[Any] = []
                self.listen_failure: str | None = None

            def listen_success(self, port: Any) -> None:
                self.ports.append(port)
                super().listen_success(port)

            def listen_error(self, failure: Any) -> None:
                self.listen_failure = failure.getErrorMessage()
                super().listen_error(failure)

            def kill_all_applications(self) -> Any:
                # daphne assumes every connection still has an application instance.
                for details in self.connections.values():
                    details.setdefault("application_instance", None)
                self.connections = {
                    p: d for p, d in self.connections.items() if d["application_instance"]
                }
                return super().kill_all_applications()

        from .auth.conf import set_bind_address

        options = self.options
        # Anonymous reads (by default) depend on where this process listens.
        set_bind_address("unix" if options.unix_socket is not None else options.address)
        # Loading the application sets Django up again, which reapplies LOGGING.
        application = get_default_application()
        configure_logging(logdir, options.background)
        self.pidfile.write()
        maintenance = Maintenance(self._maintenance_interval())
        access = AccessLogGenerator(_LogStream()) if options.access_log else None
        self.daphne = Daphne(
            application=application,
            endpoints=[options.endpoint()],
            signal_handlers=False,
            websocket_max_message_size=max_message_size(),
            action_logger=access,
            ready_callable=lambda: self._ready(maintenance),
            server_name="runscheduler",
        )
        loop = reactor._asyncioEventloop  # type: ignore[attr-defined]
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.shutdown, signum)
        try:
            self.daphne.run()
        finally:
            maintenance.stopped.set()
            self.pidfile.remove()
        if self.daphne.listen_failure is not None:
            raise ServerError(self._listen_message(self.daphne.listen_failure))
        if maintenance.is_alive():
            maintenance.stop()
        from .asgi import close_connections

        close_connections()
        logger.info("runscheduler stopped")

    def _listen_message(self, failure: str) -> str:
        code = errno.EADDRINUSE if "in use" in failure else None
        return _bind_message(self.options, code, failure)

    def _maintenance_interval(self) -> float:
        from .conf import get_config

        return max(0.1, min(self.options.maintenance_interval, get_config().prune_interval))

    def _ready(self, maintenance: Maintenance) -> None:
        maintenance.start()
        logger.info("runscheduler serving on %s (pid %d)", self.options.where, os.getpid())
        _Report.send(f"ok {os.getpid()}")

    # ----------------------------------------------------------------- shutdown

    def shutdown(self, signum: int = signal.SIGTERM) -> None:
        from twisted.internet import reactor

        name = signal.Signals(signum).name
        if self.stopping:
            logger.warning("%s again: stopping now", name)
            reactor.stop()
            return
        self.stopping = True
        daphne = self.daphne
        for port in daphne.ports:
            port.stopListening()
        sockets = [p for p in list(daphne.connections) if hasattr(p, "serverClose")]
        for protocol in sockets:
            # 1001 "going away" (autobahn's sendClose only allows 1000 and 3000+).
            with contextlib.suppress(Exception):
                protocol.sendCloseFrame(code=1001)
        self.sockets_deadline = time.monotonic() + CLOSE_HANDSHAKE
        logger.info(
            "%s: not accepting connections; closing %d WebSockets; finishing %d requests",
            name,
            len(sockets),
            len(self._in_flight()) - len(sockets),
        )
        self._wait_idle(time.monotonic() + self.options.shutdown_timeout)

    def _in_flight(self) -> list[Any]:
        """HTTP requests still being answered, and WebSockets still closing (briefly)."""
        busy = []
        closing = time.monotonic() < self.sockets_deadline
        for protocol, details in list(self.daphne.connections.items()):
            if hasattr(protocol, "serverClose"):
                if closing and "disconnected" not in details:
                    busy.append(protocol)
                continue
            instance = details.get("application_instance")
            if instance is not None and not instance.done():
                busy.append(protocol)
        return busy

    def _wait_idle(self, deadline: float) -> None:
        import asyncio

        from twisted.internet import reactor

        busy = self._in_flight()
        if busy and time.monotonic() < deadline:
            reactor.callLater(0.05, self._wait_idle, deadline)
            return
        if busy:
            logger.warning("%d requests still running at the shutdown timeout", len(busy))
        # Background tasks (e.g. live feeds) end with the loop; cancel them first.
        loop = reactor._asyncioEventloop  # type: ignore[attr-defined]
        for task in asyncio.all_tasks(loop):
            task.cancel()
        reactor.callLater(0.1, reactor.stop)
