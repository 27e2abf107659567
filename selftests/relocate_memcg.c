// SPDX-License-Identifier: GPL-2.0
/*
 * Relocation and memory cgroups and signals: new tables are charged where
 * the tables they replace are, whose page-table and VmPTE counts do not
 * change, even after the process moved to another cgroup; a memcg at its
 * limit makes a request fail with ENOMEM, leaving every table either moved
 * or untouched, and makes an evacuation pass that process by and go on; a
 * signal interrupts a request waiting for another one on the same process
 * (EINTR).
 */
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define CGROOT "/sys/fs/cgroup"
#define CG CGROOT "/ptreloc-test"
#define CG2 CGROOT "/ptreloc-test2"
#define MAP_LEN (64UL << 20)
#define BIG_LEN (512UL << 20)
#define SPARSE_LEN (16UL << 30)

/*
 * A child that maps and fills len bytes with tables on node `node`; with a
 * stride, it writes one word per stride only (many tables, little memory).
 */
struct target {
	int node;
	size_t stride;
	size_t len;
	pid_t pid;
	int go;		/* write a byte: check the data and exit */
	int status;	/* the child's checksum verdict */
	char *p;
};

/* The child's words, each written once: all of them, or one per stride. */
static uint64_t fill_target(struct target *t)
{
	uint64_t sum = 0;
	size_t off;

	if (!t->stride) {
		fill_pattern(t->p, t->len, 42);
		return checksum(t->p, t->len);
	}
	for (off = 0; off < t->len; off += t->stride) {
		*(uint64_t *)(t->p + off) = pattern_word(42, off);
		sum += pattern_word(42, off);
	}
	return sum;
}

static uint64_t target_sum(struct target *t)
{
	uint64_t sum = 0;
	size_t off;

	if (!t->stride)
		return checksum(t->p, t->len);
	for (off = 0; off < t->len; off += t->stride)
		sum += *(uint64_t *)(t->p + off);
	return sum;
}

static int start_target_on(struct target *t, const char *cgroup, size_t len, int node,
			   size_t stride)
{
	int to_child[2], to_parent[2];
	pid_t parent;
	char c;

	if (pipe(to_child) || pipe(to_parent))
		return -1;
	t->node = node;
	t->stride = stride;
	t->len = len;
	t->p = mmap_aligned(len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->p == MAP_FAILED)
		return -1;
	parent = getpid();
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (!t->pid) {
		char pid[16];
		uint64_t sum;

		die_with_parent(parent);
		snprintf(pid, sizeof(pid), "%d", getpid());
		if (cgroup && ctl_write_path(cgroup, pid))
			_exit(2);
		madvise(t->p, len, MADV_NOHUGEPAGE);
		bind_to_node(t->node);
		sum = fill_target(t);
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		_exit(target_sum(t) == sum ? 0 : 1);
	}
	close(to_child[0]);
	close(to_parent[1]);
	t->go = to_child[1];
	if (read(to_parent[0], &c, 1) != 1)
		return -1;
	close(to_parent[0]);
	return 0;
}

static int start_target(struct target *t, const char *cgroup, size_t len)
{
	return start_target_on(t, cgroup, len, 0, 0);
}

/* Let the target check its data; returns its exit status. */
static int finish_target(struct target *t)
{
	int status;

	if (write(t->go, "x", 1) != 1 || waitpid(t->pid, &status, 0) != t->pid)
		return -1;
	close(t->go);
	munmap(t->p, t->len);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static long vm_pte_kb(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return file_number(path, "VmPTE:");
}

/* A memory cgroup for the target, created fresh. */
FIXTURE(memcg) {
	int ready;
};

FIXTURE_SETUP(memcg)
{
	const char *why = relocation_unavailable();

	self->ready = 0;
	if (why)
		SKIP(return, "%s", why);
	if (!is_dir(CGROOT "/ptreloc-test")) {
		char controllers[256];

		if (read_file(CGROOT "/cgroup.controllers", controllers,
			      sizeof(controllers)) < 0 &&
		    mount("cgroup2", CGROOT, "cgroup2", 0, NULL))
			SKIP(return, "cgroup2 not available");
		if (ctl_write_path(CGROOT "/cgroup.subtree_control", "+memory") ||
		    mkdir(CG, 0755))
			SKIP(return, "cannot create a memory cgroup");
	}
	self->ready = 1;
}

FIXTURE_TEARDOWN(memcg)
{
	if (self->ready) {
		rmdir(CG2);
		rmdir(CG);
	}
}

/* Sets memory.max of cgroup cg to what it uses now plus `pages` pages. */
static int limit_to_current_plus(const char *cg, long pages)
{
	char path[128], limit[32];
	long current;

	snprintf(path, sizeof(path), "%s/memory.current", cg);
	current = file_number(path, NULL);
	if (current < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/memory.swap.max", cg);
	if (ctl_write_path(path, "0"))
		return -1;
	snprintf(limit, sizeof(limit), "%ld", current + pages * 4096);
	snprintf(path, sizeof(path), "%s/memory.max", cg);
	return ctl_write_path(path, limit);
}

/*
 * The page-table count of a memcg, as of a stats flush that started after
 * the caller's last change to it. A read of memory.stat flushes the stats
 * only once more than 64 updates per online CPU are pending; a relocation of
 * 32 tables makes 64 (32 charged, 32 uncharged), so a read right after it
 * may show the count from before, or with the new tables and without the
 * freed ones (which made a test fail once). The kernel flushes every memcg
 * every 2 s (FLUSH_TIME, both kernel lines): wait for one. The flush covers
 * every memcg, so a second cgroup may be read right after.
 */
static long memcg_pagetables(const char *cg)
{
	char path[256];

	/* The old tables are uncharged when they are freed, after a grace period. */
	if (settle_freed_tables())
		return -1;
	sleep(4);
	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	return file_number(path, "\npagetables ");
}

/*
 * A process that faulted its tables in one cgroup and moved to another:
 * their replacements are charged where they were (cgroup v2 leaves charges
 * behind), so neither cgroup's page-table count changes, and the new
 * cgroup's limit, which they would exceed, is not in the way.
 */
TEST_F_TIMEOUT(memcg, charge_stays_after_the_process_moved, 300)
{
	long a_before, a_after, b_before, b_after;
	char pid[16], old_batch[32];
	struct outcome o;
	struct target t;
	int ret;

	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", old_batch, sizeof(old_batch)));
	ASSERT_EQ(0, start_target(&t, CG "/cgroup.procs", BIG_LEN));
	ASSERT_TRUE(mkdir(CG2, 0755) == 0 || errno == EEXIST);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	ASSERT_EQ(0, ctl_write_path(CG2 "/cgroup.procs", pid));
	a_before = memcg_pagetables(CG);
	b_before = file_number(CG2 "/memory.stat", "\npagetables ");
	ASSERT_LE((long)(BIG_LEN / PMD_SZ * 4096), a_before);
	/* One batch: more tables than the per-CPU charge stock covers. */
	ASSERT_EQ(0, ctl_write("batch", "4096"));
	ASSERT_EQ(0, limit_to_current_plus(CG2, 16));
	ret = relocate(t.pid, 1, (unsigned long)t.p, (unsigned long)t.p + BIG_LEN, &o);
	ASSERT_EQ(0, ctl_write_path(CG2 "/memory.max", "max"));
	ASSERT_EQ(0, ctl_write("batch", old_batch));
	a_after = memcg_pagetables(CG);
	b_after = file_number(CG2 "/memory.stat", "\npagetables ");
	TH_LOG("pagetables: first cgroup %ld -> %ld, second %ld -> %ld (relocate: %d, %ld moved)",
	       a_before, a_after, b_before, b_after, ret, o.moved);
	ASSERT_EQ(0, ret);
	ASSERT_EQ((long)(BIG_LEN / PMD_SZ), o.moved);
	ASSERT_EQ(a_before, a_after);
	ASSERT_EQ(b_before, b_after);
	ASSERT_EQ(0, finish_target(&t));
}

/*
 * An evacuation meets a process at its memcg limit: that process keeps
 * what could not move and is counted; every other process's tables leave
 * the range all the same.
 */
TEST_F_TIMEOUT(memcg, evacuation_passes_a_process_at_its_limit, 600)
{
	long limited_after[LEVELS][MAX_NODES], free_after[LEVELS][MAX_NODES];
	char req[128], text[4096], old_batch[32];
	struct target limited, unlimited;
	struct blocks b;
	int ret;

	ASSERT_EQ(0, node_blocks(1, &b));
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", old_batch, sizeof(old_batch)));
	/*
	 * 8192 PTE tables, one word each: old tables are uncharged as the new
	 * ones are charged, so every pass moves another memcg stock's worth
	 * (64 pages per CPU, and the 16 pages of room); three passes must not
	 * be able to move them all.
	 */
	ASSERT_EQ(0, start_target_on(&limited, CG "/cgroup.procs", SPARSE_LEN, 1, PMD_SZ));
	ASSERT_EQ(0, start_target_on(&unlimited, NULL, MAP_LEN, 1, 0));
	ASSERT_EQ(0, ctl_write("batch", "4096"));
	ASSERT_EQ(0, limit_to_current_plus(CG, 16));
	snprintf(req, sizeof(req), "pfn_start=0x%lx pfn_end=0x%lx node=0", b.first * b.pages,
		 (b.last + 1) * b.pages);
	ret = evacuate_outcome(req, text, sizeof(text));
	ASSERT_EQ(0, ctl_write_path(CG "/memory.max", "max"));
	ASSERT_EQ(0, ctl_write("batch", old_batch));
	TH_LOG("evacuate: %d; moved %ld tables of %ld processes, %ld short of memory",
	       ret, outcome_field(text, "tables_moved"), outcome_field(text, "processes"),
	       outcome_field(text, "enomem_processes"));
	ASSERT_EQ(0, ret);
	ASSERT_LE(1, outcome_field(text, "enomem_processes"));
	ASSERT_LT(0, census(unlimited.pid, free_after));
	ASSERT_EQ(0, free_after[PTE][1]);
	ASSERT_EQ(0, free_after[PMD][1]);
	ASSERT_LT(0, census(limited.pid, limited_after));
	ASSERT_LT(0, limited_after[PTE][1]);
	ASSERT_EQ(0, finish_target(&unlimited));
	ASSERT_EQ(0, finish_target(&limited));
}

TEST_F_TIMEOUT(memcg, charge_follows_the_process, 300)
{
	long stat_before, stat_after, pte_before, pte_after;
	struct outcome o;
	struct target t;

	ASSERT_EQ(0, start_target(&t, CG "/cgroup.procs", MAP_LEN));
	stat_before = memcg_pagetables(CG);
	pte_before = vm_pte_kb(t.pid);
	ASSERT_LT(0, stat_before);
	ASSERT_EQ(0, relocate(t.pid, 1, (unsigned long)t.p, (unsigned long)t.p + MAP_LEN, &o));
	ASSERT_EQ((long)(MAP_LEN / PMD_SZ), o.moved);
	stat_after = memcg_pagetables(CG);
	pte_after = vm_pte_kb(t.pid);
	TH_LOG("pagetables %ld -> %ld, VmPTE %ld -> %ld kB (%ld moved)",
	       stat_before, stat_after, pte_before, pte_after, o.moved);
	/* The same number of tables, charged to the same memcg. */
	ASSERT_EQ(stat_before, stat_after);
	ASSERT_EQ(pte_before, pte_after);
	ASSERT_EQ(0, finish_target(&t));
}

/*
 * Replacements allocated before a batch takes the mmap lock (spares) are
 * charged where the previous batch's last table was, and a batch takes one
 * only for a table charged there. A process charged its first 64 MiB of
 * page tables in one cgroup and, after it moved, the next 64 MiB in
 * another; batches of 8 move them, the fifth beginning where the charges
 * change: its 8 spares, charged to the first cgroup, are freed, not used,
 * the next three batches get spares charged to the second, and neither
 * cgroup's page-table count changes.
 */
TEST_F_TIMEOUT(memcg, spares_follow_the_charge_of_each_table, 300)
{
	const size_t half = MAP_LEN;
	long a_before, a_after, b_before, b_after;
	int to_child[2], to_parent[2], status;
	char pid[16], old_batch[32], c;
	pid_t parent = getpid(), child;
	struct outcome o;
	char *p;
	int ret;

	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", old_batch, sizeof(old_batch)));
	ASSERT_TRUE(mkdir(CG2, 0755) == 0 || errno == EEXIST);
	p = mmap_aligned(2 * half, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		uint64_t sum[2];

		die_with_parent(parent);
		snprintf(pid, sizeof(pid), "%d", getpid());
		if (ctl_write_path(CG "/cgroup.procs", pid))
			_exit(2);
		madvise(p, 2 * half, MADV_NOHUGEPAGE);
		bind_to_node(0);
		/* The first half's tables in the first cgroup, the rest in the second. */
		fill_pattern(p, half, 1);
		sum[0] = checksum(p, half);
		if (write(to_parent[1], "a", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		fill_pattern(p + half, half, 2);
		sum[1] = checksum(p + half, half);
		if (write(to_parent[1], "b", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		_exit(checksum(p, half) == sum[0] && checksum(p + half, half) == sum[1] ? 0 : 1);
	}
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	snprintf(pid, sizeof(pid), "%d", child);
	ASSERT_EQ(0, ctl_write_path(CG2 "/cgroup.procs", pid));
	ASSERT_EQ(1, write(to_child[1], "g", 1));
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	a_before = memcg_pagetables(CG);
	b_before = file_number(CG2 "/memory.stat", "\npagetables ");
	ASSERT_EQ(0, ctl_write("batch", "8"));
	ret = relocate(child, 1, (unsigned long)p, (unsigned long)p + 2 * half, &o);
	ASSERT_EQ(0, ctl_write("batch", old_batch));
	a_after = memcg_pagetables(CG);
	b_after = file_number(CG2 "/memory.stat", "\npagetables ");
	TH_LOG("pagetables: first cgroup %ld -> %ld, second %ld -> %ld (relocate: %d, %ld moved in %ld batches; %ld spares allocated, %ld used)",
	       a_before, a_after, b_before, b_after, ret, o.moved, o.batches,
	       o.spares_allocated, o.spares_used);
	ASSERT_EQ(0, ret);
	ASSERT_EQ((long)(2 * half / PMD_SZ), o.moved);
	/* Batches 2-8 got 8 spares each; the fifth's went unused. */
	EXPECT_EQ(56, o.spares_allocated);
	EXPECT_EQ(48, o.spares_used);
	EXPECT_EQ(a_before, a_after);
	EXPECT_EQ(b_before, b_after);
	ASSERT_EQ(1, write(to_child[1], "x", 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_EQ(0, status);
	munmap(p, 2 * half);
}

/* The cgroup.procs file of the cgroup of process `pid` ("self" if 0). */
static int cgroup_procs_of(pid_t pid, char *path, size_t size)
{
	char file[64], line[192];

	if (pid)
		snprintf(file, sizeof(file), "/proc/%d/cgroup", pid);
	else
		snprintf(file, sizeof(file), "/proc/self/cgroup");
	if (read_file(file, line, sizeof(line)) < 0 || strncmp(line, "0::/", 4))
		return -1;
	line[strcspn(line, "\n")] = '\0';
	snprintf(path, size, CGROOT "%s%scgroup.procs", line + 3, line[4] ? "/" : "");
	return 0;
}

/*
 * Tables of a process in the root cgroup are charged to no one, and so are
 * their replacements, whoever asks: here a writer in a cgroup of its own,
 * whose page-table count would grow if the new tables were charged to the
 * task that allocates them.
 */
TEST_F_TIMEOUT(memcg, uncharged_tables_stay_uncharged, 300)
{
	char own[256], target[256], pid[16];
	long before, after;
	struct outcome o;
	struct target t;
	int ret;

	ASSERT_EQ(0, cgroup_procs_of(0, own, sizeof(own)));
	ASSERT_EQ(0, start_target(&t, NULL, MAP_LEN));
	ASSERT_EQ(0, cgroup_procs_of(t.pid, target, sizeof(target)));
	if (strcmp(target, CGROOT "/cgroup.procs")) {
		finish_target(&t);
		SKIP(return, "the test runs outside the root cgroup (%.200s)", target);
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_EQ(0, ctl_write_path(CG "/cgroup.procs", pid));
	before = memcg_pagetables(CG);
	ret = relocate(t.pid, 1, (unsigned long)t.p, (unsigned long)t.p + MAP_LEN, &o);
	after = memcg_pagetables(CG);
	ASSERT_EQ(0, ctl_write_path(own, pid));
	TH_LOG("pagetables of the writer's cgroup: %ld -> %ld (relocate: %d, %ld moved)",
	       before, after, ret, o.moved);
	ASSERT_EQ(0, ret);
	ASSERT_EQ((long)(MAP_LEN / PMD_SZ), o.moved);
	ASSERT_EQ(before, after);
	ASSERT_EQ(0, finish_target(&t));
}

TEST_F_TIMEOUT(memcg, limit_reached_is_enomem_and_consistent, 300)
{
	long before[LEVELS][MAX_NODES], after[LEVELS][MAX_NODES], current;
	char limit[32], old_batch[32];
	struct outcome o;
	struct target t;
	int ret;

	/*
	 * More tables than the memcg's per-CPU charge stock (64 pages per CPU)
	 * can cover, all in one batch: old tables are uncharged after each
	 * batch, and with smaller batches their pages could be recharged to
	 * the next one before the limit is ever reached.
	 */
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", old_batch, sizeof(old_batch)));
	ASSERT_EQ(0, ctl_write("batch", "4096"));
	ASSERT_EQ(0, start_target(&t, CG "/cgroup.procs", BIG_LEN));
	ASSERT_EQ(0, ctl_write_path(CG "/memory.swap.max", "0"));
	ASSERT_LT(0, census(t.pid, before));
	/* Room for a few new tables (old ones are freed after the request). */
	current = file_number(CG "/memory.current", NULL);
	ASSERT_LT(0, current);
	snprintf(limit, sizeof(limit), "%ld", current + 16 * 4096);
	ASSERT_EQ(0, ctl_write_path(CG "/memory.max", limit));
	ret = relocate(t.pid, 1, (unsigned long)t.p, (unsigned long)t.p + BIG_LEN, &o);
	ASSERT_EQ(0, ctl_write_path(CG "/memory.max", "max"));
	ASSERT_EQ(0, ctl_write("batch", old_batch));
	ASSERT_EQ(-ENOMEM, ret);
	ASSERT_STREQ("ENOMEM", o.status);
	ASSERT_LT(o.moved, (long)(BIG_LEN / PMD_SZ));
	TH_LOG("%ld of %lu tables moved before the memcg limit", o.moved, BIG_LEN / PMD_SZ);
	/* What moved stays moved; the rest is untouched on node 0. */
	ASSERT_LT(0, census(t.pid, after));
	ASSERT_EQ(before[PTE][1] + o.moved, after[PTE][1]);
	ASSERT_EQ(before[PTE][0] - o.moved, after[PTE][0]);
	ASSERT_EQ(0, relocate(t.pid, 1, (unsigned long)t.p, (unsigned long)t.p + BIG_LEN, &o));
	ASSERT_EQ((long)(BIG_LEN / PMD_SZ), o.moved + o.already);
	ASSERT_EQ(0, finish_target(&t));
}

static void on_signal(int sig)
{
}

/*
 * A target whose mm is kept claimed by a child issuing whole-mm requests
 * back to back, one table per batch (slow), alternating between the nodes.
 */
FIXTURE(contended) {
	char old_batch[32];
	struct target t;
	pid_t busy;
};

FIXTURE_SETUP(contended)
{
	pid_t me = getpid();
	int i;

	self->busy = 0;
	if (relocation_unavailable())
		SKIP(return, "%s", relocation_unavailable());
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", self->old_batch,
			       sizeof(self->old_batch)));
	ASSERT_EQ(0, ctl_write("batch", "1"));
	ASSERT_EQ(0, start_target(&self->t, NULL, MAP_LEN));
	self->busy = fork();
	ASSERT_LE(0, self->busy);
	if (!self->busy) {
		die_with_parent(me);
		for (i = 0;; i++)
			relocate(self->t.pid, i % 2, 0, 0, NULL);
	}
}

FIXTURE_TEARDOWN(contended)
{
	if (self->busy > 0) {
		kill(self->busy, SIGKILL);
		waitpid(self->busy, NULL, 0);
	}
	if (self->old_batch[0])
		ctl_write("batch", self->old_batch);
}

/*
 * A request waiting for another one on the same mm is interrupted. The
 * signal comes every millisecond until the request returns, so that it
 * lands in the wait however short the busy child's requests are (a kernel
 * without lockdep runs them in less than the 20 ms one signal used to wait).
 */
TEST_F_TIMEOUT(contended, signal_while_waiting_is_eintr, 300)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	int ret = 0, attempts = 0;
	pid_t me = getpid();

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	while (ret != -EINTR && attempts++ < 50) {
		pid_t killer = fork();

		ASSERT_LE(0, killer);
		if (!killer) {
			die_with_parent(me);
			for (;;) {
				kill(me, SIGUSR1);
				usleep(1000);
			}
		}
		ret = relocate(self->t.pid, 1, 0, 0, NULL);
		ASSERT_TRUE(ret == 0 || ret == -EINTR);
		kill(killer, SIGKILL);
		/* Without SA_RESTART, a signal still in flight interrupts it. */
		while (waitpid(killer, NULL, 0) < 0 && errno == EINTR)
			;
	}
	TH_LOG("EINTR after %d attempts", attempts);
	ASSERT_EQ(-EINTR, ret);
	ASSERT_EQ(0, finish_target(&self->t));
}

/*
 * A waiting request gets the mm when the running one ends, although the
 * busy child asks again at once: it is not starved.
 */
TEST_F_TIMEOUT(contended, waiter_is_served, 300)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	struct outcome o;
	int i;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	for (i = 0; i < 5; i++) {
		alarm(60);	/* a starved request fails with EINTR */
		ASSERT_EQ(0, relocate(self->t.pid, i % 2, 0, 0, &o));
		alarm(0);
		ASSERT_STREQ("ok", o.status);
	}
	ASSERT_EQ(0, finish_target(&self->t));
}

TEST_HARNESS_MAIN
