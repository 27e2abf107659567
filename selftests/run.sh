#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the ptreloc kselftests inside a guest: insmod, the tests that need the
# module, rmmod, the tests that need it gone. Prints TAP (each program's own
# TAP nested behind "# ", as the kernel's kselftest runner does) and, last,
# a line "# ptreloc totals: pass:N fail:N skip:N" that scripts/check reads.
# Exits non-zero if anything failed.
#
# usage: selftests/run.sh MODULE_DIR SELFTEST_BIN_DIR
set -u
mod_dir=${1:?usage: run.sh MODULE_DIR SELFTEST_BIN_DIR}
bin_dir=${2:?usage: run.sh MODULE_DIR SELFTEST_BIN_DIR}

steps=6 n=0 pass=0 fail=0 skip=0

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

program() { # program NAME: a kselftest program, its cases counted one by one
	local name=$1 out rc totals p f s e
	out=$("$bin_dir/$name" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	totals=$(printf '%s\n' "$out" | sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\) xfail:[0-9]* xpass:[0-9]* skip:\([0-9]*\) error:\([0-9]*\).*/\1 \2 \3 \4/p')
	if [ -z "$totals" ]; then
		# It died before printing its totals: one failure at least.
		fail=$((fail + 1))
		report 1 "selftests: ptreloc: $name (no totals, exit $rc)"
		return
	fi
	read -r p f s e <<<"$totals"
	pass=$((pass + p)) fail=$((fail + f + e)) skip=$((skip + s))
	((f + e == 0 && rc != 0 && rc != 4)) && fail=$((fail + 1))
	report "$((rc == 4 ? 0 : rc))" "selftests: ptreloc: $name"
}

# Swap for the swapped-out-entries test: zram, compressed in guest memory.
if [ -e /sys/block/zram0 ] && ! grep -q zram0 /proc/swaps; then
	echo 512M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0 || echo "# could not set up zram swap"
fi

echo "TAP version 13"
echo "1..$steps"
step "insmod ptreloc.ko" insmod "$mod_dir/ptreloc.ko"
program module_loaded
program relocate_errors
program relocate_pte
step "rmmod ptreloc" rmmod ptreloc
program module_unloaded

echo "# ptreloc totals: pass:$pass fail:$fail skip:$skip"
((fail == 0))
