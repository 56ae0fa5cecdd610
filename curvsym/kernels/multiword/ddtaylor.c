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

/* block k of node i (a constant node: block 0; NULL offset for its zero blocks is the caller's test) */
static inline ptrdiff_t block(const ptrdiff_t *off, const int *rows, const int *cols, int i, int k) {
    return off[i] + (ptrdiff_t)k * rows[i] * cols[i];
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
            const int m = rows[i], p = cols[i];
            const ptrdiff_t o = block(off, rows, cols, i, k);
            const int x = arg0[i], y = arg1[i];
            switch (kind[i]) {
            case ADD:
            case SUB: {
                const int live_x = !is_const[x] || k == 0, live_y = !is_const[y] || k == 0;
                const ptrdiff_t ox = block(off, rows, cols, x, is_const[x] ? 0 : k);
                const ptrdiff_t oy = block(off, rows, cols, y, is_const[y] ? 0 : k);
                for (ptrdiff_t e = 0; e < (ptrdiff_t)m * p; e++) {
                    dd u = { 0.0, 0.0 }, v = { 0.0, 0.0 };
                    if (live_x) u = load(hi, lo, ox + e);
                    if (live_y) v = load(hi, lo, oy + e);
                    if (kind[i] == SUB) { v.hi = -v.hi; v.lo = -v.lo; }
                    store(hi, lo, o + e, dd_add(u, v));
                }
                break;
            }
            case NEG:
            case SCALE: {
                const ptrdiff_t ox = block(off, rows, cols, x, k);
                const dd c = { scalar_hi[i], scalar_lo[i] };
                for (ptrdiff_t e = 0; e < (ptrdiff_t)m * p; e++) {
                    dd u = load(hi, lo, ox + e);
                    if (kind[i] == NEG) { u.hi = -u.hi; u.lo = -u.lo; }
                    else u = dd_mul(u, c);
                    store(hi, lo, o + e, u);
                }
                break;
            }
            case TRANSPOSE: {
                const ptrdiff_t ox = block(off, rows, cols, x, k);
                for (int r = 0; r < m; r++)
                    for (int c = 0; c < p; c++)
                        store(hi, lo, o + (ptrdiff_t)r * p + c, load(hi, lo, ox + (ptrdiff_t)c * m + r));
                break;
            }
            case MATMUL: {
                const int n = cols[x];
                const int j0 = is_const[y] ? k : 0, j1 = is_const[x] ? 0 : k;
                for (int r = 0; r < m; r++)
                    for (int c = 0; c < p; c++) {
                        dd acc = { 0.0, 0.0 };
                        for (int j = j0; j <= j1; j++) {
                            const ptrdiff_t oa = block(off, rows, cols, x, j) + (ptrdiff_t)r * n;
                            const ptrdiff_t ob = block(off, rows, cols, y, is_const[y] ? 0 : k - j) + c;
                            for (int t = 0; t < n; t++)
                                acc = dd_add(acc, dd_mul(load(hi, lo, oa + t), load(hi, lo, ob + (ptrdiff_t)t * p)));
                        }
                        store(hi, lo, o + (ptrdiff_t)r * p + c, acc);
                    }
                break;
            }
            default:
                return -1;  /* an op this kernel does not know */
            }
        }
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
    return 0;
}

/* sum_k c_k theta^k by Horner's rule in double-double; c_k at hi/lo + k size (k = 0..order). */
void curvsym_dd_horner(int order, ptrdiff_t size, const double *hi, const double *lo,
                       double theta_hi, double theta_lo, double *out_hi, double *out_lo)
{
    const dd th = { theta_hi, theta_lo };
    for (ptrdiff_t e = 0; e < size; e++) {
        dd acc = load(hi, lo, (ptrdiff_t)order * size + e);
        for (int k = order - 1; k >= 0; k--)
            acc = dd_add(load(hi, lo, (ptrdiff_t)k * size + e), dd_mul(acc, th));
        store(out_hi, out_lo, e, acc);
    }
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
