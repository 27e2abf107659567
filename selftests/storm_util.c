// SPDX-License-Identifier: GPL-2.0
/*
 * Driving ptreloc_test.ko's storm from a kselftest: start it on a process
 * (it follows the process's descendants), stop it, read its counters.
 */
#include <time.h>

#include "kselftest.h"
#include "storm_util.h"

#define STORM(key, field) { key, offsetof(struct storm_counts, field) }

static const struct text_field storm_fields[] = {
	STORM("iterations", iterations),
	STORM("relocations", relocations),
	STORM("pte_moved", moved[0]),
	STORM("pmd_moved", moved[1]),
	STORM("pud_moved", moved[2]),
	STORM("deposits_moved", deposits),
	STORM("errors_ESRCH", esrch),
	STORM("errors_ENOMEM", enomem),
	STORM("anomalies", anomalies),
	STORM("ad_injected", ad_injected),
	STORM("ad_injected_pte_accessed", ad_injected_pte_accessed),
	STORM("ad_injected_huge_accessed", ad_injected_huge_accessed),
	STORM("ad_verified", ad_verified),
	STORM("ad_changed", ad_changed),
	STORM("ad_lost", ad_lost),
	STORM("elapsed_ms", elapsed_ms),
};

/*
 * Read the storm's status into c; errors_other adds up the errnos the
 * scenarios do not expect. Returns 0 or -errno.
 */
int storm_read(struct storm_counts *c)
{
	char buf[4096];
	static const char * const errnos[] = {
		"errors_EINTR", "errors_EBUSY", "errors_EINVAL", "errors_ENODEV",
		"errors_EPERM", "errors_other",
	};
	size_t i;

	/* outcome_field() wants a newline before every key. */
	buf[0] = '\n';
	if (read_file(STORM_DEBUGFS "/status", buf + 1, sizeof(buf) - 1) < 0)
		return -errno;
	parse_fields(buf, storm_fields, ARRAY_SIZE(storm_fields), c);
	c->errors_other = 0;
	for (i = 0; i < ARRAY_SIZE(errnos); i++)
		c->errors_other += outcome_field(buf, errnos[i]);
	return 0;
}

/* Print the storm's error counters that are not zero. */
void storm_print_errors(void)
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
int storm_start(pid_t pid, int seconds, const char *extra)
{
	char req[256];

	snprintf(req, sizeof(req), "pids=%d seconds=%d %s", pid, seconds, extra);
	return ctl_write_path(STORM_DEBUGFS "/storm", req);
}

int storm_stop(void)
{
	return ctl_write_path(STORM_DEBUGFS "/storm", "stop");
}

/* Why the storm cannot run here, or NULL. */
const char *storm_unavailable(void)
{
	const char *why = relocation_unavailable();

	if (why)
		return why;
	if (!is_dir(STORM_DEBUGFS))
		return "ptreloc_test.ko is not loaded";
	return NULL;
}

/* Seconds since an arbitrary start, as a double. */
double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
