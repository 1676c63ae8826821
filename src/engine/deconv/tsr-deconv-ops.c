/* tsr-deconv-ops.c — exact forward/adjoint convolution operators on latent tiles, by FFT. */
#include "tsr-deconv.h"
#include "tsr-warp.h"

#include <fftw3.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

/* the spectra's per-bin products: also compiled for AVX2 and picked at load time (x86-64 with
 * glibc); no FMA, so both clones round alike */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_SPEC_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_SPEC_CLONES
#define TSR_SPEC_CLONES
#endif

struct _TsrConvPlan
{
  int nw, nh, ncw;       /* FFT grid; ncw = nw / 2 + 1 */
  gsize nreal, ncomplex;
  int rf, r;
  fftwf_plan fwd, inv;
  /* The grids of the frame visits (r = 1): a tile's valid region occupies rows [row0, row0 +
   * nrows) = [rf, max_lh − rf) and columns [col0, col0 + ncols) = [rf, max_lw − rf) at most, and
   * the rest of the scatter grid is zero, so the transforms run as their row and column passes
   * with the first pass pruned to those (FFTW_ESTIMATE's 2-D plans are exactly such passes: the
   * same bits, ~5 % less time). The complex grid's rows are cst ≥ nw complex values apart: nw +
   * 8 when nw is a multiple of 64, whose column pass at a power-of-two stride ran up to 15×
   * slower (issue 12, 512² 10.1 → 0.67 ms), nw + 1 when nw is odd */
  int cst, row0, nrows, col0, ncols;
  /* the pair adjoint's complex forward FFT (two real grids at once): the grid's nonzero columns
   * in place, then each row out of place into a row buffer, where the split reads it */
  fftwf_plan ccols, crow;
  fftwf_plan icols, irows;   /* the forward's inverse: every column of the half spectrum, then the rows */
};

struct _TsrConvWork
{
  const TsrConvPlan *plan;
  float *real;
  fftwf_complex *spec, *spec2;   /* spec2: the second spectrum of the pair adjoint (on demand) */
  fftwf_complex *zrows;          /* two rows of the pair adjoint's spectrum (on demand) */
  guint64 n_fft;
  gboolean borrowed;   /* real and spec are the caller's (tsr_conv_work_new_with) */
};

/* Smallest n' ≥ n whose only prime factors are 2, 3, 5 and 7. */
static int
fast_size (int n)
{
  for (int m = MAX (n, 1);; m++)
    {
      int k = m;
      static const int primes[] = { 2, 3, 5, 7 };
      for (guint i = 0; i < G_N_ELEMENTS (primes); i++)
        while (k % primes[i] == 0)
          k /= primes[i];
      if (k == 1)
        return m;
    }
}

TsrConvPlan *
tsr_conv_plan_new (int max_lw, int max_lh, int rf, int r)
{
  g_return_val_if_fail (max_lw > 0 && max_lh > 0 && rf >= 0 && r >= 1, NULL);
  TsrConvPlan *p = g_new0 (TsrConvPlan, 1);
  p->nw = fast_size (max_lw);
  p->nh = fast_size (max_lh);
  p->ncw = p->nw / 2 + 1;
  p->nreal = (gsize) p->nw * p->nh;
  p->ncomplex = (gsize) p->ncw * p->nh;
  p->rf = rf;
  p->r = r;
  float *re = fftwf_alloc_real (p->nreal);
  fftwf_complex *co = fftwf_alloc_complex (p->ncomplex);
  tsr_fftw_lock ();
  p->fwd = fftwf_plan_dft_r2c_2d (p->nh, p->nw, re, co, FFTW_ESTIMATE);
  p->inv = fftwf_plan_dft_c2r_2d (p->nh, p->nw, co, re, FFTW_ESTIMATE);
  /* even, so that every row starts at the alignment FFTW planned for (16 bytes: the row
   * transforms of the pair adjoint run on each row in turn, and FFTW requires arrays of the
   * planned alignment) */
  p->cst = p->nw % 64 == 0 ? p->nw + 8 : p->nw + (p->nw & 1);
  p->row0 = MIN (rf, p->nh - 1);
  p->nrows = CLAMP (max_lh - 2 * rf, 1, p->nh - p->row0);
  p->col0 = MIN (rf, p->nw - 1);
  p->ncols = CLAMP (max_lw - 2 * rf, 1, p->nw - p->col0);
  {
    int n1[1] = { p->nh }, n2[1] = { p->nw };
    fftwf_complex *z = fftwf_alloc_complex ((gsize) p->cst * p->nh);
    fftwf_complex *zc = z + p->col0, *rb = fftwf_alloc_complex (p->cst);
    p->ccols = fftwf_plan_many_dft (1, n1, p->ncols, zc, NULL, p->cst, 1, zc, NULL, p->cst, 1, FFTW_FORWARD,
                                    FFTW_ESTIMATE);
    p->crow = fftwf_plan_many_dft (1, n2, 1, z, NULL, 1, p->cst, rb, NULL, 1, p->cst, FFTW_FORWARD, FFTW_ESTIMATE);
    fftwf_free (rb);
    p->icols = fftwf_plan_many_dft (1, n1, p->ncw, co, NULL, p->ncw, 1, co, NULL, p->ncw, 1, FFTW_BACKWARD,
                                    FFTW_ESTIMATE);
    p->irows = fftwf_plan_many_dft_c2r (1, n2, p->nrows, co + (gsize) p->row0 * p->ncw, NULL, 1, p->ncw,
                                        re + (gsize) p->row0 * p->nw, NULL, 1, p->nw, FFTW_ESTIMATE);
    fftwf_free (z);
  }
  tsr_fftw_unlock ();
  fftwf_free (re);
  fftwf_free (co);
  return p;
}

void
tsr_conv_plan_free (TsrConvPlan *p)
{
  if (!p)
    return;
  tsr_fftw_lock ();
  fftwf_destroy_plan (p->fwd);
  fftwf_destroy_plan (p->inv);
  fftwf_destroy_plan (p->ccols);
  fftwf_destroy_plan (p->crow);
  fftwf_destroy_plan (p->icols);
  fftwf_destroy_plan (p->irows);
  tsr_fftw_unlock ();
  g_free (p);
}

gsize
tsr_conv_plan_spectrum_len (const TsrConvPlan *p)
{
  return p->ncomplex;
}

void
tsr_conv_plan_size (const TsrConvPlan *p, int *nw, int *nh)
{
  if (nw)
    *nw = p->nw;
  if (nh)
    *nh = p->nh;
}

gsize
tsr_conv_work_bytes (const TsrConvPlan *p)
{
  return p->nreal * sizeof (float) + p->ncomplex * sizeof (fftwf_complex);
}

TsrConvWork *
tsr_conv_work_new (const TsrConvPlan *plan)
{
  TsrConvWork *w = g_new0 (TsrConvWork, 1);
  w->plan = plan;
  w->real = fftwf_alloc_real (plan->nreal);
  w->spec = fftwf_alloc_complex (plan->ncomplex);
  return w;
}

TsrConvWork *
tsr_conv_work_new_with (const TsrConvPlan *plan, float *real, float *spec)
{
  TsrConvWork *w = g_new0 (TsrConvWork, 1);
  w->plan = plan;
  w->real = real;
  w->spec = (fftwf_complex *) spec;
  w->borrowed = TRUE;
  return w;
}

void
tsr_conv_work_free (TsrConvWork *w)
{
  if (!w)
    return;
  if (!w->borrowed)
    {
      fftwf_free (w->real);
      fftwf_free (w->spec);
    }
  if (w->spec2)
    fftwf_free (w->spec2);
  if (w->zrows)
    fftwf_free (w->zrows);
  g_free (w);
}

guint64
tsr_conv_work_fft_count (const TsrConvWork *w)
{
  return w->n_fft;
}

float *
tsr_conv_spectrum_new (const TsrConvPlan *plan)
{
  fftwf_complex *s = fftwf_alloc_complex (plan->ncomplex);
  memset (s, 0, plan->ncomplex * sizeof (fftwf_complex));
  return (float *) s;
}

void
tsr_conv_spectrum_free (float *spec)
{
  if (spec)
    fftwf_free (spec);
}

void
tsr_conv_spectrum_zero (const TsrConvPlan *plan, float *spec)
{
  memset (spec, 0, plan->ncomplex * sizeof (fftwf_complex));
}

static void
r2c (TsrConvWork *w, fftwf_complex *out)
{
  fftwf_execute_dft_r2c (w->plan->fwd, w->real, out);
  w->n_fft++;
}

static void
c2r (TsrConvWork *w)
{
  fftwf_execute_dft_c2r (w->plan->inv, w->spec, w->real);
  w->n_fft++;
}

void
tsr_conv_kernel_spectrum (TsrConvWork *w, const TsrPsf *psf, float *spec)
{
  const TsrConvPlan *p = w->plan;
  g_return_if_fail (psf->radius <= p->rf);
  memset (w->real, 0, p->nreal * sizeof (float));
  /* centre sample at (0, 0), the rest wrapped around */
  for (int j = 0; j < psf->size; j++)
    for (int i = 0; i < psf->size; i++)
      {
        int x = i - psf->radius, y = j - psf->radius;
        x = (x % p->nw + p->nw) % p->nw;
        y = (y % p->nh + p->nh) % p->nh;
        w->real[(gsize) y * p->nw + x] += psf->data[(gsize) j * psf->size + i];
      }
  r2c (w, (fftwf_complex *) spec);
}

void
tsr_conv_spectrum_strided (TsrConvWork *w, const float *x, gsize stride, int lw, int lh, float *spec)
{
  const TsrConvPlan *p = w->plan;
  g_return_if_fail (lw <= p->nw && lh <= p->nh);
  /* the rows in, zeros only where they are not (one pass over the grid, not two) */
  for (int y = 0; y < lh; y++)
    {
      float *row = w->real + (gsize) y * p->nw;
      memcpy (row, x + (gsize) y * stride, sizeof (float) * lw);
      memset (row + lw, 0, sizeof (float) * (p->nw - lw));
    }
  memset (w->real + (gsize) lh * p->nw, 0, sizeof (float) * (gsize) (p->nh - lh) * p->nw);
  r2c (w, (fftwf_complex *) spec);
}

void
tsr_conv_spectrum (TsrConvWork *w, const float *x, int lw, int lh, float *spec)
{
  tsr_conv_spectrum_strided (w, x, (gsize) lw, lw, lh, spec);
}

static void forward_finish (TsrConvWork *w, int lw, int lh, float *y);

/* S = X · K over n bins */
static TSR_SPEC_CLONES void
spec_mul (const fftwf_complex *restrict X, const fftwf_complex *restrict K, fftwf_complex *restrict S, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      float a = X[i][0], b = X[i][1], c = K[i][0], d = K[i][1];
      S[i][0] = a * c - b * d;
      S[i][1] = a * d + b * c;
    }
}

void
tsr_conv_forward_spec (TsrConvWork *w, const float *xspec, const float *kspec, int lw, int lh, float *y)
{
  spec_mul ((const fftwf_complex *) xspec, (const fftwf_complex *) kspec, w->spec, w->plan->ncomplex);
  forward_finish (w, lw, lh, y);
}

const float *
tsr_conv_forward_spec_grid (TsrConvWork *w, const float *xspec, const float *kspec, int *stride, double *scale)
{
  const TsrConvPlan *p = w->plan;
  g_return_val_if_fail (p->r == 1, NULL);
  spec_mul ((const fftwf_complex *) xspec, (const fftwf_complex *) kspec, w->spec, p->ncomplex);
  /* the inverse FFT on the rows of the valid region only (the same bits there as c2r ()) */
  fftwf_execute_dft (p->icols, w->spec, w->spec);
  fftwf_execute_dft_c2r (p->irows, w->spec + (gsize) p->row0 * p->ncw, w->real + (gsize) p->row0 * p->nw);
  w->n_fft++;
  *stride = p->nw;
  *scale = 1.0 / (double) p->nreal;
  return w->real + (gsize) p->rf * p->nw + p->rf;
}

/* y (ow × oh) = Σ_k D(h_k ∗ x_k): the products summed in the spectrum, one inverse FFT */
void
tsr_conv_forward_spec_sum (TsrConvWork *w, const float *const *xspecs, const float *const *kspecs, int nk,
                           int lw, int lh, float *y)
{
  const TsrConvPlan *p = w->plan;
  memset (w->spec, 0, p->ncomplex * sizeof (fftwf_complex));
  for (int k = 0; k < nk; k++)
    {
      const fftwf_complex *X = (const fftwf_complex *) xspecs[k], *K = (const fftwf_complex *) kspecs[k];
      for (gsize i = 0; i < p->ncomplex; i++)
        {
          float a = X[i][0], b = X[i][1], c = K[i][0], d = K[i][1];
          w->spec[i][0] += a * c - b * d;
          w->spec[i][1] += a * d + b * c;
        }
    }
  forward_finish (w, lw, lh, y);
}

static void
forward_finish (TsrConvWork *w, int lw, int lh, float *y)
{
  const TsrConvPlan *p = w->plan;
  c2r (w);
  int r = p->r, rf = p->rf;
  int ow = (lw - 2 * rf) / r, oh = (lh - 2 * rf) / r;
  double scale = 1.0 / ((double) p->nreal * r * r);
  if (r == 1)
    {
      float sc = (float) scale;
      for (int qy = 0; qy < oh; qy++)
        {
          const float *restrict row = w->real + (gsize) (rf + qy) * p->nw + rf;
          float *restrict out = y + (gsize) qy * ow;
          for (int qx = 0; qx < ow; qx++)
            out[qx] = row[qx] * sc;
        }
      return;
    }
  for (int qy = 0; qy < oh; qy++)
    for (int qx = 0; qx < ow; qx++)
      {
        double acc = 0;
        for (int v = 0; v < r; v++)
          {
            const float *row = w->real + (gsize) (rf + qy * r + v) * p->nw + rf + qx * r;
            for (int u = 0; u < r; u++)
              acc += row[u];
          }
        y[(gsize) qy * ow + qx] = (float) (acc * scale);
      }
}

/* y (the valid region, (lw − 2rf)/r × (lh − 2rf)/r) replicated over r × r and divided by r², at
 * offset rf in the FFT grid, zero elsewhere */
static void
embed_valid (TsrConvWork *w, const float *y, int lw, int lh)
{
  const TsrConvPlan *p = w->plan;
  int r = p->r, rf = p->rf;
  int ow = (lw - 2 * rf) / r, oh = (lh - 2 * rf) / r;
  if (r == 1)
    {
      memset (w->real, 0, (gsize) rf * p->nw * sizeof (float));
      for (int qy = 0; qy < oh; qy++)
        {
          float *row = w->real + (gsize) (rf + qy) * p->nw;
          memset (row, 0, rf * sizeof (float));
          memcpy (row + rf, y + (gsize) qy * ow, ow * sizeof (float));
          memset (row + rf + ow, 0, (p->nw - rf - ow) * sizeof (float));
        }
      memset (w->real + (gsize) (rf + oh) * p->nw, 0, (gsize) (p->nh - rf - oh) * p->nw * sizeof (float));
      return;
    }
  float inv = 1.0f / (float) (r * r);
  memset (w->real, 0, p->nreal * sizeof (float));
  for (int qy = 0; qy < oh; qy++)
    for (int qx = 0; qx < ow; qx++)
      {
        float v = y[(gsize) qy * ow + qx] * inv;
        if (v == 0)
          continue;
        for (int b = 0; b < r; b++)
          {
            float *row = w->real + (gsize) (rf + qy * r + b) * p->nw + rf + qx * r;
            for (int a = 0; a < r; a++)
              row[a] = v;
          }
      }
}

void
tsr_conv_adjoint_accumulate (TsrConvWork *w, const float *kspec, const float *y, int lw, int lh,
                             double weight, float *acc)
{
  const TsrConvPlan *p = w->plan;
  embed_valid (w, y, lw, lh);
  r2c (w, w->spec);
  const fftwf_complex *K = (const fftwf_complex *) kspec;
  fftwf_complex *A = (fftwf_complex *) acc;
  float wt = (float) weight;
  for (gsize i = 0; i < p->ncomplex; i++)
    {
      /* conj(K) · S */
      float c = K[i][0], d = -K[i][1], a = w->spec[i][0], b = w->spec[i][1];
      A[i][0] += wt * (a * c - b * d);
      A[i][1] += wt * (a * d + b * c);
    }
}

/* accs[k] += weight · conj(K_k) · FFT(Dᵀ y) for k < nk: one FFT of y for all kernels */
void
tsr_conv_adjoint_accumulate_multi (TsrConvWork *w, const float *const *kspecs, int nk, const float *y, int lw,
                                   int lh, double weight, float *const *accs)
{
  const TsrConvPlan *p = w->plan;
  embed_valid (w, y, lw, lh);
  r2c (w, w->spec);
  float wt = (float) weight;
  for (int k = 0; k < nk; k++)
    {
      const fftwf_complex *K = (const fftwf_complex *) kspecs[k];
      fftwf_complex *A = (fftwf_complex *) accs[k];
      for (gsize i = 0; i < p->ncomplex; i++)
        {
          float c = K[i][0], d = -K[i][1], a = w->spec[i][0], b = w->spec[i][1];
          A[i][0] += wt * (a * c - b * d);
          A[i][1] += wt * (a * d + b * c);
        }
    }
}

/* acc1 += weight · conj(K) · S1 and acc2 += weight · conj(K) · S2 over n spectrum bins: the
 * same as two tsr_conv_adjoint_accumulate, with K read once */
static TSR_SPEC_CLONES void
accumulate2_conj (const fftwf_complex *restrict K, const fftwf_complex *restrict S1,
                  const fftwf_complex *restrict S2, fftwf_complex *restrict A1, fftwf_complex *restrict A2, gsize n,
                  float wt)
{
  for (gsize i = 0; i < n; i++)
    {
      float c = K[i][0], d = -K[i][1];
      float a = S1[i][0], b = S1[i][1];
      A1[i][0] += wt * (a * c - b * d);
      A1[i][1] += wt * (a * d + b * c);
      a = S2[i][0];
      b = S2[i][1];
      A2[i][0] += wt * (a * c - b * d);
      A2[i][1] += wt * (a * d + b * c);
    }
}

void
tsr_conv_adjoint_accumulate2 (TsrConvWork *w, const float *kspec, const float *y1, const float *y2, int lw, int lh,
                              double weight, float *acc1, float *acc2)
{
  const TsrConvPlan *p = w->plan;
  if (!w->spec2)
    w->spec2 = fftwf_alloc_complex (p->ncomplex);
  embed_valid (w, y1, lw, lh);
  r2c (w, w->spec);
  embed_valid (w, y2, lw, lh);
  r2c (w, w->spec2);
  accumulate2_conj ((const fftwf_complex *) kspec, w->spec, w->spec2, (fftwf_complex *) acc1, (fftwf_complex *) acc2,
                    p->ncomplex, (float) weight);
}

float *
tsr_conv_grid_new (const TsrConvPlan *plan)
{
  return fftwf_alloc_real (plan->nreal);
}

void
tsr_conv_grid_free (float *grid)
{
  if (grid)
    fftwf_free (grid);
}

void
tsr_conv_adjoint_accumulate2_grid (TsrConvWork *w, const float *kspec, float *g1, float *g2, double weight,
                                   float *acc1, float *acc2)
{
  const TsrConvPlan *p = w->plan;
  if (!w->spec2)
    w->spec2 = fftwf_alloc_complex (p->ncomplex);
  /* the grids are FFTW-allocated like the planned arrays (same alignment); an out-of-place r2c
   * leaves its input alone */
  fftwf_execute_dft_r2c (p->fwd, g1, w->spec);
  fftwf_execute_dft_r2c (p->fwd, g2, w->spec2);
  w->n_fft += 2;
  accumulate2_conj ((const fftwf_complex *) kspec, w->spec, w->spec2, (fftwf_complex *) acc1, (fftwf_complex *) acc2,
                    p->ncomplex, (float) weight);
}

#define HUGE_PAGE ((gsize) 2 << 20)

gsize
tsr_huge_part_bytes (gsize n)
{
  return (n + 63) & ~(gsize) 63;
}

gsize
tsr_huge_block_bytes (gsize n)
{
  return (MAX (n, 1) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

gboolean
tsr_huge_block_init (TsrHugeBlock *b, gsize n)
{
  b->size = tsr_huge_block_bytes (n);
  b->used = 0;
  b->base = NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  /* mapped directly (not from the heap: an aligned block there cannot reuse the freed memory of
   * the staging, which stays resident, so the run's peak grew by ~10 MiB), 2 MiB-aligned by
   * trimming an over-sized mapping; returned to the system when cleared */
  gsize span = b->size + HUGE_PAGE;
  guint8 *m = mmap (NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    {
      b->size = 0;
      return FALSE;
    }
  guint8 *a = (guint8 *) (((guintptr) m + HUGE_PAGE - 1) & ~(guintptr) (HUGE_PAGE - 1));
  if (a > m)
    munmap (m, a - m);
  if (m + span > a + b->size)
    munmap (a + b->size, m + span - (a + b->size));
  /* a hint: without transparent huge pages (or with them off) the block is ordinary memory */
  madvise (a, b->size, MADV_HUGEPAGE);
  b->base = a;
  return TRUE;
#else
  void *p = NULL;
  if (posix_memalign (&p, HUGE_PAGE, b->size) != 0)
    {
      b->size = 0;
      return FALSE;
    }
  b->base = p;
  return TRUE;
#endif
}

void *
tsr_huge_block_take (TsrHugeBlock *b, gsize n)
{
  gsize k = tsr_huge_part_bytes (n);
  g_return_val_if_fail (b->base && b->used + k <= b->size, NULL);
  void *p = b->base + b->used;
  b->used += k;
  return p;
}

void
tsr_huge_block_clear (TsrHugeBlock *b)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (b->base)
    munmap (b->base, b->size);
#else
  free (b->base);
#endif
  b->base = NULL;
  b->size = b->used = 0;
}

float *
tsr_conv_cgrid_new (const TsrConvPlan *plan)
{
  return (float *) fftwf_alloc_complex (tsr_conv_cgrid_len (plan));
}

int
tsr_conv_cgrid_stride (const TsrConvPlan *plan)
{
  return plan->cst;
}

gsize
tsr_conv_cgrid_len (const TsrConvPlan *plan)
{
  return (gsize) plan->cst * plan->nh;
}

/* one row of bins of the pair adjoint from the complex spectrum Z of g1 + i g2: G1[k] = (Z[k] +
 * conj Z[−k]) / 2 and G2[k] = (Z[k] − conj Z[−k]) / 2i (g1, g2 real), then A1 += wt conj(K) G1,
 * A2 += wt conj(K) G2 (the ½ in wt). zr: row ky of Z; zm: row −ky of Z with its bins already in the
 * order of zr's (zm[kx] = Z[−ky][−kx]), so that the loop vectorises; kx < n. With fresh, A1 and A2
 * are written as if they had been zero (0 + the term: the same bits as clearing them first, a
 * pass over both arrays less). */
static TSR_SPEC_CLONES void
accumulate2_conj_split (const fftwf_complex *restrict K, const fftwf_complex *restrict zr,
                        const fftwf_complex *restrict zm, fftwf_complex *restrict A1, fftwf_complex *restrict A2,
                        int n, float wt, gboolean fresh)
{
  if (fresh)
    {
      for (int kx = 0; kx < n; kx++)
        {
          float p = zr[kx][0], q = zr[kx][1], u = zm[kx][0], v = zm[kx][1];
          float c = K[kx][0], d = -K[kx][1];
          float a = p + u, b = q - v;
          A1[kx][0] = 0.0f + wt * (a * c - b * d);
          A1[kx][1] = 0.0f + wt * (a * d + b * c);
          a = q + v;
          b = u - p;
          A2[kx][0] = 0.0f + wt * (a * c - b * d);
          A2[kx][1] = 0.0f + wt * (a * d + b * c);
        }
      return;
    }
  for (int kx = 0; kx < n; kx++)
    {
      float p = zr[kx][0], q = zr[kx][1], u = zm[kx][0], v = zm[kx][1];
      float c = K[kx][0], d = -K[kx][1];
      float a = p + u, b = q - v;
      A1[kx][0] += wt * (a * c - b * d);
      A1[kx][1] += wt * (a * d + b * c);
      a = q + v;
      b = u - p;
      A2[kx][0] += wt * (a * c - b * d);
      A2[kx][1] += wt * (a * d + b * c);
    }
}

/* m[kx] = z[−kx mod nw] for kx < n */
static void
mirror_row (const fftwf_complex *restrict z, int nw, fftwf_complex *restrict m, int n)
{
  m[0][0] = z[0][0];
  m[0][1] = z[0][1];
  for (int kx = 1; kx < n; kx++)
    {
      m[kx][0] = z[nw - kx][0];
      m[kx][1] = z[nw - kx][1];
    }
}

void
tsr_conv_adjoint_accumulate2_cgrid (TsrConvWork *w, const float *kspec, float *z, double weight, float *acc1,
                                    float *acc2, gboolean fresh)
{
  const TsrConvPlan *p = w->plan;
  fftwf_complex *Z = (fftwf_complex *) z;
  /* the plans were made on FFTW's own (aligned) arrays; with cst even every row is aligned too */
  g_return_if_fail (fftwf_alignment_of (z) == 0);
  /* the columns that can hold data (the rest are zero, and so are their transforms), then every
   * row: the 2-D transform, columns first. Each row pair ky, −ky is transformed into the row
   * buffers, its grid rows cleared for the next scatter, and the split reads the buffers in L1:
   * the rows first and the columns last, the column pass had written the spectrum to memory
   * and the split read it back and cleared it (two passes over the 2·nw·nh-float grid less,
   * the same FFTs) */
  fftwf_execute_dft (p->ccols, Z + p->col0, Z + p->col0);
  w->n_fft++;
  if (!w->zrows)
    w->zrows = fftwf_alloc_complex (2 * (gsize) p->cst);
  const fftwf_complex *K = (const fftwf_complex *) kspec;
  fftwf_complex *A1 = (fftwf_complex *) acc1, *A2 = (fftwf_complex *) acc2;
  float wt = (float) (0.5 * weight);
  for (int ky = 0; ky <= p->nh / 2; ky++)
    {
      int my = ky ? p->nh - ky : 0;
      fftwf_complex *zr = Z + (gsize) ky * p->cst, *zm = Z + (gsize) my * p->cst;
      fftwf_complex *br = w->zrows, *bm = my != ky ? w->zrows + p->cst : br;
      fftwf_execute_dft (p->crow, zr, br);
      memset (zr, 0, sizeof (fftwf_complex) * p->nw);
      if (my != ky)
        {
          fftwf_execute_dft (p->crow, zm, bm);
          memset (zm, 0, sizeof (fftwf_complex) * p->nw);
        }
      gsize o = (gsize) ky * p->ncw, om = (gsize) my * p->ncw;
      fftwf_complex *mr = (fftwf_complex *) w->real;   /* a row's mirror (2 ncw ≤ nreal floats) */
      mirror_row (bm, p->nw, mr, p->ncw);
      accumulate2_conj_split (K + o, br, mr, A1 + o, A2 + o, p->ncw, wt, fresh);
      if (my != ky)
        {
          mirror_row (br, p->nw, mr, p->ncw);
          accumulate2_conj_split (K + om, bm, mr, A1 + om, A2 + om, p->ncw, wt, fresh);
        }
    }
}

void
tsr_conv_from_spectrum (TsrConvWork *w, const float *spec, int lw, int lh, float *x)
{
  const TsrConvPlan *p = w->plan;
  memcpy (w->spec, spec, p->ncomplex * sizeof (fftwf_complex));
  c2r (w);
  float scale = 1.0f / (float) p->nreal;
  for (int y = 0; y < lh; y++)
    {
      const float *row = w->real + (gsize) y * p->nw;
      float *out = x + (gsize) y * lw;
      for (int i = 0; i < lw; i++)
        out[i] = row[i] * scale;
    }
}

void
tsr_conv_inverse_raw (TsrConvWork *w, float *spec, float *out)
{
  const TsrConvPlan *p = w->plan;
  if (fftwf_alignment_of (spec) == fftwf_alignment_of ((float *) w->spec)
      && fftwf_alignment_of (out) == fftwf_alignment_of (w->real))
    fftwf_execute_dft_c2r (p->inv, (fftwf_complex *) spec, out);
  else
    {
      memcpy (w->spec, spec, p->ncomplex * sizeof (fftwf_complex));
      fftwf_execute_dft_c2r (p->inv, w->spec, w->real);
      memcpy (out, w->real, p->nreal * sizeof (float));
    }
  w->n_fft++;
}

void
tsr_conv_forward (TsrConvWork *w, const float *kspec, const float *x, int lw, int lh, float *y)
{
  float *xs = tsr_conv_spectrum_new (w->plan);
  tsr_conv_spectrum (w, x, lw, lh, xs);
  tsr_conv_forward_spec (w, xs, kspec, lw, lh, y);
  tsr_conv_spectrum_free (xs);
}

void
tsr_conv_adjoint (TsrConvWork *w, const float *kspec, const float *y, int lw, int lh, float *x)
{
  float *acc = tsr_conv_spectrum_new (w->plan);
  tsr_conv_adjoint_accumulate (w, kspec, y, lw, lh, 1.0, acc);
  tsr_conv_from_spectrum (w, acc, lw, lh, x);
  tsr_conv_spectrum_free (acc);
}
