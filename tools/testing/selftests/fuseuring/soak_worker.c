// SPDX-License-Identifier: GPL-2.0
/*
 * One worker of soak.sh.
 *
 *   soak_worker work DIR LEDGER STOPFILE SEED
 *	random operations in DIR until STOPFILE exists: whole-file writes,
 *	appends, read-backs, renames, truncates, deletes, folders, modes,
 *	listings, fsync
 *   soak_worker verify DIR LEDGER
 *	read back every file LEDGER knows
 *
 * A file's bytes are a function of a seed and the offset, so the ledger
 * (a text file outside the mount, kept between runs) holds per name only
 * the seed, the size and how much of it is the pattern (the rest, after
 * an extending truncate, is zeros).  An operation that fails leaves the
 * files it touched unknown: they are not checked until rewritten.  A read
 * that succeeds with other bytes, or a known file that is gone, is a
 * mismatch.  Prints "ops errors verified mismatches" and exits 0; 1 on a
 * mismatch; 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xorshift.h"

#define NAMES	24
#define CHUNK	(64 * 1024)

struct known {
	int state;		/* 0 absent, 1 known, -1 unknown */
	uint64_t seed;
	uint64_t size, valid;	/* pattern below valid, zeros up to size */
};

static struct known led[NAMES];
static long ops, errs, verified, mismatches;

/* A failed operation; the first few go to the log with their errno. */
static void failed(const char *what)
{
	if (errs++ < 3)
		printf("# %s: %s\n", what, strerror(errno));
}

static unsigned char pattern(uint64_t seed, uint64_t off)
{
	uint64_t v = (seed ^ (off >> 3)) * 0x9E3779B97F4A7C15ULL;

	return v >> (8 * (off & 7) + 3);
}

static void fill(char *buf, uint64_t seed, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(seed, off + i);
}

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long long seed, size, valid;
	int i, state;

	while (f && fscanf(f, "%d %d %llu %llu %llu", &i, &state, &seed,
			   &size, &valid) == 5)
		if (i >= 0 && i < NAMES)
			led[i] = (struct known){ state, seed, size, valid };
	if (f)
		fclose(f);
}

static void save(const char *path)
{
	FILE *f = fopen(path, "w");
	int i;

	for (i = 0; f && i < NAMES; i++)
		fprintf(f, "%d %d %llu %llu %llu\n", i, led[i].state,
			(unsigned long long)led[i].seed,
			(unsigned long long)led[i].size,
			(unsigned long long)led[i].valid);
	if (f)
		fclose(f);
}

/* soak.sh's kernel trace: frozen at the first mismatch, to show its cause. */
static void stop_kernel_trace(void)
{
	const char *path = getenv("SOAK_TRACING_ON");
	int fd = path ? open(path, O_WRONLY) : -1;

	if (fd >= 0) {
		if (write(fd, "0", 1) != 1)
			perror("tracing_on");
		close(fd);
	}
}

static void bad(const char *dir, int i, const char *what, long long at)
{
	stop_kernel_trace();
	mismatches++;
	printf("# %s/f%d: %s %lld (seed %llx, size %llu, pattern up to %llu)\n",
	       dir, i, what, at, (unsigned long long)led[i].seed,
	       (unsigned long long)led[i].size,
	       (unsigned long long)led[i].valid);
}

/* Read name i back and compare with the ledger. */
static void check(const char *dir, int i, char *buf, char *want)
{
	struct known *k = &led[i];
	struct stat st = {};
	uint64_t off = 0;
	char path[512];
	ssize_t n;
	int fd;

	if (k->state != 1)
		return;
	snprintf(path, sizeof(path), "%s/f%d", dir, i);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT)
			bad(dir, i, "gone, the ledger has it", 0);
		else
			failed("open to read");
		return;
	}
	/* Now, while the server surely lives: a mismatch names the inode. */
	fstat(fd, &st);
	for (;;) {
		uint64_t j, pat;

		n = read(fd, buf, CHUNK);
		if (n <= 0)
			break;
		pat = off < k->valid ? k->valid - off : 0;
		if (pat > (uint64_t)n)
			pat = n;
		fill(want, k->seed, off, pat);
		memset(want + pat, 0, n - pat);
		for (j = 0; j < (uint64_t)n && buf[j] == want[j]; j++)
			;
		if (j < (uint64_t)n) {
			uint64_t e;

			for (e = j; e < (uint64_t)n && buf[e] != want[e]; e++)
				;
			printf("# %llu wrong bytes from %llu, read %02x want %02x (inode %llu)\n",
			       (unsigned long long)(e - j),
			       (unsigned long long)(off + j),
			       (unsigned char)buf[j], (unsigned char)want[j],
			       (unsigned long long)st.st_ino);
			bad(dir, i, "wrong byte at", off + j);
			close(fd);
			return;
		}
		off += n;
	}
	if (n < 0)
		failed("read");
	else if (off != k->size)
		bad(dir, i, "wrong size", off);
	else
		verified++;
	close(fd);
}

/* Write name i whole: a new seed, a new size. */
static void write_whole(const char *dir, int i, char *buf)
{
	uint64_t size = rnd(64) * 4096 + rnd(4096), seed = rng, off = 0;
	char path[512];
	int fd, ok = 1;

	if (!rnd(8))
		size *= 16;
	snprintf(path, sizeof(path), "%s/f%d", dir, i);
	led[i].state = -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		failed("open to write");
		return;
	}
	while (ok && off < size) {
		size_t len = 1 + rnd(CHUNK);

		if (len > size - off)
			len = size - off;
		fill(buf, seed, off, len);
		ok = write(fd, buf, len) == (ssize_t)len;
		off += len;
	}
	if (ok && !rnd(4))
		ok = !fsync(fd);
	if (close(fd) || !ok) {
		failed("write, fsync or close");
		return;
	}
	led[i] = (struct known){ 1, seed, size, size };
}

static void append(const char *dir, int i, char *buf)
{
	struct known *k = &led[i];
	size_t len = 1 + rnd(3 * 4096);
	char path[512];
	int fd, ok;

	if (k->state != 1 || k->valid != k->size)
		return;
	snprintf(path, sizeof(path), "%s/f%d", dir, i);
	k->state = -1;
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0) {
		failed("open to append");
		return;
	}
	fill(buf, k->seed, k->size, len);
	ok = write(fd, buf, len) == (ssize_t)len;
	if (close(fd) || !ok) {
		failed("append or close");
		return;
	}
	k->state = 1;
	k->size += len;
	k->valid = k->size;
}

static void truncate_one(const char *dir, int i)
{
	struct known *k = &led[i];
	uint64_t size = rnd(3) ? rnd(k->size + 1) : k->size + rnd(8192);
	char path[512];

	if (k->state != 1)
		return;
	snprintf(path, sizeof(path), "%s/f%d", dir, i);
	k->state = -1;
	if (truncate(path, size)) {
		failed("truncate");
		return;
	}
	k->state = 1;
	if (k->valid > size)
		k->valid = size;
	k->size = size;
}

static void rename_one(const char *dir, int i)
{
	int j = rnd(NAMES);
	char a[512], b[512];

	if (i == j)
		return;
	snprintf(a, sizeof(a), "%s/f%d", dir, i);
	snprintf(b, sizeof(b), "%s/f%d", dir, j);
	if (!rename(a, b)) {
		led[j] = led[i];
		led[i].state = 0;
	} else if (errno == ENOENT && led[i].state == 1) {
		bad(dir, i, "gone (rename: ENOENT), the ledger has it", 0);
	} else if (errno == ENOENT) {
		led[i].state = 0;	/* it was not there */
	} else {
		failed("rename");
		led[i].state = led[i].state ? -1 : 0;
		led[j].state = -1;
	}
}

static void metadata(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/d%u", dir, rnd(4));
	switch (rnd(4)) {
	case 0:
		mkdir(path, 0755);
		strcat(path, "/e");
		mkdir(path, 0755);
		break;
	case 1:
		strcat(path, "/e");
		rmdir(path);
		path[strlen(path) - 2] = '\0';
		rmdir(path);
		break;
	case 2:
		chmod(path, 0700 | rnd(0100));
		break;
	case 3:
		d = opendir(dir);
		if (!d) {
			failed("opendir");
			break;
		}
		while ((de = readdir(d)))
			;
		closedir(d);
		break;
	}
}

int main(int argc, char **argv)
{
	static char buf[CHUNK], want[CHUNK];
	const char *dir, *ledger;
	int i;

	if (argc < 4)
		return 2;
	dir = argv[2];
	ledger = argv[3];
	load(ledger);
	if (!strcmp(argv[1], "verify")) {
		for (i = 0; i < NAMES; i++)
			check(dir, i, buf, want);
	} else if (!strcmp(argv[1], "work") && argc == 6) {
		rng = strtoull(argv[5], NULL, 0) | 1;
		mkdir(dir, 0755);
		while (access(argv[4], F_OK)) {
			i = rnd(NAMES);
			ops++;
			switch (rnd(10)) {
			case 0: case 1: write_whole(dir, i, buf); break;
			case 2: case 3: case 4: check(dir, i, buf, want); break;
			case 5: append(dir, i, buf); break;
			case 6: rename_one(dir, i); break;
			case 7: truncate_one(dir, i); break;
			case 8:
				snprintf(buf, sizeof(buf), "%s/f%d", dir, i);
				if (!unlink(buf)) {
					led[i].state = 0;
				} else if (errno == ENOENT) {
					if (led[i].state == 1)
						bad(dir, i, "gone (unlink: ENOENT), the ledger has it", 0);
					led[i].state = 0;
				} else {
					led[i].state = -1;
					failed("unlink");
				}
				break;
			case 9: metadata(dir); break;
			}
		}
	} else {
		return 2;
	}
	save(ledger);
	printf("%ld %ld %ld %ld\n", ops, errs, verified, mismatches);
	return mismatches ? 1 : 0;
}
