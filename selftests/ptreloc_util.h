/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the ptreloc kselftests (and tools/bench), defined in
 * ptreloc_util.c, where each is described:
 *
 *  - the debugfs client: control-file writes, relocation requests and their
 *    outcome, the census;
 *  - counters independent of the module: per-node PageTables in sysfs,
 *    KPF_PGTABLE in /proc/kpageflags, the placement seen three ways;
 *  - memory helpers: aligned mappings, patterns and checksums, memory
 *    policy, children that die with their parent.
 *
 * Last, assertions for files that include kselftest_harness.h first.
 */
#ifndef PTRELOC_UTIL_H
#define PTRELOC_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PTRELOC_DEBUGFS "/sys/kernel/debug/ptreloc"
#define NODE_SYSFS "/sys/devices/system/node"
#define MEMORY_SYSFS "/sys/devices/system/memory"
#define MAX_NODES 8
#define PAGE_SZ 4096UL
#define PMD_SZ (2UL << 20)
#define KPF_PGTABLE 26

/* glibc 2.36 predates it */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The debugfs client */

int ctl_write_fd(int fd, const char *req);
int ctl_write_path(const char *path, const char *req);
int ctl_write(const char *file, const char *req);

/* The outcome of a relocation, as read back from the relocate file. */
struct outcome {
	char status[32];
	long examined, moved, already, skipped_hugetlb_vmas, skipped_changed;
	long skipped_contended, skipped_crowded, ad_entries, anomalies, batches, flushes;
	long skipped_hugetlb_tables;
	long moved_pte, moved_pmd, moved_pud, deposits_moved;
	long examined_pte, already_pte;
	long spares_allocated, spares_used;
	long longest_hold_ns, rests, rest_ns, elapsed_ns;
};

/* A "key value" line of a debugfs file, and the long it is read into. */
struct text_field {
	const char *key;
	size_t offset;
};

ssize_t read_fields(int fd, char *text, size_t size);
long outcome_field(const char *text, const char *key);
void parse_fields(const char *text, const struct text_field *fields, size_t n, void *dst);
void parse_outcome(const char *text, struct outcome *o);

int relocate_levels_zone(pid_t pid, int node, unsigned long start, unsigned long end,
			 const char *levels, const char *zone, struct outcome *o);
int relocate_levels(pid_t pid, int node, unsigned long start, unsigned long end,
		    const char *levels, struct outcome *o);
int relocate_levels_settled(pid_t pid, int node, unsigned long start, unsigned long end,
			    const char *levels, struct outcome *o);
int relocate(pid_t pid, int node, unsigned long start, unsigned long end, struct outcome *o);

enum level { PGD, P4D, PUD, PMD, PTE, LEVELS };

int evacuate_outcome(const char *req, char *text, size_t size);
int census(pid_t pid, long counts[LEVELS][MAX_NODES]);
int settle_freed_tables(void);
int module_listed(const char *name);
const char *relocation_unavailable(void);

/* Counters independent of the module */

ssize_t read_file(const char *path, char *buf, size_t size);
int is_dir(const char *path);
long file_number(const char *path, const char *key);
long cpu_interrupts(int cpu, const char *name);

long node_meminfo_kb(int nid, const char *key);
long node_mem_total_kb(int nid);
long node_pagetables_kb(int nid);
int nodes_with_memory(void);

void kpageflags_each(int fd, unsigned long start, unsigned long end,
		     void (*f)(uint64_t flags, void *arg), void *arg);
long kpageflags_pgtables_in(unsigned long start, unsigned long end);
int kpageflags_pgtables(long per_node[MAX_NODES]);

/* Where an mm's page tables are, seen three ways. */
struct placement {
	long census[LEVELS][MAX_NODES];
	long pt_kb[MAX_NODES];
	long kpf[MAX_NODES];
};

int measure(pid_t pid, struct placement *pl);

/* Memory blocks of a node: [first, last], and pages per block. */
struct blocks {
	unsigned long first, last, pages;
};

int node_blocks(int nid, struct blocks *b);

/* Memory helpers */

void die_with_parent(pid_t parent);
int bind_to_node(int node);
int pin_self(int cpu);
void *mmap_aligned(size_t len, int prot, int flags, int fd, off_t off);
uint64_t pattern_word(uint64_t seed, size_t i);
void fill_pattern(void *p, size_t len, uint64_t seed);
uint64_t checksum(const void *p, size_t len);
void populate_on_node(void *p, size_t len, int node, uint64_t seed);
void *map_anon_on_node(size_t len, int node, uint64_t seed);
int map_files(unsigned long base, int n, unsigned long step);
int files_intact(unsigned long base, int from, int n, unsigned long step);
void unmap_files(unsigned long base, int from, int n, unsigned long step);
struct uffdio_api;
int uffd_open(int flags, struct uffdio_api *api);

/* Assertions: for files that include kselftest_harness.h first. */
#ifdef __KSELFTEST_HARNESS_H

/*
 * Check that exactly `moved` tables of `level` went from node `from` to node
 * `to` between two measurements by the census, and exactly `pages`
 * page-table pages in all by PageTables and KPF_PGTABLE (more than `moved`
 * when a request also moved tables of other levels, or deposits).
 */
static inline void assert_level_moved(struct __test_metadata *_metadata,
				      const struct placement *before,
				      const struct placement *after, int level,
				      long moved, long pages, int from, int to)
{
	ASSERT_EQ(before->census[level][to] + moved, after->census[level][to]);
	ASSERT_EQ(before->census[level][from] - moved, after->census[level][from]);
	ASSERT_EQ(before->pt_kb[to] + 4 * pages, after->pt_kb[to]);
	ASSERT_EQ(before->pt_kb[from] - 4 * pages, after->pt_kb[from]);
	ASSERT_EQ(before->kpf[to] + pages, after->kpf[to]);
	ASSERT_EQ(before->kpf[from] - pages, after->kpf[from]);
}

#endif /* __KSELFTEST_HARNESS_H */

#endif /* PTRELOC_UTIL_H */
