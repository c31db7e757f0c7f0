"""Process and machine helpers for the bench scripts: ports, /proc readings, priorities,
Redis clean-up and exporting a committed cookieguard. Standard library only."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from pathlib import Path

from subjects import BENCH, REDIS_URL

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

NICE = [0]


def niced() -> list[str]:
    """`nice -n N` when --nice asked for another priority than the default."""
    return ["nice", "-n", str(NICE[0])] if NICE[0] else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_kib(pid: int, field: str = "VmHWM") -> int:
    """Sum of VmHWM (peak) or VmRSS (now) over the server's processes (gunicorn: master +
    worker)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server's processes so far (utime + stime in /proc)."""
    ticks = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def cleanup_redis(prefix: str) -> None:
    """Delete the keys a subject left under its own random prefix."""
    host_port = REDIS_URL.removeprefix("redis://").split("/")[0]
    host, _, port = host_port.partition(":")
    base = ["redis-cli", "-h", host, "-p", port or "6379"]
    keys = subprocess.run(
        [*base, "--scan", "--pattern", f"*{prefix}*"], capture_output=True, text=True
    ).stdout.split()
    for i in range(0, len(keys), 500):
        subprocess.run([*base, "del", *keys[i : i + 500]], capture_output=True)


def snapshot(rev: str, target: Path) -> str:
    """Export `rev`'s src/ to `target` and import cookieguard from there (PYTHONPATH)."""
    root = BENCH.parent
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    os.environ["PYTHONPATH"] = str(target / "src")
    print(f"measuring cookieguard at commit {commit}", flush=True)
    return f"commit {commit}"
