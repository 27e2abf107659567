/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C half of the version layer: kernel helpers that one of the two lines
 * ptreloc builds for (6.12, 7.3) does not offer to a module, defined here
 * under the kernel's own names, so that shim.c wraps them alike on both.
 * The Rust half is ../common/compat.rs.
 */
#ifndef PTRELOC_COMPAT_H
#define PTRELOC_COMPAT_H

#include <linux/atomic.h>
#include <linux/mm_types.h>
#include <linux/rmap.h>
#include <linux/rwsem.h>
#include <asm/cpufeature.h>

/* Kbuild defines it on the 7.x line. */
#ifdef PTRELOC_KERNEL_7
/*
 * 7.x moved the anon_vma lock helpers into mm/internal.h, out of a module's
 * reach; struct anon_vma is still public. These are their bodies there.
 */
static inline void anon_vma_lock_write(struct anon_vma *anon_vma)
{
	down_write(&anon_vma->root->rwsem);
}

static inline int anon_vma_trylock_write(struct anon_vma *anon_vma)
{
	return down_write_trylock(&anon_vma->root->rwsem);
}

static inline void anon_vma_unlock_write(struct anon_vma *anon_vma)
{
	up_write(&anon_vma->root->rwsem);
}
#endif

/*
 * Both lines keep the x86 TLB-generation helpers under #ifndef MODULE in
 * asm/tlbflush.h; their fields are public. These are their bodies there.
 *
 * The full barrier of the increment orders the page-table stores before it
 * against a later read of mm_cpumask(), and pairs with switch_mm_irqs_off(),
 * which sets its CPU's bit in the mask before it reads tlb_gen.
 */
static inline u64 inc_mm_tlb_gen(struct mm_struct *mm)
{
	return atomic64_inc_return(&mm->context.tlb_gen);
}

/*
 * The per-CPU lazy-TLB flag, exported on both lines (EXPORT_PER_CPU_SYMBOL in
 * arch/x86/mm/tlb.c) but declared, with its struct, under #ifndef MODULE in
 * asm/tlbflush.h. The struct is this one bool on both lines (6.12.118 and
 * 7.3.4); should a kernel declare them for modules, these collide and the
 * build says so.
 */
struct tlb_state_shared {
	bool is_lazy;
};
DECLARE_PER_CPU_SHARED_ALIGNED(struct tlb_state_shared, cpu_tlbstate_shared);

/*
 * A global ASID (7.x, AMD INVLPGB) is the same on every CPU; the kernel
 * keeps it coherent with broadcast invalidations only, so its mm's
 * mm_cpumask() and tlb_gen do not say which CPUs may hold its entries.
 * 6.12 has no global ASIDs.
 */
#if defined(PTRELOC_KERNEL_7) && defined(CONFIG_BROADCAST_TLB_FLUSH)
static inline u16 mm_global_asid(struct mm_struct *mm)
{
	if (!cpu_feature_enabled(X86_FEATURE_INVLPGB))
		return 0;
	/* Pairs with the store-release in mm_assign_global_asid(). */
	return smp_load_acquire(&mm->context.global_asid);
}
#else
static inline u16 mm_global_asid(struct mm_struct *mm)
{
	return 0;
}
#endif

#endif /* PTRELOC_COMPAT_H */
