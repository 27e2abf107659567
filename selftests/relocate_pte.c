// SPDX-License-Identifier: GPL-2.0
/*
 * Relocation of PTE tables: every kind of mapping keeps its data, and the
 * tables end up on the target node according to three independent counts:
 * the module's census, the per-node PageTables counters, and KPF_PGTABLE in
 * /proc/kpageflags. And the flush reaches the other CPUs.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <linux/memfd.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define SKIP_UNLESS_AVAILABLE() do {						\
	const char *why = relocation_unavailable();				\
	if (why)								\
		SKIP(return, "%s", why);					\
} while (0)

/* Tests that need more than the harness's default 30 s under TCG. */
FIXTURE(slow) {};

/*
 * Every test runs twice: moving PTE tables only, and moving all three
 * levels (the PMD and PUD tables above the range go too, which PageTables
 * and KPF_PGTABLE see and the census of PTE tables does not).
 */
FIXTURE_VARIANT(slow) {
	const char *levels;
};

FIXTURE_VARIANT_ADD(slow, pte) {
	.levels = "pte",
};

FIXTURE_VARIANT_ADD(slow, all_levels) {
	.levels = "pte,pmd,pud",
};

static const char *levels_under_test = "pte";

/*
 * A relocation of the levels this variant moves, asked again for tables
 * skipped for rmap-lock contention (PMD and PUD tables span other mappings).
 */
static int move_tables(pid_t pid, int node, unsigned long start, unsigned long end,
		       struct outcome *o)
{
	return relocate_levels_settled(pid, node, start, end, levels_under_test, o);
}

/* Relocate [p, p + len) to `to` and check data and placement. */
static void move_and_check(struct __test_metadata *_metadata, void *p,
			   size_t len, int from, int to)
{
	unsigned long start = (unsigned long)p, tables = len / PMD_SZ;
	uint64_t sum = checksum(p, len);
	struct placement before, after;
	struct outcome o;

	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, move_tables(getpid(), to, start, start + len, &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ((long)tables, o.examined_pte);
	ASSERT_EQ((long)tables, o.moved_pte);
	ASSERT_EQ(0, o.anomalies);
	assert_level_moved(_metadata, &before, &after, PTE, (long)tables, o.moved, from, to);
	ASSERT_EQ(sum, checksum(p, len));
}


FIXTURE_SETUP(slow)
{
	levels_under_test = variant->levels;
}

FIXTURE_TEARDOWN(slow) {}

TEST_F_TIMEOUT(slow, anon_private, 300)
{
	size_t len = 64UL << 20;
	struct outcome o;
	char *p;

	SKIP_UNLESS_AVAILABLE();
	p = map_anon_on_node(len, 0, 1);
	ASSERT_NE(MAP_FAILED, p);
	move_and_check(_metadata, p, len, 0, 1);
	/* A second request finds everything in place. */
	ASSERT_EQ(0, move_tables(getpid(), 1, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_EQ(0, o.moved_pte);
	ASSERT_EQ((long)(len / PMD_SZ), o.already_pte);
	move_and_check(_metadata, p, len, 1, 0);
	munmap(p, len);
}

static void shared_file_case(struct __test_metadata *_metadata, int fd, size_t len)
{
	char *p, *copy;

	ASSERT_EQ(0, ftruncate(fd, len));
	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	populate_on_node(p, len, 0, 2);
	move_and_check(_metadata, p, len, 0, 1);
	/* Writes through the moved tables reach the file. */
	fill_pattern(p, len, 3);
	copy = malloc(len);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ((ssize_t)len, pread(fd, copy, len, 0));
	ASSERT_EQ(checksum(p, len), checksum(copy, len));
	free(copy);
	munmap(p, len);
}

TEST_F_TIMEOUT(slow, shared_memfd, 300)
{
	int fd;

	SKIP_UNLESS_AVAILABLE();
	fd = syscall(SYS_memfd_create, "ptreloc", 0);
	ASSERT_LE(0, fd);
	shared_file_case(_metadata, fd, 32UL << 20);
	close(fd);
}

TEST_F_TIMEOUT(slow, shared_tmpfs_file, 300)
{
	char path[] = "/tmp/ptreloc-XXXXXX";
	int fd;

	SKIP_UNLESS_AVAILABLE();
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	shared_file_case(_metadata, fd, 32UL << 20);
	close(fd);
}

TEST_F_TIMEOUT(slow, private_file_after_cow, 300)
{
	size_t len = 16UL << 20, off;
	char path[] = "/tmp/ptreloc-XXXXXX";
	char *p, *file;
	uint64_t file_sum;
	int fd;

	SKIP_UNLESS_AVAILABLE();
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	file = malloc(len);
	ASSERT_NE(NULL, file);
	fill_pattern(file, len, 4);
	file_sum = checksum(file, len);
	ASSERT_EQ((ssize_t)len, pwrite(fd, file, len, 0));
	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, len, MADV_NOHUGEPAGE);
	bind_to_node(0);
	/* Every other page COWed, the rest mapped from the page cache. */
	for (off = 0; off < len; off += PAGE_SZ)
		if ((off / PAGE_SZ) % 2)
			p[off] ^= 0x5a;
		else
			(void)*(volatile char *)(p + off);
	bind_to_node(-1);
	move_and_check(_metadata, p, len, 0, 1);
	for (off = 0; off < len; off += PAGE_SZ) {
		ASSERT_EQ((char)(file[off] ^ ((off / PAGE_SZ) % 2 ? 0x5a : 0)), p[off]);
	}
	ASSERT_EQ((ssize_t)len, pread(fd, file, len, 0));
	ASSERT_EQ(file_sum, checksum(file, len));
	munmap(p, len);
	free(file);
	close(fd);
}

TEST_F_TIMEOUT(slow, fork_child_shares_cow_pages, 300)
{
	size_t len = 32UL << 20;
	int to_child[2], to_parent[2];
	uint64_t sum;
	struct outcome o;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES];
	pid_t child;
	char *p, c;
	int status;

	SKIP_UNLESS_AVAILABLE();
	p = map_anon_on_node(len, 0, 5);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	bind_to_node(0);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		/* Wait until the parent moved our tables, then check and write. */
		if (read(to_child[0], &c, 1) != 1 || checksum(p, len) != sum)
			_exit(1);
		fill_pattern(p, len, 6);
		_exit(checksum(p, len) == sum);
	}
	bind_to_node(-1);
	ASSERT_LT(0, census(child, before));
	ASSERT_EQ(0, move_tables(child, 1, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_LT(0, census(child, after));
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	ASSERT_EQ(before[PTE][1] + o.moved_pte, after[PTE][1]);
	ASSERT_EQ(1, write(to_child[1], "x", 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* The parent's copy is untouched by the child's writes. */
	ASSERT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

TEST_F_TIMEOUT(slow, soft_dirty_bits_preserved, 300)
{
	size_t len = 8UL << 20, i, pages = len / PAGE_SZ;
	uint64_t *pm;
	char *p;
	int fd;

	SKIP_UNLESS_AVAILABLE();
	p = map_anon_on_node(len, 0, 7);
	ASSERT_NE(MAP_FAILED, p);
	/* Clear soft-dirty, then dirty every third page. */
	fd = open("/proc/self/clear_refs", O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "4", 1));
	close(fd);
	for (i = 0; i < pages; i += 3)
		p[i * PAGE_SZ] = 1;
	move_and_check(_metadata, p, len, 0, 1);
	pm = malloc(pages * 8);
	ASSERT_NE(NULL, pm);
	fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(pages * 8), pread(fd, pm, pages * 8, (unsigned long)p / PAGE_SZ * 8));
	close(fd);
	for (i = 0; i < pages; i++) {
		ASSERT_TRUE(pm[i] >> 63 & 1);			/* present */
		ASSERT_EQ(i % 3 == 0, pm[i] >> 55 & 1);		/* soft-dirty */
	}
	free(pm);
	munmap(p, len);
}

/* Read the pagemap entries of [p, p + pages pages) into pm. */
static int read_pagemap(void *p, size_t pages, uint64_t *pm)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, pm, pages * 8, (unsigned long)p / PAGE_SZ * 8);
	close(fd);
	return n == (ssize_t)(pages * 8) ? 0 : -EIO;
}

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_UFFD_WP (1ULL << 57)

/* Relocate [p, p + len) to node 1 without touching the data first. */
static void move_untouched(struct __test_metadata *_metadata, void *p, size_t len)
{
	struct placement before, after;
	struct outcome o;

	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, move_tables(getpid(), 1, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	ASSERT_EQ(0, o.anomalies);
	assert_level_moved(_metadata, &before, &after, PTE, o.moved_pte, o.moved, 0, 1);
}

TEST_F_TIMEOUT(slow, swapped_out_entries, 300)
{
	size_t len = 16UL << 20, pages = len / PAGE_SZ, i, swapped = 0;
	uint64_t *pm_before, *pm_after, sum;
	char swaps[4096];
	char *p;

	SKIP_UNLESS_AVAILABLE();
	if (read_file("/proc/swaps", swaps, sizeof(swaps)) <= 0 || !strchr(swaps, '/'))
		SKIP(return, "no swap device (the guest runner sets up zram)");
	p = map_anon_on_node(len, 0, 13);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	pm_before = malloc(pages * 8);
	pm_after = malloc(pages * 8);
	ASSERT_NE(NULL, pm_before);
	ASSERT_NE(NULL, pm_after);
	ASSERT_EQ(0, madvise(p, len, MADV_PAGEOUT));
	ASSERT_EQ(0, read_pagemap(p, pages, pm_before));
	for (i = 0; i < pages; i++)
		swapped += !!(pm_before[i] & PM_SWAP);
	ASSERT_LT(pages / 2, swapped);
	move_untouched(_metadata, p, len);
	/* The same swap entries, bit for bit, then the data fault back in. */
	ASSERT_EQ(0, read_pagemap(p, pages, pm_after));
	ASSERT_EQ(0, memcmp(pm_before, pm_after, pages * 8));
	ASSERT_EQ(sum, checksum(p, len));
	free(pm_before);
	free(pm_after);
	munmap(p, len);
}

TEST_F_TIMEOUT(slow, uffd_wp_bits_and_markers_preserved, 300)
{
	size_t len = 8UL << 20, pages = len / PAGE_SZ, i;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	uint64_t *pm_before, *pm_after, sum;
	char *p, *copy;
	int uffd, fd;

	SKIP_UNLESS_AVAILABLE();
	uffd = uffd_open(UFFD_USER_MODE_ONLY, &api);
	if (uffd < 0)
		SKIP(return, "userfaultfd write-protect not available");
	fd = syscall(SYS_memfd_create, "ptreloc-wp", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	populate_on_node(p, len, 0, 14);
	sum = checksum(p, len);
	reg.range.start = wp.range.start = (unsigned long)p;
	reg.range.len = wp.range.len = len;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));
	/* Zapping a write-protected shmem PTE leaves a uffd-wp marker. */
	ASSERT_EQ(0, madvise(p, len / 2, MADV_DONTNEED));
	pm_before = malloc(pages * 8);
	pm_after = malloc(pages * 8);
	ASSERT_NE(NULL, pm_before);
	ASSERT_NE(NULL, pm_after);
	ASSERT_EQ(0, read_pagemap(p, pages, pm_before));
	for (i = 0; i < pages; i++) {
		ASSERT_TRUE(pm_before[i] & PM_UFFD_WP);
		ASSERT_EQ(i >= pages / 2, !!(pm_before[i] & PM_PRESENT));
	}
	move_untouched(_metadata, p, len);
	ASSERT_EQ(0, read_pagemap(p, pages, pm_after));
	ASSERT_EQ(0, memcmp(pm_before, pm_after, pages * 8));
	/* Unprotected again, the data are all there. */
	wp.mode = 0;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));
	ASSERT_EQ(sum, checksum(p, len));
	copy = malloc(len);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ((ssize_t)len, pread(fd, copy, len, 0));
	ASSERT_EQ(sum, checksum(copy, len));
	free(copy);
	free(pm_before);
	free(pm_after);
	munmap(p, len);
	close(fd);
	close(uffd);
}

TEST_F_TIMEOUT(slow, prot_none_and_mprotect, 300)
{
	size_t len = 16UL << 20;
	struct placement before, after;
	struct outcome o;
	uint64_t sum;
	char *p;

	SKIP_UNLESS_AVAILABLE();
	p = map_anon_on_node(len, 0, 8);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	ASSERT_EQ(0, mprotect(p, len / 2, PROT_NONE));
	ASSERT_EQ(0, mprotect(p + len / 2, len / 4, PROT_READ));
	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, move_tables(getpid(), 1, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	assert_level_moved(_metadata, &before, &after, PTE, o.moved_pte, o.moved, 0, 1);
	ASSERT_EQ(0, mprotect(p, len, PROT_READ | PROT_WRITE));
	ASSERT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

TEST_F_TIMEOUT(slow, whole_mm_including_stack, 300)
{
	static const size_t stack_len = 256 << 10;
	char stack_buf[256 << 10];
	long counts[LEVELS][MAX_NODES];
	struct outcome o;
	uint64_t sum;

	SKIP_UNLESS_AVAILABLE();
	fill_pattern(stack_buf, stack_len, 9);
	sum = checksum(stack_buf, stack_len);
	/* One request: what it skipped is what stays behind. */
	ASSERT_EQ(0, relocate_levels(getpid(), 1, 0, 0, levels_under_test, &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_LT(0, o.examined_pte);
	ASSERT_LT(0, census(getpid(), counts));
	/* Every table moved, or was reported skipped (rmap lock contention). */
	TH_LOG("examined %ld moved %ld already %ld contended %ld changed %ld",
	       o.examined_pte, o.moved_pte, o.already_pte, o.skipped_contended, o.skipped_changed);
	/* Its spans (glibc's locale files among them) need few enough locks. */
	ASSERT_EQ(0, o.skipped_crowded);
	ASSERT_EQ(o.skipped_contended + o.skipped_changed, counts[PTE][0]);
	ASSERT_EQ(o.moved_pte + o.already_pte, counts[PTE][1]);
	ASSERT_EQ(sum, checksum(stack_buf, stack_len));
	ASSERT_EQ(0, relocate_levels(getpid(), 0, 0, 0, levels_under_test, &o));
	ASSERT_LT(0, census(getpid(), counts));
	ASSERT_EQ(o.skipped_contended + o.skipped_changed, counts[PTE][1]);
	ASSERT_EQ(sum, checksum(stack_buf, stack_len));
}

/*
 * A table whose 2 MiB span maps more distinct files than the module takes
 * rmap locks for at once (32) is skipped and reported, and moves once the
 * span holds fewer.
 */
TEST_F_TIMEOUT(slow, crowded_span_is_skipped, 300)
{
	enum { FILES = 40, FEWER = 24 };
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES];
	unsigned long start;
	struct outcome o;
	char *span;

	SKIP_UNLESS_AVAILABLE();
	/* A 2 MiB-aligned hole, for one PTE table. */
	span = mmap_aligned(PMD_SZ, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, span);
	start = (unsigned long)span;
	ASSERT_EQ(0, munmap(span, PMD_SZ));
	ASSERT_EQ(0, map_files(start, FILES, PAGE_SZ));
	ASSERT_LT(0, census(getpid(), before));
	ASSERT_EQ(0, relocate(getpid(), 1, start, start + PMD_SZ, &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(1, o.examined);
	ASSERT_EQ(0, o.moved);
	ASSERT_EQ(1, o.skipped_crowded);
	ASSERT_LT(0, census(getpid(), after));
	ASSERT_EQ(before[PTE][0], after[PTE][0]);
	ASSERT_EQ(before[PTE][1], after[PTE][1]);

	unmap_files(start, FEWER, FILES, PAGE_SZ);
	ASSERT_EQ(0, relocate(getpid(), 1, start, start + PMD_SZ, &o));
	ASSERT_EQ(1, o.moved);
	ASSERT_EQ(0, o.skipped_crowded);
	ASSERT_LT(0, census(getpid(), after));
	ASSERT_EQ(before[PTE][1] + 1, after[PTE][1]);
	ASSERT_TRUE(files_intact(start, 0, FEWER, PAGE_SZ));
	unmap_files(start, 0, FEWER, PAGE_SZ);
}

TEST_F_TIMEOUT(slow, range_limited_request, 300)
{
	size_t len = 8UL << 20;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES];
	struct outcome o;
	char *a, *b;

	SKIP_UNLESS_AVAILABLE();
	a = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	populate_on_node(a, len, 0, 10);
	populate_on_node(b, len, 0, 11);
	ASSERT_LT(0, census(getpid(), before));
	/* Half of a's range: only the tables that map it move. */
	ASSERT_EQ(0, move_tables(getpid(), 1, (unsigned long)a + PAGE_SZ,
			      (unsigned long)a + len / 2, &o));
	ASSERT_LT(0, census(getpid(), after));
	ASSERT_EQ((long)(len / 2 / PMD_SZ), o.moved_pte);
	ASSERT_EQ(before[PTE][1] + o.moved_pte, after[PTE][1]);
	ASSERT_EQ(before[PTE][0] - o.moved_pte, after[PTE][0]);
	munmap(a, len);
	munmap(b, len);
}

#define WRITERS 4
struct writer {
	char *p;
	size_t len;
	atomic_int *stop;
	unsigned long rounds;
};

/* Writes round numbers into every page until told to stop. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t off;

	while (!atomic_load(w->stop)) {
		w->rounds++;
		for (off = 0; off < w->len; off += PAGE_SZ)
			*(volatile unsigned long *)(w->p + off) = w->rounds;
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, threaded_writers_lose_nothing, 600)
{
	size_t len = 8UL << 20, off;
	struct writer w[WRITERS];
	pthread_t tid[WRITERS];
	atomic_int stop = 0;
	struct outcome o;
	int i, round;

	SKIP_UNLESS_AVAILABLE();
	for (i = 0; i < WRITERS; i++) {
		w[i].p = map_anon_on_node(len, 0, 20 + i);
		ASSERT_NE(MAP_FAILED, w[i].p);
		w[i].len = len;
		w[i].stop = &stop;
		w[i].rounds = 0;
		ASSERT_EQ(0, pthread_create(&tid[i], NULL, writer_main, &w[i]));
	}
	for (round = 0; round < 20; round++) {
		ASSERT_EQ(0, move_tables(getpid(), (round + 1) % 2, 0, 0, &o));
		ASSERT_EQ(0, o.anomalies);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < WRITERS; i++) {
		ASSERT_EQ(0, pthread_join(tid[i], NULL));
		ASSERT_LT(0, w[i].rounds);
		/* Every page holds the last round written to it. */
		for (off = 0; off < len; off += PAGE_SZ) {
			ASSERT_EQ(w[i].rounds, *(unsigned long *)(w[i].p + off));
		}
		munmap(w[i].p, len);
	}
}

TEST_F_TIMEOUT(slow, ping_pong_hundred_times, 600)
{
	size_t len = 16UL << 20;
	struct outcome o;
	long pt_before[2], pt_after[2];
	uint64_t sum;
	char *p;
	int i;

	SKIP_UNLESS_AVAILABLE();
	p = map_anon_on_node(len, 0, 12);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	/* Every level of the range on node 0 first (the upper ones too). */
	ASSERT_EQ(0, move_tables(getpid(), 0, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_EQ(0, settle_freed_tables());
	pt_before[0] = node_pagetables_kb(0);
	pt_before[1] = node_pagetables_kb(1);
	for (i = 1; i <= 100; i++) {
		ASSERT_EQ(0, move_tables(getpid(), i % 2, (unsigned long)p,
				      (unsigned long)p + len, &o));
		ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
		if (i % 10 == 0) {
			ASSERT_EQ(sum, checksum(p, len));
		}
	}
	/* Back on node 0: the counters are where they started. */
	ASSERT_EQ(0, settle_freed_tables());
	pt_after[0] = node_pagetables_kb(0);
	pt_after[1] = node_pagetables_kb(1);
	ASSERT_EQ(pt_before[0], pt_after[0]);
	ASSERT_EQ(pt_before[1], pt_after[1]);
	munmap(p, len);
}

TEST_F_TIMEOUT(slow, process_exits_during_relocation, 600)
{
	long pt_before[2], pt_after[2];
	int i, ok = 0, gone = 0;

	SKIP_UNLESS_AVAILABLE();
	ASSERT_EQ(0, settle_freed_tables());
	pt_before[0] = node_pagetables_kb(0);
	pt_before[1] = node_pagetables_kb(1);
	for (i = 0; i < 10; i++) {
		pid_t child = fork();
		int status, ret;

		ASSERT_LE(0, child);
		if (!child) {
			size_t len = 16UL << 20;
			char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(1);
			bind_to_node(0);
			memset(p, 1, len);
			usleep(1000 * (i % 5));
			_exit(0);
		}
		do {
			ret = move_tables(child, 1 - i % 2, 0, 0, NULL);
			ASSERT_TRUE(ret == 0 || ret == -ESRCH);
			ok += ret == 0;
		} while (ret == 0);
		gone++;
		ASSERT_EQ(child, waitpid(child, &status, 0));
	}
	ASSERT_EQ(10, gone);
	/*
	 * Every table of the exited children was freed, wherever it was (7.3
	 * frees an exiting process's tables after an RCU grace period).
	 */
	ASSERT_EQ(0, settle_freed_tables());
	pt_after[0] = node_pagetables_kb(0);
	pt_after[1] = node_pagetables_kb(1);
	ASSERT_EQ(pt_before[0] + pt_before[1], pt_after[0] + pt_after[1]);
	TH_LOG("%d relocations succeeded before the children exited", ok);
}

/* The figures quoted for a 1 GiB mapping touched with 4 KiB pages. */
TEST_F_TIMEOUT(slow, one_gib_anon_mapping, 1200)
{
	size_t len = 1UL << 30;
	struct placement before, after;
	struct outcome o;
	uint64_t sum;
	char *p;

	SKIP_UNLESS_AVAILABLE();
	if (node_mem_total_kb(0) < (long)(len / 1024) * 3 / 2)
		SKIP(return, "node 0 has less than 1.5 GiB");
	p = map_anon_on_node(len, 0, 15);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, move_tables(getpid(), 1, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_EQ(512, o.moved_pte);
	ASSERT_EQ(0, o.anomalies);
	/* One flush per batch, not per table. */
	ASSERT_LT(0, o.flushes);
	ASSERT_LE(o.flushes, o.batches);
	/* Every batch but the first (of 64) takes replacements allocated ahead. */
	ASSERT_LE(o.moved_pte - 64, o.spares_used);
	ASSERT_LE(o.spares_allocated - o.spares_used, 128);
	assert_level_moved(_metadata, &before, &after, PTE, o.moved_pte, o.moved, 0, 1);
	ASSERT_EQ(sum, checksum(p, len));
	TH_LOG("census pte before: node0 %ld node1 %ld; after: node0 %ld node1 %ld",
	       before.census[PTE][0], before.census[PTE][1],
	       after.census[PTE][0], after.census[PTE][1]);
	TH_LOG("PageTables kB before: node0 %ld node1 %ld; after: node0 %ld node1 %ld",
	       before.pt_kb[0], before.pt_kb[1], after.pt_kb[0], after.pt_kb[1]);
	TH_LOG("KPF_PGTABLE pages before: node0 %ld node1 %ld; after: node0 %ld node1 %ld",
	       before.kpf[0], before.kpf[1], after.kpf[0], after.kpf[1]);
	TH_LOG("moved %ld tables in %ld batches (%ld TLB flushes); elapsed %ld ns, longest mmap-lock hold %ld ns; %ld replacements allocated before the lock, %ld of them used",
	       o.moved_pte, o.batches, o.flushes, o.elapsed_ns, o.longest_hold_ns,
	       o.spares_allocated, o.spares_used);
	/* The same move with other batch sizes, for the choice of the default. */
	{
		static const char *const batches[] = { "8", "64", "512" };
		char old[32];
		int i, node = 1;

		ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", old, sizeof(old)));
		for (i = 0; i < 6; i++) {
			ASSERT_EQ(0, ctl_write("batch", batches[i / 2]));
			node = 1 - node;
			ASSERT_EQ(0, move_tables(getpid(), node, (unsigned long)p,
					      (unsigned long)p + len, &o));
			ASSERT_EQ(512, o.moved_pte);
			TH_LOG("batch %s: %ld batches, elapsed %ld ns, longest hold %ld ns",
			       batches[i / 2], o.batches, o.elapsed_ns, o.longest_hold_ns);
		}
		ASSERT_EQ(0, ctl_write("batch", old));
	}
	ASSERT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

#define FLUSH_PROBE "/sys/kernel/debug/ptreloc_test/flush_probe"

/* A thread pinned to one CPU, reading one page as fast as it can. */
struct spinner {
	const volatile char *p;
	int cpu;
	atomic_long loads;
	atomic_int stop, strayed;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		atomic_store(&s->strayed, 1);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		(void)*s->p;
		atomic_fetch_add_explicit(&s->loads, 1, memory_order_relaxed);
		if (sched_getcpu() != s->cpu)
			atomic_store(&s->strayed, 1);
	}
	return NULL;
}

/* Reads the probe's "key value" lines into moved, aged and accessed. */
static int probe_read(int fd, long *moved, long *aged, long *accessed)
{
	char text[256];

	if (read_fields(fd, text, sizeof(text)) <= 0)
		return -1;
	*moved = outcome_field(text, "moved");
	*aged = outcome_field(text, "aged");
	*accessed = outcome_field(text, "accessed");
	return 0;
}

/*
 * The batch's flush must reach every CPU that may cache a translation
 * through the old table, not only the relocating one. A thread pinned to
 * CPU 1 reads a page in a loop, with its translation cached; the flush
 * probe (ptreloc_test) moves that page's PTE table from CPU 0 and, between
 * the install and the flush, clears the entry's Accessed bit in both
 * tables. The spinner's CPU sets it again, in the new table, only once the
 * flush has thrown its cached translation away. Under TCG only a CR3 write
 * or a flush empties a CPU's TLB: with page-table isolation on (and no
 * PCID) every kernel entry writes CR3, so it is a guest with PTI off that
 * catches a build whose flush stays on the local CPU.
 */
TEST(flush_reaches_a_cpu_spinning_on_the_mapping)
{
	long moved, aged, accessed, loads, requests, moved_total;
	struct spinner s = { .cpu = 1 };
	uint64_t sum;
	pthread_t thread;
	int fd, round, ms;
	char req[128];
	char *p;

	SKIP_UNLESS_AVAILABLE();
	if (access(FLUSH_PROBE, W_OK))
		SKIP(return, "ptreloc_test.ko is not loaded");
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "one CPU only");
	ASSERT_EQ(0, pin_self(0));
	p = map_anon_on_node(PMD_SZ, 0, 5);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, PMD_SZ);
	s.p = p + 17 * PAGE_SZ;
	ASSERT_EQ(0, pthread_create(&thread, NULL, spin, &s));
	while (atomic_load(&s.loads) < 100000)
		usleep(1000);
	/* Requests through the in-kernel API are accounted like debugfs ones. */
	requests = file_number(PTRELOC_DEBUGFS "/stats", "requests ");
	moved_total = file_number(PTRELOC_DEBUGFS "/stats", "\ntables_moved ");
	ASSERT_LE(0, requests);
	fd = open(FLUSH_PROBE, O_RDWR);
	ASSERT_LE(0, fd);
	for (round = 0; round < 4; round++) {
		snprintf(req, sizeof(req), "pid=%d addr=0x%lx node=%d", getpid(),
			 (unsigned long)s.p, round % 2 ? 0 : 1);
		loads = atomic_load(&s.loads);
		ASSERT_EQ(0, ctl_write_fd(fd, req));
		ASSERT_EQ(0, probe_read(fd, &moved, &aged, &accessed));
		ASSERT_EQ(1, moved);
		ASSERT_EQ(1, aged);
		/*
		 * The spinner's next load after the flush sets Accessed: at once,
		 * the flush having waited for its CPU. Without the flush, its
		 * stale translation lasted 0.9 s and more in the stock guest.
		 */
		for (ms = 0; !accessed && ms < 200; ms += 5) {
			usleep(5000);
			ASSERT_EQ(0, probe_read(fd, &moved, &aged, &accessed));
		}
		TH_LOG("round %d (to node %d): Accessed %s after %d ms; CPU %d made %ld loads since the request",
		       round, round % 2 ? 0 : 1, accessed ? "set again" : "still clear", ms,
		       s.cpu, atomic_load(&s.loads) - loads);
		EXPECT_EQ(1, accessed);
	}
	EXPECT_EQ(requests + 4, file_number(PTRELOC_DEBUGFS "/stats", "requests "));
	EXPECT_EQ(moved_total + 4, file_number(PTRELOC_DEBUGFS "/stats", "\ntables_moved "));
	atomic_store(&s.stop, 1);
	pthread_join(thread, NULL);
	close(fd);
	EXPECT_EQ(0, atomic_load(&s.strayed));
	EXPECT_EQ(sum, checksum(p, PMD_SZ));
	munmap(p, PMD_SZ);
}

#define PAUSE "/sys/kernel/debug/ptreloc_test/pause"

struct paused_move {
	int fd;
	char req[128];
	int ret;
};

static void *paused_move(void *arg)
{
	struct paused_move *m = arg;

	m->ret = ctl_write_fd(m->fd, m->req);
	return NULL;
}

/*
 * File THP collapse frees the PTE tables of other processes' mappings
 * (retract_page_tables) under the file's rmap lock and the PMD lock, not
 * their mmap lock: it may free a table that ptreloc collected and has not
 * yet installed a copy of. ptreloc re-checks the PMD entry under the PMD
 * lock, the rmap locks held, and leaves such a table alone. Here a child
 * maps a memfd with 4 KiB pages; its table's relocation stops after
 * collecting it (ptreloc_test's pause); this process's MADV_COLLAPSE on the
 * same file then retracts the child's table; the relocation goes on.
 */
TEST(table_retracted_after_collection_is_left_alone)
{
	struct paused_move m = { .ret = -1 };
	int to_child[2], to_parent[2], status, fd, poll_fd, waited;
	char text[4096], ch, *p, *child_p;
	pthread_t thread;
	uint64_t sum;
	pid_t pid;

	SKIP_UNLESS_AVAILABLE();
	if (access(PAUSE, W_OK))
		SKIP(return, "ptreloc_test.ko is not loaded");
	fd = memfd_create("ptreloc-retract", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, PMD_SZ));
	p = mmap_aligned(PMD_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	fill_pattern(p, PMD_SZ, 61);
	sum = checksum(p, PMD_SZ);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Its own table for the file, on node 0, every entry present. */
		die_with_parent(getppid());
		munmap(p, PMD_SZ);
		bind_to_node(0);
		p = mmap_aligned(PMD_SZ, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || checksum(p, PMD_SZ) != sum)
			_exit(2);
		if (write(to_parent[1], &p, sizeof(p)) != sizeof(p) || read(to_child[0], &ch, 1) != 1)
			_exit(3);
		_exit(checksum(p, PMD_SZ) != sum);
	}
	ASSERT_EQ(sizeof(child_p), read(to_parent[0], &child_p, sizeof(child_p)));
	m.fd = open(PAUSE, O_RDWR);
	ASSERT_LE(0, m.fd);
	snprintf(m.req, sizeof(m.req), "pid=%d addr=0x%lx node=1", pid, (unsigned long)child_p);
	ASSERT_EQ(0, pthread_create(&thread, NULL, paused_move, &m));
	poll_fd = open(PAUSE, O_RDONLY);
	ASSERT_LE(0, poll_fd);
	for (waited = 0; waited < 5000; waited += 10) {
		if (read_fields(poll_fd, text, sizeof(text)) > 0 &&
		    outcome_field(text, "paused") == 1)
			break;
		usleep(10000);
	}
	close(poll_fd);
	ASSERT_EQ(1, outcome_field(text, "paused"));
	ASSERT_EQ(0, madvise(p, PMD_SZ, MADV_COLLAPSE)) {
		TH_LOG("MADV_COLLAPSE: %s", strerror(errno));
		ctl_write_path(PAUSE, "resume");
	}
	EXPECT_EQ(0, ctl_write_path(PAUSE, "resume"));
	pthread_join(thread, NULL);
	ASSERT_EQ(0, m.ret);
	ASSERT_LT(0, read_fields(m.fd, text, sizeof(text)));
	close(m.fd);
	TH_LOG("paused relocation: %s", text);
	EXPECT_EQ(1, outcome_field(text, "resumed"));
	EXPECT_EQ(0, outcome_field(text, "moved"));
	EXPECT_EQ(1, outcome_field(text, "skipped"));
	poll_fd = open(PTRELOC_DEBUGFS "/result", O_RDONLY);
	ASSERT_LE(0, poll_fd);
	ASSERT_LT(0, read_fields(poll_fd, text, sizeof(text)));
	close(poll_fd);
	EXPECT_EQ(1, outcome_field(text, "skipped_changed"));
	EXPECT_LT(0, file_number("/proc/self/smaps_rollup", "ShmemPmdMapped:"));
	ASSERT_EQ(1, write(to_child[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_EQ(sum, checksum(p, PMD_SZ));
	munmap(p, PMD_SZ);
	close(fd);
}

TEST_HARNESS_MAIN
