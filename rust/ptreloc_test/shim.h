/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ptreloc_test's C shim: static inlines and macros the Rust side cannot
 * reach. The Rust declarations are in sys.rs.
 */
#ifndef PTRELOC_TEST_SHIM_H
#define PTRELOC_TEST_SHIM_H

#include <linux/types.h>

struct page;
struct task_struct;

struct task_struct *ptreloc_test_kthread_run(int (*fn)(void *data),
					     void *data, unsigned int index);
int ptreloc_test_next_tgid(int nr);
int ptreloc_test_parent_tgid(int tgid);
bool ptreloc_test_node_has_memory(int nid);
bool ptreloc_test_mm_anchors(int tgid, unsigned long *anchors);
void ptreloc_test_cond_resched(void);
struct page *ptreloc_test_alloc_page_on(int nid, gfp_t gfp);
gfp_t ptreloc_test_gfp_thisnode(void);
void *ptreloc_test_page_address(struct page *page);

#endif /* PTRELOC_TEST_SHIM_H */
