"""Store round trips per request: Redis commands and PostgreSQL statements, per workload.

    python3 bench/roundtrips.py --subjects cookieguard-redis,cookieguard-postgres,starsessions-redis

Starts each subject as bench/run.py does, runs each workload for a few seconds with wrk and
divides the growth of the server-side counters by the requests served: Redis `INFO
commandstats` (every command, by name) and PostgreSQL `pg_stat_database` (transactions in the
store's database). Other clients of the same Redis or database add to the counters, so run it
when they are quiet; a figure well below 1 per request is noise from them. Written to
bench/results/roundtrips.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import RESULTS, WORKLOADS, run_wrk, snapshot, start, stop
from subjects import POSTGRES_URL, all_subjects


def redis_commands() -> dict[str, int]:
    text = subprocess.run(
        ["redis-cli", "INFO", "commandstats"], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            calls = rest.split(",")[0].removeprefix("calls=")
            counts[name.removeprefix("cmdstat_")] = int(calls)
    return counts


def postgres_transactions() -> int:
    database = POSTGRES_URL.rsplit("/", 1)[-1]
    sql = f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{database}'"
    out = subprocess.run(
        ["psql", POSTGRES_URL, "-Atc", "SELECT pg_stat_clear_snapshot()", "-c", sql],
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-1]) if out and out[-1].isdigit() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--subjects", default="cookieguard-redis,cookieguard-postgres,starsessions-redis"
    )
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--cookieguard-rev", metavar="REV")
    args = parser.parse_args()
    args.threads, args.connections = 1, 16
    workdir = Path(tempfile.mkdtemp(prefix="cookieguard-roundtrips-"))
    revision = "work tree"
    if args.cookieguard_rev:
        revision = snapshot(args.cookieguard_rev, workdir / "cookieguard-src")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.raw").touch()
    known = {s.name: s for s in all_subjects()}
    lines = [
        f"# Store round trips per request (cookieguard from the {revision})",
        "",
        "| subject | workload | req/s | Redis commands / request | PostgreSQL xacts / request |",
        "|---|---|---:|---|---:|",
    ]
    for name in args.subjects.split(","):
        running = start(known[name], workdir)
        try:
            for w in WORKLOADS:
                run_wrk(running, w, args, 1)  # warm-up
                before_r, before_p = redis_commands(), postgres_transactions()
                data = run_wrk(running, w, args, args.duration)
                after_r, after_p = redis_commands(), postgres_transactions()
                n = max(1, data["requests"])
                per = {
                    k: (after_r[k] - before_r.get(k, 0)) / n
                    for k in after_r
                    if (after_r[k] - before_r.get(k, 0)) / n >= 0.05
                }
                redis = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items())) or "0"
                pg = (after_p - before_p) / n
                lines.append(f"| `{name}` | {w.key} | {data['rps']:,.0f} | {redis} | {pg:.2f} |")
                print(lines[-1], flush=True)
        finally:
            stop(running)
    shutil.rmtree(workdir, ignore_errors=True)
    out = RESULTS / "roundtrips.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
