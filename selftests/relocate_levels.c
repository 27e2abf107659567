// SPDX-License-Identifier: GPL-2.0
/*
 * Relocation of PMD and PUD tables: each level alone and all together, with
 * transparent huge pages (whose deposited PTE tables must follow their PMD
 * table), mappings spread over several PUD and PMD tables, and mremap of a
 * relocated range. Data by checksum, placement by the census per level and
 * by PageTables and KPF_PGTABLE per node.
 */
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define PUD_SZ (1UL << 30)	/* mapped by one PMD table */
#define P4D_SZ (1UL << 39)	/* mapped by one PUD table */
/* Tables of a level's span size that [start, start + len) touches. */
static long spans(unsigned long start, size_t len, unsigned long span)
{
	return (long)(((start + len - 1) / span) - (start / span) + 1);
}

/* Bytes of AnonHugePages in the VMA that starts at p, from smaps. */
static long anon_huge_kb(void *p)
{
	char line[256], start[32];
	long kb = -1;
	int in_vma = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)p);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') > strchr(line, '-'))
			in_vma = !strncmp(line, start, strlen(start));
		if (in_vma && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/*
 * Every test starts with all of this process's page tables on node 0, so
 * that a move to node 1 moves every table in the range.
 */
FIXTURE(levels) {};

FIXTURE_SETUP(levels)
{
	const char *why = relocation_unavailable();
	struct outcome o;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 0, 0, 0, NULL, &o));
	ASSERT_STREQ("ok", o.status);
}

FIXTURE_TEARDOWN(levels) {}

/* Moves one level of [p, p + len) to node 1; checks counts and placement. */
static void move_level(struct __test_metadata *_metadata, char *p, size_t len,
		       const char *name, int level, long expected)
{
	unsigned long start = (unsigned long)p;
	struct placement before, after;
	struct outcome o;

	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, start, start + len, name, &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_STREQ("ok", o.status);
	TH_LOG("levels=%s: moved %ld", name, o.moved);
	ASSERT_EQ(expected, o.moved);
	ASSERT_EQ(0, o.anomalies);
	assert_level_moved(_metadata, &before, &after, level, expected, expected, 0, 1);
}

TEST_F_TIMEOUT(levels, each_level_alone, 300)
{
	size_t len = 64UL << 20;
	unsigned long start;
	uint64_t sum;
	char *p;

	p = map_anon_on_node(len, 0, 1);
	ASSERT_NE(MAP_FAILED, p);
	start = (unsigned long)p;
	sum = checksum(p, len);
	move_level(_metadata, p, len, "pmd", PMD, spans(start, len, PUD_SZ));
	ASSERT_EQ(sum, checksum(p, len));
	move_level(_metadata, p, len, "pud", PUD, spans(start, len, P4D_SZ));
	ASSERT_EQ(sum, checksum(p, len));
	move_level(_metadata, p, len, "pte", PTE, len / PMD_SZ);
	ASSERT_EQ(sum, checksum(p, len));
	/* Writes through the moved tables land. */
	fill_pattern(p, len, 2);
	sum = checksum(p, len);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 0, start, start + len, NULL, NULL));
	ASSERT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

TEST_F_TIMEOUT(levels, all_levels_at_once, 300)
{
	size_t len = 64UL << 20;
	struct placement before, after;
	unsigned long start;
	struct outcome o;
	long pmds, puds;
	uint64_t sum;
	char *p;

	p = map_anon_on_node(len, 0, 3);
	ASSERT_NE(MAP_FAILED, p);
	start = (unsigned long)p;
	sum = checksum(p, len);
	pmds = spans(start, len, PUD_SZ);
	puds = spans(start, len, P4D_SZ);
	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, start, start + len, "pud,pte,pmd", &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	ASSERT_EQ(pmds, o.moved_pmd);
	ASSERT_EQ(puds, o.moved_pud);
	ASSERT_EQ(o.moved_pte + o.moved_pmd + o.moved_pud, o.moved);
	ASSERT_EQ(before.census[PTE][1] + o.moved_pte, after.census[PTE][1]);
	ASSERT_EQ(before.census[PMD][1] + pmds, after.census[PMD][1]);
	ASSERT_EQ(before.census[PUD][1] + puds, after.census[PUD][1]);
	ASSERT_EQ(before.pt_kb[1] + 4 * o.moved, after.pt_kb[1]);
	ASSERT_EQ(before.pt_kb[0] - 4 * o.moved, after.pt_kb[0]);
	ASSERT_EQ(before.kpf[1] + o.moved, after.kpf[1]);
	ASSERT_EQ(before.kpf[0] - o.moved, after.kpf[0]);
	ASSERT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

/* The whole mm, every level: nothing is left on node 0 but the PGD. */
TEST_F_TIMEOUT(levels, whole_mm, 300)
{
	long counts[LEVELS][MAX_NODES];
	struct outcome o;

	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, 0, 0, NULL, &o));
	ASSERT_STREQ("ok", o.status);
	TH_LOG("moved pte %ld pmd %ld pud %ld, contended %ld crowded %ld changed %ld",
	       o.moved_pte, o.moved_pmd, o.moved_pud, o.skipped_contended,
	       o.skipped_crowded, o.skipped_changed);
	ASSERT_LT(0, census(getpid(), counts));
	ASSERT_EQ(0, o.skipped_crowded);
	ASSERT_EQ(o.skipped_contended + o.skipped_changed,
		  counts[PTE][0] + counts[PMD][0] + counts[PUD][0]);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 0, 0, 0, NULL, &o));
}

/* Two PUD tables: the usual one near the top and one at 1 TiB. */
TEST_F_TIMEOUT(levels, second_pud_table, 300)
{
	char *low = (char *)(1UL << 40), *high;
	size_t len = 4UL << 20;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES];
	uint64_t sum_low, sum_high;
	struct outcome o;

	low = mmap(low, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ((char *)(1UL << 40), low);
	high = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, high);
	populate_on_node(low, len, 0, 4);
	populate_on_node(high, len, 0, 5);
	sum_low = checksum(low, len);
	sum_high = checksum(high, len);
	ASSERT_LT(0, census(getpid(), before));
	ASSERT_LE(2, before[PUD][0]);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, 0, 0, "pud", &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_LT(0, census(getpid(), after));
	TH_LOG("PUD tables: %ld on node 0 before, %ld moved", before[PUD][0], o.moved_pud);
	ASSERT_EQ(before[PUD][0], o.moved_pud + o.skipped_contended);
	ASSERT_EQ(before[PUD][1] + o.moved_pud, after[PUD][1]);
	ASSERT_EQ(before[PMD][0], after[PMD][0]);
	ASSERT_EQ(before[PTE][0], after[PTE][0]);
	ASSERT_EQ(sum_low, checksum(low, len));
	ASSERT_EQ(sum_high, checksum(high, len));
	munmap(low, len);
	munmap(high, len);
}

/*
 * Six 2 MiB mappings: four in consecutive 1 GiB spans of one PUD table, two
 * in the next PUD table. A request over all of them moves six PTE tables,
 * six PMD tables and two PUD tables, and nothing in between.
 */
TEST_F_TIMEOUT(levels, sparse_mapping, 300)
{
	static const unsigned long offsets[] = {
		0, PUD_SZ, 2 * PUD_SZ, 3 * PUD_SZ, P4D_SZ, P4D_SZ + PUD_SZ,
	};
	unsigned long base = 2UL << 40;
	struct placement before, after;
	uint64_t sums[6];
	struct outcome o;
	int i;

	for (i = 0; i < 6; i++) {
		char *want = (char *)(base + offsets[i]);
		char *p = mmap(want, PMD_SZ, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		ASSERT_EQ(want, p);
		populate_on_node(p, PMD_SZ, 0, 10 + i);
		sums[i] = checksum(p, PMD_SZ);
	}
	ASSERT_EQ(0, measure(getpid(), &before));
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, base, base + P4D_SZ + 2 * PUD_SZ, NULL, &o));
	ASSERT_EQ(0, measure(getpid(), &after));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(6, o.moved_pte);
	ASSERT_EQ(6, o.moved_pmd);
	ASSERT_EQ(2, o.moved_pud);
	ASSERT_EQ(before.census[PTE][1] + 6, after.census[PTE][1]);
	ASSERT_EQ(before.census[PMD][1] + 6, after.census[PMD][1]);
	ASSERT_EQ(before.census[PUD][1] + 2, after.census[PUD][1]);
	ASSERT_EQ(before.pt_kb[1] + 4 * 14, after.pt_kb[1]);
	ASSERT_EQ(before.kpf[1] + 14, after.kpf[1]);
	for (i = 0; i < 6; i++) {
		char *p = (char *)(base + offsets[i]);

		ASSERT_EQ(sums[i], checksum(p, PMD_SZ));
		munmap(p, PMD_SZ);
	}
}

/*
 * A PMD table maps 1 GiB, and moving it takes the rmap locks of every VMA
 * in that span, not only of those in the requested range (which would let
 * an rmap walker of a VMA outside the range use the old table meanwhile).
 * Forty files in 2 MiB steps of one span are more locks than a batch may
 * hold (32): a request for the first 2 MiB alone skips the table as
 * crowded. With twenty-four of the files gone, the same request moves it.
 */
TEST_F_TIMEOUT(levels, pmd_move_locks_its_whole_span, 300)
{
	unsigned long base = 4UL << 40;
	struct outcome o;

	ASSERT_EQ(0, map_files(base, 40, PMD_SZ));
	ASSERT_EQ(0, relocate_levels(getpid(), 1, base, base + PMD_SZ, "pmd", &o));
	TH_LOG("40 files: moved %ld, already %ld, crowded %ld", o.moved_pmd, o.already,
	       o.skipped_crowded);
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(0, o.already);
	ASSERT_EQ(0, o.moved_pmd);
	ASSERT_EQ(1, o.skipped_crowded);
	unmap_files(base, 16, 40, PMD_SZ);
	ASSERT_EQ(0, relocate_levels(getpid(), 1, base, base + PMD_SZ, "pmd", &o));
	TH_LOG("16 files: moved %ld, crowded %ld", o.moved_pmd, o.skipped_crowded);
	ASSERT_EQ(1, o.moved_pmd);
	ASSERT_EQ(0, o.skipped_crowded);
	ASSERT_EQ(0, o.anomalies);
	ASSERT_TRUE(files_intact(base, 0, 16, PMD_SZ));
	unmap_files(base, 0, 16, PMD_SZ);
}

/*
 * Two PTE tables whose spans hold twenty files each: together more rmap
 * locks than a batch may hold, each alone fewer. The second table starts a
 * new batch instead of being skipped: both move, in two batches.
 */
TEST_F_TIMEOUT(levels, batch_ends_at_the_rmap_lock_limit, 300)
{
	unsigned long base = 5UL << 40;
	struct outcome o;

	ASSERT_EQ(0, map_files(base, 20, PAGE_SZ));
	ASSERT_EQ(0, map_files(base + PMD_SZ, 20, PAGE_SZ));
	ASSERT_EQ(0, relocate_levels(getpid(), 1, base, base + 2 * PMD_SZ, "pte", &o));
	TH_LOG("moved %ld in %ld batches, crowded %ld, contended %ld", o.moved_pte, o.batches,
	       o.skipped_crowded, o.skipped_contended);
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(2, o.moved_pte);
	ASSERT_EQ(2, o.batches);
	ASSERT_EQ(0, o.skipped_crowded);
	ASSERT_EQ(0, o.anomalies);
	ASSERT_TRUE(files_intact(base, 0, 20, PAGE_SZ));
	ASSERT_TRUE(files_intact(base + PMD_SZ, 0, 20, PAGE_SZ));
	unmap_files(base, 0, 20, PAGE_SZ);
	unmap_files(base + PMD_SZ, 0, 20, PAGE_SZ);
}

/* A relocated range moved elsewhere by mremap keeps its data. */
TEST_F_TIMEOUT(levels, mremap_of_relocated_range, 300)
{
	size_t len = 8UL << 20;
	char *p, *q, *dst = (char *)(3UL << 40);
	unsigned long start;
	struct outcome o;
	uint64_t sum;

	p = map_anon_on_node(len, 0, 20);
	ASSERT_NE(MAP_FAILED, p);
	start = (unsigned long)p;
	sum = checksum(p, len);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, start, start + len, NULL, &o));
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	/* Whole PMD entries move (move_normal_pmd): the PTE tables go along. */
	q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, q);
	ASSERT_EQ(sum, checksum(q, len));
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 0, (unsigned long)q, (unsigned long)q + len,
				     NULL, &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(sum, checksum(q, len));
	munmap(q, len);
}

/* Maps len bytes of THP-backed anonymous memory, or says why not. */
static char *map_thp(size_t len, uint64_t seed)
{
	char *p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_HUGEPAGE)) {
		munmap(p, len);
		return NULL;
	}
	bind_to_node(0);
	fill_pattern(p, len, seed);
	bind_to_node(-1);
	if (anon_huge_kb(p) <= 0) {
		munmap(p, len);
		return NULL;
	}
	return p;
}

/*
 * A PMD table that maps huge pages carries the PTE tables deposited for
 * them. After it moves, splitting a huge page (MADV_DONTNEED of part of it)
 * withdraws a deposited table from the new PMD table.
 */
TEST_F_TIMEOUT(levels, thp_deposit_follows_pmd_table, 300)
{
	size_t len = 8UL << 20, half = PMD_SZ / 2;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES], huge;
	struct placement pl0, pl1;
	unsigned long start;
	struct outcome o;
	uint64_t sum_rest;
	char *p;
	size_t i;

	p = map_thp(len, 30);
	if (!p)
		SKIP(return, "no transparent huge pages here");
	start = (unsigned long)p;
	huge = anon_huge_kb(p) / 2048;
	TH_LOG("%ld huge pages", huge);
	sum_rest = checksum(p + PMD_SZ, len - PMD_SZ);
	/* The PMD table moves; its deposits stay where they are. */
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, start, start + len, "pmd", &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(spans(start, len, PUD_SZ), o.moved_pmd);
	ASSERT_EQ(0, o.anomalies);
	/* The PTE level moves the deposited tables: one per huge page. */
	ASSERT_EQ(0, measure(getpid(), &pl0));
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, start, start + len, "pte", &o));
	ASSERT_EQ(0, measure(getpid(), &pl1));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(0, o.moved_pte);
	ASSERT_EQ(huge, o.deposits_moved);
	ASSERT_EQ(pl0.pt_kb[1] + 4 * huge, pl1.pt_kb[1]);
	ASSERT_EQ(pl0.kpf[1] + huge, pl1.kpf[1]);
	ASSERT_EQ(pl0.kpf[0] - huge, pl1.kpf[0]);
	/*
	 * Split the first huge page: a deposited table is withdrawn from the
	 * new PMD table and mapped, and it is one that moved to node 1.
	 */
	ASSERT_LT(0, census(getpid(), before));
	ASSERT_EQ(0, madvise(p + half, half, MADV_DONTNEED));
	ASSERT_LT(0, census(getpid(), after));
	ASSERT_EQ(before[PTE][1] + 1, after[PTE][1]);
	ASSERT_EQ(before[PTE][0], after[PTE][0]);
	for (i = half; i < PMD_SZ; i += PAGE_SZ)
		ASSERT_EQ(0, p[i]);
	ASSERT_EQ(sum_rest, checksum(p + PMD_SZ, len - PMD_SZ));
	/* Everything back, the split table with it. */
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 0, start, start + len, NULL, &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_EQ(1, o.moved_pte);
	ASSERT_EQ(huge - 1, o.deposits_moved);
	ASSERT_EQ(sum_rest, checksum(p + PMD_SZ, len - PMD_SZ));
	munmap(p, len);
}

/*
 * khugepaged's collapse (MADV_COLLAPSE runs it synchronously) of 4 KiB pages
 * whose tables were relocated deposits a relocated PTE table; that PMD table
 * then moves back with the deposit, and a split withdraws it.
 */
TEST_F_TIMEOUT(levels, collapse_after_relocation, 300)
{
	size_t len = 4UL << 20;
	uint64_t sum, sum_rest;
	unsigned long start;
	struct outcome o;
	char *p;

	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	start = (unsigned long)p;
	bind_to_node(0);
	fill_pattern(p, len, 40);
	bind_to_node(-1);
	sum = checksum(p, len);
	sum_rest = checksum(p + PMD_SZ, len - PMD_SZ);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, start, start + len, NULL, &o));
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	if (madvise(p, len, MADV_COLLAPSE) || anon_huge_kb(p) <= 0) {
		munmap(p, len);
		SKIP(return, "MADV_COLLAPSE did not make huge pages here");
	}
	TH_LOG("AnonHugePages %ld kB after collapse", anon_huge_kb(p));
	ASSERT_EQ(sum, checksum(p, len));
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 0, start, start + len, NULL, &o));
	ASSERT_STREQ("ok", o.status);
	/* The deposited tables are the relocated PTE tables: on node 1. */
	ASSERT_EQ(anon_huge_kb(p) / 2048, o.deposits_moved);
	ASSERT_EQ(sum, checksum(p, len));
	ASSERT_EQ(0, madvise(p + PMD_SZ / 2, PAGE_SZ, MADV_DONTNEED));
	ASSERT_EQ(0, p[PMD_SZ / 2]);
	ASSERT_EQ(sum_rest, checksum(p + PMD_SZ, len - PMD_SZ));
	munmap(p, len);
}

static void log_census(struct __test_metadata *_metadata, const char *when,
		       long c[LEVELS][MAX_NODES])
{
	TH_LOG("census %s: pgd %ld/%ld pud %ld/%ld pmd %ld/%ld pte %ld/%ld (node0/node1)",
	       when, c[PGD][0], c[PGD][1], c[PUD][0], c[PUD][1], c[PMD][0], c[PMD][1],
	       c[PTE][0], c[PTE][1]);
}

/*
 * A process with THP-backed memory and 4 KiB pages in two PUD tables (the
 * usual one near the top and one at 1 TiB), all of it moved to node 1: the
 * census per level before and after, and every level's count on node 0
 * afterwards is what the request reports skipped.
 */
TEST_F_TIMEOUT(levels, thp_and_small_pages_over_two_pud_tables, 300)
{
	char *low = (char *)(1UL << 40), *thp;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES];
	size_t len = 16UL << 20;
	uint64_t sum_low, sum_thp;
	struct outcome o;

	low = mmap(low, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ((char *)(1UL << 40), low);
	populate_on_node(low, len, 0, 50);
	thp = map_thp(len, 51);
	if (!thp)
		SKIP(return, "no transparent huge pages here");
	sum_low = checksum(low, len);
	sum_thp = checksum(thp, len);
	ASSERT_LT(0, census(getpid(), before));
	log_census(_metadata, "before", before);
	ASSERT_EQ(0, relocate_levels_settled(getpid(), 1, 0, 0, NULL, &o));
	ASSERT_STREQ("ok", o.status);
	ASSERT_LT(0, census(getpid(), after));
	log_census(_metadata, "after", after);
	TH_LOG("moved pte %ld pmd %ld pud %ld deposits %ld; %ld kB of huge pages",
	       o.moved_pte, o.moved_pmd, o.moved_pud, o.deposits_moved, anon_huge_kb(thp));
	ASSERT_LE(2, after[PUD][1]);
	ASSERT_EQ(0, o.skipped_crowded);
	ASSERT_EQ(o.skipped_contended + o.skipped_changed,
		  after[PTE][0] + after[PMD][0] + after[PUD][0]);
	ASSERT_EQ(anon_huge_kb(thp) / 2048, o.deposits_moved);
	ASSERT_EQ(sum_low, checksum(low, len));
	ASSERT_EQ(sum_thp, checksum(thp, len));
	munmap(low, len);
	munmap(thp, len);
}

TEST_HARNESS_MAIN
