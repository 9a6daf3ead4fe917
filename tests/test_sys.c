/* io/sys: the CPUs the process may use, and ISO 8601 times. */
#include <time.h>

#include "check.h"
#include "../io/sys.h"

/* The count follows the process's affinity mask. */
static void test_cpu_count(void)
{
	cpu_set_t all;

	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0, "affinity");
	CHECK(sys_cpu_count() >= 1 && sys_cpu_count() <= CPU_COUNT(&all), "%d of %d",
	      sys_cpu_count(), CPU_COUNT(&all));
	CHECK(check_pin_one_cpu(&all) == 0, "set affinity");
	CHECK(sys_cpu_count() == 1, "one CPU allowed: %d", sys_cpu_count());
	sched_setaffinity(0, sizeof(all), &all);
}

static void test_iso_time(void)
{
	char buf[SYS_TIME_MAX], small[8];
	time_t before = time(NULL), after;
	struct tm tm = { 0 };

	CHECK(sys_iso_time(1700000000, buf, sizeof(buf)) == 0 &&
	      strcmp(buf, "2023-11-14T22:13:20Z") == 0, "'%s'", buf);
	CHECK(sys_iso_time(0, buf, sizeof(buf)) == 0 && strcmp(buf, "1970-01-01T00:00:00Z") == 0,
	      "'%s'", buf);
	CHECK(sys_iso_time(1700000000, small, sizeof(small)) == -1 && small[0] == '\0',
	      "a buffer too small: '%s'", small);
	sys_iso_now(buf, sizeof(buf), 0);
	after = time(NULL);
	CHECK(strlen(buf) == 20 && buf[19] == 'Z' && strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm),
	      "now: '%s'", buf);
	CHECK(timegm(&tm) >= before && timegm(&tm) <= after, "now '%s' is not the time", buf);
	sys_iso_now(buf, sizeof(buf), 1);
	CHECK(strlen(buf) == 24 && buf[19] == '.' && buf[23] == 'Z' &&
	      buf[20] >= '0' && buf[20] <= '9', "now with milliseconds: '%s'", buf);
}

int main(void)
{
	RUN(test_cpu_count);
	RUN(test_iso_time);
	return check_report("test_sys");
}
