// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers for the static inlines and macros of Linux 6.12 that
 * ptreloc's Rust code calls. bindgen cannot generate bindings for inline
 * functions, so each one here calls exactly one kernel inline (or reads one
 * config constant) and decides nothing; the Rust declarations are in sys.rs.
 * Everything specific to the 6.12 kernel line lives in this file and sys.rs.
 */
#include <linux/bug.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/iommu.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/memblock.h>
#include <linux/memory_hotplug.h>
#include <linux/nodemask.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <xen/xen.h>
#include <asm/pgalloc.h>

#include "shim.h"

#ifndef CONFIG_SPLIT_PTE_PTLOCKS
#error "ptreloc relies on split PTE page-table locks (CONFIG_SPLIT_PTE_PTLOCKS)"
#endif

/* Nodes */

unsigned int ptreloc_num_memory_nodes(void)
{
	return num_node_state(N_MEMORY);
}

bool ptreloc_node_has_memory(int nid)
{
	return node_state(nid, N_MEMORY);
}

bool ptreloc_node_online(int nid)
{
	return node_online(nid);
}

/* Tasks and mms */

bool ptreloc_xen_pv_domain(void)
{
	return xen_pv_domain();
}

bool ptreloc_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void ptreloc_cond_resched(void)
{
	cond_resched();
}

int ptreloc_mm_users(struct mm_struct *mm)
{
	return atomic_read(&mm->mm_users);
}

bool ptreloc_mm_valid_pasid(struct mm_struct *mm)
{
	return mm_valid_pasid(mm);
}

int ptreloc_mmap_write_lock_killable(struct mm_struct *mm)
{
	return mmap_write_lock_killable(mm);
}

void ptreloc_mmap_write_unlock(struct mm_struct *mm)
{
	mmap_write_unlock(mm);
}

void ptreloc_vma_start_write(struct vm_area_struct *vma)
{
	vma_start_write(vma);
}

bool ptreloc_vma_is_hugetlb(struct vm_area_struct *vma)
{
	return is_vm_hugetlb_page(vma);
}


/* Reverse-map locks */

void ptreloc_i_mmap_lock_write(struct address_space *mapping)
{
	i_mmap_lock_write(mapping);
}

bool ptreloc_i_mmap_trylock_write(struct address_space *mapping)
{
	return i_mmap_trylock_write(mapping);
}

void ptreloc_i_mmap_unlock_write(struct address_space *mapping)
{
	i_mmap_unlock_write(mapping);
}

void ptreloc_anon_vma_lock_write(struct anon_vma *anon_vma)
{
	anon_vma_lock_write(anon_vma);
}

bool ptreloc_anon_vma_trylock_write(struct anon_vma *anon_vma)
{
	return anon_vma_trylock_write(anon_vma);
}

void ptreloc_anon_vma_unlock_write(struct anon_vma *anon_vma)
{
	anon_vma_unlock_write(anon_vma);
}

struct anon_vma *ptreloc_anon_vma_root(struct anon_vma *anon_vma)
{
	return anon_vma->root;
}

/* Page-table walk (x86-64 with 4 or 5 levels) */

pgd_t *ptreloc_pgd_offset(struct mm_struct *mm, unsigned long addr)
{
	return pgd_offset(mm, addr);
}

p4d_t *ptreloc_p4d_offset(pgd_t *pgd, unsigned long addr)
{
	return p4d_offset(pgd, addr);
}

pud_t *ptreloc_pud_offset(p4d_t *p4d, unsigned long addr)
{
	return pud_offset(p4d, addr);
}

pmd_t *ptreloc_pmd_offset(pud_t *pud, unsigned long addr)
{
	return pmd_offset(pud, addr);
}

bool ptreloc_pgtable_l5_enabled(void)
{
	return pgtable_l5_enabled();
}

pgd_t ptreloc_pgdp_get(pgd_t *pgd)
{
	return pgdp_get(pgd);
}

p4d_t ptreloc_p4dp_get(p4d_t *p4d)
{
	return p4dp_get(p4d);
}

pud_t ptreloc_pudp_get(pud_t *pud)
{
	return pudp_get(pud);
}

pmd_t ptreloc_pmdp_get(pmd_t *pmd)
{
	return pmdp_get(pmd);
}

/*
 * Entry predicates, one wrapper each: ptreloc_<level>_<pred>(entry). What
 * makes an entry a table pointer is decided in the Rust code (table.rs).
 */
#define PTRELOC_ENTRY_PRED(level, pred)				\
bool ptreloc_##level##_##pred(level##_t entry)			\
{								\
	return level##_##pred(entry);				\
}

PTRELOC_ENTRY_PRED(pgd, none)
PTRELOC_ENTRY_PRED(pgd, bad)
PTRELOC_ENTRY_PRED(p4d, none)
PTRELOC_ENTRY_PRED(p4d, bad)
PTRELOC_ENTRY_PRED(p4d, leaf)
PTRELOC_ENTRY_PRED(pud, none)
PTRELOC_ENTRY_PRED(pud, bad)
PTRELOC_ENTRY_PRED(pud, leaf)
PTRELOC_ENTRY_PRED(pmd, bad)
PTRELOC_ENTRY_PRED(pmd, leaf)
PTRELOC_ENTRY_PRED(pmd, present)

struct page *ptreloc_pgd_page(pgd_t *pgd)
{
	return virt_to_page(pgd);
}

struct page *ptreloc_p4d_page(pgd_t pgd)
{
	return pgd_page(pgd);
}

struct page *ptreloc_pud_page(p4d_t p4d)
{
	return p4d_page(p4d);
}

struct page *ptreloc_pmd_page(pud_t pud)
{
	return pud_page(pud);
}

struct page *ptreloc_pte_page(pmd_t pmd)
{
	return pmd_page(pmd);
}

/* Page-table pages */

gfp_t ptreloc_gfp_pgtable_user(void)
{
	return GFP_PGTABLE_USER;
}

struct page *ptreloc_alloc_page_node(int nid, gfp_t gfp)
{
	return alloc_pages_node(nid, gfp, 0);
}

int ptreloc_page_to_nid(struct page *page)
{
	return page_to_nid(page);
}

int ptreloc_page_zonenum(struct page *page)
{
	return page_zonenum(page);
}

unsigned long ptreloc_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

/* Whether pfn is online memory holding a page-table page. */
bool ptreloc_pfn_is_pgtable(unsigned long pfn)
{
	struct page *page = pfn_to_online_page(pfn);

	return page && PageTable(page);
}

/* The node of online memory at pfn, or -1. */
int ptreloc_pfn_to_nid(unsigned long pfn)
{
	struct page *page = pfn_to_online_page(pfn);

	return page ? page_to_nid(page) : NUMA_NO_NODE;
}

unsigned long ptreloc_node_start_pfn(int nid)
{
	return node_start_pfn(nid);
}

unsigned long ptreloc_node_end_pfn(int nid)
{
	return node_end_pfn(nid);
}

int ptreloc_node_distance(int from, int to)
{
	return node_distance(from, to);
}

/* The lowest thread-group id >= nr in the initial pid namespace, or 0. */
int ptreloc_next_tgid(int nr)
{
	struct pid *pid;
	int tgid = 0;

	rcu_read_lock();
	while ((pid = find_ge_pid(nr, &init_pid_ns))) {
		if (pid_task(pid, PIDTYPE_TGID)) {
			tgid = pid_nr(pid);
			break;
		}
		nr = pid_nr(pid) + 1;
	}
	rcu_read_unlock();
	return tgid;
}

unsigned long ptreloc_mm_pgd_pfn(struct mm_struct *mm)
{
	return page_to_pfn(virt_to_page(mm->pgd));
}

bool ptreloc_node_zone_populated(int nid, int zone)
{
	return populated_zone(&NODE_DATA(nid)->node_zones[zone]);
}

void *ptreloc_page_address(struct page *page)
{
	return page_address(page);
}

bool ptreloc_alloc_split_ptlocks(void)
{
	return ALLOC_SPLIT_PTLOCKS;
}

spinlock_t *ptreloc_ptlock_ptr(struct page *page)
{
	return ptlock_ptr(page_ptdesc(page));
}

/*
 * The page-table lock of a page: embedded in struct ptdesc, or allocated
 * separately when spinlock_t does not fit in a word (ALLOC_SPLIT_PTLOCKS, e.g.
 * with lockdep). ptlock_alloc() is not exported, so in that case a relocated
 * table takes over its predecessor's lock. Both wrappers exist in both
 * configurations so that the module links; the Rust side calls the one that
 * ptreloc_alloc_split_ptlocks() says applies.
 */
void ptreloc_ptlock_set(struct page *page, spinlock_t *ptl)
{
#if ALLOC_SPLIT_PTLOCKS
	page_ptdesc(page)->ptl = ptl;
#else
	WARN_ON_ONCE(1);
#endif
}

void ptreloc_ptlock_init(struct page *page)
{
#if ALLOC_SPLIT_PTLOCKS
	WARN_ON_ONCE(1);
#else
	spin_lock_init(ptlock_ptr(page_ptdesc(page)));
#endif
}

/* The accounting half of pagetable_pte_ctor()/dtor(). */
void ptreloc_pgtable_account(struct page *page)
{
	__folio_set_pgtable(page_folio(page));
	lruvec_stat_add_folio(page_folio(page), NR_PAGETABLE);
}

void ptreloc_pgtable_unaccount(struct page *page)
{
	__folio_clear_pgtable(page_folio(page));
	lruvec_stat_sub_folio(page_folio(page), NR_PAGETABLE);
}

void ptreloc_pmd_populate(struct mm_struct *mm, pmd_t *pmd, struct page *pte)
{
	pmd_populate(mm, pmd, pte);
}

void ptreloc_pud_populate(struct mm_struct *mm, pud_t *pud, struct page *pmd)
{
	pud_populate(mm, pud, page_address(pmd));
}

/*
 * p4d_populate() cannot be used: with 4-level paging and PTI it calls
 * __pti_set_user_pgtbl(), which is not exported. A P4D entry is replaced
 * instead by keeping its flags (the kernel half of a PGD has NX under PTI)
 * and changing the table it points to, in the entry and in its PTI user-half
 * copy (see table.rs).
 */
p4d_t ptreloc_p4d_with_table(p4d_t entry, struct page *pud)
{
	return __p4d((p4d_val(entry) & ~PTE_PFN_MASK) | page_to_phys(pud));
}

/* The user-half copy of a folded P4D (PGD) entry under PTI, or NULL. */
p4d_t *ptreloc_pti_user_p4dp(p4d_t *p4d)
{
#ifdef CONFIG_MITIGATION_PAGE_TABLE_ISOLATION
	if (!pgtable_l5_enabled() && static_cpu_has(X86_FEATURE_PTI) &&
	    pgdp_maps_userspace(p4d))
		return (p4d_t *)kernel_to_user_pgdp((pgd_t *)p4d);
#endif
	return NULL;
}

void ptreloc_write_p4d(p4d_t *p4d, p4d_t entry)
{
	WRITE_ONCE(*p4d, entry);
}

/*
 * The head of a PMD table's list of PTE tables deposited for its huge pages.
 * It lives in the PMD page only with split PMD locks, which the Rust code
 * assumes (the PMD level's own lock is the split lock).
 */
#ifndef CONFIG_SPLIT_PMD_PTLOCKS
#error "ptreloc needs split PMD page-table locks"
#endif

struct page **ptreloc_pmd_huge_pte(struct page *pmd)
{
	return &page_ptdesc(pmd)->pmd_huge_pte;
}

/* The hugetlb PMD sharing count, shared with pt_index: a new PMD table's. */
void ptreloc_pmd_pts_init(struct page *pmd)
{
	ptdesc_pmd_pts_init(page_ptdesc(pmd));
}

/* The deposit list's links, in each deposited PTE table's ptdesc. */
struct list_head *ptreloc_pt_list(struct page *pte)
{
	return &page_ptdesc(pte)->pt_list;
}

struct page *ptreloc_pt_list_page(struct list_head *list)
{
	return ptdesc_page(list_entry(list, struct ptdesc, pt_list));
}

struct page *ptreloc_virt_to_page(void *addr)
{
	return virt_to_page(addr);
}

/* Locks */

spinlock_t *ptreloc_pmd_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	return pmd_lockptr(mm, pmd);
}

/* The lock of PUD and P4D entries (pud_lockptr(), __pud_alloc()). */
spinlock_t *ptreloc_mm_page_table_lock(struct mm_struct *mm)
{
	return &mm->page_table_lock;
}

void ptreloc_spin_lock_nested(spinlock_t *lock, unsigned int subclass)
{
	spin_lock_nested(lock, subclass);
}

void ptreloc_smp_wmb(void)
{
	/* Pairs with the dependent loads of lockless walkers (GUP-fast). */
	smp_wmb();
}

void ptreloc_warn(const char *msg)
{
	WARN(1, "ptreloc: %s\n", msg);
}

/* Memory cgroups */

struct mem_cgroup *ptreloc_set_active_memcg(struct mem_cgroup *memcg)
{
	return set_active_memcg(memcg);
}

void ptreloc_mem_cgroup_put(struct mem_cgroup *memcg)
{
	mem_cgroup_put(memcg);
}

/* Cross-CPU calls */

void ptreloc_on_each_cpu(smp_call_func_t func)
{
	on_each_cpu(func, NULL, 1);
}

/*
 * The in-kernel API: exported wrappers of the Rust entry points in api.rs.
 * The structures are defined in rust/common/abi.rs, which both ptreloc and
 * its callers compile.
 */

int ptreloc_relocate(const struct ptreloc_request *req,
		     struct ptreloc_outcome *out)
{
	return ptreloc_rust_relocate(req, out);
}
EXPORT_SYMBOL_GPL(ptreloc_relocate);

int ptreloc_read_entry(int pid, unsigned int level, unsigned long addr,
		       u64 *entry)
{
	return ptreloc_rust_read_entry(pid, level, addr, entry);
}
EXPORT_SYMBOL_GPL(ptreloc_read_entry);
