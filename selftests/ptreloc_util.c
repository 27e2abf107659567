// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the ptreloc kselftests: driving the debugfs interface,
 * and reading page-table placement from sources independent of the module
 * (per-node PageTables in sysfs, KPF_PGTABLE in /proc/kpageflags).
 */
#include <numa.h>
#include <sched.h>
#include <numaif.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <linux/userfaultfd.h>

#include "ptreloc_util.h"

#define FIELDS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The debugfs client
 */

/*
 * Write one request to a ptreloc control file on an open fd. Returns 0, or
 * -errno of the write.
 */
int ctl_write_fd(int fd, const char *req)
{
	ssize_t n = write(fd, req, strlen(req));

	if (n < 0)
		return -errno;
	return n == (ssize_t)strlen(req) ? 0 : -EIO;
}

/* Open path with flags and write req to it. Returns 0 or -errno. */
static int ctl_write_open(const char *path, int flags, const char *req)
{
	int fd = open(path, flags), ret;

	if (fd < 0)
		return -errno;
	ret = ctl_write_fd(fd, req);
	close(fd);
	return ret;
}

/* Write a string to a file by path. Returns 0 or -errno. */
int ctl_write_path(const char *path, const char *req)
{
	return ctl_write_open(path, O_WRONLY, req);
}

/* Write a request to the ptreloc debugfs file `file`. Returns 0 or -errno. */
int ctl_write(const char *file, const char *req)
{
	char path[256];

	snprintf(path, sizeof(path), PTRELOC_DEBUGFS "/%s", file);
	return ctl_write_open(path, O_RDWR, req);
}

/*
 * The number after `key` at the start of a line of text, or -1. text must
 * start with a newline for its first line to count.
 */
long outcome_field(const char *text, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s ", key);
	p = strstr(text, pat);
	return p ? strtol(p + strlen(pat), NULL, 0) : -1;
}

/*
 * Reads fd's text from offset 0 into text (size bytes) after a newline, so
 * that outcome_field() finds its first line too. Returns the bytes read or
 * -errno; text is a string either way.
 */
ssize_t read_fields(int fd, char *text, size_t size)
{
	ssize_t n = pread(fd, text + 1, size - 2, 0);
	int err = errno;

	text[0] = '\n';
	text[n > 0 ? n + 1 : 1] = '\0';
	return n < 0 ? -err : n;
}

/*
 * Writes req to evacuate and reads its outcome into text (size bytes, see
 * read_fields). 0, or -errno of the write, else of the read (-ENODATA if
 * a request that succeeded has no outcome).
 */
int evacuate_outcome(const char *req, char *text, size_t size)
{
	int fd = open(PTRELOC_DEBUGFS "/evacuate", O_RDWR);
	ssize_t n;
	int ret;

	if (fd < 0)
		return -errno;
	ret = ctl_write_fd(fd, req);
	n = read_fields(fd, text, size);
	close(fd);
	if (ret)
		return ret;
	return n < 0 ? n : n ? 0 : -ENODATA;
}

/* Read the n fields of text into the longs of dst they name (-1: absent). */
void parse_fields(const char *text, const struct text_field *fields, size_t n, void *dst)
{
	size_t i;

	for (i = 0; i < n; i++)
		*(long *)((char *)dst + fields[i].offset) = outcome_field(text, fields[i].key);
}

#define OUTCOME(key, field) { key, offsetof(struct outcome, field) }

static const struct text_field outcome_fields[] = {
	OUTCOME("tables_examined", examined),
	OUTCOME("tables_moved", moved),
	OUTCOME("tables_already_on_node", already),
	OUTCOME("skipped_hugetlb_vmas", skipped_hugetlb_vmas),
	OUTCOME("skipped_changed", skipped_changed),
	OUTCOME("skipped_contended", skipped_contended),
	OUTCOME("skipped_crowded", skipped_crowded),
	OUTCOME("skipped_hugetlb_tables", skipped_hugetlb_tables),
	OUTCOME("pte_moved", moved_pte),
	OUTCOME("pmd_moved", moved_pmd),
	OUTCOME("pud_moved", moved_pud),
	OUTCOME("pte_deposited_moved", deposits_moved),
	OUTCOME("pte_examined", examined_pte),
	OUTCOME("pte_already_on_node", already_pte),
	OUTCOME("ad_entries_carried", ad_entries),
	OUTCOME("anomalies", anomalies),
	OUTCOME("batches", batches),
	OUTCOME("tlb_flushes", flushes),
	OUTCOME("spares_allocated", spares_allocated),
	OUTCOME("spares_used", spares_used),
	OUTCOME("longest_lock_hold_ns", longest_hold_ns),
	OUTCOME("rests", rests),
	OUTCOME("rest_ns", rest_ns),
	OUTCOME("elapsed_ns", elapsed_ns),
};

/* Every long of struct outcome, after its status, has its line. */
_Static_assert(FIELDS(outcome_fields) ==
	       (sizeof(struct outcome) - offsetof(struct outcome, examined)) / sizeof(long),
	       "a field of struct outcome is not parsed");

/* Fill o from the text of the relocate file (with a newline before it). */
void parse_outcome(const char *text, struct outcome *o)
{
	const char *p = strstr(text, "\nstatus ");

	memset(o, 0, sizeof(*o));
	if (p)
		sscanf(p + strlen("\nstatus "), "%31s", o->status);
	parse_fields(text, outcome_fields, FIELDS(outcome_fields), o);
}

/*
 * Relocate the tables of the given levels ("pte,pmd,pud" or a subset; NULL
 * for the module's default, all three) of pid that map [start, end) (end 0:
 * the whole mm) to node, in the given zone ("dma32", "normal"; NULL for
 * any). Returns 0 or -errno; fills o (if not NULL) from the relocate file,
 * read back on the same open file.
 */
int relocate_levels_zone(pid_t pid, int node, unsigned long start, unsigned long end,
			 const char *levels, const char *zone, struct outcome *o)
{
	char req[192], text[2048];
	int fd, ret, len;

	len = snprintf(req, sizeof(req), "pid=%d node=%d", pid, node);
	if (end)
		len += snprintf(req + len, sizeof(req) - len, " start=0x%lx end=0x%lx",
				start, end);
	if (levels)
		len += snprintf(req + len, sizeof(req) - len, " levels=%s", levels);
	if (zone)
		len += snprintf(req + len, sizeof(req) - len, " zone=%s", zone);
	snprintf(req + len, sizeof(req) - len, "\n");
	fd = open(PTRELOC_DEBUGFS "/relocate", O_RDWR);
	if (fd < 0)
		return -errno;
	ret = ctl_write_fd(fd, req);
	if (o) {
		read_fields(fd, text, sizeof(text));
		parse_outcome(text, o);
	}
	close(fd);
	return ret;
}

int relocate_levels(pid_t pid, int node, unsigned long start, unsigned long end,
		    const char *levels, struct outcome *o)
{
	return relocate_levels_zone(pid, node, start, end, levels, NULL, o);
}

/*
 * relocate_levels(), repeated while tables were skipped for rmap-lock
 * contention (ten times at most). A PMD or PUD table spans other mappings,
 * libc's among them, whose locks the module only tries: a reclaim or
 * compaction rmap walk holding one for a moment is not a failure, and a
 * user would ask again, as this does. The moved counts of o add up over the
 * requests; the rest of o is the last request's. o may be NULL.
 */
int relocate_levels_settled(pid_t pid, int node, unsigned long start, unsigned long end,
			    const char *levels, struct outcome *o)
{
	long moved = 0, pte = 0, pmd = 0, pud = 0, deposits = 0, anomalies = 0;
	struct outcome own;
	int ret, tries = 0;

	if (!o)
		o = &own;
	for (;;) {
		ret = relocate_levels(pid, node, start, end, levels, o);
		moved += o->moved;
		pte += o->moved_pte;
		pmd += o->moved_pmd;
		pud += o->moved_pud;
		deposits += o->deposits_moved;
		anomalies += o->anomalies;
		if (ret || !o->skipped_contended || ++tries == 10)
			break;
		usleep(20000);
	}
	o->moved = moved;
	o->moved_pte = pte;
	o->moved_pmd = pmd;
	o->moved_pud = pud;
	o->deposits_moved = deposits;
	o->anomalies = anomalies;
	return ret;
}

/* Relocate the PTE tables only (the tests of the PTE level count them). */
int relocate(pid_t pid, int node, unsigned long start, unsigned long end, struct outcome *o)
{
	return relocate_levels(pid, node, start, end, "pte", o);
}

/*
 * The census of pid: counts[level][node]. Returns the number of nodes in the
 * header, or -errno.
 */
int census(pid_t pid, long counts[LEVELS][MAX_NODES])
{
	static const char *const names[LEVELS] = { "pgd", "p4d", "pud", "pmd", "pte" };
	char req[64], text[1024], *line, *save;
	int fd, ret, nodes = 0;
	ssize_t n;

	memset(counts, 0, sizeof(long) * LEVELS * MAX_NODES);
	snprintf(req, sizeof(req), "pid=%d", pid);
	fd = open(PTRELOC_DEBUGFS "/census", O_RDWR);
	if (fd < 0)
		return -errno;
	ret = ctl_write_fd(fd, req);
	n = ret ? -1 : pread(fd, text, sizeof(text) - 1, 0);
	if (n < 0)
		ret = ret ? ret : -errno;
	close(fd);
	if (ret)
		return ret;
	text[n] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok, *s2;
		int lvl, i = 0;

		tok = strtok_r(line, " ", &s2);
		if (!tok)
			continue;
		if (!strcmp(tok, "level")) {
			while (strtok_r(NULL, " ", &s2))
				nodes++;
			continue;
		}
		for (lvl = 0; lvl < LEVELS; lvl++) {
			if (strcmp(tok, names[lvl]))
				continue;
			while ((tok = strtok_r(NULL, " ", &s2)) && i < MAX_NODES)
				counts[lvl][i++] = strcmp(tok, "folded") ? atol(tok) : -1;
			break;
		}
	}
	return nodes;
}

/*
 * Run the calling thread once on every CPU it may use. A CPU that went idle
 * after running a process keeps that process's mm as its lazy-TLB mm, and
 * an exited process's PGD is freed only when the last CPU lets go of it
 * (__mmdrop). In 7.3 the PGD counts in the per-node PageTables, so a count
 * could drop later by a page for a process that exited long before.
 */
static void visit_every_cpu(void)
{
	cpu_set_t old, one;
	int cpu;

	if (sched_getaffinity(0, sizeof(old), &old))
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &old))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (!sched_setaffinity(0, sizeof(one), &one))
			sched_yield();
	}
	sched_setaffinity(0, sizeof(old), &old);
}

/*
 * Let page tables that are freed late go before counting: those that idle
 * CPUs still hold (visit_every_cpu), then those freed after an RCU grace
 * period (a process that exited, tlb_remove_table(), and ptreloc's own old
 * tables, which it frees in the background after a request), with
 * ptreloc_test.ko's rcu_barrier file.
 */
int settle_freed_tables(void)
{
	int ret;

	visit_every_cpu();
	ret = ctl_write_path("/sys/kernel/debug/ptreloc_test/rcu_barrier", "1\n");

	if (ret == -ENOENT)
		fprintf(stderr, "ptreloc_test.ko is not loaded: counters cannot be settled\n");
	return ret;
}

/* Whether /proc/modules lists the module `name`: 1 or 0, or -errno. */
int module_listed(const char *name)
{
	char buf[65536], pat[64];
	ssize_t n = read_file("/proc/modules", buf, sizeof(buf));

	if (n < 0)
		return n;
	snprintf(pat, sizeof(pat), "%s ", name);
	return strstr(buf, pat) != NULL;
}

/* Whether the module can be driven here: loaded, and two nodes with memory. */
const char *relocation_unavailable(void)
{
	if (!is_dir(PTRELOC_DEBUGFS))
		return "ptreloc.ko is not loaded";
	if (nodes_with_memory() < 2)
		return "needs two NUMA nodes with memory";
	return NULL;
}

/*
 * Counters independent of the module
 */

/*
 * Read a whole (small) file into buf, NUL-terminated. Returns the length, or
 * -errno.
 */
ssize_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t len, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	while ((len = read(fd, buf + total, size - 1 - total)) > 0)
		total += len;
	if (len < 0)
		total = -errno;
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The number after `key` in a (small) file, or the number the file starts
 * with when key is NULL; -1 if there is none.
 */
long file_number(const char *path, const char *key)
{
	char buf[8192], *p;

	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	if (!key)
		return strtol(buf, NULL, 10);
	p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/*
 * The count of interrupt `name` ("CAL", "TLB", ...) that CPU `cpu` took, from
 * /proc/interrupts, whose columns are the online CPUs; -1 if there is none.
 */
long cpu_interrupts(int cpu, const char *name)
{
	char buf[65536], want[16], *line, *col, *end;
	int i, column = -1;

	if (read_file("/proc/interrupts", buf, sizeof(buf)) < 0)
		return -1;
	snprintf(want, sizeof(want), "CPU%d", cpu);
	line = strtok_r(buf, "\n", &end);
	for (i = 0, col = strtok(line, " "); col; col = strtok(NULL, " "), i++)
		if (!strcmp(col, want))
			column = i;
	if (column < 0)
		return -1;
	while ((line = strtok_r(NULL, "\n", &end))) {
		col = strtok(line, " ");
		if (!col || strncmp(col, name, strlen(name)) || col[strlen(name)] != ':')
			continue;
		for (i = 0; i < column && (col = strtok(NULL, " ")); i++)
			;
		col = strtok(NULL, " ");
		return col ? strtol(col, NULL, 10) : -1;
	}
	return -1;
}

/* A value from a node's sysfs meminfo ("Node N <key>: <v> kB"), or -1. */
long node_meminfo_kb(int nid, const char *key)
{
	char path[128];

	snprintf(path, sizeof(path), NODE_SYSFS "/node%d/meminfo", nid);
	return file_number(path, key);
}

long node_mem_total_kb(int nid)
{
	return node_meminfo_kb(nid, "MemTotal:");
}

/*
 * PageTables of a node, exact: vmstat counters are kept per CPU and folded
 * into the node's total only past a threshold, so fold them first.
 */
long node_pagetables_kb(int nid)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror("stat_refresh");
		close(fd);
	}
	return node_meminfo_kb(nid, " PageTables:");
}

/*
 * Number of nodes with memory (libnuma counts the nodes whose sysfs meminfo
 * has a MemTotal above 0); 0 without NUMA.
 */
int nodes_with_memory(void)
{
	return numa_available() < 0 ? 0 : numa_num_configured_nodes();
}

/*
 * Calls f(flags, arg) with the /proc/kpageflags word (fd, open) of every
 * PFN in [start, end) that has one. Reads in chunks into a static buffer and
 * allocates nothing (it may run while a test measures page-table placement).
 */
void kpageflags_each(int fd, unsigned long start, unsigned long end,
		     void (*f)(uint64_t flags, void *arg), void *arg)
{
	static uint64_t flags[4096];
	unsigned long pfn = start;

	while (pfn < end) {
		size_t n = end - pfn < 4096 ? end - pfn : 4096, i;
		ssize_t got = pread(fd, flags, n * 8, pfn * 8);

		if (got <= 0)
			break;
		for (i = 0; i < (size_t)got / 8; i++)
			f(flags[i], arg);
		pfn += got / 8;
	}
}

static void count_pgtable(uint64_t flags, void *count)
{
	*(long *)count += (flags >> KPF_PGTABLE) & 1;
}

/* KPF_PGTABLE pages in [start, end), or -errno. */
long kpageflags_pgtables_in(unsigned long start, unsigned long end)
{
	int fd = open("/proc/kpageflags", O_RDONLY);
	long count = 0;

	if (fd < 0)
		return -errno;
	kpageflags_each(fd, start, end, count_pgtable, &count);
	close(fd);
	return count;
}

/*
 * Page-table pages per node, counted independently of the module: every PFN
 * with KPF_PGTABLE in /proc/kpageflags, mapped to its node through the
 * memory blocks listed in /sys/devices/system/node/nodeN/. Returns 0 or
 * -errno.
 */
int kpageflags_pgtables(long per_node[MAX_NODES])
{
	char path[256], buf[64];
	unsigned long block_pages;
	struct dirent *de;
	int fd, nid;
	DIR *dir;

	memset(per_node, 0, sizeof(long) * MAX_NODES);
	if (read_file("/sys/devices/system/memory/block_size_bytes", buf, sizeof(buf)) < 0)
		return -errno;
	block_pages = strtoul(buf, NULL, 16) / PAGE_SZ;
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0)
		return -errno;
	for (nid = 0; nid < MAX_NODES; nid++) {
		snprintf(path, sizeof(path), NODE_SYSFS "/node%d", nid);
		dir = opendir(path);
		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			unsigned long block;

			if (sscanf(de->d_name, "memory%lu", &block) != 1)
				continue;
			kpageflags_each(fd, block * block_pages, (block + 1) * block_pages,
					count_pgtable, &per_node[nid]);
		}
		closedir(dir);
	}
	close(fd);
	return 0;
}

/* The placement of pid's page tables: census, PageTables, KPF_PGTABLE. */
int measure(pid_t pid, struct placement *pl)
{
	static long warm_up[MAX_NODES];
	static int warm;
	int ret, nid;

	/*
	 * The first scan of /proc/kpageflags faults in its buffer, which may
	 * allocate a page table of ours: do that before anything is counted.
	 */
	if (!warm++ && kpageflags_pgtables(warm_up))
		return -EIO;
	ret = settle_freed_tables();
	if (ret < 0)
		return ret;
	ret = census(pid, pl->census);
	if (ret < 0)
		return ret;
	for (nid = 0; nid < MAX_NODES; nid++)
		pl->pt_kb[nid] = node_pagetables_kb(nid);
	return kpageflags_pgtables(pl->kpf);
}

/*
 * Memory helpers
 */

/*
 * In a child: die with the parent, so that a failed assertion cannot leave
 * a child running (and holding a target's mm or our stdout) forever.
 */
void die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(4);
}

/* The memory blocks of node nid; 0, or -1 if it has none. */
int node_blocks(int nid, struct blocks *b)
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

/*
 * Bind (node >= 0) or unbind (node < 0) this thread's memory policy.
 * Returns 0, or -1 with errno set.
 */
int bind_to_node(int node)
{
	unsigned long mask = 1UL << (node < 0 ? 0 : node);

	return set_mempolicy(node < 0 ? MPOL_DEFAULT : MPOL_BIND, node < 0 ? NULL : &mask,
			     node < 0 ? 0 : 8 * sizeof(mask));
}

/* Pin this thread to one CPU. Returns 0, or -1 with errno set. */
int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* An mmap of len bytes aligned to 2 MiB, so that it owns whole PTE tables. */
void *mmap_aligned(size_t len, int prot, int flags, int fd, off_t off)
{
	char *p, *aligned;

	if (fd >= 0) {
		/* Reserve an aligned hole, then map the file over it. */
		p = mmap(NULL, len + PMD_SZ, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return p;
		aligned = (char *)(((unsigned long)p + PMD_SZ - 1) & ~(PMD_SZ - 1));
		munmap(p, len + PMD_SZ);
		return mmap(aligned, len, prot, flags | MAP_FIXED_NOREPLACE, fd, off);
	}
	p = mmap(NULL, len + PMD_SZ, prot, flags, -1, 0);
	if (p == MAP_FAILED)
		return p;
	aligned = (char *)(((unsigned long)p + PMD_SZ - 1) & ~(PMD_SZ - 1));
	if (aligned > p)
		munmap(p, aligned - p);
	munmap(aligned + len, p + PMD_SZ - aligned);
	return aligned;
}

/* Word i of the pattern for a seed: it depends on both. */
uint64_t pattern_word(uint64_t seed, size_t i)
{
	return (seed + i) * 0x9e3779b97f4a7c15ULL;
}

/* Fill with a pattern that depends on the seed and every word's position. */
void fill_pattern(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i);
}

uint64_t checksum(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len / 8; i++)
		sum = (sum ^ w[i]) * 0x100000001b3ULL;
	return sum;
}

/*
 * Fill len bytes at p with the pattern of seed, in 4 KiB pages (THP off),
 * bound to node meanwhile: the page tables that the faults allocate are
 * allocated there.
 */
void populate_on_node(void *p, size_t len, int node, uint64_t seed)
{
	madvise(p, len, MADV_NOHUGEPAGE);
	bind_to_node(node);
	fill_pattern(p, len, seed);
	bind_to_node(-1);
}

/*
 * Maps n one-page files at base, base + step, ...: each its own memfd, so
 * each VMA brings its own rmap lock (i_mmap_rwsem). Their tables are made
 * on node 0, and each page holds its index plus one.
 */
int map_files(unsigned long base, int n, unsigned long step)
{
	int i, fd, ret = 0;

	bind_to_node(0);
	for (i = 0; i < n && !ret; i++) {
		char *want = (char *)(base + i * step), *p;

		fd = memfd_create("ptreloc-span", 0);
		if (fd < 0 || ftruncate(fd, PAGE_SZ)) {
			ret = -1;
			break;
		}
		p = mmap(want, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
			 fd, 0);
		close(fd);
		if (p != want)
			ret = -1;
		else
			*p = (char)(i + 1);
	}
	bind_to_node(-1);
	return ret;
}

/* The files map_files() mapped from index `from` hold what it wrote. */
int files_intact(unsigned long base, int from, int n, unsigned long step)
{
	int i;

	for (i = from; i < n; i++)
		if (*(char *)(base + i * step) != (char)(i + 1))
			return 0;
	return 1;
}

void unmap_files(unsigned long base, int from, int n, unsigned long step)
{
	int i;

	for (i = from; i < n; i++)
		munmap((char *)(base + i * step), PAGE_SZ);
}

/*
 * A userfaultfd (O_CLOEXEC | O_NONBLOCK | flags) after the UFFDIO_API
 * handshake with *api, which gets the features the kernel offers; -errno if
 * either fails (the caller's test skips: the feature is absent).
 */
int uffd_open(int flags, struct uffdio_api *api)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, api)) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/*
 * A private anonymous mapping of len bytes from mmap_aligned(), populated
 * by populate_on_node(); MAP_FAILED if there is none.
 */
void *map_anon_on_node(size_t len, int node, uint64_t seed)
{
	void *p = mmap_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		populate_on_node(p, len, node, seed);
	return p;
}
