// SPDX-License-Identifier: GPL-2.0
/*
 * Relocation into one zone of the target node (zone=dma32|normal). Needs a
 * guest whose node 0 has memory below and above 4 GiB (scripts/check boots
 * one with 4 GiB per node: node 0 then has both zones, node 1 only NORMAL).
 * Placement per zone is counted independently: KPF_PGTABLE pages in
 * /proc/kpageflags within each zone's PFN span from /proc/zoneinfo.
 */
#include "kselftest_harness.h"
#include "ptreloc_util.h"

enum { DMA32, NORMAL, ZONES };
static const char *const zone_names[ZONES] = { "DMA32", "Normal" };

struct zone_span {
	unsigned long start_pfn, spanned, present;
};

/* The PFN span of `zone` on node `nid`, from /proc/zoneinfo. */
static int zone_span(int nid, int zone, struct zone_span *z)
{
	char line[256], want[64];
	int in_zone = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -errno;
	memset(z, 0, sizeof(*z));
	snprintf(want, sizeof(want), "Node %d, zone %8s", nid, zone_names[zone]);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Node ", 5)) {
			in_zone = !strncmp(line, want, strlen(want));
			continue;
		}
		if (!in_zone)
			continue;
		if (sscanf(line, " spanned %lu", &z->spanned) == 1 ||
		    sscanf(line, " present %lu", &z->present) == 1 ||
		    sscanf(line, " start_pfn: %lu", &z->start_pfn) == 1)
			continue;
	}
	fclose(f);
	return 0;
}

/* KPF_PGTABLE pages in a zone's PFN span. */
static long zone_pgtables(const struct zone_span *z)
{
	return kpageflags_pgtables_in(z->start_pfn, z->start_pfn + z->spanned);
}

FIXTURE(zones) {
	struct zone_span node0[ZONES];
};

FIXTURE_SETUP(zones)
{
	const char *why = relocation_unavailable();
	int zone;

	if (why)
		SKIP(return, "%s", why);
	for (zone = 0; zone < ZONES; zone++) {
		ASSERT_EQ(0, zone_span(0, zone, &self->node0[zone]));
		if (!self->node0[zone].present)
			SKIP(return, "node 0 has no %s memory (needs a guest with memory above 4 GiB)",
			     zone_names[zone]);
	}
}

FIXTURE_TEARDOWN(zones) {}

/* Moves [p, p + len) to node 0's zone; checks the per-zone counts. */
static void move_to_zone(struct __test_metadata *_metadata, struct zone_span *spans,
			 char *p, size_t len, const char *zone, int to, long expected)
{
	unsigned long start = (unsigned long)p;
	long before[ZONES], after[ZONES];
	struct outcome o;
	int z;

	ASSERT_EQ(0, settle_freed_tables());
	for (z = 0; z < ZONES; z++)
		before[z] = zone_pgtables(&spans[z]);
	ASSERT_EQ(0, relocate_levels_zone(getpid(), 0, start, start + len, "pte", zone, &o));
	ASSERT_EQ(0, settle_freed_tables());
	for (z = 0; z < ZONES; z++)
		after[z] = zone_pgtables(&spans[z]);
	ASSERT_STREQ("ok", o.status);
	TH_LOG("zone=%s: moved %ld, already %ld", zone, o.moved, o.already);
	ASSERT_EQ(expected, o.moved);
	ASSERT_EQ((long)(len / PMD_SZ) - expected, o.already);
	ASSERT_EQ(before[to] + expected, after[to]);
}

TEST_F_TIMEOUT(zones, dma32_then_normal, 300)
{
	size_t len = 16UL << 20;
	struct outcome o;
	uint64_t sum;
	char *p;

	p = map_anon_on_node(len, 1, 1);
	ASSERT_NE(MAP_FAILED, p);
	sum = checksum(p, len);
	/* Warm up the kpageflags buffer before counting. */
	zone_pgtables(&self->node0[DMA32]);

	move_to_zone(_metadata, self->node0, p, len, "dma32", DMA32, len / PMD_SZ);
	ASSERT_EQ(sum, checksum(p, len));
	/* On node 0 already, but in the wrong zone: they move again. */
	move_to_zone(_metadata, self->node0, p, len, "normal", NORMAL, len / PMD_SZ);
	ASSERT_EQ(sum, checksum(p, len));
	move_to_zone(_metadata, self->node0, p, len, "normal", NORMAL, 0);
	/* Without zone=, any zone of the node will do. */
	ASSERT_EQ(0, relocate(getpid(), 0, (unsigned long)p, (unsigned long)p + len, &o));
	ASSERT_EQ(0, o.moved);
	munmap(p, len);
}

/* A zone the node does not have is refused; so is an unknown one. */
TEST_F(zones, missing_or_unknown_zone)
{
	struct zone_span node1;
	char req[96];

	ASSERT_EQ(0, zone_span(1, DMA32, &node1));
	if (node1.present)
		SKIP(return, "node 1 has DMA32 memory here");
	snprintf(req, sizeof(req), "pid=%d node=1 zone=dma32", getpid());
	ASSERT_EQ(-EINVAL, ctl_write("relocate", req));
	snprintf(req, sizeof(req), "pid=%d node=0 zone=movable", getpid());
	ASSERT_EQ(-EINVAL, ctl_write("relocate", req));
}

TEST_HARNESS_MAIN
