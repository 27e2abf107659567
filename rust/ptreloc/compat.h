/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C half of the version layer: kernel helpers that one of the two lines
 * ptreloc builds for (6.12, 7.3) does not offer to a module, defined here
 * under the kernel's own names, so that shim.c wraps them alike on both.
 * The Rust half is ../common/compat.rs.
 */
#ifndef PTRELOC_COMPAT_H
#define PTRELOC_COMPAT_H

#include <linux/rmap.h>
#include <linux/rwsem.h>

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

#endif /* PTRELOC_COMPAT_H */
