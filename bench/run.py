"""Benchmark runner: every subject x workload with wrk over loopback, interleaved by round.

    bench/setup.sh                        # once: the environments under bench/.venvs/
    python3 bench/run.py --server uvicorn # the ASGI subjects, 3 rounds of 5 s, ~9 minutes
    python3 bench/run.py --server granian --subjects bare,cookieguard-memory --duration 3
    python3 bench/run.py --server gunicorn   # the Flask subjects (sites/flask_app.py)

Every ASGI subject serves the same app (sites/app.py) under the chosen server (uvicorn with
uvloop + httptools, granian, or uvicorn with h11 + asyncio); only the security layer differs.

The server runs pinned to CPU 0 and wrk to CPU 1. Each subject gets a fresh SQLite file, two
users (a reader with 10 records, a writer for W3), and a warm-up per workload that is thrown
away. Then, round by round, every workload runs on every subject (order rotated each round),
so each ratio to the bare site compares two runs of the same round. Results: medians over
rounds, every socket error and every status other than the workload's expected one, the
peak RSS (VmHWM) of each server's processes. Written to bench/results/latest-SERVER.json and .md.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine
import report
from client import Browser, SetupError, login, record_count, seed
from procs import (
    NICE,
    cleanup_redis,
    cpu_seconds,
    free_port,
    niced,
    rss_kib,
    snapshot,
)
from subjects import (
    ASGI_VENV,
    BENCH,
    POSTGRES_URL,
    SERVERS,
    USERS,
    Subject,
    all_subjects,
    asgi_command,
    subjects_for,
)

WRK_CPU = "1"
RESULTS = BENCH / "results"
SEEDED_RECORDS = 10


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    path: str
    user: str | None  # None: anonymous
    expected: frozenset[int]
    script: str = "status.lua"


WORKLOADS = [
    Workload("W1", "GET /login anonymous", "/login", None, frozenset({200})),
    Workload("W2", "GET /api/records, 10 records", "/api/records", "reader", frozenset({200})),
    Workload(
        "W3",
        "POST /api/records (fetch)",
        "/api/records",
        "writer",
        frozenset({201}),
        "post_record.lua",
    ),
    Workload("W4", "GET /records HTML", "/records", "reader", frozenset({200})),
]


@dataclass
class Running:
    subject: Subject
    proc: subprocess.Popen[bytes]
    port: int
    values: dict[str, str]
    browsers: dict[str, Browser]
    log: Path


def wait_ready(running: Running, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise SetupError(f"server exited with {running.proc.returncode}; see {running.log}")
        try:
            status, _, _ = Browser("127.0.0.1", running.port).request("GET", "/login")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SetupError(f"server not ready after {timeout:.0f} s; see {running.log}")


def start(subject: Subject, workdir: Path, server: str, workers: int = 1) -> Running:
    sdir = workdir / subject.name
    sdir.mkdir()
    port = free_port()
    values = {
        "port": str(port),
        "db": str(sdir / "site.sqlite3"),
        "dir": str(sdir),
        "prefix": f"bench-{secrets.token_hex(4)}:",
        "table": f"bench_sessions_{secrets.token_hex(4)}",
        "workers": str(workers),
    }
    subject.prepare(subject, sdir, values)
    env = {**os.environ, **{k: subject.fill(v, values) for k, v in subject.env.items()}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = asgi_command(server, workers) if subject.asgi else subject.command
    cmd = [
        *niced(),
        "taskset",
        "-c",
        ",".join(str(cpu) for cpu in range(workers)),
        *(subject.fill(part, values) for part in command),
    ]
    log = sdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=subject.cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(subject, proc, port, values, {}, log)
    try:
        wait_ready(running)
        for name, password in USERS.items():
            if subject.bare:
                browser = Browser("127.0.0.1", port, {"uid": name})
            else:
                browser = login("127.0.0.1", port, name, password)
            running.browsers[name] = browser
        seed(running.browsers["reader"], SEEDED_RECORDS)
    except Exception:
        stop(running)
        raise
    return running


def stop(running: Running) -> None:
    """End the server (its whole process group) and delete its Redis keys, if any."""
    if running.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.proc.pid, signal.SIGTERM)
        try:
            running.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.proc.pid, signal.SIGKILL)
            running.proc.wait(timeout=10)
    if running.subject.redis_prefix:
        cleanup_redis(running.subject.fill(running.subject.redis_prefix, running.values))
    if running.subject.pg_table:
        table = running.subject.fill(running.subject.pg_table, running.values)
        drop = f"import psycopg; psycopg.connect({POSTGRES_URL!r}, autocommit=True).execute("
        drop += f"'DROP TABLE IF EXISTS {table}')"
        subprocess.run([str(ASGI_VENV / "bin" / "python"), "-c", drop], check=False)


def run_wrk(running: Running, workload: Workload, args: argparse.Namespace, seconds: float) -> dict:
    url = f"http://127.0.0.1:{running.port}{workload.path}"
    cmd = [
        *niced(),
        "taskset",
        "-c",
        WRK_CPU,
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(BENCH / "wrk" / workload.script),
    ]
    env = dict(os.environ)
    if workload.user is not None:
        browser = running.browsers[workload.user]
        cmd += ["-H", f"Cookie: {browser.cookie_header()}"]
        env["BENCH_CSRF_TOKEN"] = browser.cookies.get("csrftoken", "")
    env["BENCH_ORIGIN"] = f"http://127.0.0.1:{running.port}"
    cmd.append(url)
    cpu_before = cpu_seconds(running.proc.pid)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    cpu = cpu_seconds(running.proc.pid) - cpu_before
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    data = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    statuses = {int(k): v for k, v in data["statuses"].items()}
    data["statuses"] = statuses
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["cpu_s"] = round(cpu, 3)
    data["cpu_us_per_request"] = cpu / max(1, data["requests"]) * 1e6
    data["unexpected"] = sum(n for code, n in statuses.items() if code not in workload.expected)
    data["socket_errors"] = sum(data["errors"][k] for k in ("connect", "read", "write", "timeout"))
    with (RESULTS / "latest.raw").open("a") as raw:
        raw.write(f"# {running.subject.name} {workload.key}\n{result.stdout}\n")
    return data


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = [s.name for s in all_subjects()]
    flask = [s.name for s in subjects_for("gunicorn")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--subjects",
        default=None,
        help=f"comma-separated, from: {', '.join(names)}; with --server gunicorn (Flask): "
        f"{', '.join(flask)} (bare is always added; default: every ASGI or Flask subject)",
    )
    parser.add_argument("--server", choices=list(SERVERS), default="uvicorn")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server workers, pinned to CPUs 0..N-1 (wrk stays on CPU 1: with 2 on 2 CPUs "
        "they share one)",
    )
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2.0, help="seconds per discarded run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="default: bench/results/latest-SERVER.json")
    parser.add_argument("--no-chart", action="store_true", help="skip bench/chart-SERVER.png")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run servers and wrk at this nice level (root: -10 keeps other jobs off the cores)",
    )
    parser.add_argument(
        "--cookieguard-rev",
        metavar="REV",
        help="measure cookieguard as committed at REV (e.g. HEAD) instead of the work tree",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    NICE[0] = args.nice
    catalog = subjects_for(args.server)
    if args.subjects is None:
        args.subjects = ",".join(s.name for s in catalog if s.asgi or args.server == "gunicorn")
    wanted = [n.strip() for n in args.subjects.split(",") if n.strip()]
    known = {s.name: s for s in catalog}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        print(f"unknown subjects: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if "bare" not in wanted:
        wanted.insert(0, "bare")
    workloads = [w for w in WORKLOADS if w.key in args.workloads.split(",")]
    suffix = args.server + (f"-{args.workers}w" if args.workers > 1 else "")
    args.out = args.out or str(RESULTS / f"latest-{suffix}.json")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.raw").write_text("")  # appended to by run_wrk
    workdir = Path(tempfile.mkdtemp(prefix="cookieguard-bench-"))
    print(f"work directory: {workdir}", flush=True)
    revision = "work tree"
    if args.cookieguard_rev:
        revision = snapshot(args.cookieguard_rev, workdir / "cookieguard-src")
    skipped: dict[str, str] = {}
    running: dict[str, Running] = {}
    started = time.time()
    try:
        for name in wanted:
            print(f"starting {name} ...", flush=True)
            try:
                running[name] = start(known[name], workdir, args.server, args.workers)
            except (SetupError, RuntimeError, OSError) as exc:
                if name == "bare":
                    raise
                skipped[name] = str(exc)
                print(f"  {name} skipped: {exc}", flush=True)
        names = list(running)
        total = len(names) * len(workloads) * (args.rounds * args.duration + args.warmup)
        print(
            f"running {len(names)} subjects x {len(workloads)} workloads, "
            f"{args.rounds} rounds: about {total / 60:.1f} min of load",
            flush=True,
        )
        for w in workloads:
            for name in names:
                run_wrk(running[name], w, args, args.warmup)
            print(f"warm-up {w.key} done", flush=True)
        rounds: list[dict[str, dict[str, dict]]] = []
        loads = [os.getloadavg()[0]]
        for r in range(args.rounds):
            this: dict[str, dict[str, dict]] = {}
            for w in workloads:
                this[w.key] = {}
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    data = run_wrk(running[name], w, args, args.duration)
                    this[w.key][name] = data
                    bad = data["socket_errors"] + data["unexpected"]
                    print(
                        f"[round {r + 1}/{args.rounds}] {w.key} {name:22} "
                        f"{data['rps']:9.1f} req/s  p50 {data['latency_us']['p50'] / 1000:6.2f}"
                        f" ms  CPU {data['cpu_us_per_request']:7.1f} µs/req  errors {bad}",
                        flush=True,
                    )
            rounds.append(this)
            loads.append(os.getloadavg()[0])
        rss = {name: rss_kib(running[name].proc.pid) for name in names}
        rss_now = {name: rss_kib(running[name].proc.pid, "VmRSS") for name in names}
        for name in names:
            if running[name].subject.bare:
                continue
            count = record_count(running[name].browsers["reader"])
            if count != SEEDED_RECORDS:
                print(f"warning: {name} reader has {count} records, not {SEEDED_RECORDS}")
    finally:
        for run in running.values():
            stop(run)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    result = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "elapsed_s": round(time.time() - started, 1),
        "config": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "nice": args.nice,
            "server": args.server,
            "server_label": SERVERS[args.server],
            "workers": args.workers,
            "server_cpu": ",".join(str(cpu) for cpu in range(args.workers)),
            "wrk_cpu": WRK_CPU,
        },
        "machine": machine.describe(),
        "cookieguard_measured": revision,
        "load_average_1min": [round(x, 2) for x in loads],
        "subjects": {n: known[n].label for n in names},
        "skipped": skipped,
        "workloads": {w.key: w.title for w in workloads},
        "summary": report.summarise(names, [w.key for w in workloads], rounds),
        "peak_rss_kib": rss,
        "rss_at_end_kib": rss_now,
        "rounds": [
            {
                wk: {
                    n: {k: v for k, v in d.items() if k != "statuses"}
                    | {"statuses": {str(c): x for c, x in d["statuses"].items()}}
                    for n, d in per.items()
                }
                for wk, per in rnd.items()
            }
            for rnd in rounds
        ],
    }
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=2) + "\n")
    table = report.markdown(result)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    if not args.no_chart:
        chart = subprocess.run(
            [
                str(ASGI_VENV / "bin" / "python"),
                str(BENCH / "chart.py"),
                str(out),
                str(BENCH / f"chart-{suffix}.png"),
            ],
            capture_output=True,
            text=True,
        )
        print(chart.stdout.strip() or chart.stderr.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
