"""Markdown tables from a results file: throughput, ratios to bare, errors, RSS, targets.

python3 bench/report.py [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The targets: median ratio to bare per cookieguard store and workload.
TARGETS = {
    "cookieguard-memory": {"W1": 0.85, "W2": 0.90, "W3": 0.85, "W4": 0.90},
    "cookieguard-sqlite": {"W1": 0.85, "W2": 0.80, "W3": 0.75, "W4": 0.80},
    "cookieguard-redis": {"W1": 0.85, "W2": 0.65, "W3": 0.60, "W4": 0.65},
    "cookieguard-postgres": {"W1": 0.85, "W2": 0.60, "W3": 0.55, "W4": 0.60},
}
RSS_MARGIN_KIB = 10 * 1024
RSS_PEER = {"cookieguard-redis": "starsessions-redis"}  # others compare to starsessions-memory


def _cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    ratio = entry.get("ratio")
    return f"{entry['rps']:,.0f} ({ratio:.2f})" if ratio is not None else f"{entry['rps']:,.0f}"


def markdown(result: dict) -> str:
    workloads: dict[str, str] = result["workloads"]
    summary: dict[str, dict] = result["summary"]
    rss: dict[str, int] = result.get("peak_rss_kib", {})
    keys = list(workloads)
    lines = [
        "| subject | "
        + " | ".join(f"{k}: {workloads[k]}" for k in keys)
        + " | errors | peak RSS |",
        "|---|" + "---:|" * (len(keys) + 2),
    ]
    for name, label in result["subjects"].items():
        per = summary.get(name, {})
        errors = sum(per[k]["socket_errors"] + per[k]["unexpected"] for k in keys if k in per)
        mib = rss.get(name, 0) / 1024
        lines.append(
            f"| {label} (`{name}`) | "
            + " | ".join(_cell(per.get(k)) for k in keys)
            + f" | {errors} | {mib:.1f} MiB |"
        )
    cfg = result["config"]
    lines.append("")
    lines.append(
        f"req/s: median of {cfg['rounds']} rounds of {cfg['duration_s']:g} s "
        f"({cfg['connections']} connections); in brackets the median of the same-round ratios "
        "to the bare site. errors: socket errors plus responses with any status other than "
        "the workload's expected one (W3: 201, others: 200), over all rounds."
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
    lines += ["", *targets(result)]
    return "\n".join(lines) + "\n"


def targets(result: dict) -> list[str]:
    """The issue's ratio and RSS targets, each marked held or not held, with the numbers."""
    summary: dict[str, dict] = result["summary"]
    rss: dict[str, int] = result.get("peak_rss_kib", {})
    keys = list(result["workloads"])
    lines = [
        "| target (median ratio to bare) | " + " | ".join(keys) + " | peak RSS vs peer |",
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
            else:
                verdict = "held" if got >= wanted[k] else "**not held**"
                cells.append(f"{got:.2f} ≥ {wanted[k]:.2f}: {verdict}")
        peer = RSS_PEER.get(name, "starsessions-memory")
        if name in rss and peer in rss:
            diff = (rss[name] - rss[peer]) / 1024
            verdict = "held" if rss[name] - rss[peer] <= RSS_MARGIN_KIB else "**not held**"
            cells.append(f"{diff:+.1f} MiB vs `{peer}`: {verdict}")
        else:
            cells.append("-")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results/latest.json")
    print(markdown(json.loads(path.read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
