// SPDX-License-Identifier: GPL-2.0
/*
 * The module is loaded, its debugfs interface is in place, and the guest has
 * the NUMA topology the other tests rely on. Run with ptreloc.ko loaded.
 */
#include "kselftest_harness.h"
#include "ptreloc_util.h"

TEST(module_is_listed)
{
	ASSERT_EQ(1, module_listed("ptreloc"));
	ASSERT_TRUE(is_dir("/sys/module/ptreloc"));
}

TEST(debugfs_dir_exists)
{
	ASSERT_TRUE(is_dir(PTRELOC_DEBUGFS));
}

TEST(version_reads_back)
{
	char buf[64];

	ASSERT_EQ((ssize_t)strlen(PTRELOC_VERSION "\n"),
		  read_file(PTRELOC_DEBUGFS "/version", buf, sizeof(buf)));
	ASSERT_STREQ(PTRELOC_VERSION "\n", buf);
}

TEST(version_is_read_only)
{
	struct stat st;
	int fd;

	ASSERT_EQ(0, stat(PTRELOC_DEBUGFS "/version", &st));
	ASSERT_EQ(0444, st.st_mode & 07777);
	/* Root may open it for writing, but it has no write method. */
	fd = open(PTRELOC_DEBUGFS "/version", O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, write(fd, "1", 1));
	ASSERT_EQ(EINVAL, errno);
	close(fd);
}

/* The batch size documented as the default, before any test changes it. */
TEST(default_batch_is_64)
{
	char buf[64];

	ASSERT_LT(0, read_file(PTRELOC_DEBUGFS "/batch", buf, sizeof(buf)));
	ASSERT_STREQ("64\n", buf);
}

TEST(two_online_nodes_with_memory)
{
	char buf[64];

	/* has_memory lists online nodes with memory. */
	ASSERT_LT(0, read_file(NODE_SYSFS "/has_memory", buf, sizeof(buf)));
	ASSERT_STREQ("0-1\n", buf);
	/* Each node has a real share of memory, not a token zone. */
	ASSERT_LT(256 * 1024, node_mem_total_kb(0));
	ASSERT_LT(256 * 1024, node_mem_total_kb(1));
	/* A third node, if any, is the CPU-only one scripts/check asks for. */
	ASSERT_GE(0, node_mem_total_kb(2));
}

TEST_HARNESS_MAIN
