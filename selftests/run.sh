#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the ptreloc kselftests inside a guest: insmod, the tests that need the
# module, rmmod, the tests that need it gone. Prints TAP (each program's own
# TAP nested behind "# ", as the kernel's kselftest runner does) and, last,
# a line "# ptreloc totals: pass:N fail:N skip:N" that scripts/check reads.
# Exits non-zero if anything failed.
#
# usage: selftests/run.sh MODULE_DIR SELFTEST_BIN_DIR [SUITE]
#   SUITE main (default): everything that runs in the two-node guest;
#   zones: relocate_zones, for a guest with memory above 4 GiB on node 0,
#   and follow_tiers, for its node with memory and no CPUs;
#   stress: the race suite and the upstream mm selftests only (make stress
#   sets PTRELOC_RACE_SECONDS for longer scenarios).
# PTRELOC_PROGRAMS="evacuate race" runs those programs of the suite only
# (while developing them).
set -u
mod_dir=${1:?usage: run.sh MODULE_DIR SELFTEST_BIN_DIR [SUITE]}
bin_dir=${2:?usage: run.sh MODULE_DIR SELFTEST_BIN_DIR [SUITE]}
suite=${3:-main}

case "$suite" in
main) programs=(module_loaded relocate_errors relocate_pte relocate_costs relocate_levels relocate_memcg evacuate cli follow_all install race upstream_mm) ;;
zones) programs=(relocate_zones follow_tiers) ;;
stress) programs=(race upstream_mm) ;;
*) echo "unknown suite $suite" >&2; exit 2 ;;
esac
if [ -n "${PTRELOC_PROGRAMS:-}" ]; then
	read -ra programs <<<"$PTRELOC_PROGRAMS"
fi
# A module built for the other kernel line, to be refused (make check sets
# it when that line's module is built).
other_line_module=${PTRELOC_OTHER_LINE_MODULE:-}
# The guest's configuration, insmod of both modules, the programs, rmmod of
# both, the tool without the module, module_unloaded, and the other line's
# module refused.
steps=$((${#programs[@]} + 7 + (${#other_line_module} > 0))) n=0 pass=0 fail=0 skip=0
# No program may run longer than this: the harness's own per-test timeouts
# cannot stop a task stuck in the kernel.
program_timeout=${PTRELOC_PROGRAM_TIMEOUT:-2400}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/idle"

report() { # report OK NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; fi
}

step() { # step NAME COMMAND...: a shell step counted as one test
	local name=$1 rc
	shift
	"$@" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
	((rc == 0)) && pass=$((pass + 1)) || fail=$((fail + 1))
	report "$rc" "$name"
}

# Dump what every task of a stuck program is doing, as the kernel sees it.
diagnose() { # diagnose NAME
	local pid
	echo "# $1 ran out of time; kernel stacks of its tasks:"
	for pid in $(pgrep -f "$bin_dir/$1"); do
		echo "# pid $pid ($(cat /proc/"$pid"/wchan 2>/dev/null)):"
		sed 's/^/#   /' /proc/"$pid"/stack 2>/dev/null
	done
	echo w >/proc/sysrq-trigger 2>/dev/null
}

program() { # program NAME: a kselftest program, its cases counted one by one
	local name=$1 log="$tmp/$1.out" rc pid watchdog totals p f s e
	# Processes that start while a test runs show in the per-node PageTables
	# and KPF_PGTABLE counts it measures. So the program waits at a gate
	# while its helpers (tail, sed, the watchdog's sleep) start, and then
	# runs alone: one sleeping watchdog, not a polling loop.
	mkfifo "$tmp/gate"
	# Output goes to a file, not a pipe: a stray child holding the pipe open
	# would otherwise keep us waiting after the program itself has exited.
	(read -r _ <"$tmp/gate" && exec "$bin_dir/$name") >"$log" 2>&1 &
	pid=$!
	# sed -u: a line as soon as it comes, not 4 KiB at a time.
	tail -n +1 --pid="$pid" -f "$log" | sed -u 's/^/# /' &
	(sleep "$program_timeout" && kill -0 "$pid" 2>/dev/null &&
		{ diagnose "$name"; kill -KILL "$pid"; }) 2>/dev/null &
	watchdog=$!
	# A second for them to start (they take milliseconds), waited for by
	# bash itself: read times out on a FIFO that nobody writes.
	read -r -t 1 _ <>"$tmp/idle"
	echo go >"$tmp/gate"
	rm "$tmp/gate"
	wait "$pid"
	rc=$?
	pkill -P "$watchdog" sleep 2>/dev/null
	wait # for the watchdog, and for tail, which has seen the end of the file
	totals=$(sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\) xfail:[0-9]* xpass:[0-9]* skip:\([0-9]*\) error:\([0-9]*\).*/\1 \2 \3 \4/p' "$log")
	if [ -z "$totals" ]; then
		# It died before printing its totals: one failure at least.
		fail=$((fail + 1))
		report 1 "selftests: ptreloc: $name (no totals, exit $rc)"
		return
	fi
	read -r p f s e <<<"$totals"
	pass=$((pass + p)) fail=$((fail + f + e)) skip=$((skip + s))
	# The failed cases and their assertions once more, beside the verdict:
	# a log cut to the lines around it still names them.
	((f + e == 0)) || grep -E '^not ok |:Expected |: Test (terminated|failed)' "$log" |
		sed "s/^/# failed in $name: /"
	((f + e == 0 && rc != 0 && rc != 4)) && fail=$((fail + 1))
	report "$((rc == 4 ? 0 : rc))" "selftests: ptreloc: $name"
}

# The exact per-node page-table counts the tests check assume huge pages
# only where a test asks for them (MADV_HUGEPAGE, MADV_COLLAPSE), as in our
# kernels' config. A distribution kernel may default to "always" (Debian
# does): then faults map huge pages where a test wants 4 KiB ones, and
# khugepaged collapses every process's memory in the background.
thp=/sys/kernel/mm/transparent_hugepage/enabled
if [ -w "$thp" ] && ! grep -q '\[madvise\]' "$thp"; then
	echo "# transparent hugepages: $(cat "$thp") -> madvise"
	echo madvise >"$thp"
fi

# A distribution kernel (Debian's) builds these as modules: zram for swap,
# loop and ext2 (or ext4, which serves ext2) for the dirty-bit race test.
for m in zram loop ext2 ext4; do
	modprobe -q "$m" 2>/dev/null || true
done

# Swap for the swapped-out-entries test: zram, compressed in guest memory.
if [ -e /sys/block/zram0 ] && ! grep -q zram0 /proc/swaps; then
	echo 512M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0 || echo "# could not set up zram swap"
fi

# While a storm relocates a process: ptreloc cannot go (ptreloc_test uses
# its symbols), ptreloc_test can, stopping the storm first.
unload_during_storm() {
	local status=/sys/kernel/debug/ptreloc_test/status pid rc=0
	sleep 600 &
	pid=$!
	echo "pids=$pid seconds=600" >/sys/kernel/debug/ptreloc_test/storm || rc=1
	sleep 3
	grep -q '^running 1$' "$status" || { echo "the storm is not running"; rc=1; }
	[ "$(sed -n 's/^relocations //p' "$status")" -gt 0 ] ||
		{ echo "the storm moved nothing"; rc=1; }
	if rmmod ptreloc 2>/dev/null; then
		echo "rmmod ptreloc succeeded while ptreloc_test was loaded"
		rc=1
	fi
	rmmod ptreloc_test || rc=1
	kill "$pid"
	wait "$pid" 2>/dev/null
	return $rc
}

# The other line's module must not load: the kernel refuses it (ENOEXEC,
# "Invalid module format") and says why: both lines compare the size of
# struct module before the vermagic.
other_line_refused() {
	local out
	if out=$(insmod "$other_line_module" 2>&1); then
		echo "insmod $other_line_module succeeded"
		rmmod ptreloc
		return 1
	fi
	echo "$out"
	grep -q "Invalid module format" <<<"$out" || { echo "not refused as an invalid format"; return 1; }
	dmesg | tail -n 5 | grep -E "ptreloc: (version magic|\.gnu\.linkonce\.this_module section size)"
}

# With the module gone, the tool exits 3 and says how to load it.
cli_unloaded() {
	local rc
	"$bin_dir/ptreloc" stats 2>"$tmp/cli.err"
	rc=$?
	cat "$tmp/cli.err"
	((rc == 3)) && grep -q "insmod ptreloc.ko" "$tmp/cli.err"
}

# Paging levels in use, 4 or 5: with 5-level paging, an mmap() hint above
# 47 bits is honoured.
paging_levels() {
	python3 -c '
import ctypes
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
addr = libc.mmap(1 << 52, 4096, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
print(5 if addr is not None and addr >= 1 << 47 and addr != 2**64 - 1 else 4)'
}

# What the guest runs, as the log's first lines, and checked against what it
# was booted with: no5lvl means 4-level paging (5-level otherwise, when the
# CPU has LA57), pti=on means dmesg says page-table isolation is enabled.
guest_config() {
	local levels pti=off rc=0
	levels=$(paging_levels) || return 1
	dmesg | grep -q "page tables isolation: enabled" && pti=on
	echo "kernel $(uname -r), $(nproc) CPUs, $levels-level paging, PTI $pti"
	if grep -qw no5lvl /proc/cmdline; then
		[ "$levels" = 4 ] || { echo "booted with no5lvl, but paging is $levels-level"; rc=1; }
	elif grep -qw la57 /proc/cpuinfo; then
		[ "$levels" = 5 ] || { echo "the CPU has LA57, but paging is $levels-level"; rc=1; }
	fi
	if grep -qw pti=on /proc/cmdline && [ $pti != on ]; then
		echo "booted with pti=on, but dmesg does not say page tables isolation is enabled"
		rc=1
	fi
	return $rc
}

echo "TAP version 13"
echo "1..$steps"
step "guest configuration is the one booted for" guest_config
# Before ours is loaded: the same name would be refused as existing.
[ -n "$other_line_module" ] &&
	step "insmod of the other kernel line's ptreloc.ko is refused" other_line_refused
step "insmod ptreloc.ko" insmod "$mod_dir/ptreloc.ko"
# The storm driver for the race suite; it pins ptreloc while loaded.
step "insmod ptreloc_test.ko" insmod "$mod_dir/ptreloc_test.ko"
for p in "${programs[@]}"; do
	program "$p"
done
step "rmmod ptreloc_test during a storm (ptreloc itself refused)" unload_during_storm
step "rmmod ptreloc" rmmod ptreloc
step "the ptreloc tool says the module is not loaded (exit 3)" cli_unloaded
program module_unloaded

echo "# ptreloc totals: pass:$pass fail:$fail skip:$skip"
((fail == 0))
