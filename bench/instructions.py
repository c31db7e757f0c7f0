"""Instructions per request, counted by valgrind: each ASGI app called in-process.

    bench/.venvs/asgi/bin/python bench/instructions.py [--subjects bare,cookieguard-memory]
        [--workloads W1,W2,W3,W4] [--requests 1000] [--cookieguard-rev HEAD] [--flask]

Timings on a shared machine swing by several percent from run to run; an instruction count
does not: `valgrind --tool=callgrind` counts the instructions the CPU retires, the same for
the same code and inputs whatever else the machine does. The event loop is uvloop (as under
uvicorn[standard] or granian); the server itself is not in the count. Each subject x workload
runs twice under callgrind (after the same set-up and 200 warm-up requests), once with no measured
requests and once with `--requests`; the difference over the requests is the cost of one
request. Hash randomisation is fixed (PYTHONHASHSEED=0) so dict layouts repeat. Instructions
are not time (cache misses and branch mispredictions are not in them), but a change that
removes instructions from the hot path removes time, and these numbers show it to within
a fraction of a percent where wrk needs many rounds. Written to bench/results/instructions.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WARMUP = 200
FLASK_PYTHON = BENCH / ".venvs" / "flask" / "bin" / "python"
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _event_loop_run(main: object) -> None:
    """uvloop when installed (what uvicorn[standard] and granian run), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


def core_child(case: str, calls: int) -> None:
    """`calls` calls of one of micro.py's core cases (cookie parsing, masking, verdict...)."""
    sys.path.insert(0, str(BENCH))
    import gc

    import micro

    fn = micro.cases()[case]
    for _ in range(WARMUP):
        fn()
    gc.collect()
    gc.freeze()
    for _ in range(calls):
        fn()


def flask_child(subject: str, workload: str, requests: int) -> None:
    """As `child`, for a Flask subject called in-process through WSGI (`wsgi_inproc`)."""
    import gc

    import wsgi_inproc

    app, reader, writer = wsgi_inproc.build(subject, Path(tempfile.mkdtemp()))
    method, path, headers, body, expected = wsgi_inproc.workloads(reader, writer)[workload]
    for _ in range(WARMUP):
        status, _, _ = wsgi_inproc.call(app, method, path, headers, body)
        if status != expected:
            raise RuntimeError(f"Flask {subject} {workload}: {status}, expected {expected}")
    gc.collect()
    gc.freeze()
    for _ in range(requests):
        wsgi_inproc.call(app, method, path, headers, body)


def child(subject: str, workload: str, requests: int) -> None:
    """Set the subject up, warm it, then serve `requests` requests of `workload`."""
    if subject.startswith("core:"):
        core_child(subject.removeprefix("core:"), requests)
        return
    if subject.startswith("flask:"):
        sys.path.insert(0, str(BENCH))
        flask_child(subject.removeprefix("flask:"), workload, requests)
        return
    sys.path.insert(0, str(BENCH))
    sys.path.insert(1, str(BENCH / "sites"))
    import gc

    import inproc

    async def run() -> None:
        app, reader, writer = await inproc.build(subject, Path(tempfile.mkdtemp()))
        method, path, headers, body, expected = inproc.workloads(reader, writer)[workload]
        for _ in range(WARMUP):
            status, _, _ = await inproc.call(app, method, path, headers, body)
            if status != expected:
                raise RuntimeError(f"{subject} {workload}: {status}, expected {expected}")
        gc.collect()
        gc.freeze()
        for _ in range(requests):
            await inproc.call(app, method, path, headers, body)

    _event_loop_run(run())


def count(subject: str, workload: str, requests: int, env: dict[str, str]) -> int:
    python = str(FLASK_PYTHON) if subject.startswith("flask:") else sys.executable
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        python,
        __file__,
        "--child",
        subject,
        workload,
        str(requests),
    ]
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{subject} {workload}: valgrind failed\n{tail}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", default="bare,cookieguard-memory")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--cookieguard-rev", metavar="REV")
    parser.add_argument(
        "--core",
        action="store_true",
        help="also count instructions per call of micro.py's core cases (cookie parsing and "
        "rendering, token masking, the CSRF verdict)",
    )
    parser.add_argument(
        "--flask",
        action="store_true",
        help="count the Flask subjects (sites/flask_app.py through WSGI, in bench/.venvs/flask) "
        "instead; written to results/instructions-flask.md",
    )
    parser.add_argument("--child", nargs=3, metavar=("SUBJECT", "WORKLOAD", "N"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    revision = "work tree"
    workdir = Path(tempfile.mkdtemp(prefix="cookieguard-instructions-"))
    if args.cookieguard_rev:
        sys.path.insert(0, str(BENCH))
        from run import snapshot

        revision = snapshot(args.cookieguard_rev, workdir / "cookieguard-src")
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    subjects = args.subjects.split(",")
    workloads = args.workloads.split(",")
    kind = "flask:" if args.flask else ""
    jobs = [(kind + s, w, n) for s in subjects for w in workloads for n in (0, args.requests)]
    core_cases: list[str] = []
    if args.core:
        sys.path.insert(0, str(BENCH))
        import micro

        core_cases = list(micro.cases())
        jobs += [(f"core:{c}", "-", n) for c in core_cases for n in (0, args.requests)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        totals = dict(zip(jobs, pool.map(lambda job: count(*job, env), jobs), strict=True))
    shutil.rmtree(workdir, ignore_errors=True)
    per: dict[tuple[str, str], float] = {
        (s, w): (totals[(kind + s, w, args.requests)] - totals[(kind + s, w, 0)]) / args.requests
        for s in subjects
        for w in workloads
    }
    app = "the Flask app through WSGI" if args.flask else "the ASGI app"
    lines = [
        f"# Instructions per request, {app} in-process (cookieguard from the {revision})",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {args.requests} requests per cell, "
        f"valgrind callgrind ({time.monotonic() - started:.0f} s); thousands of instructions "
        "per request, in brackets bare's count over this subject's.",
        "",
        "| subject | " + " | ".join(workloads) + " |",
        "|---|" + "---:|" * len(workloads),
    ]
    for subject in subjects:
        cells = []
        for workload in workloads:
            value = per[(subject, workload)]
            ratio = ""
            if subject != "bare" and ("bare", workload) in per:
                ratio = f" ({per[('bare', workload)] / value:.2f})"
            cells.append(f"{value / 1000:,.1f}k{ratio}")
        lines.append(f"| `{subject}` | " + " | ".join(cells) + " |")
    if core_cases:
        lines += ["", "| core case (micro.py) | instructions per call |", "|---|---:|"]
        for case in core_cases:
            calls = totals[(f"core:{case}", "-", args.requests)] - totals[(f"core:{case}", "-", 0)]
            lines.append(f"| {case} | {calls / args.requests:,.0f} |")
    (BENCH / "results").mkdir(exist_ok=True)
    name = "instructions-flask.md" if args.flask else "instructions.md"
    (BENCH / "results" / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
