/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Driving ptreloc_test.ko's storm from a kselftest: start it on a process
 * (it follows the process's descendants), stop it, read its counters.
 */
#ifndef STORM_UTIL_H
#define STORM_UTIL_H

#include "ptreloc_util.h"

#define STORM_DEBUGFS "/sys/kernel/debug/ptreloc_test"

/* The counters of the current or last storm that a scenario reports. */
struct storm_counts {
	long iterations, relocations, moved[LEVELS], deposits;
	long esrch, enomem, errors_other, anomalies;
	long ad_injected, ad_injected_pte_accessed, ad_verified, ad_changed, ad_lost;
	long elapsed_ms;
};

static inline int storm_read(struct storm_counts *c)
{
	char buf[4096];
	static const char * const errnos[] = {
		"errors_EINTR", "errors_EBUSY", "errors_EINVAL", "errors_ENODEV",
		"errors_EPERM", "errors_other",
	};
	int i;

	/* outcome_field() wants a newline before every key. */
	buf[0] = '\n';
	if (read_file(STORM_DEBUGFS "/status", buf + 1, sizeof(buf) - 1) < 0)
		return -errno;
	c->iterations = outcome_field(buf, "iterations");
	c->relocations = outcome_field(buf, "relocations");
	c->moved[0] = outcome_field(buf, "pte_moved");
	c->moved[1] = outcome_field(buf, "pmd_moved");
	c->moved[2] = outcome_field(buf, "pud_moved");
	c->deposits = outcome_field(buf, "deposits_moved");
	c->esrch = outcome_field(buf, "errors_ESRCH");
	c->enomem = outcome_field(buf, "errors_ENOMEM");
	c->errors_other = 0;
	for (i = 0; i < 6; i++)
		c->errors_other += outcome_field(buf, errnos[i]);
	c->anomalies = outcome_field(buf, "anomalies");
	c->ad_injected = outcome_field(buf, "ad_injected");
	c->ad_injected_pte_accessed = outcome_field(buf, "ad_injected_pte_accessed");
	c->ad_verified = outcome_field(buf, "ad_verified");
	c->ad_changed = outcome_field(buf, "ad_changed");
	c->ad_lost = outcome_field(buf, "ad_lost");
	c->elapsed_ms = outcome_field(buf, "elapsed_ms");
	return 0;
}

/* Print the storm's error counters that are not zero. */
static inline void storm_print_errors(void)
{
	char buf[4096], *line;

	if (read_file(STORM_DEBUGFS "/status", buf, sizeof(buf)) < 0)
		return;
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "errors_", 7) && strcmp(strchr(line, ' '), " 0"))
			ksft_print_msg("storm %s\n", line);
}

/*
 * Start a storm on pid and its descendants; extra is appended to the
 * request. A bound of `seconds` keeps a failed test from leaving it running.
 */
static inline int storm_start(pid_t pid, int seconds, const char *extra)
{
	char req[256];

	snprintf(req, sizeof(req), "pids=%d seconds=%d %s", pid, seconds, extra);
	return ctl_write_path(STORM_DEBUGFS "/storm", req);
}

static inline int storm_stop(void)
{
	return ctl_write_path(STORM_DEBUGFS "/storm", "stop");
}

/* Why the storm cannot run here, or NULL. */
static inline const char *storm_unavailable(void)
{
	const char *why = relocation_unavailable();

	if (why)
		return why;
	if (!is_dir(STORM_DEBUGFS))
		return "ptreloc_test.ko is not loaded";
	return NULL;
}

/* Seconds since an arbitrary start, as a double. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* STORM_UTIL_H */
