#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""bench-report.py RESULTS.json [CHART.png]: print the benchmark tables
(absolute figures, and ratios against the classic peer kernel-fuse and
against tmpfs) as markdown, and draw the ratios as a bar chart."""

import json
import sys

TRANSPORTS = ["tmpfs", "kernel-fuse", "kernel-fuse-uring", "fuseuring-classic",
              "fuseuring-ring", "fuseuring-bufpool", "fuseuring-zerocopy"]
LOWER_IS_BETTER = {"us"}


def ratio(rec, ref):
    """How many times better rec is than ref (>1: rec is better)."""
    if not ref or not rec or not ref["value"] or not rec["value"]:
        return None
    if rec["unit"] in LOWER_IS_BETTER:
        return ref["value"] / rec["value"]
    return rec["value"] / ref["value"]


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def tables(records):
    out = []
    for kernel in sorted({r["kernel"] for r in records}):
        recs = [r for r in records if r["kernel"] == kernel]
        by = {(r["workload"], r["transport"]): r for r in recs}
        ts = [t for t in TRANSPORTS if any(r["transport"] == t for r in recs)]
        wls = []
        for r in recs:
            if r["workload"] not in wls:
                wls.append(r["workload"])
        out.append(f"### Kernel {kernel}: absolute (median of runs)\n")
        out.append("| workload | unit | " + " | ".join(ts) + " |")
        out.append("|---|---|" + "---:|" * len(ts))
        for wl in wls:
            unit = next(r["unit"] for r in recs if r["workload"] == wl)
            cells = [fmt(by[(wl, t)]["value"], 1) if (wl, t) in by else "-"
                     for t in ts]
            out.append(f"| {wl} | {unit} | " + " | ".join(cells) + " |")
        for ref in ("kernel-fuse", "tmpfs", "kernel-fuse-uring"):
            if ref not in ts:
                continue
            others = [t for t in ts if t != ref]
            out.append(f"\n### Kernel {kernel}: ratio against {ref} "
                       "(>1 is better; latency inverted)\n")
            out.append("| workload | " + " | ".join(others) + " |")
            out.append("|---|" + "---:|" * len(others))
            for wl in wls:
                cells = [fmt(ratio(by.get((wl, t)), by.get((wl, ref))))
                         for t in others]
                out.append(f"| {wl} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


# The targets: (what, transport, reference, workloads, minimum ratio).
TARGETS = [
    ("ring >= 2x the classic peer on creates", "fuseuring-ring", "kernel-fuse",
     ["create-1t", "create-2t"], 2.0),
    ("ring >= 2x the classic peer on 4 KiB random read, 1 job",
     "fuseuring-ring", "kernel-fuse",
     ["randread-4k-1j", "randread-4k-1j-direct"], 2.0),
    ("ring >= 1.0x the classic peer on 1 MiB sequential", "fuseuring-ring",
     "kernel-fuse", ["seqread-1m", "seqwrite-1m", "seqread-1m-direct",
                     "seqwrite-1m-direct"], 1.0),
    ("ring >= 0.95x the in-tree io-uring FUSE", "fuseuring-ring",
     "kernel-fuse-uring", None, 0.95),
    ("p99 round trip over the ring below the classic peer's",
     "fuseuring-ring", "kernel-fuse", ["rtt-p99"], 1.0),
]


def targets(records):
    out = ["### Targets (ratios from one run; latency inverted)\n",
           "| target | kernel | workload | ratio | met |",
           "|---|---|---|---:|---|"]
    for kernel in sorted({r["kernel"] for r in records}):
        by = {(r["workload"], r["transport"]): r for r in records
              if r["kernel"] == kernel}
        for what, t, ref, wls, minimum in TARGETS:
            if wls is None:
                wls = [w for (w, tr) in by if tr == ref]
            for wl in wls:
                r = ratio(by.get((wl, t)), by.get((wl, ref)))
                if r is None:
                    continue
                met = "yes" if (r > minimum if wl == "rtt-p99"
                                else r >= minimum) else "no"
                out.append(f"| {what} | {kernel} | {wl} | {r:.2f} | {met} |")
    return "\n".join(out) + "\n"


def chart(records, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench-report: no matplotlib, no chart", file=sys.stderr)
        return
    kernels = sorted({r["kernel"] for r in records})
    fig, axes = plt.subplots(len(kernels), 1, squeeze=False,
                             figsize=(14, 5 * len(kernels)))
    for ax, kernel in zip(axes[:, 0], kernels):
        recs = [r for r in records if r["kernel"] == kernel]
        by = {(r["workload"], r["transport"]): r for r in recs}
        wls = []
        for r in recs:
            if r["workload"] not in wls:
                wls.append(r["workload"])
        # tmpfs, the limit, is tens of times ahead: it would flatten the rest.
        ts = [t for t in TRANSPORTS if t not in ("kernel-fuse", "tmpfs") and
              any(r["transport"] == t for r in recs)]
        width = 0.8 / max(len(ts), 1)
        for i, t in enumerate(ts):
            vals = [ratio(by.get((wl, t)), by.get((wl, "kernel-fuse"))) or 0
                    for wl in wls]
            ax.bar([x + i * width for x in range(len(wls))], vals, width,
                   label=t)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(wls))])
        ax.set_xticklabels(wls, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("ratio against kernel-fuse")
        ax.set_title(f"fuseuring benchmarks, kernel {kernel}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    records = json.load(open(sys.argv[1]))
    print(tables(records))
    print(targets(records))
    if len(sys.argv) > 2:
        chart(records, sys.argv[2])


if __name__ == "__main__":
    main()
