"""Run `cookieguard demo` (and redis-server) as real subprocesses for black-box tests.

The demo is started with ``--port 0`` and prints the port it bound, so there is no window in
which another process could take a port picked in advance. Readiness is polled over HTTP.
The shared sites run once per entry of `SERVER_KINDS`: plain uvicorn (asyncio and h11) and
``uvicorn[standard]`` (uvloop and httptools), the two servers deployments actually run.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.loops import LOOPS

SERVING = re.compile(r"serving (http://\S+?)/?$")
CREATED = re.compile(r"created user '([^']+)' with password '([^']+)'")
TOKEN_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"')
START_TIMEOUT = 20.0
# Test id -> (--loop, --http) of `cookieguard demo`.
SERVER_KINDS = {"asyncio+h11": ("asyncio", "h11")}
if "uvloop" in LOOPS:
    SERVER_KINDS["uvloop+httptools"] = ("uvloop", "httptools")


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run the `cookieguard` command line to completion (`env`: extra variables).

    The installed entry point (next to the interpreter) when there is one, as a user runs it.
    """
    return subprocess.run(
        [*cookieguard_command(), *args],
        input=stdin,
        env={**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cookieguard_command() -> list[str]:
    """argv of the `cookieguard` command of this environment."""
    script = Path(sys.executable).parent / "cookieguard"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cookieguard.cli"]


class DemoServer:
    """One `cookieguard demo` process; `url` once started."""

    def __init__(
        self,
        db: Path,
        *,
        store: str | None = None,
        log: Path,
        extra: tuple[str, ...] = (),
        kind: str = "asyncio+h11",
    ) -> None:
        self.db = db
        self.store = store
        self.extra = extra
        self.log = log
        self.loop, self.http = SERVER_KINDS[kind]
        self.url = ""
        self.demo_credentials: tuple[str, str] | None = None
        self.stdout_lines: list[str] = []
        self.user_ids: dict[str, str] = {}
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> DemoServer:
        """Launch the process (does not wait; see `wait_ready`)."""
        args = [
            sys.executable,
            "-m",
            "cookieguard.cli",
            "demo",
            "--port",
            "0",
            "--db",
            str(self.db),
            "--loop",
            self.loop,
            "--http",
            self.http,
        ]
        if self.store:
            args += ["--store", self.store]
        args += self.extra
        env = {k: v for k, v in os.environ.items() if k != "COOKIEGUARD_SECRET_KEY"}
        self._stderr = self.log.open("w")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_ready(self) -> DemoServer:
        """Wait for the 'serving' line, then for GET /login to answer."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.url:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                pytest.fail(f"demo server did not start:\n{self.log.read_text()}")
            self.stdout_lines.append(line)
            if match := CREATED.search(line):
                self.demo_credentials = (match[1], match[2])
            if match := SERVING.search(line):
                self.url = match[1]
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/login", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"demo server never answered:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if hasattr(self, "_stderr"):
            self._stderr.close()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str) -> str:
    """Path of executable `name`; skip without it, fail under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class RedisServer:
    """A private redis-server on a free port in a temp directory; restartable with its data."""

    def __init__(self, directory: Path) -> None:
        self.binary = require_binary("redis-server")
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self, *, save: bool = True) -> None:
        """Shut down, writing the data to disk first so a restart brings it back."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"SHUTDOWN SAVE\r\n" if save else b"SHUTDOWN NOSAVE\r\n")
                sock.recv(64)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def csrf_token(html: str) -> str:
    """The hidden CSRF form token in a page."""
    match = TOKEN_INPUT.search(html)
    assert match is not None, "page has no csrfmiddlewaretoken input"
    return match[1]


def login(client: httpx.Client, username: str, password: str, **extra: str) -> httpx.Response:
    """Log in through the form, as a browser would (GET the form, POST it back)."""
    page = client.get("/login")
    assert page.status_code == 200
    form = {
        "csrfmiddlewaretoken": csrf_token(page.text),
        "username": username,
        "password": password,
    }
    form.update(extra)
    return client.post("/login", data=form)
