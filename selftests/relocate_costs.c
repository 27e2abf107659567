// SPDX-License-Identifier: GPL-2.0
/*
 * What a relocation costs everyone else: which CPUs its TLB flush
 * interrupts (the process's, and a CPU that only borrowed its tables at
 * most once), that no request waits for an RCU grace period while the old
 * tables awaiting one stay bounded, and the duty cycle that gives the
 * process's own users of its mmap lock their turn between batches.
 *
 * A program of its own: kselftest_harness.h maps a shared page per test,
 * each a file of its own, and relocate_pte's whole-mm test wants its spans
 * to need few rmap locks.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define SKIP_UNLESS_AVAILABLE() do {						\
	const char *why = relocation_unavailable();				\
	if (why)								\
		SKIP(return, "%s", why);					\
} while (0)

#define TRACEFS "/sys/kernel/tracing"
#define CSD_QUEUE_CPU TRACEFS "/events/csd/csd_queue_cpu/enable"

/*
 * Records every function call queued for another CPU (the csd:csd_queue_cpu
 * tracepoint: the target CPU and the function) from now until stopped, in
 * an emptied trace buffer; 0, or -errno without tracefs or the event.
 */
static int trace_cross_cpu_calls(int on)
{
	int ret;

	if (access(CSD_QUEUE_CPU, W_OK))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	if (on) {
		ret = ctl_write_path(TRACEFS "/tracing_on", "0");
		/* Opening the trace for writing with O_TRUNC empties it. */
		if (!ret && close(open(TRACEFS "/trace", O_WRONLY | O_TRUNC)))
			ret = -errno;
		if (!ret)
			ret = ctl_write_path(CSD_QUEUE_CPU, "1");
		return ret ? ret : ctl_write_path(TRACEFS "/tracing_on", "1");
	}
	ret = ctl_write_path(TRACEFS "/tracing_on", "0");
	return ret ? ret : ctl_write_path(CSD_QUEUE_CPU, "0");
}

/* The recorded calls of the function whose symbol contains `func`, per CPU. */
static int count_cross_cpu_calls(const char *func, long *per_cpu, int ncpus)
{
	FILE *f = fopen(TRACEFS "/trace", "r");
	char *line = NULL, *cpu;
	size_t size = 0;
	long target;

	if (!f)
		return -errno;
	while (getline(&line, &size, f) > 0) {
		cpu = strstr(line, "csd_queue_cpu: cpu=");
		if (!cpu || !strstr(line, func))
			continue;
		target = strtol(cpu + strlen("csd_queue_cpu: cpu="), NULL, 10);
		if (target >= 0 && target < ncpus)
			per_cpu[target]++;
	}
	free(line);
	fclose(f);
	return 0;
}

/*
 * A batch's flush goes to the CPUs that may hold the process's
 * translations (its mm_cpumask) and no other; the rest flush when they
 * next switch to it, the mm's TLB generation having moved on. A child
 * forked on CPU 0, which the test runs on, moves to CPU 1, writes its
 * memory there and then either keeps reading it (busy) or sleeps (idle),
 * while its 128 PTE tables move one per batch, from CPU 0. The calls of
 * ptreloc's flush_this_cpu queued for each CPU are counted from the
 * csd:csd_queue_cpu tracepoint: CPU 2 takes function-call interrupts for
 * other reasons too, waking RCU's kthreads for one; the CAL counts of
 * /proc/interrupts are logged.
 */
/* What flushes_while_moving() measured. */
struct flushes {
	long cal[3][2], calls[3];
	struct outcome o;
};

FIXTURE(cpus) {
	char batch[32];
	struct flushes f;
};
FIXTURE_SETUP(cpus)
{
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", self->batch, sizeof(self->batch)));
}
FIXTURE_TEARDOWN(cpus)
{
	ctl_write("batch", self->batch);
	trace_cross_cpu_calls(0);
}

/*
 * The child on CPU 1 (busy: reading its memory until told to stop; else
 * asleep), its 256 MiB of PTE tables moved from node 0 to node 1 a table
 * per batch from CPU 0, the flushes queued per CPU counted into *self.
 * NULL, or why the test skips.
 */
static const char *flushes_while_moving(struct __test_metadata *_metadata,
					struct flushes *self, int busy)
{
	const size_t len = 256UL << 20;
	int ready[2], go[2], status, i;
	pid_t child;
	char *p, c = 0;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 3 || cpu_interrupts(2, "CAL") < 0)
		return "fewer than 3 online CPUs";
	if (nodes_with_memory() < 2)
		return "fewer than 2 nodes with memory";
	if (trace_cross_cpu_calls(0))
		return "no csd:csd_queue_cpu tracepoint in " TRACEFS;
	memset(self->calls, 0, sizeof(self->calls));
	ASSERT_EQ(0, pin_self(0));
	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		volatile uint64_t sink = 0;
		uint64_t sum = 0;
		size_t off;

		if (pin_self(1) || bind_to_node(0))
			_exit(2);
		madvise(p, len, MADV_NOHUGEPAGE);
		/* A word per page: its table is what matters. */
		for (off = 0; off < len; off += PAGE_SZ) {
			*(uint64_t *)(p + off) = pattern_word(11, off);
			sum += pattern_word(11, off);
		}
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		if (busy) {
			/* Keep CPU 1 in the mm, reading, until told to stop. */
			fcntl(go[0], F_SETFL, O_NONBLOCK);
			for (off = 0; read(go[0], &c, 1) != 1; off = (off + PAGE_SZ) % len)
				sink += p[off];
		} else if (read(go[0], &c, 1) != 1) {
			_exit(3);
		}
		for (off = 0; off < len; off += PAGE_SZ)
			sum -= *(uint64_t *)(p + off);
		_exit(!sum && sched_getcpu() == 1 ? 0 : 4);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	/* Asleep, and CPU 1 idle on its tables (or on another task's). */
	if (!busy)
		usleep(200000);
	ASSERT_EQ(0, ctl_write("batch", "1"));
	for (i = 0; i < 3; i++)
		self->cal[i][0] = cpu_interrupts(i, "CAL");
	ASSERT_EQ(0, trace_cross_cpu_calls(1));
	ASSERT_EQ(0, relocate(child, 1, (unsigned long)p, (unsigned long)p + len, &self->o));
	ASSERT_EQ(0, trace_cross_cpu_calls(0));
	for (i = 0; i < 3; i++)
		self->cal[i][1] = cpu_interrupts(i, "CAL");
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_EQ(0, count_cross_cpu_calls("flush_this_cpu", self->calls, 3));
	TH_LOG("%s child: %ld PTE tables moved in %ld batches (%ld TLB flushes, %ld ms); flushes queued for CPU 0 (request) %ld, CPU 1 (the process) %ld, CPU 2 (never ran it) %ld; function-call interrupts +%ld, +%ld, +%ld",
	       busy ? "busy" : "sleeping", self->o.moved_pte, self->o.batches, self->o.flushes,
	       self->o.elapsed_ns / 1000000, self->calls[0], self->calls[1], self->calls[2],
	       self->cal[0][1] - self->cal[0][0], self->cal[1][1] - self->cal[1][0],
	       self->cal[2][1] - self->cal[2][0]);
	ASSERT_EQ(0, status);
	ASSERT_EQ((long)(len / PMD_SZ), self->o.moved_pte);
	ASSERT_LE(128, self->o.flushes);
	munmap(p, len);
	return NULL;
}

/* Running the process: CPU 1 is flushed every batch; CPU 2 never. */
TEST_F_TIMEOUT(cpus, flush_spares_cpus_that_never_ran_the_mm, 300)
{
	const char *skip;

	SKIP_UNLESS_AVAILABLE();
	skip = flushes_while_moving(_metadata, &self->f, 1);
	if (skip)
		SKIP(return, "%s", skip);
	EXPECT_EQ(self->f.o.flushes, self->f.calls[1]);
	EXPECT_EQ(0, self->f.calls[2]);
}

/*
 * Asleep: CPU 1 only borrows the process's tables (lazy TLB: the idle task
 * runs on the last user's), or runs another process. Its first flush makes
 * it let go of the mm (to init_mm, as the kernel's own flush does for freed
 * tables) and leave the mm's cpumask, so it is flushed at most once, not
 * once per batch.
 */
TEST_F_TIMEOUT(cpus, cpus_that_only_borrow_the_mm_are_flushed_once, 300)
{
	const char *skip;

	SKIP_UNLESS_AVAILABLE();
	skip = flushes_while_moving(_metadata, &self->f, 0);
	if (skip)
		SKIP(return, "%s", skip);
	EXPECT_GE(1, self->f.calls[1]);
	EXPECT_EQ(0, self->f.calls[2]);
	EXPECT_EQ(0, self->f.calls[0]);
}

#define RCU_HOLD "/sys/kernel/debug/ptreloc_test/rcu_hold"

static void *hold_rcu(void *arg)
{
	*(int *)arg = ctl_write_path(RCU_HOLD, "ms=3000");
	return NULL;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static long awaiting_free(void)
{
	return file_number(PTRELOC_DEBUGFS "/stats", "\ntables_awaiting_free ");
}

/*
 * No request waits for an RCU grace period: its old tables are handed to
 * call_rcu() and freed in the background. While ptreloc_test's rcu_hold
 * keeps every grace period from ending for 3 s, a request moves 32 PTE
 * tables and returns at once; the `stats` file counts them awaiting their
 * free, until an rcu_barrier after the hold.
 */
FIXTURE(rcu) {};
FIXTURE_SETUP(rcu) {}
FIXTURE_TEARDOWN(rcu) {}

TEST_F_TIMEOUT(rcu, requests_do_not_wait_for_a_grace_period, 300)
{
	const size_t len = 64UL << 20;
	long awaiting, settled;
	uint64_t sum, t0, ns;
	struct outcome o;
	pthread_t thread;
	int held = 1;
	char *p;

	SKIP_UNLESS_AVAILABLE();
	if (access(RCU_HOLD, W_OK))
		SKIP(return, "ptreloc_test.ko is not loaded");
	if (nodes_with_memory() < 2)
		SKIP(return, "fewer than 2 nodes with memory");
	ASSERT_EQ(-EINVAL, ctl_write_path(RCU_HOLD, "ms=0"));
	ASSERT_EQ(-EINVAL, ctl_write_path(RCU_HOLD, "ms=5001"));
	ASSERT_EQ(-EINVAL, ctl_write_path(RCU_HOLD, "s=1"));
	p = map_anon_on_node(len, 0, 13);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	ASSERT_EQ(0, settle_freed_tables());
	ASSERT_EQ(0, awaiting_free());
	ASSERT_EQ(0, pthread_create(&thread, NULL, hold_rcu, &held));
	usleep(500000);
	t0 = monotonic_ns();
	ASSERT_EQ(0, relocate_levels(getpid(), 1, (unsigned long)p, (unsigned long)p + len,
				     "pte", &o));
	ns = monotonic_ns() - t0;
	awaiting = awaiting_free();
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(0, held);
	ASSERT_EQ(0, settle_freed_tables());
	settled = awaiting_free();
	TH_LOG("moved %ld PTE tables in %ld ms while grace periods were held off for 3 s; awaiting free: %ld, after rcu_barrier %ld",
	       o.moved_pte, (long)(ns / 1000000), awaiting, settled);
	ASSERT_EQ((long)(len / PMD_SZ), o.moved_pte);
	EXPECT_LT(ns, 2000000000ULL);
	EXPECT_LE(o.moved_pte, awaiting);
	EXPECT_EQ(0, settled);
	EXPECT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

static void *hold_rcu_long(void *arg)
{
	*(int *)arg = ctl_write_path(RCU_HOLD, "ms=5000");
	return NULL;
}

struct awaiting_sampler {
	atomic_int stop;
	long samples, peak, odd;
};

/* Samples tables_awaiting_free until stopped: its peak, and values not a multiple of 512. */
static void *sample_awaiting(void *arg)
{
	struct awaiting_sampler *s = arg;
	long n;

	while (!atomic_load(&s->stop)) {
		n = awaiting_free();
		s->samples++;
		if (n > s->peak)
			s->peak = n;
		if (n % 512)
			s->odd++;
		usleep(2000);
	}
	return NULL;
}

/*
 * Old tables go to RCU 512 at a time, and no more than 16384 wait for
 * their grace period at once (Documentation/design.rst): past that, a
 * request waits for them. With grace periods held off for 5 s, one request
 * moves 34 x 512 = 17408 PTE tables (a page per 2 MiB of 34 GiB) while
 * another thread samples tables_awaiting_free: every sample is a multiple
 * of 512, and none passes 16384 + 512, where the handoff that crossed the
 * line waited.
 */
TEST_F_TIMEOUT(rcu, tables_awaiting_free_stay_bounded, 300)
{
	const size_t tables = 34 * 512, len = tables * PMD_SZ;
	struct awaiting_sampler s = { 0 };
	pthread_t holder, sampler;
	uint64_t t0, ns;
	struct outcome o;
	int held = 1;
	size_t off;
	char *p;

	SKIP_UNLESS_AVAILABLE();
	if (access(RCU_HOLD, W_OK))
		SKIP(return, "ptreloc_test.ko is not loaded");
	if (nodes_with_memory() < 2)
		SKIP(return, "fewer than 2 nodes with memory");
	p = mmap_aligned(len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, len, MADV_NOHUGEPAGE);
	ASSERT_EQ(0, bind_to_node(0));
	for (off = 0; off < len; off += PMD_SZ)
		*(uint64_t *)(p + off) = pattern_word(19, off);
	ASSERT_EQ(0, settle_freed_tables());
	ASSERT_EQ(0, awaiting_free());
	ASSERT_EQ(0, pthread_create(&holder, NULL, hold_rcu_long, &held));
	usleep(200000);
	ASSERT_EQ(0, pthread_create(&sampler, NULL, sample_awaiting, &s));
	t0 = monotonic_ns();
	ASSERT_EQ(0, relocate_levels(getpid(), 1, (unsigned long)p, (unsigned long)p + len,
				     "pte", &o));
	ns = monotonic_ns() - t0;
	atomic_store(&s.stop, 1);
	ASSERT_EQ(0, pthread_join(sampler, NULL));
	ASSERT_EQ(0, pthread_join(holder, NULL));
	ASSERT_EQ(0, held);
	TH_LOG("moved %ld PTE tables in %ld ms while grace periods were held off for 5 s; tables awaiting free: %ld samples, peak %ld, %ld not a multiple of 512",
	       o.moved_pte, (long)(ns / 1000000), s.samples, s.peak, s.odd);
	ASSERT_EQ((long)tables, o.moved_pte);
	EXPECT_LT(0, s.samples);
	EXPECT_LE(s.peak, 16384 + 512);
	EXPECT_EQ(0, s.odd);
	ASSERT_EQ(0, settle_freed_tables());
	EXPECT_EQ(0, awaiting_free());
	for (off = 0; off < len; off += PMD_SZ) {
		ASSERT_EQ(pattern_word(19, off), *(uint64_t *)(p + off));
	}
	munmap(p, len);
}

struct pagemap_reader {
	const char *p;
	size_t len;
	atomic_int stop;
	atomic_long reads;
	int err;
};

/* Reads the pagemap of p's 2 MiB chunks in turn: a reader of the mmap lock. */
static void *read_pagemap_loop(void *arg)
{
	struct pagemap_reader *r = arg;
	uint64_t entries[PMD_SZ / PAGE_SZ];
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t off = 0;

	if (fd < 0) {
		r->err = errno;
		return NULL;
	}
	while (!atomic_load(&r->stop)) {
		if (pread(fd, entries, sizeof(entries),
			  (unsigned long)(r->p + off) / PAGE_SZ * sizeof(uint64_t)) < 0) {
			r->err = errno;
			break;
		}
		atomic_fetch_add(&r->reads, 1);
		off = (off + PMD_SZ) % r->len;
	}
	close(fd);
	return NULL;
}

/*
 * The duty cycle (Documentation/design.rst): after a hold of the mmap lock
 * that a task waited for, a request stays off the lock for twice as long;
 * after one nobody waited for, it goes on at once. The same request, 8
 * batches, runs alone and beside a thread that reads the process's pagemap
 * in a loop (each read takes the mmap lock for reading). THP is off for
 * the process, so khugepaged has no reason to take its lock.
 */
FIXTURE(duty) {
	char batch[32];
};
FIXTURE_SETUP(duty)
{
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", self->batch, sizeof(self->batch)));
}
FIXTURE_TEARDOWN(duty)
{
	ctl_write("batch", self->batch);
}

TEST_F_TIMEOUT(duty, waiters_get_the_lock_between_batches, 300)
{
	const size_t len = 64UL << 20;
	struct pagemap_reader r = { 0 };
	struct outcome alone, beside;
	long reads_before, reads;
	pthread_t thread;
	uint64_t sum;
	char *p;

	SKIP_UNLESS_AVAILABLE();
	if (nodes_with_memory() < 2)
		SKIP(return, "fewer than 2 nodes with memory");
	ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	p = map_anon_on_node(len, 0, 17);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	ASSERT_EQ(0, ctl_write("batch", "4"));
	ASSERT_EQ(0, relocate_levels(getpid(), 1, (unsigned long)p, (unsigned long)p + len,
				     "pte", &alone));
	r.p = p;
	r.len = len;
	ASSERT_EQ(0, pthread_create(&thread, NULL, read_pagemap_loop, &r));
	while (atomic_load(&r.reads) < 10 && !r.err)
		usleep(1000);
	reads_before = atomic_load(&r.reads);
	ASSERT_EQ(0, relocate_levels(getpid(), 0, (unsigned long)p, (unsigned long)p + len,
				     "pte", &beside));
	reads = atomic_load(&r.reads) - reads_before;
	atomic_store(&r.stop, 1);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	TH_LOG("alone: %ld batches, longest hold %ld us, %ld rests (%ld us), %ld us in all",
	       alone.batches, alone.longest_hold_ns / 1000, alone.rests, alone.rest_ns / 1000,
	       alone.elapsed_ns / 1000);
	TH_LOG("beside a pagemap reader: %ld batches, longest hold %ld us, %ld rests (%ld us), %ld us in all; %ld pagemap reads meanwhile",
	       beside.batches, beside.longest_hold_ns / 1000, beside.rests,
	       beside.rest_ns / 1000, beside.elapsed_ns / 1000, reads);
	ASSERT_EQ(0, r.err);
	ASSERT_EQ((long)(len / PMD_SZ), alone.moved_pte);
	ASSERT_EQ((long)(len / PMD_SZ), beside.moved_pte);
	ASSERT_LE(8, beside.batches);
	EXPECT_EQ(0, alone.rests);
	EXPECT_EQ(0, alone.rest_ns);
	EXPECT_LE(1, beside.rests);
	EXPECT_LT(0, beside.rest_ns);
	EXPECT_LE(beside.rest_ns, beside.elapsed_ns);
	EXPECT_EQ(sum, checksum(p, len));
	munmap(p, len);
}

TEST_HARNESS_MAIN
