"""A private PostgreSQL server for tests that freeze or kill it (never the shared one).

`initdb` and `postgres` come from the Debian layout (/usr/lib/postgresql/*/bin) or PATH. The
server refuses to run as root, so under root (CI) it runs as the ``postgres`` system user,
which the Debian package creates; the data directory then belongs to that user. `freeze`
stops the postmaster and every backend, as a hung host would: connections are still accepted
by the kernel, and nothing ever answers.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.store_backends import free_port, missing


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        missing(f"the PostgreSQL server binary {name!r} is not installed")
    return path


def _signal(pid: int, signum: int) -> None:
    """Signal a backend that may have exited since it was listed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _as_server_user() -> dict[str, Any]:
    """Popen arguments that drop root to the ``postgres`` user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        missing("running PostgreSQL as root needs a 'postgres' system user")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class PrivatePostgres:
    """One throwaway cluster on a free loopback port; trust auth, user ``postgres``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._drop = _as_server_user()
        # Not under pytest's tmp_path: that is private to root, and the server may not be root.
        self.dir = Path(tempfile.mkdtemp(prefix="cg-pg-"))
        if self._drop:
            os.chown(self.dir, self._drop["user"], self._drop["group"])

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PrivatePostgres:
        data = self.dir / "data"
        initdb = [_binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        subprocess.run(
            [*initdb, "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.dir,
            **self._drop,
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "fsync": "off",
            "max_connections": "20",
            "shared_buffers": "16MB",
        }
        args = [_binary("postgres"), "-D", str(data)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with (self.dir / "server.log").open("wb") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.dir,
                start_new_session=True,  # a Ctrl-C of the test run is not delivered to it
                **self._drop,
            )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "server.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"private PostgreSQL did not start:\n{log}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        """True once the server answers a startup packet (SSLRequest: one byte back)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
                return sock.recv(1) in (b"N", b"S")
        except OSError:
            return False

    def _children(self) -> list[int]:
        """The postmaster's children (each backend calls setsid, so no process group holds
        them all)."""
        assert self.proc is not None
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue  # gone meanwhile
                # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
                if int(stat.rpartition(")")[2].split()[1]) == self.proc.pid:
                    pids.append(int(entry))
        return pids

    def freeze(self) -> None:
        """SIGSTOP the postmaster (first, so it forks no more backends), then every child."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)
            for pid in self._children():
                _signal(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for pid in self._children():
                _signal(pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.thaw()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown, children too
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        yield server.start()
    finally:
        server.stop()
