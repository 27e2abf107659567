#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench, host side: turn one guest run into ratios.

usage: report.py RUN_DIR RESULTS_DIR

Reads RUN_DIR/{main.json,faults_loaded,faults_unloaded,kernel}; prints the
tables; writes RESULTS_DIR/<date>-<kernel>.json and .png. Every figure is a
median over the repetitions, with its spread ((max - min) / median); the
ratios compare medians measured in the same guest run.
"""
import datetime
import json
import os
import statistics
import sys


def med(v):
    return statistics.median(v)


def spread(v):
    m = med(v)
    return (max(v) - min(v)) / m if m else 0.0


def verdict(ok):
    return "met" if ok else "not met"


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def cell(v):
    return f"{fmt_ns(med(v))} ({spread(v):.0%})"


def main():
    run, results = sys.argv[1], sys.argv[2]
    with open(os.path.join(run, "main.json")) as f:
        main_ = json.load(f)
    loaded = [int(x) for x in open(os.path.join(run, "faults_loaded")).read().split()]
    unloaded = [int(x) for x in open(os.path.join(run, "faults_unloaded")).read().split()]
    kernel = open(os.path.join(run, "kernel")).read().strip()

    rows, summary = [], {"kernel": kernel, "reps": main_["reps"], "sizes": []}
    print(f"ptreloc bench, perf kernel {kernel} under TCG, {main_['reps']} repetitions; "
          "medians (spread), per PTE table moved")
    print(f"{'size':>6} {'tables':>6} {'relocate':>16} {'floor':>16} {'reloc/floor':>11} "
          f"{'fork':>16} {'fork/reloc':>10} {'migrate data':>16} {'migr/reloc':>10} {'all levels':>16}")
    for s in main_["sizes"]:
        t = s["pte_tables"]
        per = {k: [v / t for v in s[k]] for k in
               ("relocate_pte_ns", "floor_ns", "fork_ns", "migrate_pages_ns")}
        per["relocate_all_ns"] = [v / s["tables_all_levels"] for v in s["relocate_all_ns"]]
        r, fl, fk, mg, al = (med(per[k]) for k in ("relocate_pte_ns", "floor_ns", "fork_ns",
                                                   "migrate_pages_ns", "relocate_all_ns"))
        print(f"{s['mib']:>4}Mi {t:>6} {cell(per['relocate_pte_ns']):>16} "
              f"{cell(per['floor_ns']):>16} {r / fl:>10.2f}x {cell(per['fork_ns']):>16} "
              f"{fk / r:>9.1f}x {cell(per['migrate_pages_ns']):>16} {mg / r:>9.1f}x "
              f"{cell(per['relocate_all_ns']):>16}")
        summary["sizes"].append({
            "mib": s["mib"], "pte_tables": t,
            "ns_per_table": {k: med(v) for k, v in per.items()},
            "spread": {k: spread(v) for k, v in per.items()},
            "relocate_over_floor": r / fl, "fork_over_relocate": fk / r,
            "migrate_over_relocate": mg / r, "stall": s["stall"],
        })

    print("\nstall of the target's threads while its PTE tables move (batch 0: no relocation)")
    print(f"{'size':>6} {'batch':>6} {'longest hold':>13} {'max touch gap':>14} {'max fault':>10}")
    for s in main_["sizes"]:
        for st in s["stall"]:
            print(f"{s['mib']:>4}Mi {st['batch']:>6} {fmt_ns(st['longest_hold_ns']):>13} "
                  f"{fmt_ns(st['max_touch_gap_ns']):>14} {fmt_ns(st['max_fault_ns']):>10}")

    print("\nfixed cost of a request: one PTE table (2 MiB of the mapping) beside the floor "
          "of one table; target <= 3x")
    print(f"{'size':>6} {'request':>16} {'floor':>16} {'ratio':>7} target")
    for s, row in zip(main_["sizes"], summary["sizes"]):
        one, flo = med(s["one_table_ns"]), med(s["floor_one_ns"])
        row["one_table_over_floor"] = one / flo
        print(f"{s['mib']:>4}Mi {cell(s['one_table_ns']):>16} {cell(s['floor_one_ns']):>16} "
              f"{one / flo:>6.1f}x {verdict(one / flo <= 3)}")

    idle = med(loaded) / med(unloaded)
    # One ratio per round of the two states measured back to back.
    n = main_["reps"]
    rounds = [med(loaded[i:i + n]) / med(unloaded[i:i + n])
              for i in range(0, min(len(loaded), len(unloaded)), n)]
    print(f"\nidle overhead: page fault {fmt_ns(med(loaded))} loaded vs {fmt_ns(med(unloaded))} "
          f"not loaded: ratio {idle:.3f} (spreads {spread(loaded):.0%}, {spread(unloaded):.0%}; "
          f"per round {min(rounds):.3f} to {max(rounds):.3f})")
    summary["fault_ns"] = {"loaded": loaded, "unloaded": unloaded, "ratio": idle,
                           "round_ratios": rounds}

    os.makedirs(results, exist_ok=True)
    stem = os.path.join(results, f"{datetime.date.today().isoformat()}-{kernel}")
    with open(stem + ".json", "w") as f:
        json.dump({"raw": main_, "summary": summary}, f, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        x = [s["mib"] for s in summary["sizes"]]
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, label in (("relocate_pte_ns", "relocation (PTE tables)"),
                           ("floor_ns", "floor: alloc + copy 4 KiB + free"),
                           ("fork_ns", "fork()")):
            ax.plot(x, [s["ns_per_table"][key] for s in summary["sizes"]], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("mapping size (MiB)")
        ax.set_ylabel("ns per PTE table (TCG)")
        ax.set_title(f"ptreloc, {kernel}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(stem + ".png", dpi=100)
        print(f"\nwrote {stem}.json and {stem}.png")
    except ImportError:
        print(f"\nwrote {stem}.json (no matplotlib: no plot)")


if __name__ == "__main__":
    main()
