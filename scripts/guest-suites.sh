# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The counting and the guest runs scripts/check and scripts/matrix share.
# Source it after lib.sh, from the repository's top directory.

pass=0 fail=0 skip=0
vmdir=build/vm
guests=()
# other_module[FLAVOUR]: a module built for the other kernel line in this
# run, which FLAVOUR's main suite must see refused (none: not checked).
declare -A other_module=()
count() { # count RC NAME
	if [ "$1" = 0 ]; then
		pass=$((pass + 1)); echo "check: PASS $2"
	else
		fail=$((fail + 1)); echo "check: FAIL $2"
	fi
}
summary() {
	step "done"
	# The guests' failures once more, last, where a truncated log still
	# shows them: failed steps, and the harness's assertion messages.
	local g
	for g in "${guests[@]}"; do
		grep -hE '^(# )*not ok |:Expected |ran out of time' "$vmdir/$g/output.txt" \
			2>/dev/null | sed "s/^/check: failed in $g: /"
	done
	echo "$pass passed, $fail failed$( ((skip)) && echo ", $skip skipped")"
	((fail == 0))
	exit
}

# guest_suite NAME SUITE FLAVOUR VM-OPTIONS...: run selftests/run.sh SUITE
# with FLAVOUR's modules in a guest and count its tests, its dmesg and
# kmemleak.
guest_suite() {
	local name=$1 suite=$2 flavour=$3 vm_rc totals p f s other
	shift 3
	guests+=("$name")
	rm -rf "${vmdir:?}/$name"
	other=""
	[ "$suite" = main ] && other=${other_module[$flavour]:-}
	scripts/vm --out "$vmdir/$name" --flavour "$flavour" "$@" -- env PTRELOC_OTHER_LINE_MODULE="$other" \
		selftests/run.sh "build/$flavour" "$(selftests_dir "$flavour")" "$suite"
	vm_rc=$?
	totals=$(sed -n 's/^# ptreloc totals: pass:\([0-9]*\) fail:\([0-9]*\) skip:\([0-9]*\)$/\1 \2 \3/p' \
		"$vmdir/$name/output.txt" 2>/dev/null)
	if [ -n "$totals" ]; then
		read -r p f s <<<"$totals"
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
		echo "check: guest $name selftests: pass:$p fail:$f skip:$s"
	else
		count 1 "guest $name selftests ran to the end (vm exit $vm_rc)"
	fi
	if [ -f "$vmdir/$name/dmesg.txt" ]; then
		scripts/dmesg-check "$vmdir/$name/dmesg.txt" 2>/dev/null
		count "$?" "$name guest dmesg has no WARNING/BUG/lockdep/page_table_check report"
	fi
	# Only the debug flavours have kmemleak (scripts/vm insists on it there).
	if [ "$(flavour_base "$flavour")" = debug ] && [ -f "$vmdir/$name/dmesg.txt" ]; then
		scripts/kmemleak-check "$vmdir/$name/kmemleak.txt" 2>/dev/null
		count "$?" "$name guest kmemleak reports no leak from ptreloc"
	fi
}

# main_guest NAME FLAVOUR CPUS [VM-OPTION...]: the main suite. Nodes 0 and
# 1 with 2 GiB each (room for the 1 GiB mapping test), and a third node
# with a CPU and no memory (the target of the ENODEV test); CPUS is 3 or
# more, CPU 0 and those from 3 on in node 0. The race suite and the
# upstream mm selftests (twice each) make it the longest: 80 minutes at most.
main_guest() {
	local node0=0 c
	for ((c = 3; c < $3; c++)); do node0+=",cpus=$c"; done
	guest_suite "$1" main "$2" --mem 4G --cpus "$3" --timeout 4800 \
		--numa "2G,cpus=$node0" --numa 2G,cpus=1 --numa 0,cpus=2 "${@:4}"
}

# zones_guest NAME FLAVOUR [VM-OPTION...]: the zone suite, 4 GiB per node: node 0 spans the
# 4 GiB line (DMA32 and Normal), node 1 is all Normal; and node 2, 1 GiB of
# memory without CPUs (a slow tier data may be demoted to: follow_tiers).
zones_guest() {
	guest_suite "$1" zones "$2" --mem 9G --cpus 2 --numa 4G,cpus=0 --numa 4G,cpus=1 \
		--numa 1G "${@:3}"
}
