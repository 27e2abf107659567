# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# TAP for the shell kselftests (cli, install, follow_all, follow_tiers), as
# kselftest_harness.h prints it: "ok N NAME" or "not ok N NAME" per check,
# "1..0 # SKIP" when a precondition is absent, and the "# Totals:" line that
# selftests/run.sh counts. Sourced; the test prints its own "1..N".

n=0 pass=0 fail=0 skip=0

ok() { # ok COND-STATUS NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		pass=$((pass + 1)); echo "ok $n $2"
	else
		fail=$((fail + 1)); echo "not ok $n $2"
	fi
}

skip_all() { # skip_all REASON: the whole test skips (exit 4)
	echo "1..0 # SKIP $1"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
	exit 4
}

totals() { # the last line; fails if a check did
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
	((fail == 0))
}
