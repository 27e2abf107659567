#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A sample workload for `make demo` and the CLI selftest.

THREADS threads each fill MIB MiB of anonymous memory (4 KiB pages, so
every 2 MiB has a PTE table) with a pattern of their own and record its
SHA-256. The process then prints "ready <pid>" and waits: on SIGUSR1 it
re-hashes every region and prints "verified N regions" or "CORRUPTED ..."
(and exits 1); on SIGTERM it exits.

With --wake S, the threads stay, and they and the main thread wake every S
seconds (a thread reads a byte of its region): the CPU each last ran on,
which `ptreloc follow` takes the home node from, then follows `taskset`
within S seconds. Without it, the threads exit once they have filled their
regions, and the main thread sleeps until a signal.

usage: workload.py [--mib N] [--threads N] [--wake S]
"""
import argparse
import hashlib
import mmap
import os
import signal
import sys
import threading
import time

MIB = 1 << 20


def fill(region, seed):
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    for off in range(0, len(region), MIB):
        region[off:off + MIB] = block


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64, help="MiB per thread")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--wake", type=float, default=0,
                    help="threads stay and wake every WAKE seconds")
    a = ap.parse_args()

    regions = []
    for _ in range(a.threads):
        m = mmap.mmap(-1, a.mib * MIB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_NOHUGEPAGE"):
            m.madvise(mmap.MADV_NOHUGEPAGE)
        regions.append(m)
    filled = threading.Barrier(a.threads + 1)

    def work(region, seed):
        fill(region, seed)
        filled.wait()
        while a.wake:
            time.sleep(a.wake)
            region[0]

    # Daemon threads: SIGTERM's exit does not wait for them.
    threads = [threading.Thread(target=work, args=(m, i), daemon=True)
               for i, m in enumerate(regions)]
    for t in threads:
        t.start()
    filled.wait()
    digests = [hashlib.sha256(m).hexdigest() for m in regions]

    def verify(_sig, _frame):
        bad = [i for i, m in enumerate(regions) if hashlib.sha256(m).hexdigest() != digests[i]]
        if bad:
            print(f"CORRUPTED regions {bad}", flush=True)
            os._exit(1)
        print(f"verified {len(regions)} regions of {a.mib} MiB: SHA-256 unchanged", flush=True)

    signal.signal(signal.SIGUSR1, verify)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready {os.getpid()} {a.threads}x{a.mib} MiB", flush=True)
    while True:
        if a.wake:
            time.sleep(a.wake)
        else:
            signal.pause()


if __name__ == "__main__":
    main()
