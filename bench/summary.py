"""The cross-server tables of BENCHMARKS.md, from the results files of one set of runs.

    python3 bench/summary.py [--results bench/results]

Reads latest-uvicorn.json, latest-granian.json, latest-uvicorn-h11.json, latest-gunicorn.json
and latest-uvicorn-2w.json (whichever exist) and prints Markdown: the server-CPU and req/s
ratios to the same app without security per server, the CPU per request in µs, p50/p99
latency and peak RSS (uvicorn), the Flask rows against Flask-Session + Flask-WTF, and the
2-worker run. Standard library only; nothing is measured here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ASGI_SERVERS = {
    "uvicorn": "uvicorn uvloop+httptools",
    "granian": "granian",
    "uvicorn-h11": "uvicorn h11+asyncio",
}
ASGI_ROWS = [
    "floor",
    "cookieguard-memory",
    "cookieguard-sqlite",
    "cookieguard-redis",
    "cookieguard-postgres",
    "starsessions-memory",
    "starsessions-redis",
]
FLASK_ROWS = [
    "cookieguard-memory",
    "cookieguard-sqlite",
    "cookieguard-redis",
    "cookieguard-postgres",
    "flask-session-memory",
    "flask-session-redis",
]
KEYS = ["W1", "W2", "W3", "W4"]


def _cells(result: dict, name: str, field: str, fmt: str = "{:.2f}") -> str:
    per = result["summary"].get(name)
    if not per:
        return "not run"
    values = [per.get(k, {}).get(field) for k in KEYS]
    return " / ".join("-" if v is None else fmt.format(v) for v in values)


def ratio_table(results: dict[str, dict], field: str) -> list[str]:
    servers = [s for s in ASGI_SERVERS if s in results]
    lines = [
        "| subject | " + " | ".join(ASGI_SERVERS[s] for s in servers) + " |",
        "|---|" + "---|" * len(servers),
    ]
    for name in ASGI_ROWS:
        cells = [_cells(results[s], name, field) for s in servers]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def cpu_us(result: dict, name: str) -> str:
    per, bare = result["summary"].get(name), result["summary"].get("bare")
    if not per or not bare:
        return "not run"
    cells = []
    for k in KEYS:
        mine = per[k]["cpu_us_per_request"]
        if name == "bare":
            cells.append(f"{mine:.0f}")
        else:
            cells.append(f"{mine:.0f} ({mine - bare[k]['cpu_us_per_request']:+.0f})")
    return " / ".join(cells)


def cpu_table(results: dict[str, dict], servers: list[str], rows: list[str]) -> list[str]:
    lines = [
        "| subject | " + " | ".join(ASGI_SERVERS.get(s, s) for s in servers) + " |",
        "|---|" + "---|" * len(servers),
    ]
    for name in ["bare", *rows]:
        lines.append(
            f"| `{name}` | " + " | ".join(cpu_us(results[s], name) for s in servers) + " |"
        )
    return lines


def latency_table(result: dict) -> list[str]:
    lines = [
        "| subject | " + " | ".join(f"{k} p50 / p99" for k in KEYS) + " | peak RSS |",
        "|---|" + "---:|" * (len(KEYS) + 1),
    ]
    rss = result.get("peak_rss_kib", {})
    for name, per in result["summary"].items():
        cells = [f"{per[k]['p50_ms']:.1f} / {per[k]['p99_ms']:.1f}" for k in KEYS if k in per]
        size = f"{rss[name] / 1024:.1f} MiB" if name in rss else "-"
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {size} |")
    return lines


def flask_table(result: dict) -> list[str]:
    lines = [
        "| subject (Flask, gunicorn sync) | req/s W1 / W2 / W3 / W4 | CPU ratio to bare "
        "| req/s ratio to bare |",
        "|---|---|---|---|",
    ]
    bare = result["summary"]["bare"]
    lines.append(
        "| `bare` | " + " / ".join(f"{bare[k]['rps']:,.0f}" for k in KEYS) + " | 1.00 | 1.00 |"
    )
    for name in FLASK_ROWS:
        if name not in result["summary"]:
            continue
        rps = _cells(result, name, "rps", "{:,.0f}")
        lines.append(
            f"| `{name}` | {rps} | {_cells(result, name, 'cpu_ratio')} | "
            f"{_cells(result, name, 'ratio')} |"
        )
    return lines


def workers_table(result: dict) -> list[str]:
    lines = [
        "| subject (2 workers) | req/s W1 / W2 / W3 / W4 | req/s ratio to bare | CPU ratio |",
        "|---|---|---|---|",
    ]
    for name in result["summary"]:
        lines.append(
            f"| `{name}` | {_cells(result, name, 'rps', '{:,.0f}')} | "
            f"{_cells(result, name, 'ratio')} | {_cells(result, name, 'cpu_ratio')} |"
        )
    return lines


def load_results(folder: Path) -> dict[str, dict]:
    results = {}
    for name in [*ASGI_SERVERS, "gunicorn", "uvicorn-2w"]:
        path = folder / f"latest-{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    results = load_results(parser.parse_args().results)
    out: list[str] = []
    if any(s in results for s in ASGI_SERVERS):
        asgi = [s for s in ASGI_SERVERS if s in results]
        out += ["Server CPU per request, ratio bare / subject (W1 / W2 / W3 / W4):", ""]
        out += [*ratio_table(results, "cpu_ratio"), ""]
        out += ["req/s, median same-round ratio to bare (W1 / W2 / W3 / W4):", ""]
        out += [*ratio_table(results, "ratio"), ""]
        out += ["Server CPU per request, µs (in brackets: over bare):", ""]
        out += [*cpu_table(results, asgi, ASGI_ROWS), ""]
    if "uvicorn" in results:
        out += ["Latency (ms) and peak RSS, uvicorn uvloop+httptools:", ""]
        out += [*latency_table(results["uvicorn"]), ""]
    if "gunicorn" in results:
        out += ["Flask under gunicorn (1 sync worker):", ""]
        out += [*flask_table(results["gunicorn"]), ""]
        out += [*cpu_table(results, ["gunicorn"], FLASK_ROWS), ""]
        out += ["Flask latency (ms) and peak RSS:", ""]
        out += [*latency_table(results["gunicorn"]), ""]
    if "uvicorn-2w" in results:
        out += ["2 uvicorn workers on CPUs 0-1 (wrk on CPU 1 too):", ""]
        out += [*workers_table(results["uvicorn-2w"]), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
