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

# Version of the installed kernel source package ("" when absent).
kernel_src_version() {
	dpkg-query -W -f='${Version}' "$PTRELOC_KPKG" 2>/dev/null || true
}

kernel_src_dir() {
	echo "$PTRELOC_CACHE/src/$PTRELOC_KPKG-$(kernel_src_version)"
}

kernel_build_dir() {
	echo "$PTRELOC_CACHE/kernel/$1"
}

# Debian's stock kernel and its module build tree (scripts/stock-kernel).
PTRELOC_STOCK=$PTRELOC_CACHE/stock

# The stock kernel's image, from the last complete setup; fails without one.
stock_image() {
	local d=$PTRELOC_STOCK/current
	[ -f "$d/.ptreloc-stamp" ] && echo "$d/root/usr/lib/modules/$(cat "$d/release")/vmlinuz"
}

# Cache key of one flavour: source version, the fragments it is made of, the
# scripts that build it, and the toolchain. Any change rebuilds that flavour.
kernel_key() {
	local flavour=$1
	{
		kernel_src_version
		cat "$PTRELOC_ROOT/scripts/kconfig/common.config" \
		    "$PTRELOC_ROOT/scripts/kconfig/$flavour.config" \
		    "$PTRELOC_ROOT/scripts/build-kernel"
		rustc --version
		bindgen --version 2>/dev/null
		clang --version | head -n 1
		pip show virtme-ng 2>/dev/null | grep '^Version'
	} | sha256sum | cut -c1-16
}

# The make variables every kernel and module build uses: LLVM so that
# bindgen's libclang and the C compiler agree on the kernel's flags.
KMAKE_VARS="LLVM=1"
