/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the server-death tests (kill_classic, kill_ring) share: callers in
 * child processes that must come back within CALLER_LIMIT, and the
 * measures of a leak (slab, free memory, the module's references).
 * Include after raw_server.h.
 */
#ifndef KILL_UTIL_H
#define KILL_UTIL_H

#include <sched.h>

#define CALLER_LIMIT	5.0	/* seconds a caller may take to return */

/*
 * The tolerances of the mount/serve/unmount cycles, measured after a
 * warm-up: 2 MiB of slab and 4 MiB of free memory (free_kib()).  Slab
 * moves by a few hundred KiB and free memory by less than 1 MiB whatever
 * fuseuring does, so 4 MiB is a quarter of the 16 MiB the issue allows.
 */
#define SLAB_SLACK_KIB	2048
#define FREE_SLACK_KIB	(4 * 1024)

/*
 * A caller: stat(mnt/<name><i>) on CPU cpu (-1: anywhere); exits 0 on
 * ENOTCONN or EIO, 1 on success, 2 on another error.
 */
static inline pid_t start_caller_on(const char *mnt, const char *name, int i,
				    int cpu)
{
	char path[128];
	struct stat st;
	pid_t pid = fork();

	if (pid)
		return pid;
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	snprintf(path, sizeof(path), "%s/%s%d", mnt, name, i);
	if (!stat(path, &st))
		_exit(1);
	_exit(errno == ENOTCONN || errno == EIO ? 0 : 2);
}

static inline pid_t start_caller(const char *mnt, const char *name, int i)
{
	return start_caller_on(mnt, name, i, -1);
}

/* Wait for the callers, all within CALLER_LIMIT of now; # that failed. */
static inline int wait_callers(pid_t *pids, int n, int want)
{
	double t0 = raw_now();
	int i, bad = 0, st;

	for (i = 0; i < n; i++) {
		double left = CALLER_LIMIT - (raw_now() - t0);

		st = raw_wait(pids[i], left > 0 ? left : 0.01);
		if (st != want) {
			fprintf(stderr, "# caller %d: status %d (want %d; -1: still waiting after %.0f s)\n",
				i, st, want, CALLER_LIMIT);
			bad++;
		}
	}
	return bad;
}

/* How many of the callers are still running (none is reaped). */
static inline int callers_running(pid_t *pids, int n)
{
	siginfo_t si;
	int i, running = 0;

	for (i = 0; i < n; i++) {
		si.si_pid = 0;
		if (!waitid(P_PID, pids[i], &si, WEXITED | WNOHANG | WNOWAIT) &&
		    !si.si_pid)
			running++;
	}
	return running;
}

static inline long meminfo_kib(const char *key)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key));
	if (f)
		fclose(f);
	return v;
}

/*
 * Free memory: MemFree and the pages on the per-CPU free lists
 * (/proc/zoneinfo's "count:"), which MemFree leaves out.  In a 2 GiB
 * guest those lists hold up to 27 MiB a CPU (6.1: "high: 6985"); between
 * two settled samples MemFree alone moved by 25 MiB as they filled and
 * drained, the sum by less than 1 MiB (6.1 guest, 2026-11-30).
 */
static inline long free_kib(void)
{
	long pages = 0, v;
	char line[128];
	FILE *f = fopen("/proc/zoneinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &v) == 1)
			pages += v;
	if (f)
		fclose(f);
	return meminfo_kib("MemFree:") + pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Let deferred frees (RCU) land, then read Slab. */
static inline long settle_slab(void)
{
	int i, fd;

	for (i = 0; i < 2; i++) {
		sync();
		fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "3", 1) != 1)
				perror("drop_caches");
			close(fd);
		}
		sleep(1);
	}
	return meminfo_kib("Slab:");
}

/*
 * The module's reference count once it settles (a dead server's ring is
 * torn down by io_uring's exit work, which may still hold the device
 * file for a moment): waits up to limit seconds for 0.
 */
static inline int module_refs(double limit)
{
	double t0 = raw_now();
	int refs = -1;

	do {
		FILE *f = fopen("/sys/module/fuseuring/refcnt", "r");

		if (!f)
			return -1;
		if (fscanf(f, "%d", &refs) != 1)
			refs = -1;
		fclose(f);
		if (!refs)
			break;
		usleep(20 * 1000);
	} while (raw_now() - t0 < limit);
	return refs;
}

/*
 * Unload the module, trying again for up to limit seconds while it is
 * still held (see module_refs()); 0, or the last failure's -errno.
 */
static inline int module_unload(double limit)
{
	double t0 = raw_now();
	int err;

	while (syscall(__NR_delete_module, "fuseuring", O_NONBLOCK)) {
		err = -errno;
		if (raw_now() - t0 >= limit)
			return err;
		usleep(100 * 1000);
	}
	return 0;
}

#endif /* KILL_UTIL_H */
