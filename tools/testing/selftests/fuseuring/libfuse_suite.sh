#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libfuse_suite.sh TRANSPORT [run-tests.py args]: libfuse 3.18's own test
# suite (test/run-tests.py from its source, its "examples" cases unless
# other run-tests.py selections are given), as libfuse ships it, over
# TRANSPORT:
#
#   kernel-fuse        the kernel's own FUSE (/dev/fuse): the reference
#   fuseuring-classic  fuseuring, read/write on /dev/fuseuring
#   fuseuring-ring     fuseuring, libfuse's io-uring (FUSE_URING_ENABLE=1)
#
# For fuseuring the runner gets a shadow build tree whose example/ and
# test/ hold libfuse_on_fuseuring.sh under each program's name: every
# daemon the suite starts serves a fuseuring mount made by fuseuring-mount.  /dev/fuse is
# covered by /dev/null meanwhile, so that nothing can pass on the kernel's
# FUSE by mistake: what still reaches for it fails.
#
# Prints the runner's report and the line
#   libfuse-suite[TRANSPORT]: N passed, N failed, N skipped
#
# Cases left out over fuseuring (they test what fuseuring does not claim
# to be, and mount the kernel's FUSE themselves):
#   examples/cuse                     CUSE (/dev/cuse)
#   examples/dev-auto-unmount-*       fusermount3's auto_unmount watcher
#   examples/*dropcaps*               mount.fuse3 opens /dev/fuse itself
#   examples/null                     it requires its mountpoint to stat as
#                                     a regular file, not /dev/fd/N
# and printcap mounts a folder of its own through /dev/fuse, so the runner
# learns no capability there: the few cases gated on one skip.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../../.." && pwd)
T=${1:?usage: libfuse_suite.sh TRANSPORT [run-tests.py args]}
shift
BUILD=${LIBFUSE_BUILD:-$TOP/.cache/libfuse-3.18/build}
SRC=${LIBFUSE_SRC:-$(dirname "$BUILD")/src}
RUNNER=$SRC/test/run-tests.py
SELECT=("$@")
[ ${#SELECT[@]} -gt 0 ] || SELECT=(-t examples)

summary() {
	echo "libfuse-suite[$T]: $1 passed, $2 failed, $3 skipped"
	[ "$2" = 0 ]
}

if [ ! -x "$RUNNER" ] || [ ! -x "$BUILD/example/passthrough_hp" ]; then
	echo "# libfuse 3.18 is not built in $BUILD (tools/testing/vm/bootstrap.sh)"
	summary 0 1 0
	exit 1
fi

WORK=$(mktemp -d /tmp/libfuse-suite-$T.XXXXXX)
chmod 755 "$WORK"
covered=0

cleanup() {
	[ "$covered" = 1 ] && umount /dev/fuse
	grep -q " $WORK/" /proc/mounts &&
		awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts |
		xargs -r -n 1 umount -l
	rm -rf "$WORK"
}
trap cleanup EXIT

build=$BUILD
excl=()
case "$T" in
kernel-fuse)
	grep -qs "^fuse " /proc/modules || modprobe fuse 2>/dev/null
	;;
fuseuring-classic|fuseuring-ring)
	if ! grep -q '^fuseuring ' /proc/modules; then
		insmod "${FUSEURING_KO:-$TOP/fuseuring.ko}" || exit 1
	fi
	if [ "$T" = fuseuring-ring ] &&
	   [ ! -e /sys/module/fuseuring/parameters/ring_queues ]; then
		echo "# SKIP this kernel's fuseuring has no io_uring transport"
		summary 0 0 1
		exit 0
	fi
	build=$WORK/build
	mkdir -p "$build/example" "$build/test"
	for f in fuse_config.h meson-info util; do
		ln -s "$BUILD/$f" "$build/$f"
	done
	# Every example, and the two daemons of test/ the examples cases
	# mount; the other test/ programs are check helpers (readdir_inode,
	# test_syscalls) and stay themselves.
	for f in "$BUILD"/example/* "$BUILD"/test/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		d=${f%/*}
		case "${d##*/}/${f##*/}" in
		example/ioctl|example/ioctl_ll)
			# Its case reads the program's ELF class first.
			launcher=$HERE/suite_elf_launcher
			[ -x "$launcher" ] || launcher=$HERE/libfuse_on_fuseuring.sh
			ln -s "$launcher" "$build/${d##*/}/${f##*/}" ;;
		example/*|test/hello|test/release_unlink_race)
			ln -s "$HERE/libfuse_on_fuseuring.sh" "$build/${d##*/}/${f##*/}" ;;
		*)	ln -s "$f" "$build/${d##*/}/${f##*/}" ;;
		esac
	done
	export FUR_LIBFUSE_BUILD=$BUILD
	export FUR_LIBFUSE_WRAPPER=$HERE/libfuse_on_fuseuring.sh
	export FUR_MOUNT_HELPER=$TOP/tools/mount/fuseuring-mount
	export FUR_LIBFUSE_URING=0
	[ "$T" = fuseuring-ring ] && FUR_LIBFUSE_URING=1
	mount --bind /dev/null /dev/fuse && covered=1
	# Patterns: the runner's -X takes exact names only.
	excl=(examples/cuse 'examples/dev-auto-unmount-*' 'examples/*dropcaps*'
	      examples/null)
	;;
*)
	echo "libfuse_suite.sh: unknown transport $T" >&2
	exit 2
	;;
esac

# Over the ring, the evidence that the daemons used it: every ring's
# debugfs folder lives as long as its mount, so sample them while the
# suite runs and keep each one's last count of dispatched requests.
sampler=
if [ "$T" = fuseuring-ring ]; then
	while :; do
		for f in /sys/kernel/debug/fuseuring/*/queue*/dispatched; do
			[ -f "$f" ] && echo "$f $(cat "$f" 2>/dev/null)"
		done
		sleep 0.2
	done >"$WORK/samples" 2>/dev/null &
	sampler=$!
fi

# The runner takes a hung test's kernel stacks with `sudo -n cat`; the
# guest runs as root and has no sudo.
if ! command -v sudo >/dev/null; then
	mkdir -p "$WORK/bin"
	printf '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n' >"$WORK/bin/sudo"
	chmod +x "$WORK/bin/sudo"
	export PATH=$WORK/bin:$PATH
fi

out=$WORK/report
# The guest has no systemd: tell the runner it is already where it would
# re-exec itself to (it then contains each test with killpg()).
export FUSE_TESTS_UNDER_SCOPE=1
# One runner per case, each under a time limit of its own: a runner that
# stops (its main thread waited forever once, here, after a case had
# passed) costs that case, not the rest.  The runner's own per-case limit
# is raised for a loaded TCG guest.
pass=0 fail=0 skip=0
for c in $(python3 "$RUNNER" -l "${SELECT[@]}"); do
	for x in "${excl[@]}"; do
		# shellcheck disable=SC2053 # $x is a pattern
		[[ $c == $x ]] && continue 2
	done
	one=$WORK/one.out
	timeout -k 5 "${LIBFUSE_CASE_LIMIT:-900}" python3 -u "$RUNNER" \
		--build-dir "$build" --run-dir "$WORK/run/${c//\//-}" -j 1 \
		--timeout 600 -t "$c" >"$one" 2>&1
	st=$?
	grep -E '^\+ *[0-9.]+s (PASS|FAIL|SKIP)' "$one" | sed 's/^/# /'
	case "$(grep -E '^1 tests: ' "$one")" in
	"1 tests: 1 passed"*) pass=$((pass + 1)) ;;
	"1 tests: 0 passed, 0 failed, 1 skipped"*) skip=$((skip + 1)) ;;
	*)
		fail=$((fail + 1))
		echo "# --- $c failed (runner status $st):"
		grep -vE '^\+ *[0-9.]+s ' "$one" | tail -n 15 | sed 's/^/#     /'
		find "$WORK/run/${c//\//-}" -name script.out 2>/dev/null |
			xargs -r tail -n 25 | sed 's/^/#     /'
		# The first complaints, and how each daemon ended.
		find "$WORK/run/${c//\//-}" -name script.out 2>/dev/null |
			xargs -r grep -m 8 -iE 'fail|error|abort' |
			sed 's/^/#     first: /'
		find "$WORK/run/${c//\//-}" -name 'fs-*.out' 2>/dev/null |
			xargs -r tail -n 12 | sed 's/^/#     daemon: /'
		;;
	esac
	cat "$one" >>"$out"
done
if [ -n "$sampler" ]; then
	kill "$sampler"
	wait "$sampler" 2>/dev/null
	# A folder name is reused by the next mount of the same minor: a
	# count that went down started a new ring.
	set -- $(awk '{
		if (!($1 in last) || $2 < last[$1]) { if ($1 in last) sum += last[$1]; n++ }
		last[$1] = $2 } END { for (k in last) sum += last[k]; print n + 0, sum + 0 }' \
		"$WORK/samples")
	queues=$1 sent=$2
	echo "# fuseuring ring queues seen during the run: $queues, $sent requests dispatched over them"
	if [ "$queues" = 0 ]; then
		echo "# no daemon used fuseuring's ring"
	fi
fi
[ "$T" = fuseuring-ring ] && [ "${queues:-0}" = 0 ] && fail=$((fail + 1))
summary "$pass" "$fail" "$skip"
