#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `ptreloc follow --all` with a CPU-less memory node (a slow tier data is
# demoted to): a process's page tables stay on the node its threads run on.
# A workload (4 threads x 24 MiB) runs on node C (a node with CPUs and
# memory), its data and page tables there; follow --all runs (--interval
# 0.5 --settle 2 --min-tables 20). Checks, placement read from ptreloc's
# census file:
#   - migratepages demotes its data to node M (memory, no CPUs): for
#     settle + 6 intervals its tables stay on C, none goes to M, and follow
#     moves none of them;
#   - `ptreloc move --to M` (asked explicitly) puts them on M (by its
#     outcome: follow may have moved them back before a census could see
#     them there); follow then brings every PTE table back to C, not M,
#     within settle + ceil(tables / budget) + 8 of its intervals, and never
#     asks for M;
#   - SIGTERM ends follow with exit 0 and a summary line that adds up; the
#     workload's data is intact.
# Skips, saying why, where no node has memory and no CPUs (the guests of
# `make check` have none: their third node has a CPU and no memory).
# Prints TAP, what it measured, and the harness's "# Totals:" line.
#
# usage: follow_tiers [BIN_DIR]
set -u
bin_dir=${1:-$(dirname "$(readlink -f "$0")")}
tmp=$(mktemp -d)
# shellcheck source=follow_lib.sh
. "$bin_dir/follow_lib.sh"

interval=0.5 settle=2 rate=1000 slack=8 mib=24

echo "TAP version 13"
require_follow_tools
cpu_node="" mem_node="" layout=""
for node in $(nodes_with_memory); do
	if [ -n "$(cpulist "$node")" ]; then
		cpu_node=${cpu_node:-$node}
	else
		mem_node=${mem_node:-$node}
	fi
done
for d in /sys/devices/system/node/node[0-9]*; do
	node=${d##*node}
	layout+="${layout:+; }node$node: CPUs '$(cpulist "$node")', memory $(grep -q -w "$node" <<<"$(nodes_with_memory)" && echo yes || echo no)"
done
[ -n "$mem_node" ] || skip_all "no node with memory and no CPUs to demote data to ($layout)"
[ -n "$cpu_node" ] || skip_all "no node with CPUs and memory ($layout)"
echo "1..5"
echo "# $layout; threads and tables on node $cpu_node, data demoted to node $mem_node"

r=0
start_workload w "$cpu_node" $mib || r=1
# shellcheck disable=SC2154 # set by start_workload
c=$(census "$w") && echo "# workload $w: $c" || r=1
[ "$(movable_on "$c" "$cpu_node")" -gt 0 ] && [ "$(movable_on "$c" "$mem_node")" = 0 ] || r=1
start_follow "$tmp/log" --all --interval $interval --settle $settle \
	--max-tables-per-second $rate --min-tables 20 || r=1
sleep 1
migratepages "$w" "$cpu_node" "$mem_node" || r=1
"$bin_dir/ptreloc" show "$w" --json >"$tmp/show" && sed 's/^/# show: /' "$tmp/show" || r=1
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["data_majority_node"] == int(sys.argv[2]) else 1)' \
	"$tmp/show" "$mem_node" || { echo "# the data is not on node $mem_node"; r=1; }
ok $r "the workload's data is demoted to node $mem_node, its threads and tables on node $cpu_node"

# For settle + 6 intervals, nothing may move to the memory-only node.
r=0
stay=$(python3 -c "print(($settle + 6) * $interval)")
for _ in $(seq 4); do
	sleep "$(python3 -c "print($stay / 4)")"
	c=$(census "$w")
	[ "$(movable_on "$c" "$mem_node")" = 0 ] || { echo "# tables on node $mem_node: $c"; r=1; }
done
echo "# after $stay s: $c"
"$bin_dir/ptreloc" show --all --json >"$tmp/all" && python3 - "$tmp/all" "$w" "$cpu_node" <<'PY' || r=1
import json, sys
p = [p for p in json.load(open(sys.argv[1]))["processes"] if p["pid"] == int(sys.argv[2])][0]
print("# show --all:", json.dumps({k: p[k] for k in ("home", "home_basis", "misplaced", "tables_per_node", "data_kb")}))
sys.exit(0 if (p["home"], p["home_basis"], p["misplaced"]) == (int(sys.argv[3]), "run_time", 0) else 1)
PY
grep "\"pid\":$w," "$tmp/log" | grep '"event":"moved"' | sed 's/^/# moved: /' | grep . && r=1
ok $r "its page tables stay on node $cpu_node, with its threads, not on node $mem_node with its data"

# Asked explicitly, the tables go to the memory-only node; follow brings
# them back to the threads' node. Where the explicit move put them is read
# from its own outcome: a census after it may come too late, follow having
# moved them back already.
r=0
moved_at=$(date +%s.%N)
"$bin_dir/ptreloc" move "$w" --to "$mem_node" --json >"$tmp/moved" || r=1
sed 's/^/# move --to: /' "$tmp/moved"
tables=$(python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
ok = j["status"] == "ok" and j["node"] == int(sys.argv[2]) and j["pte_moved"] > 0
print(j["tables_moved"] if ok else 0)' "$tmp/moved" "$mem_node") || r=1
[ "${tables:-0}" -gt 0 ] || { echo "# move --to $mem_node moved no PTE table"; r=1; }
deadline=$((settle + (${tables:-0} + rate / 2 - 1) / (rate / 2) + slack))
watch_placement "$cpu_node" "$moved_at" "$(python3 -c "print(($deadline + 20) * $interval)")" "$w" >"$tmp/placed"
placed_in "$tmp/log" "$tmp/placed" "$deadline" "$interval" || r=1
python3 - "$tmp/log" "$w" "$cpu_node" <<'PY' || r=1
import json, sys
w, home = int(sys.argv[2]), int(sys.argv[3])
moves = [l for l in map(json.loads, open(sys.argv[1])) if l["event"] == "moved" and l["pid"] == w]
for m in moves:
    print("# moved:", json.dumps(m))
sys.exit(0 if moves and all(m["node"] == home and m["home_basis"] == "run_time" for m in moves) else 1)
PY
ok $r "moved to node $mem_node by hand, its tables follow its threads back to node $cpu_node"

stop_follow "$tmp/log"
ok $? "SIGTERM: follow exits 0 with a summary line that adds up"

verified w "$w"
ok $? "the workload's data is intact (SHA-256)"

totals
