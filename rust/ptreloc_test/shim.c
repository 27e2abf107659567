// SPDX-License-Identifier: GPL-2.0
/*
 * ptreloc_test's C shim: each function wraps a static inline or a macro
 * (kthread_run, RCU-protected task lookups, node_state) and nothing else.
 */
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>

#include "shim.h"

struct task_struct *ptreloc_test_kthread_run(int (*fn)(void *data),
					     void *data, unsigned int index)
{
	return kthread_run(fn, data, "ptreloc_storm/%u", index);
}

/* The first thread-group id >= @nr in the initial namespace, or 0. */
int ptreloc_test_next_tgid(int nr)
{
	struct pid *pid;
	int found = 0;

	rcu_read_lock();
	for (;; nr++) {
		pid = find_ge_pid(nr, &init_pid_ns);
		if (!pid)
			break;
		nr = pid_nr(pid);
		if (pid_task(pid, PIDTYPE_TGID)) {
			found = nr;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

/* The thread-group id of @tgid's parent, or 0 if @tgid is gone. */
int ptreloc_test_parent_tgid(int tgid)
{
	struct task_struct *task;
	int parent = 0;

	rcu_read_lock();
	task = pid_task(find_pid_ns(tgid, &init_pid_ns), PIDTYPE_TGID);
	if (task)
		parent = task_tgid_nr(rcu_dereference(task->real_parent));
	rcu_read_unlock();
	return parent;
}

bool ptreloc_test_node_has_memory(int nid)
{
	return node_state(nid, N_MEMORY);
}

/*
 * Addresses around which @tgid's memory lies: code, heap, mmap base and
 * stack. False if it has no mm.
 */
bool ptreloc_test_mm_anchors(int tgid, unsigned long *anchors)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct pid *pid;

	pid = find_get_pid(tgid);
	task = get_pid_task(pid, PIDTYPE_TGID);
	put_pid(pid);
	if (!task)
		return false;
	mm = get_task_mm(task);
	put_task_struct(task);
	if (!mm)
		return false;
	anchors[0] = mm->start_code;
	anchors[1] = mm->start_brk;
	anchors[2] = mm->mmap_base;
	anchors[3] = mm->start_stack;
	mmput(mm);
	return true;
}

void ptreloc_test_cond_resched(void)
{
	cond_resched();
}

struct page *ptreloc_test_alloc_page_on(int nid, gfp_t gfp)
{
	return alloc_pages_node(nid, gfp, 0);
}

gfp_t ptreloc_test_gfp_thisnode(void)
{
	return __GFP_THISNODE;
}

void *ptreloc_test_page_address(struct page *page)
{
	return page_address(page);
}
