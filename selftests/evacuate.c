// SPDX-License-Identifier: GPL-2.0
/*
 * Evacuating a physical range: every user page table in node 1's memory
 * moves out of it, across all processes. Placement is checked with the
 * census of a process whose tables were all on node 1, and independently
 * with KPF_PGTABLE in /proc/kpageflags over the range. Then the memory-
 * offline experiment: offline a node-1 memory block that held page tables,
 * before and after the evacuation, and report what still pins it.
 *
 * Variants: the process's main thread has exited (pthread_exit) while
 * another runs on in its mm, and the request is written from inside a new
 * pid namespace, where the processes it must reach have other numbers or
 * none at all.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define KPF_LRU 5
#define KPF_SLAB 7
#define KPF_BUDDY 10
#define KPF_RESERVED 32
/* The outcome text, in memory shared with a writer in another namespace. */
#define TEXT_SIZE 4096

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

FIXTURE_VARIANT(evacuate) {
	bool main_thread_exits;
	bool writer_in_pid_ns;
	/* Try to offline a memory block before and after (slow: once). */
	bool offline;
	/* Other processes with tables in the range exit during the evacuation. */
	bool churn;
};

FIXTURE_VARIANT_ADD(evacuate, plain) {
	.offline = true,
};

FIXTURE_VARIANT_ADD(evacuate, main_thread_exited) {
	.main_thread_exits = true,
};

FIXTURE_VARIANT_ADD(evacuate, from_pid_namespace) {
	.writer_in_pid_ns = true,
};

FIXTURE_VARIANT_ADD(evacuate, others_exiting) {
	.churn = true,
};

static volatile pid_t churn_child;

/* SIGTERM: the forker reaps its last child before it goes. */
static void end_churn(int sig)
{
	if (churn_child > 0) {
		kill(churn_child, SIGKILL);
		waitpid(churn_child, NULL, 0);
	}
	_exit(0);
}

/*
 * Forks, again and again, a short-lived process that makes 8 MiB worth of
 * page tables on node 1 and exits: an evacuation finds processes that are
 * gone, or going, by the time it gets to them. Returns the forker's pid;
 * SIGTERM ends it, and when it has been reaped, all of them are gone.
 */
static pid_t start_churn(void)
{
	pid_t parent = getpid(), churn = fork();
	sigset_t term;

	if (churn)
		return churn;
	die_with_parent(parent);
	bind_to_node(1);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	signal(SIGTERM, end_churn);
	for (;;) {
		sigprocmask(SIG_BLOCK, &term, NULL);
		churn_child = fork();
		if (!churn_child) {
			char *p = mmap_aligned(8UL << 20, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p != MAP_FAILED)
				fill_pattern(p, 8UL << 20, 3);
			_exit(0);
		}
		sigprocmask(SIG_UNBLOCK, &term, NULL);
		if (churn_child > 0)
			waitpid(churn_child, NULL, 0);
		sigprocmask(SIG_BLOCK, &term, NULL);
		churn_child = 0;
		sigprocmask(SIG_UNBLOCK, &term, NULL);
	}
}

/* The child's memory, and the pipes it is driven through. */
struct child_work {
	size_t len;
	int to_child, to_parent;
};

/* Fills the memory, reports ready, waits, exits 0 if it is unchanged. */
static void *child_work(void *arg)
{
	struct child_work *w = arg;
	uint64_t sum;
	char *p, c;

	p = mmap_aligned(w->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	madvise(p, w->len, MADV_NOHUGEPAGE);
	fill_pattern(p, w->len, 7);
	sum = checksum(p, w->len);
	if (write(w->to_parent, "r", 1) != 1 || read(w->to_child, &c, 1) != 1)
		_exit(3);
	_exit(checksum(p, w->len) == sum ? 0 : 1);
}

/* A child whose page tables are all allocated on node 1. */
FIXTURE_SETUP(evacuate)
{
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
		struct child_work w = { 64UL << 20, to_child[0], to_parent[1] };
		pthread_t worker;

		die_with_parent(parent);
		bind_to_node(1);
		if (!variant->main_thread_exits)
			child_work(&w);
		/*
		 * The main thread leaves: a zombie without an mm, while the
		 * worker (which makes every table, from node 1) runs on.
		 */
		if (pthread_create(&worker, NULL, child_work, &w))
			_exit(4);
		pthread_exit(NULL);
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

/*
 * Writes req to evacuate and reads its outcome into text (size bytes,
 * shared memory): from this process, or from pid 1 of a new pid namespace.
 * 0 or -errno.
 */
static int evacuate_request(const char *req, char *text, size_t size, bool in_pid_ns)
{
	pid_t writer = 0;
	int ret, status;

	if (in_pid_ns) {
		writer = fork();
		if (writer < 0)
			return -errno;
		if (writer) {
			if (waitpid(writer, &status, 0) != writer || !WIFEXITED(status))
				return -ECHILD;
			return -WEXITSTATUS(status);
		}
		if (unshare(CLONE_NEWPID))
			_exit(errno);
		writer = fork();
		if (writer < 0)
			_exit(errno);
		if (writer) {
			if (waitpid(writer, &status, 0) != writer || !WIFEXITED(status))
				_exit(ECHILD);
			_exit(WEXITSTATUS(status));
		}
		/* We are pid 1 of the new namespace: our parent is outside it. */
		if (getpid() != 1 || getppid() != 0)
			_exit(EEXIST);
	}
	ret = evacuate_outcome(req, text, size);
	if (in_pid_ns)
		_exit(-ret);
	return ret;
}

TEST_F_TIMEOUT(evacuate, node1_range_and_offline, 900)
{
	const struct blocks *b = &self->node1;
	unsigned long start = b->first * b->pages, end = (b->last + 1) * b->pages;
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES], block_pgtables;
	struct kinds range_before, range_after, blk;
	char req[128], *text;
	unsigned long block;
	int status, offline_before, offline_after, ret;
	pid_t churn = 0;

	text = mmap(NULL, TEXT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, text);

	ASSERT_LT(0, census(self->child, before));
	TH_LOG("child's tables on node 1: pud %ld pmd %ld pte %ld",
	       before[PUD][1], before[PMD][1], before[PTE][1]);
	ASSERT_LE(32, before[PTE][1]);

	/* A node-1 block that holds page tables, offlined before evacuating. */
	block = busiest_block(b, &block_pgtables);
	if (variant->offline) {
		offline_before = try_offline(block);
		TH_LOG("memory%lu (%ld page tables): offline before evacuation: %s", block,
		       block_pgtables, offline_before ? strerror(-offline_before) : "done");
	}

	ASSERT_EQ(0, count_kinds(start, end, &range_before));
	snprintf(req, sizeof(req), "pfn_start=0x%lx pfn_end=0x%lx node=0", start, end);
	if (variant->churn) {
		churn = start_churn();
		ASSERT_LT(0, churn);
		usleep(100000);
	}
	ret = evacuate_request(req, text, TEXT_SIZE, variant->writer_in_pid_ns);
	if (variant->churn) {
		ASSERT_EQ(0, kill(churn, SIGTERM));
		ASSERT_EQ(churn, waitpid(churn, NULL, 0));
		ASSERT_EQ(0, settle_freed_tables());
	}
	ASSERT_EQ(0, ret);
	ASSERT_LT(0, outcome_field(text, "processes"));
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
	if (variant->offline) {
		offline_after = try_offline(block);
		TH_LOG("memory%lu after evacuation: page tables %ld, slab %ld, lru %ld, free %ld, reserved %ld, other %ld; offline: %s",
		       block, blk.pgtable, blk.slab, blk.lru, blk.buddy, blk.reserved, blk.other,
		       offline_after ? strerror(-offline_after) : "done");
	}

	ASSERT_EQ(1, write(self->go, "x", 1));
	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = 0;
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/*
 * A range of whole memory blocks, as a user computes it from
 * block_size_bytes, may end past the last page of memory: it is clamped,
 * and the outcome shows where. Only a range without any memory is refused.
 */
TEST(range_is_clamped_to_memory)
{
	char req[128], text[TEXT_SIZE];
	struct blocks b;
	unsigned long end;

	if (relocation_unavailable())
		SKIP(return, "%s", relocation_unavailable());
	ASSERT_EQ(0, node_blocks(1, &b));
	end = (b.last + 1) * b.pages;
	/* The last block of node 1 (the highest), and one block past it. */
	snprintf(req, sizeof(req), "pfn_start=0x%lx pfn_end=0x%lx node=0",
		 end - b.pages, end + b.pages);
	ASSERT_EQ(0, evacuate_request(req, text, sizeof(text), false));
	TH_LOG("'%s': evacuated [0x%lx, 0x%lx)", req, outcome_field(text, "pfn_start"),
	       outcome_field(text, "pfn_end"));
	ASSERT_EQ((long)(end - b.pages), outcome_field(text, "pfn_start"));
	ASSERT_GE((long)end, outcome_field(text, "pfn_end"));
	ASSERT_LT((long)(end - b.pages), outcome_field(text, "pfn_end"));
	snprintf(req, sizeof(req), "pfn_start=0x%lx pfn_end=0x%lx", end + b.pages,
		 end + 2 * b.pages);
	ASSERT_EQ(-EINVAL, ctl_write("evacuate", req));
}

/*
 * One block of node 0 without node=: the tables go elsewhere in node 0
 * (the nearest node with free memory outside the range), although its
 * allocator hands back pages of the block first.
 */
TEST(one_block_into_its_own_node)
{
	char req[128], text[TEXT_SIZE];
	struct kinds before, after;
	unsigned long block;
	struct blocks b;
	long pgtables;

	if (relocation_unavailable())
		SKIP(return, "%s", relocation_unavailable());
	ASSERT_EQ(0, node_blocks(0, &b));
	block = busiest_block(&b, &pgtables);
	ASSERT_EQ(0, count_kinds(block * b.pages, (block + 1) * b.pages, &before));
	snprintf(req, sizeof(req), "pfn_start=0x%lx pfn_end=0x%lx", block * b.pages,
		 (block + 1) * b.pages);
	ASSERT_EQ(0, evacuate_request(req, text, sizeof(text), false));
	ASSERT_EQ(0, count_kinds(block * b.pages, (block + 1) * b.pages, &after));
	TH_LOG("memory%lu: page tables %ld -> %ld (module: %ld -> %ld), moved %ld to node %ld, %ld processes short of memory",
	       block, before.pgtable, after.pgtable,
	       outcome_field(text, "pgtables_in_range_before"),
	       outcome_field(text, "pgtables_in_range_after"),
	       outcome_field(text, "tables_moved"), outcome_field(text, "node"),
	       outcome_field(text, "enomem_processes"));
	ASSERT_EQ(0, outcome_field(text, "node"));
	ASSERT_EQ(0, outcome_field(text, "enomem_processes"));
	ASSERT_LT(0, outcome_field(text, "tables_moved"));
	ASSERT_LT(after.pgtable, before.pgtable);
	ASSERT_LE(after.pgtable, outcome_field(text, "pgtables_in_range_after") + 2);
}

/* Bad ranges and nodes, with their errnos. */
TEST(evacuate_errors)
{
	static const char *const bad[] = {
		"",				/* nothing */
		"pfn_start=0x100",		/* no end */
		"pfn_start=0x200 pfn_end=0x100",	/* inverted */
		"pfn_start=0xffffffff0 pfn_end=0xffffffffffff",	/* no memory */
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
	/* All memory: no node outside it to move to. */
	ASSERT_EQ(-ENODEV, ctl_write("evacuate", "pfn_start=0 pfn_end=0xffffffffffff"));
	/* Node 2 is online without memory (scripts/check's guest). */
	if (is_dir(NODE_SYSFS "/node2") && node_mem_total_kb(2) == 0)
		ASSERT_EQ(-ENODEV, ctl_write("evacuate", "pfn_start=0 pfn_end=0x100 node=2"));
}

TEST_HARNESS_MAIN
