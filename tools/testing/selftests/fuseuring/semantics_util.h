/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the FUSE-semantics suite.  They return 0 on success and a
 * non-zero value (printing why to stderr) on a mismatch, so each test
 * states its expectation with one EXPECT_EQ(0, ...).
 */
#ifndef SEMANTICS_UTIL_H
#define SEMANTICS_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define fail_if(cond, ...) do {						\
	if (cond) {							\
		fprintf(stderr, "# %s:%d: ", __func__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fprintf(stderr, "\n");					\
		return 1;						\
	}								\
} while (0)

static const char *sem_path(const char *dir, const char *name)
{
	static char bufs[4][PATH_MAX + 1200];
	static unsigned int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(const char *path, const char *text, int flags)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Replace @path's content with @text (creating it). */
static int touch(const char *path, const char *text)
{
	return write_file(path, text, O_TRUNC);
}

static int append(const char *path, const char *text)
{
	return write_file(path, text, O_APPEND);
}

/* Read up to @size - 1 bytes of @path into @buf, NUL-terminated. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Count of entries (with . and ..), or -1. */
static int dir_count(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* d_type of @name in @path; -1 when absent. */
static int dir_type(const char *path, const char *name)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int type = -1;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, name))
			type = de->d_type;
	closedir(d);
	return type;
}

static int dir_has(const char *path, const char *name)
{
	return dir_type(path, name) >= 0;
}

static int list_has(const char *list, ssize_t len, const char *name)
{
	const char *p = list;

	while (p < list + len) {
		if (!strcmp(p, name))
			return 1;
		p += strlen(p) + 1;
	}
	return 0;
}

/* The byte at file offset @x of pattern @seed. */
static unsigned char pattern_byte(off_t x, unsigned int seed)
{
	return (unsigned char)(x * 131 + seed * 7 + (x >> 12) + 1);
}

/* Fill @buf with the pattern of file offsets [@off, @off + @len). */
static void pattern_fill(void *buf, off_t off, size_t len, unsigned int seed)
{
	unsigned char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(off + i, seed);
}

static int pattern_cmp(const void *buf, off_t off, size_t len,
		       unsigned int seed)
{
	const unsigned char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		fail_if(b[i] != pattern_byte(off + i, seed),
			"offset %lld: %#x, want %#x", (long long)(off + i),
			b[i], pattern_byte(off + i, seed));
	return 0;
}

static int pattern_write(int fd, off_t off, size_t len, unsigned int seed)
{
	unsigned char *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf)
		return -1;
	pattern_fill(buf, off, len, seed);
	n = pwrite(fd, buf, len, off);
	free(buf);
	fail_if(n != (ssize_t)len, "pwrite(%zu at %lld) = %zd: %s", len,
		(long long)off, n, strerror(errno));
	return 0;
}

/* The file at @off holds the pattern of source offsets @src... */
static int pattern_check_from(int fd, off_t off, off_t src, size_t len,
			      unsigned int seed)
{
	unsigned char *buf = malloc(len ? len : 1);
	ssize_t n;
	int ret;

	if (!buf)
		return -1;
	n = pread(fd, buf, len, off);
	if (n != (ssize_t)len) {
		free(buf);
		fail_if(1, "pread(%zu at %lld) = %zd: %s", len,
			(long long)off, n, strerror(errno));
	}
	ret = pattern_cmp(buf, src, len, seed);
	free(buf);
	return ret;
}

static int pattern_check(int fd, off_t off, size_t len, unsigned int seed)
{
	return pattern_check_from(fd, off, off, len, seed);
}

static int zero_check(int fd, off_t off, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1);
	ssize_t n;
	size_t i;

	if (!buf)
		return -1;
	n = pread(fd, buf, len, off);
	for (i = 0; n == (ssize_t)len && i < len; i++)
		if (buf[i])
			break;
	free(buf);
	fail_if(n != (ssize_t)len, "pread = %zd: %s", n, strerror(errno));
	fail_if(i != len, "non-zero byte at %lld", (long long)(off + i));
	return 0;
}

static int file_equals(int fd, const unsigned char *want, size_t size)
{
	unsigned char *buf = malloc(size + 1);
	ssize_t n;
	size_t i;

	if (!buf)
		return -1;
	n = pread(fd, buf, size + 1, 0);
	for (i = 0; n == (ssize_t)size && i < size; i++)
		if (buf[i] != want[i])
			break;
	free(buf);
	fail_if(n != (ssize_t)size, "size %zd, want %zu", n, size);
	fail_if(i != size, "differs at offset %zu", i);
	return 0;
}

/*
 * Two processes append @records fixed-size records each with O_APPEND:
 * every record must land whole, none lost or overwritten.
 */
static int two_appenders(const char *path, int records)
{
	char rec[128], *buf;
	int counts[2] = { 0, 0 };
	pid_t pids[2];
	struct stat st;
	int p, i, fd;
	size_t off;

	for (p = 0; p < 2; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			return -1;
		if (pids[p] == 0) {
			fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			for (i = 0; fd >= 0 && i < records; i++) {
				snprintf(rec, sizeof(rec), "%d:%05d:%-54s\n",
					 p, i, "payload");
				if (write(fd, rec, 63) != 63)
					_exit(1);
			}
			_exit(fd < 0);
		}
	}
	for (p = 0; p < 2; p++) {
		waitpid(pids[p], &i, 0);
		fail_if(!WIFEXITED(i) || WEXITSTATUS(i), "writer %d failed", p);
	}
	fail_if(stat(path, &st), "stat: %s", strerror(errno));
	fail_if(st.st_size != 2 * records * 63, "size %lld, want %d",
		(long long)st.st_size, 2 * records * 63);
	buf = malloc(st.st_size);
	fd = open(path, O_RDONLY);
	if (!buf || fd < 0 || read(fd, buf, st.st_size) != st.st_size) {
		free(buf);
		fail_if(1, "read back failed");
	}
	close(fd);
	for (off = 0; off < (size_t)st.st_size; off += 63) {
		p = buf[off] - '0';
		if (p < 0 || p > 1 || buf[off + 62] != '\n' ||
		    atoi(buf + off + 2) != counts[p]) {
			free(buf);
			fail_if(1, "torn or misordered record at %zu", off);
		}
		counts[p]++;
	}
	free(buf);
	fail_if(counts[0] != records || counts[1] != records, "lost records");
	return 0;
}

static int lock_range(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET,
		.l_start = start, .l_len = len,
	};

	return fcntl(fd, cmd, &fl);
}

/*
 * In a child: GETLK on [start, start+len) must report @holder (0: free),
 * and SETLK must fail with EAGAIN/EACCES exactly when it is held.
 */
static int child_lock_probe(const char *path, off_t start, off_t len,
			    pid_t holder)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct flock fl = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET,
			.l_start = start, .l_len = len,
		};
		int fd = open(path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_GETLK, &fl))
			_exit(2);
		if (holder ? fl.l_type != F_WRLCK || fl.l_pid != holder :
			     fl.l_type != F_UNLCK)
			_exit(3);
		if (lock_range(fd, F_SETLK, F_WRLCK, start, len) == 0)
			_exit(holder ? 4 : 0);
		_exit(holder && (errno == EAGAIN || errno == EACCES) ? 0 : 5);
	}
	fail_if(pid < 0, "fork: %s", strerror(errno));
	waitpid(pid, &status, 0);
	fail_if(!WIFEXITED(status) || WEXITSTATUS(status),
		"child probe failed with %d", WEXITSTATUS(status));
	return 0;
}

static int child_read_lock(const char *path)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd = open(path, O_RDONLY);

		_exit(fd < 0 || lock_range(fd, F_SETLK, F_RDLCK, 0, 10));
	}
	fail_if(pid < 0, "fork: %s", strerror(errno));
	waitpid(pid, &status, 0);
	fail_if(!WIFEXITED(status) || WEXITSTATUS(status),
		"shared lock refused");
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A child blocks in SETLKW on our lock and gets it once we unlock. */
static int setlkw_handoff(const char *path)
{
	int fd = open(path, O_RDWR), status, pipefd[2];
	char c;
	pid_t pid;

	fail_if(fd < 0 || pipe(pipefd), "setup: %s", strerror(errno));
	fail_if(lock_range(fd, F_SETLK, F_WRLCK, 0, 10), "lock: %s",
		strerror(errno));
	pid = fork();
	if (pid == 0) {
		int cfd = open(path, O_RDWR);

		if (cfd < 0 || lock_range(cfd, F_SETLKW, F_WRLCK, 0, 10))
			_exit(1);
		_exit(write(pipefd[1], "g", 1) != 1);
	}
	fail_if(pid < 0, "fork: %s", strerror(errno));
	usleep(300 * 1000);
	/* Still blocked: nothing in the pipe yet. */
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	if (read(pipefd[0], &c, 1) == 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_if(1, "child got a held lock");
	}
	lock_range(fd, F_SETLK, F_UNLCK, 0, 10);
	waitpid(pid, &status, 0);
	close(fd);
	close(pipefd[0]);
	close(pipefd[1]);
	fail_if(!WIFEXITED(status) || WEXITSTATUS(status),
		"child did not get the lock after release");
	return 0;
}

/* open(2) as uid/gid @uid in a child: 0 or the errno. */
static int as_user_open(const char *path, int flags, uid_t uid)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd;

		if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
		    setresuid(uid, uid, uid))
			_exit(200);
		fd = open(path, flags, 0644);
		_exit(fd < 0 ? errno : 0);
	}
	if (pid < 0)
		return -1;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- the random exerciser ------------------------------------------ */

#define RX_FILES	12
#define RX_MAXSIZE	(256 * 1024)
#define RX_HISTORY	24

struct rx_state {
	uint64_t rng;
	char hist[RX_HISTORY][96];
	unsigned int nhist;
};

static uint64_t rx_next(struct rx_state *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static void rx_dump(struct rx_state *s)
{
	unsigned int i, first = s->nhist > RX_HISTORY ? s->nhist - RX_HISTORY : 0;

	fprintf(stderr, "# last operations (oldest first):\n");
	for (i = first; i < s->nhist; i++)
		fprintf(stderr, "#   %u: %s\n", i, s->hist[i % RX_HISTORY]);
}

/* One operation, applied to @dir; returns a comparable result. */
static long rx_apply(const char *dir, int op, int a, int b, off_t off,
		     size_t len, unsigned int seed, unsigned char *out)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	struct stat st;
	long ret;
	int fd;

	snprintf(pa, sizeof(pa), "%s/f%d", dir, a);
	snprintf(pb, sizeof(pb), "%s/f%d", dir, b);
	switch (op) {
	case 0:		/* write */
		fd = open(pa, O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			return -errno;
		{
			unsigned char *buf = malloc(len);

			pattern_fill(buf, off, len, seed);
			ret = pwrite(fd, buf, len, off);
			free(buf);
		}
		close(fd);
		return ret;
	case 1:		/* read */
		fd = open(pa, O_RDONLY);
		if (fd < 0)
			return -errno;
		ret = pread(fd, out, len, off);
		close(fd);
		return ret < 0 ? -errno : ret;
	case 2:		/* truncate */
		return truncate(pa, off) ? -errno : 0;
	case 3:		/* rename */
		return rename(pa, pb) ? -errno : 0;
	case 4:		/* unlink */
		return unlink(pa) ? -errno : 0;
	case 5:		/* stat size */
		return stat(pa, &st) ? -errno : st.st_size;
	case 6:		/* append */
		fd = open(pa, O_WRONLY | O_APPEND);
		if (fd < 0)
			return -errno;
		{
			unsigned char *buf = malloc(len);

			pattern_fill(buf, 0, len, seed);
			ret = write(fd, buf, len);
			free(buf);
		}
		close(fd);
		return ret;
	default:	/* link */
		return link(pa, pb) ? -errno : 0;
	}
}

static int random_exerciser(const char *dir, const char *ref, int nops,
			    uint64_t seed)
{
	static const char *const names[] = {
		"write", "read", "truncate", "rename", "unlink", "stat",
		"append", "link",
	};
	unsigned char *got = malloc(RX_MAXSIZE), *want = malloc(RX_MAXSIZE);
	struct rx_state s = { .rng = seed };
	int i, ret = 0;

	if (!got || !want)
		return -1;
	for (i = 0; i < nops && !ret; i++) {
		int op = rx_next(&s) % 8, a = rx_next(&s) % RX_FILES;
		int b = rx_next(&s) % RX_FILES;
		off_t off = rx_next(&s) % (RX_MAXSIZE / 2);
		size_t len = 1 + rx_next(&s) % (RX_MAXSIZE / 2);
		long r1, r2;

		if (op == 6 || rx_next(&s) % 4)
			len = 1 + len % 9000;	/* mostly small */
		snprintf(s.hist[s.nhist++ % RX_HISTORY], 96,
			 "%s f%d f%d off=%lld len=%zu", names[op], a, b,
			 (long long)off, len);
		r1 = rx_apply(dir, op, a, b, off, len, i, got);
		r2 = rx_apply(ref, op, a, b, off, len, i, want);
		if (r1 != r2) {
			fprintf(stderr, "# op %d: result %ld, tmpfs %ld\n",
				i, r1, r2);
			ret = 1;
		} else if (op == 1 && r1 > 0 && memcmp(got, want, r1)) {
			fprintf(stderr, "# op %d: read data differs\n", i);
			ret = 1;
		}
	}
	if (ret)
		rx_dump(&s);
	free(got);
	free(want);
	return ret;
}

/* ---- parallel workloads --------------------------------------------- */

struct par_arg {
	const char *dir;
	int id, nfiles, cpu, failed;
};

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *par_files(void *p)
{
	struct par_arg *a = p;
	char path[PATH_MAX];
	int i, fd;

	pin_to_cpu(a->cpu);
	for (i = 0; i < a->nfiles && !a->failed; i++) {
		snprintf(path, sizeof(path), "%s/p%d-%d", a->dir, a->id, i);
		fd = open(path, O_CREAT | O_RDWR | O_EXCL, 0644);
		if (fd < 0 || pattern_write(fd, 0, 1000 + i * 37, a->id * 1000 + i))
			a->failed = 1;
		if (fd >= 0)
			close(fd);
		fd = open(path, O_RDONLY);
		if (fd < 0 || pattern_check(fd, 0, 1000 + i * 37, a->id * 1000 + i))
			a->failed = 2;
		if (fd >= 0)
			close(fd);
		if (unlink(path))
			a->failed = 3;
	}
	return NULL;
}

static int parallel_files(const char *dir, int nthreads, int nfiles)
{
	struct par_arg args[8];
	pthread_t th[8];
	int i, failed = 0;

	for (i = 0; i < nthreads; i++) {
		args[i] = (struct par_arg){ dir, i, nfiles, i, 0 };
		pthread_create(&th[i], NULL, par_files, &args[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		if (args[i].failed)
			fprintf(stderr, "# thread %d failed (%d)\n", i,
				args[i].failed);
		failed |= args[i].failed;
	}
	fail_if(failed, "a worker failed");
	fail_if(dir_count(dir) != 2, "files left behind");
	return 0;
}

static void *par_ranges(void *p)
{
	struct par_arg *a = p;
	int fd = open(a->dir, O_RDWR), i;

	pin_to_cpu(a->cpu);
	for (i = 0; fd >= 0 && i < a->nfiles; i++) {
		off_t off = ((off_t)i * 2 + a->id) * 8192;

		if (pattern_write(fd, off, 8192, 77))
			a->failed = 1;
	}
	if (fd < 0)
		a->failed = 1;
	else
		close(fd);
	return NULL;
}

/* Threads write interleaved 8 KiB chunks of one file. */
static int parallel_ranges(const char *path, int nthreads, int chunks)
{
	struct par_arg args[8];
	pthread_t th[8];
	int i, fd;

	fd = open(path, O_CREAT | O_RDWR, 0644);
	fail_if(fd < 0, "create: %s", strerror(errno));
	close(fd);
	for (i = 0; i < nthreads; i++) {
		args[i] = (struct par_arg){ path, i, chunks, i, 0 };
		pthread_create(&th[i], NULL, par_ranges, &args[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		fail_if(args[i].failed, "writer %d failed", i);
	}
	fd = open(path, O_RDONLY);
	fail_if(fd < 0, "open: %s", strerror(errno));
	i = pattern_check(fd, 0, (size_t)chunks * nthreads * 8192, 77);
	close(fd);
	return i;
}

/* ---- server hooks ---------------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * A child reads @path (the server blocks that READ until interrupted);
 * a signal with a handler must end the read with EINTR within @limit s.
 */
static int interrupted_read(const char *path, int limit)
{
	int status, pipefd[2];
	double t0;
	pid_t pid;

	fail_if(pipe(pipefd), "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_alarm };
		char buf[16];
		int fd = open(path, O_RDONLY | O_DIRECT);
		ssize_t n;

		if (fd < 0)
			fd = open(path, O_RDONLY);
		sigaction(SIGUSR1, &sa, NULL);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(10);
		n = read(fd, buf, sizeof(buf));
		_exit(n < 0 && errno == EINTR ? 0 : 11);
	}
	fail_if(pid < 0, "fork: %s", strerror(errno));
	{
		char c;

		fail_if(read(pipefd[0], &c, 1) != 1, "child did not start");
	}
	usleep(500 * 1000);	/* let the READ reach the server */
	t0 = now_s();
	kill(pid, SIGUSR1);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() - t0 > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_if(1, "read not interrupted within %d s", limit);
		}
		usleep(20 * 1000);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	fail_if(!WIFEXITED(status) || WEXITSTATUS(status),
		"child status %d (11: read did not fail with EINTR)",
		WEXITSTATUS(status));
	return 0;
}

/*
 * Start a reader of path in a child; returns its pid.  The child exits
 * with 0 when read() fails with ENOTCONN or ECONNABORTED (what a caller
 * of a dead server may see: the kernel's FUSE ends requests the server
 * held with ECONNABORTED), 11 when it fails otherwise, 12 when it
 * succeeds.
 */
static pid_t start_dying_read(const char *path, int cpu)
{
	pid_t pid = fork();

	if (pid == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t set;
		char buf[16];

		/*
		 * On its own CPU: over the ring each CPU has its own queue,
		 * and a server thread held by one request serves no other.
		 */
		CPU_ZERO(&set);
		CPU_SET(ncpu > 0 ? cpu % ncpu : 0, &set);
		sched_setaffinity(0, sizeof(set), &set);
		int fd = open(path, O_RDONLY | O_DIRECT);
		ssize_t n;

		if (fd < 0)
			fd = open(path, O_RDONLY);
		if (fd < 0)
			_exit(10);
		n = read(fd, buf, sizeof(buf));
		if (n >= 0)
			_exit(12);
		_exit(errno == ENOTCONN || errno == ECONNABORTED ? 0 : 11);
	}
	return pid;
}

/* Wait for pid up to limit seconds (then kill it); 0 if it exited 0. */
static int wait_child_ok(pid_t pid, double limit, const char *what)
{
	double t0 = now_s();
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() - t0 > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_if(1, "%s: still blocked after %.0f s", what, limit);
		}
		usleep(20 * 1000);
	}
	fail_if(!WIFEXITED(status) || WEXITSTATUS(status),
		"%s: child status %d (10 open failed, 11 wrong errno, 12 read succeeded)",
		what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/*
 * Server death mid-request on mount mnt (its server runs --test-hooks):
 * one caller waits in the server (block-*) from CPU 0, then a READ of
 * die-* from CPU 1 makes the server exit.  Both callers must return within limit seconds, and
 * the mount must then answer ENOTCONN.
 */
static int server_death(const char *mnt, int limit)
{
	char blockp[PATH_MAX], diep[PATH_MAX];
	pid_t blocked, dying;
	struct stat st;

	snprintf(blockp, sizeof(blockp), "%s/block-death", mnt);
	snprintf(diep, sizeof(diep), "%s/die-death", mnt);
	fail_if(touch(blockp, "blocks"), "create %s: %s", blockp, strerror(errno));
	fail_if(touch(diep, "kills"), "create %s: %s", diep, strerror(errno));
	blocked = start_dying_read(blockp, 0);
	fail_if(blocked < 0, "fork: %s", strerror(errno));
	usleep(500 * 1000);	/* let the first READ reach the server */
	dying = start_dying_read(diep, 1);
	fail_if(dying < 0, "fork: %s", strerror(errno));
	if (wait_child_ok(dying, limit, "the read that killed the server") ||
	    wait_child_ok(blocked, limit, "the read blocked in the server"))
		return -1;
	fail_if(stat(diep, &st) == 0 || errno != ENOTCONN,
		"stat after the server died: %s, want ENOTCONN",
		strerror(errno));
	return 0;
}

/*
 * kill(SIGSTOP) only asks: each thread stops on its next way out of the
 * kernel, and until then it may still answer a request.  0 once every
 * thread of @pid is stopped, -1 after @limit seconds.  io_uring's own
 * threads (iou-wrk-*, iou-sqp-*) are not counted: they run the server's
 * I/O but cannot answer FUSE for it.
 */
static int server_stopped(pid_t pid, int limit)
{
	double t0 = now_s();
	char path[PATH_MAX], buf[512];

	do {
		struct dirent *e;
		int all = 1;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		d = opendir(path);
		if (!d)
			return -1;
		while (all && (e = readdir(d))) {
			char *name, *state;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/stat",
				 (int)pid, e->d_name);
			if (slurp(path, buf, sizeof(buf)) <= 0)
				continue;	/* the thread is gone */
			/* "tid (comm) S ...": comm may hold spaces and ')'. */
			name = strchr(buf, '(');
			state = strrchr(buf, ')');
			if (!name || !state || state[1] != ' ')
				continue;
			if (!strncmp(name + 1, "iou-", 4))
				continue;
			all = state[2] == 'T' || state[2] == 't';
		}
		closedir(d);
		if (all)
			return 0;
		usleep(10 * 1000);
	} while (now_s() - t0 < limit);
	return -1;
}

/*
 * Server death mid-request, for a server without test hooks (libfuse's
 * passthrough_hp): a child opens a file of mount @mnt, the server @pid is
 * stopped, the child's READ then waits for it, and SIGKILL ends the
 * server.  The READ must fail (ENOTCONN or ECONNABORTED) within @limit
 * seconds, and the mount must then answer ENOTCONN.
 */
static int server_killed(const char *mnt, pid_t server, int limit)
{
	int opened[2], go[2], held, status = 0;
	char path[PATH_MAX], c;
	pid_t reader;
	struct stat st;

	snprintf(path, sizeof(path), "%s/held-death", mnt);
	fail_if(touch(path, "held"), "create %s: %s", path, strerror(errno));
	fail_if(pipe(opened) || pipe(go), "pipe: %s", strerror(errno));
	reader = fork();
	if (reader == 0) {
		int fd = open(path, O_RDONLY | O_DIRECT);
		char buf[16];
		ssize_t n;

		if (fd < 0)
			fd = open(path, O_RDONLY);
		if (fd < 0 || write(opened[1], "o", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(10);
		n = read(fd, buf, sizeof(buf));
		if (n >= 0)
			_exit(12);
		_exit(errno == ENOTCONN || errno == ECONNABORTED ? 0 : 11);
	}
	fail_if(reader < 0, "fork: %s", strerror(errno));
	close(opened[1]);
	close(go[0]);
	if (read(opened[0], &c, 1) != 1) {
		waitpid(reader, NULL, 0);
		fail_if(1, "the reader could not open %s", path);
	}
	fail_if(kill(server, SIGSTOP), "stop server %d: %s", (int)server,
		strerror(errno));
	if (server_stopped(server, limit)) {
		kill(server, SIGKILL);
		close(go[1]);	/* the reader gives up without reading */
		waitpid(reader, NULL, 0);
		close(opened[0]);
		fail_if(1, "server %d did not stop within %d s", (int)server,
			limit);
	}
	fail_if(write(go[1], "g", 1) != 1, "start the read: %s",
		strerror(errno));
	usleep(500 * 1000);	/* let the READ reach the stopped server */
	/* A stopped server answers nothing: the read must still wait. */
	held = waitpid(reader, &status, WNOHANG) == 0;
	kill(server, SIGKILL);
	close(opened[0]);
	close(go[1]);
	fail_if(!held, "the read returned (child status %d) while the server was stopped",
		WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if (wait_child_ok(reader, limit, "the read held by the killed server"))
		return -1;
	fail_if(stat(path, &st) == 0 || errno != ENOTCONN,
		"stat after the server died: %s, want ENOTCONN",
		strerror(errno));
	return 0;
}

#endif /* SEMANTICS_UTIL_H */
