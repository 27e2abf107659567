// SPDX-License-Identifier: GPL-2.0
/*
 * Every way a request can be refused, with the exact errno, and the control
 * files' behaviour around them. The guest's dmesg must stay clean (checked by
 * the VM runner).
 */
#include <signal.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "ptreloc_util.h"

#define SKIP_UNLESS_LOADED() do {						\
	if (!is_dir(PTRELOC_DEBUGFS))						\
		SKIP(return, "ptreloc.ko is not loaded");			\
} while (0)

/* A pid that names no process. */
static pid_t unused_pid(void)
{
	pid_t pid = 4000000;

	while (kill(pid, 0) == 0 || errno != ESRCH)
		pid--;
	return pid;
}

TEST(malformed_relocate_requests)
{
	char req[256];
	static const char * const bad[] = {
		"",					/* no keys */
		"pid=%d",				/* missing node */
		"node=0",				/* missing pid */
		"pid=%d node=0 bogus=1",		/* unknown key */
		"pid=%d node=0 trailing",		/* garbage word */
		"pid=%d pid=%d node=0",			/* duplicate */
		"pid=abc node=0",			/* not a number */
		"pid=-1 node=0",			/* negative */
		"pid=0 node=0",				/* not a pid */
		"pid=%d node=",				/* empty value */
		"pid=%d node=99",			/* node out of range */
		"pid=%d node=0 start=0x1001 end=0x200000", /* unaligned */
		"pid=%d node=0 start=0x200000 end=0x100000", /* inverted */
		"pid=%d node=0 start=0x1000 end=0x1000",	/* empty */
		"pid=%d node=0 end=0xffffffffffff0000",	/* beyond user space */
		"pid=%d node=0 start=18446744073709551616", /* overflow */
		"pid=%d node=0 levels=",		/* no level */
		"pid=%d node=0 levels=pgd",		/* not movable */
		"pid=%d node=0 levels=pte,pte",		/* level twice */
		"pid=%d node=0 levels=pte,",		/* empty element */
		"pid=%d node=0 levels=PMD",		/* case matters */
		"pid=%d node=0 inject=ad",		/* the API's test hook only */
	};
	size_t i;

	SKIP_UNLESS_LOADED();
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(req, sizeof(req), bad[i], getpid(), getpid());
		TH_LOG("request '%s'", req);
		ASSERT_EQ(-EINVAL, ctl_write("relocate", req));
	}
}

TEST(oversized_request)
{
	char req[1024];

	SKIP_UNLESS_LOADED();
	memset(req, ' ', sizeof(req) - 1);
	req[sizeof(req) - 1] = '\0';
	memcpy(req, "pid=1 node=0", 12);
	ASSERT_EQ(-EINVAL, ctl_write("relocate", req));
}

TEST(no_such_process)
{
	char req[64];

	SKIP_UNLESS_LOADED();
	snprintf(req, sizeof(req), "pid=%d node=0", unused_pid());
	ASSERT_EQ(-ESRCH, ctl_write("relocate", req));
}

TEST(kernel_thread_has_no_mm)
{
	SKIP_UNLESS_LOADED();
	/* pid 2 is kthreadd. */
	ASSERT_EQ(-ESRCH, ctl_write("relocate", "pid=2 node=0"));
}

TEST(zombie_has_no_mm)
{
	char req[64];
	pid_t child;
	siginfo_t si;

	SKIP_UNLESS_LOADED();
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(0);
	/* Wait for the exit without reaping: the child stays a zombie. */
	ASSERT_EQ(0, waitid(P_PID, child, &si, WEXITED | WNOWAIT));
	snprintf(req, sizeof(req), "pid=%d node=0", child);
	ASSERT_EQ(-ESRCH, ctl_write("relocate", req));
	ASSERT_EQ(child, waitpid(child, NULL, 0));
}

TEST(node_without_memory)
{
	char req[64];
	int nid;

	SKIP_UNLESS_LOADED();
	/* A possible node without memory (online with CPUs only, or offline). */
	for (nid = 0; nid < MAX_NODES; nid++) {
		char path[128];

		snprintf(path, sizeof(path), NODE_SYSFS "/node%d", nid);
		if (is_dir(path) && node_mem_total_kb(nid) == 0)
			break;
	}
	if (nid == MAX_NODES)
		SKIP(return, "no node without memory in this guest");
	snprintf(req, sizeof(req), "pid=%d node=%d", getpid(), nid);
	ASSERT_EQ(-ENODEV, ctl_write("relocate", req));
}

/* Drop CAP_SYS_ADMIN from the effective set, staying uid 0. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective &= ~(1U << CAP_SYS_ADMIN);
	return syscall(SYS_capset, &hdr, data);
}

TEST(writes_need_cap_sys_admin)
{
	int fds[3];

	SKIP_UNLESS_LOADED();
	/* Opened while privileged, written after dropping the capability. */
	fds[0] = open(PTRELOC_DEBUGFS "/relocate", O_RDWR);
	fds[1] = open(PTRELOC_DEBUGFS "/census", O_RDWR);
	fds[2] = open(PTRELOC_DEBUGFS "/batch", O_RDWR);
	ASSERT_LE(0, fds[0]);
	ASSERT_LE(0, fds[1]);
	ASSERT_LE(0, fds[2]);
	ASSERT_EQ(0, drop_sys_admin());
	ASSERT_EQ(-EPERM, ctl_write_fd(fds[0], "pid=1 node=0"));
	ASSERT_EQ(-EPERM, ctl_write_fd(fds[1], "pid=1"));
	ASSERT_EQ(-EPERM, ctl_write_fd(fds[2], "8"));
}

TEST(read_before_write_has_no_data)
{
	char buf[256];
	int fd;

	SKIP_UNLESS_LOADED();
	fd = open(PTRELOC_DEBUGFS "/relocate", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, read(fd, buf, sizeof(buf)));
	ASSERT_EQ(ENODATA, errno);
	close(fd);
	fd = open(PTRELOC_DEBUGFS "/census", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, read(fd, buf, sizeof(buf)));
	ASSERT_EQ(ENODATA, errno);
	close(fd);
}

TEST(failed_request_is_reported)
{
	char req[64], text[2048];
	int fd;

	SKIP_UNLESS_LOADED();
	/* A request that runs and fails: its outcome is readable. */
	fd = open(PTRELOC_DEBUGFS "/relocate", O_RDWR);
	ASSERT_LE(0, fd);
	snprintf(req, sizeof(req), "pid=%d node=0", unused_pid());
	ASSERT_EQ(-ESRCH, ctl_write_fd(fd, req));
	ASSERT_LT(0, pread(fd, text, sizeof(text) - 1, 0));
	ASSERT_NE(NULL, strstr(text, "status ESRCH (3)"));
	close(fd);
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/result", text, sizeof(text)));
	ASSERT_NE(NULL, strstr(text, "status ESRCH (3)"));
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/stats", text, sizeof(text)));
	ASSERT_NE(NULL, strstr(text, "failed_ESRCH "));
	ASSERT_EQ(NULL, strstr(text, "failed_ESRCH 0\n"));
}

TEST(census_errors)
{
	char req[64];

	SKIP_UNLESS_LOADED();
	ASSERT_EQ(-EINVAL, ctl_write("census", "pid=x"));
	ASSERT_EQ(-EINVAL, ctl_write("census", "pid=1 node=0"));
	ASSERT_EQ(-ESRCH, ctl_write("census", "pid=2"));
	snprintf(req, sizeof(req), "pid=%d", unused_pid());
	ASSERT_EQ(-ESRCH, ctl_write("census", req));
}

TEST(batch_setting)
{
	char buf[64], old[64];

	SKIP_UNLESS_LOADED();
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", old, sizeof(old)));
	ASSERT_EQ(-EINVAL, ctl_write("batch", "0"));
	ASSERT_EQ(-EINVAL, ctl_write("batch", "100000"));
	ASSERT_EQ(-EINVAL, ctl_write("batch", "8 9"));
	ASSERT_EQ(-EINVAL, ctl_write("batch", "-3"));
	ASSERT_EQ(0, ctl_write("batch", "8\n"));
	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", buf, sizeof(buf)));
	ASSERT_STREQ("8\n", buf);
	ASSERT_EQ(0, ctl_write("batch", old));
}

TEST(read_only_files_refuse_writes)
{
	SKIP_UNLESS_LOADED();
	ASSERT_EQ(-EINVAL, ctl_write("result", "x"));
	ASSERT_EQ(-EINVAL, ctl_write("stats", "x"));
	ASSERT_EQ(-EINVAL, ctl_write("version", "x"));
}

TEST_HARNESS_MAIN
