// SPDX-License-Identifier: GPL-2.0
/*
 * rttbench: round-trip latency of one request to the filesystem's server.
 *
 *   rttbench FILE COUNT
 *
 * statx() with AT_STATX_FORCE_SYNC makes a FUSE client ask its server for
 * the attributes every time (a GETATTR), whatever its cache holds.  After
 * a warm-up of COUNT/10 calls, COUNT calls are timed one by one.  Prints:
 *   rttbench: COUNT P50_US P99_US
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct statx stx;
	double *lat, t;
	long n, i;

	if (argc != 3 || (n = atol(argv[2])) < 10) {
		fprintf(stderr, "usage: rttbench FILE COUNT (COUNT >= 10)\n");
		return 2;
	}
	lat = calloc(n, sizeof(*lat));
	if (!lat)
		return 1;
	for (i = 0; i < n / 10; i++)
		if (statx(AT_FDCWD, argv[1], AT_STATX_FORCE_SYNC,
			  STATX_BASIC_STATS, &stx)) {
			perror(argv[1]);
			return 1;
		}
	for (i = 0; i < n; i++) {
		t = now_us();
		if (statx(AT_FDCWD, argv[1], AT_STATX_FORCE_SYNC,
			  STATX_BASIC_STATS, &stx)) {
			perror(argv[1]);
			return 1;
		}
		lat[i] = now_us() - t;
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("rttbench: %ld %.1f %.1f\n", n, lat[n / 2], lat[n * 99 / 100]);
	return 0;
}
