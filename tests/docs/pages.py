"""The documentation site's Markdown, read as the tests need it: its fenced blocks, its
snippet includes, and its shell blocks run as a reader would run them."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

OPEN_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)")
INCLUDE = re.compile(r'--8<--\s+"(?P<path>[^"]+)"')
INSTALL = re.compile(r"pip install [^;&|`$]+")
SERVERS = ("uvicorn ", "cookieguard demo")


@dataclass(frozen=True)
class Fence:
    page: str
    line: int
    lang: str
    body: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"

    @property
    def lines(self) -> list[str]:
        return [line for line in self.body.splitlines() if line.strip()]


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def fences() -> list[Fence]:
    """Every fenced block of every page (indented ones inside lists or admonitions too)."""
    found = []
    for path in pages():
        lines = path.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opened = OPEN_FENCE.match(lines[index])
            if opened is None:
                index += 1
                continue
            indent, fence = opened["indent"], opened["fence"]
            end = index + 1
            while end < len(lines) and lines[end].strip() != fence:
                end += 1
            assert end < len(lines), f"docs/{path.relative_to(DOCS)}:{index + 1}: unclosed fence"
            body = textwrap.dedent(
                "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
            )
            found.append(Fence(str(path.relative_to(DOCS)), index + 1, opened["lang"], body))
            index = end + 1
    return found


def includes() -> set[str]:
    """The paths every page includes with ``--8<--``, relative to the repository."""
    return {m["path"] for path in pages() for m in INCLUDE.finditer(path.read_text("utf-8"))}


def is_install(command: str) -> bool:
    return INSTALL.fullmatch(command.strip()) is not None


def is_server(command: str) -> bool:
    return command.startswith(SERVERS)


def shell_blocks() -> list[Fence]:
    return [fence for fence in fences() if fence.lang == "sh"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _script(block: Fence, workdir: Path) -> tuple[str, int | None]:
    """`block` as a bash script run in `workdir`, and the port its server (if any) gets.

    Install lines are left out; a server line (uvicorn, ``cookieguard demo``) must be the
    last and gets ``--host 127.0.0.1 --port N`` appended (the last flag wins in both)."""
    (workdir / "examples").symlink_to(EXAMPLES, target_is_directory=True)
    commands = [line for line in block.lines if not is_install(line)]
    port = None
    if commands and is_server(commands[-1]):
        port = free_port()
        commands[-1] = f"exec {commands[-1]} --host 127.0.0.1 --port {port}"
    assert not any(is_server(c) for c in commands[:-1]), f"{block.where}: server not last"
    return "set -euo pipefail\n" + "\n".join(commands) + "\n", port


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_script(block: Fence, workdir: Path) -> str:
    """Run a block without a server; its stdout. Fails with its output if a command fails."""
    script, port = _script(block, workdir)
    assert port is None
    ran = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, f"{block.where} failed:\n{ran.stdout}\n{ran.stderr}"
    return ran.stdout


@contextlib.contextmanager
def serve(block: Fence, workdir: Path) -> Iterator[str]:
    """Run a block whose last line starts a server; yields its URL once it answers, then
    stops it (SIGTERM, a graceful shutdown) and checks it exited cleanly."""
    script, port = _script(block, workdir)
    assert port is not None
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["bash", "-c", script], cwd=workdir, env=_env(), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"{block.where}: exited\n{log_path.read_text()}"
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (
                    f"{block.where}: no answer\n{log_path.read_text()}"
                )
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    output = log_path.read_text()
    assert "Traceback" not in output and "ERROR" not in output, output
