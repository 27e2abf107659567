// SPDX-License-Identifier: GPL-2.0
/*
 * The race suite: each scenario runs what the mm does every day (faults,
 * fork, munmap/mremap/mprotect/madvise, THP split and collapse, KSM,
 * migration, reclaim to swap, userfaultfd, pinned pages, exit, writeback,
 * hugetlb and its PMD sharing, shmem THP collapse, UFFDIO_MOVE, memory
 * failure, CPU hotplug, exec) for a bounded time while ptreloc_test.ko's
 * storm relocates the test process's page tables (and its children's) at
 * random. Each checks its
 * data, and that the storm really moved tables meanwhile; the guest run
 * fails on any kernel warning.
 *
 * PTRELOC_RACE_SECONDS sets the time per scenario (default 5).
 */
#include <linux/userfaultfd.h>
#include <numaif.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "storm_util.h"

#define MIB (1UL << 20)
#define CGROOT "/sys/fs/cgroup"
#define CG CGROOT "/ptreloc-race"
#define EXT2_DIR "/tmp/ptreloc-race-ext2"
#define EXT2_IMG "/dev/shm/ptreloc-race-ext2.img"

static double race_seconds(void)
{
	const char *s = getenv("PTRELOC_RACE_SECONDS");

	return s ? atof(s) : 5;
}

/* Words of p that differ from fill_pattern(p, len, seed). */
static long pattern_errors(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	long bad = 0;
	size_t i;

	for (i = 0; i < len / 8; i++)
		bad += w[i] != pattern_word(seed, i);
	return bad;
}

/* Pages of p that hold neither their part of the pattern nor zeroes. */
static long pattern_or_zero_errors(const char *p, size_t len, uint64_t seed)
{
	static const char zero[PAGE_SZ];
	long bad = 0;
	size_t off;

	for (off = 0; off < len; off += PAGE_SZ)
		bad += memcmp(p + off, zero, PAGE_SZ) &&
		       pattern_errors(p + off, PAGE_SZ, seed + off / 8);
	return bad;
}

static char *map_anon(size_t len, int advice)
{
	char *p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED && advice)
		madvise(p, len, advice);
	return p;
}

/* Stop the storm and check what it did; print it for the record. */
static void storm_end(struct __test_metadata *_metadata, const char *what, int enomem_ok)
{
	struct storm_counts c;

	ASSERT_EQ(0, storm_stop());
	ASSERT_EQ(0, storm_read(&c));
	ksft_print_msg("%s: %ld relocations of %ld requests in %ld ms, moved pte %ld pmd %ld pud %ld deposits %ld; ESRCH %ld ENOMEM %ld other %ld; anomalies %ld\n",
		       what, c.relocations, c.iterations, c.elapsed_ms, c.moved[0],
		       c.moved[1], c.moved[2], c.deposits, c.esrch, c.enomem,
		       c.errors_other, c.anomalies);
	if (c.errors_other)
		storm_print_errors();
	EXPECT_GT(c.relocations, 0);
	EXPECT_EQ(0, c.anomalies);
	EXPECT_EQ(0, c.errors_other);
	if (!enomem_ok)
		EXPECT_EQ(0, c.enomem);
}

/*
 * The usual end of a scenario: it got something done (done > 0), found
 * nothing bad, and the storm moved tables meanwhile.
 */
static void scenario_end(struct __test_metadata *_metadata, const char *what, long done,
			 long bad)
{
	EXPECT_GT(done, 0);
	EXPECT_EQ(0, bad);
	storm_end(_metadata, what, 0);
}

/* Write a value to a sysfs or procfs file, returning the old one in old. */
static int swap_setting(const char *path, const char *value, char *old, size_t size)
{
	char *b, *e;

	if (old) {
		if (read_file(path, old, size) < 0)
			return -1;
		/* "[never] always" style files: keep the bracketed word. */
		b = strchr(old, '[');
		e = b ? strchr(b, ']') : NULL;
		if (b && e) {
			memmove(old, b + 1, e - b - 1);
			old[e - b - 1] = 0;
		}
		old[strcspn(old, "\n")] = 0;
	}
	return ctl_write_path(path, value);
}

FIXTURE(race) {
	double deadline;
	/* What a scenario changed, put back by the teardown if it failed. */
	long nr_hugepages;		/* the pool's old size, or -1 */
	unsigned long offline_cpus;	/* CPUs it took offline */
};

/*
 * A scenario's time starts when its setup is done: filling memory while the
 * storm holds the mmap lock can take longer than the scenario itself.
 */
#define START_CLOCK() (self->deadline = now_s() + race_seconds())

FIXTURE_SETUP(race)
{
	const char *why = storm_unavailable();

	self->nr_hugepages = -1;
	self->offline_cpus = 0;
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, storm_start(getpid(), 600, ""));
}

static void hugepages_restore(long *nr_hugepages);
static void cpus_online(unsigned long *offline);

FIXTURE_TEARDOWN(race)
{
	storm_stop();
	hugepages_restore(&self->nr_hugepages);
	cpus_online(&self->offline_cpus);
}

struct worker {
	double deadline;
	size_t len;
	uint64_t seed;
	long rounds, bad;
};

static void *fault_worker(void *arg)
{
	struct worker *w = arg;
	char *p;

	while (now_s() < w->deadline) {
		uint64_t seed = w->seed + w->rounds;

		p = map_anon(w->len, MADV_NOHUGEPAGE);
		if (p == MAP_FAILED) {
			w->bad++;
			break;
		}
		fill_pattern(p, w->len, seed);
		usleep(10000);
		w->bad += pattern_errors(p, w->len, seed);
		munmap(p, w->len);
		w->rounds++;
	}
	return NULL;
}

/* Four threads fault fresh pages into new mappings, check and unmap them. */
TEST_F_TIMEOUT(race, fault_threads, 600)
{
	struct worker w[4];
	pthread_t t[4];
	long rounds = 0, bad = 0;
	int i;

	START_CLOCK();
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ self->deadline, 16 * MIB, (uint64_t)i << 40 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fault_worker, &w[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		rounds += w[i].rounds;
		bad += w[i].bad;
	}
	ksft_print_msg("fault_threads: %ld mappings of 16 MiB filled and checked, %ld bad words\n",
		       rounds, bad);
	scenario_end(_metadata, "fault_threads", rounds, bad);
}

/*
 * fork() in a loop: each child checks the inherited data and writes its own
 * copy; the parent breaks COW on its side meanwhile and keeps its data.
 */
TEST_F_TIMEOUT(race, fork_storm, 600)
{
	size_t len = 16 * MIB, off;
	long forks = 0, failed = 0;
	char *p = map_anon(len, MADV_NOHUGEPAGE);
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	fill_pattern(p, len, 7);
	START_CLOCK();
	while (now_s() < self->deadline) {
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			long bad = pattern_errors(p, len, 7);

			fill_pattern(p, len / 2, 99);
			bad += pattern_errors(p, len / 2, 99);
			bad += pattern_errors(p + len / 2, len / 2, 7 + len / 16);
			_exit(bad ? 1 : 0);
		}
		/* Rewrite one word per page with its own value: a COW fault. */
		for (off = forks % 2 * PAGE_SZ; off < len; off += 2 * PAGE_SZ)
			*(volatile uint64_t *)(p + off) = *(uint64_t *)(p + off);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		failed += !WIFEXITED(status) || WEXITSTATUS(status);
		forks++;
	}
	ksft_print_msg("fork_storm: %ld forks, %ld children saw bad data\n", forks, failed);
	EXPECT_GT(forks, 0);
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, pattern_errors(p, len, 7));
	storm_end(_metadata, "fork_storm", 0);
}

/* A thread that repeats something until a deadline: its rounds, and bad ones. */
struct loop_worker {
	double deadline;
	long rounds, bad;
};

/*
 * Read the walkers of /proc that take the mmap lock or VMA locks for
 * reading (smaps, numa_maps, maps, pagemap) in a loop; count whole reads.
 */
static void *proc_reader(void *arg)
{
	static const char * const files[] = {
		"/proc/self/smaps", "/proc/self/numa_maps", "/proc/self/maps",
		"/proc/self/pagemap",
	};
	struct loop_worker *w = arg;
	static char buf[1 << 16];

	do {
		int fd = open(files[w->rounds % 4], O_RDONLY);
		ssize_t n;

		if (fd < 0) {
			w->bad++;
			break;
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (w->rounds % 4 == 3)	/* pagemap: the first 64 kB */
				break;
		w->bad += n < 0;
		close(fd);
		w->rounds++;
	} while (now_s() < w->deadline);
	return NULL;
}

/* mremap a region back and forth, mprotect it, munmap and mmap another. */
static void *remap_worker(void *arg)
{
	struct loop_worker *w = arg;
	size_t len = 8 * MIB;
	char *a = map_anon(2 * len, MADV_NOHUGEPAGE), *b = a + len, *p = a, *q;

	if (a == MAP_FAILED) {
		w->bad++;
		return NULL;
	}
	fill_pattern(p, len, 3);
	/*
	 * One round at least, however slow the guest (with PTI, TCG empties
	 * the TLB at every kernel entry): the loops below do the same.
	 */
	do {
		char *to = p == a ? b : a;

		p = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		if (p != to) {
			w->bad++;
			break;
		}
		w->bad += pattern_errors(p, len, 3);
		w->bad += !!mprotect(p, len, PROT_READ);
		w->bad += pattern_errors(p, len, 3);
		w->bad += !!mprotect(p, len, PROT_READ | PROT_WRITE);
		q = map_anon(2 * MIB, 0);
		if (q != MAP_FAILED) {
			fill_pattern(q, 2 * MIB, w->rounds);
			w->bad += pattern_errors(q, 2 * MIB, w->rounds);
			munmap(q, 2 * MIB);
		}
		w->rounds++;
	} while (now_s() < w->deadline);
	munmap(a, 2 * len);
	return NULL;
}

/*
 * munmap, mremap and mprotect in one thread; madvise DONTNEED, FREE,
 * PAGEOUT, COLD and COLLAPSE in another.
 */
TEST_F_TIMEOUT(race, mm_calls, 600)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, MADV_COLD, MADV_COLLAPSE,
	};
	struct loop_worker w = { self->deadline }, r = { self->deadline };
	size_t len = 16 * MIB;
	char *p = map_anon(len, MADV_HUGEPAGE);
	long rounds = 0, bad = 0;
	pthread_t t, reader;

	ASSERT_NE(MAP_FAILED, p);
	START_CLOCK();
	w.deadline = self->deadline;
	r.deadline = self->deadline;
	ASSERT_EQ(0, pthread_create(&t, NULL, remap_worker, &w));
	ASSERT_EQ(0, pthread_create(&reader, NULL, proc_reader, &r));
	do {
		int adv = advice[rounds % 5];

		fill_pattern(p, len, rounds);
		madvise(p, len, adv);	/* COLLAPSE may fail: THP is optional */
		if (adv == MADV_DONTNEED)	/* pages not zero */
			bad += pattern_or_zero_errors(p, len, ~0ULL);
		else if (adv == MADV_FREE)
			bad += pattern_or_zero_errors(p, len, rounds);
		else
			bad += pattern_errors(p, len, rounds);
		rounds++;
	} while (now_s() < self->deadline);
	pthread_join(t, NULL);
	pthread_join(reader, NULL);
	ksft_print_msg("mm_calls: %ld madvise rounds, %ld mremap/mprotect/munmap rounds, %ld reads of smaps/numa_maps/maps/pagemap; bad %ld + %ld + %ld\n",
		       rounds, w.rounds, r.rounds, bad, w.bad, r.bad);
	EXPECT_GT(rounds, 0);
	EXPECT_GT(w.rounds, 0);
	EXPECT_GT(r.rounds, 0);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, w.bad);
	EXPECT_EQ(0, r.bad);
	storm_end(_metadata, "mm_calls", 0);
}

/* Huge pages split by mprotect and DONTNEED, collapsed by MADV_COLLAPSE. */
TEST_F_TIMEOUT(race, thp_split_collapse, 600)
{
	const char *scan = "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs";
	size_t len = 16 * MIB, off;
	char *p = map_anon(len, MADV_HUGEPAGE), old_scan[32];
	long rounds = 0, collapsed = 0, bad = 0;
	int have_scan;

	ASSERT_NE(MAP_FAILED, p);
	/* Let khugepaged collapse behind our back too. */
	have_scan = !swap_setting(scan, "10", old_scan, sizeof(old_scan));
	fill_pattern(p, len, 5);
	START_CLOCK();
	while (now_s() < self->deadline) {
		off = rounds % (len / PMD_SZ) * PMD_SZ;
		bad += !!mprotect(p + off + PAGE_SZ, PAGE_SZ, PROT_READ);
		bad += !!mprotect(p + off + PAGE_SZ, PAGE_SZ, PROT_READ | PROT_WRITE);
		madvise(p + off + 2 * PAGE_SZ, PAGE_SZ, MADV_DONTNEED);
		fill_pattern(p + off + 2 * PAGE_SZ, PAGE_SZ, 5 + (off + 2 * PAGE_SZ) / 8);
		collapsed += !madvise(p, len, MADV_COLLAPSE);
		bad += pattern_errors(p, len, 5);
		rounds++;
	}
	if (have_scan)
		ctl_write_path(scan, old_scan);
	ksft_print_msg("thp_split_collapse: %ld rounds, %ld successful MADV_COLLAPSE, %ld bad\n",
		       rounds, collapsed, bad);
	scenario_end(_metadata, "thp_split_collapse", rounds, bad);
}

#define KSM_GRACE_S 120

/* KSM merges identical pages; writes unmerge them. */
TEST_F_TIMEOUT(race, ksm, 600)
{
	const char *run = "/sys/kernel/mm/ksm/run", *sleep_ms = "/sys/kernel/mm/ksm/sleep_millisecs";
	size_t len = 8 * MIB, off;
	char *p = map_anon(len, MADV_NOHUGEPAGE), old_run[16], old_sleep[16];
	long rounds = 0, merged = 0, most = 0, bad = 0;

	ASSERT_NE(MAP_FAILED, p);
	if (swap_setting(run, "1", old_run, sizeof(old_run)))
		SKIP(return, "KSM is not available");
	swap_setting(sleep_ms, "10", old_sleep, sizeof(old_sleep));
	/* Four kinds of page: 512 copies each. */
	for (off = 0; off < len; off += PAGE_SZ)
		fill_pattern(p + off, PAGE_SZ, off / PAGE_SZ % 4);
	ASSERT_EQ(0, madvise(p, len, MADV_MERGEABLE));
	START_CLOCK();
	/*
	 * ksmd needs two passes over the pages to merge them, and it takes the
	 * mmap lock the storm keeps taking: on a slow guest it may need more
	 * than the scenario's time, so that is extended until it merged.
	 */
	while (now_s() < self->deadline || (!most && now_s() < self->deadline + KSM_GRACE_S)) {
		off = rounds * 37 % (len / PAGE_SZ) * PAGE_SZ;
		/* Unmerge one page by writing its own content back. */
		*(volatile uint64_t *)(p + off) = *(uint64_t *)(p + off);
		for (off = 0; off < len; off += PAGE_SZ)
			bad += pattern_errors(p + off, PAGE_SZ, off / PAGE_SZ % 4);
		merged = file_number("/proc/self/ksm_merging_pages", NULL);
		most = merged > most ? merged : most;
		usleep(50000);
		rounds++;
	}
	madvise(p, len, MADV_UNMERGEABLE);
	ctl_write_path(sleep_ms, old_sleep);
	ctl_write_path(run, old_run);
	ksft_print_msg("ksm: %ld rounds, up to %ld pages merged, %ld bad words\n", rounds, most, bad);
	scenario_end(_metadata, "ksm", most, bad);
}

/* Of the n pages, those not on node (move_pages with no target), or -1. */
static long pages_not_on(void **pages, size_t n, int *status, int node)
{
	long off = 0;
	size_t i;

	if (move_pages(0, n, pages, NULL, status, 0))
		return -1;
	for (i = 0; i < n; i++)
		off += status[i] != node;
	return off;
}

/*
 * Migration is best effort: a page that compaction or another migration has
 * isolated for a moment stays where it was (upstream's migration.c retries
 * too). Given off pages elsewhere, move the n pages to node again until every
 * one is there, a few times at most; returns how many are still elsewhere,
 * or -1.
 */
static long settle_on_node(void **pages, int *nodes, int *status, size_t n, int node,
			   long off)
{
	size_t i;
	int tries;

	for (tries = 0; off > 0 && tries < 10; tries++) {
		usleep(10000);
		for (i = 0; i < n; i++)
			nodes[i] = node;
		if (move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE) < 0)
			return -1;
		off = pages_not_on(pages, n, status, node);
	}
	return off;
}

/* migrate_pages(), move_pages() and mbind() move the data both ways. */
TEST_F_TIMEOUT(race, migration, 600)
{
	size_t len = 16 * MIB, n = len / PAGE_SZ, i;
	char *p = map_anon(len, MADV_NOHUGEPAGE);
	void **pages = calloc(n, sizeof(*pages));
	int *nodes = calloc(n, sizeof(*nodes)), *status = calloc(n, sizeof(*status));
	long rounds = 0, retried = 0, misplaced = 0, bad = 0, off;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_TRUE(pages && nodes && status);
	fill_pattern(p, len, 11);
	for (i = 0; i < n; i++)
		pages[i] = p + i * PAGE_SZ;
	START_CLOCK();
	do {
		int to = rounds % 2, from = !to;
		unsigned long to_mask = 1UL << to, from_mask = 1UL << from;

		switch (rounds % 3) {
		case 0:
			for (i = 0; i < n; i++)
				nodes[i] = to;
			/* > 0: pages not moved, counted below. */
			ASSERT_LE(0, move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE));
			break;
		case 1:
			ASSERT_EQ(0, mbind(p, len, MPOL_BIND, &to_mask, 8 * sizeof(to_mask),
					   MPOL_MF_MOVE));
			ASSERT_EQ(0, mbind(p, len, MPOL_DEFAULT, NULL, 0, 0));
			break;
		case 2:
			ASSERT_LE(0, migrate_pages(0, 8 * sizeof(to_mask), &from_mask, &to_mask));
			break;
		}
		off = pages_not_on(pages, n, status, to);
		ASSERT_LE(0, off);
		retried += off;
		off = settle_on_node(pages, nodes, status, n, to, off);
		ASSERT_LE(0, off);
		misplaced += off;
		bad += pattern_errors(p, len, 11);
		rounds++;
	} while (now_s() < self->deadline);
	ksft_print_msg("migration: %ld rounds of 4096 pages, %ld pages moved again, %ld pages left behind, %ld bad words\n",
		       rounds, retried, misplaced, bad);
	free(pages);
	free(nodes);
	free(status);
	EXPECT_GT(rounds, 0);
	EXPECT_EQ(0, misplaced);
	EXPECT_EQ(0, bad);
	storm_end(_metadata, "migration", 0);
}

/* Swap on zram0, set up once per boot; 0 if there is swap. */
static int ensure_swap(void)
{
	char buf[4096];

	if (read_file("/proc/swaps", buf, sizeof(buf)) > 0 && strchr(buf, '\n') &&
	    strchr(buf, '\n')[1])
		return 0;
	if (ctl_write_path("/sys/block/zram0/disksize", "1G"))
		return -1;
	return system("mkswap /dev/zram0 >/dev/null && swapon /dev/zram0") ? -1 : 0;
}

static long vm_swap_kb(void)
{
	return file_number("/proc/self/status", "VmSwap:");
}

/*
 * Reclaim to zram swap in a memcg of 24 MiB: 40 MiB of anonymous memory and
 * 8 MiB of shared memory go out and come back. The shared pages are written
 * through entries that a swap-in made clean, so their Dirty bit is the only
 * record that they changed.
 */
TEST_F_TIMEOUT(race, reclaim_to_swap, 900)
{
	size_t len = 40 * MIB, shm_len = 8 * MIB, off;
	char *p, *s, pid[16];
	long rounds = 0, bad = 0, swapped = 0;
	double deadline;
	int fd;

	if (ensure_swap())
		SKIP(return, "no swap, and zram0 could not be set up");
	if (!is_dir(CG) && mkdir(CG, 0755))
		SKIP(return, "cannot create a cgroup at " CG);
	ctl_write_path(CGROOT "/cgroup.subtree_control", "+memory");
	ASSERT_EQ(0, ctl_write_path(CG "/memory.max", "24M"));
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_EQ(0, ctl_write_path(CG "/cgroup.procs", pid));
	p = map_anon(len, MADV_NOHUGEPAGE);
	fd = memfd_create("ptreloc-race", 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, shm_len));
	s = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, s);
	fill_pattern(p, len, 21);
	fill_pattern(s, shm_len, 0);
	/* Filling went through swap already: the time starts now. */
	swapped = vm_swap_kb();
	deadline = now_s() + race_seconds();
	do {
		/* Read it all back in (clean entries), then write some of it. */
		bad += pattern_errors(s, shm_len, rounds);
		fill_pattern(s, shm_len, rounds + 1);
		for (off = 0; off < len; off += 8 * MIB)
			bad += pattern_errors(p + off, 8 * MIB, 21 + off / 8);
		madvise(s, shm_len, MADV_PAGEOUT);
		swapped = vm_swap_kb() > swapped ? vm_swap_kb() : swapped;
		rounds++;
	} while (now_s() < deadline);
	bad += pattern_errors(s, shm_len, rounds);
	ctl_write_path(CGROOT "/cgroup.procs", pid);
	ksft_print_msg("reclaim_to_swap: %ld rounds, up to %ld kB swapped out, %ld bad words\n",
		       rounds, swapped, bad);
	EXPECT_GT(rounds, 0);
	EXPECT_GT(swapped, 0);
	EXPECT_EQ(0, bad);
	munmap(p, len);
	munmap(s, shm_len);
	close(fd);
	rmdir(CG);
	/* The storm's new tables are charged to the memcg: ENOMEM is fair. */
	storm_end(_metadata, "reclaim_to_swap", 1);
}

struct uffd_server {
	int uffd;
	char *base;
	uint64_t seed;	/* of the content served for missing pages */
	long served, unprotected, errors;
	volatile int stop;
};

/* Serve missing faults with the pattern, and unprotect write faults. */
static void *uffd_serve(void *arg)
{
	struct uffd_server *u = arg;
	char *page = aligned_alloc(PAGE_SZ, PAGE_SZ);
	struct pollfd pfd = { .fd = u->uffd, .events = POLLIN };
	struct uffd_msg msg;

	while (!u->stop) {
		if (poll(&pfd, 1, 100) <= 0 || read(u->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			u->errors++;
			continue;
		}
		unsigned long addr = msg.arg.pagefault.address & ~(PAGE_SZ - 1);

		if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
			struct uffdio_writeprotect wp = { { addr, PAGE_SZ }, 0 };

			u->errors += !!ioctl(u->uffd, UFFDIO_WRITEPROTECT, &wp);
			u->unprotected++;
		} else {
			struct uffdio_copy copy = { addr, (unsigned long)page, PAGE_SZ, 0 };

			fill_pattern(page, PAGE_SZ, u->seed + (addr - (unsigned long)u->base) / 8);
			u->errors += ioctl(u->uffd, UFFDIO_COPY, &copy) && errno != EEXIST;
			u->served++;
		}
	}
	free(page);
	return NULL;
}

/* userfaultfd: missing faults served by UFFDIO_COPY, write-protect faults. */
TEST_F_TIMEOUT(race, userfaultfd, 600)
{
	size_t len = 2 * MIB;
	char *p = map_anon(len, MADV_NOHUGEPAGE);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffd_server u = { .base = p };
	struct uffdio_register reg = {
		.range = { (unsigned long)p, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = { { (unsigned long)p, len }, UFFDIO_WRITEPROTECT_MODE_WP };
	long rounds = 0, bad = 0;
	pthread_t t;

	ASSERT_NE(MAP_FAILED, p);
	u.uffd = uffd_open(0, &api);
	if (u.uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(-u.uffd));
	ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, pthread_create(&t, NULL, uffd_serve, &u));
	START_CLOCK();
	while (now_s() < self->deadline) {
		u.seed = rounds * 1000;
		ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED));
		bad += pattern_errors(p, len, u.seed);		/* missing faults */
		ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_WRITEPROTECT, &wp));
		fill_pattern(p, len, u.seed + 1);		/* WP faults */
		bad += pattern_errors(p, len, u.seed + 1);
		rounds++;
	}
	u.stop = 1;
	pthread_join(t, NULL);
	ksft_print_msg("userfaultfd: %ld rounds, %ld pages served, %ld unprotected, %ld errors, %ld bad words\n",
		       rounds, u.served, u.unprotected, u.errors, bad);
	EXPECT_GT(u.served, 0);
	EXPECT_GT(u.unprotected, 0);
	EXPECT_EQ(0, u.errors);
	EXPECT_EQ(0, bad);
	close(u.uffd);
	storm_end(_metadata, "userfaultfd", 0);
}

/*
 * Pages held by a pipe after vmsplice() stay the pages the process maps:
 * what it writes after the splice is what the pipe then reads.
 */
TEST_F_TIMEOUT(race, vmsplice_pinned, 600)
{
	size_t len = MIB;
	char *p = map_anon(len, MADV_NOHUGEPAGE), *buf = malloc(len);
	long rounds = 0, bad = 0;
	int fds[2];

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe(fds));
	ASSERT_LE((long)len, fcntl(fds[1], F_SETPIPE_SZ, len));
	START_CLOCK();
	while (now_s() < self->deadline) {
		struct iovec iov = { p, len };
		size_t got = 0;
		ssize_t n;

		fill_pattern(p, len, rounds);
		while (iov.iov_len) {
			n = vmsplice(fds[1], &iov, 1, 0);
			ASSERT_LT(0, n);
			iov.iov_base = (char *)iov.iov_base + n;
			iov.iov_len -= n;
		}
		usleep(20000);			/* let the storm move the tables */
		fill_pattern(p, len, rounds + 1);	/* through the same pages */
		while (got < len) {
			n = read(fds[0], buf + got, len - got);
			ASSERT_LT(0, n);
			got += n;
		}
		bad += pattern_errors(buf, len, rounds + 1);
		rounds++;
	}
	ksft_print_msg("vmsplice_pinned: %ld rounds of 1 MiB spliced, %ld words not coherent\n",
		       rounds, bad);
	scenario_end(_metadata, "vmsplice_pinned", rounds, bad);
}

/* Children with 32 PTE tables each exit while the storm moves them. */
TEST_F_TIMEOUT(race, exit_mid_relocation, 600)
{
	size_t len = 64 * MIB;
	long children = 0, failed = 0;
	int status;
	pid_t pid;

	START_CLOCK();
	while (now_s() < self->deadline) {
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			char *p = map_anon(len, MADV_NOHUGEPAGE);
			size_t off;

			if (p == MAP_FAILED)
				_exit(1);
			for (off = 0; off < len; off += PAGE_SZ)
				p[off] = 1;
			usleep(children * 7919 % 40000);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		failed += !WIFEXITED(status) || WEXITSTATUS(status);
		children++;
	}
	ksft_print_msg("exit_mid_relocation: %ld children of 64 MiB exited\n", children);
	scenario_end(_metadata, "exit_mid_relocation", children, failed);
}

/* An ext2 file system on a loop device at EXT2_DIR; 0 on success. */
static int mount_ext2(void)
{
	if (!access(EXT2_DIR "/lost+found", F_OK))
		return 0;
	mkdir(EXT2_DIR, 0755);
	return system("truncate -s 96M " EXT2_IMG " && mkfs.ext2 -q -F " EXT2_IMG
		      " && mount -o loop " EXT2_IMG " " EXT2_DIR) ? -1 : 0;
}

/*
 * Dirty-bit integrity: write through a shared mapping of a file while the
 * tables move, write it back (msync, or munmap and fsync), drop the page
 * cache and read the data back from the disk.
 */
TEST_F_TIMEOUT(race, dirty_shared_file, 900)
{
	size_t len = 8 * MIB;
	char *buf = malloc(len), *p;
	long rounds = 0, bad = 0;
	int fd;

	ASSERT_NE(NULL, buf);
	if (mount_ext2())
		SKIP(return, "cannot mount ext2 on a loop device");
	fd = open(EXT2_DIR "/data", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	START_CLOCK();
	while (now_s() < self->deadline) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		fill_pattern(p, len, rounds);
		usleep(20000);
		if (rounds % 2) {
			ASSERT_EQ(0, msync(p, len, MS_SYNC));
			munmap(p, len);
		} else {
			munmap(p, len);
			ASSERT_EQ(0, fsync(fd));
		}
		ASSERT_EQ(0, ctl_write_path("/proc/sys/vm/drop_caches", "3"));
		ASSERT_EQ((ssize_t)len, pread(fd, buf, len, 0));
		bad += pattern_errors(buf, len, rounds);
		rounds++;
	}
	close(fd);
	unlink(EXT2_DIR "/data");
	ksft_print_msg("dirty_shared_file: %ld rounds of 8 MiB written back and read from disk, %ld bad words\n",
		       rounds, bad);
	scenario_end(_metadata, "dirty_shared_file", rounds, bad);
}

static long referenced_kb(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	return file_number(path, "Referenced:");
}

/*
 * inject=ad: between copy and flush, ptreloc sets Accessed/Dirty in a
 * sample of old entries of a quiet child, as a CPU with a stale TLB entry
 * would, and the test module checks each bit in the live tables. Some of
 * the child's memory is in transparent huge pages, so that PMD tables hold
 * leaf entries too (entries pointing to tables always have Accessed). The
 * child's Accessed bits were cleared first (clear_refs), so smaps'
 * Referenced, an independent reading, must grow: by 4 kB per PTE and 2 MiB
 * per huge-page PMD entry given Accessed, less those of pages smaps does
 * not count (the zero page, the vDSO's special mappings).
 */
#define HUGE_AT (6UL << 40)

TEST_F_TIMEOUT(race, inject_ad, 600)
{
	size_t len = 16 * MIB;
	int to_child[2], to_parent[2], status, fd;
	long before, after, huge_kb;
	struct storm_counts c;
	char *anon, *shm, *huge, ch, path[64];
	pid_t parent = getpid(), pid;

	ASSERT_EQ(0, storm_stop());
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		die_with_parent(parent);
		anon = map_anon(len, MADV_NOHUGEPAGE);
		fd = memfd_create("ptreloc-inject", 0);
		if (anon == MAP_FAILED || fd < 0 || ftruncate(fd, len))
			_exit(2);
		/* Read faults: writable, clean entries, which can get Dirty. */
		shm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
		if (shm == MAP_FAILED)
			_exit(2);
		fill_pattern(anon, len, 33);
		/*
		 * In a 1 GiB span of its own: the span of the PMD table of the
		 * mmap area holds more rmap-lock owners than a batch may lock
		 * (the race binary's libraries and anon_vma families), and that
		 * table is skipped as crowded.
		 */
		huge = mmap((void *)HUGE_AT, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (huge != (void *)HUGE_AT || madvise(huge, len, MADV_HUGEPAGE))
			_exit(2);
		fill_pattern(huge, len, 34);
		if (ctl_write_path("/proc/self/clear_refs", "1") ||
		    write(to_parent[1], "r", 1) != 1 || read(to_child[0], &ch, 1) != 1)
			_exit(3);
		_exit(pattern_errors(anon, len, 33) || pattern_errors(huge, len, 34) ||
		      pattern_or_zero_errors(shm, len, ~0ULL));
	}
	ASSERT_EQ(1, read(to_parent[0], &ch, 1));
	usleep(100000);		/* the child is asleep in read() */
	before = referenced_kb(pid);
	ASSERT_EQ(0, storm_start(pid, 600, "inject=ad"));
	usleep(race_seconds() * 1e6);
	ASSERT_EQ(0, storm_stop());
	after = referenced_kb(pid);
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	huge_kb = file_number(path, "AnonHugePages:");
	ASSERT_EQ(0, storm_read(&c));
	ASSERT_EQ(1, write(to_child[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ksft_print_msg("inject_ad: %ld relocations (%ld PMD tables moved), %ld entries given A/D: %ld found in the live tables, %ld changed meanwhile, %ld lost; Referenced %ld -> %ld kB for %ld PTEs and %ld huge-page PMD entries given Accessed; AnonHugePages %ld kB\n",
		       c.relocations, c.moved[1], c.ad_injected, c.ad_verified, c.ad_changed,
		       c.ad_lost, before, after, c.ad_injected_pte_accessed,
		       c.ad_injected_huge_accessed, huge_kb);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_GT(c.relocations, 0);
	EXPECT_GT(c.ad_injected, 0);
	EXPECT_GT(c.ad_injected_huge_accessed, 0);
	EXPECT_EQ(0, c.ad_lost);
	EXPECT_EQ(0, c.ad_changed);
	EXPECT_EQ(c.ad_injected, c.ad_verified);
	EXPECT_GT(after - before, 0);
	EXPECT_LE(after - before,
		  4 * c.ad_injected_pte_accessed + 2048 * c.ad_injected_huge_accessed);
	EXPECT_EQ(0, c.anomalies);
	EXPECT_EQ(0, c.errors_other);
}

/* Hugetlb: pages from the pool of 2 MiB pages, grown for the scenario. */
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define GIB (1UL << 30)

/*
 * Grow the pool by n pages, keeping its old size in *nr_hugepages to put
 * back. Returns how many pages are free and unreserved then (n or more when
 * it worked).
 */
static long hugepages_add(long *nr_hugepages, long n)
{
	long old = file_number(NR_HUGEPAGES, NULL);
	char buf[32];

	if (old < 0 || file_number("/proc/meminfo", "Hugepagesize:") != 2048)
		return 0;
	*nr_hugepages = old;
	snprintf(buf, sizeof(buf), "%ld", old + n);
	ctl_write_path(NR_HUGEPAGES, buf);
	return file_number("/proc/meminfo", "HugePages_Free:") -
	       file_number("/proc/meminfo", "HugePages_Rsvd:");
}

/* Shrink the pool back; pages still mapped go when they are unmapped. */
static void hugepages_restore(long *nr_hugepages)
{
	char buf[32];

	if (*nr_hugepages < 0)
		return;
	snprintf(buf, sizeof(buf), "%ld", *nr_hugepages);
	ctl_write_path(NR_HUGEPAGES, buf);
	*nr_hugepages = -1;
}

/*
 * The storm's counters do not say what it skipped, so ask once ourselves,
 * for the whole mm at every level, to each node: the tables over a hugetlb
 * mapping stay where they were, so one of the two requests finds them on
 * the other node and must report them skipped. Adds the hugetlb VMAs each
 * request saw to *vmas and the PMD/PUD tables skipped to *tables.
 */
static void hugetlb_skips(struct __test_metadata *_metadata, const char *what, long *vmas,
			  long *tables)
{
	struct outcome o;
	int node, ret;

	for (node = 0; node < 2; node++) {
		ret = relocate_levels(getpid(), node, 0, 0, "pte,pmd,pud", &o);
		EXPECT_EQ(0, ret) {
			TH_LOG("%s: relocate to node %d: %s", what, node, strerror(-ret));
		}
		EXPECT_LE(1, o.skipped_hugetlb_vmas) {
			TH_LOG("%s: a request to node %d saw no hugetlb VMA", what, node);
		}
		EXPECT_EQ(0, o.anomalies);
		*vmas += o.skipped_hugetlb_vmas;
		*tables += o.skipped_hugetlb_tables;
	}
}

/*
 * Hugetlb and ordinary memory in one process: the storm moves the PTE
 * tables of the ordinary memory and must leave alone the PMD and PUD tables
 * a hugetlb mapping lies in (hugetlb PMD tables may be shared), while both
 * kinds are written and checked.
 */
TEST_F_TIMEOUT(race, hugetlb, 600)
{
	size_t len = 16 * MIB, half;	/* of each kind */
	long rounds = 0, bad = 0, vmas = 0, tables = 0, free_pages;
	uint64_t seeds[2] = { 51, 51 + len / 16 };	/* of each half of both */
	char *h, *p;
	int k;

	free_pages = hugepages_add(&self->nr_hugepages, len / PMD_SZ);
	if (free_pages < (long)(len / PMD_SZ)) {
		hugepages_restore(&self->nr_hugepages);
		SKIP(return, "hugetlb: only %ld of %lu 2 MiB huge pages could be reserved",
		     free_pages, len / PMD_SZ);
	}
	h = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ASSERT_NE(MAP_FAILED, h) {
		TH_LOG("hugetlb: mmap(MAP_HUGETLB): %s", strerror(errno));
	}
	p = map_anon(len, MADV_NOHUGEPAGE);
	ASSERT_NE(MAP_FAILED, p);
	fill_pattern(h, len, seeds[0]);
	fill_pattern(p, len, seeds[0]);
	START_CLOCK();
	while (now_s() < self->deadline) {
		/* Check both halves of both, rewrite one half of each. */
		for (k = 0; k < 2; k++) {
			half = k * len / 2;
			bad += pattern_errors(h + half, len / 2, seeds[k]);
			bad += pattern_errors(p + half, len / 2, seeds[k]);
		}
		k = rounds % 2;
		half = k * len / 2;
		seeds[k] = (uint64_t)rounds << 32;
		fill_pattern(h + half, len / 2, seeds[k]);
		fill_pattern(p + half, len / 2, seeds[k]);
		if (rounds % 16 == 0)
			hugetlb_skips(_metadata, "hugetlb", &vmas, &tables);
		rounds++;
	}
	ksft_print_msg("hugetlb: %ld rounds over 16 MiB of huge pages and 16 MiB of 4 KiB pages, %ld bad words; our requests saw %ld hugetlb VMAs and skipped %ld PMD/PUD tables\n",
		       rounds, bad, vmas, tables);
	EXPECT_EQ(0, bad) {
		TH_LOG("hugetlb: %ld words lost", bad);
	}
	EXPECT_LT(0, tables) {
		TH_LOG("hugetlb: no request reported a PMD or PUD table skipped over the hugetlb mapping");
	}
	munmap(h, len);
	munmap(p, len);
	hugepages_restore(&self->nr_hugepages);
	scenario_end(_metadata, "hugetlb", rounds, bad);
}

/* Whether the page at p is present in our page tables (pagemap bit 63). */
static int page_present(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0)
		return -1;
	if (pread(fd, &e, 8, (unsigned long)p / PAGE_SZ * 8) != 8)
		e = 0;
	close(fd);
	return e >> 63;
}

/* What the child of hugetlb_pmd_share did, in memory both see. */
struct share_report {
	long rounds, shared, bad;
};

#define SHARE_PAGES 8		/* huge pages touched, 128 MiB apart */
#define SHARE_STEP (GIB / SHARE_PAGES)

/*
 * The child of hugetlb_pmd_share: maps the file again and again at the
 * same 1 GiB-aligned address (dropping and sharing the PMD table again),
 * checks that its first fault shared the parent's PMD table (the pages the
 * parent faulted show present without a fault of ours), checks the pages
 * nobody writes, and writes its own.
 */
static void share_child(char *h, int fd, double deadline, struct share_report *r)
{
	long bad = 0;
	int i, before;

	while (now_s() < deadline) {
		if (r->rounds) {
			munmap(h, GIB);
			if (mmap(h, GIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE |
				 MAP_FIXED, fd, 0) != h)
				_exit(2);
		}
		/*
		 * fork() and mmap() leave a shared mapping unpopulated: page 4,
		 * which the child has not touched yet, shows present after a
		 * fault on page 0 only if that fault shared the parent's table.
		 */
		before = page_present(h + 4 * SHARE_STEP);
		(void)*(volatile char *)h;
		r->shared += !before && page_present(h + 4 * SHARE_STEP) == 1;
		for (i = 4; i < SHARE_PAGES - 1; i++)
			bad += pattern_errors(h + i * SHARE_STEP, PMD_SZ, 61 + i);
		fill_pattern(h + (SHARE_PAGES - 1) * SHARE_STEP, PMD_SZ, 1000 + r->rounds);
		bad += pattern_errors(h + (SHARE_PAGES - 1) * SHARE_STEP, PMD_SZ,
				      1000 + r->rounds);
		r->bad = bad;
		r->rounds++;
	}
	_exit(0);
}

/*
 * Hugetlb PMD sharing: a MAP_SHARED hugetlb file over a whole aligned
 * 1 GiB, mapped by two processes, who then share the PMD table of that
 * gigabyte (huge_pmd_share()). The child keeps unmapping and mapping it
 * again (huge_pmd_unshare(), then a share), both write and check, and the
 * storm relocates both: their other tables move, and the PMD and PUD tables
 * over the shared span must not.
 */
TEST_F_TIMEOUT(race, hugetlb_pmd_share, 600)
{
	struct share_report *r = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long rounds = 0, bad = 0, vmas = 0, tables = 0, free_pages;
	char *hole, *h;
	int fd, i, status;
	pid_t parent = getpid(), pid;

	ASSERT_NE(MAP_FAILED, r);
	/* MAP_NORESERVE: only the pages touched come from the pool. */
	free_pages = hugepages_add(&self->nr_hugepages, SHARE_PAGES);
	if (free_pages < SHARE_PAGES) {
		hugepages_restore(&self->nr_hugepages);
		SKIP(return, "hugetlb_pmd_share: only %ld of %d 2 MiB huge pages could be reserved",
		     free_pages, SHARE_PAGES);
	}
	fd = memfd_create("ptreloc-race-share", MFD_HUGETLB);
	if (fd < 0) {
		hugepages_restore(&self->nr_hugepages);
		SKIP(return, "hugetlb_pmd_share: memfd_create(MFD_HUGETLB): %s", strerror(errno));
	}
	ASSERT_EQ(0, ftruncate(fd, GIB));
	/* Sharing needs the whole aligned gigabyte inside one VMA. */
	hole = mmap(NULL, 2 * GIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	h = (char *)(((unsigned long)hole + GIB - 1) & ~(GIB - 1));
	munmap(hole, 2 * GIB);
	h = mmap(h, GIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
		 fd, 0);
	ASSERT_NE(MAP_FAILED, h) {
		TH_LOG("hugetlb_pmd_share: mmap of 1 GiB of hugetlb: %s", strerror(errno));
	}
	for (i = 0; i < SHARE_PAGES; i++)
		fill_pattern(h + i * SHARE_STEP, PMD_SZ, 61 + i);
	START_CLOCK();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		die_with_parent(parent);
		share_child(h, fd, self->deadline, r);
	}
	while (now_s() < self->deadline) {
		/* Pages 0-3 are the parent's, 4-6 nobody's, 7 the child's. */
		for (i = 0; i < 4; i++) {
			fill_pattern(h + i * SHARE_STEP, PMD_SZ, rounds * 8 + i);
			bad += pattern_errors(h + i * SHARE_STEP, PMD_SZ, rounds * 8 + i);
		}
		for (i = 4; i < SHARE_PAGES - 1; i++)
			bad += pattern_errors(h + i * SHARE_STEP, PMD_SZ, 61 + i);
		if (rounds % 16 == 0)
			hugetlb_skips(_metadata, "hugetlb_pmd_share", &vmas, &tables);
		rounds++;
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	/* What the child wrote last, read through the parent's mapping. */
	if (r->rounds)
		bad += pattern_errors(h + (SHARE_PAGES - 1) * SHARE_STEP, PMD_SZ,
				      1000 + r->rounds - 1);
	ksft_print_msg("hugetlb_pmd_share: parent %ld rounds, child %ld rounds of which %ld shared the PMD table; bad words parent %ld child %ld; our requests saw %ld hugetlb VMAs and skipped %ld PMD/PUD tables\n",
		       rounds, r->rounds, r->shared, bad, r->bad, vmas, tables);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
		TH_LOG("hugetlb_pmd_share: the child failed (status 0x%x)", status);
	}
	EXPECT_LT(0, r->rounds);
	EXPECT_EQ(r->rounds, r->shared) {
		TH_LOG("hugetlb_pmd_share: the child's fault shared the PMD table in only %ld of %ld rounds",
		       r->shared, r->rounds);
	}
	EXPECT_EQ(0, r->bad) {
		TH_LOG("hugetlb_pmd_share: the child found %ld bad words", r->bad);
	}
	EXPECT_LT(0, tables) {
		TH_LOG("hugetlb_pmd_share: no request reported a PMD or PUD table skipped over the shared span");
	}
	munmap(h, GIB);
	close(fd);
	hugepages_restore(&self->nr_hugepages);
	scenario_end(_metadata, "hugetlb_pmd_share", rounds, bad);
}

#define THP_SYSFS "/sys/kernel/mm/transparent_hugepage"

/*
 * The reader of shmem_collapse: maps the file with 4 KiB pages only, so
 * that each collapse of the parent's has page tables of ours to retract,
 * and checks the data. A page the parent punched out reads as zeroes until
 * it is written again, word by word: each word holds its pattern or 0.
 */
static void collapse_reader(char *p, size_t len, double deadline)
{
	const uint64_t *w = (const uint64_t *)p;
	long bad = 0;
	size_t i;

	madvise(p, len, MADV_NOHUGEPAGE);
	while (now_s() < deadline && !bad) {
		for (i = 0; i < len / 8; i++)
			bad += w[i] && w[i] != pattern_word(71, i);
		usleep(2000);
	}
	_exit(bad ? 1 : 0);
}

/*
 * File THP collapse: shmem (a memfd) populated with 4 KiB pages is
 * collapsed into huge pages by MADV_COLLAPSE and khugepaged, and split
 * again by punching a page out, over and over. A collapse unmaps the small
 * pages from every process and frees their PTE tables without the mmap
 * lock (retract_page_tables()); a child mapping the file with 4 KiB pages
 * keeps giving it tables to retract while the storm relocates both.
 */
TEST_F_TIMEOUT(race, shmem_collapse, 600)
{
	const char *shmem = THP_SYSFS "/shmem_enabled";
	const char *scan = THP_SYSFS "/khugepaged/scan_sleep_millisecs";
	size_t len = 8 * MIB, off;
	long rounds = 0, collapsed = 0, most_pmd_kb = 0, bad = 0, kb;
	char old_shmem[64], old_scan[32], *p;
	int fd, status, have_scan;
	pid_t parent = getpid(), pid;

	if (access(shmem, W_OK))
		SKIP(return, "shmem_collapse: no shmem THP (%s: %s)", shmem, strerror(errno));
	fd = memfd_create("ptreloc-race-collapse", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* Filled before MADV_HUGEPAGE: 4 KiB pages. */
	fill_pattern(p, len, 71);
	ASSERT_EQ(0, swap_setting(shmem, "advise", old_shmem, sizeof(old_shmem)));
	have_scan = !swap_setting(scan, "10", old_scan, sizeof(old_scan));
	ASSERT_EQ(0, madvise(p, len, MADV_HUGEPAGE));
	START_CLOCK();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		die_with_parent(parent);
		collapse_reader(p, len, self->deadline);
	}
	while (now_s() < self->deadline) {
		/* Split the huge page of this round, then collapse it. */
		off = rounds % (len / PMD_SZ) * PMD_SZ + (rounds * 37 % 512) * PAGE_SZ;
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
				       PAGE_SZ));
		fill_pattern(p + off, PAGE_SZ, 71 + off / 8);
		off &= ~(PMD_SZ - 1);
		collapsed += !madvise(p + off, PMD_SZ, MADV_COLLAPSE);
		kb = file_number("/proc/self/smaps_rollup", "ShmemPmdMapped:");
		most_pmd_kb = kb > most_pmd_kb ? kb : most_pmd_kb;
		bad += pattern_errors(p, len, 71);
		rounds++;
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ctl_write_path(shmem, old_shmem);
	if (have_scan)
		ctl_write_path(scan, old_scan);
	ksft_print_msg("shmem_collapse: %ld rounds, %ld successful MADV_COLLAPSE, up to %ld kB ShmemPmdMapped, %ld bad words\n",
		       rounds, collapsed, most_pmd_kb, bad);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
		TH_LOG("shmem_collapse: the 4 KiB reader found bad data (status 0x%x)", status);
	}
	munmap(p, len);
	close(fd);
	scenario_end(_metadata, "shmem_collapse", rounds, bad);
	if (!most_pmd_kb && _metadata->exit_code == KSFT_PASS)
		SKIP(return, "shmem_collapse: no collapse happened (ShmemPmdMapped stayed 0, %ld MADV_COLLAPSE succeeded)",
		     collapsed);
}

/* Move len bytes with UFFDIO_MOVE, again after EAGAIN; bytes moved. */
static long uffd_move_all(int uffd, char *dst, char *src, size_t len, long *again)
{
	size_t done = 0;

	while (done < len) {
		struct uffdio_move mv = {
			.dst = (unsigned long)dst + done,
			.src = (unsigned long)src + done,
			.len = len - done,
		};

		if (!ioctl(uffd, UFFDIO_MOVE, &mv)) {
			done += mv.move;
			continue;
		}
		if (errno != EAGAIN || *again >= 1000000)
			break;
		/* A table or entry changed under it: move the rest. */
		done += mv.move > 0 ? mv.move : 0;
		++*again;
	}
	return done;
}

/*
 * UFFDIO_MOVE moves pages between two areas under the VMA locks (and, on
 * 6.12, maps both PTE tables without re-checking the PMD entries): 4 MiB
 * go back and forth while the storm replaces those tables. A missing fault
 * (an access to a page that had not arrived) would be served with garbage
 * and counted.
 */
TEST_F_TIMEOUT(race, uffd_move, 600)
{
	size_t len = 4 * MIB;
	char *a = map_anon(2 * len, MADV_NOHUGEPAGE), *b = a + len, *from, *to;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffd_server u = { .base = a, .seed = ~0ULL };
	struct uffdio_register reg = {
		.range = { (unsigned long)a, 2 * len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	long rounds = 0, bad = 0, again = 0, moved;
	pthread_t t;

	ASSERT_NE(MAP_FAILED, a);
	u.uffd = uffd_open(0, &api);
	if (u.uffd < 0)
		SKIP(return, "uffd_move: userfaultfd: %s", strerror(-u.uffd));
	if (!(api.features & UFFD_FEATURE_MOVE))
		SKIP(return, "uffd_move: UFFD_FEATURE_MOVE is not in the UFFDIO_API features");
	/* Before registering: these faults are not missing faults. */
	fill_pattern(a, len, 81);
	ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, pthread_create(&t, NULL, uffd_serve, &u));
	START_CLOCK();
	while (now_s() < self->deadline) {
		from = rounds % 2 ? b : a;
		to = rounds % 2 ? a : b;
		moved = uffd_move_all(u.uffd, to, from, len, &again);
		ASSERT_EQ((long)len, moved) {
			TH_LOG("uffd_move: round %ld moved %ld of %zu bytes: %s", rounds, moved,
			       len, strerror(errno));
		}
		bad += pattern_errors(to, len, 81 + rounds);
		fill_pattern(to, len, 81 + rounds + 1);
		rounds++;
	}
	u.stop = 1;
	pthread_join(t, NULL);
	ksft_print_msg("uffd_move: %ld moves of 4 MiB, %ld retried after EAGAIN, %ld missing faults, %ld bad words\n",
		       rounds, again, u.served, bad);
	EXPECT_EQ(0, u.served) {
		TH_LOG("uffd_move: %ld pages were accessed before they arrived", u.served);
	}
	EXPECT_EQ(0, u.errors);
	close(u.uffd);
	scenario_end(_metadata, "uffd_move", rounds, bad);
}

/* SIGBUS from a poisoned page: where, and back to the sigsetjmp. */
static sigjmp_buf sigbus_env;
static void *volatile sigbus_addr;
static volatile int sigbus_code;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigbus_addr = si->si_addr;
	sigbus_code = si->si_code;
	siglongjmp(sigbus_env, 1);
}

/*
 * Read the first word of the page at p, or poison the page first; returns
 * 1 if that raised SIGBUS for an address in the page (with the error of
 * MADV_HWPOISON, if any, in *err), 0 if not, -1 for a SIGBUS elsewhere.
 */
static int sigbus_at(char *p, int poison, int *err)
{
	*err = 0;
	sigbus_addr = NULL;
	if (sigsetjmp(sigbus_env, 1)) {
		if ((char *)sigbus_addr < p || (char *)sigbus_addr >= p + PAGE_SZ)
			return -1;
		return 1;
	}
	if (poison && madvise(p, PAGE_SZ, MADV_HWPOISON))
		*err = errno;
	(void)*(volatile uint64_t *)p;
	return 0;
}

#define POISONED 3

/*
 * Memory failure: anonymous pages poisoned by MADV_HWPOISON while the storm
 * moves the tables; their entries become hwpoison entries, which must
 * survive every move: each access to a poisoned page raises SIGBUS, and
 * the other pages keep their data. Three pages at most: the guest is
 * discarded, but the memory is lost until then.
 */
TEST_F_TIMEOUT(race, hwpoison, 600)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	size_t len = 4 * MIB, n = len / PAGE_SZ, i, j;
	char *p = map_anon(len, MADV_NOHUGEPAGE);
	long rounds = 0, bad = 0, sigbus = 0, missed = 0, stray = 0;
	size_t poisoned[POISONED];
	int npoisoned = 0, err, r;
	double start;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	fill_pattern(p, len, 91);
	START_CLOCK();
	start = now_s();
	while (now_s() < self->deadline) {
		/* One page at the start, then one a third and two thirds in. */
		if (npoisoned < POISONED &&
		    now_s() >= start + npoisoned * race_seconds() / POISONED) {
			i = (npoisoned * 2 + 1) * n / (2 * POISONED) + rounds % 64;
			r = sigbus_at(p + i * PAGE_SZ, 1, &err);
			if (err == EINVAL && !npoisoned) {
				SKIP(return, "hwpoison: MADV_HWPOISON: EINVAL (no CONFIG_MEMORY_FAILURE)");
			}
			ASSERT_EQ(0, err) {
				TH_LOG("hwpoison: MADV_HWPOISON: %s", strerror(err));
			}
			ASSERT_LE(0, r) {
				TH_LOG("hwpoison: SIGBUS at %p, not in the page poisoned",
				       sigbus_addr);
			}
			poisoned[npoisoned++] = i;
		}
		for (i = 0; i < n; i++) {
			for (j = 0; j < (size_t)npoisoned && poisoned[j] != i; j++)
				;
			if (j == (size_t)npoisoned) {
				bad += pattern_errors(p + i * PAGE_SZ, PAGE_SZ,
						      91 + i * PAGE_SZ / 8);
				continue;
			}
			r = sigbus_at(p + i * PAGE_SZ, 0, &err);
			sigbus += r == 1;
			missed += r == 0;
			stray += r < 0;
		}
		rounds++;
	}
	signal(SIGBUS, SIG_DFL);
	ksft_print_msg("hwpoison: %ld rounds, %d pages poisoned, %ld SIGBUS on them, %ld accesses without, %ld elsewhere; %ld bad words\n",
		       rounds, npoisoned, sigbus, missed, stray, bad);
	EXPECT_LT(0, sigbus);
	EXPECT_EQ(0, missed) {
		TH_LOG("hwpoison: a poisoned page was readable %ld times", missed);
	}
	EXPECT_EQ(0, stray) {
		TH_LOG("hwpoison: %ld SIGBUS for other pages", stray);
	}
	scenario_end(_metadata, "hwpoison", rounds, bad);
}

#define CPU_SYSFS "/sys/devices/system/cpu"

/* Put back online the CPUs in *offline, clearing their bits. */
static void cpus_online(unsigned long *offline)
{
	char path[64];
	int cpu;

	for (cpu = 0; cpu < 64; cpu++) {
		if (!(*offline & 1UL << cpu))
			continue;
		snprintf(path, sizeof(path), CPU_SYSFS "/cpu%d/online", cpu);
		if (!ctl_write_path(path, "1"))
			*offline &= ~(1UL << cpu);
	}
}

/*
 * CPU hotplug: CPUs go offline and come back while threads fault and check
 * memory and the storm flushes every CPU after each batch. Never cpu0. A
 * node may lose its only CPU: its memory stays, and tables can still be
 * allocated there (the main guest's node 1, whose only CPU is cpu1).
 */
TEST_F_TIMEOUT(race, cpu_hotplug, 600)
{
	struct worker w[3];
	pthread_t t[3];
	long rounds = 0, offlined = 0, failed = 0, faults = 0, bad = 0;
	int cpus[64], ncpus = 0, cpu, i;
	char path[64], state[8];

	for (cpu = 1; cpu < 64; cpu++) {
		snprintf(path, sizeof(path), CPU_SYSFS "/cpu%d/online", cpu);
		if (read_file(path, state, sizeof(state)) > 0 && state[0] == '1' &&
		    !access(path, W_OK))
			cpus[ncpus++] = cpu;
	}
	if (!ncpus)
		SKIP(return, "cpu_hotplug: no CPU but cpu0 has an online file ("
		     CPU_SYSFS "/cpuN/online)");
	START_CLOCK();
	for (i = 0; i < 3; i++) {
		w[i] = (struct worker){ self->deadline, 8 * MIB, (uint64_t)(i + 8) << 40 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fault_worker, &w[i]));
	}
	while (now_s() < self->deadline) {
		cpu = cpus[rounds % ncpus];
		snprintf(path, sizeof(path), CPU_SYSFS "/cpu%d/online", cpu);
		if (ctl_write_path(path, "0")) {
			failed++;
		} else {
			self->offline_cpus |= 1UL << cpu;
			offlined++;
			usleep(50000);
		}
		cpus_online(&self->offline_cpus);
		usleep(50000);
		rounds++;
	}
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		faults += w[i].rounds;
		bad += w[i].bad;
	}
	cpus_online(&self->offline_cpus);
	ksft_print_msg("cpu_hotplug: %ld CPUs taken offline and back (%ld refused) among %d, %ld mappings of 8 MiB filled and checked, %ld bad words\n",
		       offlined, failed, ncpus, faults, bad);
	EXPECT_EQ(0, self->offline_cpus) {
		TH_LOG("cpu_hotplug: CPUs 0x%lx did not come back online", self->offline_cpus);
	}
	EXPECT_LT(0, offlined) {
		TH_LOG("cpu_hotplug: no CPU went offline (%ld refused)", failed);
	}
	scenario_end(_metadata, "cpu_hotplug", faults, bad);
}

#define EXEC_ENV "PTRELOC_RACE_EXEC"

/*
 * exec_mid_storm's chain of images. This runs before main(), so an image
 * started for the chain never reaches the harness: with EXEC_ENV set to
 * "<deadline> <fd>", it fills and checks 4 MiB, reports to fd ('.' or
 * 'x'), and execs the next image until the deadline (CLOCK_MONOTONIC, which
 * exec does not reset).
 */
__attribute__((constructor)) static void exec_chain(void)
{
	const char *env = getenv(EXEC_ENV);
	size_t len = 4 * MIB;
	double until;
	char *p;
	int fd;

	if (!env)
		return;
	if (sscanf(env, "%lf %d", &until, &fd) != 2)
		_exit(2);
	p = map_anon(len, MADV_NOHUGEPAGE);
	if (p == MAP_FAILED)
		_exit(3);
	fill_pattern(p, len, getpid());
	usleep(5000);		/* time for the storm to move the new tables */
	if (write(fd, pattern_errors(p, len, getpid()) ? "x" : ".", 1) != 1)
		_exit(4);
	if (now_s() >= until)
		_exit(0);
	execl("/proc/self/exe", "race-exec", (char *)NULL);
	_exit(5);
}

/*
 * exec: two children each exec one image after another, each with 4 MiB
 * of its own, while the storm relocates them (the storm follows them: exec
 * keeps the pid and the parent). exec drops the old mm while a request may
 * hold it; a request on the new one starts fresh.
 */
TEST_F_TIMEOUT(race, exec_mid_storm, 600)
{
	long images = 0, failed = 0, children_failed = 0;
	int fds[2], status, i;
	char env[64], c;
	pid_t pid[2];

	ASSERT_EQ(0, pipe(fds));
	START_CLOCK();
	snprintf(env, sizeof(env), "%f %d", self->deadline, fds[1]);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i]) {
			close(fds[0]);
			setenv(EXEC_ENV, env, 1);
			execl("/proc/self/exe", "race-exec", (char *)NULL);
			_exit(5);
		}
	}
	close(fds[1]);
	while (read(fds[0], &c, 1) == 1) {
		images++;
		failed += c != '.';
	}
	close(fds[0]);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		children_failed += !WIFEXITED(status) || WEXITSTATUS(status);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			TH_LOG("exec_mid_storm: child %d ended with status 0x%x", i, status);
	}
	ksft_print_msg("exec_mid_storm: %ld images exec'd by 2 children, %ld found bad data\n",
		       images, failed);
	EXPECT_EQ(0, children_failed);
	scenario_end(_metadata, "exec_mid_storm", images, failed);
}

TEST_HARNESS_MAIN
