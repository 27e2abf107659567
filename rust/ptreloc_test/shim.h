/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ptreloc_test's C shim: a macro wrapper and composites the Rust side
 * cannot express (see shim.c). The Rust declarations are in sys.rs.
 */
#ifndef PTRELOC_TEST_SHIM_H
#define PTRELOC_TEST_SHIM_H

#include <linux/types.h>

struct task_struct;

struct task_struct *ptreloc_test_kthread_run(int (*fn)(void *data),
					     void *data, unsigned int index);
int ptreloc_test_parent_tgid(int tgid);
bool ptreloc_test_mm_anchors(int tgid, unsigned long *anchors);

#endif /* PTRELOC_TEST_SHIM_H */
