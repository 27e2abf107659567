// SPDX-License-Identifier: GPL-2.0
/*
 * ptreloc's window on the static inlines and macros of Linux 6.12 and 7.3.
 *
 * bindgen generates bindings for functions with a symbol only, so the mm,
 * page-table and lock helpers that are static inlines or macros cannot be
 * called from Rust directly. Each function in the first part calls exactly
 * one of them, is named ptreloc_<what it wraps>, and decides nothing; the
 * few that compose several stand apart below, each saying why it is in C.
 * The Rust declarations are in sys.rs and ../common/ksys.rs. Where the two
 * kernel lines differ, compat.h supplies the missing helper by its name.
 */
#include <linux/bug.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/iommu.h>
#include <linux/memcontrol.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/mmzone.h>
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
#include <asm/tlbflush.h>

#include "compat.h"
#include "shim.h"

#ifndef CONFIG_SPLIT_PTE_PTLOCKS
#error "ptreloc relies on split PTE page-table locks (CONFIG_SPLIT_PTE_PTLOCKS)"
#endif

/* The TLB flush calls the paravirt operations, through the exported pv_ops. */
#ifndef CONFIG_PARAVIRT
#error "ptreloc flushes TLBs through the paravirt operations (CONFIG_PARAVIRT)"
#endif

/*
 * The head of a PMD table's list of deposited PTE tables lives in the PMD
 * page only with split PMD locks, which the Rust code assumes (the PMD
 * level's own lock is the split lock).
 */
#ifndef CONFIG_SPLIT_PMD_PTLOCKS
#error "ptreloc needs split PMD page-table locks"
#endif

/* Nodes */

unsigned int ptreloc_num_node_state(enum node_states state)
{
	return num_node_state(state);
}

struct pglist_data *ptreloc_NODE_DATA(int nid)
{
	return NODE_DATA(nid);
}

int ptreloc_node_distance(int from, int to)
{
	return node_distance(from, to);
}

/* Tasks and mms */

bool ptreloc_xen_pv_domain(void)
{
	return xen_pv_domain();
}

bool ptreloc_fatal_signal_pending(struct task_struct *p)
{
	return fatal_signal_pending(p);
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

int ptreloc_mmap_lock_is_contended(struct mm_struct *mm)
{
	return mmap_lock_is_contended(mm);
}

void ptreloc_vma_start_write(struct vm_area_struct *vma)
{
	vma_start_write(vma);
}

bool ptreloc_is_vm_hugetlb_page(struct vm_area_struct *vma)
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

/* A field: struct anon_vma (rmap.h) is not in the 6.12 bindings. */
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
 * Entry predicates, one wrapper each: ptreloc_<level>_<pred>(entry) wraps
 * <level>_<pred>(entry). What makes an entry a table pointer is decided in
 * the Rust code (table/walk.rs).
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

p4dval_t ptreloc_p4d_flags(p4d_t p4d)
{
	return p4d_flags(p4d);
}

/* The page of the table an entry points to. */

struct page *ptreloc_pgd_page(pgd_t pgd)
{
	return pgd_page(pgd);
}

struct page *ptreloc_p4d_page(p4d_t p4d)
{
	return p4d_page(p4d);
}

struct page *ptreloc_pud_page(pud_t pud)
{
	return pud_page(pud);
}

struct page *ptreloc_pmd_page(pmd_t pmd)
{
	return pmd_page(pmd);
}

struct page *ptreloc_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

/* Pages */

gfp_t ptreloc_gfp_pgtable_user(void)
{
	return GFP_PGTABLE_USER;
}

int ptreloc_page_to_nid(const struct page *page)
{
	return page_to_nid(page);
}

int ptreloc_page_zonenum(const struct page *page)
{
	return page_zonenum(page);
}

unsigned long ptreloc_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

struct page *ptreloc_pfn_to_online_page(unsigned long pfn)
{
	return pfn_to_online_page(pfn);
}

struct folio *ptreloc_page_folio(struct page *page)
{
	return page_folio(page);
}

bool ptreloc_folio_test_pgtable(const struct folio *folio)
{
	return folio_test_pgtable(folio);
}

bool ptreloc_PageBuddy(const struct page *page)
{
	return PageBuddy(page);
}

unsigned long ptreloc_page_private(const struct page *page)
{
	return page_private(page);
}

long ptreloc_zone_page_state(struct zone *zone, enum zone_stat_item item)
{
	return zone_page_state(zone, item);
}

/* Page-table pages */

bool ptreloc_alloc_split_ptlocks(void)
{
	return ALLOC_SPLIT_PTLOCKS;
}

spinlock_t *ptreloc_ptlock_ptr(struct page *page)
{
	return ptlock_ptr(page_ptdesc(page));
}

void ptreloc_pmd_populate(struct mm_struct *mm, pmd_t *pmd, struct page *pte)
{
	pmd_populate(mm, pmd, pte);
}

void ptreloc_pud_populate(struct mm_struct *mm, pud_t *pud, pmd_t *pmd)
{
	pud_populate(mm, pud, pmd);
}

/* The hugetlb PMD sharing count, shared with pt_index: a new PMD table's. */
void ptreloc_ptdesc_pmd_pts_init(struct page *pmd)
{
	ptdesc_pmd_pts_init(page_ptdesc(pmd));
}

/* Locks, barriers, warnings */

spinlock_t *ptreloc_pmd_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	return pmd_lockptr(mm, pmd);
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

void ptreloc_WARN(const char *msg)
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

struct mem_cgroup *ptreloc_folio_memcg(struct folio *folio)
{
	return folio_memcg(folio);
}

bool ptreloc_mem_cgroup_tryget(struct mem_cgroup *memcg)
{
	return mem_cgroup_tryget(memcg);
}

struct mem_cgroup *ptreloc_parent_mem_cgroup(struct mem_cgroup *memcg)
{
	return parent_mem_cgroup(memcg);
}

/* Cross-CPU calls and TLB flushes */

void ptreloc_on_each_cpu(smp_call_func_t func, void *info, int wait)
{
	on_each_cpu(func, info, wait);
}

void ptreloc_on_each_cpu_mask(const struct cpumask *mask, smp_call_func_t func,
			      void *info, bool wait)
{
	on_each_cpu_mask(mask, func, info, wait);
}

struct cpumask *ptreloc_mm_cpumask(struct mm_struct *mm)
{
	return mm_cpumask(mm);
}

u64 ptreloc_inc_mm_tlb_gen(struct mm_struct *mm)
{
	return inc_mm_tlb_gen(mm);
}

u16 ptreloc_mm_global_asid(struct mm_struct *mm)
{
	return mm_global_asid(mm);
}

bool ptreloc_boot_cpu_has(u16 feature)
{
	return boot_cpu_has(feature);
}

void ptreloc___flush_tlb_global(void)
{
	__flush_tlb_global();
}

void ptreloc___flush_tlb_local(void)
{
	__flush_tlb_local();
}

unsigned long ptreloc___read_cr3(void)
{
	return __read_cr3();
}

unsigned long ptreloc_CR3_ADDR_MASK(void)
{
	return CR3_ADDR_MASK;
}

bool ptreloc_this_cpu_read_cpu_tlbstate_shared_is_lazy(void)
{
	return this_cpu_read(cpu_tlbstate_shared.is_lazy);
}

bool ptreloc_cpumask_test_cpu(int cpu, const struct cpumask *cpumask)
{
	return cpumask_test_cpu(cpu, cpumask);
}

int ptreloc_raw_smp_processor_id(void)
{
	return raw_smp_processor_id();
}

void ptreloc_cpumask_clear_cpu(int cpu, struct cpumask *dstp)
{
	cpumask_clear_cpu(cpu, dstp);
}

/*
 * Shared with ptreloc_test (../common/ksys.rs): exported, so that one copy
 * serves both modules.
 */

bool ptreloc_node_state(int nid, enum node_states state)
{
	return node_state(nid, state);
}
EXPORT_SYMBOL_GPL(ptreloc_node_state);

void ptreloc_cond_resched(void)
{
	cond_resched();
}
EXPORT_SYMBOL_GPL(ptreloc_cond_resched);

struct page *ptreloc_alloc_pages_node(int nid, gfp_t gfp, unsigned int order)
{
	return alloc_pages_node(nid, gfp, order);
}
EXPORT_SYMBOL_GPL(ptreloc_alloc_pages_node);

void *ptreloc_page_address(const struct page *page)
{
	return page_address(page);
}
EXPORT_SYMBOL_GPL(ptreloc_page_address);

struct dentry *ptreloc_debugfs_create_file(const char *name, umode_t mode,
					   struct dentry *parent, void *data,
					   const struct file_operations *fops)
{
	return debugfs_create_file(name, mode, parent, data, fops);
}
EXPORT_SYMBOL_GPL(ptreloc_debugfs_create_file);

void ptreloc_rcu_read_lock(void)
{
	rcu_read_lock();
}
EXPORT_SYMBOL_GPL(ptreloc_rcu_read_lock);

void ptreloc_rcu_read_unlock(void)
{
	rcu_read_unlock();
}
EXPORT_SYMBOL_GPL(ptreloc_rcu_read_unlock);

pid_t ptreloc_pid_nr(struct pid *pid)
{
	return pid_nr(pid);
}
EXPORT_SYMBOL_GPL(ptreloc_pid_nr);

struct pid *ptreloc_get_pid(struct pid *pid)
{
	return get_pid(pid);
}
EXPORT_SYMBOL_GPL(ptreloc_get_pid);

struct task_struct *ptreloc___next_thread(struct task_struct *p)
{
	return __next_thread(p);
}
EXPORT_SYMBOL_GPL(ptreloc___next_thread);

/*
 * Composites: each calls several kernel helpers, for a reason given with it.
 */

/*
 * The page-table lock of a page: embedded in struct ptdesc, or allocated
 * separately when spinlock_t does not fit in a word (ALLOC_SPLIT_PTLOCKS, e.g.
 * with lockdep). ptlock_alloc() is not exported, so in that case a relocated
 * table takes over its predecessor's lock. In C because the ptl field has a
 * different type in each configuration; both functions exist in both so that
 * the module links, and the Rust side calls the one that
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

/*
 * The accounting half of pagetable_pte_ctor()/dtor(), whose other half
 * (ptlock_init/ptlock_free) a module cannot call: kept together so that
 * the pair mirrors the kernel's ctor and dtor in one place.
 */
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

/*
 * The user-half copy of a folded P4D (PGD) entry under PTI, or NULL. In C
 * because pgdp_maps_userspace() and kernel_to_user_pgdp() exist only with
 * PTI configured. p4d_populate() would update the copy itself, but it calls
 * __pti_set_user_pgtbl(), which is not exported (see table/page.rs).
 */
p4d_t *ptreloc_pti_user_p4dp(p4d_t *p4d)
{
#ifdef CONFIG_MITIGATION_PAGE_TABLE_ISOLATION
	if (!pgtable_l5_enabled() && cpu_feature_enabled(X86_FEATURE_PTI) &&
	    pgdp_maps_userspace(p4d))
		return (p4d_t *)kernel_to_user_pgdp((pgd_t *)p4d);
#endif
	return NULL;
}

/*
 * The deposit list of a PMD table: its head, and each deposited PTE table's
 * links. In C because they are ptdesc fields inside unions whose bindgen
 * names change with the configuration.
 */
struct page **ptreloc_pmd_huge_pte(struct page *pmd)
{
	return &page_ptdesc(pmd)->pmd_huge_pte;
}

struct list_head *ptreloc_pt_list(struct page *pte)
{
	return &page_ptdesc(pte)->pt_list;
}

struct page *ptreloc_pt_list_page(struct list_head *list)
{
	return ptdesc_page(list_entry(list, struct ptdesc, pt_list));
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
