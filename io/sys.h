/* What the process learns from the system it runs on: how many CPUs it may
 * use, and the time as written in records and logs. */
#ifndef PL_SYS_H
#define PL_SYS_H

#include <stddef.h>
#include <stdint.h>

#define SYS_TIME_MAX 32   /* room for any sys_iso_time / sys_iso_now text */

/* CPUs this process may use: its affinity mask (as containers set it),
 * capped by its cgroup's CPU quota (a Kubernetes CPU limit); at least 1.
 * What a thread count of 0 ("all") means in the configuration. */
int sys_cpu_count(void);

/* Writes t (seconds since 1970) as UTC ISO 8601, "2026-12-03T11:42:52Z",
 * into buf (n >= SYS_TIME_MAX); returns 0, or -1 (buf "") when t has no
 * such form. */
int sys_iso_time(int64_t t, char *buf, size_t n);

/* Writes the current time as sys_iso_time does, or with milliseconds
 * ("2026-12-03T11:42:52.123Z") when ms is non-zero. */
void sys_iso_now(char *buf, size_t n, int ms);

#endif
