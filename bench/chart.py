"""Bar chart of req/s per workload and subject (run with bench/.venvs/asgi/bin/python).

bench/.venvs/asgi/bin/python bench/chart.py bench/results/latest-uvicorn.json \
    bench/chart-uvicorn.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    source = Path(sys.argv[1])
    target = Path(sys.argv[2])
    result = json.loads(source.read_text())
    workloads = list(result["workloads"])
    subjects = list(result["subjects"])
    summary = result["summary"]
    width = 0.8 / len(subjects)
    fig, ax = plt.subplots(figsize=(12, 6.2), dpi=110)
    colors = plt.get_cmap("tab10")
    for i, name in enumerate(subjects):
        values = [summary.get(name, {}).get(w, {}).get("rps", 0) for w in workloads]
        xs = [j + (i - (len(subjects) - 1) / 2) * width for j in range(len(workloads))]
        bars = ax.bar(xs, values, width, label=name, color=colors(i % 10))
        for bar, w in zip(bars, workloads, strict=True):
            ratio = summary.get(name, {}).get(w, {}).get("ratio")
            if ratio is not None and name != "bare":
                ax.annotate(
                    f"{ratio:.2f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    rotation=90,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels([f"{w}: {result['workloads'][w]}" for w in workloads], fontsize=9)
    ax.set_ylabel("requests per second (median)")
    cfg = result["config"]
    ax.set_title(
        f"Throughput per workload, one server process on one core; labels: ratio to bare "
        f"({cfg['rounds']} rounds x {cfg['duration_s']:g} s, {cfg['connections']} connections)",
        fontsize=10,
    )
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.07), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
