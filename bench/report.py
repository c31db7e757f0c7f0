"""Markdown tables from a results file: throughput, ratios to bare, errors, RSS, targets.

python3 bench/report.py [bench/results/latest-uvicorn.json]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

# The issue's targets: median ratio to the same app without security, per store and workload
# (uvicorn with uvloop + httptools; granian: the same within 0.05).
TARGETS = {
    "cookieguard-memory": {"W1": 0.85, "W2": 0.90, "W3": 0.85, "W4": 0.85},
    "cookieguard-sqlite": {"W1": 0.85, "W2": 0.85, "W3": 0.75, "W4": 0.80},
    "cookieguard-redis": {"W1": 0.85, "W2": 0.80, "W3": 0.70, "W4": 0.75},
    "cookieguard-postgres": {"W1": 0.85, "W2": 0.75, "W3": 0.65, "W4": 0.70},
}
SLACK = {"granian": 0.05}
# ... and at least this many times the Starlette stack's req/s on every workload.
PEER_FACTOR = 2.0
PEER = {"cookieguard-redis": "starsessions-redis"}  # others: starsessions-memory
RSS_MARGIN_KIB = 10 * 1024
RSS_PEER = {"cookieguard-redis": "starsessions-redis"}  # others compare to starsessions-memory
# Flask (gunicorn): Flask + cookieguard at least this many times Flask-Session + Flask-WTF.
FLASK_FACTOR = 1.5
FLASK_PEERS = {
    "cookieguard-memory": "flask-session-memory",
    "cookieguard-sqlite": "flask-session-memory",
    "cookieguard-redis": "flask-session-redis",
    "cookieguard-postgres": "flask-session-redis",
}


def summarise(
    subjects: list[str], workloads: list[str], rounds: list[dict[str, dict[str, dict]]]
) -> dict[str, dict[str, dict]]:
    """Per subject and workload: median req/s, median same-round ratio to bare, error totals."""
    summary: dict[str, dict[str, dict]] = {}
    for name in subjects:
        summary[name] = {}
        for key in workloads:
            runs = [r[key][name] for r in rounds if name in r.get(key, {})]
            if not runs:
                continue
            ratios = [
                r[key][name]["rps"] / r[key]["bare"]["rps"]
                for r in rounds
                if name in r.get(key, {}) and "bare" in r.get(key, {})
            ]
            cpu_ratios = [
                r[key]["bare"]["cpu_us_per_request"] / r[key][name]["cpu_us_per_request"]
                for r in rounds
                if name in r.get(key, {})
                and "bare" in r.get(key, {})
                and r[key][name]["cpu_us_per_request"] > 0
            ]
            statuses: dict[int, int] = {}
            for run in runs:
                for code, n in run["statuses"].items():
                    statuses[code] = statuses.get(code, 0) + n
            summary[name][key] = {
                "rps": statistics.median(run["rps"] for run in runs),
                "rps_runs": [round(run["rps"], 1) for run in runs],
                "ratio": statistics.median(ratios) if ratios else None,
                "ratio_runs": [round(x, 4) for x in ratios],
                "cpu_us_per_request": statistics.median(run["cpu_us_per_request"] for run in runs),
                "cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
                "p50_ms": statistics.median(run["latency_us"]["p50"] for run in runs) / 1000,
                "p99_ms": statistics.median(run["latency_us"]["p99"] for run in runs) / 1000,
                "requests": sum(run["requests"] for run in runs),
                "socket_errors": sum(run["socket_errors"] for run in runs),
                "unexpected": sum(run["unexpected"] for run in runs),
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
            }
    return summary


def _cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    ratio = entry.get("ratio")
    return f"{entry['rps']:,.0f} ({ratio:.2f})" if ratio is not None else f"{entry['rps']:,.0f}"


def markdown(result: dict) -> str:
    workloads: dict[str, str] = result["workloads"]
    summary: dict[str, dict] = result["summary"]
    rss: dict[str, int] = result.get("peak_rss_kib", {})
    rss_now: dict[str, int] = result.get("rss_at_end_kib", {})
    keys = list(workloads)
    lines = [
        "| subject | "
        + " | ".join(f"{k}: {workloads[k]}" for k in keys)
        + " | errors | RSS peak / at end |",
        "|---|" + "---:|" * (len(keys) + 2),
    ]
    for name, label in result["subjects"].items():
        per = summary.get(name, {})
        errors = sum(per[k]["socket_errors"] + per[k]["unexpected"] for k in keys if k in per)
        mib = rss.get(name, 0) / 1024
        now = f" / {rss_now[name] / 1024:.1f}" if name in rss_now else ""
        lines.append(
            f"| {label} (`{name}`) | "
            + " | ".join(_cell(per.get(k)) for k in keys)
            + f" | {errors} | {mib:.1f}{now} MiB |"
        )
    cfg = result["config"]
    lines.append("")
    lines.append(
        f"req/s: median of {cfg['rounds']} rounds of {cfg['duration_s']:g} s "
        f"({cfg['connections']} connections, nice {cfg.get('nice', 0)}); in brackets the median "
        "of the same-round ratios to the bare site. errors: socket errors plus responses with "
        "any status other than the workload's expected one (W3: 201, others: 200), over all rounds."
    )
    loads = result.get("load_average_1min")
    if loads:
        lines.append(
            "\n1-minute load average at the start and after each round: "
            + ", ".join(f"{x:.2f}" for x in loads)
            + " (2 CPUs: above ~2 means other processes competed for the cores)."
        )
    for name, why in result.get("skipped", {}).items():
        lines.append(f"\nNot measured: `{name}`: {why}")
    unexpected = [
        f"`{n}` {k}: {e['statuses']}"
        for n, per in summary.items()
        for k, e in per.items()
        if e["unexpected"] or e["socket_errors"]
    ]
    if unexpected:
        lines.append("\nStatus counts where something went wrong: " + "; ".join(unexpected))
    lines += ["", *latency_table(result), "", *cpu_table(result), "", *targets(result)]
    return "\n".join(lines) + "\n"


def latency_table(result: dict) -> list[str]:
    """wrk's p50 and p99 latency per subject and workload (median over rounds)."""
    keys = list(result["workloads"])
    summary: dict[str, dict] = result["summary"]
    lines = [
        "| latency p50 / p99, ms | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name in result["subjects"]:
        cells = []
        for k in keys:
            e = summary.get(name, {}).get(k)
            cells.append(f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f}" if e else "-")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def cpu_table(result: dict) -> list[str]:
    """Server CPU time per request: insensitive to other processes taking turns on the core."""
    workloads: dict[str, str] = result["workloads"]
    summary: dict[str, dict] = result["summary"]
    keys = list(workloads)
    if not any("cpu_us_per_request" in e for per in summary.values() for e in per.values()):
        return []
    lines = [
        "| server CPU per request, µs (bare's / this) | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name in result["subjects"]:
        cells = []
        for k in keys:
            e = summary.get(name, {}).get(k)
            if not e or "cpu_us_per_request" not in e:
                cells.append("-")
                continue
            ratio = e.get("cpu_ratio")
            extra = f" ({ratio:.2f})" if ratio is not None else ""
            cells.append(f"{e['cpu_us_per_request']:,.0f}{extra}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "CPU per request is utime + stime of the server's processes during the run divided by "
        "the requests served (median over rounds); in brackets bare's CPU per request over "
        "this subject's, the throughput ratio a quiet, saturated core would show. The work "
        "done inside Redis or PostgreSQL is not in it.",
    ]
    return lines


def flask_targets(result: dict) -> list[str]:
    """Flask + cookieguard against Flask-Session + Flask-WTF + Flask-Login, same app."""
    summary: dict[str, dict] = result["summary"]
    keys = list(result["workloads"])
    lines = [
        f"| target: ≥ {FLASK_FACTOR:g}x the Flask-Session stack (req/s; in brackets by server "
        "CPU per request) | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, peer in FLASK_PEERS.items():
        per, theirs = summary.get(name), summary.get(peer)
        if not per or not theirs:
            continue
        cells = []
        for k in keys:
            times = per[k]["rps"] / theirs[k]["rps"]
            cpu = theirs[k]["cpu_us_per_request"] / per[k]["cpu_us_per_request"]
            verdict = "held" if times >= FLASK_FACTOR else "**not held**"
            cells.append(f"{times:.2f}x ({cpu:.2f}x): {verdict}")
        lines.append(f"| `{name}` vs `{peer}` | " + " | ".join(cells) + " |")
    return lines


def targets(result: dict) -> list[str]:
    """The issue's ratio and RSS targets, each marked held or not held, with the numbers."""
    if result["config"].get("server") == "gunicorn":
        return flask_targets(result)
    summary: dict[str, dict] = result["summary"]
    rss: dict[str, int] = result.get("peak_rss_kib", {})
    keys = list(result["workloads"])
    slack = SLACK.get(result["config"].get("server", "uvicorn"), 0.0)
    lines = [
        f"| target (median ratio to bare, minus {slack:.2f} on this server; and "
        f"≥ {PEER_FACTOR:g}x the Starlette stack) | " + " | ".join(keys) + " | peak RSS vs peer |",
        "|---|" + "---|" * (len(keys) + 1),
    ]
    for name, wanted in TARGETS.items():
        per = summary.get(name)
        if not per:
            lines.append(f"| `{name}` | " + " | ".join("not measured" for _ in keys) + " | - |")
            continue
        cells = []
        for k in keys:
            got = per.get(k, {}).get("ratio")
            if got is None or k not in wanted:
                cells.append("-")
                continue
            goal = wanted[k] - slack
            verdict = "held" if got >= goal else "**not held**"
            cpu = per[k].get("cpu_ratio")
            steady = f", CPU ratio {cpu:.2f}" if cpu is not None else ""
            cell = f"{got:.2f} (target {goal:.2f}{steady}): {verdict}"
            peer_rps = summary.get(PEER.get(name, "starsessions-memory"), {}).get(k, {}).get("rps")
            if peer_rps:
                times = per[k]["rps"] / peer_rps
                cell += f"; {times:.2f}x peer: {'held' if times >= PEER_FACTOR else '**not held**'}"
            cells.append(cell)
        peer = RSS_PEER.get(name, "starsessions-memory")
        if name in rss and peer in rss:
            diff = (rss[name] - rss[peer]) / 1024
            verdict = "held" if rss[name] - rss[peer] <= RSS_MARGIN_KIB else "**not held**"
            cells.append(f"{diff:+.1f} MiB vs `{peer}`: {verdict}")
        else:
            cells.append("-")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def machine_lines(result: dict) -> list[str]:
    m = result["machine"]
    asgi, django = m["asgi_env"], m["django_env"]
    cfg = result["config"]
    server = (
        f"{cfg.get('server_label', 'uvicorn, asyncio + h11')}, {cfg.get('workers', 1)} worker(s)"
    )
    return [
        f"- Server: {server}.",
        f"- Measured {result['created']} ({result['elapsed_s'] / 60:.0f} min), cookieguard "
        f"from the {result.get('cookieguard_measured', 'work tree')}.",
        f"- {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; {m['wrk']}.",
        f"- ASGI subjects: Python {asgi.get('python')}, "
        f"Starlette {asgi.get('starlette')}, starsessions {asgi.get('starsessions')}, "
        f"starlette-csrf {asgi.get('starlette-csrf')}, redis-py {asgi.get('redis')} with hiredis "
        f"{asgi.get('hiredis')}, psycopg {asgi.get('psycopg')}; {m['asgi_server']}.",
        f"- Django subject: Python {django.get('python')}, Django {django.get('django')}, "
        f"gunicorn {django.get('gunicorn')}; {m['django_server']}.",
        *flask_line(m.get("flask_env")),
        f"- Redis {m['redis_server']} and {m['postgres_server']} on loopback, not pinned.",
    ]


def flask_line(flask: dict | None) -> list[str]:
    if not flask:
        return []
    return [
        f"- Flask subjects: Python {flask.get('python')}, Flask {flask.get('flask')} (Werkzeug "
        f"{flask.get('werkzeug')}), gunicorn {flask.get('gunicorn')} sync workers, "
        f"Flask-Session {flask.get('flask-session')} (cachelib {flask.get('cachelib')}), "
        f"Flask-WTF {flask.get('flask-wtf')}, Flask-Login {flask.get('flask-login')}."
    ]


def update(target: Path, result: dict) -> None:
    start, end = "<!-- bench:results -->", "<!-- /bench:results -->"
    text = target.read_text()
    head, sep, rest = text.partition(start)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise SystemExit(f"{target} has no {start} ... {end} section")
    body = "\n".join([*machine_lines(result), "", markdown(result).rstrip()])
    target.write_text(f"{head}{start}\n{body}\n{end}{tail}")


def main() -> int:
    default = Path(__file__).parent / "results/latest-uvicorn.json"
    args = sys.argv[1:]
    path = Path(args[0]) if args and not args[0].startswith("--") else default
    result = json.loads(path.read_text())
    if "--update" in args:
        update(Path(args[args.index("--update") + 1]), result)
    else:
        print(markdown(result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
