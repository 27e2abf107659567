#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench, host side: turn one guest run into ratios.

usage: report.py RUN_DIR RESULTS_DIR

Reads RUN_DIR/{main.json,faults_loaded,faults_unloaded,kernel}; prints the
tables; writes RESULTS_DIR/<date>-<kernel>.json and .png. Every figure is a
median over the repetitions, with its spread ((max - min) / median), except
the toucher's gaps (p99); the ratios compare figures measured in the same
guest run. Each figure that issue 15 sets a target for is said met or not.
"""
import datetime
import json
import math
import os
import statistics
import sys


def med(v):
    return statistics.median(v)


def spread(v):
    m = med(v)
    return (max(v) - min(v)) / m if m else 0.0


def p99(v):
    """The 99th percentile, nearest rank: the largest of fewer than 100."""
    return sorted(v)[math.ceil(0.99 * len(v)) - 1]


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

    print("\nbystander: function-call interrupts (CAL, medians) on CPU 3, busy in another process,\n"
          "per relocation of all PTE tables (batch 64, the target on CPU 1, the request from CPU 0)\n"
          "and per window as long without; target: 0 extra. CPU 1 should take one per batch.")
    print(f"{'size':>6} {'batches':>7} {'with':>6} {'without':>7} {'extra':>6} {'per batch':>9} "
          f"{'target':>7} {'CPU 1':>9}")
    for s, row in zip(main_["sizes"], summary["sizes"]):
        w, q = s["bystander"]["relocating"], s["bystander"]["quiet"]
        b = med(w["batches"])
        with_, without = med(w["cal_bystander"]), med(q["cal_bystander"])
        on_target = med(w["cal_target"])
        row["bystander_cal"] = {"with": with_, "without": without, "extra": with_ - without,
                                "extra_per_batch": (with_ - without) / b, "batches": b,
                                "target_cpu": on_target}
        print(f"{s['mib']:>4}Mi {b:>7.0f} {with_:>6.0f} {without:>7.0f} {with_ - without:>+6.0f} "
              f"{(with_ - without) / b:>+9.2f} {verdict(with_ <= without):>7} "
              f"{on_target:>5.0f} {'ok' if on_target >= b else 'low'}")

    print("\nthe target's toucher alone on CPU 1, while its PTE tables move (batch 64) and in a\n"
          "window as long without: longest mmap-lock hold (median), longest gap between two\n"
          "touches (p99 over the repetitions); target: gap ratio <= 2x")
    print(f"{'size':>6} {'longest hold':>16} {'gap with':>10} {'gap without':>11} {'ratio':>6} target")
    for s, row in zip(main_["sizes"], summary["sizes"]):
        w, q = s["windows"]["relocating"], s["windows"]["quiet"]
        gw, gq = p99(w["max_touch_gap_ns"]), p99(q["max_touch_gap_ns"])
        row.update(hold_ns=med(w["longest_hold_ns"]), gap_p99_ns={"with": gw, "without": gq},
                   gap_ratio=gw / gq)
        print(f"{s['mib']:>4}Mi {cell(w['longest_hold_ns']):>16} {fmt_ns(gw):>10} "
              f"{fmt_ns(gq):>11} {gw / gq:>5.2f}x {verdict(gw / gq <= 2)}")
    rows = summary["sizes"]
    ref = next((r for r in rows if r["mib"] == 64), rows[0])
    top = max(rows, key=lambda r: r["mib"])
    summary["hold_ratio"] = top["hold_ns"] / ref["hold_ns"]
    print(f"hold ratio: {fmt_ns(top['hold_ns'])} at {top['mib']} MiB / {fmt_ns(ref['hold_ns'])} "
          f"at {ref['mib']} MiB = {summary['hold_ratio']:.2f}x; target <= 1.5x: "
          f"{verdict(summary['hold_ratio'] <= 1.5)}")

    sp = main_["sparse"]
    per = [v / sp["pte_tables"] for v in sp["relocate_pte_ns"]]
    gib = next((r for r in rows if r["mib"] == 1024), None)
    summary["sparse"] = {"mib": sp["mib"], "pte_tables": sp["pte_tables"],
                         "ns_per_table": med(per), "spread": spread(per)}
    print(f"\nsparse {sp['mib'] // 1024} GiB, a page per 2 MiB: {sp['pte_tables']} PTE tables, "
          f"{cell(per)} per table", end="")
    if gib:
        ratio = med(per) / gib["ns_per_table"]["relocate_pte_ns"]
        summary["sparse"]["over_1gib"] = ratio
        print(f", {ratio:.2f}x the 1 GiB figure; target within 20%: "
              f"{verdict(abs(ratio - 1) <= 0.2)}")
    else:
        print(" (no 1 GiB size in this run to compare with)")

    fair = main_.get("fairness")
    if fair:
        secs = fair["window_ns"] / 1e9
        hold = max(fair["storm_longest_hold_ns"])
        rest = med(fair["storm_rest_ns"]) / fair["window_ns"] if "storm_rest_ns" in fair else 0.0
        print(f"\nfairness: the 1 GiB target's readers of its mmap lock, a thread per kind (all on\n"
              f"the target's CPU), for {secs:.0f} s alone and {secs:.0f} s under a storm "
              f"({med(fair['storm_requests']):.0f} requests back to back,\nbatch 64; longest hold "
              f"{fmt_ns(hold)}; the storm rested {rest:.0%} of the window for the lock's waiters).\n"
              f"Targets: throughput kept >= 50%; no op waits longer than 2 holds, an op's wait\n"
              f"taken as its longest time under the storm less its longest alone (its own work)")
        print(f"{'op':>13} {'alone/s':>9} {'storm/s':>9} {'kept':>6} {'target':>7} "
              f"{'longest alone':>13} {'longest storm':>13} {'wait':>9} {'target':>7}")
        summary["fairness"] = {"longest_hold_ns": hold, "rest_fraction": rest, "ops": {}}
        for kind in fair["alone"]:
            a_, s_ = fair["alone"][kind], fair["storm"][kind]
            alone, storm = med(a_["ops"]) / secs, med(s_["ops"]) / secs
            kept = storm / alone if alone else 0.0
            worst_a, worst_s = max(a_["max_ns"]), max(s_["max_ns"])
            wait = max(worst_s - worst_a, 0)
            summary["fairness"]["ops"][kind] = {
                "alone_per_s": alone, "storm_per_s": storm, "kept": kept,
                "longest_alone_ns": worst_a, "longest_storm_ns": worst_s, "wait_ns": wait}
            print(f"{kind:>13} {alone:>9.0f} {storm:>9.0f} {kept:>5.0%} {verdict(kept >= 0.5):>7} "
                  f"{fmt_ns(worst_a):>13} {fmt_ns(worst_s):>13} {fmt_ns(wait):>9} "
                  f"{verdict(wait <= 2 * hold):>7}")

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
        x = [s["mib"] for s in rows]
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for key, label in (("relocate_pte_ns", "relocation (PTE tables)"),
                           ("floor_ns", "floor: alloc + copy 4 KiB + free"),
                           ("fork_ns", "fork()")):
            ax.plot(x, [s["ns_per_table"][key] for s in rows], marker="o", label=label)
        ax.plot([sp["mib"]], [summary["sparse"]["ns_per_table"]], marker="s", linestyle="",
                label="relocation, sparse (a page per 2 MiB)")
        ax.set_ylabel("ns per PTE table (TCG)")
        ax.set_title(f"ptreloc, {kernel}")
        ax2.plot(x, [s["hold_ns"] for s in rows], marker="o",
                 label="longest mmap-lock hold, batch 64")
        for key, label in (("with", "toucher's longest gap, relocating (p99)"),
                           ("without", "toucher's longest gap, not (p99)")):
            ax2.plot(x, [s["gap_p99_ns"][key] for s in rows], marker="o", label=label)
        ax2.set_ylabel("ns (TCG)")
        ax2.set_title("what the target's thread sees")
        for a in (ax, ax2):
            a.set_xscale("log", base=2)
            a.set_yscale("log")
            a.set_xlabel("mapping size (MiB)")
            a.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(stem + ".png", dpi=100)
        print(f"\nwrote {stem}.json and {stem}.png")
    except ImportError:
        print(f"\nwrote {stem}.json (no matplotlib: no plot)")


if __name__ == "__main__":
    main()
