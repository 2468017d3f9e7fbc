// SPDX-License-Identifier: GPL-2.0
/*
 * libfuse_suite.sh's stand-in for a libfuse program that a case checks
 * to be an ELF binary (examples/ioctl reads its ELF class before it
 * mounts): this launcher takes the program's place in the
 * shadow build tree and runs libfuse_on_fuseuring.sh as that program.
 *
 *   FUR_LIBFUSE_WRAPPER   the path of libfuse_on_fuseuring.sh
 *
 * The wrapper learns which program it stands for from FUR_LIBFUSE_PROG
 * (this launcher's own path, as it was called).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	const char *wrapper = getenv("FUR_LIBFUSE_WRAPPER");
	char **args = calloc(argc + 2, sizeof(*args));
	int i;

	if (!wrapper || !args) {
		fprintf(stderr, "%s: FUR_LIBFUSE_WRAPPER is not set\n", argv[0]);
		return 127;
	}
	if (setenv("FUR_LIBFUSE_PROG", argv[0], 1))
		return 127;
	args[0] = "bash";
	args[1] = (char *)wrapper;
	for (i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	execv("/bin/bash", args);
	perror("/bin/bash");
	return 127;
}
