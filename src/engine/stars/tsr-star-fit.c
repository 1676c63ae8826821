/* tsr-star-fit.c — the per-star PSF fit: elliptical Moffat (or Gaussian) by Levenberg–Marquardt
 * on the pixels of a patch, vectorised model and normal equations. */
#include "tsr-stars.h"
#include <math.h>
#include <string.h>
#include <sep.h>
#include <glib/gi18n-lib.h>
#include "tsr-error.h"
#include "tsr-stats.h"
#include "tsr-stars-private.h"

/* ---------------------------------------------------------------------------------- */
/* PSF model and Levenberg–Marquardt                                                   */

/* Samples of one patch: base positions in full-resolution coordinates; each sample is the
 * mean of the model at nsub offsets from its base. jac holds the Jacobian of the last
 * pass column by column (NP columns of cap values) and res its residuals. */

void
tsr_star_samples_reset (Samples *s, int nsub, const double *sub)
{
  s->n = 0;
  s->nsub = nsub;
  memcpy (s->sub, sub, sizeof (double) * 2 * nsub);
}

void
tsr_star_samples_clear (Samples *s)
{
  g_free (s->x);
  g_free (s->y);
  g_free (s->v);
  g_free (s->jac);
  g_free (s->res);
  memset (s, 0, sizeof *s);
}

/* Four-lane single-precision vectors (GCC vector extensions; SSE2 on x86-64). */
typedef float v4sf __attribute__ ((vector_size (16)));
typedef int v4si __attribute__ ((vector_size (16)));
typedef double v2df __attribute__ ((vector_size (16)));

static inline v4sf
v4sf_load (const float *p)
{
  v4sf v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline v4sf
v4sf_splat (float a)
{
  return (v4sf) { a, a, a, a };
}

/* The bodies of the vector exp and log below, for four lanes (SSE2) and eight (AVX2): one
 * text, so the two forms do the same operations on every lane (the eight-wide model pass must
 * give the four-wide one's bits). */
#define TSR_VEXP_BODY(VF, VI, SPLAT)                                                                       \
  const VF round_magic = SPLAT (12582912.0f); /* 1.5 · 2^23: adding it rounds to an integer */           \
  const float ln2_head = 0.693115234375f, ln2_tail = 3.194618494528623e-05f;                              \
  VI under = x < -80.0f;                                                                                   \
  x = (VF) ((VI) x & ~under) + (VF) ((VI) SPLAT (-80.0f) & under);                                         \
  VF t = x * 1.4426950408889634f + round_magic;                                                            \
  VI n = (VI) t - (VI) round_magic;                                                                        \
  VF nf = t - round_magic;                                                                                 \
  VF r = (x - nf * ln2_head) - nf * ln2_tail;                                                              \
  /* Horner form of 1 + r + r²/2! + … + r⁷/7! */                                                           \
  VF y = SPLAT (1.0f / 5040.0f);                                                                           \
  y = y * r + 1.0f / 720.0f;                                                                               \
  y = y * r + 1.0f / 120.0f;                                                                               \
  y = y * r + 1.0f / 24.0f;                                                                                \
  y = y * r + 1.0f / 6.0f;                                                                                 \
  y = y * r + 0.5f;                                                                                        \
  y = y * r + 1.0f;                                                                                        \
  y = y * r + 1.0f;                                                                                        \
  VI e = (n + 127) << 23;                                                                                  \
  return (VF) ((VI) (y * (VF) e) & ~under);

#define TSR_VLOG_BODY(VF, VI, SPLAT)                                                                       \
  const float ln2 = 0.6931471805599453f;                                                                   \
  VI xi = (VI) x;                                                                                          \
  VI k = ((xi >> 23) & 0xff) - 127;                                                                        \
  VF m = (VF) ((xi & 0x007fffff) | 0x3f800000); /* [1, 2) */                                               \
  VI big = m > 1.4142135623730951f;                                                                        \
  m = m * (VF) (((VI) SPLAT (0.5f) & big) | ((VI) SPLAT (1.0f) & ~big));                                   \
  k = k - big; /* k + 1 where halved (big = −1) */                                                         \
  VF s = (m - 1.0f) / (m + 1.0f);                                                                          \
  VF s2 = s * s;                                                                                           \
  VF y = SPLAT (1.0f / 9.0f);                                                                              \
  y = y * s2 + 1.0f / 7.0f;                                                                                \
  y = y * s2 + 1.0f / 5.0f;                                                                                \
  y = y * s2 + 1.0f / 3.0f;                                                                                \
  y = y * s2 + 1.0f;                                                                                       \
  return 2.0f * s * y + __builtin_convertvector (k, VF) * ln2;

/* e^x for x ≤ 0, four lanes: x = n·ln 2 + r with n = round (x / ln 2), |r| ≤ ln 2 / 2
 * (ln 2 split into a 12-bit head, exact in n·head for |n| < 2^12, and its remainder), e^r
 * from its Taylor series to r^7/7! (truncation ≤ 5·10⁻⁹ relative), 2^n put into the
 * exponent bits. Below −80 the result is 0 (e^−80 is 10⁻³⁵ of the peak). */
static inline v4sf
v4sf_exp (v4sf x)
{
  TSR_VEXP_BODY (v4sf, v4si, v4sf_splat)
}

/* ln x for finite x ≥ 1, four lanes: x = 2^k · m with m in [√½, √2), ln m = 2 atanh s with
 * s = (m − 1)/(m + 1), |s| ≤ 0.172, from its series to s⁹/9 (truncation ≤ 4·10⁻¹⁰). */
static inline v4sf
v4sf_log (v4sf x)
{
  TSR_VLOG_BODY (v4sf, v4si, v4sf_splat)
}

/* One model pass over the samples, four at a time; gauss, jac and one (a single
 * sub-sample) are constants in each specialisation below. Coordinates are taken relative
 * to the integer part of the centre (exact in single precision), so dx and dy carry one
 * rounding. The Jacobian columns and residuals are stored in single precision, with zeros
 * in the lanes past the last sample. */
/* What every group of a model pass reads: the model at p in single precision, relative to
 * the integer part of the centre. */
typedef struct
{
  double xi, yi;
  float xf, yf, amp, bg, axx, axy, ayy, beta, inv_sub;
  int nsub;
  float subx[4], suby[4];
} PassModel;

static inline __attribute__ ((always_inline)) void
pass_model_init (PassModel *c, const Samples *s, const double *p, const gboolean one)
{
  c->xi = floor (p[P_X]);
  c->yi = floor (p[P_Y]);
  c->xf = (float) (p[P_X] - c->xi);
  c->yf = (float) (p[P_Y] - c->yi);
  c->amp = (float) p[P_AMP];
  c->bg = (float) p[P_BG];
  c->axx = (float) p[P_AXX];
  c->axy = (float) p[P_AXY];
  c->ayy = (float) p[P_AYY];
  c->beta = (float) p[P_BETA];
  c->inv_sub = 1.0f / s->nsub;
  c->nsub = one ? 1 : s->nsub;
  for (int k = 0; k < c->nsub; k++)
    {
      c->subx[k] = (float) (s->sub[2 * k] - c->xi);
      c->suby[k] = (float) (s->sub[2 * k + 1] - c->yi);
    }
}

/* pad the last vector with copies of the first sample (masked out in the passes) */
static inline void
pass_pad (Samples *s)
{
  const guint n4 = (s->n + 3) & ~3u;
  for (guint i = s->n; i < n4; i++)
    {
      s->x[i] = s->x[0];
      s->y[i] = s->y[0];
      s->v[i] = s->v[0];
    }
}

/* One group's model sums over its sub-samples (m, the Jacobian columns g0 … g6) and then its
 * residuals r with the sums scaled per sub-sample, for vectors of type VF with the exp and log
 * of that width: one text for the four- and the eight-wide passes. Reads X, Y, xf, yf, the
 * PassModel c, gauss, jac, one; writes m, g0 … g6, r. */
#define TSR_MODEL_SUMS(VF, EXPF, LOGF, V)                                                                  \
  for (int k = 0; k < c->nsub; k++)                                                                        \
    {                                                                                                      \
      VF dx = (X + c->subx[k]) - xf; /* X + subx exact: small integers */                                  \
      VF dy = (Y + c->suby[k]) - yf;                                                                       \
      VF ax = c->axx * dx + c->axy * dy, ay = c->axy * dx + c->ayy * dy;                                   \
      VF q = dx * ax + dy * ay;                                                                            \
      VF f, dfdq, lu = { 0 };                                                                              \
      if (gauss)                                                                                           \
        {                                                                                                  \
          f = EXPF (-q);                                                                                   \
          dfdq = -f;                                                                                       \
        }                                                                                                  \
      else                                                                                                 \
        {                                                                                                  \
          VF u = 1.0f + q;                                                                                 \
          lu = LOGF (u);                                                                                   \
          f = EXPF (-c->beta * lu);                                                                        \
          dfdq = -c->beta * f / u;                                                                         \
        }                                                                                                  \
      m += f;                                                                                              \
      if (jac)                                                                                             \
        {                                                                                                  \
          VF a = c->amp * dfdq;                                                                            \
          VF adx = a * dx;                                                                                 \
          g0 += f;                                                                                         \
          g1 -= (a + a) * ax;                                                                              \
          g2 -= (a + a) * ay;                                                                              \
          g3 += adx * dx;                                                                                  \
          g4 += (adx + adx) * dy;                                                                          \
          g5 += a * dy * dy;                                                                               \
          if (!gauss)                                                                                      \
            g6 -= c->amp * f * lu;                                                                         \
        }                                                                                                  \
    }                                                                                                      \
  r = (V) - (c->amp * (one ? m : m * c->inv_sub) + c->bg);                                                 \
  if (!one)                                                                                                \
    {                                                                                                      \
      g0 *= c->inv_sub;                                                                                    \
      g1 *= c->inv_sub;                                                                                    \
      g2 *= c->inv_sub;                                                                                    \
      g3 *= c->inv_sub;                                                                                    \
      g4 *= c->inv_sub;                                                                                    \
      g5 *= c->inv_sub;                                                                                    \
      g6 *= c->inv_sub;                                                                                    \
    }

/* the group's Jacobian columns (the last one ONE) and residuals into s at sample i */
#define TSR_MODEL_STORE(ONE)                                                                               \
  {                                                                                                        \
    float *col = s->jac + i;                                                                               \
    memcpy (col, &g0, sizeof g0);                                                                          \
    memcpy (col + (gsize) s->cap, &g1, sizeof g1);                                                         \
    memcpy (col + (gsize) 2 * s->cap, &g2, sizeof g2);                                                     \
    memcpy (col + (gsize) 3 * s->cap, &g3, sizeof g3);                                                     \
    memcpy (col + (gsize) 4 * s->cap, &g4, sizeof g4);                                                     \
    memcpy (col + (gsize) 5 * s->cap, &g5, sizeof g5);                                                     \
    memcpy (col + (gsize) 6 * s->cap, &g6, sizeof g6);                                                     \
    memcpy (col + (gsize) 7 * s->cap, &(ONE), sizeof (ONE));                                               \
    memcpy (s->res + i, &r, sizeof r);                                                                     \
  }

/* One group of four samples (i … i + 3) of the model pass: the model, its residuals and
 * Jacobian (stored), χ² added to the two lane pairs. Returns TRUE (the partial χ² in *part)
 * when χ² has passed limit after the group that starts at 60 mod 64. */
static inline __attribute__ ((always_inline)) gboolean
pass_group4 (Samples *s, const PassModel *c, guint i, const gboolean gauss, const gboolean jac, const gboolean one,
             double limit, v2df *acc_lo, v2df *acc_hi, v4sf *one_col, double *part)
{
  const guint n = s->n;
  const v4sf xf = v4sf_splat (c->xf), yf = v4sf_splat (c->yf);
  const v4sf X = v4sf_load (s->x + i), Y = v4sf_load (s->y + i);
  v4sf m = { 0 }, g0 = { 0 }, g1 = { 0 }, g2 = { 0 }, g3 = { 0 }, g4 = { 0 }, g5 = { 0 }, g6 = { 0 }, r;
  TSR_MODEL_SUMS (v4sf, v4sf_exp, v4sf_log, v4sf_load (s->v + i))
  if (i + 4 > n)
    {
      /* lanes past the last sample: zero residual and Jacobian */
      v4si keep = (v4si) { 0 < n - i, 1 < n - i, 2 < n - i, 3 < n - i } * -1;
      r = (v4sf) ((v4si) r & keep);
      g0 = (v4sf) ((v4si) g0 & keep);
      g1 = (v4sf) ((v4si) g1 & keep);
      g2 = (v4sf) ((v4si) g2 & keep);
      g3 = (v4sf) ((v4si) g3 & keep);
      g4 = (v4sf) ((v4si) g4 & keep);
      g5 = (v4sf) ((v4si) g5 & keep);
      g6 = (v4sf) ((v4si) g6 & keep);
      *one_col = (v4sf) ((v4si) v4sf_splat (1.0f) & keep);
    }
  /* χ² in double: lanes 0, 1 and 2, 3 in two pairs */
  v2df rlo = { (double) r[0], (double) r[1] }, rhi = { (double) r[2], (double) r[3] };
  *acc_lo += rlo * rlo;
  *acc_hi += rhi * rhi;
  /* The lane sums only grow (and rounding is monotonic), so once their total passes
   * limit the full χ² does too: stop, the caller rejects this model anyway. */
  if ((i & 63) == 60)
    {
      *part = ((*acc_lo)[0] + (*acc_lo)[1]) + ((*acc_hi)[0] + (*acc_hi)[1]);
      if (*part > limit)
        return TRUE;
    }
  if (jac)
    TSR_MODEL_STORE (*one_col)
  return FALSE;
}

static inline __attribute__ ((always_inline)) double
model_pass_impl (Samples *s, const double *p, const gboolean gauss, const gboolean jac,
                 const gboolean one, double limit)
{
  PassModel c;
  pass_model_init (&c, s, p, one);
  pass_pad (s);
  const guint n4 = (s->n + 3) & ~3u;
  v2df acc_lo = { 0 }, acc_hi = { 0 };
  v4sf one_col = v4sf_splat (1.0f);
  double part;
  for (guint i = 0; i < n4; i += 4)
    if (pass_group4 (s, &c, i, gauss, jac, one, limit, &acc_lo, &acc_hi, &one_col, &part))
      return part;
  return (acc_lo[0] + acc_lo[1]) + (acc_hi[0] + acc_hi[1]);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TSR_FIT_AVX2 1
#endif

#ifdef TSR_FIT_AVX2
/* The model pass eight samples a step (AVX2, picked at run time): every lane does the
 * operations of v4sf_exp, v4sf_log and model_pass_impl on its sample in the same order, and
 * the χ² takes the eight residuals as two groups of four in order, so the results — the
 * residuals, the Jacobian, χ² and where the pass stops early — are those of the four-wide
 * pass to the bit (/stars/fit-avx2 compares the two). The four-wide pass does a trailing
 * group of four. ~10 % of a generated session's run was this pass (session 40). */
#define TSR_AVX2_FN __attribute__ ((target ("avx2")))
typedef float v8sf __attribute__ ((vector_size (32)));
typedef int v8si __attribute__ ((vector_size (32)));

static inline TSR_AVX2_FN __attribute__ ((always_inline)) v8sf
v8sf_splat (float a)
{
  return (v8sf) { a, a, a, a, a, a, a, a };
}

static inline TSR_AVX2_FN __attribute__ ((always_inline)) v8sf
v8sf_exp (v8sf x)
{
  TSR_VEXP_BODY (v8sf, v8si, v8sf_splat)
}

static inline TSR_AVX2_FN __attribute__ ((always_inline)) v8sf
v8sf_log (v8sf x)
{
  TSR_VLOG_BODY (v8sf, v8si, v8sf_splat)
}

static inline TSR_AVX2_FN __attribute__ ((always_inline)) double
model_pass_impl8 (Samples *s, const double *p, const gboolean gauss, const gboolean jac, const gboolean one,
                  double limit)
{
  PassModel pm;
  pass_model_init (&pm, s, p, one);
  pass_pad (s);
  const PassModel *c = &pm;
  const v8sf xf = v8sf_splat (c->xf), yf = v8sf_splat (c->yf);
  const guint n = s->n;
  const guint n4 = (n + 3) & ~3u, n8 = n4 & ~7u;
  v2df acc_lo = { 0 }, acc_hi = { 0 };
  v8sf one_col = v8sf_splat (1.0f);

  guint i = 0;
  for (; i < n8; i += 8)
    {
      v8sf X, Y, V;
      memcpy (&X, s->x + i, sizeof X);
      memcpy (&Y, s->y + i, sizeof Y);
      memcpy (&V, s->v + i, sizeof V);
      v8sf m = { 0 }, g0 = { 0 }, g1 = { 0 }, g2 = { 0 }, g3 = { 0 }, g4 = { 0 }, g5 = { 0 }, g6 = { 0 }, r;
      TSR_MODEL_SUMS (v8sf, v8sf_exp, v8sf_log, V)
      if (i + 8 > n)
        {
          /* lanes past the last sample (in the upper four only: n4 ≥ i + 8 puts n past i + 4) */
          v8si keep = (v8si) { 1, 1, 1, 1, i + 4 < n, i + 5 < n, i + 6 < n, i + 7 < n } * -1;
          r = (v8sf) ((v8si) r & keep);
          g0 = (v8sf) ((v8si) g0 & keep);
          g1 = (v8sf) ((v8si) g1 & keep);
          g2 = (v8sf) ((v8si) g2 & keep);
          g3 = (v8sf) ((v8si) g3 & keep);
          g4 = (v8sf) ((v8si) g4 & keep);
          g5 = (v8sf) ((v8si) g5 & keep);
          g6 = (v8sf) ((v8si) g6 & keep);
          one_col = (v8sf) ((v8si) v8sf_splat (1.0f) & keep);
        }
      /* χ² as the four-wide pass adds it: lanes 0–3 (samples i …), then 4–7 (i + 4 …), the
       * early stop after the group of four that starts at 60 mod 64 */
      v2df r0 = { (double) r[0], (double) r[1] }, r1 = { (double) r[2], (double) r[3] };
      acc_lo += r0 * r0;
      acc_hi += r1 * r1;
      v2df r2 = { (double) r[4], (double) r[5] }, r3 = { (double) r[6], (double) r[7] };
      acc_lo += r2 * r2;
      acc_hi += r3 * r3;
      if ((i & 63) == 56)
        {
          double part = (acc_lo[0] + acc_lo[1]) + (acc_hi[0] + acc_hi[1]);
          if (part > limit)
            return part;
        }
      if (jac)
        TSR_MODEL_STORE (one_col)
    }
  if (i < n4)
    {
      /* the last group of four, as the four-wide pass does it */
      v4sf one4 = v4sf_splat (1.0f);
      double part;
      if (pass_group4 (s, c, i, gauss, jac, one, limit, &acc_lo, &acc_hi, &one4, &part))
        return part;
    }
  return (acc_lo[0] + acc_lo[1]) + (acc_hi[0] + acc_hi[1]);
}

static TSR_AVX2_FN double
model_pass8 (Samples *s, const double *p, gboolean gauss, gboolean jac, double limit)
{
  if (s->nsub == 1)
    {
      if (gauss)
        return jac ? model_pass_impl8 (s, p, TRUE, TRUE, TRUE, limit)
                   : model_pass_impl8 (s, p, TRUE, FALSE, TRUE, limit);
      return jac ? model_pass_impl8 (s, p, FALSE, TRUE, TRUE, limit)
                 : model_pass_impl8 (s, p, FALSE, FALSE, TRUE, limit);
    }
  if (gauss)
    return jac ? model_pass_impl8 (s, p, TRUE, TRUE, FALSE, limit)
               : model_pass_impl8 (s, p, TRUE, FALSE, FALSE, limit);
  return jac ? model_pass_impl8 (s, p, FALSE, TRUE, FALSE, limit)
             : model_pass_impl8 (s, p, FALSE, FALSE, FALSE, limit);
}

static int fit_avx2 = -1;   /* -1: not yet decided */

void
tsr_star_fit_vector8 (gboolean on)
{
  __builtin_cpu_init ();
  fit_avx2 = on && __builtin_cpu_supports ("avx2");
}
#else
void
tsr_star_fit_vector8 (gboolean on)
{
  (void) on;
}
#endif

/* χ² of the model at p; with jac, also the Jacobian and residuals into s->jac, s->res.
 * Once the partial χ² exceeds limit, returns it (> limit) with the Jacobian and residuals
 * incomplete. */
static double
model_pass (Samples *s, const double *p, gboolean gauss, gboolean jac, double limit)
{
#ifdef TSR_FIT_AVX2
  if (G_UNLIKELY (g_atomic_int_get (&fit_avx2) < 0))
    {
      __builtin_cpu_init ();
      g_atomic_int_set (&fit_avx2, __builtin_cpu_supports ("avx2") && !g_getenv ("TSR_STARS_NO_AVX2"));
    }
  if (g_atomic_int_get (&fit_avx2))
    return model_pass8 (s, p, gauss, jac, limit);
#endif
  if (s->nsub == 1)
    {
      if (gauss)
        return jac ? model_pass_impl (s, p, TRUE, TRUE, TRUE, limit)
                   : model_pass_impl (s, p, TRUE, FALSE, TRUE, limit);
      return jac ? model_pass_impl (s, p, FALSE, TRUE, TRUE, limit)
                 : model_pass_impl (s, p, FALSE, FALSE, TRUE, limit);
    }
  if (gauss)
    return jac ? model_pass_impl (s, p, TRUE, TRUE, FALSE, limit)
               : model_pass_impl (s, p, TRUE, FALSE, FALSE, limit);
  return jac ? model_pass_impl (s, p, FALSE, TRUE, FALSE, limit)
             : model_pass_impl (s, p, FALSE, FALSE, FALSE, limit);
}

static inline void
ne_store (double *jtj, double *jtr, int a, int b, v2df lo, v2df hi)
{
  double v = (lo[0] + lo[1]) + (hi[0] + hi[1]);
  if (b == NP)
    jtr[a] = v;
  else
    {
      /* two plain stores: for a == b the chained `x = y = v` stores twice to one object
       * without a sequence point (undefined in C11; GCC 12 at -O3 then kept the caller's
       * zero initialisation and every fit stayed at its start) */
      jtj[a * NP + b] = v;
      jtj[b * NP + a] = v;
    }
}

/* Normal equations JᵀJ (full NP×NP) and Jᵀr from the stored single-precision Jacobian
 * columns: four-lane products summed in single precision over blocks of 64 samples, the
 * blocks in double precision. The lanes past the last sample hold zeros. */
static void
normal_equations (const Samples *s, double *jtj, double *jtr)
{
  const guint n4 = (s->n + 3) & ~3u, cap = s->cap;
  const guint blk = 64;
  for (int a = 0; a < NP; a++)
    {
      const float *ca = s->jac + (gsize) a * cap;
      /* columns b and b + 1 together (b == NP: the residuals, for Jᵀr) */
      for (int b = a; b <= NP; b += 2)
        {
          const gboolean pair = b + 1 <= NP;
          const float *cb = b < NP ? s->jac + (gsize) b * cap : s->res;
          const float *cc = !pair ? cb : b + 1 < NP ? s->jac + (gsize) (b + 1) * cap : s->res;
          v2df tb_lo = { 0 }, tb_hi = { 0 }, tc_lo = { 0 }, tc_hi = { 0 };
          for (guint i0 = 0; i0 < n4; i0 += blk)
            {
              guint i1 = MIN (n4, i0 + blk);
              v4sf accb = { 0 }, accc = { 0 };
              for (guint i = i0; i < i1; i += 4)
                {
                  v4sf va = v4sf_load (ca + i);
                  accb += va * v4sf_load (cb + i);
                  if (pair)
                    accc += va * v4sf_load (cc + i);
                }
              tb_lo += (v2df) { accb[0], accb[1] };
              tb_hi += (v2df) { accb[2], accb[3] };
              tc_lo += (v2df) { accc[0], accc[1] };
              tc_hi += (v2df) { accc[2], accc[3] };
            }
          ne_store (jtj, jtr, a, b, tb_lo, tb_hi);
          if (pair)
            ne_store (jtj, jtr, a, b + 1, tc_lo, tc_hi);
        }
    }
}

/* Solve A x = b (A symmetric positive definite, n×n, destroyed). */
static gboolean
cholesky_solve (double *A, double *b, int n)
{
  for (int j = 0; j < n; j++)
    {
      double d = A[j * n + j];
      for (int k = 0; k < j; k++)
        d -= A[j * n + k] * A[j * n + k];
      if (!(d > 0))
        return FALSE;
      d = sqrt (d);
      A[j * n + j] = d;
      for (int i = j + 1; i < n; i++)
        {
          double s = A[i * n + j];
          for (int k = 0; k < j; k++)
            s -= A[i * n + k] * A[j * n + k];
          A[i * n + j] = s / d;
        }
    }
  for (int i = 0; i < n; i++)
    {
      double s = b[i];
      for (int k = 0; k < i; k++)
        s -= A[i * n + k] * b[k];
      b[i] = s / A[i * n + i];
    }
  for (int i = n - 1; i >= 0; i--)
    {
      double s = b[i];
      for (int k = i + 1; k < n; k++)
        s -= A[k * n + i] * b[k];
      b[i] = s / A[i * n + i];
    }
  return TRUE;
}

static gboolean
params_valid (const double *p)
{
  for (int k = 0; k < NP; k++)
    if (!isfinite (p[k]))
      return FALSE;
  return p[P_AMP] > 0 && p[P_AXX] > 0 && p[P_AYY] > 0
         && p[P_AXX] * p[P_AYY] - p[P_AXY] * p[P_AXY] > 1e-12 * p[P_AXX] * p[P_AYY];
}

/* Levenberg–Marquardt on p (in/out). Returns FALSE when no valid model was reached. */
gboolean
tsr_star_lm_fit (Samples *s, double *p, gboolean gauss, double *chi2_out)
{
  double jtj[NP * NP] = { 0 }, jtr[NP] = { 0 }, A[NP * NP], d[NP], t[NP];

  if (!params_valid (p) || s->n <= NP)
    return FALSE;
  double chi2 = model_pass (s, p, gauss, TRUE, INFINITY);
  if (!isfinite (chi2))
    return FALSE;
  normal_equations (s, jtj, jtr);
  double lambda = 1e-3;

  for (int it = 0; it < FIT_MAX_ITER; it++)
    {
      memcpy (A, jtj, sizeof A);
      memcpy (d, jtr, sizeof d);
      for (int a = 0; a < NP; a++)
        {
          if (gauss && a == P_BETA)
            {
              for (int b = 0; b < NP; b++)
                {
                  A[a * NP + b] = 0;
                  A[b * NP + a] = 0;
                }
              A[a * NP + a] = 1;
              d[a] = 0;
              continue;
            }
          A[a * NP + a] = jtj[a * NP + a] * (1.0 + lambda) + 1e-30;
        }
      if (!cholesky_solve (A, d, NP))
        {
          lambda *= 10;
          if (lambda > 1e10)
            break;
          continue;
        }
      for (int a = 0; a < NP; a++)
        t[a] = p[a] + d[a];
      t[P_BETA] = CLAMP (t[P_BETA], BETA_MIN, BETA_MAX);
      /* The trial pass stores its Jacobian; the one of p is already reduced to jtj. It
       * stops early once χ² is sure to exceed the current one (a rejected step). */
      double tchi2 = params_valid (t) ? model_pass (s, t, gauss, TRUE, chi2) : INFINITY;
      if (isfinite (tchi2) && tchi2 <= chi2)
        {
          /* converged: χ² fell by less than 1 % of one sample's residual variance and
           * the centre moved by less than 0.001 px */
          gboolean converged = (chi2 - tchi2 < 0.01 * chi2 / s->n
                                && fabs (d[P_X]) + fabs (d[P_Y]) < 1e-3) || tchi2 == 0;
          memcpy (p, t, sizeof t);
          chi2 = tchi2;
          lambda = MAX (lambda * 0.1, 1e-9);
          if (converged)
            break;
          normal_equations (s, jtj, jtr);
        }
      else
        {
          lambda *= 10;
          if (lambda > 1e10)
            break;
        }
    }
  *chi2_out = chi2;
  return params_valid (p);
}

/* Moffat fit, and a Gaussian one when β runs to its upper bound: the better is kept. */
gboolean
tsr_star_fit_psf (Samples *s, double *p, gboolean *gauss_out, double *chi2_out)
{
  double pm[NP], chi2m = INFINITY;
  memcpy (pm, p, sizeof pm);
  gboolean ok = tsr_star_lm_fit (s, pm, FALSE, &chi2m);

  if (!ok || pm[P_BETA] >= BETA_MAX - 1e-6)
    {
      /* Same half-maximum ellipse as the start (or the Moffat result) for a Gaussian. */
      const double *src = ok ? pm : p;
      double k = log (2.0) / (pow (2.0, 1.0 / src[P_BETA]) - 1.0);
      double pg[NP], chi2g = INFINITY;
      memcpy (pg, src, sizeof pg);
      pg[P_AXX] *= k;
      pg[P_AXY] *= k;
      pg[P_AYY] *= k;
      if (tsr_star_lm_fit (s, pg, TRUE, &chi2g) && (!ok || chi2g < chi2m))
        {
          memcpy (p, pg, sizeof pg);
          *gauss_out = TRUE;
          *chi2_out = chi2g;
          return TRUE;
        }
    }
  if (!ok)
    return FALSE;
  memcpy (p, pm, sizeof pm);
  *gauss_out = FALSE;
  *chi2_out = chi2m;
  return TRUE;
}

/* Initial shape for a round profile of this FWHM. */
void
tsr_star_init_shape (double *p, double fwhm)
{
  fwhm = MAX (fwhm, 1.0);
  double lam = 4.0 * (pow (2.0, 1.0 / BETA_INIT) - 1.0) / (fwhm * fwhm);
  p[P_AXX] = lam;
  p[P_AXY] = 0;
  p[P_AYY] = lam;
  p[P_BETA] = BETA_INIT;
}

/* Fill the geometric fields of out from a fitted model. sigma is the noise of one sample
 * of the fitted grid and pix_area the full-resolution area one sample stands for. */
gboolean
tsr_star_from_fit_params (const double *p, gboolean gauss, double sigma, double pix_area, TsrStar *out)
{
  double axx = p[P_AXX], axy = p[P_AXY], ayy = p[P_AYY];
  double det = axx * ayy - axy * axy;
  if (!(det > 0) || !(p[P_AMP] > 0))
    return FALSE;
  double tr2 = 0.5 * (axx + ayy);
  double disc = sqrt (0.25 * (axx - ayy) * (axx - ayy) + axy * axy);
  double lmin = tr2 - disc, lmax = tr2 + disc;
  if (!(lmin > 0))
    return FALSE;
  double beta = p[P_BETA];
  double half = gauss ? log (2.0) : pow (2.0, 1.0 / beta) - 1.0;
  double sd = sqrt (det);

  out->x = p[P_X];
  out->y = p[P_Y];
  out->peak = p[P_AMP];
  out->fwhm_major = 2.0 * sqrt (half / lmin);
  out->fwhm_minor = 2.0 * sqrt (half / lmax);
  out->fwhm = sqrt (out->fwhm_major * out->fwhm_minor);
  out->roundness = out->fwhm_minor / out->fwhm_major;
  /* Eigenvector of the smallest eigenvalue: the major axis. */
  double th = 0.5 * atan2 (2 * axy, axx - ayy) + G_PI / 2;
  if (th > G_PI / 2)
    th -= G_PI;
  out->theta = th;

  double aeff;
  if (gauss)
    {
      out->flux = p[P_AMP] * G_PI / sd;
      aeff = 2.0 * G_PI / sd;
    }
  else
    {
      out->flux = p[P_AMP] * G_PI / ((beta - 1.0) * sd);
      aeff = G_PI * (2.0 * beta - 1.0) / ((beta - 1.0) * (beta - 1.0) * sd);
    }
  out->snr = sigma > 0 ? out->flux / (sigma * sqrt (aeff * pix_area)) : INFINITY;
  return isfinite (out->flux) && isfinite (out->fwhm);
}

gboolean
tsr_star_fit (const float *plane, const guint8 *mask, int width, int height,
              double x0, double y0, double radius, double background, TsrStar *out)
{
  g_return_val_if_fail (plane != NULL && out != NULL, FALSE);
  if (!(radius > 0) || !isfinite (x0) || !isfinite (y0))
    return FALSE;

  int ix0 = MAX (0, (int) floor (x0 - radius)), ix1 = MIN (width - 1, (int) ceil (x0 + radius));
  int iy0 = MAX (0, (int) floor (y0 - radius)), iy1 = MIN (height - 1, (int) ceil (y0 + radius));
  Samples s = { 0 };
  tsr_star_samples_reset (&s, 1, SUB_ONE);
  double r2 = radius * radius, vmax = -INFINITY;
  guint n_half = 0;

  for (int y = iy0; y <= iy1; y++)
    for (int x = ix0; x <= ix1; x++)
      {
        gsize i = (gsize) y * width + x;
        if ((mask && !mask[i]) || (x - x0) * (x - x0) + (y - y0) * (y - y0) > r2)
          continue;
        double v = plane[i] - background;
        tsr_star_samples_add (&s, x, y, v);
        if ((x - x0) * (x - x0) + (y - y0) * (y - y0) <= 2.25 && v > vmax)
          vmax = v;
      }
  gboolean ok = FALSE;
  if (s.n > NP + 2 && vmax > 0)
    {
      for (guint k = 0; k < s.n; k++)
        if (s.v[k] >= 0.5 * vmax)
          n_half++;
      double p[NP] = { 0 };
      p[P_AMP] = vmax;
      p[P_X] = x0;
      p[P_Y] = y0;
      p[P_BG] = 0;
      tsr_star_init_shape (p, 2.0 * sqrt (n_half / G_PI));
      gboolean gauss = FALSE;
      double chi2 = 0;
      if (tsr_star_fit_psf (&s, p, &gauss, &chi2))
        {
          double sigma = sqrt (chi2 / MAX (1.0, (double) s.n - NP));
          memset (out, 0, sizeof *out);
          ok = tsr_star_from_fit_params (p, gauss, sigma, 1.0, out);
          out->background = background + p[P_BG];
          out->saturated = FALSE;
          double dx = out->x - x0, dy = out->y - y0;
          if (dx * dx + dy * dy > r2)
            ok = FALSE;
        }
    }
  tsr_star_samples_clear (&s);
  return ok;
}
