# SPDX-License-Identifier: GPL-2.0
#
# ptreloc: page-table relocation for Linux, as an out-of-tree Rust module.
#
#   make setup      install the toolchain, build the debug kernel and set up
#                   Debian's stock 7.3 kernel (once; FLAVOUR=... for one)
#   make check      build, boot the debug kernel with 2 NUMA nodes, run the tests;
#                   then the main tests in Debian's unmodified 7.3 kernel
#   make matrix     the suites on the debug-7.3 flavour (not in CI: longer)
#   make stress     the race suite (RACE_SECONDS per scenario, default 60) and
#                   the upstream mm selftests under the storm, in the guest
#   make bench      relocation cost vs its floor, fork() and migration, as
#                   ratios from one perf-guest run (bench/results/)
#   make demo       a workload's data and then its page tables move to node 1,
#                   in Debian's unmodified 7.3 kernel (FLAVOUR=debug: ours)
#   make module     build ptreloc.ko and ptreloc_test.ko for FLAVOUR (default:
#                   debug; also perf, debug-7.3, and stock: Debian's 7.3 kernel)
#   make tools      build the ptreloc command-line tool (build/tools/release/ptreloc),
#                   its man pages and shell completions (build/tools/man, completions)
#   make install    the module (for the running kernel, or KVER), the tool, its
#                   man pages, completions and systemd unit (DESTDIR, PREFIX;
#                   build first: make module tools, FLAVOUR=stock for Debian's)
#   make uninstall  remove exactly what make install put
#   make selftests  build the kselftests
#   make lint       rustfmt, clippy and checkpatch; fails on any finding
#   make vm CMD=..  run a command in a guest (see scripts/vm)
#
# The kernel source, kernel builds and headers live in $(PTRELOC_CACHE)
# (default ~/.cache/ptreloc); the module and tests are built under build/.

FLAVOUR ?= debug
export PTRELOC_CACHE ?= $(HOME)/.cache/ptreloc
export PATH := $(HOME)/.cargo/bin:$(PATH)

top := $(CURDIR)
KSRC := $(shell bash -c '. $(top)/scripts/lib.sh && kernel_src_dir')
KDIR = $(PTRELOC_CACHE)/kernel/$(FLAVOUR)
# What setup leaves behind when a flavour's kernel is ready.
KSTAMP = $(if $(filter stock,$(FLAVOUR)),$(PTRELOC_CACHE)/stock/current,$(KDIR))/.ptreloc-stamp
KMAKE = scripts/kmake $(FLAVOUR)
# The kernel line: debug and perf are 6.12; stock and the BASE-SERIES
# flavours (debug-7.3) the stock kernel's series (lib.sh decides).
SERIES := $(shell bash -c '. $(top)/scripts/lib.sh && echo $$PTRELOC_STOCK_SERIES')
STOCK_LINE = $(filter stock %-$(SERIES),$(FLAVOUR))
STESTS = $(top)/$(shell bash -c '. $(top)/scripts/lib.sh && selftests_dir $(FLAVOUR)')
BUILD = $(top)/build/$(FLAVOUR)
# What Kbuild needs to see of the tree: it is copied to $(BUILD), because
# Kbuild writes its objects next to the sources and the flavours must not mix.
# Every Rust, C and header file under rust/, at any depth, except the host
# tests; --delete drops copies of files removed or moved in the tree (a
# stale table.rs beside table/mod.rs would not build), and keeps objects.
copy-module-srcs = mkdir -p $(1)/rust && rsync -a Kbuild VERSION $(1)/ && \
	rsync -a --delete --exclude=request-tests/ --include='*/' --include='*.rs' \
		--include='*.[ch]' --exclude='*' rust/ $(1)/rust/

all: module selftests tools

# Both kernels make check uses, unless FLAVOUR is given.
setup:
	scripts/setup $(if $(filter command line environment,$(origin FLAVOUR)),$(FLAVOUR),debug stock)

kernel-ready:
	@test -f $(KSTAMP) || { echo "kernel flavour $(FLAVOUR) not built: running setup"; scripts/setup $(FLAVOUR); }

module: kernel-ready
	@$(call copy-module-srcs,$(BUILD))
	+$(KMAKE) M=$(BUILD) modules
	@echo "built $(BUILD)/ptreloc.ko"

# The kselftests run the tool end to end: it is copied next to them. Each
# kernel line has its own build, with the harness, the upstream mm selftests
# and the uapi headers of that line: the 7.3 line's come from the stock
# kernel's tree, which every 7.3 flavour needs.
ifneq ($(STOCK_LINE),)
STEST_SRC = $(PTRELOC_CACHE)/stock/current/linux
STEST_HDR = $(STEST_SRC)/usr
else
STEST_SRC = $(KSRC)
STEST_HDR = $(KDIR)/usr
endif
# Built again from scratch when the tree they come from changes (a new stock
# version: its files may be older than the binaries).
selftests: kernel-ready tools
	@src=$$(readlink -f $(STEST_SRC)); [ "$$(cat $(STESTS)/.source 2>/dev/null)" = "$$src" ] || \
		{ rm -rf $(STESTS) && mkdir -p $(STESTS) && echo "$$src" >$(STESTS)/.source; }
	$(MAKE) -C selftests KSRC=$(STEST_SRC) KHDR=$(STEST_HDR) OUT=$(STESTS)
	cp build/tools/release/ptreloc $(STESTS)/ptreloc

# The binary, and its man pages and shell completions in build/tools/man/
# and build/tools/completions/. --locked: the crates of Cargo.lock.
tools:
	cargo build --quiet --locked --release --manifest-path tools/ptreloc/Cargo.toml \
		--target-dir $(top)/build/tools
	$(top)/build/tools/release/ptreloc-docs $(top)/build/tools

install uninstall:
	scripts/install $@

# Clippy: a fresh build with CLIPPY=1 in its own directory, so that every
# Rust file is checked each time; CONFIG_WERROR makes findings fatal.
lint: kernel-ready
	cargo fmt --check --manifest-path tools/ptreloc/Cargo.toml
	cargo clippy --quiet --all-targets --manifest-path tools/ptreloc/Cargo.toml \
		--target-dir $(top)/build/tools -- -D warnings
	rustfmt --check --edition 2021 --config-path $(KSRC)/.rustfmt.toml \
		rust/ptreloc/relocator.rs rust/ptreloc_test/ptreloc_test.rs \
		rust/request-tests/src/lib.rs
	# Kernel-version tests live in the version layer only (Documentation/design.rst).
	@! grep -rnE 'kernel_7|PTRELOC_KERNEL_7|LINUX_VERSION_CODE|KERNEL_VERSION\(' \
		rust selftests tools --exclude-dir=target --exclude=compat.rs --exclude=compat.h || \
		{ echo "lint: a kernel-version test outside rust/common/compat.rs and rust/ptreloc/compat.h"; exit 1; }
	@rm -rf $(BUILD)-clippy
	@$(call copy-module-srcs,$(BUILD)-clippy)
	+$(KMAKE) M=$(BUILD)-clippy CLIPPY=1 modules
	# The 7.3 side of the version layer compiles only for 7.3: the stock
	# module too, warnings as errors (Debian's config has no CONFIG_WERROR).
	+@if [ -f $(PTRELOC_CACHE)/stock/current/.ptreloc-stamp ]; then \
		rm -rf $(top)/build/stock-lint && $(call copy-module-srcs,$(top)/build/stock-lint) && \
		scripts/kmake stock -s M=$(top)/build/stock-lint KRUSTFLAGS=-Dwarnings KCFLAGS=-Werror modules; \
	else echo "lint: the stock kernel is not set up: its module build is not linted"; fi
	$(KSRC)/scripts/checkpatch.pl --no-tree --quiet --show-types -f rust/*/*.c rust/*/*.h
	# The harness's SKIP idiom is a macro with a return, its ASSERTs expand
	# to two statements (so braces are needed), and tests force memory
	# accesses with volatile on purpose.
	$(KSRC)/scripts/checkpatch.pl --no-tree --quiet --show-types -f \
		--ignore MACRO_WITH_FLOW_CONTROL,BRACES,VOLATILE,EMBEDDED_FUNCTION_NAME \
		selftests/*.c selftests/*.h tools/bench/*.c

check:
	scripts/check

matrix:
	scripts/matrix

# On Debian's stock kernel unless FLAVOUR is given.
demo:
	scripts/demo $(if $(filter command line environment,$(origin FLAVOUR)),$(FLAVOUR),stock)

bench:
	scripts/bench

RACE_SECONDS ?= 60
stress: module selftests
	scripts/vm --flavour $(FLAVOUR) --mem 4G --cpus 3 --numa 2G,cpus=0 \
		--numa 2G,cpus=1 --numa 0,cpus=2 -- env PTRELOC_RACE_SECONDS=$(RACE_SECONDS) \
		PTRELOC_PROGRAM_TIMEOUT=7200 selftests/run.sh build/$(FLAVOUR) $(STESTS) stress

vm: kernel-ready
	scripts/vm --flavour $(FLAVOUR) -- $(CMD)

clean:
	rm -rf build

.PHONY: all setup kernel-ready module selftests tools install uninstall lint check matrix stress bench demo vm clean
