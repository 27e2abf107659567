/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Driving ptreloc_test.ko's storm from a kselftest: start it on a process
 * (it follows the process's descendants), stop it, read its counters.
 * Defined in storm_util.c.
 */
#ifndef STORM_UTIL_H
#define STORM_UTIL_H

#include "ptreloc_util.h"

#define STORM_DEBUGFS "/sys/kernel/debug/ptreloc_test"

/* The counters of the current or last storm that a scenario reports. */
struct storm_counts {
	long iterations, relocations, moved[LEVELS], deposits;
	long esrch, enomem, errors_other, anomalies;
	long ad_injected, ad_injected_pte_accessed, ad_injected_huge_accessed;
	long ad_verified, ad_changed, ad_lost;
	long elapsed_ms;
};

int storm_read(struct storm_counts *c);
void storm_print_errors(void);
int storm_start(pid_t pid, int seconds, const char *extra);
int storm_stop(void);
const char *storm_unavailable(void);
double now_s(void);

#endif /* STORM_UTIL_H */
