// SPDX-License-Identifier: GPL-2.0
/*
 * make bench, the guest side: what relocating the page tables of a process
 * costs, measured beside baselines in the same guest run. Times under TCG
 * are emulated: only the ratios mean anything.
 *
 *   ptreloc_bench main SIZES_MIB REPS   JSON on stdout: per size, relocation
 *       (PTE tables, and all levels), the floor (ptreloc_test's `floor`),
 *       fork() and migrate_pages() of the same process, a request for one
 *       table beside the floor of one, windows with and without relocation
 *       (the lock hold, a thread's longest gap, the interrupts of a
 *       bystander CPU), and the stall seen by its threads for several batch
 *       sizes; then the PTE tables of a sparse 64 GiB mapping; then the
 *       throughput of a 1 GiB target's mmap-lock readers alone and under a
 *       storm of requests
 *   ptreloc_bench faults REPS           ns per page fault, one number per rep
 *
 * The target of each size is a child on CPU 1, bound to node 0, that maps
 * SIZE MiB of anonymous memory with THP off and writes every 4 KiB page. The
 * requests come from CPU 0, where this process runs from the start, so that
 * no process of the bench but the bystander ever runs on node 1's CPUs
 * (2 and 3): the guest has 4 (scripts/bench).
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <numa.h>
#include <numaif.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <linux/fs.h>

#include "ptreloc_util.h"

#define MIB (1UL << 20)
#define FLOOR_FILE "/sys/kernel/debug/ptreloc_test/floor"
#define BATCH_FILE PTRELOC_DEBUGFS "/batch"
#define REQUEST_CPU 0
#define TARGET_CPU 1
#define BYSTANDER_CPU 3

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* The target process and the two pipes that drive it. */
struct target {
	pid_t pid;
	int cmd, reply;		/* our ends */
	size_t len;
	unsigned long mem;	/* its mapping, 2 MiB aligned */
};

/* What the target's stall threads saw (they share its CPU). */
struct stall {
	uint64_t max_gap_ns, max_fault_ns, touches, faults;
};

static volatile int stall_stop, stall_started;
static char *stall_mem;
static size_t stall_len;

/* Touch mapped memory page by page; the longest time between two touches. */
static void *toucher(void *arg)
{
	struct stall *s = arg;
	uint64_t last = now_ns(), t;
	size_t off = 0;

	stall_started = 1;
	while (!stall_stop) {
		(void)*(volatile char *)(stall_mem + off);
		off = (off + PAGE_SZ) % stall_len;
		t = now_ns();
		if (t - last > s->max_gap_ns)
			s->max_gap_ns = t - last;
		last = t;
		s->touches++;
	}
	return NULL;
}

/* Fault fresh pages in; the longest single fault. */
static void *faulter(void *arg)
{
	struct stall *s = arg;
	size_t len = 16 * MIB, off;
	char *p;
	uint64_t t;

	while (!stall_stop) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		madvise(p, len, MADV_NOHUGEPAGE);
		for (off = 0; off < len && !stall_stop; off += PAGE_SZ) {
			t = now_ns();
			p[off] = 1;
			t = now_ns() - t;
			if (t > s->max_fault_ns)
				s->max_fault_ns = t;
			s->faults++;
		}
		munmap(p, len);
	}
	return NULL;
}

/* The readers of the target's mmap lock, and what each op kind saw. */
enum { R_FAULT, R_PAGEMAP, R_SCAN, R_MADVISE, R_KINDS };
static const char *const reader_keys[R_KINDS] = { "fault", "pagemap", "pagemap_scan", "madvise" };

struct readers {
	uint64_t ops[R_KINDS], max_ns[R_KINDS];
};

struct reader {
	int kind;
	struct readers *r;
};

/*
 * One op of `kind` on the 2 MiB chunk at `chunk` of the target's memory,
 * each taking the mmap lock or the VMA lock for reading: fault a page of a
 * scratch mapping in (and drop it again); read the chunk's pagemap; a
 * PAGEMAP_SCAN ioctl over it; MADV_COLD on it.
 */
static void reader_op(int kind, char *chunk, char *scratch, int pagemap)
{
	static __thread struct page_region regions[32];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (unsigned long)chunk,
		.end = (unsigned long)chunk + PMD_SZ,
		.vec = (unsigned long)regions,
		.vec_len = 32,
		.category_mask = PAGE_IS_PRESENT,
		.return_mask = PAGE_IS_PRESENT,
	};
	uint64_t entries[PMD_SZ / PAGE_SZ];

	switch (kind) {
	case R_FAULT:
		*(volatile char *)scratch = 1;
		madvise(scratch, PAGE_SZ, MADV_DONTNEED);
		break;
	case R_PAGEMAP:
		if (pread(pagemap, entries, sizeof(entries),
			  (unsigned long)chunk / PAGE_SZ * sizeof(uint64_t)) < 0)
			die("pagemap");
		break;
	case R_SCAN:
		if (ioctl(pagemap, PAGEMAP_SCAN, &arg) < 0)
			die("PAGEMAP_SCAN");
		break;
	case R_MADVISE:
		madvise(chunk, PMD_SZ, MADV_COLD);
		break;
	}
}

/* Repeats one kind of reader op over the target's memory until stopped. */
static void *reader(void *arg)
{
	struct reader *rd = arg;
	char *scratch = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pagemap = open("/proc/self/pagemap", O_RDONLY);
	size_t off = 0;
	uint64_t t;

	if (scratch == MAP_FAILED || pagemap < 0)
		die("reader");
	__atomic_add_fetch(&stall_started, 1, __ATOMIC_SEQ_CST);
	while (!stall_stop) {
		t = now_ns();
		reader_op(rd->kind, stall_mem + off, scratch, pagemap);
		t = now_ns() - t;
		rd->r->ops[rd->kind]++;
		if (t > rd->r->max_ns[rd->kind])
			rd->r->max_ns[rd->kind] = t;
		off = (off + PMD_SZ) % stall_len;
	}
	close(pagemap);
	munmap(scratch, PAGE_SZ);
	return NULL;
}

/*
 * The target: fill (a page every step bytes), then serve commands until
 * 'q'. A sparse target (step > 4 KiB) maps without reserving swap space.
 */
static void target_main(int cmd, int reply, size_t len, size_t step, int reps)
{
	char *p, c;
	size_t off;
	uint64_t t;
	int r;

	/* Before the first touch: the mm never runs on node 1's CPUs. */
	if (pin_to_cpu(TARGET_CPU) || bind_to_node(0))
		_exit(2);
	p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
			 (step > PAGE_SZ ? MAP_NORESERVE : 0), -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	madvise(p, len, MADV_NOHUGEPAGE);
	for (off = 0; off < len; off += step)
		p[off] = (char)off;
	if (write(reply, &p, sizeof(p)) != sizeof(p))
		_exit(3);
	while (read(cmd, &c, 1) == 1) {
		if (c == 'q') {
			break;
		} else if (c == 'f') {
			/* fork() copies every page table of the process. */
			for (r = 0; r < reps; r++) {
				pid_t child;

				t = now_ns();
				child = fork();
				if (!child)
					_exit(0);
				t = now_ns() - t;
				waitpid(child, NULL, 0);
				if (write(reply, &t, sizeof(t)) != sizeof(t))
					_exit(3);
			}
		} else if (c == 'r') {
			/* 'r': a reader thread per op kind, until 'x'. */
			struct reader rd[R_KINDS];
			struct readers r = { 0 };
			pthread_t th[R_KINDS];
			int k;

			stall_mem = p;
			stall_len = len;
			stall_stop = 0;
			stall_started = 0;
			for (k = 0; k < R_KINDS; k++) {
				rd[k] = (struct reader){ k, &r };
				pthread_create(&th[k], NULL, reader, &rd[k]);
			}
			while (stall_started < R_KINDS)
				sched_yield();
			if (write(reply, "r", 1) != 1 || read(cmd, &c, 1) != 1)
				_exit(3);
			stall_stop = 1;
			for (k = 0; k < R_KINDS; k++)
				pthread_join(th[k], NULL);
			if (write(reply, &r, sizeof(r)) != sizeof(r))
				_exit(3);
		} else if (c == 's' || c == 't') {
			/* 's': toucher and faulter; 't': the toucher alone. */
			int faults = c == 's';
			struct stall s = { 0 };
			pthread_t a, b;

			stall_mem = p;
			stall_len = len;
			stall_stop = 0;
			stall_started = 0;
			pthread_create(&a, NULL, toucher, &s);
			if (faults)
				pthread_create(&b, NULL, faulter, &s);
			while (!stall_started)
				sched_yield();
			if (write(reply, "r", 1) != 1 || read(cmd, &c, 1) != 1)
				_exit(3);
			stall_stop = 1;
			pthread_join(a, NULL);
			if (faults)
				pthread_join(b, NULL);
			if (write(reply, &s, sizeof(s)) != sizeof(s))
				_exit(3);
		}
	}
	_exit(0);
}

static struct target start_target(size_t len, size_t step, int reps)
{
	int to[2], from[2];
	struct target t = { .len = len };

	if (pipe(to) || pipe(from))
		die("pipe");
	t.pid = fork();
	if (t.pid < 0)
		die("fork");
	if (!t.pid) {
		close(to[1]);
		close(from[0]);
		target_main(to[0], from[1], len, step, reps);
	}
	close(to[0]);
	close(from[1]);
	t.cmd = to[1];
	t.reply = from[0];
	/* The target says where its memory is, once filled. */
	if (read(t.reply, &t.mem, sizeof(t.mem)) != sizeof(t.mem))
		die("target");
	return t;
}

static void send(struct target *t, char c)
{
	if (write(t->cmd, &c, 1) != 1)
		die("command");
}

static void receive(struct target *t, void *buf, size_t len)
{
	if (read(t->reply, buf, len) != (ssize_t)len)
		die("reply");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A JSON array of the samples, sorted (median and spread are the report's). */
static void print_samples(const char *key, uint64_t *v, int n, const char *sep)
{
	int i;

	qsort(v, n, sizeof(*v), cmp_u64);
	printf("\"%s\": [", key);
	for (i = 0; i < n; i++)
		printf("%s%llu", i ? ", " : "", (unsigned long long)v[i]);
	printf("]%s", sep);
}

/* The target's PTE tables: its mapping's, and a few of its own. */
static long pte_tables(struct target *t)
{
	long counts[LEVELS][MAX_NODES];

	if (census(t->pid, counts) < 0)
		die("census");
	return counts[PTE][0] + counts[PTE][1];
}

static int set_batch(long batch)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", batch);
	return ctl_write_path(BATCH_FILE, buf);
}

static uint64_t floor_ns(long pages, int from, int to)
{
	char req[96], text[256];
	int fd;
	ssize_t n;
	uint64_t ns = 0;

	snprintf(req, sizeof(req), "pages=%ld from=%d to=%d", pages, from, to);
	fd = open(FLOOR_FILE, O_RDWR);
	if (fd < 0 || ctl_write_fd(fd, req))
		die("floor");
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	if (n <= 0)
		die("floor read");
	text[n] = 0;
	if (sscanf(strstr(text, "ns ") ? strstr(text, "ns ") : "", "ns %llu",
		   (unsigned long long *)&ns) != 1)
		die("floor parse");
	return ns;
}

/*
 * A process that spins in user space on CPU 3 and never touches the target:
 * the function-call interrupts that reach its CPU are the ones a relocation
 * would cost the other processes of a machine.
 */
static pid_t start_bystander(void)
{
	pid_t parent = getpid(), pid;
	int ready[2];
	char c = 0;

	if (pipe(ready))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		volatile unsigned long spins = 0;

		die_with_parent(parent);
		if (pin_to_cpu(BYSTANDER_CPU) || write(ready[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			spins++;
	}
	if (read(ready[0], &c, 1) != 1)
		die("bystander");
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void end_process(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* What one window of the target's toucher saw, a field per array. */
enum { W_NS, W_BATCHES, W_HOLD, W_GAP, W_CAL_TARGET, W_CAL_BYSTANDER, W_FIELDS };
static const char *const window_keys[W_FIELDS] = {
	"ns", "batches", "longest_hold_ns", "max_touch_gap_ns", "cal_target", "cal_bystander"
};

/*
 * Windows of the target's toucher alone (on CPU 1), in pairs: one while
 * all its PTE tables move (batch 64), from CPU 0, then one as long without
 * relocation, in which CPU 0 spins instead, so that as many vCPUs are busy.
 * In each, the function-call interrupts (CAL) of CPUs 1 and 3 and the
 * toucher's longest gap between two touches. w[1]: relocating, w[0]: not.
 */
static void windows(struct target *t, int reps, int *node, uint64_t w[2][W_FIELDS][64])
{
	uint64_t t0, len = 0;
	long cal[2][2];
	struct outcome o;
	struct stall s;
	int r, k;
	char c;

	for (r = 0; r < reps; r++) {
		for (k = 1; k >= 0; k--) {
			send(t, 't');
			receive(t, &c, 1);
			cal[0][0] = cpu_interrupts(TARGET_CPU, "CAL");
			cal[0][1] = cpu_interrupts(BYSTANDER_CPU, "CAL");
			t0 = now_ns();
			if (k) {
				*node = !*node;
				if (relocate_levels(t->pid, *node, 0, 0, "pte", &o) ||
				    strcmp(o.status, "ok"))
					die("relocate in a window");
				len = now_ns() - t0;
			} else {
				while (now_ns() - t0 < len)
					;
			}
			w[k][W_NS][r] = now_ns() - t0;
			cal[1][0] = cpu_interrupts(TARGET_CPU, "CAL");
			cal[1][1] = cpu_interrupts(BYSTANDER_CPU, "CAL");
			send(t, 'x');
			receive(t, &s, sizeof(s));
			w[k][W_BATCHES][r] = k ? o.batches : 0;
			w[k][W_HOLD][r] = k ? o.longest_hold_ns : 0;
			w[k][W_GAP][r] = s.max_gap_ns;
			w[k][W_CAL_TARGET][r] = cal[1][0] - cal[0][0];
			w[k][W_CAL_BYSTANDER][r] = cal[1][1] - cal[0][1];
		}
	}
}

/* "key": {"relocating": {...}, "quiet": {...}}, in the order measured. */
static void print_windows(const char *key, uint64_t w[2][W_FIELDS][64], int reps)
{
	int k, f, r;

	printf("\"%s\": {", key);
	for (k = 1; k >= 0; k--) {
		printf("%s\"%s\": {", k ? "" : ", ", k ? "relocating" : "quiet");
		for (f = 0; f < W_FIELDS; f++) {
			printf("%s\"%s\": [", f ? ", " : "", window_keys[f]);
			for (r = 0; r < reps; r++)
				printf("%s%llu", r ? ", " : "", (unsigned long long)w[k][f][r]);
			printf("]");
		}
		printf("}");
	}
	printf("},\n      ");
}

static void bench_size(size_t mib, int reps, const char *sep)
{
	struct target t = start_target(mib * MIB, PAGE_SZ, reps);
	uint64_t pte[64], all[64], flr[64], frk[64], mig[64], one[64], one_flr[64];
	static const long batches[] = { 8, 64, 512 };
	static uint64_t plain[2][W_FIELDS][64], beside[2][W_FIELDS][64];
	long tables, moved_all = 0;
	pid_t bystander;
	struct outcome o;
	int r, node = 0, data_node = 0, b;

	tables = pte_tables(&t);
	fprintf(stderr, "size %zu MiB: %ld PTE tables\n", mib, tables);
	set_batch(64);
	/*
	 * The tables fork() gave the child (libc, stack) are where the parent
	 * ran: bring every table to node 0 first, so that each measured
	 * request moves all of them.
	 */
	if (relocate_levels(t.pid, 0, 0, 0, NULL, &o) || strcmp(o.status, "ok"))
		die("relocate to node 0");
	/* One round trip and one floor run, not counted: TCG translates code once. */
	if (relocate_levels(t.pid, 1, 0, 0, "pte", NULL) ||
	    relocate_levels(t.pid, 0, 0, 0, "pte", NULL))
		die("warm-up");
	floor_ns(tables, 0, 1);
	for (r = 0; r < reps; r++) {
		node = !node;
		if (relocate_levels(t.pid, node, 0, 0, "pte", &o) || strcmp(o.status, "ok"))
			die("relocate pte");
		pte[r] = o.elapsed_ns;
		if (o.moved_pte != tables)
			fprintf(stderr, "moved %ld of %ld\n", o.moved_pte, tables);
	}
	for (r = 0; r < reps; r++) {
		node = !node;
		if (relocate_levels(t.pid, node, 0, 0, "pte,pmd,pud", &o) || strcmp(o.status, "ok"))
			die("relocate all");
		all[r] = o.elapsed_ns;
		moved_all = o.moved;
	}
	for (r = 0; r < reps; r++)
		flr[r] = floor_ns(tables, r % 2, !(r % 2));
	/*
	 * A request for the first PTE table of the mapping alone, back and
	 * forth after a round trip not counted: the fixed cost of a request,
	 * beside the floor of one table.
	 */
	if (relocate_levels(t.pid, !node, t.mem, t.mem + PMD_SZ, "pte", NULL) ||
	    relocate_levels(t.pid, node, t.mem, t.mem + PMD_SZ, "pte", NULL))
		die("warm-up one table");
	for (r = 0; r < reps; r++) {
		int to = r % 2 ? node : !node;

		if (relocate_levels(t.pid, to, t.mem, t.mem + PMD_SZ, "pte", &o) ||
		    strcmp(o.status, "ok"))
			die("relocate one table");
		one[r] = o.elapsed_ns;
		if (o.moved_pte != 1)
			fprintf(stderr, "moved %ld of 1\n", o.moved_pte);
		one_flr[r] = floor_ns(1, !to, to);
	}
	if (relocate_levels(t.pid, node, t.mem, t.mem + PMD_SZ, "pte", NULL))
		die("one table back");
	/* Holds and gaps with CPU 3 idle, interrupts with it busy. */
	windows(&t, reps, &node, plain);
	bystander = start_bystander();
	windows(&t, reps, &node, beside);
	end_process(bystander);
	send(&t, 'f');
	for (r = 0; r < reps; r++)
		receive(&t, &frk[r], sizeof(frk[r]));
	for (r = 0; r < reps; r++) {
		unsigned long from = 1UL << data_node, to = 1UL << !data_node;
		uint64_t t0 = now_ns();

		if (migrate_pages(t.pid, 8 * sizeof(from), &from, &to) < 0)
			die("migrate_pages");
		mig[r] = now_ns() - t0;
		data_node = !data_node;
	}

	printf("    {\"mib\": %zu, \"pte_tables\": %ld, \"tables_all_levels\": %ld,\n      ",
	       mib, tables, moved_all);
	print_samples("relocate_pte_ns", pte, reps, ",\n      ");
	print_samples("relocate_all_ns", all, reps, ",\n      ");
	print_samples("floor_ns", flr, reps, ",\n      ");
	print_samples("fork_ns", frk, reps, ",\n      ");
	print_samples("migrate_pages_ns", mig, reps, ",\n      ");
	print_samples("one_table_ns", one, reps, ",\n      ");
	print_samples("floor_one_ns", one_flr, reps, ",\n      ");
	print_windows("windows", plain, reps);
	print_windows("bystander", beside, reps);
	printf("\"stall\": [");
	/* The same loops without relocation, then with it, per batch size. */
	for (b = -1; b < 3; b++) {
		struct stall s;
		uint64_t t0;
		long hold = 0;
		char c;

		send(&t, 's');
		receive(&t, &c, 1);
		t0 = now_ns();
		if (b >= 0) {
			set_batch(batches[b]);
			node = !node;
			if (relocate_levels(t.pid, node, 0, 0, "pte", &o))
				die("relocate for stall");
			hold = o.longest_hold_ns;
		} else {
			usleep(200000);
		}
		send(&t, 'x');
		receive(&t, &s, sizeof(s));
		printf("%s\n        {\"batch\": %ld, \"ns\": %llu, \"longest_hold_ns\": %ld, \"max_touch_gap_ns\": %llu, \"max_fault_ns\": %llu, \"touches\": %llu, \"faults\": %llu}",
		       b < 0 ? "" : ",", b < 0 ? 0 : batches[b],
		       (unsigned long long)(now_ns() - t0), hold,
		       (unsigned long long)s.max_gap_ns, (unsigned long long)s.max_fault_ns,
		       (unsigned long long)s.touches, (unsigned long long)s.faults);
	}
	printf("]}%s", sep);
	set_batch(64);
	send(&t, 'q');
	waitpid(t.pid, NULL, 0);
	fflush(stdout);
}

/*
 * Scale: a target that maps 64 GiB and writes one page per 2 MiB, 32768 PTE
 * tables and as many pages (128 MiB each, twice the tables while they move:
 * a 6 GiB node has room). Its PTE tables move back and forth, REPS times.
 */
static void bench_sparse(int reps)
{
	const size_t mib = 64UL << 10;
	struct target t = start_target(mib * MIB, PMD_SZ, reps);
	struct outcome o;
	uint64_t pte[64];
	int r, node = 0;
	long tables;

	tables = pte_tables(&t);
	fprintf(stderr, "sparse %zu MiB: %ld PTE tables\n", mib, tables);
	set_batch(64);
	if (relocate_levels(t.pid, 0, 0, 0, NULL, &o) || strcmp(o.status, "ok") ||
	    relocate_levels(t.pid, 1, 0, 0, "pte", NULL) ||
	    relocate_levels(t.pid, 0, 0, 0, "pte", NULL))
		die("sparse: to node 0 and warm-up");
	for (r = 0; r < reps; r++) {
		node = !node;
		if (relocate_levels(t.pid, node, 0, 0, "pte", &o) || strcmp(o.status, "ok"))
			die("sparse: relocate pte");
		pte[r] = o.elapsed_ns;
		if (o.moved_pte != tables)
			fprintf(stderr, "moved %ld of %ld\n", o.moved_pte, tables);
	}
	printf("  \"sparse\": {\"mib\": %zu, \"pte_tables\": %ld, ", mib, tables);
	print_samples("relocate_pte_ns", pte, reps, "}\n");
	send(&t, 'q');
	waitpid(t.pid, NULL, 0);
	fflush(stdout);
}

/*
 * Fairness: the target's readers of its mmap lock (faults, pagemap reads,
 * PAGEMAP_SCAN, madvise) for a window alone, then for as long under a
 * storm (this process's requests, back to back, moving its 512 PTE tables
 * between the nodes, batch 64), REPS times. Per op kind: ops and the
 * longest op in each window; the longest hold of the storm's requests.
 */
static void bench_fairness(int reps)
{
	const uint64_t window_ns = 2000000000ULL;
	struct target t = start_target(1024 * MIB, PAGE_SZ, reps);
	struct readers r[2][64];
	uint64_t hold[64], requests[64], rested[64], t0;
	struct outcome o;
	int k, rep, node = 0;
	char c;

	set_batch(64);
	if (relocate_levels(t.pid, 0, 0, 0, NULL, &o) || strcmp(o.status, "ok"))
		die("fairness: to node 0");
	for (rep = 0; rep < reps; rep++) {
		hold[rep] = 0;
		requests[rep] = 0;
		rested[rep] = 0;
		for (k = 0; k < 2; k++) {
			send(&t, 'r');
			receive(&t, &c, 1);
			t0 = now_ns();
			while (now_ns() - t0 < window_ns) {
				if (!k) {
					usleep(10000);
					continue;
				}
				node = !node;
				if (relocate_levels(t.pid, node, 0, 0, "pte", &o))
					die("fairness: storm");
				if ((uint64_t)o.longest_hold_ns > hold[rep])
					hold[rep] = o.longest_hold_ns;
				requests[rep]++;
				rested[rep] += o.rest_ns;
			}
			send(&t, 'x');
			receive(&t, &r[k][rep], sizeof(r[k][rep]));
		}
	}
	printf(",\n  \"fairness\": {\"window_ns\": %llu, ", (unsigned long long)window_ns);
	for (k = 0; k < 2; k++) {
		int kind;

		printf("\"%s\": {", k ? "storm" : "alone");
		for (kind = 0; kind < R_KINDS; kind++) {
			printf("%s\"%s\": {\"ops\": [", kind ? ", " : "", reader_keys[kind]);
			for (rep = 0; rep < reps; rep++)
				printf("%s%llu", rep ? ", " : "",
				       (unsigned long long)r[k][rep].ops[kind]);
			printf("], \"max_ns\": [");
			for (rep = 0; rep < reps; rep++)
				printf("%s%llu", rep ? ", " : "",
				       (unsigned long long)r[k][rep].max_ns[kind]);
			printf("]}");
		}
		printf("}, ");
	}
	printf("\"storm_requests\": [");
	for (rep = 0; rep < reps; rep++)
		printf("%s%llu", rep ? ", " : "", (unsigned long long)requests[rep]);
	printf("], \"storm_longest_hold_ns\": [");
	for (rep = 0; rep < reps; rep++)
		printf("%s%llu", rep ? ", " : "", (unsigned long long)hold[rep]);
	printf("], \"storm_rest_ns\": [");
	for (rep = 0; rep < reps; rep++)
		printf("%s%llu", rep ? ", " : "", (unsigned long long)rested[rep]);
	printf("]}\n");
	send(&t, 'q');
	waitpid(t.pid, NULL, 0);
	fflush(stdout);
}

/* ns per page fault over a 64 MiB mapping, REPS times. */
static void bench_faults(int reps)
{
	size_t len = 64 * MIB, off;
	uint64_t t;
	char *p;
	int r;

	for (r = 0; r < reps; r++) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die("mmap");
		madvise(p, len, MADV_NOHUGEPAGE);
		t = now_ns();
		for (off = 0; off < len; off += PAGE_SZ)
			p[off] = 1;
		t = now_ns() - t;
		munmap(p, len);
		printf("%llu\n", (unsigned long long)(t / (len / PAGE_SZ)));
	}
}

int main(int argc, char **argv)
{
	size_t sizes[16];
	int reps, n = 0, i;
	char *tok;

	if (argc == 3 && !strcmp(argv[1], "faults")) {
		bench_faults(atoi(argv[2]));
		return 0;
	}
	reps = argc == 4 ? atoi(argv[3]) : 0;
	if (argc != 4 || strcmp(argv[1], "main") || reps < 1 || reps > 64) {
		fprintf(stderr, "usage: %s main SIZES_MIB REPS | faults REPS\n", argv[0]);
		return 2;
	}
	if (access(FLOOR_FILE, W_OK))
		die("ptreloc_test.ko (" FLOOR_FILE ")");
	/* Before anything is forked: see the top of this file. */
	if (numa_node_of_cpu(TARGET_CPU) != 0 || numa_node_of_cpu(BYSTANDER_CPU) != 1 ||
	    pin_to_cpu(REQUEST_CPU)) {
		fprintf(stderr, "need CPUs 0 and 1 on node 0, 3 on node 1\n");
		return 1;
	}
	for (tok = strtok(argv[2], ","); tok && n < 16; tok = strtok(NULL, ","))
		sizes[n++] = strtoul(tok, NULL, 10);
	printf("{\"reps\": %d, \"sizes\": [\n", reps);
	for (i = 0; i < n; i++)
		bench_size(sizes[i], reps, i + 1 < n ? ",\n" : "\n");
	printf("],\n");
	bench_sparse(reps);
	bench_fairness(reps);
	printf("}\n");
	return 0;
}
