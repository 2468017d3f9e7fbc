/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xorshift64 dice for the selftests that must replay: the same seed in
 * rng gives the same sequence (fuzz_ring and fuzz_classic's messages,
 * soak_worker's operations).
 */
#ifndef FUSEURING_XORSHIFT_H
#define FUSEURING_XORSHIFT_H

#include <stdint.h>

static uint64_t rng;

/* A number below n (0 for n == 0); rng must not be 0. */
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng >> 11) % n : 0;
}

#endif /* FUSEURING_XORSHIFT_H */
