// SPDX-License-Identifier: GPL-2.0
/*
 * ptreloc_test's C shim.
 *
 * bindgen generates bindings only for functions that have a symbol, so the
 * static inlines and macros of Linux 6.12 cannot be called from Rust. The
 * first part wraps such a macro and does nothing else; the composites below
 * it call several kernel helpers, each for a reason given with it. The
 * kernel helpers ptreloc_test shares with ptreloc are exported by ptreloc
 * (../common/ksys.rs). The Rust declarations are in sys.rs.
 */
#include <linux/kthread.h>
#include <linux/mm_types.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>

#include "shim.h"

struct task_struct *ptreloc_test_kthread_run(int (*fn)(void *data),
					     void *data, unsigned int index)
{
	return kthread_run(fn, data, "ptreloc_storm/%u", index);
}

/*
 * Composites: each calls several kernel helpers, for a reason given with it.
 */

/*
 * The thread-group id of @tgid's parent, or 0 if @tgid is gone. In C
 * because it looks the task up and dereferences its RCU-protected
 * real_parent under rcu_read_lock(), which 6.12's Rust cannot take (an
 * inline, and no RCU abstraction).
 */
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

/*
 * Addresses around which @tgid's memory lies: code, heap, mmap base and
 * stack. False if it has no mm. In C so that the pid, task and mm
 * references it takes are dropped in the same place, the mm's fields read
 * while its reference is held.
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
