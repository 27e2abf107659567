#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `ptreloc follow --all`, the autopilot, end to end in the guest. Two
# workloads (4 threads x 40 MiB each, so about 100 page tables each) start on
# node 0: threads on its CPUs, data and page tables in its memory. follow
# --all runs with --interval 0.5 --settle 2 --min-tables 40 and a budget
# that matters: --max-tables-per-second 40, 20 tables an interval, fewer
# than either workload has. Then both workloads move to node 1: threads with
# taskset to its CPUs, data with migratepages. Checks, with placement read
# from ptreloc's census file (not through the tool under test):
#   - nothing of theirs moves while their home is node 0;
#   - their PTE tables all reach node 1 within the stated number of
#     intervals: settle + ceil(misplaced / 20) + 8 (slack for the wake-ups
#     and the parts' bounds), counted in follow's own intervals (from its
#     log: a loaded TCG host may stretch an interval), placement by census;
#   - the budget held, by the follow log: at most 20 tables in any interval,
#     at most 40 x (time from the first to the last + one interval) over any
#     run of intervals, and parts of a workload were moved in more than one
#     interval (the budget mattered);
#   - SIGTERM ends follow with exit 0 and a summary line that adds up;
#   - the workloads' data is intact.
# Prints TAP, what it measured, and the harness's "# Totals:" line.
#
# usage: follow_all [BIN_DIR]
set -u
bin_dir=${1:-$(dirname "$(readlink -f "$0")")}
tmp=$(mktemp -d)
# shellcheck source=follow_lib.sh
. "$bin_dir/follow_lib.sh"

interval=0.5 settle=2 rate=40 per_interval=20 slack=8 mib=40

echo "TAP version 13"
require_follow_tools
mem=" $(nodes_with_memory) "
[[ "$mem" == *" 0 "* && "$mem" == *" 1 "* ]] && [ -n "$(cpulist 0)" ] && [ -n "$(cpulist 1)" ] ||
	skip_all "needs nodes 0 and 1 with memory and CPUs (nodes with memory:$mem; CPUs: node0 '$(cpulist 0)', node1 '$(cpulist 1)')"
echo "1..6"
echo "# node0 CPUs $(cpulist 0), node1 CPUs $(cpulist 1); --interval $interval --settle $settle --max-tables-per-second $rate ($per_interval per interval)"

r=0
start_workload a 0 $mib && start_workload b 0 $mib || r=1
# shellcheck disable=SC2154 # set by start_workload
for p in ${a:-} ${b:-}; do
	c=$(census "$p") && echo "# workload $p before: $c" || r=1
	[ "$(movable_on "$c" 1)" = 0 ] && [ "$(pte_on "$c" 0)" -ge $((mib * 4 / 2)) ] ||
		{ echo "# workload $p: its tables are not all on node 0"; r=1; }
done
ok $r "two workloads with their threads, data and page tables on node 0"
((r == 0)) || { totals; exit; }

# At home: nothing of theirs may move, whatever else follow does.
r=0
start_follow "$tmp/log" --all --interval $interval --settle $settle \
	--max-tables-per-second $rate --min-tables 40 || r=1
sleep $((settle + 2))
python3 - "$tmp/log" "$a" "$b" <<'PY' || r=1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
mine = [l for l in lines if l["event"] == "moved" and l["pid"] in map(int, sys.argv[2:])]
for l in mine:
    print("# moved while at home:", json.dumps(l))
sys.exit(1 if mine else 0)
PY
ok $r "follow --all leaves them alone while their home is where their tables are"

# The move: threads first, then data.
misplaced=0
for p in $a $b; do
	c=$(census "$p")
	misplaced=$((misplaced + $(movable_on "$c" 0)))
done
deadline=$((settle + (misplaced + per_interval - 1) / per_interval + slack))
echo "# moving both to node 1: $misplaced tables to move, stated deadline $deadline intervals" \
	"(settle $settle + ceil($misplaced / $per_interval) + $slack)"
# The watch starts first: migratepages may take longer than the tables.
moved_at=$(date +%s.%N)
limit=$(python3 -c "print(($deadline + 20) * $interval)")
watch_placement 1 "$moved_at" "$limit" "$a" "$b" >"$tmp/placed" &
watcher=$!
taskset -a -p -c "$(cpulist 1)" "$a" >/dev/null && taskset -a -p -c "$(cpulist 1)" "$b" >/dev/null
r=$?
migrated_at=$(date +%s.%N)
migratepages "$a" 0 1 && migratepages "$b" 0 1 || r=1
echo "# threads moved in $(python3 -c "print(f'{$migrated_at - $moved_at:.2f}')") s," \
	"data in $(python3 -c "print(f'{$(date +%s.%N) - $migrated_at:.2f}')") s more"
wait "$watcher"
placed_in "$tmp/log" "$tmp/placed" "$deadline" "$interval" && [ $r = 0 ]
ok $? "their PTE tables follow to node 1 within $deadline intervals"

# The budget, from the log alone.
python3 - "$tmp/log" "$rate" "$interval" "$a" "$b" <<'PY'
import collections, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rate, interval = int(sys.argv[2]), float(sys.argv[3]); wl = list(map(int, sys.argv[4:]))
moves = [l for l in lines if l["event"] == "moved"]
ticks = collections.defaultdict(int); when = {}
for m in moves:
    ticks[m["tick"]] += m["tables_moved"]; when[m["tick"]] = m["t"]
order = sorted(ticks)
bad = []
for k in order:
    if ticks[k] > rate * interval:
        bad.append(f"interval {k}: {ticks[k]} tables")
worst = 0.0
for i, k in enumerate(order):
    total = 0
    for m in order[i:]:
        total += ticks[m]
        allowed = rate * (when[m] - when[k] + interval)
        worst = max(worst, total / allowed)
        if total > allowed + 0.5:
            bad.append(f"intervals {k}-{m}: {total} tables in {when[m] - when[k] + interval:.2f} s")
total = sum(ticks.values())
span = (when[order[-1]] - when[order[0]] + interval) if order else 0
print(f"# {len(moves)} requests in {len(order)} intervals moved {total} tables over {span:.2f} s:"
      f" {total / span if span else 0:.1f} per second (budget {rate}); most in one interval"
      f" {max(ticks.values(), default=0)} (budget {rate * interval:g});"
      f" worst run of intervals at {worst:.0%} of the budget")
print("# per interval:", " ".join(f"{k}:{ticks[k]}" for k in order))
for p in wl:
    mine = [m for m in moves if m["pid"] == p]
    parts = [m for m in mine if m["range"] is not None]
    print(f"# workload {p}: {len(mine)} requests ({len(parts)} parts) in"
          f" {len({m['tick'] for m in mine})} intervals, {sum(m['tables_moved'] for m in mine)} tables,"
          f" all to node {sorted({m['node'] for m in mine})}")
    if len({m["tick"] for m in mine}) < 2 or not parts:
        bad.append(f"workload {p} moved in one interval: the budget did not matter")
    if any(m["node"] != 1 for m in mine):
        bad.append(f"workload {p} moved elsewhere than node 1")
for m in moves[:3] + moves[-2:]:
    print("# log:", json.dumps(m))
bad and print("# wrong:", "; ".join(bad))
sys.exit(1 if bad else 0)
PY
ok $? "the budget held: at most $per_interval tables an interval, $rate a second over any run of intervals"

stop_follow "$tmp/log"
ok $? "SIGTERM: follow exits 0 with a summary line that adds up"

r=0
verified a "$a" || r=1
verified b "$b" || r=1
ok $r "the workloads' data is intact (SHA-256)"

totals
