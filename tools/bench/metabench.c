// SPDX-License-Identifier: GPL-2.0
/*
 * metabench: metadata operations per second on a filesystem.
 *
 *   metabench DIR create|stat|unlink THREADS FILES
 *
 * Each thread works in DIR/tN on FILES files: create makes them (open
 * O_CREAT|O_EXCL, close), stat asks for each one's attributes with
 * statx(AT_STATX_FORCE_SYNC), unlink removes them.  stat forces the sync
 * because a FUSE client answers a plain stat from its attribute cache
 * until the server's timeout runs out: how many of the files' attributes
 * were still cached would then depend on how long the creates took, and a
 * cached stat measures no transport at all.  The phases are separate runs
 * so that each is timed alone; run create, then stat, then unlink on the
 * same DIR.  Prints one line:
 *   metabench: OP THREADS FILES SECONDS OPS_PER_SEC
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum op { OP_CREATE, OP_STAT, OP_UNLINK };

struct worker {
	pthread_t thread;
	const char *dir;
	enum op op;
	int id;
	long files;
	int err;
};

static pthread_barrier_t start;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char path[PATH_MAX];
	struct statx stx;
	long i;
	int fd;

	pthread_barrier_wait(&start);
	for (i = 0; i < w->files; i++) {
		snprintf(path, sizeof(path), "%s/t%d/f%ld", w->dir, w->id, i);
		switch (w->op) {
		case OP_CREATE:
			fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0 || close(fd))
				goto fail;
			break;
		case OP_STAT:
			if (statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC,
				  STATX_BASIC_STATS, &stx))
				goto fail;
			break;
		case OP_UNLINK:
			if (unlink(path))
				goto fail;
			break;
		}
	}
	return NULL;
fail:
	w->err = errno;
	fprintf(stderr, "metabench: %s: %s\n", path, strerror(errno));
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "create", "stat", "unlink" };
	struct worker *w;
	int threads, i, err = 0;
	char path[PATH_MAX];
	enum op op;
	long files;
	double t0, t;

	if (argc != 5) {
		fprintf(stderr, "usage: metabench DIR create|stat|unlink THREADS FILES\n");
		return 2;
	}
	for (op = OP_CREATE; op <= OP_UNLINK; op++)
		if (!strcmp(argv[2], names[op]))
			break;
	threads = atoi(argv[3]);
	files = atol(argv[4]);
	if (op > OP_UNLINK || threads < 1 || files < 1) {
		fprintf(stderr, "metabench: bad arguments\n");
		return 2;
	}
	w = calloc(threads, sizeof(*w));
	if (!w)
		return 1;
	for (i = 0; i < threads; i++) {
		snprintf(path, sizeof(path), "%s/t%d", argv[1], i);
		if (op == OP_CREATE && mkdir(path, 0755) && errno != EEXIST) {
			perror(path);
			return 1;
		}
	}
	pthread_barrier_init(&start, NULL, threads + 1);
	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){ .dir = argv[1], .op = op, .id = i,
					.files = files };
		if (pthread_create(&w[i].thread, NULL, work, &w[i])) {
			fprintf(stderr, "metabench: pthread_create failed\n");
			return 1;
		}
	}
	t0 = now();
	pthread_barrier_wait(&start);
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		err |= w[i].err;
	}
	t = now() - t0;
	if (err)
		return 1;
	if (op == OP_UNLINK)
		for (i = 0; i < threads; i++) {
			snprintf(path, sizeof(path), "%s/t%d", argv[1], i);
			rmdir(path);
		}
	printf("metabench: %s %d %ld %.3f %.0f\n", names[op], threads, files,
	       t, threads * files / t);
	return 0;
}
