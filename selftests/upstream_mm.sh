#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's own mm selftests (built from the cached source tree into
# BIN_DIR/mm), each run twice in this guest: once alone, for its baseline,
# then while ptreloc_test.ko's storm relocates the page tables of its
# processes (the storm follows their children). A program passes here when
# every case that passed alone passes under the storm too, and the storm
# moved tables while it ran. Prints TAP and the harness's "# Totals:" line
# (run.sh reads it), then a baseline-vs-storm table.
#
# usage: upstream_mm [BIN_DIR]   (default: the directory of this script)
set -u
bin_dir=${1:-$(dirname "$(readlink -f "$0")")}
mm=$bin_dir/mm
storm=/sys/kernel/debug/ptreloc_test
# name|command line, as tools/testing/selftests/mm/run_vmtests.sh runs them
# (transhuge-stress for 10 s over 256 MiB instead of 20 s over all memory).
tests=(
	"cow|cow"
	"migration|migration"
	"mremap_test|mremap_test"
	"mremap_dontunmap|mremap_dontunmap"
	"ksm_functional_tests|ksm_functional_tests"
	"transhuge-stress|transhuge-stress -d 10 256"
	"gup_test -u|gup_test -u"
	"gup_test -a|gup_test -a"
	"gup_test -ct|gup_test -ct -F 0x1 0 19 0x1000"
	"madv_populate|madv_populate"
	"mlock2-tests|mlock2-tests"
	"map_populate|map_populate"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "TAP version 13"
if [ ! -d "$storm" ]; then
	echo "1..0 # SKIP ptreloc_test.ko is not loaded"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
	exit 4
fi
echo "1..${#tests[@]}"

# Per-case results of one run: "ok <n> <name>" / "not ok <n> <name>", skips
# marked; programs without cases count as one case named after the program.
cases() { # cases LOG RC
	local n
	n=$(grep -cE '^(not )?ok [0-9]+' "$1")
	if ((n)); then
		# Trailing blanks are not part of a case's name (7.3's madv_populate
		# printed one under the storm and none alone).
		sed -nE 's/^(not ok|ok) ([0-9]+) (.*[^[:space:]])[[:space:]]*$/\1|\2 \3/p' "$1" |
			sed -E 's/^ok\|(.*# [Ss][Kk][Ii][Pp].*)$/skip|\1/'
	elif (($2 == 4)); then
		echo "skip|whole program"
	elif (($2 == 0)); then
		echo "ok|whole program"
	else
		echo "not ok|whole program"
	fi
}

count() { # count FILE RESULT
	grep -c "^$2|" "$1"
}

n=0 pass=0 fail=0 skip=0
table=()
for t in "${tests[@]}"; do
	name=${t%%|*} cmd=${t#*|}
	n=$((n + 1))
	read -r prog args <<<"$cmd"
	if [ ! -x "$mm/$prog" ]; then
		echo "not ok $n $name # not built"
		fail=$((fail + 1))
		continue
	fi
	(cd "$mm" && timeout 600 ./$prog $args) >"$tmp/base.log" 2>&1
	base_rc=$?
	# The shell starts the storm on itself and becomes the program: the
	# storm follows that pid and every child it forks.
	(cd "$mm" && timeout 600 sh -c 'echo "pids=$$ seconds=900" >"$0/storm" && exec "$@"' \
		"$storm" ./$prog $args) >"$tmp/storm.log" 2>&1
	storm_rc=$?
	echo stop >"$storm/storm"
	status=$(cat "$storm/status")
	relocations=$(sed -n 's/^relocations //p' <<<"$status")
	moved=$(sed -n 's/^pte_moved //p' <<<"$status")
	cases "$tmp/base.log" "$base_rc" >"$tmp/base"
	cases "$tmp/storm.log" "$storm_rc" >"$tmp/storm"
	# Cases that passed alone and did not pass under the storm.
	lost=$(grep '^ok|' "$tmp/base" | cut -d'|' -f2 | while read -r c; do
		grep -qxF "ok|$c" "$tmp/storm" || echo "$c"
	done)
	row=$(printf "%-22s %3d/%3d/%3d   %3d/%3d/%3d   %6d %7d" "$name" \
		"$(count "$tmp/base" ok)" "$(count "$tmp/base" 'not ok')" "$(count "$tmp/base" skip)" \
		"$(count "$tmp/storm" ok)" "$(count "$tmp/storm" 'not ok')" "$(count "$tmp/storm" skip)" \
		"${relocations:-0}" "${moved:-0}")
	table+=("$row")
	# Cases that fail here even alone: named, so the baseline is on record.
	grep '^not ok|' "$tmp/base" | cut -d'|' -f2 | sed "s/^/# $name fails alone too: /"
	if [ -n "$lost" ]; then
		echo "# $name: passed alone, not under the storm:"
		sed 's/^/#   /' <<<"$lost"
		echo "# its output under the storm:"
		sed 's/^/#   /' "$tmp/storm.log" | tail -40
		echo "not ok $n $name"
		fail=$((fail + 1))
	elif ((${relocations:-0} == 0)); then
		echo "# $name: the storm moved no tables while it ran"
		echo "not ok $n $name"
		fail=$((fail + 1))
	elif ! grep -q '^ok|' "$tmp/base"; then
		echo "ok $n $name # SKIP nothing passes here even without the storm"
		skip=$((skip + 1))
	else
		echo "ok $n $name"
		pass=$((pass + 1))
	fi
done

echo "# upstream mm selftests, pass/fail/skip per case, alone and under the storm:"
echo "# program                alone          storm       relocs  pte moved"
for row in "${table[@]}"; do
	echo "# $row"
done
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
((fail == 0))
