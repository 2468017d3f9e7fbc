#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# soak.sh [SECONDS]: a mixed workload on fuseuring for as long as asked
# (default 60), with the server restarted at random.  Each round mounts
# the passthrough example over a backing folder, on the ring or the
# classic device, plain, with the writeback cache or with direct I/O;
# three workers (soak_worker) create, overwrite, append to, read back,
# rename, truncate and delete files and make and remove folders in their
# own folder; after a random 1-6 s the server is killed with SIGKILL while
# they work, or unmounted cleanly once they stop.  Each worker keeps a
# ledger (outside the mount) of what every file it wrote must hold; every
# read that succeeds must match it, and after each restart every file in
# the ledgers is read back through the new mount.  Operations may fail
# only while a server dies; a read that succeeds with the wrong bytes, a
# known file that is gone, a failure with a live server, a worker that
# does not come back within 20 s of the server's death, a mount that does
# not come up or go away fail the soak.  Kernel splats fail the guest run
# (run-guest.sh).  SOAK_SEED fixes the dice.  FUSEURING_DEV and
# FUSEURING_FSTYPE run the same soak on another FUSE (upstream's /dev/fuse
# and fuse, with fuse.enable_uring=Y for its ring) to tell the module's
# faults from the library's and the example's.  SOAK_TRACE=DIR keeps
# each round's request trace (passthrough --trace) as DIR/round-N.trace;
# a mismatch names the file's inode number, which the trace shows.  With
# SOAK_TRACE the module's tracepoints (how requests ended, how folios
# became uptodate) and the page cache's are recorded too; the first
# mismatching worker stops the recording, which lands in
# DIR/round-N.ktrace.  TAP.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../../.." && pwd)
TAP_PREFIX=soak
. "$HERE/tap.sh"

DURATION=${1:-60}
RANDOM=${SOAK_SEED:-20261129}
WORK=$(mktemp -d /tmp/soak.XXXXXX)
SRC=$WORK/src MNT=$WORK/mnt LEDGER=$WORK/ledger
mkdir -p "$SRC" "$MNT" "$LEDGER"
WORKERS=3
DEV=${FUSEURING_DEV:-/dev/fuseuring}
FSTYPE=${FUSEURING_FSTYPE:-fuseuring}
load_module "$FSTYPE"

# verify_all: every file of the ledgers, read back through the mount.
verify_all() {
	local w out rc=0

	for w in $(seq 0 $((WORKERS - 1))); do
		[ -e "$LEDGER/w$w" ] || continue
		out=$("$HERE/soak_worker" verify "$MNT/w$w" "$LEDGER/w$w") || rc=1
		echo "$out" | grep '^#'
		read -r _ e v b <<<"$(echo "$out" | tail -n 1)"
		checked=$((checked + ${v:-0}))
		# Nothing may fail on a fresh mount.
		[ "${e:-1}" = 0 ] && [ "${b:-1}" = 0 ] || rc=1
	done
	return $rc
}

dump_stacks() {
	local p

	for p in "$@"; do
		echo "# stack of $p ($(cat /proc/"$p"/comm 2>/dev/null)):"
		sed 's/^/#   /' /proc/"$p"/stack 2>/dev/null
		for t in /proc/"$p"/task/*/stack; do
			sed 's/^/#   /' "$t" 2>/dev/null
		done
	done
}

# wait_pids LIMIT PID...: 0 when all have ended within LIMIT seconds.
wait_pids() {
	local limit=$1 p i

	shift
	for i in $(seq $((limit * 10))); do
		for p in "$@"; do
			kill -0 "$p" 2>/dev/null && break
			p=
		done
		[ -z "$p" ] && return 0
		sleep 0.1
	done
	return 1
}

# ktrace_start: the module's and the page cache's tracepoints, in a ring
# buffer that the first mismatch freezes (soak_worker writes tracing_on).
TRACEFS=/sys/kernel/tracing
ktrace_start() {
	[ -n "${SOAK_TRACE:-}" ] || return 0
	mkdir -p "$SOAK_TRACE"
	mountpoint -q "$TRACEFS" || mount -t tracefs nodev "$TRACEFS" || return 0
	echo 16384 >"$TRACEFS/buffer_size_kb"
	echo 1 >"$TRACEFS/events/fuseuring/enable"
	echo 1 >"$TRACEFS/events/filemap/mm_filemap_add_to_page_cache/enable"
	echo 1 >"$TRACEFS/events/filemap/mm_filemap_delete_from_page_cache/enable"
	echo 1 >"$TRACEFS/tracing_on"
	export SOAK_TRACING_ON=$TRACEFS/tracing_on
}

# ktrace_round N: keep the recording a mismatch froze, else start afresh.
ktrace_round() {
	[ -n "${SOAK_TRACING_ON:-}" ] || return 0
	if [ "$(cat "$SOAK_TRACING_ON")" = 0 ]; then
		cp "$TRACEFS/trace" "$SOAK_TRACE/round-$1.ktrace"
		echo "# round $1: kernel trace in $SOAK_TRACE/round-$1.ktrace"
		unset SOAK_TRACING_ON
	else
		: >"$TRACEFS/trace"
	fi
}

ktrace_start
start=$(date +%s)
rounds=0 kills=0 cleans=0 checked=0 mismatch=0 hang=0 broken=0
ops=0 errs=0 verified=0 live_errs=0
declare -A by_transport=([ring]=0 [classic]=0)
while [ $(( $(date +%s) - start )) -lt "$DURATION" ]; do
	rounds=$((rounds + 1))
	# The first two rounds: each transport, each way to end.
	t=ring
	[ $((RANDOM % 2)) = 0 ] && t=classic
	[ $rounds = 1 ] && t=ring
	[ $rounds = 2 ] && t=classic
	kill_it=$((RANDOM % 2))
	[ $rounds -le 2 ] && kill_it=$((rounds % 2))
	mode=
	case $((RANDOM % 3)) in
	1) mode=--writeback ;;
	2) mode=--direct-io ;;
	esac
	# Emptied here, not by the server's redirection, which runs in the
	# child later: the last round's "ready" would let the checks below
	# run on the bare folder under a mount not made yet.
	log=$WORK/server.log
	: >"$log"
	trace=
	[ -n "${SOAK_TRACE:-}" ] && trace="--trace $SOAK_TRACE/round-$rounds.trace"
	"$TOP/examples/passthrough" --dev "$DEV" --fstype "$FSTYPE" $trace \
		--transport $t $mode "$SRC" "$MNT" >>"$log" 2>&1 &
	pid=$!
	up=0
	for _ in $(seq 100); do
		grep -q ': ready' "$log" && { up=1; break; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$up" = 0 ]; then
		echo "# round $rounds: the $t server did not come up:"
		sed 's/^/#   /' "$log"
		broken=$((broken + 1))
		break
	fi
	by_transport[$t]=$((by_transport[$t] + 1))
	if ! verify_all; then
		mismatch=$((mismatch + 1))
	fi
	rm -f "$WORK/stop"
	wpids=()
	for w in $(seq 0 $((WORKERS - 1))); do
		"$HERE/soak_worker" work "$MNT/w$w" "$LEDGER/w$w" "$WORK/stop" \
			$((RANDOM * 32768 + RANDOM)) >"$WORK/w$w.count" &
		wpids+=($!)
	done
	sleep $((1 + RANDOM % 6))
	if [ "$kill_it" = 1 ]; then
		# kill -9 in the middle of the workload.
		kills=$((kills + 1))
		kill -9 "$pid"
		wait "$pid" 2>/dev/null
		touch "$WORK/stop"
		if ! wait_pids 20 "${wpids[@]}"; then
			echo "# round $rounds ($t $mode): workers still busy 20 s after the server died"
			dump_stacks "${wpids[@]}"
			hang=$((hang + 1))
			break
		fi
		umount "$MNT" || { broken=$((broken + 1)); break; }
	else
		touch "$WORK/stop"
		if ! wait_pids 60 "${wpids[@]}"; then
			echo "# round $rounds ($t $mode): workers did not stop"
			dump_stacks "${wpids[@]}" "$pid"
			hang=$((hang + 1))
			break
		fi
		cleans=$((cleans + 1))
		umount "$MNT" || { broken=$((broken + 1)); break; }
		wait_pids 20 "$pid" || { hang=$((hang + 1)); break; }
		wait "$pid" || broken=$((broken + 1))
	fi
	pid=
	wait "${wpids[@]}" 2>/dev/null
	for w in $(seq 0 $((WORKERS - 1))); do
		grep '^#' "$WORK/w$w.count" | sed "s/\$/ [round $rounds: $t $mode]/"
		read -r o e v b <<<"$(tail -n 1 "$WORK/w$w.count")"
		# With a live server nothing fails.
		if [ "$kill_it" = 0 ] && [ "${e:-1}" != 0 ]; then
			echo "# round $rounds ($t $mode): w$w: $e operations failed with a live server"
			live_errs=$((live_errs + e))
		fi
		ops=$((ops + ${o:-0})) errs=$((errs + ${e:-0}))
		verified=$((verified + ${v:-0})) mismatch=$((mismatch + ${b:-1}))
	done
	ktrace_round $rounds
done

echo "# $(( $(date +%s) - start )) s: $rounds rounds (ring ${by_transport[ring]}, classic ${by_transport[classic]}), $kills killed, $cleans unmounted cleanly"
echo "# $ops operations, $errs failed (all while a server died), $verified files read back in flight, $checked after restarts; $mismatch mismatches"
ok $(( mismatch != 0 )) data_verified_across_restarts
ok $(( live_errs != 0 )) no_errors_while_the_server_lives
ok $(( hang != 0 )) no_caller_hangs_when_the_server_dies
ok $(( broken != 0 || kills == 0 || cleans == 0 ||
	by_transport[ring] == 0 || by_transport[classic] == 0 )) \
	servers_restart_over_ring_and_classic
tap_end
