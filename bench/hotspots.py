"""Where a subject's server spends its CPU under load: py-spy samples while wrk drives it.

    python3 bench/hotspots.py --subject cookieguard-memory --workloads W2,W3 --duration 10
    python3 bench/hotspots.py --subject cookieguard-memory --server uvicorn-h11

The server runs as in bench/run.py (CPU 0, same setup and login); py-spy (from
bench/.venvs/asgi) samples it at 1 kHz from CPU 1 alongside wrk. For each workload the
report lists the functions with the most samples on the stack ("inclusive") and at the top
("self"), and the share of samples per layer (uvicorn/h11, Starlette, cookieguard's session,
CSRF, auth, stores, templates, SQLite, asyncio). Idle time is not sampled, so shares are of
CPU busy time. Written to bench/results/profile-SUBJECT.md.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import RESULTS, WORKLOADS, run_wrk, snapshot, start, stop
from subjects import ASGI_VENV, SERVERS, all_subjects

# First matching (substring of "function (file)") wins; order matters.
LAYERS = (
    ("cookieguard stores", "cookieguard/stores/"),
    ("cookieguard cookie parsing/rendering", "cookieguard/core/cookies"),
    ("cookieguard token masking", "cookieguard/core/tokens"),
    ("cookieguard session middleware", "cookieguard/asgi/session"),
    ("cookieguard CSRF middleware", "cookieguard/asgi/csrf"),
    ("cookieguard core", "cookieguard/core/"),
    ("cookieguard auth", "cookieguard/auth/"),
    ("cookieguard other asgi", "cookieguard/asgi/"),
    ("cookieguard other", "cookieguard/"),
    ("the bench app", "sites/app.py"),
    ("the bench app", "sites/peerdb.py"),
    ("jinja2 templates", "jinja2/"),
    ("starlette", "starlette/"),
    ("starsessions / starlette-csrf / itsdangerous", "starsessions/"),
    ("redis client", "redis/"),
    ("psycopg", "psycopg"),
    ("server (uvicorn)", "uvicorn/"),
    ("server (h11)", "h11/"),
    ("server (granian)", "granian/"),
    ("json", "json/"),
    ("sqlite3", "sqlite3"),
    ("asyncio", "asyncio/"),
)


def layer_of(frame: str) -> str:
    for name, needle in LAYERS:
        if needle in frame:
            return name
    return "other"


def analyse(raw: Path, top: int = 25) -> list[str]:
    """Collapsed stacks (`a;b;c count`) → Markdown lines of hot functions and layers."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
        # The layer of the innermost frame that belongs to a named layer other than asyncio,
        # so time inside stdlib helpers is charged to whoever called them.
        charged = "other"
        for frame in reversed(frames):
            name = layer_of(frame)
            if name not in ("other", "asyncio"):
                charged = name
                break
        else:
            charged = layer_of(frames[-1])
        layers[charged] += count
    if total == 0:
        return ["no samples"]
    security = sum(n for name, n in layers.items() if name.startswith("cookieguard"))
    out = [f"{total} samples.", "", "| layer (innermost named frame) | share |", "|---|---:|"]
    out += [f"| {name} | {100 * n / total:.1f}% |" for name, n in layers.most_common()]
    out.append(
        f"| **all cookieguard layers (the security cost)** | **{100 * security / total:.1f}%** |"
    )
    out += ["", "| function (self) | share |", "|---|---:|"]
    out += [f"| `{f}` | {100 * n / total:.1f}% |" for f, n in self_time.most_common(top)]
    out += ["", "| function (inclusive, cookieguard and app only) | share |", "|---|---:|"]
    picked = [
        (f, n)
        for f, n in inclusive.most_common()
        if "cookieguard/" in f or "starsessions/" in f or "starlette_csrf/" in f
    ]
    out += [f"| `{f}` | {100 * n / total:.1f}% |" for f, n in picked[:top]]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subject", default="cookieguard-memory")
    parser.add_argument("--server", choices=list(SERVERS), default="uvicorn")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--cookieguard-rev", metavar="REV", help="profile cookieguard at REV")
    args = parser.parse_args()
    args.threads = 1
    subject = {s.name: s for s in all_subjects()}[args.subject]
    workdir = Path(tempfile.mkdtemp(prefix="cookieguard-profile-"))
    revision = "work tree"
    if args.cookieguard_rev:
        revision = snapshot(args.cookieguard_rev, workdir / "cookieguard-src")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.raw").touch()
    report = [f"# Profile of `{subject.name}` ({subject.label}) under {SERVERS[args.server]}", ""]
    report.append(
        f"py-spy {args.rate} Hz, {args.duration} s per workload, {args.connections} "
        f"connections, cookieguard from the {revision}, {time.strftime('%Y-%m-%d %H:%M %Z')}."
    )
    running = start(subject, workdir, args.server)
    try:
        for w in [w for w in WORKLOADS if w.key in args.workloads.split(",")]:
            run_wrk(running, w, args, 2)  # warm-up
            raw = workdir / f"{w.key}.txt"
            spy = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    "1",
                    str(ASGI_VENV / "bin" / "py-spy"),
                    "record",
                    "--pid",
                    str(running.proc.pid),
                    "--rate",
                    str(args.rate),
                    "--format",
                    "raw",
                    "--duration",
                    str(args.duration + 1),
                    "--output",
                    str(raw),
                    "--nonblocking",
                    "--function",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(0.5)
            data = run_wrk(running, w, args, args.duration)
            spy.wait(timeout=args.duration + 60)
            print(f"{w.key}: {data['rps']:.0f} req/s under py-spy", flush=True)
            report += ["", f"## {w.key}: {w.title} ({data['rps']:.0f} req/s while sampled)", ""]
            report += analyse(raw) if raw.exists() else ["py-spy wrote nothing"]
    finally:
        stop(running)
        shutil.rmtree(workdir, ignore_errors=True)
    out = RESULTS / f"profile-{subject.name}-{args.server}.md"
    out.write_text("\n".join(report) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
