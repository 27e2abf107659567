// SPDX-License-Identifier: GPL-2.0
/*
 * After rmmod: nothing of the module is left behind. Run with ptreloc.ko
 * unloaded.
 */
#include "kselftest_harness.h"
#include "ptreloc_util.h"

TEST(module_is_gone)
{
	ASSERT_EQ(0, module_listed("ptreloc"));
	ASSERT_FALSE(is_dir("/sys/module/ptreloc"));
}

TEST(debugfs_dir_is_removed)
{
	struct stat st;

	ASSERT_TRUE(is_dir("/sys/kernel/debug"));
	ASSERT_EQ(-1, stat(PTRELOC_DEBUGFS, &st));
	ASSERT_EQ(ENOENT, errno);
}

TEST_HARNESS_MAIN
