#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make install and make uninstall (scripts/install), in the guest, staged in
# a temporary DESTDIR: the module built for the running kernel lands under
# its extra/ and modprobe finds it there after depmod; the tool, its man
# pages, completions and the systemd unit land under PREFIX; a second
# install, an uninstall of nothing and a module built for another kernel
# are refused with a sentence; uninstall removes exactly what install put.
# Installed as BIN_DIR/install, two levels below the repository. Prints TAP
# and the harness's "# Totals:" line.
#
# usage: install [REPO]
set -u
repo=${1:-$(readlink -f "$(dirname "$(readlink -f "$0")")/../..")}
kver=$(uname -r)
total=6
# shellcheck source=tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

# inst ACTION [VAR=VALUE...]: scripts/install into $dest; output in $dest.log
inst() {
	local action=$1
	shift
	env DESTDIR="$dest" "$@" "$repo/scripts/install" "$action" >"$dest.log" 2>&1
	local rc=$?
	sed 's/^/# /' "$dest.log"
	return $rc
}

# Every regular file under $dest but depmod's indexes, sorted.
files() {
	(cd "$dest" && find . -type f ! -name 'modules.*' | sort)
}

echo "TAP version 13"
ls "$repo"/build/*/ptreloc.ko >/dev/null 2>&1 && [ -x "$repo/build/tools/release/ptreloc" ] ||
	skip_all "no built module or tool in $repo/build"
echo "1..$total"

inst install
rc=$?
want="./etc/systemd/system/ptreloc-follow.service
./lib/modules/$kver/extra/ptreloc.ko
$(cd "$repo/build/tools/man" && ls *.1 | sed 's|^|./usr/local/share/man/man1/|')
./usr/local/sbin/ptreloc
./usr/local/share/bash-completion/completions/ptreloc
./usr/local/share/fish/vendor_completions.d/ptreloc.fish
./usr/local/share/ptreloc/installed-files
./usr/local/share/zsh/site-functions/_ptreloc"
got=$(files)
[ "$got" = "$(sort <<<"$want")" ] || diff <(sort <<<"$want") <(echo "$got") | sed 's/^/# /'
magic=$(modinfo -F vermagic "$dest/lib/modules/$kver/extra/ptreloc.ko" 2>/dev/null)
echo "# module for ${magic%% *}; unit: $(grep ^ExecStart= "$dest/etc/systemd/system/ptreloc-follow.service")"
((rc == 0)) && [ "$got" = "$(sort <<<"$want")" ] && [ "${magic%% *}" = "$kver" ] &&
	[ -x "$dest/usr/local/sbin/ptreloc" ] &&
	grep -q "^ExecStart=/usr/local/sbin/ptreloc follow --all" \
		"$dest/etc/systemd/system/ptreloc-follow.service"
ok $? "install puts the module for $kver, the tool, man pages, completions and unit"

show=$(modprobe -d "$dest" --show-depends ptreloc 2>&1)
echo "# $show"
grep -q "^insmod $dest/lib/modules/$kver/extra/ptreloc.ko" <<<"$show"
ok $? "depmod indexed it: modprobe finds extra/ptreloc.ko"

"$dest/usr/local/sbin/ptreloc" --help | head -1 | sed 's/^/# /'
[ "${PIPESTATUS[0]}" = 0 ] && grep -q '^\.TH ptreloc 1' "$dest/usr/local/share/man/man1/ptreloc.1"
ok $? "the installed tool runs; its man page is one"

inst install
rc=$?
((rc == 1)) && grep -q "is installed already" "$dest.log"
ok $? "a second install is refused (exit 1)"

other=$(for ko in "$repo"/build/*/ptreloc.ko; do
	m=$(modinfo -F vermagic "$ko")
	[ "${m%% *}" != "$kver" ] && basename "$(dirname "$ko")" && break
done)
inst uninstall
rc=$?
left=$(files)
[ -z "$left" ] || echo "# left behind: $left"
((rc == 0)) && [ -z "$left" ] && [ -d "$dest/lib/modules/$kver" ]
ok $? "uninstall removes exactly what install put"

inst uninstall
rc=$?
((rc == 1)) && grep -q "nothing to uninstall" "$dest.log"
rc1=$?
if [ -n "$other" ]; then
	inst install FLAVOUR="$other"
	rc=$?
	((rc == 1)) && grep -q "is built for kernel .*, not $kver" "$dest.log" && [ -z "$(files)" ]
	rc2=$?
else
	echo "# no module built for another kernel here: only the uninstall of nothing is checked"
	rc2=0
fi
((rc1 == 0 && rc2 == 0))
ok $? "uninstall of nothing, and a module of another kernel, are refused"

totals
