/* AVX-512 helpers shared by the packed-GEMM paths of nn (callers are
 * themselves compiled for avx512f). Not for use outside nn/. */
#ifndef NN_SIMD_H
#define NN_SIMD_H

#include <immintrin.h>

/* Transposes the 16x16 block in r (rows) in place: unpack pairs of
 * floats, then of doubles, then regroup 128-bit lanes. */
__attribute__((target("avx512f")))
static inline void nn_transpose16(__m512 r[16])
{
	__m512 s[16], u[16];
	for (int i = 0; i < 16; i += 2) {
		s[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
		s[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int g = 0; g < 16; g += 4) {
		__m512d s0 = _mm512_castps_pd(s[g]), s1 = _mm512_castps_pd(s[g + 1]);
		__m512d s2 = _mm512_castps_pd(s[g + 2]), s3 = _mm512_castps_pd(s[g + 3]);
		u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(s0, s2));
		u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(s0, s2));
		u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(s1, s3));
		u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(s1, s3));
	}
	for (int c = 0; c < 4; c++) {
		__m512 v = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), w = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
		__m512 v2 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee), w2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
		r[c] = _mm512_shuffle_f32x4(v, w, 0x88);
		r[4 + c] = _mm512_shuffle_f32x4(v, w, 0xdd);
		r[8 + c] = _mm512_shuffle_f32x4(v2, w2, 0x88);
		r[12 + c] = _mm512_shuffle_f32x4(v2, w2, 0xdd);
	}
}

#endif
