/* test-stack.c — robust statistics and the plain stackers against direct computations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsr-test-util.h"

/* ------------------------------------------------------------------------------------ */
/* Direct (slow, obvious) reference computations                                        */

static double
gauss (GRand *r)
{
  double u1 = g_rand_double_range (r, 1e-12, 1.0);
  double u2 = g_rand_double (r);
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

static float
ref_median (const float *v, gsize n)
{
  if (n == 0)
    return NAN;
  float *s = g_memdup2 (v, n * sizeof (float));
  qsort (s, n, sizeof (float), cmp_float);
  float m = n % 2 ? s[n / 2] : (float) (0.5 * ((double) s[n / 2 - 1] + (double) s[n / 2]));
  g_free (s);
  return m;
}

static double
ref_mean (const float *v, gsize n)
{
  double s = 0;
  for (gsize i = 0; i < n; i++)
    s += v[i];
  return s / n;
}

static double
ref_std (const float *v, gsize n, double lo, double hi)
{
  if (n < 2)
    return 0;
  double m = 0;
  for (gsize i = 0; i < n; i++)
    m += CLAMP ((double) v[i], lo, hi);
  m /= n;
  double ss = 0;
  for (gsize i = 0; i < n; i++)
    {
      double d = CLAMP ((double) v[i], lo, hi) - m;
      ss += d * d;
    }
  return sqrt (ss / (n - 1));
}

static float sort_center;

static int
cmp_dist (const void *a, const void *b)
{
  float x = fabsf (*(const float *) a - sort_center);
  float y = fabsf (*(const float *) b - sort_center);
  return (x > y) - (x < y);
}

/* Iterative clipping about the median, written the obvious way with copies and sorts. */
static double
ref_clip (gboolean winsor, const TsrStackParams *p, const float *values, gsize n)
{
  float *kept = g_memdup2 (values, n * sizeof (float));
  float *next = g_new (float, n);
  gsize m = n;
  gsize keep_min = (gsize) MAX (1.0, ceil (p->min_keep_fraction * n - 1e-9));
  keep_min = MIN (keep_min, n);

  for (int it = 0; it < p->max_iterations; it++)
    {
      float med = ref_median (kept, m);
      double sd = ref_std (kept, m, -INFINITY, INFINITY);
      if (!(sd > 0))
        break;
      if (winsor)
        {
          for (int w = 0; w < 50; w++)
            {
              double s0 = sd;
              sd = 1.134 * ref_std (kept, m, med - 1.5 * s0, med + 1.5 * s0);
              if (fabs (sd - s0) <= s0 * 5e-4)
                break;
            }
          if (!(sd > 0))
            break;
        }
      gsize k = 0;
      for (gsize i = 0; i < m; i++)
        if (kept[i] >= med - p->kappa_low * sd && kept[i] <= med + p->kappa_high * sd)
          next[k++] = kept[i];
      if (k == m)
        break;
      if (k < keep_min)
        {
          sort_center = med;
          qsort (kept, m, sizeof (float), cmp_dist);
          m = keep_min;
          break;
        }
      memcpy (kept, next, k * sizeof (float));
      m = k;
    }
  double r = ref_mean (kept, m);
  g_free (kept);
  g_free (next);
  return r;
}

static double
ref_combine (TsrStackMethod method, const TsrStackParams *p, const float *v, gsize n)
{
  switch (method)
    {
    case TSR_STACK_MEAN: return ref_mean (v, n);
    case TSR_STACK_MEDIAN: return ref_median (v, n);
    case TSR_STACK_SIGMA: return ref_clip (FALSE, p, v, n);
    case TSR_STACK_WINSOR: return ref_clip (TRUE, p, v, n);
    default: g_assert_not_reached ();
    }
}

static void
assert_close (double got, double want, double tol)
{
  double lim = tol * MAX (1.0, fabs (want));
  if (!(fabs (got - want) <= lim))
    g_error ("got %.9g, expected %.9g (tolerance %g)", got, want, lim);
}

/* ------------------------------------------------------------------------------------ */
/* Statistics                                                                           */

static void
test_median (void)
{
  GRand *r = g_rand_new_with_seed (1);
  g_assert_true (isnan (tsr_median_inplace (NULL, 0)));
  for (gsize n = 1; n <= 40; n++)
    for (int trial = 0; trial < 20; trial++)
      {
        float *v = g_new (float, n);
        for (gsize i = 0; i < n; i++)
          v[i] = trial % 3 == 0 ? (float) g_rand_int_range (r, 0, 4)  /* many ties */
                                : (float) gauss (r);
        float want = ref_median (v, n);
        float got = tsr_median_inplace (v, n);
        g_assert_cmpfloat (got, ==, want);

        float want_mad;
        {
          float *d = g_new (float, n);
          for (gsize i = 0; i < n; i++)
            d[i] = fabsf (v[i] - want);
          want_mad = ref_median (d, n);
          g_free (d);
        }
        g_assert_cmpfloat (tsr_mad_inplace (v, n, want), ==, want_mad);
        g_free (v);
      }
  g_rand_free (r);

  float even[] = { 4, 1, 3, 2 };
  g_assert_cmpfloat (tsr_median_inplace (even, 4), ==, 2.5f);
  float odd[] = { 5, 1, 4, 2, 3 };
  g_assert_cmpfloat (tsr_median_inplace (odd, 5), ==, 3.0f);
}

static void
test_plane_median_mad (void)
{
  float plane[] = { 1, 2, 100, 3, 4, 5, -50, 6, 7 };
  guint8 mask[] = { 1, 1, 0, 1, 1, 1, 0, 1, 1 };
  float med, mad;
  tsr_plane_median_mad (plane, mask, 9, 0, &med, &mad);
  g_assert_cmpfloat (med, ==, 4.0f);   /* 1 2 3 4 5 6 7 */
  g_assert_cmpfloat (mad, ==, 2.0f);   /* 3 2 1 0 1 2 3 */

  tsr_plane_median_mad (plane, NULL, 9, 0, &med, &mad);
  g_assert_cmpfloat (med, ==, 4.0f);

  /* Subsampling keeps the estimate on a large plane. */
  gsize n = 1000003;
  float *big = g_new (float, n);
  GRand *r = g_rand_new_with_seed (2);
  for (gsize i = 0; i < n; i++)
    big[i] = (float) (10.0 + 2.0 * gauss (r));
  tsr_plane_median_mad (big, NULL, n, 50000, &med, &mad);
  assert_close (med, 10.0, 0.01);
  assert_close (mad * TSR_MAD_TO_SIGMA, 2.0, 0.05);
  g_free (big);
  g_rand_free (r);

  guint8 none[] = { 0, 0, 0 };
  tsr_plane_median_mad (plane, none, 3, 0, &med, &mad);
  g_assert_true (isnan (med));
}

static void
test_noise (void)
{
  const int w = 300, h = 240;
  const double sigma = 0.02;
  float *plane = g_new (float, (gsize) w * h);
  guint8 *mask = g_new (guint8, (gsize) w * h);
  GRand *r = g_rand_new_with_seed (3);

  /* Mono: gradient plus Gaussian noise, a few masked pixels with garbage. */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        plane[i] = (float) (0.1 + 0.001 * x + 0.0005 * y + sigma * gauss (r));
        mask[i] = (x * 7 + y * 13) % 97 != 0;
        if (!mask[i])
          plane[i] = 1e6f;
      }
  float est = tsr_plane_noise (plane, mask, w, h, 1);
  g_assert_cmpfloat (fabs (est - sigma) / sigma, <, 0.05);

  /* CFA: colour-dependent levels; step 2 only compares same-colour samples. */
  static const float level[2][2] = { { 0.5f, 1.0f }, { 1.0f, 0.2f } };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      plane[(gsize) y * w + x] = (float) (level[y & 1][x & 1] + 0.0002 * x + sigma * gauss (r));
  est = tsr_plane_noise (plane, NULL, w, h, 2);
  g_assert_cmpfloat (fabs (est - sigma) / sigma, <, 0.05);
  g_assert_cmpfloat (tsr_plane_noise (plane, NULL, w, h, 1), >, 5 * sigma);

  g_assert_true (isnan (tsr_plane_noise (plane, NULL, 1, 1, 1)));

  double d[] = { 1, 2, 3, 6 };
  g_assert_cmpfloat (tsr_mean_d (d, 4), ==, 3.0);

  /* Integer data (raw ADU) at a noise of a few ADU: the plain MAD of integer differences
   * is a whole number, so σ would come in steps of 1.05 ADU (2.2 and 2.6 both read 2.10 or
   * 3.15); the grouped-data MAD follows σ continuously. Truth: the σ of the rounded
   * values, √(σ² + 1/12). */
  const double sig[] = { 1.6, 2.2, 2.6, 3.1 };
  for (guint k = 0; k < G_N_ELEMENTS (sig); k++)
    {
      for (gsize i = 0; i < (gsize) w * h; i++)
        plane[i] = (float) rint (1000.0 + sig[k] * gauss (r));
      double truth = sqrt (sig[k] * sig[k] + 1.0 / 12.0);
      est = tsr_plane_noise (plane, NULL, w, h, 1);
      g_test_message ("integer data σ %.2f: estimate %.3f (truth %.3f)", sig[k], est, truth);
      g_assert_cmpfloat (fabs (est - truth) / truth, <, 0.02);
    }
  /* The same integer frames with a few pixels repaired (a neighbourhood mean, not a whole
   * number: what the session's cosmetic correction writes): the estimate stays the grouped
   * one (NGC 7023's frames, 6–20 repaired differences among 122 k, all read the same 70.24
   * ADU before). 1 in 4000 pixels repaired; more than 1 in 1000 differences fractional makes
   * the data non-integer (the plain MAD). */
  for (guint k = 0; k < G_N_ELEMENTS (sig); k++)
    {
      for (gsize i = 0; i < (gsize) w * h; i++)
        plane[i] = (float) rint (1000.0 + sig[k] * gauss (r));
      double clean = tsr_plane_noise (plane, NULL, w, h, 1);
      for (gsize i = 977; i < (gsize) w * h; i += 4000)
        plane[i] = 1000.37f + (float) (sig[k] * gauss (r));
      est = tsr_plane_noise (plane, NULL, w, h, 1);
      g_test_message ("integer data σ %.2f with repaired pixels: %.4f (clean %.4f)", sig[k], est, clean);
      g_assert_cmpfloat (fabs (est - clean) / clean, <, 0.005);
      /* not on the plain MAD's grid (1.4826 · whole number / √2) */
      double steps = est * G_SQRT2 / 1.4826;
      g_assert_cmpfloat (fabs (steps - rint (steps)), >, 1e-3);
    }
  for (gsize i = 0; i < (gsize) w * h; i++)
    plane[i] = (float) rint (1000.0 + 2.2 * gauss (r)) + (i % 500 == 0 ? 0.5f : 0.0f);
  est = tsr_plane_noise (plane, NULL, w, h, 1);
  g_assert_cmpfloat (fabs (est * G_SQRT2 / 1.4826 - rint (est * G_SQRT2 / 1.4826)), <, 1e-4);
  /* the grouped median inside its bin: 1 1 2 2 2 3 → 2 − ½ + (3 − 2)/3 */
  float g[] = { 1, 1, 2, 2, 2, 3 };
  g_assert_cmpfloat (fabs (tsr_grouped_median (g, 6, 2.0f) - (1.5 + 1.0 / 3.0)), <, 1e-12);

  g_rand_free (r);
  g_free (plane);
  g_free (mask);
}

/* ------------------------------------------------------------------------------------ */
/* Per-pixel combination                                                                */

static void
test_method_names (void)
{
  static const char *names[] = { "mean", "median", "sigma", "winsor" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      TsrStackMethod m;
      g_assert_true (tsr_stack_method_from_name (names[i], &m));
      g_assert_cmpint (m, ==, (TsrStackMethod) i);
      g_assert_cmpstr (tsr_stack_method_name (m), ==, names[i]);
    }
  TsrStackMethod m;
  g_assert_false (tsr_stack_method_from_name ("average", &m));
  g_assert_false (tsr_stack_method_from_name (NULL, &m));

  TsrStackParams p;
  tsr_stack_params_init (&p);
  g_assert_cmpint (p.method, ==, TSR_STACK_MEAN);
  g_assert_cmpfloat (p.kappa_low, ==, 3.0);
  g_assert_cmpfloat (p.kappa_high, ==, 3.0);
  g_assert_cmpint (p.max_iterations, ==, 5);
  g_assert_cmpfloat (p.min_keep_fraction, ==, 0.3);
}

static void
test_combine_random (void)
{
  GRand *r = g_rand_new_with_seed (4);
  TsrStackParams p;
  tsr_stack_params_init (&p);
  float out;

  for (TsrStackMethod m = TSR_STACK_MEAN; m <= TSR_STACK_WINSOR; m++)
    g_assert_false (tsr_stack_combine (m, &p, NULL, 0, &out));

  static const gsize sizes[] = { 1, 2, 3, 4, 5, 6, 7, 10, 11, 30, 31, 100 };
  for (guint si = 0; si < G_N_ELEMENTS (sizes); si++)
    for (int trial = 0; trial < 60; trial++)
      {
        gsize n = sizes[si];
        float *v = g_new (float, n);
        float *work = g_new (float, n);
        for (gsize i = 0; i < n; i++)
          {
            v[i] = (float) (10.0 + gauss (r));
            if (g_rand_double (r) < 0.12)
              v[i] += (float) (g_rand_boolean (r) ? 1 : -1) * g_rand_double_range (r, 10, 60);
          }
        p.kappa_low = g_rand_double_range (r, 1.5, 3.5);
        p.kappa_high = g_rand_double_range (r, 1.5, 3.5);
        p.max_iterations = g_rand_int_range (r, 1, 8);
        p.min_keep_fraction = g_rand_double_range (r, 0.0, 0.6);

        for (TsrStackMethod m = TSR_STACK_MEAN; m <= TSR_STACK_WINSOR; m++)
          {
            memcpy (work, v, n * sizeof (float));
            g_assert_true (tsr_stack_combine (m, &p, work, n, &out));
            assert_close (out, ref_combine (m, &p, v, n), 1e-6);
          }
        g_free (v);
        g_free (work);
      }
  g_rand_free (r);
}

static void
test_combine_outliers (void)
{
  GRand *r = g_rand_new_with_seed (5);
  TsrStackParams p;
  tsr_stack_params_init (&p);

  for (int trial = 0; trial < 50; trial++)
    {
      const gsize n = 40, n_out = 3;
      float v[40], work[40];
      double clean = 0;
      /* Bounded noise so no genuine sample is ever more than 3σ from the median. */
      for (gsize i = 0; i < n; i++)
        {
          v[i] = (float) (100.0 + g_rand_double_range (r, -1, 1));
          if (i >= n_out)
            clean += v[i];
        }
      v[0] += 500;   /* hot pixel */
      v[1] += 80;    /* satellite */
      v[2] -= 60;    /* cold */
      clean /= (n - n_out);

      float out;
      memcpy (work, v, sizeof v);
      g_assert_true (tsr_stack_combine (TSR_STACK_SIGMA, &p, work, n, &out));
      assert_close (out, clean, 1e-6);
      memcpy (work, v, sizeof v);
      g_assert_true (tsr_stack_combine (TSR_STACK_WINSOR, &p, work, n, &out));
      assert_close (out, clean, 1e-6);
      memcpy (work, v, sizeof v);
      g_assert_true (tsr_stack_combine (TSR_STACK_MEAN, &p, work, n, &out));
      g_assert_cmpfloat (out, >, clean + 10);
    }
  g_rand_free (r);
}

static void
test_min_keep (void)
{
  /* Median 5; distances 0, 0.5, 0.8, 1.8, 2.1, 3, … — no ties among the closest five. */
  static const float data[] = { 0, 1, 2, 3.2f, 4.2f, 5, 5.5f, 7.1f, 8, 9, 30 };
  const gsize n = G_N_ELEMENTS (data);
  float v[G_N_ELEMENTS (data)];
  float out;
  TsrStackParams p;
  tsr_stack_params_init (&p);
  p.kappa_low = p.kappa_high = 0.05;   /* would keep only the median itself */

  for (TsrStackMethod m = TSR_STACK_SIGMA; m <= TSR_STACK_WINSOR; m++)
    {
      /* ceil(0.35 · 11) = 4: {5, 5.5, 4.2, 3.2} */
      p.min_keep_fraction = 0.35;
      memcpy (v, data, sizeof data);
      g_assert_true (tsr_stack_combine (m, &p, v, n, &out));
      assert_close (out, (5 + 5.5 + 4.2 + 3.2) / 4, 1e-6);

      /* ceil(0.4 · 11) = 5: … plus 7.1 */
      p.min_keep_fraction = 0.4;
      memcpy (v, data, sizeof data);
      g_assert_true (tsr_stack_combine (m, &p, v, n, &out));
      assert_close (out, (5 + 5.5 + 4.2 + 3.2 + 7.1) / 5, 1e-6);

      /* 0 still keeps one sample: the median. */
      p.min_keep_fraction = 0.0;
      memcpy (v, data, sizeof data);
      g_assert_true (tsr_stack_combine (m, &p, v, n, &out));
      assert_close (out, 5.0, 1e-6);

      /* 1 keeps everything. */
      p.min_keep_fraction = 1.0;
      memcpy (v, data, sizeof data);
      g_assert_true (tsr_stack_combine (m, &p, v, n, &out));
      assert_close (out, ref_mean (data, n), 1e-6);
    }

  /* Zero iterations: plain mean. */
  p.max_iterations = 0;
  memcpy (v, data, sizeof data);
  g_assert_true (tsr_stack_combine (TSR_STACK_SIGMA, &p, v, n, &out));
  assert_close (out, ref_mean (data, n), 1e-6);
}

/* ------------------------------------------------------------------------------------ */
/* Whole sessions                                                                       */

#define SW 37
#define SH 23
#define SN 7

typedef struct
{
  char *dir;
  int channels;
  float *frames[SN];   /* as written, NaN where invalid */
} Fixture;

static void
fixture_make (Fixture *fx, int channels)
{
  GRand *r = g_rand_new_with_seed (10 + channels);
  gsize npix = (gsize) SW * SH;
  fx->channels = channels;
  fx->dir = tsr_test_tmpdir ("stack");
  for (int f = 0; f < SN; f++)
    {
      float *v = g_new (float, npix * channels);
      for (int c = 0; c < channels; c++)
        for (int y = 0; y < SH; y++)
          for (int x = 0; x < SW; x++)
            v[c * npix + (gsize) y * SW + x] =
              (float) (1.0 + 0.01 * x + 0.02 * y + 0.1 * c + 0.05 * gauss (r));
      for (int c = 0; c < channels; c++)
        {
          /* (0,0) is invalid in every frame; frame 2 has a NaN at (5,7); frame 4 a hot
           * pixel at (10,10) and a cold one at (30,20). */
          v[c * npix + 0] = NAN;
          if (f == 2)
            v[c * npix + 7 * SW + 5] = NAN;
          if (f == 4)
            {
              v[c * npix + 10 * SW + 10] = 500.0f;
              v[c * npix + 20 * SW + 30] = -40.0f;
            }
        }
      fx->frames[f] = v;
      g_autofree char *name = g_strdup_printf ("frame-%02d.fits", f);
      g_autofree char *path = g_build_filename (fx->dir, name, NULL);
      tsr_test_write_fits (path, -32, SW, SH, channels, v, NULL);
    }
  g_rand_free (r);
}

static void
fixture_free (Fixture *fx)
{
  tsr_test_rmtree (fx->dir);
  g_free (fx->dir);
  for (int f = 0; f < SN; f++)
    g_free (fx->frames[f]);
}

static TsrSession *
fixture_session (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  const char *paths[] = { fx->dir, NULL };
  TsrScanOptions opts = { 0 };
  TsrSession *s = tsr_session_scan (paths, &opts, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, SN);
  return s;
}

typedef struct
{
  guint calls, last_done, last_total;
  gboolean monotonic;
} ProgressLog;

static void
progress_cb (const char *phase, guint done, guint total, gpointer user_data)
{
  ProgressLog *log = user_data;
  g_assert_nonnull (phase);
  g_assert_cmpuint (done, <=, total);
  if (log->calls > 0 && done < log->last_done)
    log->monotonic = FALSE;
  log->calls++;
  log->last_done = done;
  log->last_total = total;
}

static gboolean
has_history (const TsrHeader *h, const char *needle)
{
  for (guint i = 0; i < tsr_header_n_cards (h); i++)
    {
      const char *card = tsr_header_card (h, i);
      if (g_str_has_prefix (card, "HISTORY") && strstr (card, needle))
        return TRUE;
    }
  return FALSE;
}

static void
check_stack (Fixture *fx, TsrSession *s, const TsrStackParams *p, gsize expect_bands)
{
  g_autoptr (GError) error = NULL;
  ProgressLog log = { 0, 0, 0, TRUE };
  TsrImage *img = tsr_stack_session (s, p, progress_cb, &log, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (img);
  g_assert_cmpint (img->width, ==, SW);
  g_assert_cmpint (img->height, ==, SH);
  g_assert_cmpint (img->channels, ==, fx->channels);

  g_assert_cmpuint (log.calls, >, 0);
  g_assert_true (log.monotonic);
  g_assert_cmpuint (log.last_done, ==, log.last_total);
  if (expect_bands)
    g_assert_cmpuint (log.last_total, ==, expect_bands * SN);

  gint64 ncombine = 0;
  g_assert_true (tsr_header_get_int (img->header, "NCOMBINE", &ncombine));
  g_assert_cmpint (ncombine, ==, SN);
  g_autofree char *needle = g_strdup_printf ("method=%s", tsr_stack_method_name (p->method));
  g_assert_true (has_history (img->header, needle));

  gsize npix = (gsize) SW * SH;
  float samples[SN];
  for (gsize i = 0; i < npix; i++)
    {
      for (int c = 0; c < fx->channels; c++)
        {
          gsize m = 0;
          for (int f = 0; f < SN; f++)
            {
              float v = fx->frames[f][c * npix + i];
              if (isfinite (v))
                samples[m++] = v;
            }
          float got = img->data[c * npix + i];
          if (m == 0)
            {
              g_assert_cmpint (img->mask[i], ==, 0);
              g_assert_cmpfloat (got, ==, 0.0f);
              continue;
            }
          g_assert_cmpint (img->mask[i], ==, 1);
          assert_close (got, ref_combine (p->method, p, samples, m), 1e-5);
        }
    }
  tsr_image_unref (img);
}

static void
run_session_tests (int channels)
{
  Fixture fx;
  fixture_make (&fx, channels);
  TsrSession *s = fixture_session (&fx);

  /* Three rows per band → ceil(23 / 3) = 8 bands. */
  gsize tiny = (gsize) SN * SW * (channels * sizeof (float) + 1) * 3;

  for (TsrStackMethod m = TSR_STACK_MEAN; m <= TSR_STACK_WINSOR; m++)
    {
      TsrStackParams p;
      tsr_stack_params_init (&p);
      p.method = m;
      check_stack (&fx, s, &p, m == TSR_STACK_MEAN ? 0 : 1);

      p.memory_budget = tiny;
      p.n_threads = 2;
      check_stack (&fx, s, &p, m == TSR_STACK_MEAN ? 0 : 8);

      /* One row per band, harsher clipping. */
      p.memory_budget = 1;
      p.kappa_low = p.kappa_high = 2.0;
      p.max_iterations = 3;
      check_stack (&fx, s, &p, m == TSR_STACK_MEAN ? 0 : SH);
    }

  /* The hot and cold pixels of frame 4 are rejected (with 7 samples one outlier can
   * never pass 3 sample-σ, hence kappa 2 for plain sigma clipping). */
  {
    TsrStackParams p;
    tsr_stack_params_init (&p);
    p.method = TSR_STACK_WINSOR;
    g_autoptr (GError) error = NULL;
    TsrImage *img = tsr_stack_session (s, &p, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (img->data[10 * SW + 10], <, 2.0f);
    g_assert_cmpfloat (img->data[20 * SW + 30], >, 0.5f);
    tsr_image_unref (img);

    p.method = TSR_STACK_SIGMA;
    p.kappa_low = p.kappa_high = 2.0;
    img = tsr_stack_session (s, &p, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (img->data[10 * SW + 10], <, 2.0f);
    g_assert_cmpfloat (img->data[20 * SW + 30], >, 0.5f);
    tsr_image_unref (img);
  }

  tsr_session_unref (s);
  fixture_free (&fx);
}

static void
test_session_mono (void)
{
  run_session_tests (1);
}

static void
test_session_rgb (void)
{
  run_session_tests (3);
}

static void
test_session_errors (void)
{
  Fixture fx;
  fixture_make (&fx, 1);
  TsrSession *s = fixture_session (&fx);
  TsrStackParams p;
  tsr_stack_params_init (&p);

  /* Cancelled before start, for both the streaming and the banded path. */
  GCancellable *cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel);
  for (TsrStackMethod m = TSR_STACK_MEAN; m <= TSR_STACK_MEDIAN; m++)
    {
      g_autoptr (GError) error = NULL;
      p.method = m;
      TsrImage *img = tsr_stack_session (s, &p, NULL, NULL, cancel, &error);
      g_assert_null (img);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  g_object_unref (cancel);

  /* Bad parameters. */
  {
    g_autoptr (GError) error = NULL;
    p.method = TSR_STACK_SIGMA;
    p.kappa_low = -1;
    g_assert_null (tsr_stack_session (s, &p, NULL, NULL, NULL, &error));
    g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  }

  /* A session without frames. */
  {
    g_autoptr (GError) error = NULL;
    TsrSession empty = { 0 };
    empty.ref_count = 1;
    empty.frames = g_ptr_array_new ();
    empty.width = SW;
    empty.height = SH;
    empty.channels = 1;
    tsr_stack_params_init (&p);
    g_assert_null (tsr_stack_session (&empty, &p, NULL, NULL, NULL, &error));
    g_assert_error (error, TSR_ERROR, TSR_ERROR_EMPTY);
    g_ptr_array_unref (empty.frames);
  }

  tsr_session_unref (s);
  fixture_free (&fx);
}

/* The trimmed-σ factor makes the max/min-trimmed standard deviation an unbiased σ
 * estimate (in variance), and the Student-t threshold matches the tabulated quantile. */
static void
test_trimmed_sd (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (4242);
  const guint ns[] = { 5, 11, 40, 64, 150 };
  for (guint k = 0; k < G_N_ELEMENTS (ns); k++)
    {
      guint n = ns[k];
      double acc = 0;
      const int trials = 20000;
      for (int t = 0; t < trials; t++)
        {
          double s1 = 0, s2 = 0, mx = -INFINITY, mn = INFINITY;
          for (guint i = 0; i < n; i++)
            {
              /* Box–Muller, σ = 7 */
              double u = g_rand_double (rng), v = g_rand_double (rng);
              double x = 7.0 * sqrt (-2.0 * log (1.0 - u)) * cos (2 * G_PI * v);
              s1 += x, s2 += x * x;
              mx = MAX (mx, x), mn = MIN (mn, x);
            }
          s1 -= mx + mn, s2 -= mx * mx + mn * mn;
          double m = n - 2, mu = s1 / m;
          acc += (s2 - m * mu * mu) / (m - 1);
        }
      double sd = sqrt (acc / trials) / tsr_trimmed_sd_factor (n);
      g_test_message ("n = %u: corrected trimmed σ %.3f (true 7)", n, sd);
      g_assert_cmpfloat (fabs (sd / 7.0 - 1.0), <, 0.015);
    }
  g_assert_cmpfloat (tsr_trimmed_sd_factor (4), ==, 1.0);
  /* t quantiles of the Gaussian 3σ two-sided tail (p = 0.0027, by numerical integration of
   * the t density): 8 dof 4.277, 30 dof 3.270 */
  g_assert_cmpfloat (fabs (tsr_student_kappa (3.0, 8) / 4.277 - 1.0), <, 0.01);
  g_assert_cmpfloat (fabs (tsr_student_kappa (3.0, 30) / 3.270 - 1.0), <, 0.005);
  g_assert_cmpfloat (tsr_student_kappa (3.0, 1e7), ==, 3.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stats/median", test_median);
  g_test_add_func ("/stats/plane-median-mad", test_plane_median_mad);
  g_test_add_func ("/stats/noise", test_noise);
  g_test_add_func ("/stats/trimmed-sd", test_trimmed_sd);
  g_test_add_func ("/stack/method-names", test_method_names);
  g_test_add_func ("/stack/combine-random", test_combine_random);
  g_test_add_func ("/stack/combine-outliers", test_combine_outliers);
  g_test_add_func ("/stack/min-keep", test_min_keep);
  g_test_add_func ("/stack/session-mono", test_session_mono);
  g_test_add_func ("/stack/session-rgb", test_session_rgb);
  g_test_add_func ("/stack/session-errors", test_session_errors);
  return g_test_run ();
}
