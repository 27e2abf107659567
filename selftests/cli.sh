#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ptreloc command-line tool end to end, in the guest: exit statuses, that
# bad arguments never reach the kernel, show/move/follow/evacuate/stats on
# a workload whose data migratepages moves between the nodes (and, for
# follow, whose threads taskset moves), show --all beside show <pid>, and
# that every --json output parses. Installed as BIN_DIR/cli next to BIN_DIR/ptreloc and
# BIN_DIR/workload.py. Prints TAP and the harness's "# Totals:" line.
#
# usage: cli [BIN_DIR]
set -u
bin_dir=${1:-$(dirname "$(readlink -f "$0")")}
ptreloc=$bin_dir/ptreloc
total=13
# shellcheck source=tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tmp=$(mktemp -d)
wl=
cleanup() {
	[ -n "$wl" ] && kill "$wl" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# json FILE EXPR: evaluate a Python expression on the parsed JSON (as j).
json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

# show_all ALL ONE PID: in `show --all --json` (ALL), process PID has the
# census of `show PID --json` (ONE), its home is node 0 (its threads run
# there), and its misplaced tables are exactly its PTE, PMD and PUD tables
# elsewhere (a PGD never moves); the
# node totals are the sums over the processes, which are in order. Prints
# the workload's line and what differs.
show_all() {
	python3 - "$@" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); one = json.load(open(sys.argv[2])); pid = int(sys.argv[3])
procs = a["processes"]; bad = []
mine = [p for p in procs if p["pid"] == pid]
if len(mine) != 1:
    print(f"# process {pid} is listed {len(mine)} times"); sys.exit(1)
p = mine[0]; print("#", json.dumps(p))
nodes = len(p["tables"]["pgd"])
per_node = [sum(c[n] for c in p["tables"].values()) for n in range(nodes)]
movable = lambda q, n: sum(q["tables"][l][n] for l in ("pte", "pmd", "pud"))
for what, ok in [("tables as show <pid>", p["tables"] == one["tables"]),
                 ("tables_per_node", p["tables_per_node"] == per_node),
                 ("home 0 by run time", (p["home"], p["home_basis"]) == (0, "run_time")),
                 ("may run on node 0", p["allowed_nodes"] == [0]),
                 ("misplaced = movable tables off node 0",
                  p["misplaced"] == sum(movable(p, n) for n in range(1, nodes)))]:
    ok or bad.append(what)
for t in a["nodes"]:
    n = t["node"]
    ok = (t["tables"] == sum(q["tables_per_node"][n] for q in procs) and
          t["data_kb"] == sum(q["data_kb"][n] for q in procs) and
          t["misplaced"] == sum(movable(q, n) for q in procs
                                if q["home"] is not None and q["home"] != n))
    ok or bad.append(f"node {n} totals")
keys = [(-q["misplaced"], q["pid"]) for q in procs]
keys == sorted(keys) or bad.append("order")
bad and print("# wrong:", ", ".join(bad))
sys.exit(1 if bad else 0)
PY
}

# run NAME EXPECTED-STATUS ARGS...: output in $tmp/out, stderr in $tmp/err
run() {
	local want=$1 rc
	shift
	"$ptreloc" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	sed 's/^/# /' "$tmp/out" "$tmp/err"
	[ "$rc" = "$want" ] || { echo "# ptreloc $*: exit $rc, expected $want"; return 1; }
}

requests() {
	sed -n 's/^requests //p' /sys/kernel/debug/ptreloc/stats
}

echo "TAP version 13"
# Nodes 0 and 1 with memory, node 2 without (the node of "has no memory").
mem=" $(python3 -c 'import sys
for part in filter(None, sys.stdin.read().strip().split(",")):
    a, _, b = part.partition("-"); print(*range(int(a), int(b or a) + 1))' \
	</sys/devices/system/node/has_memory | tr '\n' ' ') "
if [ ! -x "$ptreloc" ] || [ ! -d /sys/kernel/debug/ptreloc ] ||
	[[ "$mem" != *" 0 "* || "$mem" != *" 1 "* || "$mem" == *" 2 "* ]]; then
	skip_all "needs the tool, ptreloc.ko, nodes 0-1 with memory and node 2 without"
fi
echo "1..$total"

run 0 --help && grep -q "^usage: ptreloc" "$tmp/out"
ok $? "--help prints the usage, exit 0"

before=$(requests)
r=0
for bad in "move 1" "move 1 --to x" "move 1 --to 1 --range 0x1001-0x2000" \
	"move 1 --to 1 --levels pgd" "show 0" "evacuate --pfn 2-1" "follow 1 --interval 0" \
	"follow 1 --settle 0" "follow --all --max-tables-per-second 1 --interval 0.5" \
	"follow 1 --exclude-pid 2" "frobnicate"; do
	# shellcheck disable=SC2086
	run 2 $bad || r=1
done
run 2 move 1 --to 2 && grep -q "node 2 has no memory" "$tmp/err" || r=1
[ "$(requests)" = "$before" ] || { echo "# a bad command reached the kernel"; r=1; }
ok $r "bad arguments exit 2, with a reason, and never reach the kernel"

run 1 move 999999 --to 1 && grep -q "no process 999999" "$tmp/err"
ok $? "a missing process exits 1 with a sentence"

# The workload: 4 threads x 16 MiB, data and page tables on node 0. Its
# threads wake every 0.2 s, so that taskset moves where they run.
numactl --cpunodebind=0 --membind=0 python3 "$bin_dir/workload.py" --mib 16 --wake 0.2 \
	>"$tmp/wl" 2>&1 &
wl=$!
for _ in $(seq 600); do grep -q ready "$tmp/wl" && break; sleep 0.1; done
grep -q ready "$tmp/wl"
ok $? "workload started on node 0"

run 0 show "$wl" --json && cp "$tmp/out" "$tmp/show0" &&
	json "$tmp/show0" 'j["tables"]["pte"][0] >= 32 and j["tables"]["pte"][1] == 0 and j["data_majority_node"] == 0' &&
	run 0 show "$wl" && grep -q "^pte " "$tmp/out"
ok $? "show: PTE tables and data on node 0 (table and --json agree)"

migratepages "$wl" 0 1 &&
	run 0 show "$wl" --json &&
	json "$tmp/out" 'j["data_majority_node"] == 1 and j["tables"]["pte"][1] == 0' &&
	run 0 show "$wl" && grep -q "page tables are elsewhere: ptreloc move $wl --to 1" "$tmp/out"
ok $? "after migratepages the data is on node 1, the page tables stayed on node 0"

# show --all now, for the check after the move: the data is on node 1,
# every table still on node 0, where the threads run.
r_all0=1
"$ptreloc" show --all --json >"$tmp/all0" 2>"$tmp/err" &&
	"$ptreloc" show "$wl" --json >"$tmp/one0" 2>>"$tmp/err" && r_all0=0
sed 's/^/# /' "$tmp/err"

# Upper tables whose span covers more files than a batch may lock (a Python
# process maps dozens of libraries) stay, and are counted as skipped.
run 0 move "$wl" --to 1 --json && cp "$tmp/out" "$tmp/moved" &&
	json "$tmp/moved" 'j["status"] == "ok" and j["pte_moved"] >= 32' &&
	run 0 show "$wl" --json && cp "$tmp/out" "$tmp/show1" &&
	python3 -c 'import json,sys
m = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))["tables"]
left = t["pte"][0] + t["pmd"][0] + t["pud"][0]
skipped = m["skipped_crowded"] + m["skipped_contended"] + m["skipped_changed"] + m["skipped_hugetlb_tables"]
sys.exit(0 if t["pte"][0] == 0 and left == skipped else 1)' "$tmp/moved" "$tmp/show1"
ok $? "move --to 1: status ok, every PTE table on node 1, every upper table there or skipped"

# The workload's home is node 0 (--cpunodebind=0) wherever its data is: no
# table misplaced before the move, every one moved to node 1 after it.
echo "# before the move:"
[ $r_all0 = 0 ] && show_all "$tmp/all0" "$tmp/one0" "$wl" &&
	json "$tmp/all0" "[p for p in j['processes'] if p['pid'] == $wl][0]['misplaced'] == 0" &&
	json "$tmp/one0" 'j["data_majority_node"] == 1' &&
	echo "# after the move:" &&
	"$ptreloc" show --all --json >"$tmp/all1" &&
	run 0 show "$wl" --json && show_all "$tmp/all1" "$tmp/out" "$wl" &&
	python3 -c 'import json,sys
p = [p for p in json.load(open(sys.argv[1]))["processes"] if p["pid"] == int(sys.argv[3])][0]
sys.exit(0 if p["misplaced"] >= json.load(open(sys.argv[2]))["pte_moved"] > 0 else 1)' "$tmp/all1" "$tmp/moved" "$wl" &&
	run 0 show --all && grep -qE "^ *$wl python3 +0 +[1-9][0-9]* " "$tmp/out" && grep -q "^node1 " "$tmp/out"
ok $? "show --all: the workload's home is where its threads run (node 0), its misplaced tables those elsewhere; node totals add up"

run 0 move "$wl" --to 0 --levels pte --range 0x0-0x7ffffffff000 &&
	grep -q "^  pte: [1-9][0-9]* moved" "$tmp/out" && ! grep -q "^  pmd:" "$tmp/out" &&
	run 0 show "$wl" --json && python3 -c 'import json,sys
a = json.load(open(sys.argv[1]))["tables"]; b = json.load(open(sys.argv[2]))["tables"]
sys.exit(0 if b["pte"][1] == 0 and a["pmd"] == b["pmd"] and a["pud"] == b["pud"] else 1)' "$tmp/show1" "$tmp/out"
ok $? "move --levels pte --range: only the PTE tables go back to node 0"

# follow: the tables go where the threads run, not where the data is.
# Everything on node 0 first; the data goes to node 1 and, for 6 intervals
# (3 times --settle), the tables stay with the threads on node 0; then the
# threads go to node 1's CPUs, and the tables must follow within seconds.
migratepages "$wl" 1 0
"$ptreloc" move "$wl" --to 0 >/dev/null
"$ptreloc" follow "$wl" --interval 0.5 --settle 2 --json >"$tmp/follow" 2>&1 &
follower=$!
migratepages "$wl" 0 1
sleep 3
r=1
"$ptreloc" show "$wl" --json >"$tmp/out" 2>/dev/null && sed 's/^/# data on node 1: /' "$tmp/out" &&
	json "$tmp/out" 'j["data_majority_node"] == 1 and j["tables"]["pte"][1] == 0' && r=0
taskset -a -p -c "$(cat /sys/devices/system/node/node1/cpulist)" "$wl" >/dev/null || r=1
start=$(date +%s.%N)
r_moved=1
for _ in $(seq 60); do
	"$ptreloc" show "$wl" --json >"$tmp/out" 2>/dev/null &&
		json "$tmp/out" 'j["tables"]["pte"][0] == 0 and j["tables"]["pte"][1] > 0' && { r_moved=0; break; }
	sleep 0.5
done
echo "# threads on node 1: every PTE table there after $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
sed 's/^/# /' "$tmp/follow"
# (A move to node 0 before, of upper tables an earlier move skipped, is
# no error.)
[ $r = 0 ] && [ $r_moved = 0 ] && grep '"event":"moved"' "$tmp/follow" | python3 -c 'import json,sys
m = [l for l in map(json.loads, sys.stdin) if l["node"] == 1]
sys.exit(0 if m and all(l["home_basis"] == "run_time" and l["intervals"] >= 2 for l in m) else 1)'
ok $? "follow keeps the page tables with the threads, not the data, and moves them when the threads move"

kill -USR1 "$wl"
for _ in $(seq 600); do grep -qE "verified|CORRUPTED" "$tmp/wl" && break; sleep 0.1; done
grep -q "verified 4 regions" "$tmp/wl"
ok $? "the workload's data is intact (SHA-256)"

kill "$wl"
wait "$wl" 2>/dev/null
wl=
r=1
for _ in $(seq 40); do kill -0 "$follower" 2>/dev/null || { r=0; break; }; sleep 0.5; done
wait "$follower"
rc=$?
[ $r = 0 ] && [ $rc = 0 ] && tail -n 1 "$tmp/follow" | grep -q '"event":"exited"' &&
	head -n 1 "$tmp/follow" | python3 -c 'import json,sys; json.loads(sys.stdin.readline())'
r=$?
# On failure, say which part: still running, its status, its last words.
[ $r = 0 ] || { echo "# follow: exit status $rc; its output:"; sed 's/^/# /' "$tmp/follow"; }
ok $r "follow exits 0 when the process exits; its --json lines parse"

run 0 evacuate --pfn 0x1000-0x1001 --to 0 --json &&
	json "$tmp/out" 'j["status"] == "ok" and j["pfn_start"] == "0x1000"' &&
	run 0 stats --json && json "$tmp/out" 'j["requests"] > 0 and "tables_moved" in j'
ok $? "evacuate and stats with --json"

totals
