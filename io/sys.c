/* CPU counting (affinity and cgroup quota) and ISO 8601 times. */
#include "sys.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The CPU quota of this process's cgroup in CPUs, rounded up (v2
 * cpu.max, else v1 cfs quota/period), or 0 when there is none. */
static int cgroup_cpus(void)
{
	long long quota = 0, period = 0;
	char word[32] = "";
	FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");

	if (f) {
		if (fscanf(f, "%31s %lld", word, &period) != 2 || !strcmp(word, "max"))
			period = 0;
		quota = atoll(word);
		fclose(f);
	} else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
		if (fscanf(f, "%lld", &quota) != 1)
			quota = 0;
		fclose(f);
		if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
			if (fscanf(f, "%lld", &period) != 1)
				period = 0;
			fclose(f);
		}
	}
	return quota > 0 && period > 0 ? (int)((quota + period - 1) / period) : 0;
}

int sys_cpu_count(void)
{
	cpu_set_t set;
	long n = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0
		 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
	int quota = cgroup_cpus();

	if (quota > 0 && quota < n)
		n = quota;
	return n > 0 ? (int)n : 1;
}

int sys_iso_time(int64_t t, char *buf, size_t n)
{
	time_t when = (time_t)t;
	struct tm tm;

	if ((int64_t)when == t && gmtime_r(&when, &tm) &&
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return 0;
	if (n > 0)
		buf[0] = '\0';   /* strftime leaves it undefined */
	return -1;
}

void sys_iso_now(char *buf, size_t n, int ms)
{
	struct timespec ts;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (sys_iso_time((int64_t)ts.tv_sec, buf, n) < 0 || !ms)
		return;
	len = strlen(buf) - 1;   /* over the 'Z' */
	snprintf(buf + len, n - len, ".%03ldZ", ts.tv_nsec / 1000000);
}
