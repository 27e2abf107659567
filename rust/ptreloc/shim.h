/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's functions, declared for the compiler's prototype checks; the
 * Rust declarations of the same functions are in sys.rs and
 * ../common/ksys.rs.
 */
#ifndef PTRELOC_SHIM_H
#define PTRELOC_SHIM_H

#include <linux/mm_types.h>
#include <linux/nodemask.h>
#include <linux/pgtable.h>
#include <linux/smp.h>
#include <linux/spinlock_types.h>

struct address_space;
struct anon_vma;
struct mem_cgroup;
struct pglist_data;
struct pid;
struct task_struct;

unsigned int ptreloc_num_node_state(enum node_states state);
struct pglist_data *ptreloc_NODE_DATA(int nid);
int ptreloc_node_distance(int from, int to);
bool ptreloc_xen_pv_domain(void);
bool ptreloc_fatal_signal_pending(struct task_struct *p);
bool ptreloc_mm_valid_pasid(struct mm_struct *mm);
int ptreloc_mmap_write_lock_killable(struct mm_struct *mm);
void ptreloc_mmap_write_unlock(struct mm_struct *mm);
int ptreloc_mmap_lock_is_contended(struct mm_struct *mm);
void ptreloc_vma_start_write(struct vm_area_struct *vma);
bool ptreloc_is_vm_hugetlb_page(struct vm_area_struct *vma);
void ptreloc_i_mmap_lock_write(struct address_space *mapping);
bool ptreloc_i_mmap_trylock_write(struct address_space *mapping);
void ptreloc_i_mmap_unlock_write(struct address_space *mapping);
void ptreloc_anon_vma_lock_write(struct anon_vma *anon_vma);
bool ptreloc_anon_vma_trylock_write(struct anon_vma *anon_vma);
void ptreloc_anon_vma_unlock_write(struct anon_vma *anon_vma);
struct anon_vma *ptreloc_anon_vma_root(struct anon_vma *anon_vma);
pgd_t *ptreloc_pgd_offset(struct mm_struct *mm, unsigned long addr);
p4d_t *ptreloc_p4d_offset(pgd_t *pgd, unsigned long addr);
pud_t *ptreloc_pud_offset(p4d_t *p4d, unsigned long addr);
pmd_t *ptreloc_pmd_offset(pud_t *pud, unsigned long addr);
bool ptreloc_pgtable_l5_enabled(void);
pgd_t ptreloc_pgdp_get(pgd_t *pgd);
p4d_t ptreloc_p4dp_get(p4d_t *p4d);
pud_t ptreloc_pudp_get(pud_t *pud);
pmd_t ptreloc_pmdp_get(pmd_t *pmd);
p4dval_t ptreloc_p4d_flags(p4d_t p4d);
struct page *ptreloc_pgd_page(pgd_t pgd);
struct page *ptreloc_p4d_page(p4d_t p4d);
struct page *ptreloc_pud_page(pud_t pud);
struct page *ptreloc_pmd_page(pmd_t pmd);
struct page *ptreloc_virt_to_page(const void *addr);
gfp_t ptreloc_gfp_pgtable_user(void);
int ptreloc_page_to_nid(const struct page *page);
int ptreloc_page_zonenum(const struct page *page);
unsigned long ptreloc_page_to_pfn(const struct page *page);
struct page *ptreloc_pfn_to_online_page(unsigned long pfn);
struct folio *ptreloc_page_folio(struct page *page);
bool ptreloc_folio_test_pgtable(const struct folio *folio);
bool ptreloc_PageBuddy(const struct page *page);
unsigned long ptreloc_page_private(const struct page *page);
long ptreloc_zone_page_state(struct zone *zone, enum zone_stat_item item);
bool ptreloc_alloc_split_ptlocks(void);
spinlock_t *ptreloc_ptlock_ptr(struct page *page);
void ptreloc_pmd_populate(struct mm_struct *mm, pmd_t *pmd, struct page *pte);
void ptreloc_pud_populate(struct mm_struct *mm, pud_t *pud, pmd_t *pmd);
void ptreloc_ptdesc_pmd_pts_init(struct page *pmd);
spinlock_t *ptreloc_pmd_lockptr(struct mm_struct *mm, pmd_t *pmd);
void ptreloc_spin_lock_nested(spinlock_t *lock, unsigned int subclass);
void ptreloc_smp_wmb(void);
void ptreloc_WARN(const char *msg);
struct mem_cgroup *ptreloc_set_active_memcg(struct mem_cgroup *memcg);
void ptreloc_mem_cgroup_put(struct mem_cgroup *memcg);
struct mem_cgroup *ptreloc_folio_memcg(struct folio *folio);
bool ptreloc_mem_cgroup_tryget(struct mem_cgroup *memcg);
struct mem_cgroup *ptreloc_parent_mem_cgroup(struct mem_cgroup *memcg);
void ptreloc_on_each_cpu(smp_call_func_t func, void *info, int wait);
void ptreloc_on_each_cpu_mask(const struct cpumask *mask, smp_call_func_t func,
			      void *info, bool wait);
struct cpumask *ptreloc_mm_cpumask(struct mm_struct *mm);
u64 ptreloc_inc_mm_tlb_gen(struct mm_struct *mm);
u16 ptreloc_mm_global_asid(struct mm_struct *mm);
bool ptreloc_boot_cpu_has(u16 feature);
void ptreloc___flush_tlb_global(void);
void ptreloc___flush_tlb_local(void);
unsigned long ptreloc___read_cr3(void);
unsigned long ptreloc_CR3_ADDR_MASK(void);
bool ptreloc_this_cpu_read_cpu_tlbstate_shared_is_lazy(void);
bool ptreloc_cpumask_test_cpu(int cpu, const struct cpumask *cpumask);
int ptreloc_raw_smp_processor_id(void);
void ptreloc_cpumask_clear_cpu(int cpu, struct cpumask *dstp);
bool ptreloc_node_state(int nid, enum node_states state);
void ptreloc_cond_resched(void);
struct page *ptreloc_alloc_pages_node(int nid, gfp_t gfp, unsigned int order);
void *ptreloc_page_address(const struct page *page);
struct dentry *ptreloc_debugfs_create_file(const char *name, umode_t mode,
					   struct dentry *parent, void *data,
					   const struct file_operations *fops);
void ptreloc_rcu_read_lock(void);
void ptreloc_rcu_read_unlock(void);
pid_t ptreloc_pid_nr(struct pid *pid);
struct pid *ptreloc_get_pid(struct pid *pid);
struct task_struct *ptreloc___next_thread(struct task_struct *p);
void ptreloc_ptlock_set(struct page *page, spinlock_t *ptl);
void ptreloc_ptlock_init(struct page *page);
void ptreloc_pgtable_account(struct page *page);
void ptreloc_pgtable_unaccount(struct page *page);
p4d_t *ptreloc_pti_user_p4dp(p4d_t *p4d);
struct page **ptreloc_pmd_huge_pte(struct page *pmd);
struct list_head *ptreloc_pt_list(struct page *pte);
struct page *ptreloc_pt_list_page(struct list_head *list);
bool ptreloc_pgd_none(pgd_t entry);
bool ptreloc_pgd_bad(pgd_t entry);
bool ptreloc_p4d_none(p4d_t entry);
bool ptreloc_p4d_bad(p4d_t entry);
bool ptreloc_p4d_leaf(p4d_t entry);
bool ptreloc_pud_none(pud_t entry);
bool ptreloc_pud_bad(pud_t entry);
bool ptreloc_pud_leaf(pud_t entry);
bool ptreloc_pmd_bad(pmd_t entry);
bool ptreloc_pmd_leaf(pmd_t entry);
bool ptreloc_pmd_present(pmd_t entry);

/* The in-kernel API (rust/common/abi.rs), exported. */
struct ptreloc_request;
struct ptreloc_outcome;
int ptreloc_rust_relocate(const struct ptreloc_request *req,
			  struct ptreloc_outcome *out);
int ptreloc_rust_read_entry(int pid, unsigned int level, unsigned long addr,
			    u64 *entry);
int ptreloc_relocate(const struct ptreloc_request *req,
		     struct ptreloc_outcome *out);
int ptreloc_read_entry(int pid, unsigned int level, unsigned long addr,
		       u64 *entry);

#endif /* PTRELOC_SHIM_H */
