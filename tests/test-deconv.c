/* test-deconv.c — multi-frame robust deconvolution: exact operators, and results on
 * generated sessions with truth (PSNR, FWHM, flux, trail, ringing, super-resolution). */
#include "tsr-test-util.h"
#include "tsr-test-truth.h"
#include "tsr-deconv-private.h"

#include <cairo.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Operators
 */

static double
dot (const float *a, const float *b, gsize n)
{
  double s = 0;
  for (gsize i = 0; i < n; i++)
    s += (double) a[i] * b[i];
  return s;
}

static void
adjoint_case (int r, int ow)
{
  const int rf = 6 * r, oh = 29;
  int lw = r * ow + 2 * rf, lh = r * oh + 2 * rf;
  TsrConvPlan *plan = tsr_conv_plan_new (lw + 5, lh + 3, rf, r);   /* FFT grid larger than the tile */
  TsrConvWork *w = tsr_conv_work_new (plan);
  GRand *rng = g_rand_new_with_seed (3 + r);
  /* an asymmetric random PSF: the adjoint must flip it */
  TsrPsf *psf = tsr_psf_new_delta (2 * rf + 1, r);
  for (int i = 0; i < psf->size * psf->size; i++)
    psf->data[i] = (float) g_rand_double (rng);
  float *K = tsr_conv_spectrum_new (plan);
  tsr_conv_kernel_spectrum (w, psf, K);
  float *x = g_new (float, lw * lh), *hx = g_new (float, ow * oh);
  float *y = g_new (float, ow * oh), *hty = g_new (float, lw * lh);
  for (int i = 0; i < lw * lh; i++)
    x[i] = (float) g_rand_double_range (rng, -1, 1);
  for (int i = 0; i < ow * oh; i++)
    y[i] = (float) g_rand_double_range (rng, -1, 1);
  tsr_conv_forward (w, K, x, lw, lh, hx);
  tsr_conv_adjoint (w, K, y, lw, lh, hty);
  double a = dot (hx, y, ow * oh), b = dot (x, hty, lw * lh);
  double scale = sqrt (dot (hx, hx, ow * oh) * dot (y, y, ow * oh));
  g_test_message ("r=%d: <Hx,y> = %.9g, <x,H^T y> = %.9g, relative difference %.2e", r, a, b, fabs (a - b) / scale);
  g_assert_cmpfloat (fabs (a - b) / scale, <, 1e-5);
  /* direct spatial check of one forward sample */
  double direct = 0;
  int qx = 11, qy = 7;
  for (int v = 0; v < r; v++)
    for (int u = 0; u < r; u++)
      {
        int px = rf + qx * r + u, py = rf + qy * r + v;
        for (int j = 0; j < psf->size; j++)
          for (int i = 0; i < psf->size; i++)
            direct += psf->data[j * psf->size + i] * x[(py - (j - psf->radius)) * lw + px - (i - psf->radius)];
      }
  direct /= r * r;
  g_assert_cmpfloat (fabs (direct - hx[qy * ow + qx]), <, 1e-4 * (1 + fabs (direct)));
  if (r == 1)
    {
      /* the frame visits' forward in place (the inverse FFT on the valid region's rows only)
       * gives tsr_conv_forward's values bit for bit */
      float *X = tsr_conv_spectrum_new (plan);
      tsr_conv_spectrum (w, x, lw, lh, X);
      int cs;
      double sc;
      const float *cv = tsr_conv_forward_spec_grid (w, X, K, &cs, &sc);
      for (int yy = 0; yy < oh; yy++)
        for (int xx = 0; xx < ow; xx++)
          g_assert_cmpfloat (cv[(gsize) yy * cs + xx] * (float) sc, ==, hx[yy * ow + xx]);
      tsr_conv_spectrum_free (X);
    }
  /* the pair adjoint (two images, one kernel, the job's back-projections) adds exactly what two
   * single adjoints add, with a weight and onto accumulators that already hold something */
  {
    gsize ns = 2 * tsr_conv_plan_spectrum_len (plan);
    float *a1 = tsr_conv_spectrum_new (plan), *a2 = tsr_conv_spectrum_new (plan);
    float *b1 = tsr_conv_spectrum_new (plan), *b2 = tsr_conv_spectrum_new (plan);
    float *y2 = g_new (float, ow * oh);
    for (int i = 0; i < ow * oh; i++)
      y2[i] = (float) g_rand_double_range (rng, 0, 2);
    for (gsize i = 0; i < ns; i++)
      a1[i] = b1[i] = (float) i * 1e-3f, a2[i] = b2[i] = -(float) i * 2e-3f;
    tsr_conv_adjoint_accumulate (w, K, y, lw, lh, 0.7, a1);
    tsr_conv_adjoint_accumulate (w, K, y2, lw, lh, 0.7, a2);
    tsr_conv_adjoint_accumulate2 (w, K, y, y2, lw, lh, 0.7, b1, b2);
    g_assert_true (memcmp (a1, b1, ns * sizeof (float)) == 0);
    g_assert_true (memcmp (a2, b2, ns * sizeof (float)) == 0);
    if (r == 1)
      {
        /* the grid form (the job scatters straight into FFT grids at offset (rf, rf)) adds the
         * same bit for bit */
        int gw, gh;
        tsr_conv_plan_size (plan, &gw, &gh);
        float *g1 = tsr_conv_grid_new (plan), *g2 = tsr_conv_grid_new (plan);
        memset (g1, 0, sizeof (float) * gw * gh);
        memset (g2, 0, sizeof (float) * gw * gh);
        for (int qy = 0; qy < oh; qy++)
          for (int qx = 0; qx < ow; qx++)
            {
              g1[(gsize) (rf + qy) * gw + rf + qx] = y[qy * ow + qx];
              g2[(gsize) (rf + qy) * gw + rf + qx] = y2[qy * ow + qx];
            }
        float *c1 = tsr_conv_spectrum_new (plan), *c2 = tsr_conv_spectrum_new (plan);
        for (gsize i = 0; i < ns; i++)
          c1[i] = (float) i * 1e-3f, c2[i] = -(float) i * 2e-3f;
        tsr_conv_adjoint_accumulate2_grid (w, K, g1, g2, 0.7, c1, c2);
        g_assert_true (memcmp (a1, c1, ns * sizeof (float)) == 0);
        g_assert_true (memcmp (a2, c2, ns * sizeof (float)) == 0);
        /* the complex grid form (g1 real, g2 imaginary, one complex FFT in place) adds the same
         * up to float rounding: the spectra of two real grids from one complex spectrum */
        float *z = tsr_conv_cgrid_new (plan);
        const int cs = tsr_conv_cgrid_stride (plan);
        const gsize zn = tsr_conv_cgrid_len (plan);
        g_assert_cmpint (cs, >=, gw);
        g_assert_cmpuint (zn, ==, (gsize) cs * gh);
        /* rows a multiple of 64 wide are padded (their column pass at a power-of-two stride
         * was up to 15× slower), and odd ones to an even width (each row transformed alone must
         * start at the alignment FFTW planned for) */
        g_assert_cmpint (cs > gw, ==, gw % 64 == 0 || gw % 2 == 1);
        g_assert_cmpint (cs % 2, ==, 0);
        if (ow == 110)
          g_assert_cmpint (gw, ==, 128);
        memset (z, 0, 2 * sizeof (float) * zn);
        for (int qy = 0; qy < oh; qy++)
          for (int qx = 0; qx < ow; qx++)
            {
              gsize k = (gsize) (rf + qy) * cs + rf + qx;
              z[2 * k] = y[qy * ow + qx];
              z[2 * k + 1] = y2[qy * ow + qx];
            }
        for (gsize i = 0; i < ns; i++)
          c1[i] = (float) i * 1e-3f, c2[i] = -(float) i * 2e-3f;
        /* fresh: written over whatever the sums held (here garbage and a NaN), the same bits as
         * adding to zeros */
        {
          float *f1 = tsr_conv_spectrum_new (plan), *f2 = tsr_conv_spectrum_new (plan);
          float *o1 = tsr_conv_spectrum_new (plan), *o2 = tsr_conv_spectrum_new (plan);
          float *zc = tsr_conv_cgrid_new (plan);
          for (gsize i = 0; i < ns; i++)
            f1[i] = f2[i] = (float) i * 3.7f - 11.0f;
          f1[3] = NAN;
          memcpy (zc, z, 2 * sizeof (float) * zn);
          tsr_conv_adjoint_accumulate2_cgrid (w, K, zc, 0.7, f1, f2, TRUE);
          memcpy (zc, z, 2 * sizeof (float) * zn);
          tsr_conv_adjoint_accumulate2_cgrid (w, K, zc, 0.7, o1, o2, FALSE);   /* o1, o2 start zero */
          g_assert_cmpmem (f1, ns * sizeof (float), o1, ns * sizeof (float));
          g_assert_cmpmem (f2, ns * sizeof (float), o2, ns * sizeof (float));
          tsr_conv_grid_free (zc);
          tsr_conv_spectrum_free (f1);
          tsr_conv_spectrum_free (f2);
          tsr_conv_spectrum_free (o1);
          tsr_conv_spectrum_free (o2);
        }
        tsr_conv_adjoint_accumulate2_cgrid (w, K, z, 0.7, c1, c2, FALSE);
        double e1 = 0, e2 = 0, m1 = 0, m2 = 0;
        for (gsize i = 0; i < ns; i++)
          {
            /* what the pair added, against the real-FFT form's */
            double d1 = a1[i] - (float) i * 1e-3f, d2 = a2[i] + (float) i * 2e-3f;
            m1 = MAX (m1, fabs (d1));
            m2 = MAX (m2, fabs (d2));
            e1 = MAX (e1, fabs ((double) c1[i] - a1[i]));
            e2 = MAX (e2, fabs ((double) c2[i] - a2[i]));
          }
        g_test_message ("complex-grid pair adjoint: max error %.3g, %.3g of max added %.3g, %.3g", e1, e2, m1, m2);
        g_assert_cmpfloat (m1, >, 0);
        /* and the grid is left all zero for the next scatter */
        for (gsize i = 0; i < 2 * zn; i++)
          g_assert_cmpfloat (z[i], ==, 0);
        g_assert_cmpfloat (e1, <, 1e-5 * m1 + 1e-6 * ns * 1e-3);
        g_assert_cmpfloat (e2, <, 1e-5 * m2 + 1e-6 * ns * 2e-3);
        tsr_conv_grid_free (z);
        tsr_conv_grid_free (g1);
        tsr_conv_grid_free (g2);
        tsr_conv_spectrum_free (c1);
        tsr_conv_spectrum_free (c2);
      }
    /* and it did add something */
    double moved = 0;
    for (gsize i = 0; i < ns; i++)
      moved += fabs (b2[i] + (float) i * 2e-3f);
    g_assert_cmpfloat (moved, >, 1e-3);
    tsr_conv_spectrum_free (a1);
    tsr_conv_spectrum_free (a2);
    tsr_conv_spectrum_free (b1);
    tsr_conv_spectrum_free (b2);
    g_free (y2);
  }
  g_rand_free (rng);
  g_free (x);
  g_free (hx);
  g_free (y);
  g_free (hty);
  tsr_conv_spectrum_free (K);
  tsr_psf_free (psf);
  tsr_conv_work_free (w);
  tsr_conv_plan_free (plan);
}

/* Keys cubic (a = −½) weight of tap i ∈ 0 … 3 for fraction t, in double (independent of the
 * solver's table) */
static double
keys_ref (double t, int i)
{
  double d = fabs (t - (i - 1)), a = -0.5;
  if (d < 1)
    return ((a + 2) * d - (a + 3)) * d * d + 1;
  return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
}

/* The iterations' row kernels (Keys gather of h∗u at each frame pixel, and its transposed
 * scatter): the portable and the AVX2 forms give the same bits, and both equal a direct double
 * evaluation of the sampling and of its transpose. Rows with invalid pixels (the AVX2 gather
 * takes 4 valid pixels at once, else one at a time) and a width that is no multiple of 4. */
static void
test_row_kernels (void)
{
  const int ow = 203, nrows = 23, vw = ow + 8, vh = nrows + 8;
  GRand *rng = g_rand_new_with_seed (12);
  gsize nc = (gsize) vw * vh, np = (gsize) ow * nrows;
  float *cv = g_new (float, nc), *a1 = g_new (float, np), *a2 = g_new (float, np);
  guint8 *mask = g_new (guint8, np);
  guint32 *taps = g_new (guint32, np);
  for (gsize i = 0; i < nc; i++)
    cv[i] = (float) g_rand_double_range (rng, -100, 1000);
  /* the first rows: random windows, 10 % invalid pixels; the rest as a registered frame's rows
   * (runs of windows with the same row and column offset, a few invalid pixels), which the
   * AVX2 gather takes eight at a time */
  for (gsize i = 0; i < np; i++)
    {
      int px = (int) (i % ow), py = (int) (i / ow);
      gboolean runs = py >= nrows / 2;
      mask[i] = runs ? px % 61 != 17 : g_rand_double (rng) > 0.1;
      guint32 kx = g_rand_int_range (rng, 0, 4097), ky = g_rand_int_range (rng, 0, 4097);
      guint32 ox = runs ? 2 + (px / 37) % 2 : g_rand_int_range (rng, 1, 5);
      guint32 oy = runs ? 2 + (px / 71 + py) % 2 : g_rand_int_range (rng, 1, 5);
      taps[i] = mask[i] ? kx | ox << 13 | ky << 16 | oy << 29 : 0xffffffffu;   /* invalid: any bits */
      a1[i] = (float) g_rand_double_range (rng, -5, 50);
      a2[i] = (float) g_rand_double_range (rng, 0, 20);
    }
  float *acc = g_new (float, np), *grid = g_new (float, 2 * nc);
  g_assert_true (tsr_deconv_row_kernels_run (FALSE, cv, vw, vh, mask, taps, ow, nrows, a1, a2, acc, grid));
  /* the direct evaluation */
  double *gref = g_new0 (double, 2 * nc);
  double emax = 0, gmax = 0;
  for (int y = 0; y < nrows; y++)
    for (int x = 0; x < ow; x++)
      {
        gsize i = (gsize) y * ow + x;
        if (!mask[i])
          {
            g_assert_cmpfloat (acc[i], ==, 0.0f);
            continue;
          }
        guint32 tp = taps[i];
        double tx = (tp & 0x1fff) / 4096.0, ty = ((tp >> 16) & 0x1fff) / 4096.0;
        int ix = x - 1 + (int) ((tp >> 13) & 7), iy = y - 1 + (int) (tp >> 29);
        double v = 0;
        for (int b = 0; b < 4; b++)
          for (int a = 0; a < 4; a++)
            {
              double wgt = keys_ref (tx, a) * keys_ref (ty, b);
              gsize k = (gsize) (iy + b) * vw + ix + a;
              v += wgt * cv[k];
              gref[k] += wgt * a1[i];
              gref[nc + k] += wgt * a2[i];
            }
        emax = MAX (emax, fabs (acc[i] - v));
      }
  for (gsize k = 0; k < 2 * nc; k++)
    gmax = MAX (gmax, fabs (grid[k] - gref[k]));
  g_test_message ("portable kernels against the direct evaluation: gather %.3g, scatter %.3g", emax, gmax);
  g_assert_cmpfloat (emax, <, 5e-3);   /* values up to ~1000, weights from a float table */
  g_assert_cmpfloat (gmax, <, 5e-3);
  float *acc2 = g_new (float, np), *grid2 = g_new (float, 2 * nc);
  if (tsr_deconv_row_kernels_run (TRUE, cv, vw, vh, mask, taps, ow, nrows, a1, a2, acc2, grid2))
    {
      g_assert_cmpmem (acc, sizeof (float) * np, acc2, sizeof (float) * np);
      g_assert_cmpmem (grid, sizeof (float) * 2 * nc, grid2, sizeof (float) * 2 * nc);
    }
  else
    g_test_message ("no AVX2 kernels on this machine: only the portable ones checked");
  g_free (acc2);
  g_free (grid2);
  g_free (gref);
  g_free (acc);
  g_free (grid);
  g_free (cv);
  g_free (a1);
  g_free (a2);
  g_free (mask);
  g_free (taps);
  g_rand_free (rng);
}

/* The Huber-clipped weights of a row (the solver's row model): against the formula in double
 * (weight 1/v inside δ, δ/|z|·1/v beyond it, so the weighted residual is exactly δ there), and
 * the AVX2 form bit for bit against the portable one, weighted and not, with a row length that
 * leaves a tail for each. */
static void
test_huber_row (void)
{
  const int ow = 203;
  const float sf = 1.37f, sped = 40.0f, rms2 = 30.0f, ig = 0.8f, delta = 2.1f;
  GRand *rng = g_rand_new_with_seed (19);
  float acc[203], d1[203], d1w[203], mo[203], iv[203];
  for (int x = 0; x < ow; x++)
    {
      acc[x] = (float) g_rand_double_range (rng, -20, 3000);
      /* residuals from well inside δ to far beyond it */
      double sd = sqrt (rms2 + MAX (sf * acc[x] - sped, 0) * ig);
      d1[x] = (float) (sf * acc[x] + sd * g_rand_double_range (rng, -8, 8));
    }
  guint clipped = 0;
  for (int weighted = 0; weighted < 2; weighted++)
    {
      float a_d1[203], a_mo[203], a_iv[203];
      memcpy (d1w, d1, sizeof d1);
      memset (iv, 0, sizeof iv);
      g_assert_true (tsr_deconv_huber_row_run (FALSE, ow, weighted, sf, sped, rms2, ig, delta, acc, d1w, mo, iv));
      for (int x = 0; x < ow; x++)
        {
          double m = (double) sf * acc[x], v = rms2 + MAX (m - sped, 0.0) * ig;
          double z = ((double) d1[x] - m) / sqrt (v);
          double w = fabs (z) > delta ? delta / fabs (z) / v : 1.0 / v;
          double got = weighted ? d1w[x] / d1[x] : iv[x];
          g_assert_cmpfloat (fabs (got - w), <=, 2e-6 * w);
          if (weighted)
            g_assert_cmpfloat (fabs (mo[x] - m * w), <=, 2e-6 * fabs (m * w) + 1e-12);
          else
            g_assert_cmpfloat (fabs (mo[x] - m), <=, 1e-6 * fabs (m) + 1e-12);
          clipped += !weighted && fabs (z) > delta;
        }
      memcpy (a_d1, d1, sizeof d1);
      memset (a_iv, 0, sizeof a_iv);
      if (tsr_deconv_huber_row_run (TRUE, ow, weighted, sf, sped, rms2, ig, delta, acc, a_d1, a_mo, a_iv))
        {
          g_assert_cmpmem (a_d1, sizeof a_d1, d1w, sizeof d1w);
          g_assert_cmpmem (a_mo, sizeof a_mo, mo, sizeof mo);
          g_assert_cmpmem (a_iv, sizeof a_iv, iv, sizeof iv);
        }
      else
        g_test_message ("no AVX2 kernels on this machine: only the portable one checked");
    }
  /* both sides of δ were exercised */
  g_assert_cmpuint (clipped, >, 40);
  g_assert_cmpuint (clipped, <, 180);
  g_rand_free (rng);
}

static void
test_adjoint (void)
{
  adjoint_case (1, 37);
  adjoint_case (1, 110);   /* FFT grid 128 wide (fast_size (127)): the complex grid's rows padded */
  adjoint_case (1, 46);    /* FFT grid 63 × 45 (odd): its rows start at every alignment unless padded */
  adjoint_case (2, 37);
  adjoint_case (3, 37);
}

/* The huge-page blocks of the solver's arrays: 2 MiB-aligned, parts 64-byte aligned, in order
 * and disjoint inside the block; and a work on a block's arrays (tsr_conv_work_new_with)
 * computes what an ordinary work does, bit for bit. */
static void
test_huge_block (void)
{
  g_assert_cmpuint (tsr_huge_part_bytes (1), ==, 64);
  g_assert_cmpuint (tsr_huge_part_bytes (64), ==, 64);
  g_assert_cmpuint (tsr_huge_part_bytes (65), ==, 128);
  g_assert_cmpuint (tsr_huge_block_bytes (1), ==, (gsize) 2 << 20);
  g_assert_cmpuint (tsr_huge_block_bytes ((gsize) 2 << 20), ==, (gsize) 2 << 20);
  g_assert_cmpuint (tsr_huge_block_bytes (((gsize) 2 << 20) + 1), ==, (gsize) 4 << 20);

  const gsize sizes[] = { 3, 1000, (gsize) 1 << 20, 4097, 1, 777777 };
  gsize total = 0;
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    total += tsr_huge_part_bytes (sizes[i]);
  TsrHugeBlock b;
  g_assert_true (tsr_huge_block_init (&b, total));
  g_assert_cmpuint ((guintptr) b.base % ((gsize) 2 << 20), ==, 0);
  g_assert_cmpuint (b.size, ==, tsr_huge_block_bytes (total));
  guint8 *parts[G_N_ELEMENTS (sizes)];
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      parts[i] = tsr_huge_block_take (&b, sizes[i]);
      g_assert_nonnull (parts[i]);
      g_assert_cmpuint ((guintptr) parts[i] % 64, ==, 0);
      g_assert_true (parts[i] >= b.base && parts[i] + sizes[i] <= b.base + b.size);
      if (i > 0)
        g_assert_true (parts[i] >= parts[i - 1] + sizes[i - 1]);
      memset (parts[i], (int) (i + 1), sizes[i]);
    }
  /* every part still holds its own pattern: none overlaps the next */
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (gsize k = 0; k < sizes[i]; k += 1 + sizes[i] / 97)
      g_assert_cmpuint (parts[i][k], ==, i + 1);
  tsr_huge_block_clear (&b);
  g_assert_null (b.base);

  const int rf = 6, lw = 71, lh = 53;
  TsrConvPlan *plan = tsr_conv_plan_new (lw, lh, rf, 1);
  int nw, nh;
  tsr_conv_plan_size (plan, &nw, &nh);
  gsize rb = sizeof (float) * nw * nh, sb = sizeof (float) * 2 * tsr_conv_plan_spectrum_len (plan);
  g_assert_true (tsr_huge_block_init (&b, tsr_huge_part_bytes (rb) + tsr_huge_part_bytes (sb)));
  TsrConvWork *wa = tsr_conv_work_new (plan);
  TsrConvWork *wb = tsr_conv_work_new_with (plan, tsr_huge_block_take (&b, rb), tsr_huge_block_take (&b, sb));
  TsrPsf *psf = tsr_psf_new_moffat (2.5, 0.8, 0.3, 3.0, 1, 11);
  float *ka = tsr_conv_spectrum_new (plan), *kb = tsr_conv_spectrum_new (plan);
  float *xa = tsr_conv_spectrum_new (plan), *xb = tsr_conv_spectrum_new (plan);
  float *x = g_new (float, lw * lh), *ya = g_new (float, lw * lh), *yb = g_new (float, lw * lh);
  for (int i = 0; i < lw * lh; i++)
    x[i] = (float) ((i * 7919) % 1009) + 0.25f * (float) (i % 13);
  tsr_conv_kernel_spectrum (wa, psf, ka);
  tsr_conv_kernel_spectrum (wb, psf, kb);
  tsr_conv_spectrum (wa, x, lw, lh, xa);
  tsr_conv_spectrum (wb, x, lw, lh, xb);
  tsr_conv_forward_spec (wa, xa, ka, lw, lh, ya);
  tsr_conv_forward_spec (wb, xb, kb, lw, lh, yb);
  int ow = lw - 2 * rf, oh = lh - 2 * rf;
  g_assert_cmpmem (ka, sb, kb, sb);
  g_assert_cmpmem (xa, sb, xb, sb);
  g_assert_cmpmem (ya, sizeof (float) * ow * oh, yb, sizeof (float) * ow * oh);
  tsr_conv_work_free (wb);   /* leaves the block's arrays alone */
  tsr_conv_work_free (wa);
  tsr_huge_block_clear (&b);
  tsr_psf_free (psf);
  tsr_conv_spectrum_free (ka);
  tsr_conv_spectrum_free (kb);
  tsr_conv_spectrum_free (xa);
  tsr_conv_spectrum_free (xb);
  g_free (x);
  g_free (ya);
  g_free (yb);
  tsr_conv_plan_free (plan);
}

static void
test_delta_unshifted (void)
{
  const int rf = 5, ow = 40, oh = 30, lw = ow + 2 * rf, lh = oh + 2 * rf;
  TsrConvPlan *plan = tsr_conv_plan_new (lw, lh, rf, 1);
  TsrConvWork *w = tsr_conv_work_new (plan);
  TsrPsf *d = tsr_psf_new_delta (11, 1);
  float *K = tsr_conv_spectrum_new (plan);
  tsr_conv_kernel_spectrum (w, d, K);
  float *x = g_new0 (float, lw * lh), *y = g_new (float, ow * oh), *back = g_new (float, lw * lh);
  /* a point and a ramp: the valid output is exactly the latent's interior */
  for (int j = 0; j < lh; j++)
    for (int i = 0; i < lw; i++)
      x[j * lw + i] = 0.01f * i + 0.003f * j;
  x[(rf + 12) * lw + rf + 17] += 100.0f;
  tsr_conv_forward (w, K, x, lw, lh, y);
  double maxerr = 0;
  for (int j = 0; j < oh; j++)
    for (int i = 0; i < ow; i++)
      maxerr = MAX (maxerr, fabs (y[j * ow + i] - x[(j + rf) * lw + i + rf]));
  g_assert_cmpfloat (maxerr, <, 1e-4);
  /* the peak stays at (17, 12): not one pixel off */
  int best = 0;
  for (int i = 1; i < ow * oh; i++)
    if (y[i] > y[best])
      best = i;
  g_assert_cmpint (best % ow, ==, 17);
  g_assert_cmpint (best / ow, ==, 12);
  /* and the adjoint puts it back in place */
  tsr_conv_adjoint (w, K, y, lw, lh, back);
  g_assert_cmpfloat (fabs (back[(rf + 12) * lw + rf + 17] - x[(rf + 12) * lw + rf + 17]), <, 1e-3);
  g_free (x);
  g_free (y);
  g_free (back);
  tsr_conv_spectrum_free (K);
  tsr_psf_free (d);
  tsr_conv_work_free (w);
  tsr_conv_plan_free (plan);
}

/* ---------------------------------------------------------------------------------------
 * Helpers on images
 */

static void
write_png (const TsrImage *img, const char *name, double lo, double hi)
{
  const char *dir = g_getenv ("TSR_DECONV_PNG");
  if (!dir)
    return;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, img->width, img->height);
  unsigned char *d = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        double v = (tsr_image_plane (img, 0)[y * img->width + x] - lo) / (hi - lo);
        v = asinh (CLAMP (v, 0, 1) * 200) / asinh (200);
        guint8 g = (guint8) (255 * v);
        guint32 *px = (guint32 *) (d + y * stride) + x;
        *px = (guint32) g << 16 | (guint32) g << 8 | g;
      }
  cairo_surface_mark_dirty (s);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  cairo_surface_write_to_png (s, path);
  cairo_surface_destroy (s);
}

/* Median FWHM ratio a/b of stars detected in both (matched within 1.5 px). */
static double detect_sigma = 5;

static double
fwhm_ratio (const TsrImage *a, const TsrImage *b, double *fa, double *fb, guint *nm)
{
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  sp.detect_sigma = detect_sigma;
  GError *e = NULL;
  g_autoptr (TsrStarList) la = tsr_stars_detect (a, &sp, NULL, &e);
  g_assert_no_error (e);
  g_autoptr (TsrStarList) lb = tsr_stars_detect (b, &sp, NULL, &e);
  g_assert_no_error (e);
  GArray *ra = g_array_new (FALSE, FALSE, sizeof (float)), *va = g_array_new (FALSE, FALSE, sizeof (float)),
         *vb = g_array_new (FALSE, FALSE, sizeof (float));
  for (guint i = 0; i < la->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (la->stars, TsrStar, i);
      if (s->saturated || !isfinite (s->fwhm))
        continue;
      for (guint k = 0; k < lb->stars->len; k++)
        {
          const TsrStar *o = &g_array_index (lb->stars, TsrStar, k);
          if (o->saturated || !isfinite (o->fwhm) || hypot (o->x - s->x, o->y - s->y) > 1.5)
            continue;
          float r = (float) (s->fwhm / o->fwhm), x = (float) s->fwhm, y = (float) o->fwhm;
          g_array_append_val (ra, r);
          g_array_append_val (va, x);
          g_array_append_val (vb, y);
          break;
        }
    }
  *nm = ra->len;
  double r = ra->len ? tsr_median_inplace ((float *) ra->data, ra->len) : NAN;
  *fa = va->len ? tsr_median_inplace ((float *) va->data, va->len) : NAN;
  *fb = vb->len ? tsr_median_inplace ((float *) vb->data, vb->len) : NAN;
  g_array_free (ra, TRUE);
  g_array_free (va, TRUE);
  g_array_free (vb, TRUE);
  return r;
}

/* ---------------------------------------------------------------------------------------
 * The generated session
 */

static char *dir;
static TsrSynthTruth *truth;
static TsrSession *session;
static TsrDeconvResult *res, *res_l2;
static TsrProject params;

static void
setup_once (void)
{
  if (res)
    return;
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 16;
  p.width = 384;
  p.height = 320;
  p.seed = 21;
  p.n_stars = 420;
  p.fwhm_min = 2.4;
  p.fwhm_max = 4.4;
  p.n_trails = 1;
  p.n_mirrored = 0;
  p.n_noise = 0;
  p.shift_max = 12;
  p.rotation_max_deg = 0.5;
  p.oversample = 3;
  if (g_getenv ("DSHIFT"))   /* iterating on the harness: no dither, no rotation (DSHIFT=0) */
    p.shift_max = g_ascii_strtod (g_getenv ("DSHIFT"), NULL), p.rotation_max_deg = 0;
  if (g_getenv ("XFIELD"))
    p.field_psf = g_ascii_strtod (g_getenv ("XFIELD"), NULL);
  session = tsr_test_synth_session (&p, NULL, "deconv", &dir, &truth);
  GError *e = NULL;
  tsr_project_init (&params);
  params.run.n_threads = 2;
  /* the project's defaults (docs/deconv.md) */
  if (g_getenv ("DSET"))
    {
      g_auto (GStrv) sv = g_strsplit (g_getenv ("DSET"), ",", -1);
      for (guint i = 0; sv[i]; i++)
        g_assert_true (tsr_project_set_assignment (&params, sv[i], NULL));
    }
  res = tsr_deconv_run (session, &params.deconv, &params.tbqr, &params.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  if (g_getenv ("DDEBUG"))
    for (guint i = 0; i < res->stats->len; i++)
      {
        const TsrDeconvIterStats *st = &g_array_index (res->stats, TsrDeconvIterStats, i);
        g_test_message ("it %u: update %.4f change %.4f ema %.4f %.4f step %.3f momentum %.3f", st->iteration,
                        st->median_update, st->rel_change, st->ema_update, st->ema_change, st->max_step, st->momentum);
      }
  if (g_getenv ("DDEBUG"))
    for (guint i = 0; i < truth->frames->len; i++)
      g_test_message ("truth frame %u: fwhm %.3f median %.3f transparency %.4f", i, g_array_index (truth->frames, TsrSynthFrame, i).fwhm,
                      g_array_index (truth->frames, TsrSynthFrame, i).fwhm_median, g_array_index (truth->frames, TsrSynthFrame, i).transparency);
  if (g_getenv ("DDEBUG"))
    {
      g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA1, (const guchar *) res->image->data,
                                                          tsr_image_npix (res->image) * sizeof (float));
      g_test_message ("deconv image sha1 %s", sum);
    }
  if (g_getenv ("DDEBUG"))
    {
      /* the median frame's PSF against a pixel-integrated Moffat β = 3 of the same FWHM (the
       * generator's family): encircled energy and mean intensity per 1-px annulus */
      const TsrPsf *mp = res->median_psf[0];
      TsrPsf *mo = tsr_psf_new_moffat (mp->fwhm, 1.0, 0.0, 3.0, 1, 51);
      double ea = 0, eb = 0;
      for (int rr = 0; rr <= 25; rr++)
        {
          double ia = 0, ib = 0;
          int na = 0;
          for (int y = -25; y <= 25; y++)
            for (int x = -25; x <= 25; x++)
              {
                double d = hypot (x, y);
                if (d < rr - 0.5 || d >= rr + 0.5)
                  continue;
                if (abs (x) <= mp->radius && abs (y) <= mp->radius)
                  ia += mp->data[(y + mp->radius) * mp->size + x + mp->radius];
                ib += mo->data[(y + mo->radius) * mo->size + x + mo->radius];
                na++;
              }
          ea += ia;
          eb += ib;
          g_test_message ("psf r %2d: stacked %.5f (EE %.4f)  moffat %.5f (EE %.4f)", rr, ia / na, ea, ib / na, eb);
        }
      g_test_message ("median PSF FWHM %.3f radius %d", mp->fwhm, mp->radius);
      tsr_psf_free (mo);
    }
  TsrProject pl = params;
  pl.deconv.rho = TSR_RHO_L2;
  if (g_getenv ("HARNESS_ONLY"))   /* iterating on the harness: the l2 run is for the trail test */
    pl.deconv.iterations = 1;
  res_l2 = tsr_deconv_run (session, &pl.deconv, &pl.tbqr, &pl.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_test_message ("deconv: gain %.3f, pedestal %.2f, %u frames, %u iterations%s, median FWHM %.2f, PSF radius %d, %u PSFs from stars, stage %.1f s, iterate %.1f s",
                  res->gain, res->pedestal[0], res->n_frames, res->iterations, res->early_stopped ? " (early stop)" : "", res->median_fwhm,
                  res->psf_radius, res->n_psf_stars, res->seconds_stage, res->seconds_iterate);
}

/* DDEBUG=1: the image's SHA-1 (refactors that must leave the result bit for bit) */
static void
debug_sha1 (const char *label, const TsrImage *img)
{
  if (!g_getenv ("DDEBUG"))
    return;
  g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA1, (const guchar *) img->data, tsr_image_npix (img) * sizeof (float));
  g_test_message ("%s image sha1 %s", label, sum);
}

static void
test_header_and_shape (void)
{
  setup_once ();
  g_assert_cmpint (res->image->width, ==, session->width);
  g_assert_cmpint (res->image->height, ==, session->height);
  g_assert_cmpint (res->image->channels, ==, 1);
  g_assert_cmpuint (res->n_frames, ==, 16);
  g_assert_cmpuint (res->n_psf_stars, >=, 12);
  g_assert_cmpuint (res->iterations, >=, 3);
  g_assert_cmpuint (res->iterations, <=, (guint) params.deconv.iterations);
  gboolean b = FALSE;
  gint64 v = 0;
  g_autofree char *rho = tsr_header_get_string (res->image->header, "MF_RHO");
  g_assert_cmpstr (rho, ==, "huber");
  g_assert_true (tsr_header_get_int (res->image->header, "MF_ITERS", &v));
  g_assert_cmpint (v, ==, res->iterations);
  g_assert_true (tsr_header_get_int (res->image->header, "MF_SR", &v) && v == 1);
  g_autofree char *m = tsr_header_get_string (res->image->header, "MFDECONV");
  g_assert_nonnull (m);
  for (const char *k = "MF_HDEL"; k; k = NULL)
    g_assert_true (tsr_header_has (res->image->header, k));
  const char *keys[] = { "MF_KAPPA", "MF_RELAX", "MF_ITMAX", "MF_ESTOP", "MF_SEED", NULL };
  for (guint i = 0; keys[i]; i++)
    g_assert_true (tsr_header_has (res->image->header, keys[i]));
  (void) b;
  /* the latent may go below zero by at most its pedestal (the sky is not clipped) */
  g_assert_cmpfloat (res->pedestal[0], >, 0);
  for (gsize k = 0; k < tsr_image_npix (res->image); k++)
    g_assert_cmpfloat (res->image->data[k], >=, -res->pedestal[0] - 1e-3);
  for (const char *const *k = (const char *const[]) { "MF_MASK", "MF_VAR", "MF_GAIN", "MF_ACCEL", "MF_SOLVR", "MF_PED", "MF_ANCHN",
                                                      "MF_ANCHK", "MF_ANCHE", "MF_ANCH1", NULL }; *k; k++)
    g_assert_true (tsr_header_has (res->image->header, *k));
  /* the gain came from the frames (no deconv.gain): the generator's is 1 e-/ADU */
  g_assert_true (res->gain_estimated);
  g_assert_cmpfloat (fabs (res->gain - 1.0), <, 0.2);
  /* early stop on the default session, and MF_ITERS says when */
  g_assert_true (res->early_stopped);
  g_assert_cmpuint (res->iterations, <, (guint) params.deconv.iterations);
  /* written atomically and read back */
  g_autofree char *out = g_build_filename (dir, "deconv.fits", NULL);
  GError *e = NULL;
  g_assert_true (tsr_fits_write (out, res->image, NULL, &e));
  g_assert_no_error (e);
  g_autoptr (TsrImage) back = tsr_fits_read (out, &e);
  g_assert_no_error (e);
  g_autofree char *estop = tsr_header_get_string (back->header, "MF_ESTOP");
  g_assert_nonnull (estop);
}

static void
test_quality (void)
{
  setup_once ();
  int W = session->width, H = session->height;
  GError *e = NULL;
  g_autofree char *tpath = g_build_filename (dir, "truth", "truth-sharp.fits", NULL);
  g_autoptr (TsrImage) tsharp = tsr_fits_read (tpath, &e);
  g_assert_no_error (e);
  g_autoptr (TsrImage) tref = truth_in_reference (truth, res->reference, tsharp, W, H);
  /* single-image Richardson–Lucy of the mean stack with the median PSF, same iterations */
  g_autoptr (TsrImage) rl = tsr_deconv_rl_image (res->mean, res->median_psf, 1, 20, res->sky_level, NULL, &e);
  g_assert_no_error (e);
  guint8 *common = g_new (guint8, W * H);
  for (int k = 0; k < W * H; k++)
    common[k] = res->image->mask[k] && res->mean->mask[k] && tref->mask[k];
  double p_dec = psnr (res->image, tref, common, 16), p_mean = psnr (res->mean, tref, common, 16);
  double p_rl = psnr (rl, tref, common, 16), p_l2 = psnr (res_l2->image, tref, common, 16);
  g_test_message ("PSNR vs noise-free truth (FWHM 1.2, LS flux scale): deconv %.2f dB, l2 deconv %.2f dB, mean stack %.2f dB, "
                  "single-image RL of the mean %.2f dB", p_dec, p_l2, p_mean, p_rl);
  write_png (res->image, "deconv.png", 0, 3000);
  write_png (res->mean, "mean.png", 0, 3000);
  write_png (rl, "rl.png", 0, 3000);
  write_png (tref, "truth.png", 0, 3000);
  g_assert_cmpfloat (p_dec, >, p_mean);
  g_assert_cmpfloat (p_dec, >, p_rl);

  /* FWHM of matched stars */
  double fd, fm;
  guint nm;
  double ratio = fwhm_ratio (res->image, res->mean, &fd, &fm, &nm);
  g_test_message ("matched-star FWHM: deconv %.3f px, mean stack %.3f px, ratio %.3f (%u stars)", fd, fm, ratio, nm);
  g_assert_cmpuint (nm, >=, 10);
  g_assert_cmpfloat (ratio, <=, 0.70);

  /* flux of isolated stars against the truth (gain 1 e/ADU, reference frame units =
   * electrons × the reference frame's transparency) */
  g_autoptr (GArray) iso = isolated_stars (truth, res->reference, W, H, 12, 20);
  double t_ref = g_array_index (truth->frames, TsrSynthFrame, res->reference).transparency;
  double sum_d = 0, sum_m = 0, sum_t = 0;
  guint nflux = 0;
  double ap = 2.5 * res->median_fwhm;
  for (guint i = 0; i < iso->len; i++)
    {
      const Pt *s = &g_array_index (iso, Pt, i);
      if (s->flux < 3000)
        continue;
      double fmn = aperture (res->mean, s->x, s->y, ap, NULL);
      double fdc = aperture (res->image, s->x, s->y, ap, NULL);
      if (g_getenv ("DDEBUG"))
        g_test_message ("star %.1f %.1f truth %.0f mean %.0f deconv %.0f", s->x, s->y, s->flux * t_ref, fmn, fdc);
      sum_d += fdc;
      sum_m += fmn;
      sum_t += s->flux * t_ref;
      nflux++;
    }
  g_test_message ("total flux of %u isolated stars (aperture 2.5 FWHM) / truth: deconv %.4f, mean stack %.4f",
                  nflux, sum_d / sum_t, sum_m / sum_t);
  g_assert_cmpuint (nflux, >=, 8);
  g_assert_cmpfloat (fabs (sum_d / sum_t - 1), <, 0.02);

  /* ringing: the deepest azimuthal dip below the local background around bright isolated
   * stars, relative to the star's peak */
  double worst = 0;
  guint nring = 0;
  for (guint i = 0; i < iso->len; i++)
    {
      const Pt *s = &g_array_index (iso, Pt, i);
      if (s->flux < 1.2e4)
        continue;
      double f = res->median_fwhm;
      double bg;
      aperture (res->image, s->x, s->y, 4.5 * f, &bg);
      double peak = 0;
      for (int y = (int) s->y - 2; y <= (int) s->y + 2; y++)
        for (int x = (int) s->x - 2; x <= (int) s->x + 2; x++)
          peak = MAX (peak, res->image->data[y * W + x] - bg);
      for (double r0 = 1.0 * f; r0 < 4.0 * f; r0 += 1.0)
        {
          double sum = 0;
          int n = 0;
          for (int y = (int) (s->y - r0 - 2); y <= (int) (s->y + r0 + 2); y++)
            for (int x = (int) (s->x - r0 - 2); x <= (int) (s->x + r0 + 2); x++)
              {
                double d = hypot (x - s->x, y - s->y);
                if (d >= r0 && d < r0 + 1)
                  {
                    sum += res->image->data[y * W + x];
                    n++;
                  }
              }
          double dip = (bg - sum / n) / peak;
          worst = MAX (worst, dip);
        }
      nring++;
    }
  g_test_message ("ringing: deepest annulus below local background %.4f of the peak (%u bright stars)", worst, nring);
  g_assert_cmpuint (nring, >=, 3);
  /* issue 12: 0.12 % of the peak with ratio^4 and a floor at zero, 1.5–1.6 % with the
   * momentum solver and the pedestal, 0.76 % with the full-wing PSFs and the floor round
   * bright sources (docs/deconv.md) */
  g_assert_cmpfloat (worst, <, 0.01);
  g_free (common);
}

/* Mean excess along the trail over parallel strips, in units of the per-pixel sky noise. */
static double
trail_imprint (const TsrImage *img, double *sigma_out)
{
  int W = img->width, H = img->height;
  const TsrSynthFrame *tf = NULL;
  for (guint i = 0; i < truth->frames->len; i++)
    if (g_array_index (truth->frames, TsrSynthFrame, i).has_trail)
      tf = &g_array_index (truth->frames, TsrSynthFrame, i);
  g_assert_nonnull (tf);
  TsrTransform m = frame_matrix (tf), inv;
  g_assert_true (tsr_transform_invert (&m, &inv));
  double a[2], b[2];
  double sx, sy;
  tsr_transform_apply (&inv, tf->trail[0], tf->trail[1], &sx, &sy);
  sky_to_ref (truth, res->reference, sx, sy, &a[0], &a[1]);
  tsr_transform_apply (&inv, tf->trail[2], tf->trail[3], &sx, &sy);
  sky_to_ref (truth, res->reference, sx, sy, &b[0], &b[1]);
  double dx = b[0] - a[0], dy = b[1] - a[1], len = hypot (dx, dy);
  double nx = -dy / len, ny = dx / len;
  /* pixels near bright truth stars excluded */
  guint8 *starry = g_new0 (guint8, W * H);
  for (guint i = 0; i < truth->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (truth->stars, TsrSynthStar, i);
      if (s->flux < 400)
        continue;
      double rx, ry;
      sky_to_ref (truth, res->reference, s->x, s->y, &rx, &ry);
      int rad = s->flux > 2e4 ? 14 : 8;
      for (int y = (int) ry - rad; y <= (int) ry + rad; y++)
        for (int x = (int) rx - rad; x <= (int) rx + rad; x++)
          if (x >= 0 && y >= 0 && x < W && y < H)
            starry[y * W + x] = 1;
    }
  GArray *on = g_array_new (FALSE, FALSE, sizeof (float)), *off = g_array_new (FALSE, FALSE, sizeof (float));
  for (int y = 16; y < H - 16; y++)
    for (int x = 16; x < W - 16; x++)
      {
        gsize k = (gsize) y * W + x;
        if (starry[k] || !img->mask[k])
          continue;
        double d = (x - a[0]) * nx + (y - a[1]) * ny;
        float v = img->data[k];
        if (fabs (d) <= 1.0)
          g_array_append_val (on, v);
        else if (fabs (d) >= 5 && fabs (d) <= 9)
          g_array_append_val (off, v);
      }
  double mon = 0, moff = 0;
  for (guint i = 0; i < on->len; i++)
    mon += g_array_index (on, float, i);
  for (guint i = 0; i < off->len; i++)
    moff += g_array_index (off, float, i);
  mon /= on->len;
  moff /= off->len;
  float med = tsr_median_inplace ((float *) off->data, off->len);
  float mad = tsr_mad_inplace ((float *) off->data, off->len, med);
  double sigma = TSR_MAD_TO_SIGMA * mad;
  g_assert_cmpuint (on->len, >=, 50);
  g_array_free (on, TRUE);
  g_array_free (off, TRUE);
  g_free (starry);
  *sigma_out = sigma;
  return mon - moff;
}

/* Same input, same output: the default run again with one worker thread instead of two
 * gives the same image bit for bit, the same iteration count and the same statistics (the
 * per-iteration sums used to be added in thread order: 21–24 iterations in identical runs). */
static void
test_reproducible (void)
{
  setup_once ();
  TsrProject p = params;
  p.run.n_threads = 1;
  GError *e = NULL;
  g_autoptr (TsrDeconvResult) again = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (again->iterations, ==, res->iterations);
  g_assert_cmpint (again->early_stopped, ==, res->early_stopped);
  g_assert_cmpint (again->psf_radius, ==, res->psf_radius);
  g_assert_cmpfloat (again->gain, ==, res->gain);
  g_assert_cmpuint (again->stats->len, ==, res->stats->len);
  for (guint i = 0; i < res->stats->len; i++)
    {
      const TsrDeconvIterStats *a = &g_array_index (again->stats, TsrDeconvIterStats, i);
      const TsrDeconvIterStats *b = &g_array_index (res->stats, TsrDeconvIterStats, i);
      g_assert_cmpfloat (a->rel_change, ==, b->rel_change);
      g_assert_cmpfloat (a->momentum, ==, b->momentum);
      g_assert_cmpfloat (a->median_update, ==, b->median_update);
    }
  g_assert_cmpuint (tsr_image_npix (again->image), ==, tsr_image_npix (res->image));
  g_assert_true (memcmp (again->image->data, res->image->data, tsr_image_npix (res->image) * sizeof (float)) == 0);
}

static void
test_trail (void)
{
  setup_once ();
  double sh, sl, sm;
  /* in units of σ, the per-pixel sky noise of the mean stack of the same frames (the
   * deconvolved sky is a skewed non-negative floor whose MAD is no noise measure) */
  double im = trail_imprint (res->mean, &sm);
  double ih = trail_imprint (res->image, &sh) / sm, il = trail_imprint (res_l2->image, &sl) / sm;
  im /= sm;
  g_test_message ("trail imprint (mean excess on the trail / mean-stack sky sigma %.2f ADU): huber %.2f, l2 %.2f, mean stack %.2f",
                  sm, ih, il, im);
  g_assert_cmpfloat (fabs (ih), <, 3.0);
  /* the robust loss is what removes it */
  g_assert_cmpfloat (il, >, ih);
}


/* ---------------------------------------------------------------------------------------
 * Measurement harness (issue 12): every number of the issue on the generated session
 */

typedef struct
{
  double flux_lo[6], flux_hi[6], flux_dec[6], flux_mean[6];
  guint flux_n[6];
  guint n_bins;
  double ext_dec, ext_mean;     /* amplitude of the extended emission / truth */
  double floor_frac;            /* sky pixels at the latent's floor */
  double ring_max, moat_max;    /* largest annulus excess / deficit around bright stars, σ_mean */
  double ring_mid, moat_mid;    /* the same round the stars of 4·10³–2·10⁴ e */
  double sigma_mean;            /* per-pixel sky noise of the mean stack */
  double fwhm_ratio, fwhm_dec, fwhm_mean;
  double psnr_dec, psnr_mean;   /* vs truth at each image's own resolution, flux scale fixed */
  double beta_dec, beta_mean;   /* Moffat β of that resolution, fitted to each image's star cores */
  double ring_ms, moat_ms;      /* the bright stars' ring / moat in the mean stack (its own reference) */
  double trail;                 /* trail imprint, σ_mean */
  guint iterations;
  gboolean early;
} Metrics;

/* Per-pixel sky noise: 1.4826·MAD of horizontal neighbour differences / √2 over sky pixels. */
static double
sky_sigma (const TsrImage *img, const guint8 *sky)
{
  int W = img->width, H = img->height;
  GArray *d = g_array_new (FALSE, FALSE, sizeof (float));
  for (int y = 16; y < H - 16; y++)
    for (int x = 16; x < W - 17; x++)
      {
        gsize k = (gsize) y * W + x;
        if (!sky[k] || !sky[k + 1])
          continue;
        float v = img->data[k + 1] - img->data[k];
        g_array_append_val (d, v);
      }
  float med = tsr_median_inplace ((float *) d->data, d->len);
  double s = TSR_MAD_TO_SIGMA * tsr_mad_inplace ((float *) d->data, d->len, med) / G_SQRT2;
  g_array_free (d, TRUE);
  return s;
}

static double
psnr_fixed (const TsrImage *img, const TsrImage *truth, double scale, const guint8 *common, int border)
{
  int W = truth->width, H = truth->height;
  GArray *dif = g_array_new (FALSE, FALSE, sizeof (float));
  double tmax = 0;
  for (int y = border; y < H - border; y++)
    for (int x = border; x < W - border; x++)
      {
        gsize k = (gsize) y * W + x;
        if (!common[k])
          continue;
        float e = (float) (img->data[k] - scale * truth->data[k]);
        g_array_append_val (dif, e);
        tmax = MAX (tmax, scale * truth->data[k]);
      }
  /* the sky zero of a sky-subtracted image is a convention: the median offset is removed */
  float off = tsr_median_inplace ((float *) dif->data, dif->len);
  double mse = 0;
  for (int y = border; y < H - border; y++)
    for (int x = border; x < W - border; x++)
      {
        gsize k = (gsize) y * W + x;
        if (!common[k])
          continue;
        double e = img->data[k] - scale * truth->data[k] - off;
        mse += e * e;
      }
  guint n = dif->len;
  g_array_free (dif, TRUE);
  return 10 * log10 (tmax * tmax / (mse / n));
}

/* Truth rendered without stars (the extended sources only) at FWHM 1.2, reference geometry. */
static TsrImage *
extended_truth (guint ref, int W, int H)
{
  GArray *saved = g_array_copy (truth->stars);
  g_array_set_size (truth->stars, 0);
  g_autoptr (TsrImage) ext = tsr_synth_render_truth (truth, 1.2);
  g_array_set_size (truth->stars, 0);
  g_array_append_vals (truth->stars, saved->data, saved->len);
  g_array_free (saved, TRUE);
  return truth_in_reference (truth, ref, ext, W, H);
}

/* Truth at an image's resolution: the truth rendered at the image's measured FWHM with the Moffat
 * exponent β that fits the image's own star cores best. The cores are the isolated stars of
 * ≥ 4·10³ e within rmax of their true positions (the ring metric starts at rmax), each star's
 * residual in units of its flux (so every star weighs alike), less the 7–9 FWHM annulus level of
 * both (as the ring metric). β runs from 1.5 (heavy wings) to 60 (a Gaussian to within 10⁻⁸ of
 * the peak at 3 FWHM). The generator's frames are Moffat β = 3 (the mean stack's reads about
 * that); a deconvolution with no target kernel has whatever core its iterations reached, so
 * assuming the frames' family for it would put the frames' wings into the reference. */
#define RING_START 1.5 /* the ring metric from 1.5 frames' median FWHM out; the core inside it */

static TsrImage *
truth_at_resolution (const TsrImage *img, double fwhm, const GArray *iso, double t_ref, double fm, double rcore, guint ref,
                     double *beta_out)
{
  static const double betas[] = { 1.5, 2, 2.5, 3, 4, 6, 10, 25, 60 };
  int W = img->width, H = img->height;
  double saved = truth->params.moffat_beta, best = INFINITY;
  TsrImage *out = NULL;
  *beta_out = NAN;
  for (guint b = 0; b < G_N_ELEMENTS (betas); b++)
    {
      truth->params.moffat_beta = betas[b];
      TsrImage *td = tsr_synth_render_truth (truth, fwhm);
      truth->params.moffat_beta = saved;
      TsrImage *tr = truth_in_reference (truth, ref, td, W, H);
      tsr_image_unref (td);
      double chi = 0;
      for (guint i = 0; i < iso->len; i++)
        {
          const Pt *s = &g_array_index (iso, Pt, i);
          if (s->flux < 4e3 || s->x < 9 * fm || s->y < 9 * fm || s->x > W - 9 * fm || s->y > H - 9 * fm)
            continue;
          double fi = 0, ft = 0;
          int nf = 0;
          for (int y = (int) (s->y - 9 * fm); y <= (int) (s->y + 9 * fm); y++)
            for (int x = (int) (s->x - 9 * fm); x <= (int) (s->x + 9 * fm); x++)
              {
                double d = hypot (x - s->x, y - s->y);
                if (d >= 7 * fm && d < 9 * fm)
                  fi += img->data[(gsize) y * W + x], ft += t_ref * tr->data[(gsize) y * W + x], nf++;
              }
          fi /= MAX (nf, 1), ft /= MAX (nf, 1);
          double F = t_ref * s->flux;
          for (int y = (int) (s->y - rcore) - 1; y <= (int) (s->y + rcore) + 1; y++)
            for (int x = (int) (s->x - rcore) - 1; x <= (int) (s->x + rcore) + 1; x++)
              {
                if (hypot (x - s->x, y - s->y) >= rcore)
                  continue;
                gsize k = (gsize) y * W + x;
                double e = ((img->data[k] - fi) - (t_ref * tr->data[k] - ft)) / F;
                chi += e * e;
              }
        }
      if (g_getenv ("DDEBUG"))
        g_test_message ("truth at FWHM %.3f, Moffat beta %.1f: core chi2 %.4g", fwhm, betas[b], chi);
      if (chi < best)
        {
          best = chi;
          *beta_out = betas[b];
          if (out)
            tsr_image_unref (out);
          out = tr;
        }
      else
        tsr_image_unref (tr);
    }
  return out;
}

static void
ring_profile (const TsrDeconvResult *r, const TsrImage *img, const TsrImage *mean, const TsrImage *tdr, const GArray *iso,
              double r0, double flo, double fhi, double t_ref, double sigma, double *ring, double *moat, const char *label)
{
  int W = img->width, H = img->height;
  *ring = *moat = 0;
  {
    double fm = r->median_fwhm;
    double prof[64] = { 0 }, profi[64] = { 0 }, proft[64] = { 0 };
    int nst = 0, nrad = 0;
    for (guint i = 0; i < iso->len; i++)
      {
        const Pt *s = &g_array_index (iso, Pt, i);
        if (s->flux < flo || s->flux >= fhi || s->x < 9 * fm || s->y < 9 * fm || s->x > W - 9 * fm || s->y > H - 9 * fm)
          continue;
        double sum[64] = { 0 }, far = 0, sumi[64] = { 0 }, sumt[64] = { 0 }, fari = 0, fart = 0;
        int cnt[64] = { 0 }, nfar = 0;
        for (int y = (int) (s->y - 9 * fm); y <= (int) (s->y + 9 * fm); y++)
          for (int x = (int) (s->x - 9 * fm); x <= (int) (s->x + 9 * fm); x++)
            {
              double d = hypot (x - s->x, y - s->y);
              gsize k = (gsize) y * W + x;
              double v = img->data[k] - t_ref * tdr->data[k];
              if (d >= 7 * fm && d < 9 * fm)
                {
                  far += v;
                  fari += img->data[k];
                  fart += t_ref * tdr->data[k];
                  nfar++;
                }
              else if (d >= r0 && d < 7 * fm)
                {
                  int a = (int) (d - r0);
                  sum[a] += v;
                  sumi[a] += img->data[k];
                  sumt[a] += t_ref * tdr->data[k];
                  cnt[a]++;
                }
            }
        far /= MAX (nfar, 1);
        fari /= MAX (nfar, 1);
        fart /= MAX (nfar, 1);
        nrad = (int) (7 * fm - r0);
        for (int a = 0; a < nrad && a < 64; a++)
          {
            prof[a] += cnt[a] ? sum[a] / cnt[a] - far : 0;
            profi[a] += cnt[a] ? sumi[a] / cnt[a] - fari : 0;
            proft[a] += cnt[a] ? sumt[a] / cnt[a] - fart : 0;
          }
        nst++;
      }
    if (g_getenv ("DDEBUG_STAR"))
      for (guint i = 0; i < iso->len; i++)
        {
          const Pt *s = &g_array_index (iso, Pt, i);
          if (s->flux < flo || s->flux >= fhi || s->x < 16 || s->y < 16 || s->x > W - 16 || s->y > H - 16)
            continue;
          double in = 0, out = 0, far2 = 0;
          int ni = 0, no = 0, nf = 0;
          for (int y = (int) s->y - 15; y <= (int) s->y + 15; y++)
            for (int x = (int) s->x - 15; x <= (int) s->x + 15; x++)
              {
                double d = hypot (x - s->x, y - s->y);
                double v = img->data[(gsize) y * W + x] - t_ref * tdr->data[(gsize) y * W + x];
                if (d >= 3 && d < 5) { in += v; ni++; }
                else if (d >= 6 && d < 8) { out += v; no++; }
                else if (d >= 11 && d < 15) { far2 += v; nf++; }
              }
          g_test_message ("%s star %.2f %.2f flux %.0f: frac %.2f %.2f, img-truth 3-5 px %.1f, 6-8 px %.1f (far %.1f)", label,
                          s->x, s->y, s->flux, s->x - floor (s->x), s->y - floor (s->y), in / ni - far2 / nf, out / no - far2 / nf, far2 / nf);
        }
    if (g_getenv ("DDEBUG_CORE"))
      for (guint i = 0; i < iso->len; i++)
        {
          const Pt *s = &g_array_index (iso, Pt, i);
          if (s->flux < flo || s->flux >= fhi || s->x < 9 * fm || s->y < 9 * fm || s->x > W - 9 * fm || s->y > H - 9 * fm)
            continue;
          double sx = 0, sy = 0, sw = 0, tx = 0, ty = 0, tw = 0;
          for (int y = (int) s->y - 2; y <= (int) s->y + 3; y++)
            for (int x = (int) s->x - 2; x <= (int) s->x + 3; x++)
              {
                double v = MAX (img->data[(gsize) y * W + x], 0), t = tdr->data[(gsize) y * W + x];
                sx += v * x, sy += v * y, sw += v, tx += t * x, ty += t * y, tw += t;
              }
          g_test_message ("%s star %.2f %.2f: image centroid offset %+.2f %+.2f, truth image %+.2f %+.2f", label, s->x, s->y,
                          sx / sw - s->x, sy / sw - s->y, tx / tw - s->x, ty / tw - s->y);
        }
    if (g_getenv ("DDEBUG_CORE"))
      for (int a = 0; a < 14; a++)
        {
          double si = 0, sm = 0, stt = 0;
          int n = 0;
          for (guint i = 0; i < iso->len; i++)
            {
              const Pt *s = &g_array_index (iso, Pt, i);
              if (s->flux < flo || s->flux >= fhi || s->x < 9 * fm || s->y < 9 * fm || s->x > W - 9 * fm || s->y > H - 9 * fm)
                continue;
              for (int y = (int) (s->y - 15); y <= (int) (s->y + 15); y++)
                for (int x = (int) (s->x - 15); x <= (int) (s->x + 15); x++)
                  {
                    double d = hypot (x - s->x, y - s->y);
                    if (d < a || d >= a + 1)
                      continue;
                    gsize k = (gsize) y * W + x;
                    si += img->data[k];
                    sm += mean->data[k];
                    stt += t_ref * tdr->data[k];
                    n++;
                  }
            }
          g_test_message ("%s core profile r %d–%d: image %.1f mean %.1f truth %.1f (σ_mean %.2f)", label, a, a + 1, si / n, sm / n,
                          stt / n, sigma);
        }
    for (int a = 0; a < nrad && a < 64 && nst > 0; a++)
      {
        double v = prof[a] / nst / sigma;
        if (g_getenv ("DDEBUG"))
          g_test_message ("%s ring profile r = %.1f px: %+.2f σ (image %+.2f, truth %+.2f)", label, r0 + a + 0.5, v,
                          profi[a] / nst / sigma, proft[a] / nst / sigma);
        *ring = MAX (*ring, v);
        *moat = MAX (*moat, -v);
      }
  }
}

static void
measure (const TsrDeconvResult *r, Metrics *m)
{
  memset (m, 0, sizeof *m);
  const TsrImage *img = r->image, *mean = r->mean;
  int W = img->width, H = img->height;
  GError *e = NULL;
  g_autofree char *tpath = g_build_filename (dir, "truth", "truth-sharp.fits", NULL);
  g_autoptr (TsrImage) tsharp = tsr_fits_read (tpath, &e);
  g_assert_no_error (e);
  g_autoptr (TsrImage) tref = truth_in_reference (truth, r->reference, tsharp, W, H);
  g_autoptr (TsrImage) ext = extended_truth (r->reference, W, H);
  double t_ref = g_array_index (truth->frames, TsrSynthFrame, r->reference).transparency;
  /* star mask: truth star light (truth − extended) above 0.2 e, dilated by 3 px; and all
   * pixels within 14 px of the brightest stars */
  guint8 *starry = g_new0 (guint8, W * H), *sky = g_new0 (guint8, W * H), *common = g_new0 (guint8, W * H);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        gsize k = (gsize) y * W + x;
        if (tref->data[k] - ext->data[k] > 0.2)
          for (int yy = MAX (0, y - 3); yy <= MIN (H - 1, y + 3); yy++)
            for (int xx = MAX (0, x - 3); xx <= MIN (W - 1, x + 3); xx++)
              starry[(gsize) yy * W + xx] = 1;
      }
  for (guint i = 0; i < truth->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (truth->stars, TsrSynthStar, i);
      if (s->flux < 2e4)
        continue;
      double rx, ry;
      sky_to_ref (truth, r->reference, s->x, s->y, &rx, &ry);
      for (int y = (int) ry - 14; y <= (int) ry + 14; y++)
        for (int x = (int) rx - 14; x <= (int) rx + 14; x++)
          if (x >= 0 && y >= 0 && x < W && y < H)
            starry[y * W + x] = 1;
    }
  for (gsize k = 0; k < (gsize) W * H; k++)
    {
      common[k] = img->mask[k] && mean->mask[k] && tref->mask[k];
      sky[k] = common[k] && !starry[k] && ext->data[k] < 1.0;
    }
  m->sigma_mean = sky_sigma (mean, sky);

  /* flux of isolated stars per truth-flux bin: aperture 2.5 FWHM on the image and on the truth
   * (so neighbours' and extended light count the same in both) */
  static const double edges[] = { 1500, 4000, 1e4, 3e4, 1e7 };
  m->n_bins = G_N_ELEMENTS (edges) - 1;
  g_autoptr (GArray) iso = isolated_stars (truth, r->reference, W, H, 11, 20);
  double ap = 2.5 * r->median_fwhm;
  for (guint i = 0; i < iso->len; i++)
    {
      const Pt *s = &g_array_index (iso, Pt, i);
      for (guint b = 0; b < m->n_bins; b++)
        if (s->flux * t_ref >= edges[b] && s->flux * t_ref < edges[b + 1])
          {
            double ft = t_ref * aperture (tref, s->x, s->y, ap, NULL);
            m->flux_dec[b] += aperture (img, s->x, s->y, ap, NULL);
            m->flux_mean[b] += aperture (mean, s->x, s->y, ap, NULL);
            m->flux_lo[b] += ft;   /* truth sum, divided below */
            if (g_getenv ("DDEBUG"))
              g_test_message ("star %.1f %.1f truth %.0f ap %.0f mean %.0f deconv %.0f", s->x, s->y, s->flux * t_ref, ft,
                              aperture (mean, s->x, s->y, ap, NULL), aperture (img, s->x, s->y, ap, NULL));
            m->flux_n[b]++;
          }
    }
  for (guint b = 0; b < m->n_bins; b++)
    {
      double t = m->flux_lo[b];
      m->flux_dec[b] = m->flux_n[b] ? m->flux_dec[b] / t : NAN;
      m->flux_mean[b] = m->flux_n[b] ? m->flux_mean[b] / t : NAN;
      m->flux_lo[b] = edges[b];
      m->flux_hi[b] = edges[b + 1];
    }

  /* extended emission: least-squares img = a + b·ext over star-free pixels (3×3 box means) */
  for (int pass = 0; pass < 2; pass++)
    {
      const TsrImage *im = pass ? mean : img;
      double S = 0, Sx = 0, Sy = 0, Sxx = 0, Sxy = 0;
      for (int y = 20; y < H - 20; y++)
        for (int x = 20; x < W - 20; x++)
          {
            gsize k = (gsize) y * W + x;
            if (!common[k] || starry[k])
              continue;
            double v = 0;
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                v += im->data[k + dy * W + dx];
            v /= 9;
            double t = t_ref * ext->data[k];
            S++;
            Sx += t;
            Sy += v;
            Sxx += t * t;
            Sxy += t * v;
          }
      double b = (S * Sxy - Sx * Sy) / (S * Sxx - Sx * Sx);
      if (pass)
        m->ext_mean = b;
      else
        m->ext_dec = b;
    }

  /* sky pixels at the floor: within 0.05 σ of the image's minimum */
  {
    float mn = INFINITY;
    for (gsize k = 0; k < (gsize) W * H; k++)
      if (common[k])
        mn = MIN (mn, img->data[k]);
    guint n = 0, at = 0;
    for (gsize k = 0; k < (gsize) W * H; k++)
      if (sky[k])
        {
          n++;
          at += img->data[k] <= mn + 0.05 * m->sigma_mean;
        }
    m->floor_frac = (double) at / MAX (n, 1u);
  }

  /* FWHM and PSNR against the truth at each image's own resolution, flux scale fixed */
  guint nm;
  m->fwhm_ratio = fwhm_ratio (img, mean, &m->fwhm_dec, &m->fwhm_mean, &nm);
  g_autoptr (TsrImage) tdr = NULL;
  {
    tdr = truth_at_resolution (img, m->fwhm_dec, iso, t_ref, r->median_fwhm, RING_START * r->median_fwhm, r->reference, &m->beta_dec);
    g_autoptr (TsrImage) tmr = truth_at_resolution (mean, m->fwhm_mean, iso, t_ref, r->median_fwhm, RING_START * r->median_fwhm,
                                                    r->reference, &m->beta_mean);
    m->psnr_dec = psnr_fixed (img, tdr, t_ref, common, 16);
    m->psnr_mean = psnr_fixed (mean, tmr, t_ref, common, 16);
    ring_profile (r, mean, mean, tmr, iso, RING_START * r->median_fwhm, 2e4, 1e12, t_ref, m->sigma_mean, &m->ring_ms, &m->moat_ms,
                  "mean-stack bright");
  }
  /* rings and moats: 1-px annuli from 1.5 frames' median FWHM (the core inside) to 7 of them
   * around bright isolated stars (truth flux ≥ 2·10⁴ e), mean of (image − t_ref·truth at the image's
   * resolution: truth_at_resolution) against the same between 7 and 9 of them, in σ_mean; averaged over the stars (the annulus mean of one star
   * carries noise σ/√n). The same for the stars of 4·10³–2·10⁴ e (moat_mid, ring_mid): below
   * the floor's cores they are where the unconstrained solution's ringing shows */
  ring_profile (r, img, mean, tdr, iso, RING_START * r->median_fwhm, 2e4, 1e12, t_ref, m->sigma_mean, &m->ring_max, &m->moat_max, "bright");
  ring_profile (r, img, mean, tdr, iso, RING_START * r->median_fwhm, 4e3, 2e4, t_ref, m->sigma_mean, &m->ring_mid, &m->moat_mid, "mid");

  double st;
  m->trail = trail_imprint (img, &st) / m->sigma_mean;
  m->iterations = r->iterations;
  m->early = r->early_stopped;
  g_free (starry);
  g_free (sky);
  g_free (common);
}

static void
print_metrics (const char *label, const Metrics *m)
{
  for (guint b = 0; b < m->n_bins; b++)
    g_test_message ("%s: flux %6.0f–%-8.0f (%2u stars): deconv/truth %.4f  mean/truth %.4f", label, m->flux_lo[b],
                    m->flux_hi[b], m->flux_n[b], m->flux_dec[b], m->flux_mean[b]);
  g_test_message ("%s: extended amplitude deconv %.3f mean %.3f; sky at floor %.2f %%; ring %.2f σ moat %.2f σ "
                  "(σ_mean %.2f), 4k–20k e stars ring %.2f σ moat %.2f σ; FWHM %.3f/%.3f = %.3f; PSNR deconv %.2f dB mean %.2f dB (+%.2f); trail %.2f σ; "
                  "iterations %u%s; truth at the resolution of the deconvolved / mean image: Moffat beta %.1f / %.1f; "
                  "mean stack's bright stars ring %.2f σ moat %.2f σ",
                  label, m->ext_dec, m->ext_mean, 100 * m->floor_frac, m->ring_max, m->moat_max, m->sigma_mean,
                  m->ring_mid, m->moat_mid, m->fwhm_dec, m->fwhm_mean, m->fwhm_ratio, m->psnr_dec, m->psnr_mean, m->psnr_dec - m->psnr_mean,
                  m->trail, m->iterations, m->early ? " (early stop)" : "", m->beta_dec, m->beta_mean,
                  m->ring_ms, m->moat_ms);
}

static void
test_wcs_sr (void)
{
  TsrHeader *h = tsr_header_new ();
  tsr_header_set_double (h, "CRPIX1", 100.5, NULL);
  tsr_header_set_double (h, "CRPIX2", 1.0, NULL);
  tsr_header_set_double (h, "CD1_1", -2e-4, NULL);
  tsr_header_set_double (h, "CD2_2", 3e-4, NULL);
  tsr_deconv_scale_wcs (h, 2);
  double v;
  g_assert_true (tsr_header_get_double (h, "CRPIX1", &v) && fabs (v - 200.5) < 1e-9);
  g_assert_true (tsr_header_get_double (h, "CRPIX2", &v) && fabs (v - 1.5) < 1e-9);
  g_assert_true (tsr_header_get_double (h, "CD1_1", &v) && fabs (v + 1e-4) < 1e-15);
  g_assert_true (tsr_header_get_double (h, "CD2_2", &v) && fabs (v - 1.5e-4) < 1e-15);
  g_assert_false (tsr_header_has (h, "CDELT1"));
  tsr_header_free (h);
}

static void
test_harness (void)
{
  setup_once ();
  Metrics m;
  measure (res, &m);
  print_metrics ("default", &m);
  if (g_getenv ("HARNESS_ONLY"))
    return;
  /* what issue 12 changed (before: 75 % of the sky at the floor, faint stars +14 %, early stop
   * never fired); the targets not met yet are in docs/deconv.md */
  g_assert_cmpfloat (m.floor_frac, <, 0.01);
  g_assert_cmpfloat (m.ext_dec, >=, 0.95);
  g_assert_cmpfloat (m.fwhm_ratio, <=, 0.65);
  g_assert_cmpfloat (fabs (m.trail), <, 3);
  /* every flux bin within 2 % of the truth (issue 12): 0.9892 / 1.0030 / 1.0170 / 0.9937 with the
   * frames' scales fitted to the model (deconv.fit_scale) and the geometric extrapolation (the
   * additive one: 0.938 / 0.966 / 1.011 / 0.996); 80 plain MM iterations: 0.992 / 0.995 / 1.013 / 0.994 */
  for (guint b = 0; b < m.n_bins; b++)
    g_assert_cmpfloat (fabs (m.flux_dec[b] - 1), <, 0.02);
  g_assert_true (m.early);
  /* rings and moats (issue 12: 8.8/8.3 σ before the PSF wings and the floor round bright sources).
   * The deconvolution of a point source rings as deep as the latent's lower bound allows (exact
   * PSF, exact scales, noise-free frames alike: docs/deconv.md, eighth session); the floors hold
   * the annulus means round every source above deconv.faint_floor σ at the local sky. 4·10³–2·10⁴ e
   * stars: ring 0.24 σ, moat 0.77 σ (2.63 / 1.03 before, −26 e at 3–5 px now −3 e). Bright stars:
   * ring 0.49 σ; the image is flat at the local sky from 3 to 10 px, and the 1.38 σ "moat" at 5.6 px
   * is the reference's wing (truth rendered as a Moffat β = 3 at the image's FWHM: +0.28 σ there,
   * the compact deconvolved core has none; image −1.09 σ, as flat as at 7.6 px where the truth reads
   * −1.06 σ too) */
  g_assert_cmpfloat (m.ring_max, <, 1.0);
  g_assert_cmpfloat (m.moat_max, <, 1.0);
  g_assert_cmpfloat (m.ring_mid, <, 1.0);
  g_assert_cmpfloat (m.moat_mid, <, 1.0);
  /* the reference is the truth at each image's resolution (truth_at_resolution): the mean stack's
   * cores pick the generator's Moffat β = 3 and the mean stack reads no ring or moat against it;
   * the deconvolved cores pick the Gaussian end (β = 60: β = 3 at the same FWHM fits them 2× worse) */
  g_assert_cmpfloat (fabs (m.beta_mean - 3), <, 1.01);
  g_assert_cmpfloat (m.ring_ms, <, 1.0);
  g_assert_cmpfloat (m.moat_ms, <, 1.0);
  g_assert_cmpfloat (m.psnr_dec - m.psnr_mean, >, 6.0);
  /* the metric sees a moat and a ring that are there: 1.5 σ_mean taken from the 6–8 px annuli and
   * added to the 10–12 px annuli round the bright stars */
  {
    TsrDeconvResult fake = *res;
    fake.image = tsr_image_copy (res->image);
    g_autoptr (GArray) iso = isolated_stars (truth, res->reference, res->image->width, res->image->height, 11, 20);
    int W = res->image->width;
    for (guint i = 0; i < iso->len; i++)
      {
        const Pt *s = &g_array_index (iso, Pt, i);
        if (s->flux < 2e4)
          continue;
        for (int y = (int) s->y - 13; y <= (int) s->y + 13; y++)
          for (int x = (int) s->x - 13; x <= (int) s->x + 13; x++)
            {
              if (x < 0 || y < 0 || x >= W || y >= res->image->height)
                continue;
              double d = hypot (x - s->x, y - s->y);
              if (d >= 6 && d < 8)
                fake.image->data[(gsize) y * W + x] -= 1.5 * m.sigma_mean;
              else if (d >= 10 && d < 12)
                fake.image->data[(gsize) y * W + x] += 1.5 * m.sigma_mean;
            }
      }
    Metrics f;
    measure (&fake, &f);
    print_metrics ("1.5 σ moat and ring put in", &f);
    g_assert_cmpfloat (f.moat_max, >, 1.2);
    g_assert_cmpfloat (f.ring_max, >, 1.2);
    tsr_image_unref (fake.image);
  }
  /* the flux anchor (deconv.flux_anchor) measures the result against the mean stack on isolated
   * stars (5 here, mean stack / model 1.0114 ± 0.0097): within its 2 standard errors of 1 it is
   * not applied, and the result keeps the fitted scales' level that the flux bins above check
   * against the truth (applied, two bins read 1.0214 and 1.0226) */
  g_assert_cmpuint (res->n_anchor_stars, >=, 5);
  g_assert_cmpfloat (fabs (res->anchor_ratio - 1), <, 0.03);
  g_assert_cmpfloat (res->anchor_se, <, 0.02);
  g_assert_cmpfloat (res->flux_anchor[0], ==, 1.0);
  /* κ bounds the change between successive iterates, extrapolation included */
  for (guint i = 0; i < res->stats->len; i++)
    g_assert_cmpfloat (g_array_index (res->stats, TsrDeconvIterStats, i).max_step, <=, params.deconv.kappa * (1 + 1e-5));
}

/* A tiny change of a parameter gives a nearby result (issue 12: δ = −2.5 / −2.4999 / −2.5003 gave
 * faint-star flux 1.003 / 0.978 / 0.960 — the padding's round-off ratios drove the momentum) */
static void
test_stable (void)
{
  setup_once ();
  TsrProject p = params;
  p.deconv.delta = params.deconv.delta * (1 - 4e-5);
  GError *e = NULL;
  g_autoptr (TsrDeconvResult) r2 = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  Metrics a, b;
  measure (res, &a);
  measure (r2, &b);
  print_metrics ("delta × (1 − 4e-5)", &b);
  for (guint k = 0; k < a.n_bins; k++)
    {
      g_test_message ("bin %u: %.5f vs %.5f", k, a.flux_dec[k], b.flux_dec[k]);
      g_assert_cmpfloat (fabs (b.flux_dec[k] / a.flux_dec[k] - 1), <, 0.005);
    }
  g_assert_cmpfloat (fabs (b.moat_max - a.moat_max), <, 0.05);
}

/* Without the second floor tier (deconv.faint_floor = 0, the default before the eighth session)
 * the 4·10³–2·10⁴ e stars ring (measured 2.40 / 1.27 σ): the guard above fails without it, so it
 * is the floor that holds them. */
static void
test_faint_floor (void)
{
  setup_once ();
  TsrProject p = params;
  p.deconv.faint_floor = 0;
  GError *e = NULL;
  g_autoptr (TsrDeconvResult) r2 = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  debug_sha1 ("faint_floor=0", r2->image);
  Metrics m;
  measure (r2, &m);
  print_metrics ("faint_floor=0", &m);
  g_assert_cmpfloat (m.ring_mid, >, 1.5);
}

/* Saturated stars (issue 12, M94: a drained core and a coloured ring round it): pixels above
 * stars.saturation leave the data term; the brightest star of the generated session declared
 * saturated must come out with the mean stack's flux and profile, not drained (before the blend
 * into the seed the masked core kept about half its flux on M94) */
static void
test_saturated (void)
{
  setup_once ();
  int W = res->mean->width;
  gsize kmax = 0;
  for (gsize k = 0; k < tsr_image_npix (res->mean); k++)
    if (res->mean->mask[k] && (int) (k % W) >= 24 && (int) (k % W) < W - 24 && (int) (k / W) >= 24
        && (int) (k / W) < res->mean->height - 24 && (kmax == 0 || res->mean->data[k] > res->mean->data[kmax]))
      kmax = k;
  double x0 = (double) (kmax % W), y0 = (double) (kmax / W), peak = res->mean->data[kmax];
  TsrProject p = params;
  p.tbqr.reg.stars.saturation = res->sky_level + 0.3 * peak;
  GError *e = NULL;
  g_autoptr (TsrDeconvResult) r2 = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  debug_sha1 ("saturated", r2->image);
  gint64 nc = 0;
  g_assert_true (tsr_header_get_int (r2->image->header, "MF_SATC", &nc));
  g_assert_cmpint (nc, ==, r2->n_saturated_cores);
  g_assert_cmpuint (r2->n_saturated, >, 0);
  g_assert_cmpuint (r2->n_saturated_cores, >=, 1);
  double ap = 3 * res->median_fwhm;
  double fm = aperture (r2->mean, x0, y0, ap, NULL), fd = aperture (r2->image, x0, y0, ap, NULL);
  double fm1 = aperture (r2->mean, x0, y0, 1.0, NULL), fd1 = aperture (r2->image, x0, y0, 1.0, NULL);
  g_test_message ("saturated star at (%.0f, %.0f), level %.0f: %u cores, %" G_GUINT64_FORMAT " pixels masked; "
                  "aperture %.1f px deconv/mean %.4f, core (1 px) %.4f", x0, y0, p.tbqr.reg.stars.saturation,
                  r2->n_saturated_cores, r2->n_saturated, ap, fd / fm, fd1 / fm1);
  g_assert_cmpfloat (fabs (fd / fm - 1), <, 0.03);
  g_assert_cmpfloat (fabs (fd1 / fm1 - 1), <, 0.15);
  /* the rest of the image is deconvolved as before: a star far from it is as sharp */
  g_assert_cmpuint (r2->iterations, >=, 3);
}

typedef struct
{
  guint calls;
  guint cancel_at;
  GCancellable *c;
} IterCount;

static gboolean
count_iter (const TsrImage *latent, const TsrDeconvIterStats *st, gpointer data)
{
  IterCount *ic = data;
  ic->calls++;
  g_assert_cmpuint (st->iteration, ==, ic->calls);
  g_assert_nonnull (latent);
  if (ic->cancel_at && ic->calls == ic->cancel_at)
    g_cancellable_cancel (ic->c);
  return TRUE;
}

static void
test_tiling_and_cancel (void)
{
  setup_once ();
  /* l2 (no per-tile δ): small tiles give the same latent as one tile */
  TsrProject p = params;
  p.deconv.rho = TSR_RHO_L2;
  /* the tiling geometry is checked with plain MM steps: with deconv.solver=momentum the tiled
   * and whole runs differ by up to 0.3 % of the peak after 4 iterations (issue 12, open) */
  p.deconv.solver = TSR_DECONV_SOLVER_PLAIN;
  p.deconv.iterations = 4;
  p.deconv.early_stop = FALSE;
  TsrDeconvOptions o;
  tsr_deconv_options_init (&o);
  GError *e = NULL;
  IterCount ic = { 0 };
  g_autoptr (TsrDeconvResult) whole = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, &o, count_iter, &ic, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (ic.calls, ==, 4);
  o.tile = 56;
  g_autoptr (TsrDeconvResult) tiled = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, &o, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tiled->n_tiles, >, 20);
  double maxd = 0, maxv = 0;
  for (gsize k = 0; k < tsr_image_npix (whole->image); k++)
    {
      maxd = MAX (maxd, fabs (whole->image->data[k] - tiled->image->data[k]));
      maxv = MAX (maxv, fabs (whole->image->data[k]));
    }
  g_test_message ("tiled (%u tiles) vs whole: max difference %.3g of max %.3g", tiled->n_tiles, maxd, maxv);
  g_assert_cmpfloat (maxd, <, 1e-4 * maxv);
  /* the tiles' staged pixels read as whole image rows (one pread per plane and tile, the rows
   * strided by the image width) or row by row (strided by the tile's width): the same image bit
   * for bit. The block reads cover the tiles here (the image is ≤ 512 px wider than a tile) */
  o.row_reads = TRUE;
  g_autoptr (TsrDeconvResult) rows = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, &o, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (rows->n_tiles, ==, tiled->n_tiles);
  g_assert_cmpmem (rows->image->data, tsr_image_npix (rows->image) * sizeof (float), tiled->image->data,
                   tsr_image_npix (tiled->image) * sizeof (float));
  /* the tiled and whole runs held the staged frames in memory (the default budget has room), the
   * row reads did not; the whole run reading them from disk at every visit: the same bits, and a
   * planner estimate smaller by the frames' staged samples */
  g_assert_true (whole->resident && tiled->resident);
  g_assert_false (rows->resident);
  o.row_reads = FALSE;
  o.tile = 0;
  o.no_resident = TRUE;
  g_autoptr (TsrDeconvResult) disk = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, &o, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_false (disk->resident);
  g_assert_cmpuint (disk->n_tiles, ==, whole->n_tiles);
  g_assert_cmpuint (disk->memory_estimate, <, whole->memory_estimate);
  g_assert_cmpmem (disk->image->data, tsr_image_npix (disk->image) * sizeof (float), whole->image->data,
                   tsr_image_npix (whole->image) * sizeof (float));
  o.no_resident = FALSE;
  o.tile = 56;

  /* cancel after the second iteration: G_IO_ERROR_CANCELLED, staging folder emptied */
  g_autofree char *stage = g_build_filename (dir, "stage", NULL);
  g_mkdir_with_parents (stage, 0755);
  o.tile = 0;
  o.stage_dir = stage;
  IterCount cc = { 0, 2, g_cancellable_new () };
  TsrDeconvResult *none = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, &o, count_iter, &cc, NULL, NULL, cc.c, &e);
  g_assert_null (none);
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
  g_object_unref (cc.c);
  GDir *d = g_dir_open (stage, 0, NULL);
  g_assert_null (g_dir_read_name (d));
  g_dir_close (d);

  /* a budget too small is a clear error */
  p.deconv.memory_mb = 32;
  p.deconv.sr = 3;
  g_autoptr (TsrDeconvResult) big = tsr_deconv_run (session, &p.deconv, &p.tbqr, &p.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  if (!big)
    {
      g_assert_error (e, TSR_ERROR, TSR_ERROR_TOO_LARGE);
      g_clear_error (&e);
    }
  else
    g_assert_cmpuint (big->memory_estimate, <=, 32u * 1024 * 1024);
}

/* ---------------------------------------------------------------------------------------
 * Super-resolution: undersampled stars, a close pair
 */

/* Depth of the dip between two points along their line, relative to the fainter peak
 * (1 = no dip). Coordinates in image pixels; img is on a grid r× finer. */
static double
pair_dip (const TsrImage *img, int r, double x0, double y0, double x1, double y1)
{
  int W = img->width;
  double p0 = 0, p1 = 0, mid = INFINITY;
  for (int i = -10; i <= 30; i++)
    {
      double t = i / 20.0;
      double x = x0 + t * (x1 - x0), y = y0 + t * (y1 - y0);
      double fx = r * (x + 0.5) - 0.5, fy = r * (y + 0.5) - 0.5;
      int ix = (int) floor (fx), iy = (int) floor (fy);
      double ax = fx - ix, ay = fy - iy;
      const float *d = img->data;
      double v = (1 - ay) * ((1 - ax) * d[iy * W + ix] + ax * d[iy * W + ix + 1])
                 + ay * ((1 - ax) * d[(iy + 1) * W + ix] + ax * d[(iy + 1) * W + ix + 1]);
      if (t >= -0.3 && t <= 0.3)
        p0 = MAX (p0, v);
      else if (t >= 0.7 && t <= 1.3)
        p1 = MAX (p1, v);
      else if (t > 0.3 && t < 0.7)
        mid = MIN (mid, v);
    }
  return mid / MIN (p0, p1);
}

static void
test_super_resolution (void)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 20;
  p.width = 160;
  p.height = 144;
  p.seed = g_getenv ("SR_SEED") ? g_ascii_strtoull (g_getenv ("SR_SEED"), NULL, 10) : 9;
  p.n_stars = 90;
  p.fwhm_min = 1.5;
  p.fwhm_max = 1.7;
  p.field_psf = 0;
  p.n_bursts = 0;
  p.n_trails = 0;
  p.n_mirrored = 0;
  p.n_noise = 0;
  p.shift_max = 8;
  p.rotation_max_deg = 0.3;
  p.oversample = 5;
  p.extended = FALSE;
  p.sky_drift = 0;
  p.transparency_drop = 0;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
  /* a close pair, 1.75 px apart (about one FWHM), in the reference (frame 0) */
  const double rx0 = 80.15, ry0 = 72.0, sep = g_getenv ("SR_SEP") ? g_ascii_strtod (g_getenv ("SR_SEP"), NULL) : 1.75;
  TsrTransform m = frame_matrix (&g_array_index (t->frames, TsrSynthFrame, 0)), inv;
  g_assert_true (tsr_transform_invert (&m, &inv));
  for (int k = 0; k < 2; k++)
    {
      TsrSynthStar s = { 0 };
      tsr_transform_apply (&inv, rx0 + k * sep, ry0, &s.x, &s.y);
      s.flux = 60000;
      s.color[0] = s.color[1] = s.color[2] = 1;
      g_array_append_val (t->stars, s);
    }
  g_autofree char *sdir = tsr_test_tmpdir ("deconv-sr");
  GError *e = NULL;
  for (guint i = 0; i < p.n_frames; i++)
    {
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, i, !g_getenv ("SR_NOISELESS"));
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      tsr_header_set_string (img->header, "DATE-OBS", f->date_obs, NULL);
      g_autofree char *path = g_build_filename (sdir, f->file, NULL);
      g_assert_true (tsr_fits_write (path, img, NULL, &e));
      g_assert_no_error (e);
    }
  if (g_getenv ("DDEBUG"))
    for (guint i = 0; i < 6; i++)
      {
        TsrTransform mi = frame_matrix (&g_array_index (t->frames, TsrSynthFrame, i)), ti;
        tsr_transform_compose (&mi, &inv, &ti);
        double fx, fy;
        tsr_transform_apply (&ti, p.width / 2, p.height / 2, &fx, &fy);
        g_printerr ("true frame %u: centre -> %.3f %.3f\n", i, fx, fy);
      }
  const char *paths[] = { sdir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrProject pp;
  tsr_project_init (&pp);
  pp.tbqr.reg.reference = 0;
  pp.run.n_threads = 2;
  /* SR needs many iterations (docs/deconv.md); both grids get the same count */
  pp.deconv.iterations = 100;
  pp.deconv.early_stop = FALSE;
  /* the camera gain the generator used (e-/ADU), as a user with a known camera gain sets it:
   * the variance model then includes the stars' Poisson noise (at this separation and
   * iteration count the default gain = 0 passes too: docs/deconv.md) */
  pp.deconv.gain = p.gain;
  if (g_getenv ("DSET"))
    {
      g_auto (GStrv) sv = g_strsplit (g_getenv ("DSET"), ",", -1);
      for (guint i = 0; sv[i]; i++)
        g_assert_true (tsr_project_set_assignment (&pp, sv[i], NULL));
    }
  g_autoptr (TsrDeconvResult) r1 = tsr_deconv_run (s, &pp.deconv, &pp.tbqr, &pp.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  pp.deconv.sr = 2;
  g_autoptr (TsrDeconvResult) r2 = tsr_deconv_run (s, &pp.deconv, &pp.tbqr, &pp.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (r1->reference, ==, 0);
  g_assert_cmpint (r2->image->width, ==, 2 * p.width);
  g_assert_cmpint (r2->image->height, ==, 2 * p.height);
  double d1 = pair_dip (r1->image, 1, rx0, ry0, rx0 + sep, ry0);
  double d2 = pair_dip (r2->image, 2, rx0, ry0, rx0 + sep, ry0);
  double dm = pair_dip (r1->mean, 1, rx0, ry0, rx0 + sep, ry0);
  g_test_message ("close pair (%.2f px, FWHM %.2f): valley/fainter peak — mean %.3f, native deconv %.3f, 2x SR deconv %.3f",
                  sep, r1->median_fwhm, dm, d1, d2);
  if (g_getenv ("DDEBUG"))
    for (int yy = 72 - 2; yy <= 72 + 2; yy++)
      {
        GString *row = g_string_new (NULL);
        for (int xx = 80 - 3; xx <= 82 + 3; xx++)
          g_string_append_printf (row, "%7.0f", r1->image->data[yy * r1->image->width + xx]);
        g_string_append (row, "   |");
        for (int xx = 80 - 3; xx <= 82 + 3; xx++)
          g_string_append_printf (row, "%7.0f", r1->mean->data[yy * r1->image->width + xx]);
        g_test_message ("%s", row->str);
        g_string_free (row, TRUE);
      }
  if (g_getenv ("DDEBUG"))
    for (int yy = 2 * 72 - 3; yy <= 2 * 72 + 4; yy++)
      {
        GString *row = g_string_new (NULL);
        for (int xx = 2 * 80 - 4; xx <= 2 * 82 + 4; xx++)
          g_string_append_printf (row, "%7.0f", r2->image->data[yy * r2->image->width + xx]);
        g_test_message ("%s", row->str);
        g_string_free (row, TRUE);
      }
  write_png (r2->image, "sr2.png", 0, 6000);
  write_png (r1->image, "sr1.png", 0, 6000);
  /* a valley at most 80 % of the fainter peak on the 2× grid, none (≥ 0.9) on the native
   * grid: same frames, same iterations, same settings except deconv.sr. With noise this
   * holds for the generated session of seed 9 (and 1, 3, 4) but not for every seed: with
   * seeds 2 and 5 the 2× grid stays near 0.9 at 100 iterations (docs/deconv.md). */
  g_assert_cmpfloat (d1, >=, 0.9);
  g_assert_cmpfloat (d2, <=, 0.8);
  tsr_test_rmtree (sdir);
}

/* ---------------------------------------------------------------------------------------
 * Real data
 */

/* Robust per-pixel noise of a channel in the sky: 1.4826·MAD of horizontal neighbour
 * differences / √2 over pixels that the reference image marks as sky (below median + 2σ,
 * and likewise for the neighbour), also for the R − G chroma; on bin × bin sums (1: pixels). */
static void
sky_noise (const TsrImage *img, const TsrImage *ref, int bin, double *noise_g, double *noise_rg)
{
  int W = img->width / bin, H = img->height / bin, IW = img->width;
  gsize n = (gsize) W * H;
  float *rg = g_new0 (float, n), *R = g_new0 (float, n), *G = g_new0 (float, n);
  guint8 *ok = g_new (guint8, n);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        gsize k = (gsize) y * W + x;
        ok[k] = 1;
        for (int dy = 0; dy < bin; dy++)
          for (int dx = 0; dx < bin; dx++)
            {
              gsize q = (gsize) (y * bin + dy) * IW + x * bin + dx;
              rg[k] += tsr_image_plane (ref, 1)[q];
              R[k] += tsr_image_plane (img, 0)[q];
              G[k] += tsr_image_plane (img, 1)[q];
              ok[k] &= ref->mask[q] && img->mask[q];
            }
      }
  gsize step = MAX ((gsize) 1, n / 400000);
  float *v = g_new (float, n / step + 1);
  gsize m = 0;
  for (gsize k = 0; k < n; k += step)
    if (ok[k])
      v[m++] = rg[k];
  float med = tsr_median_inplace (v, m), sig = TSR_MAD_TO_SIGMA * tsr_mad_inplace (v, m, med);
  float *dg = g_new (float, n / step + 1), *dc = g_new (float, n / step + 1);
  gsize nd = 0;
  for (gsize k = 0; k < n; k += step)
    {
      if ((int) (k % W) >= W - 1 || k / W >= (gsize) H - 1)
        continue;
      if (!ok[k] || !ok[k + 1])
        continue;
      if (rg[k] > med + 2 * sig || rg[k + 1] > med + 2 * sig)
        continue;
      dg[nd] = (float) ((G[k] - G[k + 1]) / G_SQRT2);
      dc[nd] = (float) (((R[k] - G[k]) - (R[k + 1] - G[k + 1])) / G_SQRT2);
      nd++;
    }
  float mg = tsr_median_inplace (dg, nd), mc = tsr_median_inplace (dc, nd);
  *noise_g = TSR_MAD_TO_SIGMA * tsr_mad_inplace (dg, nd, mg);
  *noise_rg = TSR_MAD_TO_SIGMA * tsr_mad_inplace (dc, nd, mc);
  g_free (v);
  g_free (dg);
  g_free (dc);
  g_free (rg);
  g_free (R);
  g_free (G);
  g_free (ok);
}

/* Colour PNG with one fixed asinh stretch (black at lo, white at hi) for side-by-side looks. */
static void
write_png_rgb (const TsrImage *img, const char *name, double lo, double hi)
{
  const char *dir = g_getenv ("TSR_DECONV_PNG");
  if (!dir)
    return;
  int W = img->width, H = img->height, f = MAX (1, MAX (W, H) / 1400);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, W / f, H / f);
  unsigned char *d = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int y = 0; y < H / f; y++)
    for (int x = 0; x < W / f; x++)
      {
        guint32 px = 0;
        for (int c = 0; c < 3; c++)
          {
            double v = (tsr_image_plane (img, MIN (c, img->channels - 1))[(gsize) y * f * W + x * f] - lo) / (hi - lo);
            v = asinh (CLAMP (v, 0, 1) * 50) / asinh (50);
            px |= (guint32) (255 * v) << (16 - 8 * c);
          }
        *((guint32 *) (d + y * stride) + x) = px;
      }
  cairo_surface_mark_dirty (s);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  cairo_surface_write_to_png (s, path);
  cairo_surface_destroy (s);
}

/* Per-channel core fractions of the isolated bright stars of a 3-channel image: for each channel
 * the stacked fraction of its flux within 3 px that lies within 2 px (background: the 8–11 px
 * annulus); stars picked on the mean stack (peaks ≥ 40 σ of its luminance, no other ≥ 5 % as
 * bright within 16 px, below 60 % of the brightest peak). flux (may be NULL): per channel the sum
 * over those stars of the flux within 8 px (background: the 11–14 px annulus). Returns the stars
 * used. */
static GArray *xstars;   /* when set, colour_cores_flux appends x, y, flux[3] of every star used */
static guint
colour_cores_flux (const TsrImage *img, const TsrImage *mean, double core[3], double ring[3], double flux[3])
{
  int W = mean->width, H = mean->height;
  gsize n = (gsize) W * H;
  float *lm = g_new0 (float, n);
  for (int c = 0; c < 3; c++)
    for (gsize k = 0; k < n; k++)
      lm[k] += tsr_image_plane (mean, c)[k] / 3;
  double ng, nc;
  sky_noise (mean, mean, 1, &ng, &nc);
  float top = 0;
  for (gsize k = 0; k < n; k++)
    if (mean->mask[k])
      top = MAX (top, lm[k]);
  GArray *pk = g_array_new (FALSE, FALSE, sizeof (gsize));
  for (int y = 16; y < H - 16; y++)
    for (int x = 16; x < W - 16; x++)
      {
        gsize k = (gsize) y * W + x;
        gboolean t = mean->mask[k] && lm[k] > 40 * ng;
        for (int dy = -2; dy <= 2 && t; dy++)
          for (int dx = -2; dx <= 2 && t; dx++)
            if ((dx || dy) && lm[k + dy * W + dx] > lm[k])
              t = FALSE;
        if (t)
          g_array_append_val (pk, k);
      }
  guint used = 0;
  for (int c = 0; c < 3; c++)
    {
      core[c] = ring[c] = 0;
      if (flux)
        flux[c] = 0;
    }
  for (guint i = 0; i < pk->len; i++)
    {
      gsize k = g_array_index (pk, gsize, i);
      int x = (int) (k % W), y = (int) (k / W);
      gboolean ok = lm[k] < 0.6 * top;
      for (guint q = 0; q < pk->len && ok; q++)
        {
          gsize kq = g_array_index (pk, gsize, q);
          if (q != i && lm[kq] > 0.05 * lm[k] && hypot ((double) (kq % W) - x, (double) (kq / W) - y) <= 16)
            ok = FALSE;
        }
      int AP = 8, BW = AP + 6;
      for (int yy = y - BW; yy <= y + BW && ok; yy++)
        for (int xx = x - BW; xx <= x + BW && ok; xx++)
          if (yy < 0 || xx < 0 || yy >= H || xx >= W || !img->mask[(gsize) yy * W + xx])
            ok = FALSE;
      if (!ok)
        continue;
      double f2[3] = { 0 }, f4[3] = { 0 }, f6[3] = { 0 }, f8[3] = { 0 };
      for (int c = 0; c < 3; c++)
        {
          const float *d = tsr_image_plane (img, c);
          double sb = 0;
          int nb = 0, n8 = 0;
          for (int yy = y - BW; yy <= y + BW; yy++)
            for (int xx = x - BW; xx <= x + BW; xx++)
              {
                double r = hypot (xx - x, yy - y), v = d[(gsize) yy * W + xx];
                if (r >= AP + 3 && r <= AP + 6)
                  sb += v, nb++;
                else if (r <= AP)
                  f8[c] += v, n8++;
              }
          f8[c] -= n8 * sb / MAX (nb, 1);
        }
      for (int c = 0; c < 3; c++)
        {
          const float *d = tsr_image_plane (img, c);
          double sb = 0;
          int nb = 0, n2 = 0, n4 = 0, n6 = 0;
          for (int yy = y - 11; yy <= y + 11; yy++)
            for (int xx = x - 11; xx <= x + 11; xx++)
              {
                double r = hypot (xx - x, yy - y), v = d[(gsize) yy * W + xx];
                if (r >= 8 && r <= 11)
                  sb += v, nb++;
                else if (r < 2)
                  f2[c] += v, n2++;
                else if (r < 4)
                  f4[c] += v, n4++;
                else if (r < 6)
                  f6[c] += v, n6++;
              }
          double b = sb / MAX (nb, 1);
          f2[c] -= n2 * b, f4[c] -= n4 * b, f6[c] -= n6 * b;
        }
      ok = TRUE;
      for (int c = 0; c < 3; c++)
        ok = ok && f2[c] + f4[c] + f6[c] > 0;
      if (!ok)
        continue;
      for (int c = 0; c < 3; c++)
        {
          double t = f2[c] + f4[c] + f6[c];
          core[c] += f2[c] / t, ring[c] += f4[c] / t;
          if (flux)
            flux[c] += f8[c];
        }
      if (xstars)
        {
          double e[5] = { x, y, f8[0], f8[1], f8[2] };
          g_array_append_vals (xstars, e, 5);
        }
      used++;
    }
  for (int c = 0; c < 3 && used; c++)
    core[c] /= used, ring[c] /= used;
  g_array_free (pk, TRUE);
  g_free (lm);
  return used;
}

/* the shown iterates' channel count (the luminance mode shows them in colour) */
static gboolean
iter_channels (const TsrImage *latent, const TsrDeconvIterStats *st, gpointer data)
{
  int *ch = data;
  ch[0]++;
  ch[1] = latent->channels;
  return TRUE;
}

static guint
colour_cores (const TsrImage *img, const TsrImage *mean, double core[3], double ring[3])
{
  return colour_cores_flux (img, mean, core, ring, NULL);
}

/* Bayer frames whose red is 1.3× and blue 1.15× as broad as green (as on the M94 frames: red 2.69 px
 * on its own CFA sites against green's 2.02, tools/deconv-m94/chanfwhm.py). Each channel's PSF is
 * stacked from its own (demosaiced) plane, so the red model must come out broader than the green,
 * and the deconvolved stars must keep no more of their red or blue flux at 2–4 px than of their
 * green (a rim: on M94 the red rim read +0.027 of the flux at 2–4 px). Control: deconv.psf=moffat gives every
 * channel the frame's one FWHM, a red PSF too narrow for the red data: there the red model is no
 * broader than the green and the red rim shows. */
static void
test_bayer_colour (void)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 10;
  p.width = 448;
  p.height = 352;
  p.seed = 5;
  p.n_stars = 160;
  p.cfa = TSR_CFA_RGGB;
  p.colour_fwhm[0] = 1.3;
  p.colour_fwhm[1] = 1.0;
  p.colour_fwhm[2] = 1.15;
  p.fwhm_min = 2.0;
  p.fwhm_max = 2.8;
  p.n_trails = 0;
  p.n_mirrored = 0;
  p.n_noise = 0;
  p.shift_max = 10;
  p.rotation_max_deg = 0.5;
  p.oversample = 3;
  g_autofree char *bdir = NULL;
  TsrSynthTruth *truth = NULL;
  g_autoptr (TsrSession) s = tsr_test_synth_session (&p, NULL, "deconv-bayer", &bdir, &truth);
  TsrProject pr;
  tsr_project_init (&pr);
  pr.run.n_threads = 2;
  pr.deconv.color = TSR_DECONV_COLOR_RGB;   /* one latent per demosaiced channel */
  GError *e = NULL;
  g_autoptr (TsrDeconvResult) r = tsr_deconv_run (s, &pr.deconv, &pr.tbqr, &pr.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  pr.deconv.psf = TSR_DECONV_PSF_MOFFAT;
  g_autoptr (TsrDeconvResult) r0 = tsr_deconv_run (s, &pr.deconv, &pr.tbqr, &pr.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpint (r->image->channels, ==, 3);
  for (int c = 0; c < 3; c++)
    {
      g_assert_nonnull (r->median_psf[c]);
      g_assert_nonnull (r0->median_psf[c]);
    }
  double cm[3], rm[3], cd[3], rd[3], c0[3], rr0[3];
  guint nm = colour_cores (r->mean, r->mean, cm, rm);
  guint nd = colour_cores (r->image, r->mean, cd, rd);
  guint n0 = colour_cores (r0->image, r0->mean, c0, rr0);
  g_test_message ("Bayer, red 1.3x / blue 1.15x green, %u stars: PSF model FWHM R / G / B %.3f / %.3f / %.3f px (moffat: %.3f / "
                  "%.3f / %.3f)", nd, r->median_psf[0]->fwhm, r->median_psf[1]->fwhm, r->median_psf[2]->fwhm,
                  r0->median_psf[0]->fwhm, r0->median_psf[1]->fwhm, r0->median_psf[2]->fwhm);
  g_test_message ("fraction of the 0-6 px flux at 0-2 / 2-4 px: mean R %.3f %.3f G %.3f %.3f B %.3f %.3f; deconv R %.3f %.3f G "
                  "%.3f %.3f B %.3f %.3f; moffat R %.3f %.3f G %.3f %.3f B %.3f %.3f", cm[0], rm[0], cm[1], rm[1], cm[2], rm[2],
                  cd[0], rd[0], cd[1], rd[1], cd[2], rd[2], c0[0], rr0[0], c0[1], rr0[1], c0[2], rr0[2]);
  g_test_message ("2-4 px, R - G / B - G: deconv %+.3f / %+.3f, moffat %+.3f / %+.3f, mean %+.3f / %+.3f", rd[0] - rd[1],
                  rd[2] - rd[1], rr0[0] - rr0[1], rr0[2] - rr0[1], rm[0] - rm[1], rm[2] - rm[1]);
  g_assert_cmpuint (nm, >=, 8);
  g_assert_cmpuint (nd, >=, 8);
  g_assert_cmpuint (n0, >=, 8);
  /* the generator's colours are there: the mean stack's red core holds less than its green */
  g_assert_cmpfloat (cm[0], <, cm[1] - 0.03);
  /* the red PSF model is broader than the green (generated 1.3×) */
  g_assert_cmpfloat (r->median_psf[0]->fwhm, >, 1.1 * r->median_psf[1]->fwhm);
  /* no rim: each channel's core (0–2 px) and ring (2–4 px) hold the same fractions of its flux
   * (measured ±0.011 / ±0.016) */
  g_assert_cmpfloat (fabs (cd[0] - cd[1]), <, 0.03);
  g_assert_cmpfloat (fabs (cd[2] - cd[1]), <, 0.03);
  g_assert_cmpfloat (fabs (rd[0] - rd[1]), <, 0.025);
  g_assert_cmpfloat (fabs (rd[2] - rd[1]), <, 0.025);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (cd[c], >, cm[c] + 0.2);   /* and sharper than the mean stack in every channel */
  /* control: with the one-FWHM model the red PSF is too narrow, and the red rim shows */
  g_assert_cmpfloat (r0->median_psf[0]->fwhm, <, 1.05 * r0->median_psf[1]->fwhm);
  g_assert_cmpfloat (c0[1] - c0[0], >, 0.045);   /* measured 0.063: the red core holds less */
  g_assert_cmpfloat (rr0[0] - rr0[1], >, 0.015);  /* and the ring more (0.021) */

  /* deconv.color = luminance: one latent fitted to L = (R + G + B) / 3, each colour L × the mean
   * stack's colour ratio smoothed at 2 FWHM. No ring can carry a colour of its own: each
   * channel's core and ring fractions equal the others' (as in the mean stack, where the
   * channels differ by their seeing, the deconvolved channels share one profile), and the
   * stars keep each channel's flux and their colour against the mean stack. */
  pr.deconv.psf = TSR_DECONV_PSF_STARS;
  pr.deconv.color = TSR_DECONV_COLOR_LUMINANCE;
  int shown[2] = { 0, 0 };
  g_autoptr (TsrDeconvResult) rl = tsr_deconv_run (s, &pr.deconv, &pr.tbqr, &pr.run, NULL, iter_channels, shown, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpint (shown[0], ==, (int) rl->iterations);
  g_assert_cmpint (shown[1], ==, 3);   /* the iterates in colour */
  g_assert_cmpint (rl->image->channels, ==, 3);
  g_assert_cmpint (rl->mean->channels, ==, 3);
  if (g_getenv ("TSR_BAYER_FITS"))   /* the images, for the tools/deconv-m94 scripts */
    {
      g_autofree char *a = g_build_filename (g_getenv ("TSR_BAYER_FITS"), "lum.fits", NULL);
      g_autofree char *b = g_build_filename (g_getenv ("TSR_BAYER_FITS"), "mean.fits", NULL);
      g_autofree char *c = g_build_filename (g_getenv ("TSR_BAYER_FITS"), "rgb.fits", NULL);
      g_assert_true (tsr_fits_write (a, rl->image, NULL, NULL) && tsr_fits_write (b, rl->mean, NULL, NULL)
                     && tsr_fits_write (c, r->image, NULL, NULL));
    }
  double cl[3], rl_[3], fl[3], cml[3], rml[3], fml[3];
  GArray *xd = g_array_new (FALSE, FALSE, sizeof (double)), *xm = g_array_new (FALSE, FALSE, sizeof (double));
  xstars = xd;
  guint nl = colour_cores_flux (rl->image, rl->mean, cl, rl_, fl);
  xstars = xm;
  guint nml = colour_cores_flux (rl->mean, rl->mean, cml, rml, fml);
  xstars = NULL;
  /* diagnostics (docs/deconv.md, fifteenth session): the same stars against the generator's truth
   * (Σ flux · colour[c]); the reference frame is the one whose matrix puts the most truth stars
   * within 1.5 px of them. The mean stack's own 8 px colour is not the truth (red's broader
   * wings fall outside 8 px), and the luminance mode's colour is K_c at the star. */
  {
    int best = -1, bn = -1;
    for (guint fi = 0; fi < truth->frames->len; fi++)
      {
        const TsrSynthFrame *fr = &g_array_index (truth->frames, TsrSynthFrame, fi);
        int nmatch = 0;
        for (guint i = 0; i < xd->len / 5; i++)
          for (guint q = 0; q < truth->stars->len; q++)
            {
              const TsrSynthStar *st = &g_array_index (truth->stars, TsrSynthStar, q);
              double fx = fr->matrix[0] * st->x + fr->matrix[1] * st->y + fr->matrix[2];
              double fy = fr->matrix[3] * st->x + fr->matrix[4] * st->y + fr->matrix[5];
              if (hypot (fx - g_array_index (xd, double, 5 * i), fy - g_array_index (xd, double, 5 * i + 1)) < 1.5)
                nmatch++;
            }
        if (nmatch > bn)
          bn = nmatch, best = (int) fi;
      }
    const TsrSynthFrame *fr = &g_array_index (truth->frames, TsrSynthFrame, best);
    double ts[3] = { 0 }, ds[3] = { 0 }, ms[3] = { 0 }, pk[3] = { 0 };
    for (guint i = 0; i < xd->len / 5; i++)
      for (guint q = 0; q < truth->stars->len; q++)
        {
          const TsrSynthStar *st = &g_array_index (truth->stars, TsrSynthStar, q);
          double fx = fr->matrix[0] * st->x + fr->matrix[1] * st->y + fr->matrix[2];
          double fy = fr->matrix[3] * st->x + fr->matrix[4] * st->y + fr->matrix[5];
          if (hypot (fx - g_array_index (xd, double, 5 * i), fy - g_array_index (xd, double, 5 * i + 1)) < 1.5)
            {
              double *d = &g_array_index (xd, double, 5 * i), *m = &g_array_index (xm, double, 5 * i);
              g_test_message ("truth-matched star %.0f %.0f truth flux %.0f colour %.3f %.3f %.3f; deconv R/G %.3f B/G %.3f mean R/G %.3f B/G %.3f",
                              d[0], d[1], st->flux, st->color[0], st->color[1], st->color[2], d[2] / d[3], d[4] / d[3], m[2] / m[3],
                              m[4] / m[3]);
              for (int c = 0; c < 3; c++)
                ts[c] += st->flux * st->color[c], ds[c] += d[2 + c], ms[c] += m[2 + c];
              int W = rl->image->width, cx = (int) d[0], cy = (int) d[1];
              for (int c = 0; c < 3; c++)
                for (int v = -1; v <= 1; v++)
                  for (int u = -1; u <= 1; u++)
                    pk[c] += tsr_image_plane (rl->image, c)[(gsize) (cy + v) * W + cx + u];
            }
        }
    {
      double c3[3], r3[3], f3[3];
      colour_cores_flux (r->image, rl->mean, c3, r3, f3);
      g_test_message ("rgb mode, the same stars: colour R/G %.4f B/G %.4f; flux R %.0f G %.0f B %.0f", f3[0] / f3[1], f3[2] / f3[1], f3[0], f3[1], f3[2]);
    }
    g_test_message ("luminance, 3 x 3 px at the stars' centres: colour R/G %.4f B/G %.4f", pk[0] / pk[1], pk[2] / pk[1]);
    g_test_message ("against the truth (reference = frame %d, %d of %u stars matched): truth R/G %.4f B/G %.4f; deconv %.4f %.4f; mean %.4f %.4f", best, bn,
                    xd->len / 5, ts[0] / ts[1], ts[2] / ts[1], ds[0] / ds[1], ds[2] / ds[1], ms[0] / ms[1], ms[2] / ms[1]);
  }
  g_array_free (xd, TRUE);
  g_array_free (xm, TRUE);
  tsr_synth_truth_free (truth);
  g_test_message ("luminance, %u stars: fraction at 0-2 / 2-4 px R %.3f %.3f G %.3f %.3f B %.3f %.3f (mean R %.3f %.3f G %.3f %.3f B "
                  "%.3f %.3f); 2-4 px R - G %+.4f, B - G %+.4f", nl, cl[0], rl_[0], cl[1], rl_[1], cl[2], rl_[2], cml[0], rml[0],
                  cml[1], rml[1], cml[2], rml[2], rl_[0] - rl_[1], rl_[2] - rl_[1]);
  g_test_message ("luminance: flux within 8 px deconv / mean R %.4f G %.4f B %.4f; colour R/G x%.4f, B/G x%.4f", fl[0] / fml[0],
                  fl[1] / fml[1], fl[2] / fml[2], (fl[0] / fl[1]) / (fml[0] / fml[1]), (fl[2] / fl[1]) / (fml[2] / fml[1]));
  g_assert_cmpuint (nl, >=, 8);
  g_assert_cmpuint (nml, ==, nl);
  /* no rim: the channels' core and ring fractions agree (measured 0.012 / 0.005; rgb mode
   * above is asserted within 0.03 / 0.025; the mean stack's differ by 0.074 / 0.018) */
  for (int c = 0; c < 3; c += 2)
    {
      g_assert_cmpfloat (fabs (cl[c] - cl[1]), <, 0.02);
      g_assert_cmpfloat (fabs (rl_[c] - rl_[1]), <, 0.01);
    }
  for (int c = 0; c < 3; c++)
    {
      g_assert_cmpfloat (cl[c], >, cml[c] + 0.2);                 /* sharper than the mean stack */
      g_assert_cmpfloat (fabs (fl[c] / fml[c] - 1), <, 0.025);   /* each channel's flux kept (measured ≤ 0.020) */
    }
  /* the stars' colour kept (measured ×0.979 / ×0.977; a ratio smoothed without the cross-convolution
   * read ×0.936 / ×0.972 here, one without the local background ×1.076 / ×0.954) */
  g_assert_cmpfloat (fabs ((fl[0] / fl[1]) / (fml[0] / fml[1]) - 1), <, 0.03);
  g_assert_cmpfloat (fabs ((fl[2] / fl[1]) / (fml[2] / fml[1]) - 1), <, 0.03);

  /* deconv.target_fwhm with the luminance mode: the latent is fitted through the residual
   * kernels k (k ∗ g = h), but the colour maps' cross-convolution needs the mean stack's own
   * luminance PSF h_L (c ∗ h_L and L ∗ h_c share the PSF h_c ∗ h_L only then). */
  pr.deconv.target_fwhm = 1.6;
  g_autoptr (TsrDeconvResult) rt = tsr_deconv_run (s, &pr.deconv, &pr.tbqr, &pr.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  double ct[3], rt_[3], ft[3];
  guint nt = colour_cores_flux (rt->image, rt->mean, ct, rt_, ft);
  g_test_message ("luminance, target FWHM 1.6 px, %u stars: fraction at 0-2 / 2-4 px R %.3f %.3f G %.3f %.3f B %.3f %.3f; "
                  "R - G %+.4f / %+.4f, B - G %+.4f / %+.4f; flux deconv / mean R %.4f G %.4f B %.4f; colour R/G x%.4f, B/G x%.4f",
                  nt, ct[0], rt_[0], ct[1], rt_[1], ct[2], rt_[2], ct[0] - ct[1], rt_[0] - rt_[1], ct[2] - ct[1], rt_[2] - rt_[1],
                  ft[0] / fml[0], ft[1] / fml[1], ft[2] / fml[2], (ft[0] / ft[1]) / (fml[0] / fml[1]),
                  (ft[2] / ft[1]) / (fml[2] / fml[1]));
  /* a 1.6 px Gaussian star holds the point's flux within 8 px: each channel's flux as without
   * the target (measured +0.9 % in every channel; with the residual kernel as h_L −2.5 %), and
   * no rim (measured 0.010 / 0.004) */
  g_assert_cmpuint (nt, >=, 8);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (fabs (ft[c] / fl[c] - 1), <, 0.015);
  for (int c = 0; c < 3; c += 2)
    {
      g_assert_cmpfloat (fabs (ct[c] - ct[1]), <, 0.02);
      g_assert_cmpfloat (fabs (rt_[c] - rt_[1]), <, 0.01);
    }
  tsr_test_rmtree (bdir);
}

static void
test_real_m94 (void)
{
  g_autofree char *data = tsr_test_shared_data ("seestar-m94-s3");
  if (!data)
    {
      g_test_skip ("../shared/data/seestar-m94-s3 is absent");
      return;
    }
  const char *paths[] = { data, NULL };
  GError *e = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrProject p;
  tsr_project_init (&p);
  p.run.n_threads = 2;
  p.deconv.iterations = 10;
  if (g_getenv ("DSET"))
    {
      g_auto (GStrv) sv = g_strsplit (g_getenv ("DSET"), ",", -1);
      for (guint i = 0; sv[i]; i++)
        g_assert_true (tsr_project_set_assignment (&p, sv[i], NULL));
    }
  g_autoptr (TsrDeconvResult) r = tsr_deconv_run (s, &p.deconv, &p.tbqr, &p.run, NULL, NULL, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpint (r->image->channels, ==, 3);
  g_test_message ("M94: %u frames, %u iterations, %u PSFs from stars, median FWHM %.2f px, %.1f s + %.1f s",
                  r->n_frames, r->iterations, r->n_psf_stars, r->median_fwhm, r->seconds_stage, r->seconds_iterate);
  g_assert_cmpuint (r->n_frames, >=, 5);
  g_assert_cmpuint (r->iterations, >=, 3);
  g_test_message ("M94 median-FWHM frame's PSF FWHM R / G / B: %.3f / %.3f / %.3f px", r->median_psf[0] ? r->median_psf[0]->fwhm : NAN,
                  r->median_psf[1] ? r->median_psf[1]->fwhm : NAN, r->median_psf[2] ? r->median_psf[2]->fwhm : NAN);
  double ng_m, nc_m, ng_d, nc_d;
  sky_noise (r->mean, r->mean, 1, &ng_m, &nc_m);
  sky_noise (r->image, r->mean, 1, &ng_d, &nc_d);
  /* the same on 2 × 2 sums (one CFA cell: every colour site once or twice) */
  double ng_m2, nc_m2, ng_d2, nc_d2;
  sky_noise (r->mean, r->mean, 2, &ng_m2, &nc_m2);
  sky_noise (r->image, r->mean, 2, &ng_d2, &nc_d2);
  g_test_message ("M94 sky noise of 2 x 2 sums: green deconv %.2f vs mean %.2f (x%.2f), R-G chroma %.2f vs %.2f (x%.2f)", ng_d2,
                  ng_m2, ng_d2 / ng_m2, nc_d2, nc_m2, nc_d2 / nc_m2);
  double fd, fm;
  guint nm;
  detect_sigma = 20;
  double ratio = fwhm_ratio (r->image, r->mean, &fd, &fm, &nm);
  detect_sigma = 5;
  g_test_message ("M94 matched-star FWHM (%u stars, 20 sigma): deconv %.3f px, mean stack %.3f px, ratio %.3f; sky noise "
                  "(green, per pixel) deconv %.2f vs mean %.2f ADU (x%.2f), R-G chroma %.2f vs %.2f (x%.2f)",
                  nm, fd, fm, ratio, ng_d, ng_m, ng_d / ng_m, nc_d, nc_m, nc_d / nc_m);
  write_png_rgb (r->image, "m94.png", -2 * ng_m, 60 * ng_m);
  write_png_rgb (r->mean, "m94-mean.png", -2 * ng_m, 60 * ng_m);
  g_assert_cmpuint (nm, >=, 15);
  g_assert_cmpfloat (ratio, <, 0.9);
  /* photometry (issue 12): the isolated peaks ≥ 50 σ of the mean's luminance (no higher peak within
   * 20 px), aperture 8 px, background the mean of the 10–14 px annulus; median deconv / mean.
   * Measured 1.0161 over 26 peaks with the flux anchor (1.1022 without: docs/deconv.md) */
  {
    int W = r->mean->width, H = r->mean->height;
    gsize n = (gsize) W * H;
    float *lm = g_new (float, n), *ld = g_new (float, n);
    for (gsize k = 0; k < n; k++)
      {
        lm[k] = ld[k] = 0;
        for (int c = 0; c < 3; c++)
          lm[k] += tsr_image_plane (r->mean, c)[k] / 3, ld[k] += tsr_image_plane (r->image, c)[k] / 3;
      }
    double thr = 50 * ng_m;
    GArray *pk = g_array_new (FALSE, FALSE, sizeof (gsize)), *rat = g_array_new (FALSE, FALSE, sizeof (float));
    for (int y = 20; y < H - 20; y++)
      for (int x = 20; x < W - 20; x++)
        {
          gsize k = (gsize) y * W + x;
          gboolean top = r->mean->mask[k] && lm[k] > thr;
          for (int dy = -2; dy <= 2 && top; dy++)
            for (int dx = -2; dx <= 2 && top; dx++)
              if ((dx || dy) && lm[k + dy * W + dx] > lm[k])
                top = FALSE;
          if (top)
            g_array_append_val (pk, k);
        }
    for (guint i = 0; i < pk->len; i++)
      {
        gsize k = g_array_index (pk, gsize, i);
        int x = (int) (k % W), y = (int) (k / W);
        gboolean iso = TRUE;
        for (guint q = 0; q < pk->len && iso; q++)
          {
            gsize kq = g_array_index (pk, gsize, q);
            if (q != i && lm[kq] > 0.05 * lm[k] && hypot ((double) (kq % W) - x, (double) (kq / W) - y) <= 20)
              iso = FALSE;
          }
        if (!iso || x < 15 || y < 15 || x >= W - 15 || y >= H - 15)
          continue;
        double fm = 0, fdd = 0, bm = 0, bd = 0;
        int na = 0, nb = 0;
        for (int yy = y - 14; yy <= y + 14; yy++)
          for (int xx = x - 14; xx <= x + 14; xx++)
            {
              double dd = hypot (xx - x, yy - y);
              gsize kk = (gsize) yy * W + xx;
              if (dd <= 8)
                fm += lm[kk], fdd += ld[kk], na++;
              else if (dd >= 10 && dd <= 14)
                bm += lm[kk], bd += ld[kk], nb++;
            }
        float q = (float) ((fdd - na * bd / nb) / (fm - na * bm / nb));
        g_array_append_val (rat, q);
      }
    g_assert_cmpuint (rat->len, >=, 10);
    float med = tsr_median_inplace ((float *) rat->data, rat->len);
    g_test_message ("M94 photometry: %u isolated peaks >= 50 sigma, median flux deconv / mean %.4f; flux anchor over %u stars: "
                    "mean stack / model %.4f +- %.4f, factors %.4f %.4f %.4f", rat->len, med, r->n_anchor_stars, r->anchor_ratio,
                    r->anchor_se, r->flux_anchor[0], r->flux_anchor[1], r->flux_anchor[2]);
    /* issue 12: within 2 %. Without the anchor 1.1022 (the fitted scales fall with the seeing,
     * docs/deconv.md); the anchor measures 0.92 ± 0.006 here and is applied */
    g_assert_cmpfloat (fabs (med - 1), <, 0.02);
    if (p.deconv.flux_anchor)
      {
        g_assert_cmpuint (r->n_anchor_stars, >=, 10);
        g_assert_cmpfloat (r->flux_anchor[1], !=, 1.0);
      }
    g_array_free (pk, TRUE);
    g_array_free (rat, TRUE);
    g_free (lm);
    g_free (ld);
  }
  {
    /* colour rims (issue 12): the isolated bright stars' core (0–2 px) and ring (2–4 px)
     * fractions per channel, and their colour within 8 px, against the mean stack */
    double cd[3], rd[3], fd3[3], cm[3], rm[3], fm3[3];
    guint nd = colour_cores_flux (r->image, r->mean, cd, rd, fd3);
    guint nm3 = colour_cores_flux (r->mean, r->mean, cm, rm, fm3);
    g_test_message ("M94 rims, %u stars: 2-4 px R - G %+.4f, B - G %+.4f (mean stack %+.4f, %+.4f); 0-2 px R - G %+.4f, B - G %+.4f; "
                    "colour within 8 px R/G x%.4f, B/G x%.4f", nd, rd[0] - rd[1], rd[2] - rd[1], rm[0] - rm[1], rm[2] - rm[1],
                    cd[0] - cd[1], cd[2] - cd[1], (fd3[0] / fd3[1]) / (fm3[0] / fm3[1]), (fd3[2] / fd3[1]) / (fm3[2] / fm3[1]));
    g_assert_cmpuint (nd, ==, nm3);
    if (p.deconv.color == TSR_DECONV_COLOR_LUMINANCE && nd >= 5)
      {
        for (int c = 0; c < 3; c += 2)
          g_assert_cmpfloat (fabs (rd[c] - rd[1]), <, 0.01);
        g_assert_cmpfloat (fabs ((fd3[0] / fd3[1]) / (fm3[0] / fm3[1]) - 1), <, 0.02);
        g_assert_cmpfloat (fabs ((fd3[2] / fd3[1]) / (fm3[2] / fm3[1]) - 1), <, 0.02);
      }
  }
  /* sharper, but the noise must not explode, nor the colour speckle. The colour speckle is the
   * R − G noise growing faster than the green noise. Per pixel it reads ×2.89 against green's ×2.05,
   * but that compares the mean stack's demosaicing: its R and G pixel noise is 0.80 correlated
   * (MHC interpolates R and B at the other sites with the green Laplacian), which hides most of
   * its per-pixel chroma noise, and the deconvolution (one latent per channel, fitted to every
   * frame's own samples) undoes part of that correlation (0.62). On 2 × 2 sums, one CFA cell, the
   * correlation is 0.56 in both and the chroma noise grows like the green (×2.52 against ×2.54):
   * no excess colour speckle. (The per-pixel chroma bound of 2.5 failed on main as well.) */
  g_assert_cmpfloat (ng_d, <, 2.5 * ng_m);
  g_assert_cmpfloat (nc_d2 / nc_m2, <, 1.1 * ng_d2 / ng_m2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/deconv/adjoint", test_adjoint);
  g_test_add_func ("/deconv/row-kernels", test_row_kernels);
  g_test_add_func ("/deconv/huber-row", test_huber_row);
  g_test_add_func ("/deconv/huge-block", test_huge_block);
  g_test_add_func ("/deconv/delta-unshifted", test_delta_unshifted);
  g_test_add_func ("/deconv/header-shape", test_header_and_shape);
  g_test_add_func ("/deconv/harness", test_harness);
  g_test_add_func ("/deconv/stable", test_stable);
  g_test_add_func ("/deconv/saturated", test_saturated);
  g_test_add_func ("/deconv/faint-floor", test_faint_floor);
  g_test_add_func ("/deconv/wcs-sr", test_wcs_sr);
  g_test_add_func ("/deconv/quality", test_quality);
  g_test_add_func ("/deconv/trail", test_trail);
  g_test_add_func ("/deconv/reproducible", test_reproducible);
  g_test_add_func ("/deconv/tiling-cancel", test_tiling_and_cancel);
  g_test_add_func ("/deconv/super-resolution", test_super_resolution);
  g_test_add_func ("/deconv/bayer-colour", test_bayer_colour);
  if (g_test_slow () || g_getenv ("TSR_DECONV_REAL"))
    g_test_add_func ("/deconv/real-m94", test_real_m94);
  int rc = g_test_run ();
  if (res)
    {
      tsr_deconv_result_free (res);
      tsr_deconv_result_free (res_l2);
      tsr_session_unref (session);
      tsr_synth_truth_free (truth);
      tsr_test_rmtree (dir);
      g_free (dir);
    }
  return rc;
}
