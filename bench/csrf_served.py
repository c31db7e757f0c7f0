"""Served cost of CSRFMiddleware: a trivial Starlette endpoint under uvicorn, with and without.

The in-process figures of `bench_csrf.py` divide by a request that costs ~8 µs; a real server
spends far more per request (HTTP parsing, the event loop, sockets), which is what users see.
Here uvicorn serves both apps (one worker, pinned to CPU 0) and wrk (pinned to CPU 1) loads
them over loopback, rounds alternating between the two; the ratio is the median of the
same-round ratios of requests per second.

Run: .venv/bin/python bench/csrf_served.py [--rounds 5] [--duration 3]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from cookieguard import CSRFMiddleware, get_csrf_token

TOKEN = "x" * 64

async def page(request):
    token = get_csrf_token(request) if "cookieguard.csrf" in request.scope else TOKEN
    return PlainTextResponse(token)

async def post(request):
    return PlainTextResponse("ok")

site = Starlette(routes=[Route("/page", page), Route("/post", post, methods=["POST"])])
protected = CSRFMiddleware(site)
"""
SECRET = "abcdefghijklmnopqrstuvwxyzABCDEF"
POST_LUA = f"""
wrk.method = "POST"
wrk.body = "{{}}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-CSRFToken"] = "{SECRET}"
wrk.headers["Cookie"] = "csrftoken={SECRET}"
wrk.headers["Origin"] = "http://127.0.0.1:PORT"
wrk.headers["Sec-Fetch-Site"] = "same-origin"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    command = [
        "taskset", "-c", "0", sys.executable, "-m", "uvicorn", f"trivial:{app}",
        "--port", str(port), "--host", "127.0.0.1", "--loop", "asyncio", "--http", "h11",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=workdir)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"uvicorn did not start on port {port}")


def wrk(url: str, duration: int, script: Path | None) -> float:
    command = ["taskset", "-c", "1", "wrk", "-t1", "-c16", f"-d{duration}s", url]
    if script is not None:
        command[4:4] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"unexpected errors from wrk:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"no Requests/sec in wrk output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"csrf-served-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "trivial.py").write_text(APP)
    ports = {"site": free_port(), "protected": free_port()}
    procs = [serve(app, port, workdir) for app, port in ports.items()]
    scripts = {}
    for app, port in ports.items():
        path = workdir / f"post-{app}.lua"
        path.write_text(POST_LUA.replace("PORT", str(port)))
        scripts[app] = path
    ratios: dict[str, list[float]] = {"GET page with a token": [], "POST with header token": []}
    try:
        for port in ports.values():  # warm-up, discarded
            wrk(f"http://127.0.0.1:{port}/page", 1, None)
        for round_no in range(args.rounds):
            rates: dict[tuple[str, str], float] = {}
            for app, port in ports.items() if round_no % 2 else reversed(ports.items()):
                rates[("get", app)] = wrk(f"http://127.0.0.1:{port}/page", args.duration, None)
                rates[("post", app)] = wrk(
                    f"http://127.0.0.1:{port}/post", args.duration, scripts[app]
                )
            for label, kind in zip(ratios, ("get", "post"), strict=True):
                ratios[label].append(rates[(kind, "protected")] / rates[(kind, "site")])
            print(f"round {round_no + 1}/{args.rounds}: " + ", ".join(
                f"{k}: {v[-1]:.3f}" for k, v in ratios.items()) + "  req/s " + ", ".join(
                f"{kind}/{app} {rate:.0f}" for (kind, app), rate in sorted(rates.items())),
                flush=True)  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    for label, values in ratios.items():
        median = statistics.median(values)
        print(f"{label}: throughput with CSRFMiddleware / without = {median:.3f} "
              f"({(1 - median) * 100:.1f}% loss)")  # fmt: skip


if __name__ == "__main__":
    main()
