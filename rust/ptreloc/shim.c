// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers for the static inlines and macros of Linux 6.12 that
 * ptreloc's Rust code calls. bindgen cannot generate bindings for inline
 * functions, so each one here is a one-line call with no logic of its own;
 * the Rust declarations are in sys.rs. Everything specific to the 6.12 kernel
 * line lives in this file and in sys.rs.
 */
#include <linux/nodemask.h>

unsigned int ptreloc_num_memory_nodes(void)
{
	return num_node_state(N_MEMORY);
}
