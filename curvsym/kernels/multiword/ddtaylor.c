/* Taylor coefficients of a polynomial matrix tape in double-double arithmetic (curvsym).
 *
 * A double-double value is an unevaluated sum hi + lo of two float64 with |lo| <= ulp(hi)/2.
 * Error-free transformations (Knuth TwoSum; TwoProd by one fused multiply-add where the build targets
 * a CPU with FMA, else Dekker's with Veltkamp's split: both give the exact error term, the same bits) and the accurate sum and product of Joldes, Muller & Popescu (2017, ACM TOMS 44):
 * relative error <= 3u^2 (sum) and <= 5u^2 (product), u = 2^-53.  Compile with
 * -ffp-contract=off: a fused multiply-add in the wrong place breaks the transformations.
 *
 * The tape is the list of nodes of curvsym.integrate.tape in evaluation order.  Node i holds
 * K + 1 coefficient blocks of rows[i] x cols[i] entries at hi/lo + off[i] + k rows[i] cols[i]
 * (row-major); a constant node holds block 0 only (its blocks k > 0 are zero).  Order k of every
 * non-variable, non-constant node is computed from the orders <= k of its arguments:
 *
 *     [a + b]_k = a_k + b_k,  [-a]_k = -a_k,  [c a]_k = c a_k,  [a^T]_k = (a_k)^T,
 *     [a b]_k  = sum_{j=0}^{k} a_j b_{k-j}          (the Cauchy product),
 *
 * and then every variable's next block x_{k+1} = fac_k f_k, fac_k = s/(k+1) (the time-scaled
 * recurrence of curvsym.integrate.multiword_taylor; f the variable's output node).
 */
#ifdef CURVSYM_PYTHON_EXTENSION
/* Built by setup.py at install time as the optional extension curvsym.kernels.multiword._ddtaylor (Python.h first,
 * as Python asks): an empty module whose routines curvsym calls through ctypes, installed like any extension. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#endif
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

enum { VAR = 0, CONST = 1, ADD = 2, SUB = 3, NEG = 4, SCALE = 5, TRANSPOSE = 6, MATMUL = 7 };

typedef struct { double hi, lo; } dd;

static inline dd two_sum(double a, double b) {
    double s = a + b, bb = s - a;
    dd r = { s, (a - (s - bb)) + (b - bb) };
    return r;
}

static inline dd fast_two_sum(double a, double b) {
    double s = a + b;
    dd r = { s, b - (s - a) };
    return r;
}

static inline dd two_prod(double a, double b) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    /* a hardware fused multiply-add (the build targets the machine's own CPU): the same exact error term */
    double p = a * b;
    dd r = { p, __builtin_fma(a, b, -p) };
#else
    const double split = 134217729.0;  /* 2^27 + 1 */
    double p = a * b;
    double ca = split * a, ah = ca - (ca - a), al = a - ah;
    double cb = split * b, bh = cb - (cb - b), bl = b - bh;
    dd r = { p, ((ah * bh - p) + ah * bl + al * bh) + al * bl };
#endif
    return r;
}

static inline dd dd_add(dd a, dd b) {  /* AccurateDWPlusDW */
    dd s = two_sum(a.hi, b.hi), t = two_sum(a.lo, b.lo);
    s = fast_two_sum(s.hi, s.lo + t.hi);
    return fast_two_sum(s.hi, s.lo + t.lo);
}

static inline dd dd_mul(dd a, dd b) {  /* DWTimesDW */
    dd p = two_prod(a.hi, b.hi);
    return fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

static inline dd load(const double *hi, const double *lo, ptrdiff_t i) {
    dd r = { hi[i], lo[i] };
    return r;
}

static inline void store(double *hi, double *lo, ptrdiff_t i, dd v) {
    hi[i] = v.hi;
    lo[i] = v.lo;
}

enum { COLS = 8 };  /* entries of one row accumulated side by side in the Cauchy product */

/* acc[c] += a b[c] in double-double for the COLS columns c of one row (a fixed trip count: vectorised) */
static inline void dd_axpy_cols(dd a, const double *bh, const double *bl, double *acc_hi, double *acc_lo) {
    for (int c = 0; c < COLS; c++) {
        const dd b = { bh[c], bl[c] }, u = { acc_hi[c], acc_lo[c] };
        const dd v = dd_add(u, dd_mul(a, b));
        acc_hi[c] = v.hi;
        acc_lo[c] = v.lo;
    }
}

/* block k of node i (a constant node: block 0; NULL offset for its zero blocks is the caller's test) */
static inline ptrdiff_t block(const ptrdiff_t *off, const int *rows, const int *cols, int i, int k) {
    return off[i] + (ptrdiff_t)k * rows[i] * cols[i];
}

/* order k of the non-product node i (sum, difference, negation, scaling, transpose); -1 for an unknown op */
static int dd_op(int kind_i, int i, int k, const int *arg0, const int *arg1, const int *is_const,
                 const int *rows, const int *cols, const ptrdiff_t *off, double *hi, double *lo,
                 const double *scalar_hi, const double *scalar_lo)
{
    const int m = rows[i], p = cols[i];
    const ptrdiff_t o = block(off, rows, cols, i, k);
    const int x = arg0[i], y = arg1[i];
    switch (kind_i) {
    case ADD:
    case SUB: {
        const int live_x = !is_const[x] || k == 0, live_y = !is_const[y] || k == 0;
        const ptrdiff_t ox = block(off, rows, cols, x, is_const[x] ? 0 : k);
        const ptrdiff_t oy = block(off, rows, cols, y, is_const[y] ? 0 : k);
        for (ptrdiff_t e = 0; e < (ptrdiff_t)m * p; e++) {
            dd u = { 0.0, 0.0 }, v = { 0.0, 0.0 };
            if (live_x) u = load(hi, lo, ox + e);
            if (live_y) v = load(hi, lo, oy + e);
            if (kind_i == SUB) { v.hi = -v.hi; v.lo = -v.lo; }
            store(hi, lo, o + e, dd_add(u, v));
        }
        return 0;
    }
    case NEG:
    case SCALE: {
        const ptrdiff_t ox = block(off, rows, cols, x, k);
        const dd c = { scalar_hi[i], scalar_lo[i] };
        for (ptrdiff_t e = 0; e < (ptrdiff_t)m * p; e++) {
            dd u = load(hi, lo, ox + e);
            if (kind_i == NEG) { u.hi = -u.hi; u.lo = -u.lo; }
            else u = dd_mul(u, c);
            store(hi, lo, o + e, u);
        }
        return 0;
    }
    case TRANSPOSE: {
        const ptrdiff_t ox = block(off, rows, cols, x, k);
        for (int r = 0; r < m; r++)
            for (int c = 0; c < p; c++)
                store(hi, lo, o + (ptrdiff_t)r * p + c, load(hi, lo, ox + (ptrdiff_t)c * m + r));
        return 0;
    }
    default:
        return -1;  /* an op this kernel does not know */
    }
}

/* every variable's next block x_{k+1} = fac_k f_k */
static void dd_next_order(int k, int n_vars, const int *var_node, const int *out_node, const int *is_const,
                          const int *rows, const int *cols, const ptrdiff_t *off, double *hi, double *lo,
                          const double *fac_hi, const double *fac_lo)
{
    const dd fac = { fac_hi[k], fac_lo[k] };
    for (int v = 0; v < n_vars; v++) {
        const int xv = var_node[v], f = out_node[v];
        const ptrdiff_t o = block(off, rows, cols, xv, k + 1);
        const int live = !is_const[f] || k == 0;
        const ptrdiff_t of = block(off, rows, cols, f, is_const[f] ? 0 : k);
        for (ptrdiff_t e = 0; e < (ptrdiff_t)rows[xv] * cols[xv]; e++) {
            dd u = { 0.0, 0.0 };
            if (live) u = dd_mul(load(hi, lo, of + e), fac);
            store(hi, lo, o + e, u);
        }
    }
}

int curvsym_dd_taylor(int n_ops, const int *kind, const int *arg0, const int *arg1, const int *is_const,
                      const int *rows, const int *cols, const ptrdiff_t *off, double *hi, double *lo,
                      const double *scalar_hi, const double *scalar_lo,
                      int n_vars, const int *var_node, const int *out_node,
                      int order, const double *fac_hi, const double *fac_lo)
{
    for (int k = 0; k < order; k++) {
        for (int i = 0; i < n_ops; i++) {
            if (kind[i] == VAR || is_const[i]) continue;
            if (kind[i] != MATMUL) {
                if (dd_op(kind[i], i, k, arg0, arg1, is_const, rows, cols, off, hi, lo, scalar_hi, scalar_lo))
                    return -1;
                continue;
            }
            const int m = rows[i], p = cols[i];
            const ptrdiff_t o = block(off, rows, cols, i, k);
            const int x = arg0[i], y = arg1[i];
            const int n = cols[x];
            const int j0 = is_const[y] ? k : 0, j1 = is_const[x] ? 0 : k;
            /* every entry's terms are summed in the order j = j0..j1, t = 0..n-1 (as one dot product),
             * but COLS entries of a row at a time: independent accumulators that the compiler keeps in
             * vector registers, where one running sum would wait on each dd_add's latency */
            for (int r = 0; r < m; r++)
                for (int c0 = 0; c0 < p; c0 += COLS) {
                    const int w = p - c0 < COLS ? p - c0 : COLS;
                    double acc_hi[COLS] = { 0.0 }, acc_lo[COLS] = { 0.0 };
                    for (int j = j0; j <= j1; j++) {
                        const ptrdiff_t oa = block(off, rows, cols, x, j) + (ptrdiff_t)r * n;
                        const ptrdiff_t ob = block(off, rows, cols, y, is_const[y] ? 0 : k - j) + c0;
                        for (int t = 0; t < n; t++) {
                            const dd a = load(hi, lo, oa + t);
                            const double *bh = hi + ob + (ptrdiff_t)t * p, *bl = lo + ob + (ptrdiff_t)t * p;
                            if (w == COLS)
                                dd_axpy_cols(a, bh, bl, acc_hi, acc_lo);
                            else
                                for (int c = 0; c < w; c++) {
                                    const dd b = { bh[c], bl[c] }, u = { acc_hi[c], acc_lo[c] };
                                    const dd v = dd_add(u, dd_mul(a, b));
                                    acc_hi[c] = v.hi;
                                    acc_lo[c] = v.lo;
                                }
                        }
                    }
                    for (int c = 0; c < w; c++) {
                        hi[o + (ptrdiff_t)r * p + c0 + c] = acc_hi[c];
                        lo[o + (ptrdiff_t)r * p + c0 + c] = acc_lo[c];
                    }
                }
        }
        dd_next_order(k, n_vars, var_node, out_node, is_const, rows, cols, off, hi, lo, fac_hi, fac_lo);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * The same recurrence with the Cauchy products of CompiledTape._dd_cauchy / _float_cauchy
 * (curvsym.integrate.multiword_taylor) instead of term-by-term double-double arithmetic: for widths where
 * BLAS call overhead, not arithmetic, bounds the NumPy engine (d ~ 16), every product of one step in C.
 *
 * Order k of a product node sums the pairs (a_j, b_{k-j}), j0 <= j <= j1 (N = J n terms per entry).  With
 * ma_j = max|a_j|, mb_i = max|b_i| (leading words), S = max_{j <= j1} ma_j max_{i <= k-j0} mb_i and
 * S_k = sum_j ma_j mb_{k-j}:
 *   float path (k > 0, S_k (N + 2) <= 4 2^-53 S): the leading words' product in float64 (error
 *     <= (N + 2) 2^-53 n S_k <= tau = 4 2^-106 n S);
 *   else: each pair balanced by 2^-sh_j, 2^sh_j (sh_j = floor((E(ma_j) - E(mb_{k-j})) / 2)); row / column
 *     exponents Er, Fc of the balanced operands; e exact slice levels of beta bits (2 beta + 1 + log2(e N)
 *     <= 52: every level sum is exact in any order), e = ceil((log2(N M / tau) - 53) / beta), M = 2^(top_a +
 *     top_b); level l = sum_{i + i' = l} A^i B^i'; the tail sum_{i < e} A^i (b_r^{e-1-i} + b1) + (a_r + a1) b0
 *     in float64 (a_r, b_r^q the remainders, b0 the balanced b; the second words a1, b1 only when the cross
 *     terms count, 2^-53 2 N M > tau); the levels and the tail summed by Sum2 (cascaded TwoSum).
 * The levels are exact, so they are the NumPy route's bits; the tail and the float path round in another
 * order than BLAS (the same bound).  rough != 0: every product on the float path (a float64-accurate series,
 * for choosing the first step's scale).  Returns 0, -1 for an unknown op, -2 when an order needs more than 6
 * levels or beta < 8 (the caller falls back to the NumPy program), -3 when out of memory.  work[0] += the
 * pairs, work[1] += the (n-inner) block products issued for them (as CompiledTape.work).
 */
enum { SL_MAXE = 6 };

#if defined(_MSC_VER)
#define SL_RESTRICT __restrict
#else
#define SL_RESTRICT restrict
#endif

#if defined(__GNUC__)
#if defined(__AVX__)
#define SL_VW 4
#else
#define SL_VW 2
#endif
typedef double sl_vec __attribute__((vector_size(8 * SL_VW)));
#endif

/* C (m x p, row stride ldc) += A (m x N, stride lda) B (N x p, stride ldb) in float64, 4 x 8 register blocks.
 * Used for sums that are exact in any order and with or without fused multiply-adds (the slice levels), or whose
 * rounding is bounded whatever the order (the tail, the float path): so this function alone may be optimised
 * harder and contract a*b + c into fma (GCC's optimize attribute; other compilers: the plain loops). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3", "fp-contract=fast")))
#endif
static void sl_gemm_panel(int m, int p, ptrdiff_t N, const double *A, ptrdiff_t lda, const double *B, ptrdiff_t ldb,
                          double *C, ptrdiff_t ldc)
{
    int r = 0;
#if defined(__GNUC__)
    for (; r + 4 <= m; r += 4) {
        int c = 0;
        for (; c + 8 <= p; c += 8) {
            sl_vec acc[4][8 / SL_VW];
            for (int rr = 0; rr < 4; rr++)
                for (int q = 0; q < 8 / SL_VW; q++)
                    __builtin_memcpy(&acc[rr][q], C + (r + rr) * ldc + c + q * SL_VW, sizeof(sl_vec));
            for (ptrdiff_t t = 0; t < N; t++) {
                sl_vec b[8 / SL_VW];
                for (int q = 0; q < 8 / SL_VW; q++) __builtin_memcpy(&b[q], B + t * ldb + c + q * SL_VW, sizeof(sl_vec));
                for (int rr = 0; rr < 4; rr++) {
                    const double a = A[(r + rr) * lda + t];
                    for (int q = 0; q < 8 / SL_VW; q++) acc[rr][q] += a * b[q];
                }
            }
            for (int rr = 0; rr < 4; rr++)
                for (int q = 0; q < 8 / SL_VW; q++)
                    __builtin_memcpy(C + (r + rr) * ldc + c + q * SL_VW, &acc[rr][q], sizeof(sl_vec));
        }
        for (int rr = 0; rr < 4; rr++)
            for (int cc = c; cc < p; cc++) {
                double acc = C[(r + rr) * ldc + cc];
                for (ptrdiff_t t = 0; t < N; t++) acc += A[(r + rr) * lda + t] * B[t * ldb + cc];
                C[(r + rr) * ldc + cc] = acc;
            }
    }
#endif
    for (; r < m; r++)
        for (int c = 0; c < p; c++) {
            double acc = C[r * ldc + c];
            for (ptrdiff_t t = 0; t < N; t++) acc += A[r * lda + t] * B[t * ldb + c];
            C[r * ldc + c] = acc;
        }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SL_AVX512 1
typedef double sl_vec8 __attribute__((vector_size(64)));

/* The same product in 8 x 16 blocks of AVX-512 registers, for a CPU that has them (chosen at run time): every
 * entry still sums its terms t = 0, 1, ... in order with fused multiply-adds, so the bits are those of
 * sl_gemm_panel; the rows and columns beyond whole blocks go to sl_gemm_panel. */
__attribute__((target("avx512f,fma"), optimize("O3", "fp-contract=fast")))
static void sl_gemm_panel512(int m, int p, ptrdiff_t N, const double *A, ptrdiff_t lda, const double *B,
                             ptrdiff_t ldb, double *C, ptrdiff_t ldc)
{
    const int m8 = m - m % 8, p16 = p - p % 16;
    for (int r = 0; r < m8; r += 8)
        for (int c = 0; c < p16; c += 16) {
            sl_vec8 acc[8][2];
            for (int rr = 0; rr < 8; rr++)
                for (int q = 0; q < 2; q++) __builtin_memcpy(&acc[rr][q], C + (r + rr) * ldc + c + 8 * q, 64);
            for (ptrdiff_t t = 0; t < N; t++) {
                sl_vec8 b[2];
                for (int q = 0; q < 2; q++) __builtin_memcpy(&b[q], B + t * ldb + c + 8 * q, 64);
                for (int rr = 0; rr < 8; rr++) {
                    const double a = A[(r + rr) * lda + t];
                    for (int q = 0; q < 2; q++) acc[rr][q] += a * b[q];
                }
            }
            for (int rr = 0; rr < 8; rr++)
                for (int q = 0; q < 2; q++) __builtin_memcpy(C + (r + rr) * ldc + c + 8 * q, &acc[rr][q], 64);
        }
    if (p16 < p) sl_gemm_panel(m8, p - p16, N, A, lda, B + p16, ldb, C + p16, ldc);
    if (m8 < m) sl_gemm_panel(m - m8, p, N, A + m8 * lda, lda, B, ldb, C + m8 * ldc, ldc);
}
#endif

static int sl_wide(void) {  /* whether the CPU has AVX-512 and FMA (asked once) */
#ifdef SL_AVX512
    static int wide = -1;
    if (wide < 0) {
        __builtin_cpu_init();
        wide = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    }
    return wide;
#else
    return 0;
#endif
}

/* the inner dimension in panels of SL_KC: a panel of B's column block stays in the L1 cache across row blocks */
enum { SL_KC = 256 };

static void sl_gemm(int m, int p, ptrdiff_t N, const double *A, ptrdiff_t lda, const double *B, ptrdiff_t ldb,
                    double *C, ptrdiff_t ldc)
{
    const int wide = sl_wide();
    for (ptrdiff_t t0 = 0; t0 < N; t0 += SL_KC) {
        const ptrdiff_t kc = N - t0 < SL_KC ? N - t0 : SL_KC;
#ifdef SL_AVX512
        if (wide) {
            sl_gemm_panel512(m, p, kc, A + t0, lda, B + t0 * ldb, ldb, C, ldc);
            continue;
        }
#endif
        (void)wide;
        sl_gemm_panel(m, p, kc, A + t0, lda, B + t0 * ldb, ldb, C, ldc);
    }
}

/* C (m x p) += sum_s A_s B_s over S segments (A_s: m x K_s, row stride lda_s; B_s: K_s x p, row stride ldb_s): every
 * entry sums the segments in order and each segment's terms t = 0, 1, ... in order, so the bits of one sl_gemm
 * per segment; with AVX-512 the 8 x 16 register blocks stay in registers across the segments (the Cauchy pairs
 * of the float path, the products of one slice level, the tail), where a call per segment stored and reloaded
 * them and paid a call per 16-term pair. */
typedef struct { const double *A, *B; ptrdiff_t lda, ldb, K; } sl_seg;

#ifdef SL_AVX512
__attribute__((target("avx512f,fma"), optimize("O3", "fp-contract=fast")))
static void sl_gemm_segs512(int m, int p, int S, const sl_seg *seg, double *C, ptrdiff_t ldc)
{
    const int m8 = m - m % 8, p16 = p - p % 16;
    for (int r = 0; r < m8; r += 8)
        for (int c = 0; c < p16; c += 16) {
            sl_vec8 acc[8][2];
            for (int rr = 0; rr < 8; rr++)
                for (int q = 0; q < 2; q++) __builtin_memcpy(&acc[rr][q], C + (r + rr) * ldc + c + 8 * q, 64);
            for (int sg = 0; sg < S; sg++) {
                const double *A = seg[sg].A + r * seg[sg].lda, *B = seg[sg].B + c;
                const ptrdiff_t lda = seg[sg].lda, ldb = seg[sg].ldb, K = seg[sg].K;
                for (ptrdiff_t t = 0; t < K; t++) {
                    sl_vec8 b[2];
                    for (int q = 0; q < 2; q++) __builtin_memcpy(&b[q], B + t * ldb + 8 * q, 64);
                    for (int rr = 0; rr < 8; rr++) {
                        const double a = A[rr * lda + t];
                        for (int q = 0; q < 2; q++) acc[rr][q] += a * b[q];
                    }
                }
            }
            for (int rr = 0; rr < 8; rr++)
                for (int q = 0; q < 2; q++) __builtin_memcpy(C + (r + rr) * ldc + c + 8 * q, &acc[rr][q], 64);
        }
    for (int sg = 0; sg < S; sg++) {  /* the entries beyond whole blocks, segment after segment */
        if (p16 < p) sl_gemm_panel(m8, p - p16, seg[sg].K, seg[sg].A, seg[sg].lda, seg[sg].B + p16, seg[sg].ldb,
                                   C + p16, ldc);
        if (m8 < m) sl_gemm_panel(m - m8, p, seg[sg].K, seg[sg].A + m8 * seg[sg].lda, seg[sg].lda, seg[sg].B,
                                  seg[sg].ldb, C + m8 * ldc, ldc);
    }
}
#endif

static void sl_gemm_segs(int m, int p, int S, const sl_seg *seg, double *C, ptrdiff_t ldc)
{
#ifdef SL_AVX512
    ptrdiff_t total = 0;
    for (int sg = 0; sg < S; sg++) total += seg[sg].K;
    /* the blocks kept in registers across the segments where a column block of B is reused by few row blocks
     * (m <= 16) or fits the L1 cache (total <= SL_KC); else one sl_gemm per segment, whose panels of SL_KC
     * terms keep B in the L1 cache across the row blocks (d = 64: 20 % faster than without them) */
    if (sl_wide() && (m <= 16 || total <= SL_KC)) {
        sl_gemm_segs512(m, p, S, seg, C, ldc);
        return;
    }
#endif
    for (int sg = 0; sg < S; sg++) sl_gemm(m, p, seg[sg].K, seg[sg].A, seg[sg].lda, seg[sg].B, seg[sg].ldb, C, ldc);
}

#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))  /* of non-negative, non-NaN maxima (fmax is a libm call) */

static int floor_div2(int x) { return x >= 0 ? x / 2 : -((-x + 1) / 2); }

/* frexp's exponent of x (x = f 2^e, 0.5 <= |f| < 1), read from the bits of a normal x (frexp is a library call,
 * taken per pair and per row and column); zero, subnormals, inf and NaN: frexp's own answer */
static inline int exponent_of(double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    const int biased = (int)((b >> 52) & 0x7ff);
    if (biased != 0 && biased != 0x7ff) return biased - 1022;
    int e;
    frexp(x, &e);
    return e;
}

/* ldexp(1.0, k) and ldexp(1.5, k), built from the bits where 2^k is a normal number (exact: the same values) */
static inline double pow2(int k) {
    if (k < -1022 || k > 1023) return ldexp(1.0, k);
    const uint64_t b = (uint64_t)(k + 1023) << 52;
    double r;
    memcpy(&r, &b, sizeof r);
    return r;
}

static inline double pow2_15(int k) { return k < -1022 || k > 1023 ? ldexp(1.5, k) : 1.5 * pow2(k); }

typedef struct {
    const int *rows, *cols, *is_const;
    const ptrdiff_t *off;
    double *hi, *lo;
    double *mx;   /* mx[i stride + k]: max|block k of node i| (< 0: not yet taken) */
    double *rmx;  /* rmx[(i stride + k) width + r], cmx[... + c]: its row and column maxima (with mx) */
    double *cmx;
    int stride, width;
} sl_tape;

/* max|block k of node i| (leading words), and its row and column maxima, taken once per series */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static double sl_max(sl_tape *t, int i, int k) {
    const ptrdiff_t at = (ptrdiff_t)i * t->stride + k;
    double *m = t->mx + at;
    if (*m < 0.0) {
        const int rows = t->rows[i], cols = t->cols[i];
        const double *v = t->hi + block(t->off, t->rows, t->cols, i, k);
        double *rm = t->rmx + at * t->width, *cm = t->cmx + at * t->width, all = 0.0;
        for (int c = 0; c < cols; c++) cm[c] = 0.0;
        for (int r = 0; r < rows; r++) {
            const double *vr = v + (ptrdiff_t)r * cols;
            double part[8] = { 0.0 }, mr = 0.0;  /* 8 partial row maxima (vectorised; max is exact in any order) */
            int c = 0;
            for (; c + 8 <= cols; c += 8)
                for (int q = 0; q < 8; q++) {
                    const double a = fabs(vr[c + q]);
                    part[q] = SL_MAX(part[q], a);
                    cm[c + q] = SL_MAX(cm[c + q], a);
                }
            for (; c < cols; c++) {
                const double a = fabs(vr[c]);
                mr = SL_MAX(mr, a);
                cm[c] = SL_MAX(cm[c], a);
            }
            for (int q = 0; q < 8; q++) mr = SL_MAX(mr, part[q]);
            rm[r] = mr;
            all = SL_MAX(all, mr);
        }
        *m = all;
    }
    return *m;
}

static const double *sl_rowmax(sl_tape *t, int i, int k) {
    sl_max(t, i, k);
    return t->rmx + ((ptrdiff_t)i * t->stride + k) * t->width;
}

static const double *sl_colmax(sl_tape *t, int i, int k) {
    sl_max(t, i, k);
    return t->cmx + ((ptrdiff_t)i * t->stride + k) * t->width;
}

/* One run of len entries v = f x (f a power of two) cut into E slices in one pass, every level of an entry in
 * registers: slice i = fl(fl(v + sigma_i) - sigma_i), sigma_i = sig[i sig_level + c] (the grid of the entry's row
 * or column), v -= slice i; slice i goes to sl[i stride + c].  COLS (the column side): f x to head[c], the
 * remainder after slice i (plus f x1 when LOW) to rem[(E - 1 - i) stride + c].  Else (the row side): the last
 * remainder (plus f x1 when LOW) to last[c].  E, COLS and LOW are constants where this is inlined, so the level
 * loop unrolls and the entry loop vectorises (one loop per run, where a loop per level and per row cost more
 * in loop overhead than in arithmetic at widths 16-64).  The operations of each entry are those of the NumPy
 * route in its order: the same bits. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void sl_cut(const int E, const int COLS, const int LOW, ptrdiff_t len, const double *SL_RESTRICT x,
                          const double *SL_RESTRICT x1, double f, const double *SL_RESTRICT sig, ptrdiff_t sig_level,
                          double *SL_RESTRICT head, double *SL_RESTRICT sl, ptrdiff_t stride, double *SL_RESTRICT rem,
                          double *SL_RESTRICT last)
{
    for (ptrdiff_t c = 0; c < len; c++) {
        double v = x[c] * f;
        if (COLS) head[c] = v;
        for (int i = 0; i < E; i++) {
            const double si = sig[i * sig_level + c];
            const double u = (v + si) - si;
            sl[i * stride + c] = u;
            v = v - u;
            if (COLS) rem[(E - 1 - i) * stride + c] = LOW ? v + x1[c] * f : v;
        }
        if (!COLS) last[c] = LOW ? v + x1[c] * f : v;
    }
}

#define SL_CUT_CASES(COLS_, LEN, ...)                                                                  \
    switch (e) {                                                                                   \
    case 0: if (x1) sl_cut(0, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(0, COLS_, 0, LEN, __VA_ARGS__); break; \
    case 1: if (x1) sl_cut(1, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(1, COLS_, 0, LEN, __VA_ARGS__); break; \
    case 2: if (x1) sl_cut(2, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(2, COLS_, 0, LEN, __VA_ARGS__); break; \
    case 3: if (x1) sl_cut(3, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(3, COLS_, 0, LEN, __VA_ARGS__); break; \
    case 4: if (x1) sl_cut(4, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(4, COLS_, 0, LEN, __VA_ARGS__); break; \
    case 5: if (x1) sl_cut(5, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(5, COLS_, 0, LEN, __VA_ARGS__); break; \
    default: if (x1) sl_cut(6, COLS_, 1, LEN, __VA_ARGS__); else sl_cut(6, COLS_, 0, LEN, __VA_ARGS__); break; \
    }

/* The column side of one pair: the n x p block b (contiguous) balanced by f, its slices on the columns' grids
 * (sig: e levels of n p sigmas) to sl[i stride ...] (stride: one level of the stacked (N x p) arrays), the balanced
 * block to head, the remainders (+ f b1) to rem; head, sl and rem are contiguous n p runs of the stacked arrays. */
#define SL_SLICE_COLS_BODY                                                                            \
    SL_CUT_CASES(1, len, x, x1, f, sig, len, head, sl, stride, rem, NULL)

/* The row side: the m x n block a (contiguous) balanced by f, row r's slices on its row's grid (sig: e levels of
 * m n sigmas) to sl[i stride + r ld ...], its last remainder (+ f a1) to last[r ld ...] (ld = N: the stacked rows). */
#define SL_SLICE_ROWS_BODY                                                                            \
    for (int r = 0; r < rows; r++) {                                                                  \
        const double *xr = x + (ptrdiff_t)r * cols, *x1r = x1 ? x1 + (ptrdiff_t)r * cols : NULL;       \
        const double *sr = sig + (ptrdiff_t)r * cols;                                                 \
        double *slr = sl + (ptrdiff_t)r * ld, *lr = last + (ptrdiff_t)r * ld;                          \
        const ptrdiff_t rc = (ptrdiff_t)rows * cols;                                                  \
        SL_CUT_CASES(0, cols, xr, x1r, f, sr, rc, NULL, slr, stride, NULL, lr)                         \
    }

#define SL_COLS_ARGS int e, ptrdiff_t len, const double *SL_RESTRICT x, const double *SL_RESTRICT x1, double f, \
                     const double *SL_RESTRICT sig, ptrdiff_t stride, double *SL_RESTRICT head, double *SL_RESTRICT sl, \
                     double *SL_RESTRICT rem
#define SL_ROWS_ARGS int e, int rows, int cols, const double *SL_RESTRICT x, const double *SL_RESTRICT x1, double f, \
                     const double *SL_RESTRICT sig, ptrdiff_t ld, ptrdiff_t stride, double *SL_RESTRICT sl, \
                     double *SL_RESTRICT last

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void sl_slice_cols_plain(SL_COLS_ARGS) { SL_SLICE_COLS_BODY }

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void sl_slice_rows_plain(SL_ROWS_ARGS) { SL_SLICE_ROWS_BODY }

#ifdef SL_AVX512
/* the same passes in AVX-512 registers where the CPU has them (chosen at run time): additions, subtractions
 * and products by powers of two, entry by entry, so the same bits (no contraction: -ffp-contract=off holds) */
__attribute__((target("avx512f"), optimize("O3")))
static void sl_slice_cols512(SL_COLS_ARGS) { SL_SLICE_COLS_BODY }

__attribute__((target("avx512f"), optimize("O3")))
static void sl_slice_rows512(SL_ROWS_ARGS) { SL_SLICE_ROWS_BODY }
#endif

static void sl_slice_cols(SL_COLS_ARGS) {
#ifdef SL_AVX512
    if (sl_wide()) { sl_slice_cols512(e, len, x, x1, f, sig, stride, head, sl, rem); return; }
#endif
    sl_slice_cols_plain(e, len, x, x1, f, sig, stride, head, sl, rem);
}

static void sl_slice_rows(SL_ROWS_ARGS) {
#ifdef SL_AVX512
    if (sl_wide()) { sl_slice_rows512(e, rows, cols, x, x1, f, sig, ld, stride, sl, last); return; }
#endif
    sl_slice_rows_plain(e, rows, cols, x, x1, f, sig, ld, stride, sl, last);
}

/* out (m x p, hi/lo) = [x y]_k; scratch: room for the pair factors, exponents, slices and levels (see the caller) */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))  /* vectorised slicing passes (no contraction: -ffp-contract=off holds) */
#endif
static int sl_cauchy(sl_tape *t, int x, int y, int k, ptrdiff_t o, double *scratch, double *work, int rough) {
    const int m = t->rows[x], n = t->cols[x], p = t->cols[y];
    const int cx = t->is_const[x], cy = t->is_const[y];
    const int j0 = cy ? k : 0, j1 = cx ? 0 : k, J = j1 - j0 + 1;
    double *ohi = t->hi + o, *olo = t->lo + o;
    for (ptrdiff_t q = 0; q < (ptrdiff_t)m * p; q++) ohi[q] = olo[q] = 0.0;
    if (J <= 0) return 0;
    double max_a = 0.0, max_b = 0.0, sk = 0.0;
    for (int j = 0; j <= j1; j++) max_a = SL_MAX(max_a, sl_max(t, x, j));
    for (int i = 0; i <= (cy ? 0 : k - j0); i++) max_b = SL_MAX(max_b, sl_max(t, y, i));
    const double S = max_a * max_b;
    const ptrdiff_t N = (ptrdiff_t)J * n;
    double *pa = scratch, *pb = pa + J, *fa = pb + J, *fb = fa + J;
    int live = 0;
    for (int jj = 0; jj < J; jj++) {
        const int j = j0 + jj;
        pa[jj] = sl_max(t, x, j);
        pb[jj] = sl_max(t, y, cy ? 0 : k - j);
        sk += pa[jj] * pb[jj];
        live |= pa[jj] > 0.0 && pb[jj] > 0.0;
    }
    if (!live || S == 0.0) return 0;  /* every pair has an exact zero factor */
#define A_HI(jj) (t->hi + block(t->off, t->rows, t->cols, x, j0 + (jj)))
#define A_LO(jj) (t->lo + block(t->off, t->rows, t->cols, x, j0 + (jj)))
#define B_HI(jj) (t->hi + block(t->off, t->rows, t->cols, y, cy ? 0 : k - j0 - (jj)))
#define B_LO(jj) (t->lo + block(t->off, t->rows, t->cols, y, cy ? 0 : k - j0 - (jj)))
    work[0] += J;
    if (rough || (k > 0 && sk * ((double)N + 2.0) <= S * 4.0 * ldexp(1.0, -53))) {  /* the float path */
        work[1] += J;
        sl_seg *sg = (sl_seg *)(fb + J);  /* J segments: the pairs (scratch beyond the factors) */
        for (int jj = 0; jj < J; jj++) {
            const sl_seg one = { A_HI(jj), B_HI(jj), n, p, n };
            sg[jj] = one;
        }
        sl_gemm_segs(m, p, J, sg, ohi, p);
        return 0;
    }
    const double tau = 4.0 * ldexp(1.0, -106) * n * S;
    double top_a = 0.0, top_b = 0.0;
    for (int jj = 0; jj < J; jj++) {
        const int on = pa[jj] > 0.0 && pb[jj] > 0.0;
        const int sh = on ? floor_div2(exponent_of(pa[jj]) - exponent_of(pb[jj])) : 0;
        fa[jj] = on ? pow2(-sh) : 0.0;
        fb[jj] = on ? pow2(sh) : 0.0;
        top_a = SL_MAX(top_a, pa[jj] * fa[jj]);
        top_b = SL_MAX(top_b, pb[jj] * fb[jj]);
    }
    const double M = pow2(exponent_of(top_a) + exponent_of(top_b));
    const int cross = ldexp(1.0, -53) * 2.0 * N * M > tau;
    const double need = log2((double)N * M / tau) - 53.0;
    int e = need > 0 ? (int)ceil(need / 15.0) : 0, beta = 0;
    for (int it = 0; it < 3; it++) {
        beta = (int)floor((52.0 - log2((double)(e > 1 ? e : 1) * N)) / 2.0);
        e = need > 0 ? (int)ceil(need / beta) : 0;
    }
    if (beta < 8 || e > SL_MAXE) return -2;
    if (cross && e == 0) e = 1;
    work[1] += (double)J * (e * (e + 1) / 2 + e + 1);
    /* scratch: Er, Fc; the column side b0 (balanced), its slices Bs[i], the remainders Rb[i] (+ b1) after e - i
     * slices (pairs with A^i), each N x p; the row side As[i] (m x N), As[e] the remainder (+ a1); the levels
     * Lv[l] (m x p), Lv[e] the tail */
    int *Er = (int *)(fb + J), *Fc = Er + m;
    double *b0 = fb + J + (m + p) / 2 + 2, *Bs = b0 + N * p, *Rb = Bs + (ptrdiff_t)e * N * p;
    double *As = Rb + (ptrdiff_t)e * N * p, *Lv = As + (ptrdiff_t)(e + 1) * m * N;
    double *sigc_scratch = Lv + (ptrdiff_t)(e + 1) * m * p;  /* p + m maxima, then e p sigmas, then rows of v */
    {   /* Fc[c] = E(max_j max_t |b_{k-j}[t, c]| fb_j), Er[r] likewise (fa, fb: powers of two) */
        double *mc = sigc_scratch, *mr = mc + p;
        for (int c = 0; c < p; c++) mc[c] = 0.0;
        for (int r = 0; r < m; r++) mr[r] = 0.0;
        for (int jj = 0; jj < J; jj++) {
            const double *cm = sl_colmax(t, y, cy ? 0 : k - j0 - jj), *rm = sl_rowmax(t, x, j0 + jj);
            for (int c = 0; c < p; c++) mc[c] = SL_MAX(mc[c], cm[c] * fb[jj]);
            for (int r = 0; r < m; r++) mr[r] = SL_MAX(mr[r], rm[r] * fa[jj]);
        }
        for (int c = 0; c < p; c++) Fc[c] = exponent_of(mc[c]);
        for (int r = 0; r < m; r++) Er[r] = exponent_of(mr[r]);
    }
    /* sigma_i of every entry of a b block (by column) and of an a block (by row), then one pass per block */
    double *sigb = sigc_scratch + p + m, *siga = sigb + (ptrdiff_t)e * n * p;
    for (int i = 0; i < e; i++) {
        for (int c = 0; c < p; c++) sigb[(ptrdiff_t)i * n * p + c] = pow2_15(Fc[c] - (i + 1) * beta + 52);
        for (int tt = 1; tt < n; tt++)
            for (int c = 0; c < p; c++) sigb[((ptrdiff_t)i * n + tt) * p + c] = sigb[(ptrdiff_t)i * n * p + c];
        for (int r = 0; r < m; r++) {
            const double sr = pow2_15(Er[r] - (i + 1) * beta + 52);
            for (int tt = 0; tt < n; tt++) siga[((ptrdiff_t)i * m + r) * n + tt] = sr;
        }
    }
    for (int jj = 0; jj < J; jj++) {
        const ptrdiff_t at = (ptrdiff_t)jj * n * p;
        sl_slice_cols(e, (ptrdiff_t)n * p, B_HI(jj), cross ? B_LO(jj) : NULL, fb[jj], sigb, N * p, b0 + at, Bs + at,
                      Rb + at);
        sl_slice_rows(e, m, n, A_HI(jj), cross ? A_LO(jj) : NULL, fa[jj], siga, N, m * N, As + (ptrdiff_t)jj * n,
                      As + (ptrdiff_t)e * m * N + (ptrdiff_t)jj * n);
    }
    for (ptrdiff_t q = 0; q < (ptrdiff_t)(e + 1) * m * p; q++) Lv[q] = 0.0;
    const ptrdiff_t mN = (ptrdiff_t)m * N, Np = N * p, mp = (ptrdiff_t)m * p;
    sl_seg sg[SL_MAXE + 1];
    for (int l = 0; l < e; l++) {  /* level l = sum_{i <= l} A^i B^(l-i), exact */
        for (int i = 0; i <= l; i++) {
            const sl_seg one = { As + i * mN, Bs + (l - i) * Np, N, p, N };
            sg[i] = one;
        }
        sl_gemm_segs(m, p, l + 1, sg, Lv + l * mp, p);
    }
    for (int i = 0; i <= e; i++) {  /* the tail: sum_{i < e} A^i (b_r^(e-1-i) + b1) + (a_r + a1) b0 */
        const sl_seg one = { As + i * mN, i < e ? Rb + i * Np : b0, N, p, N };
        sg[i] = one;
    }
    sl_gemm_segs(m, p, e + 1, sg, Lv + e * mp, p);
    for (ptrdiff_t q = 0; q < mp; q++) {  /* Sum2 of the levels, the tail first */
        double acc = Lv[e * mp + q], err = 0.0;
        for (int l = e - 1; l >= 0; l--) {
            const dd u = two_sum(Lv[l * mp + q], acc);
            acc = u.hi;
            err += u.lo;
        }
        const dd v = fast_two_sum(acc, err);
        ohi[q] = v.hi;
        olo[q] = v.lo;
    }
#undef A_HI
#undef A_LO
#undef B_HI
#undef B_LO
    return 0;
}

int curvsym_dd_taylor_sliced(int n_ops, const int *kind, const int *arg0, const int *arg1, const int *is_const,
                             const int *rows, const int *cols, const ptrdiff_t *off, double *hi, double *lo,
                             const double *scalar_hi, const double *scalar_lo,
                             int n_vars, const int *var_node, const int *out_node,
                             int order, const double *fac_hi, const double *fac_lo, double *work, int rough)
{
    ptrdiff_t need = 0;
    for (int i = 0; i < n_ops; i++)
        if (kind[i] == MATMUL) {
            const ptrdiff_t J = order + 1, n = cols[arg0[i]], p = cols[arg1[i]], m = rows[arg0[i]];
            const ptrdiff_t s = (2 * SL_MAXE + 1) * J * n * p + (SL_MAXE + 1) * (m * J * n + m * p) + SL_MAXE * (n * p + m * n) + n * p + 4 * J + 2 * m + 2 * p + 8;
            need = s > need ? s : need;
        }
    int width = 1;
    for (int i = 0; i < n_ops; i++) {
        width = rows[i] > width ? rows[i] : width;
        width = cols[i] > width ? cols[i] : width;
    }
    const ptrdiff_t blocks = (ptrdiff_t)n_ops * (order + 2);
    double *scratch = (double *)malloc((size_t)(need + blocks * (1 + 2 * (ptrdiff_t)width) + 1) * sizeof(double));
    if (!scratch) return -3;
    sl_tape t = { rows, cols, is_const, off, hi, lo, scratch + need, scratch + need + blocks,
                  scratch + need + blocks * (1 + (ptrdiff_t)width), order + 2, width };
    for (ptrdiff_t q = 0; q < blocks; q++) t.mx[q] = -1.0;
    int status = 0;
    for (int k = 0; k < order && status == 0; k++) {
        for (int i = 0; i < n_ops && status == 0; i++) {
            if (kind[i] == VAR || is_const[i]) continue;
            if (kind[i] == MATMUL)
                status = sl_cauchy(&t, arg0[i], arg1[i], k, block(off, rows, cols, i, k), scratch, work, rough);
            else
                status = dd_op(kind[i], i, k, arg0, arg1, is_const, rows, cols, off, hi, lo, scalar_hi, scalar_lo);
        }
        if (status == 0) dd_next_order(k, n_vars, var_node, out_node, is_const, rows, cols, off, hi, lo, fac_hi, fac_lo);
    }
    free(scratch);
    return status;
}

/* sum_k c_k theta^k by Horner's rule in double-double; c_k at hi/lo + k size (k = 0..order).  Order by order over
 * all entries (each entry's operations in the same order as one entry at a time: the same bits), so that the
 * entries' independent chains overlap, vectorised (restrict, O3; in AVX-512 registers where the CPU has them:
 * elementwise operations and explicit fused multiply-adds, the same bits). */
#define SL_HORNER_ARGS int order, ptrdiff_t size, const double *SL_RESTRICT hi, const double *SL_RESTRICT lo, \
                       double theta_hi, double theta_lo, double *SL_RESTRICT out_hi, double *SL_RESTRICT out_lo
#define SL_HORNER_BODY                                                                                        \
    const dd th = { theta_hi, theta_lo };                                                                     \
    for (ptrdiff_t e = 0; e < size; e++) {                                                                    \
        out_hi[e] = hi[(ptrdiff_t)order * size + e];                                                          \
        out_lo[e] = lo[(ptrdiff_t)order * size + e];                                                          \
    }                                                                                                         \
    for (int k = order - 1; k >= 0; k--) {                                                                    \
        const double *SL_RESTRICT ch = hi + (ptrdiff_t)k * size, *SL_RESTRICT cl = lo + (ptrdiff_t)k * size;   \
        for (ptrdiff_t e = 0; e < size; e++) {                                                                \
            const dd acc = { out_hi[e], out_lo[e] }, c = { ch[e], cl[e] };                                    \
            const dd v = dd_add(c, dd_mul(acc, th));                                                          \
            out_hi[e] = v.hi;                                                                                 \
            out_lo[e] = v.lo;                                                                                 \
        }                                                                                                     \
    }

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void dd_horner_plain(SL_HORNER_ARGS) { SL_HORNER_BODY }

#ifdef SL_AVX512
__attribute__((target("avx512f,fma"), optimize("O3")))
static void dd_horner512(SL_HORNER_ARGS) { SL_HORNER_BODY }
#endif

void curvsym_dd_horner(int order, ptrdiff_t size, const double *hi, const double *lo,
                       double theta_hi, double theta_lo, double *out_hi, double *out_lo)
{
#ifdef SL_AVX512
    if (sl_wide()) {
        dd_horner512(order, size, hi, lo, theta_hi, theta_lo, out_hi, out_lo);
        return;
    }
#endif
    dd_horner_plain(order, size, hi, lo, theta_hi, theta_lo, out_hi, out_lo);
}

/* ---------------------------------------------------------------- triple-double products (curvsym.kernels.multiword.array)
 * td_add and td_mul are the NumPy routines _td_add / _td_mul operation for operation, and the n products of a
 * dot product are summed pairwise in the same order (halves h = n/2, an odd last term carried), so the results
 * are bitwise those of mwarray._td_matmul_small. */
typedef struct { double x0, x1, x2; } td;

static inline td td_add(td a, td b) {
    dd s0 = two_sum(a.x0, b.x0), s1 = two_sum(a.x1, b.x1);
    dd u = two_sum(s1.hi, s0.lo);
    double s2 = (a.x2 + b.x2) + (s1.lo + u.lo);
    dd v = two_sum(u.hi, s2);
    dd w = two_sum(s0.hi, v.hi);
    dd z = two_sum(w.lo, v.lo);
    td r = { w.hi, z.hi, z.lo };
    return r;
}

static inline td td_mul(td a, td b) {
    dd p0 = two_prod(a.x0, b.x0), p1 = two_prod(a.x0, b.x1), p2 = two_prod(a.x1, b.x0);
    double t = (a.x0 * b.x2 + a.x1 * b.x1 + a.x2 * b.x0) + (p1.lo + p2.lo);
    dd s1 = two_sum(p1.hi, p2.hi);
    dd s1b = two_sum(s1.hi, p0.lo);
    double s2 = t + (s1.lo + s1b.lo);
    dd v = two_sum(s1b.hi, s2);
    dd w = two_sum(p0.hi, v.hi);
    dd z = two_sum(w.lo, v.lo);
    td r = { w.hi, z.hi, z.lo };
    return r;
}

#define TD_MAX_INNER 64

/* sum of P[0..n-1] in halves (h = n/2, an odd last term carried), in place: the order of mwarray's reduction */
static inline td td_pairwise_sum(td *P, int n) {
    int len = n;
    while (len > 1) {
        const int h = len / 2;
        for (int k = 0; k < h; k++) P[k] = td_add(P[k], P[h + k]);
        if (len % 2) P[h] = P[2 * h];
        len = h + len % 2;
    }
    td zero = { 0.0, 0.0, 0.0 };
    return n > 0 ? P[0] : zero;
}

/* C[q] = A[q] B[q] for q < batch; A: (m, n), B: (n, p), C: (m, p), three words each, contiguous; n <= 64.
 * batch_a = 0 (batch_b = 0): one A (B) for every q; trans_a = 1 (trans_b = 1): A (B) is stored transposed,
 * as the contiguous (n, m) ((p, n)) array. */
int curvsym_td_matmul(ptrdiff_t batch, int m, int n, int p, int batch_a, int batch_b, int trans_a, int trans_b,
                      const double *a0, const double *a1, const double *a2,
                      const double *b0, const double *b1, const double *b2,
                      double *c0, double *c1, double *c2)
{
    if (n > TD_MAX_INNER) return -1;
    td P[TD_MAX_INNER];
    const ptrdiff_t ra = trans_a ? 1 : n, ka = trans_a ? m : 1, kb = trans_b ? 1 : p, cb = trans_b ? n : 1;
    for (ptrdiff_t q = 0; q < batch; q++) {
        const ptrdiff_t oa = q * m * n * batch_a, ob = q * n * p * batch_b, oc = q * m * p;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < p; j++) {
                for (int k = 0; k < n; k++) {
                    const ptrdiff_t ia = oa + i * ra + k * ka, ib = ob + k * kb + j * cb;
                    td x = { a0[ia], a1[ia], a2[ia] }, y = { b0[ib], b1[ib], b2[ib] };
                    P[k] = td_mul(x, y);
                }
                const ptrdiff_t ic = oc + (ptrdiff_t)i * p + j;
                const td r = td_pairwise_sum(P, n);
                c0[ic] = r.x0; c1[ic] = r.x1; c2[ic] = r.x2;
            }
    }
    return 0;
}

/* elementwise triple-double sum (op = 0) or product (op = 1) of n contiguous entries: bitwise mwarray._td_add /
 * mwarray._td_mul.  An operand of na < n entries is read at (i / da) % na: da = 1 when its shape is a trailing
 * part of the result's (it repeats), da = the size of the trailing axes when its shape is the result's leading
 * axes followed by ones (one value per leading index, as a (k, 1, 1) factor against (k, m, n)). */
void curvsym_td_elementwise(int op, ptrdiff_t n, ptrdiff_t na, ptrdiff_t nb, ptrdiff_t da, ptrdiff_t db,
                            const double *a0, const double *a1, const double *a2,
                            const double *b0, const double *b1, const double *b2,
                            double *c0, double *c1, double *c2)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const ptrdiff_t ia = na == n ? i : (i / da) % na, ib = nb == n ? i : (i / db) % nb;
        td x = { a0[ia], a1[ia], a2[ia] }, y = { b0[ib], b1[ib], b2[ib] };
        td r = op ? td_mul(x, y) : td_add(x, y);
        c0[i] = r.x0; c1[i] = r.x1; c2[i] = r.x2;
    }
}

/* Refined solve K X = B in triple-double (mwlinalg.solve_refined, one batch member at a time): X from the
 * float64 inverse Kinv, then X += Kinv fl(B − K X) until max|dX| <= tol max|X_0| (K X by the pairwise td products
 * above, the residual in triple-double, its float64 value R_0 + (R_1 + R_2)).  K: (n, n), B, X: (n, r), Kinv:
 * (n, n) float64, all contiguous per member; n <= 64.  Returns 0 (converged), 1 (no convergence in max_iter
 * corrections), 2 (a non-finite correction) or 3 (n > 64 or n r > 64²: not handled here). */
int curvsym_td_solve_refined(ptrdiff_t batch, int n, int r, const double *k0, const double *k1, const double *k2,
                             const double *b0, const double *b1, const double *b2, const double *kinv,
                             double *x0, double *x1, double *x2, int max_iter, double tol)
{
    if (n > TD_MAX_INNER || (ptrdiff_t)n * r > TD_MAX_INNER * TD_MAX_INNER) return 3;  /* sizes it does not take */
    td P[TD_MAX_INNER];
    double res[TD_MAX_INNER * TD_MAX_INNER];
    int status = 0;
    for (ptrdiff_t q = 0; q < batch; q++) {
        const ptrdiff_t ok = q * n * n, ob = q * n * r;
        const double *Ki = kinv + ok;
        for (int i = 0; i < n; i++)  /* X = Kinv fl(B) */
            for (int c = 0; c < r; c++) {
                double s = 0.0;
                for (int k = 0; k < n; k++) {
                    const ptrdiff_t ib = ob + (ptrdiff_t)k * r + c;
                    s += Ki[i * n + k] * (b0[ib] + (b1[ib] + b2[ib]));
                }
                const ptrdiff_t ix = ob + (ptrdiff_t)i * r + c;
                x0[ix] = s; x1[ix] = 0.0; x2[ix] = 0.0;
            }
        int done = 0;
        for (int it = 0; it < max_iter && !done; it++) {
            for (int i = 0; i < n; i++)  /* res = fl(B − K X) */
                for (int c = 0; c < r; c++) {
                    for (int k = 0; k < n; k++) {
                        const ptrdiff_t ia = ok + (ptrdiff_t)i * n + k, ix = ob + (ptrdiff_t)k * r + c;
                        td a = { k0[ia], k1[ia], k2[ia] }, x = { x0[ix], x1[ix], x2[ix] };
                        P[k] = td_mul(a, x);
                    }
                    const td kx = td_pairwise_sum(P, n);
                    const ptrdiff_t ib = ob + (ptrdiff_t)i * r + c;
                    td b = { b0[ib], b1[ib], b2[ib] }, m = { -kx.x0, -kx.x1, -kx.x2 };
                    td d = td_add(b, m);
                    res[i * r + c] = d.x0 + (d.x1 + d.x2);
                }
            double step = 0.0, size = 0.0;
            for (int i = 0; i < n; i++)  /* X += Kinv res */
                for (int c = 0; c < r; c++) {
                    double s = 0.0;
                    for (int k = 0; k < n; k++) s += Ki[i * n + k] * res[k * r + c];
                    if (!(s - s == 0.0)) return 2;  /* inf or nan */
                    const ptrdiff_t ix = ob + (ptrdiff_t)i * r + c;
                    td x = { x0[ix], x1[ix], x2[ix] }, dx = { s, 0.0, 0.0 };
                    x = td_add(x, dx);
                    x0[ix] = x.x0; x1[ix] = x.x1; x2[ix] = x.x2;
                    if (s < 0 ? -s > step : s > step) step = s < 0 ? -s : s;
                    if ((x.x0 < 0 ? -x.x0 : x.x0) > size) size = x.x0 < 0 ? -x.x0 : x.x0;
                }
            done = step <= tol * (size > 1e-300 ? size : 1e-300);
        }
        if (!done) status = 1;
    }
    return status;
}

/* K = sum_e P_e (x) Q_e in triple-double (mwlinalg.operator_matrix): K[q][i k + a][j k + b] = sum_e P_e[q][i][j]
 * Q_e[q][a][b], the products by td_mul and the sum over e left to right by td_add, as the NumPy route does.
 * P: words (3, E, batch, m, m) contiguous, Q: (3, E, batch, k, k), K: (3, batch, m k, m k). */
void curvsym_td_kron_sum(ptrdiff_t batch, int E, int m, int k, const double *P, const double *Q, double *K)
{
    const ptrdiff_t sp = (ptrdiff_t)E * batch * m * m, sq = (ptrdiff_t)E * batch * k * k;
    const ptrdiff_t n = (ptrdiff_t)m * k, sk = batch * n * n;
    for (ptrdiff_t q = 0; q < batch; q++)
        for (int i = 0; i < m; i++)
            for (int a = 0; a < k; a++)
                for (int j = 0; j < m; j++)
                    for (int b = 0; b < k; b++) {
                        td acc = { 0.0, 0.0, 0.0 };
                        for (int e = 0; e < E; e++) {
                            const ptrdiff_t ip = ((ptrdiff_t)e * batch + q) * m * m + (ptrdiff_t)i * m + j;
                            const ptrdiff_t iq = ((ptrdiff_t)e * batch + q) * k * k + (ptrdiff_t)a * k + b;
                            td x = { P[ip], P[sp + ip], P[2 * sp + ip] }, y = { Q[iq], Q[sq + iq], Q[2 * sq + iq] };
                            td t = td_mul(x, y);
                            acc = e == 0 ? t : td_add(acc, t);
                        }
                        const ptrdiff_t o = q * n * n + ((ptrdiff_t)i * k + a) * n + (ptrdiff_t)j * k + b;
                        K[o] = acc.x0; K[sk + o] = acc.x1; K[2 * sk + o] = acc.x2;
                    }
}

/* ---------------------------------------------------------------- double-double GBS kernels (curvsym.kernels.multiword.array)
 * Entrywise sum (op = 0) and product (op = 1) are mwarray._dd_add / _dd_mul operation for operation (the "sloppy"
 * sum s + (e + a_1 + b_1); Dekker's TwoProd plus the cross terms), so the words agree bit for bit; operands of
 * na < n entries are read as in curvsym_td_elementwise. */
void curvsym_dd_elementwise(int op, ptrdiff_t n, ptrdiff_t na, ptrdiff_t nb, ptrdiff_t da, ptrdiff_t db,
                            const double *a0, const double *a1, const double *b0, const double *b1,
                            double *c0, double *c1)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const ptrdiff_t ia = na == n ? i : (i / da) % na, ib = nb == n ? i : (i / db) % nb;
        double hi, e, s;
        if (op) {
            dd p = two_prod(a0[ia], b0[ib]);
            s = p.hi;
            e = p.lo + (a0[ia] * b1[ib] + a1[ia] * b0[ib]);
        } else {
            dd t = two_sum(a0[ia], b0[ib]);
            s = t.hi;
            e = t.lo + (a1[ia] + b1[ib]);
        }
        hi = s + e;
        c0[i] = hi;
        c1[i] = e - (hi - s);
    }
}

/* C[q] = A[q] B[q] in double-double: every a_ik b_kj by DWTimesDW, summed left to right by AccurateDWPlusDW, so
 * |error| <= 8 n u^2 sum_k |a_ik||b_kj| (u = 2^-53).  Batch and transpose flags and the status as in
 * curvsym_td_matmul. */
int curvsym_dd_matmul(ptrdiff_t batch, int m, int n, int p, int batch_a, int batch_b, int trans_a, int trans_b,
                       const double *a0, const double *a1, const double *b0, const double *b1,
                       double *c0, double *c1)
{
    const ptrdiff_t ra = trans_a ? 1 : n, ka = trans_a ? m : 1, kb = trans_b ? 1 : p, cb = trans_b ? n : 1;
    for (ptrdiff_t q = 0; q < batch; q++) {
        const ptrdiff_t oa = q * m * n * batch_a, ob = q * n * p * batch_b, oc = q * m * p;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < p; j++) {
                dd acc = { 0.0, 0.0 };
                for (int k = 0; k < n; k++) {
                    const ptrdiff_t ia = oa + i * ra + k * ka, ib = ob + k * kb + j * cb;
                    dd x = { a0[ia], a1[ia] }, y = { b0[ib], b1[ib] };
                    acc = k == 0 ? dd_mul(x, y) : dd_add(acc, dd_mul(x, y));
                }
                c0[oc + (ptrdiff_t)i * p + j] = acc.hi;
                c1[oc + (ptrdiff_t)i * p + j] = acc.lo;
            }
    }
    return 0;  /* the status of curvsym_td_matmul: no size limit here */
}

/* ---------------------------------------------------------------------------------------------------------
 * Ozaki slices of the double-double Cauchy sums of curvsym.integrate.multiword_taylor (CompiledTape._dd_cauchy), in one
 * pass per operand: the NumPy route's operations in its order, so the words are the same bits.
 *
 * Row side: a[r, j, c] (row stride lda, the J blocks of n entries contiguous) balanced by fa[j] (a power of
 * two), cut into e slices on the row's grid: slice i = fl(fl(v + s_i) - s_i), s_i = 1.5 2^(Er[r] - (i+1) beta
 * + 52), v the remainder, written to L[r, i, j, c] of the (m, e+1, J, n) array L; L[r, e, j, c] = the last
 * remainder, plus fa[j] a1[r, j, c] when a1 is given (the cross term of the leading words' float part). */
void curvsym_dd_slice_rows(int m, int J, int n, ptrdiff_t lda, const double *a, const double *a1, ptrdiff_t lda1,
                           const double *fa, const int *Er, int beta, int e, double *L)
{
    const ptrdiff_t blk = (ptrdiff_t)J * n;
    for (int r = 0; r < m; r++) {
        double s[16];
        for (int i = 0; i < e && i < 16; i++) s[i] = ldexp(1.5, Er[r] - (i + 1) * beta + 52);
        double *out = L + (ptrdiff_t)r * (e + 1) * blk;
        for (int j = 0; j < J; j++)
            for (int c = 0; c < n; c++) {
                const ptrdiff_t at = (ptrdiff_t)j * n + c;
                double v = a[r * lda + at] * fa[j];
                for (int i = 0; i < e; i++) {
                    double q = v + s[i];
                    q = q - s[i];
                    out[i * blk + at] = q;
                    v = v - q;
                }
                if (a1) v = v + a1[r * lda1 + at] * fa[j];
                out[e * blk + at] = v;
            }
    }
}

/* Column side: b[j, t, c] (J contiguous (n, p) blocks) balanced by fb[j], R[e] = the balanced b, slice i on the
 * column's grid (Fc[c]) written to Bs[e-1-i] ((e, J, n, p)), the remainder after slice i to R[e-1-i]
 * ((e+1, J, n, p)), plus fb[j] b1[j, t, c] when b1 is given. */
void curvsym_dd_slice_cols(int J, int n, int p, const double *b, const double *b1, const double *fb,
                           const int *Fc, int beta, int e, double *R, double *Bs)
{
    const ptrdiff_t blk = (ptrdiff_t)J * n * p;
    double s[16 * 64];
    const int cols = p <= 64 ? p : 0;
    for (int c = 0; c < cols; c++)
        for (int i = 0; i < e && i < 16; i++) s[i * 64 + c] = ldexp(1.5, Fc[c] - (i + 1) * beta + 52);
    for (int j = 0; j < J; j++)
        for (int t = 0; t < n; t++)
            for (int c = 0; c < p; c++) {
                const ptrdiff_t at = ((ptrdiff_t)j * n + t) * p + c;
                double v = b[at] * fb[j];
                const double x1 = b1 ? b1[at] * fb[j] : 0.0;
                R[e * blk + at] = v;
                for (int i = 0; i < e; i++) {
                    const double si = cols ? s[i * 64 + c] : ldexp(1.5, Fc[c] - (i + 1) * beta + 52);
                    double q = v + si;
                    q = q - si;
                    Bs[(e - 1 - i) * blk + at] = q;
                    v = v - q;
                    R[(e - 1 - i) * blk + at] = b1 ? v + x1 : v;
                }
            }
}


/* ---------------------------------------------------------------------------------------------------------
 * The build's identity: the first 16 hex digits of the SHA-256 of this file, passed by setup.py as
 * CURVSYM_SOURCE_SHA256, so that curvsym refuses an install-time build of another version of this file (whose
 * prototypes may differ from its ctypes table); empty for the first-use build, whose cache key holds the hash. */
#ifndef CURVSYM_SOURCE_SHA256
#define CURVSYM_SOURCE_SHA256 ""
#endif
const char *curvsym_source_hash(void)
{
    return CURVSYM_SOURCE_SHA256;
}

/* 1 if this build uses hardware fused multiply-adds (then it runs only on a CPU that has them), else 0 */
int curvsym_build_fma(void)
{
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return 1;
#else
    return 0;
#endif
}

#ifdef CURVSYM_PYTHON_EXTENSION
static struct PyModuleDef curvsym_ddtaylor_module = {
    PyModuleDef_HEAD_INIT, "_ddtaylor", "The compiled multi-word kernels of curvsym (called through ctypes).", -1, NULL
};

PyMODINIT_FUNC PyInit__ddtaylor(void)
{
    return PyModule_Create(&curvsym_ddtaylor_module);
}
#endif
