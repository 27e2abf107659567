// SPDX-License-Identifier: GPL-2.0
/*
 * Evacuating a physical range: every user page table in node 1's memory
 * moves out of it, across all processes. Placement is checked with the
 * census of a process whose tables were all on node 1, and independently
 * with KPF_PGTABLE in /proc/kpageflags over the range. Then the memory-
 * offline experiment: offline a node-1 memory block that held page tables,
 * before and after the evacuation, and report what still pins it.
 */
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define MEMORY_SYSFS "/sys/devices/system/memory"
#define KPF_LRU 5
#define KPF_SLAB 7
#define KPF_BUDDY 10
#define KPF_RESERVED 32

/* Memory blocks of a node: [first, last], and pages per block. */
struct blocks {
	unsigned long first, last, pages;
};

static int node_blocks(int nid, struct blocks *b)
{
	char path[128], buf[64];
	struct dirent *de;
	unsigned long n;
	DIR *dir;

	if (read_file(MEMORY_SYSFS "/block_size_bytes", buf, sizeof(buf)) < 0)
		return -1;
	b->pages = strtoul(buf, NULL, 16) / PAGE_SZ;
	b->first = ~0UL;
	b->last = 0;
	snprintf(path, sizeof(path), NODE_SYSFS "/node%d", nid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (sscanf(de->d_name, "memory%lu", &n) != 1)
			continue;
		if (n < b->first)
			b->first = n;
		if (n > b->last)
			b->last = n;
	}
	closedir(dir);
	return b->first == ~0UL ? -1 : 0;
}

/* Page kinds in a PFN range, from /proc/kpageflags. */
struct kinds {
	long pgtable, slab, lru, buddy, reserved, other;
};

static void count_kind(uint64_t f, void *arg)
{
	struct kinds *k = arg;

	if (f >> KPF_PGTABLE & 1)
		k->pgtable++;
	else if (f >> KPF_SLAB & 1)
		k->slab++;
	else if (f >> KPF_LRU & 1)
		k->lru++;
	else if (f >> KPF_BUDDY & 1)
		k->buddy++;
	else if (f >> KPF_RESERVED & 1)
		k->reserved++;
	else
		k->other++;
}

static int count_kinds(unsigned long start, unsigned long end, struct kinds *k)
{
	int fd = open("/proc/kpageflags", O_RDONLY);

	memset(k, 0, sizeof(*k));
	if (fd < 0)
		return -1;
	kpageflags_each(fd, start, end, count_kind, k);
	close(fd);
	return 0;
}

/* Offline a memory block; 0 or -errno. Onlines it again if it went. */
static int try_offline(unsigned long block)
{
	char path[128];
	int ret;

	snprintf(path, sizeof(path), MEMORY_SYSFS "/memory%lu/state", block);
	ret = ctl_write_path(path, "offline");
	if (!ret && ctl_write_path(path, "online"))
		ret = -EIO;	/* offlined, but it would not come back */
	return ret;
}

/* The block of the node with the most page-table pages. */
static unsigned long busiest_block(const struct blocks *b, long *pgtables)
{
	unsigned long n, best = b->first;
	struct kinds k;

	*pgtables = -1;
	for (n = b->first; n <= b->last; n++) {
		if (count_kinds(n * b->pages, (n + 1) * b->pages, &k))
			continue;
		if (k.pgtable > *pgtables) {
			*pgtables = k.pgtable;
			best = n;
		}
	}
	return best;
}

FIXTURE(evacuate) {
	struct blocks node1;
	pid_t child;
	int go;
};

/* A child whose page tables are all allocated on node 1. */
FIXTURE_SETUP(evacuate)
{
	size_t len = 64UL << 20;
	int to_child[2], to_parent[2];
	pid_t parent = getpid();
	char c;

	self->child = 0;
	if (relocation_unavailable())
		SKIP(return, "%s", relocation_unavailable());
	ASSERT_EQ(0, node_blocks(1, &self->node1));
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (!self->child) {
		uint64_t sum;
		char *p;

		die_with_parent(parent);
		bind_to_node(1);
		p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		madvise(p, len, MADV_NOHUGEPAGE);
		fill_pattern(p, len, 7);
		sum = checksum(p, len);
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		_exit(checksum(p, len) == sum ? 0 : 1);
	}
	close(to_child[0]);
	close(to_parent[1]);
	self->go = to_child[1];
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	close(to_parent[0]);
}

FIXTURE_TEARDOWN(evacuate)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
}

TEST_F_TIMEOUT(evacuate, node1_range_and_offline, 900)
{
	const struct blocks *b = &self->node1;
	unsigned long start = b->first * b->pages, end = (b->last + 1) * b->pages;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES], block_pgtables;
	struct kinds range_before, range_after, blk;
	char req[128], text[2048];
	unsigned long block;
	int fd, status, offline_before, offline_after;
	ssize_t n;

	ASSERT_LT(0, census(self->child, before));
	TH_LOG("child's tables on node 1: pud %ld pmd %ld pte %ld",
	       before[PUD][1], before[PMD][1], before[PTE][1]);
	ASSERT_LE(32, before[PTE][1]);

	/* A node-1 block that holds page tables, offlined before evacuating. */
	block = busiest_block(b, &block_pgtables);
	offline_before = try_offline(block);
	TH_LOG("memory%lu (%ld page tables): offline before evacuation: %s", block,
	       block_pgtables, offline_before ? strerror(-offline_before) : "done");

	ASSERT_EQ(0, count_kinds(start, end, &range_before));
	snprintf(req, sizeof(req), "pfn_start=0x%lx pfn_end=0x%lx node=0", start, end);
	fd = open(PTRELOC_DEBUGFS "/evacuate", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ctl_write_fd(fd, req));
	n = pread(fd, text + 1, sizeof(text) - 2, 0);
	close(fd);
	ASSERT_LT(0, n);
	text[0] = '\n';
	text[n + 1] = '\0';
	ASSERT_EQ(0, count_kinds(start, end, &range_after));
	TH_LOG("moved %ld (pte %ld, pmd %ld, pud %ld, deposits %ld) of %ld processes in %ld passes",
	       outcome_field(text, "tables_moved"), outcome_field(text, "pte_moved"),
	       outcome_field(text, "pmd_moved"), outcome_field(text, "pud_moved"),
	       outcome_field(text, "pte_deposited_moved"), outcome_field(text, "processes"),
	       outcome_field(text, "passes"));
	TH_LOG("page tables in range: module %ld -> %ld, kpageflags %ld -> %ld; PGDs in range %ld; skipped: contended %ld crowded %ld hugetlb %ld",
	       outcome_field(text, "pgtables_in_range_before"),
	       outcome_field(text, "pgtables_in_range_after"), range_before.pgtable,
	       range_after.pgtable, outcome_field(text, "pgds_in_range"),
	       outcome_field(text, "skipped_contended"), outcome_field(text, "skipped_crowded"),
	       outcome_field(text, "skipped_hugetlb_tables"));

	/* Every table of the child below the PGD left node 1. */
	ASSERT_LT(0, census(self->child, after));
	ASSERT_EQ(0, after[PTE][1]);
	ASSERT_EQ(0, after[PMD][1]);
	ASSERT_EQ(0, after[PUD][1]);
	ASSERT_EQ(before[PTE][0] + before[PTE][1], after[PTE][0]);
	/* What is left in the range is what the module reports left. */
	ASSERT_LE(range_after.pgtable, outcome_field(text, "pgtables_in_range_after") + 2);
	ASSERT_LT(range_after.pgtable, range_before.pgtable);

	ASSERT_EQ(0, count_kinds(block * b->pages, (block + 1) * b->pages, &blk));
	offline_after = try_offline(block);
	TH_LOG("memory%lu after evacuation: page tables %ld, slab %ld, lru %ld, free %ld, reserved %ld, other %ld; offline: %s",
	       block, blk.pgtable, blk.slab, blk.lru, blk.buddy, blk.reserved, blk.other,
	       offline_after ? strerror(-offline_after) : "done");

	ASSERT_EQ(1, write(self->go, "x", 1));
	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = 0;
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/* Bad ranges and nodes, with their errnos. */
TEST(evacuate_errors)
{
	static const char *const bad[] = {
		"",				/* nothing */
		"pfn_start=0x100",		/* no end */
		"pfn_start=0x200 pfn_end=0x100",	/* inverted */
		"pfn_start=0 pfn_end=0xffffffffffff",	/* beyond memory */
		"pfn_start=0 pfn_end=0x100 pid=1",	/* a relocate key */
		"pfn_start=0 pfn_end=0x100 node=99",	/* no such node */
		"pfn_start=0 pfn_end=0x100 levels=pgd",	/* not movable */
	};
	size_t i;

	if (relocation_unavailable())
		SKIP(return, "%s", relocation_unavailable());
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		TH_LOG("request '%s'", bad[i]);
		ASSERT_EQ(-EINVAL, ctl_write("evacuate", bad[i]));
	}
	/* Node 2 is online without memory (scripts/check's guest). */
	if (is_dir(NODE_SYSFS "/node2") && node_mem_total_kb(2) == 0)
		ASSERT_EQ(-ENODEV, ctl_write("evacuate", "pfn_start=0 pfn_end=0x100 node=2"));
}

TEST_HARNESS_MAIN
