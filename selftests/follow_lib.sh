# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# shellcheck disable=SC2154 # bin_dir and tmp: set by the test sourcing this
#
# What the follow_all and follow_tiers kselftests share: TAP counting, the
# census read straight from ptreloc's census file (not through the tool
# under test), node topology from sysfs, workloads, and the reading of a
# `follow --json` log. Sourced, with bin_dir and tmp set.

# shellcheck source=tap.sh
. "$bin_dir/tap.sh"

# Processes started here, killed on exit.
started=()
cleanup() {
	local p
	for p in "${started[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# require_follow_tools: skips the whole test without the tool, ptreloc.ko
# or the programs that move a workload's threads and data.
require_follow_tools() {
	local tool
	[ -x "$bin_dir/ptreloc" ] && [ -d /sys/kernel/debug/ptreloc ] ||
		skip_all "needs the tool and ptreloc.ko"
	for tool in taskset numactl migratepages python3; do
		command -v "$tool" >/dev/null || skip_all "needs $tool"
	done
}

# census PID: the census of PID as JSON, {"pte": [per node], "pmd": ...,
# "pud": ..., "pgd": ...}, from ptreloc's census file: write pid=PID, then
# read the same open file from its start.
census() {
	python3 - "$1" <<'PY'
import json, os, sys
fd = os.open("/sys/kernel/debug/ptreloc/census", os.O_RDWR)
os.write(fd, f"pid={sys.argv[1]}".encode())
os.lseek(fd, 0, os.SEEK_SET)
text = os.read(fd, 65536).decode()
levels = {}
for line in text.splitlines()[1:]:
    name, *counts = line.split()
    if counts != ["folded"]:
        levels[name] = [int(c) for c in counts]
print(json.dumps(levels))
PY
}

# watch_placement NODE T0 SECONDS PID...: reads the census of each PID
# every 0.1 s (one Python process: no start-up cost per look) until all of
# its PTE tables are on NODE, for SECONDS at most; prints one JSON line per
# PID, {"pid", "after" (seconds since T0, a `date +%s.%N`), "census"}, with
# "after" null for one that never got there.
watch_placement() {
	python3 - "$@" <<'PY'
import json, os, sys, time
node, t0, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
pids = [int(p) for p in sys.argv[4:]]
fd = os.open("/sys/kernel/debug/ptreloc/census", os.O_RDWR)
def census(pid):
    os.pwrite(fd, f"pid={pid}".encode(), 0)
    levels = {}
    for line in os.pread(fd, 65536, 0).decode().splitlines()[1:]:
        name, *counts = line.split()
        if counts != ["folded"]:
            levels[name] = [int(c) for c in counts]
    return levels
left = set(pids); last = {}
while left and time.time() < t0 + limit:
    for pid in sorted(left):
        try:
            c = last[pid] = census(pid)
        except OSError:
            continue
        if c["pte"][node] > 0 and sum(c["pte"]) == c["pte"][node]:
            print(json.dumps({"pid": pid, "after": round(time.time() - t0, 3), "census": c}), flush=True)
            left.discard(pid)
    time.sleep(0.1)
for pid in sorted(left):
    print(json.dumps({"pid": pid, "after": None, "census": last.get(pid)}), flush=True)
PY
}

# placed_in LOG PLACED DEADLINE INTERVAL: for each line of PLACED (from
# watch_placement), how many of follow's own intervals its move took, from
# its `follow --json` LOG: from the interval after the threads or tables
# moved (the first that saw the tables off the home is its first move's tick
# less its "intervals", plus one; one more for the interval in which they
# moved) to the last interval that moved any of its tables. Counted in
# follow's intervals, not in seconds, it does not depend on how loaded the
# guest is. Prints both counts; fails if one never got there or took more
# than DEADLINE intervals.
placed_in() {
	python3 - "$@" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
deadline, interval = int(sys.argv[3]), float(sys.argv[4])
bad = False; worst = 0
for line in open(sys.argv[2]):
    p = json.loads(line); pid = p["pid"]
    moves = [m for m in log if m["event"] == "moved" and m["pid"] == pid]
    if p["after"] is None or not moves:
        print(f"# {pid}: never all there ({len(moves)} moves): {json.dumps(p['census'])}")
        bad = True
        continue
    first, last = moves[0], moves[-1]
    took = last["tick"] - (first["tick"] - first["intervals"] + 1) + 1 + 1
    worst = max(worst, took)
    print(f"# {pid}: every PTE table there {p['after']:.2f} s after the move"
          f" ({p['after'] / interval:.1f} intervals of {interval} s); follow saw them off its home"
          f" in interval {first['tick'] - first['intervals'] + 1}, moved them in intervals"
          f" {first['tick']}-{last['tick']} ({len(moves)} requests): {took} of follow's intervals"
          f" (stated: {deadline}); census {json.dumps(p['census'])}")
sys.exit(1 if bad or worst > deadline else 0)
PY
}

# movable_on CENSUS-JSON NODE: PTE, PMD and PUD tables on NODE.
movable_on() {
	python3 -c 'import json,sys
c = json.loads(sys.argv[1]); n = int(sys.argv[2])
print(sum(c[l][n] for l in ("pte", "pmd", "pud")))' "$1" "$2"
}

# pte_on CENSUS-JSON NODE
pte_on() {
	python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pte"][int(sys.argv[2])])' "$1" "$2"
}

# node_list_expand LIST: "0-1,3" -> "0 1 3"
node_list_expand() {
	python3 -c 'import sys
out = []
for part in filter(None, sys.argv[1].strip().split(",")):
    a, _, b = part.partition("-")
    out += range(int(a), int(b or a) + 1)
print(*out)' "$1"
}

nodes_with_memory() {
	node_list_expand "$(cat /sys/devices/system/node/has_memory)"
}

cpulist() { # cpulist NODE: its CPUs as sysfs lists them ("" for none)
	cat "/sys/devices/system/node/node$1/cpulist" 2>/dev/null
}

# start_workload NAME NODE MIB: 4 threads x MIB MiB, run on NODE's CPUs,
# data and page tables in its memory, waking every 0.2 s (so that the CPU
# they last ran on follows taskset); its pid in the variable NAME.
start_workload() {
	local name=$1 node=$2 mib=$3 pid
	taskset -c "$(cpulist "$node")" numactl --membind="$node" \
		python3 "$bin_dir/workload.py" --mib "$mib" --wake 0.2 >"$tmp/$name.out" 2>&1 &
	pid=$!
	started+=("$pid")
	printf -v "$name" %s "$pid"
	for _ in $(seq 1200); do grep -q ready "$tmp/$name.out" && return 0; sleep 0.1; done
	echo "# $name did not start:"
	sed 's/^/# /' "$tmp/$name.out"
	return 1
}

# verified NAME PID: SIGUSR1 makes the workload hash its memory again.
verified() {
	local before
	before=$(grep -c verified "$tmp/$1.out")
	kill -USR1 "$2"
	for _ in $(seq 600); do
		[ "$(grep -c -E 'verified|CORRUPTED' "$tmp/$1.out")" -gt "$before" ] && break
		sleep 0.1
	done
	tail -n 1 "$tmp/$1.out" | sed 's/^/# /'
	tail -n 1 "$tmp/$1.out" | grep -q "SHA-256 unchanged"
}

# start_follow LOG ARGS...: ptreloc follow --json ARGS in the background,
# its output in LOG; its pid in $follower.
start_follow() {
	local log=$1
	shift
	"$bin_dir/ptreloc" follow --json "$@" >"$log" 2>"$log.err" &
	follower=$!
	started+=("$follower")
	for _ in $(seq 100); do grep -q '"event":"started"' "$log" && return 0; sleep 0.1; done
	echo "# follow did not start:"
	sed 's/^/# /' "$log" "$log.err"
	return 1
}

# stop_follow LOG: SIGTERM; it must exit 0 and end with a "stopped" line
# whose totals are the sum of its "moved" lines. Prints the summary.
stop_follow() {
	local log=$1 rc
	kill -TERM "$follower"
	for _ in $(seq 300); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
	wait "$follower"
	rc=$?
	sed 's/^/# stderr: /' "$log.err"
	python3 - "$log" "$rc" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rc = int(sys.argv[2]); last = lines[-1]
print("# last line:", json.dumps(last))
moved = sum(l["tables_moved"] for l in lines if l["event"] == "moved")
requests = sum(1 for l in lines if l["event"] == "moved")
bad = []
rc == 0 or bad.append(f"exit status {rc}")
last.get("event") == "stopped" and last.get("signal") == "SIGTERM" or bad.append("last line")
last.get("tables_moved") == moved or bad.append(f"summary says {last.get('tables_moved')} moved, lines {moved}")
last.get("requests", -1) >= requests or bad.append("requests")
bad and print("# wrong:", ", ".join(bad))
sys.exit(1 if bad else 0)
PY
}
