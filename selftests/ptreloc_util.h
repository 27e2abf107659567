/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the ptreloc kselftests: reading sysfs/debugfs files and
 * node information from sources independent of the module.
 */
#ifndef PTRELOC_UTIL_H
#define PTRELOC_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PTRELOC_DEBUGFS "/sys/kernel/debug/ptreloc"
#define NODE_SYSFS "/sys/devices/system/node"

/*
 * Read a whole (small) file into buf, NUL-terminated. Returns the length, or
 * -errno.
 */
static inline ssize_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t len, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	while ((len = read(fd, buf + total, size - 1 - total)) > 0)
		total += len;
	if (len < 0)
		total = -errno;
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

static inline int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * MemTotal of one node in kB from its sysfs meminfo, or -1 if the node does
 * not exist.
 */
static inline long node_mem_total_kb(int nid)
{
	char path[128], buf[8192], *p;

	snprintf(path, sizeof(path), NODE_SYSFS "/node%d/meminfo", nid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "MemTotal:");
	return p ? strtol(p + strlen("MemTotal:"), NULL, 10) : -1;
}

#endif /* PTRELOC_UTIL_H */
