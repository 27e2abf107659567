# SPDX-License-Identifier: GPL-2.0
# Shared settings for the ptreloc scripts. Source it, do not run it.
#
# Everything expensive (unpacked kernel source, kernel builds, installed
# headers) lives in $PTRELOC_CACHE, outside the repository, so that a fresh
# clone on the same machine reuses it.

PTRELOC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PTRELOC_CACHE=${PTRELOC_CACHE:-$HOME/.cache/ptreloc}
# The Debian package that provides the kernel source we target.
PTRELOC_KPKG=linux-source-6.12
PTRELOC_FLAVOURS="debug perf"

# cargo/rustup and pip install into these; make them visible to every step.
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"

step_t0=$(date +%s)
# step NAME: print a step header with the time elapsed since the script began.
step() {
	printf '==> [%4ss] %s\n' "$(($(date +%s) - step_t0))" "$*"
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Debian's stock kernel and its module build tree (scripts/stock-kernel).
PTRELOC_STOCK=$PTRELOC_CACHE/stock
PTRELOC_STOCK_SERIES=${STOCK_SERIES:-7.3}

# Two kernel lines. A flavour BASE (debug, perf) is the 6.12 source of the
# host's linux-source package, built on the host with LLVM; BASE-SERIES
# (debug-7.3) is the stock kernel's Debian source, built in the stock
# kernel's trixie chroot with Debian's compilers, from the same fragments.
flavour_base() {
	echo "${1%-"$PTRELOC_STOCK_SERIES"}"
}
on_stock_line() {
	[ "$1" != "$(flavour_base "$1")" ]
}

# The selftests built for FLAVOUR's kernel line (see the Makefile), relative
# to the repository.
selftests_dir() {
	if [ "$1" = stock ] || on_stock_line "$1"; then
		echo "build/selftests-$PTRELOC_STOCK_SERIES"
	else
		echo build/selftests
	fi
}

# The Debian version of the stock kernel set up last ("" when none).
stock_version() {
	[ -f "$PTRELOC_STOCK/current/.ptreloc-stamp" ] && readlink "$PTRELOC_STOCK/current" || true
}

# Version of the installed kernel source package ("" when absent).
kernel_src_version() {
	dpkg-query -W -f='${Version}' "$PTRELOC_KPKG" 2>/dev/null || true
}

# kernel_src_dir [FLAVOUR]: the pristine source a flavour is built from.
kernel_src_dir() {
	if on_stock_line "${1:-debug}"; then
		echo "$PTRELOC_CACHE/src/linux-source-$PTRELOC_STOCK_SERIES-$(stock_version)"
	else
		echo "$PTRELOC_CACHE/src/$PTRELOC_KPKG-$(kernel_src_version)"
	fi
}

kernel_build_dir() {
	echo "$PTRELOC_CACHE/kernel/$1"
}

# The stock kernel's image, from the last complete setup; fails without one.
stock_image() {
	local d=$PTRELOC_STOCK/current
	[ -f "$d/.ptreloc-stamp" ] && echo "$d/root/usr/lib/modules/$(cat "$d/release")/vmlinuz"
}

# Cache key of one flavour: source version, the fragments it is made of, the
# scripts that build it, and the toolchain. Any change rebuilds that flavour.
# On the stock line the toolchain is the chroot's.
kernel_key() {
	local flavour=$1
	{
		if on_stock_line "$flavour"; then
			stock_version
			in_chroot sh -c 'gcc --version | head -n 1; rustc --version; bindgen --version'
		else
			kernel_src_version
			rustc --version
			bindgen --version 2>/dev/null
			clang --version | head -n 1
		fi
		cat "$PTRELOC_ROOT/scripts/kconfig/common.config" \
		    "$PTRELOC_ROOT/scripts/kconfig/$(flavour_base "$flavour").config" \
		    "$PTRELOC_ROOT/scripts/build-kernel"
		pip show virtme-ng 2>/dev/null | grep '^Version'
	} | sha256sum | cut -c1-16
}

# The make variables every kernel and module build uses: LLVM so that
# bindgen's libclang and the C compiler agree on the kernel's flags.
KMAKE_VARS="LLVM=1"

# in_chroot [--bind HOSTDIR[:DIR]]... [--] CMD...: run CMD as root in the stock
# kernel's trixie chroot with a clean environment, /proc, /dev and the binds
# (DIR defaults to HOSTDIR: the same path inside) mounted in a private mount
# namespace: they exist only for CMD and vanish with it, so a killed run
# leaves no mount behind (and rm -rf of the chroot is safe).
in_chroot() {
	local root=$PTRELOC_STOCK/chroot binds=() b
	while (($#)); do
		case "$1" in
		--bind) b=$2; [[ $b == *:* ]] || b=$b:$b
			binds+=("$b"); mkdir -p "$root${b#*:}"; shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	if [ ! -x "$root/bin/sh" ]; then
		echo "error: the trixie chroot $root is missing: run scripts/setup stock" >&2
		return 1
	fi
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	unshare --mount --propagation private -- \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
		bash -c 'set -e; r=$1; shift
			mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"
			while [ "$1" != -- ]; do mount --bind "${1%%:*}" "$r${1#*:}"; shift; done
			shift; exec chroot "$r" "$@"' \
		_ "$root" "${binds[@]}" -- "$@"
}
