/* test-denoise.c — the learned denoiser on generated skies with known truth (held out:
 * seeds other than the training seeds 101-110): PSNR gain at three noise levels and against
 * the wavelet baseline, isolated-star flux and FWHM, no seams at tile boundaries (and the
 * naïve tiling has them), linear in / linear out, strength, mono, masks, parameters, CLI. */
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"
#include "tsr-test-util.h"

typedef struct
{
  TsrImage *clean, *noisy;
  TsrSynthTruth *truth;
  double a, sky;
} Scene;

static void
scene_free (Scene *s)
{
  g_clear_pointer (&s->clean, tsr_image_unref);
  g_clear_pointer (&s->noisy, tsr_image_unref);
  g_clear_pointer (&s->truth, tsr_synth_truth_free);
}

/* clean = a·truth + sky (with a 10 % gradient); noisy = clean + Poisson (Gaussian
 * approximation) + 3 e⁻ read noise. RGB unless mono. */
static Scene
make_scene_noise (guint64 seed, guint32 noise_seed, int w, int h, double a, double sky, gboolean mono)
{
  Scene s = { 0 };
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.width = w;
  p.height = h;
  p.seed = seed;
  p.n_frames = 1;
  p.n_mirrored = p.n_noise = p.n_trails = 0;
  p.cfa = mono ? TSR_CFA_NONE : TSR_CFA_RGGB;
  s.truth = tsr_synth_plan (&p);
  TsrImage *t = tsr_synth_render_truth (s.truth, 3.0);
  s.a = a;
  s.sky = sky;
  s.clean = tsr_image_new (w, h, t->channels);
  s.noisy = tsr_image_new (w, h, t->channels);
  g_autoptr (GRand) r = g_rand_new_with_seed (noise_seed);
  for (int c = 0; c < t->channels; c++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        {
          gsize i = (gsize) c * w * h + (gsize) y * w + x;
          double v = a * t->data[i] + sky * (1.0 + 0.1 * (x - w / 2.0) / w);
          double u1 = g_rand_double (r), u2 = g_rand_double (r);
          double z = sqrt (-2.0 * log (1.0 - u1)) * cos (2 * G_PI * u2);
          s.clean->data[i] = (float) v;
          s.noisy->data[i] = (float) (v + z * sqrt (v + 9.0));
        }
  tsr_image_unref (t);
  return s;
}

static Scene
make_scene (guint64 seed, int w, int h, double a, double sky, gboolean mono)
{
  return make_scene_noise (seed, (guint32) seed * 7 + 1, w, h, a, sky, mono);
}

/* The seeds of the PSNR and star scenes: 201… (held out from the training's 101–110).
 * TSR_DENOISE_SEEDS=301 (measurement runs only) moves them to a validation set on which
 * the post-processing's settings were chosen, so that the numbers the test asserts are
 * not the ones the settings were tuned on (docs/denoise.md). */
static guint64
seed_base (void)
{
  const char *s = g_getenv ("TSR_DENOISE_SEEDS");
  return s ? g_ascii_strtoull (s, NULL, 10) : 201;
}

/* The defaults; TSR_DENOISE_REFINE=0 (measurement runs only) turns the refinement off to
 * measure the network alone, the "before" column of docs/denoise.md. */
static void
params_init (TsrDenoiseParams *p)
{
  tsr_denoise_params_init (p);
  const char *r = g_getenv ("TSR_DENOISE_REFINE");
  if (r)
    p->refine = atoi (r);
}

static double
psnr (const TsrImage *img, const TsrImage *ref)
{
  gsize n = (gsize) img->channels * tsr_image_npix (img);
  double mse = 0, lo = G_MAXDOUBLE, hi = -G_MAXDOUBLE;
  const gsize np = tsr_image_npix (img);
  gsize used = 0;
  for (gsize i = 0; i < n; i++)
    {
      if (!img->mask[i % np])
        continue;
      used++;
      double d = img->data[i] - ref->data[i];
      mse += d * d;
      lo = MIN (lo, ref->data[i]);
      hi = MAX (hi, ref->data[i]);
    }
  mse /= used;
  return 10 * log10 ((hi - lo) * (hi - lo) / mse);
}

static TsrImage *
run_denoise (const TsrImage *in, const TsrDenoiseParams *p)
{
  GError *e = NULL;
  TsrDenoiseStats st;
  TsrImage *out = tsr_denoise_run (in, p, &st, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_nonnull (out);
  return out;
}

/* The best PSNR of the wavelet baseline over its threshold (an oracle choice: the
 * strongest classical competitor). */
static double
best_wavelet (const Scene *s, double *best_k)
{
  const double ks[] = { 1.0, 1.5, 2.0, 2.5, 3.0, 4.0 };
  double best = -1e9;
  for (guint i = 0; i < G_N_ELEMENTS (ks); i++)
    {
      g_autoptr (TsrImage) b = tsr_wavelet_denoise (s->noisy, 5, ks[i]);
      double q = psnr (b, s->clean);
      if (q > best)
        {
          best = q;
          *best_k = ks[i];
        }
    }
  return best;
}

static void
test_psnr_levels (void)
{
  /* exposure scale a: star and nebula signal relative to the sky noise */
  const double levels[][2] = { { 0.2, 400 }, { 1.0, 400 }, { 5.0, 400 } };
  TsrDenoiseParams p;
  params_init (&p);
  for (guint l = 0; l < G_N_ELEMENTS (levels); l++)
    {
      Scene s = make_scene (seed_base () + l, 384, 320, levels[l][0], levels[l][1], FALSE);
      g_autoptr (TsrImage) d = run_denoise (s.noisy, &p);
      /* the baseline a user gets without choosing: the textbook 3σ threshold */
      g_autoptr (TsrImage) w3 = tsr_wavelet_denoise (s.noisy, 5, 3.0);
      double k = 0, q_in = psnr (s.noisy, s.clean), q_out = psnr (d, s.clean), q_wav = best_wavelet (&s, &k);
      double q_w3 = psnr (w3, s.clean);
      g_test_message ("level a=%.1f sky=%.0f: PSNR noisy %.2f dB, denoised %.2f dB (gain %+.2f), wavelet best k "
                      "(k=%.1f, oracle) %.2f dB (gain %+.2f), wavelet k=3 %.2f dB; denoiser − wavelet: %+.2f dB "
                      "(oracle k), %+.2f dB (k=3)",
                      levels[l][0], levels[l][1], q_in, q_out, q_out - q_in, k, q_wav, q_wav - q_in, q_w3,
                      q_out - q_wav, q_out - q_w3);
      g_assert_cmpfloat (q_out - q_in, >, 3.0);
      /* The target: ≥ +1 dB over the baseline, at every level, against the
       * oracle-k baseline (+2.4, +3.2, +1.04 dB on these scenes; +3.3, +3.5, +2.3 dB on the
       * validation scenes the refinement's settings were chosen on, docs/denoise.md) and
       * so also against the fixed k = 3 a user gets (+2.8, +4.4, +3.5 dB). */
      g_assert_cmpfloat (q_out - q_wav, >=, 1.0);
      g_assert_cmpfloat (q_out - q_w3, >=, 1.0);
      if (l == 1)
        {
          /* the network alone (denoise.refine = 0): what the refinement adds */
          TsrDenoiseParams p0 = p;
          p0.refine = 0;
          g_autoptr (TsrImage) d0 = run_denoise (s.noisy, &p0);
          double q0 = psnr (d0, s.clean);
          g_test_message ("  network alone %.2f dB, refined %.2f dB (%+.2f)", q0, q_out, q_out - q0);
          g_assert_cmpfloat (q0 - q_in, >, 3.0);
          g_assert_cmpfloat (q_out - q0, >, 1.5);
        }
      scene_free (&s);
    }
}

/* aperture sum (radius r) minus the median of the annulus [r+3, r+9], over all channels */
static double
aperture_flux (const TsrImage *img, double cx, double cy, double r)
{
  double sum = 0;
  for (int c = 0; c < img->channels; c++)
    {
      const float *pl = tsr_image_plane (img, c);
      GArray *ann = g_array_new (FALSE, FALSE, sizeof (float));
      double s = 0;
      int n = 0;
      for (int y = (int) floor (cy - r - 9); y <= (int) ceil (cy + r + 9); y++)
        for (int x = (int) floor (cx - r - 9); x <= (int) ceil (cx + r + 9); x++)
          {
            double d = hypot (x - cx, y - cy);
            float v = pl[(gsize) y * img->width + x];
            if (d <= r)
              {
                s += v;
                n++;
              }
            else if (d >= r + 3 && d <= r + 9)
              g_array_append_val (ann, v);
          }
      /* median by sorting a copy */
      float *v = (float *) ann->data;
      for (guint i = 1; i < ann->len; i++)
        for (guint j = i; j > 0 && v[j - 1] > v[j]; j--)
          {
            float t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
          }
      sum += s - n * v[ann->len / 2];
      g_array_free (ann, TRUE);
    }
  return sum;
}

/* second-moment radius of the background-subtracted star within 6 px → FWHM-like width */
static double
moment_width (const TsrImage *img, double cx, double cy, double bgr)
{
  double s = 0, s2 = 0;
  for (int c = 0; c < img->channels; c++)
    {
      const float *pl = tsr_image_plane (img, c);
      for (int y = (int) cy - 6; y <= (int) cy + 6; y++)
        for (int x = (int) cx - 6; x <= (int) cx + 6; x++)
          {
            double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            if (d2 > 36)
              continue;
            double v = pl[(gsize) y * img->width + x] - bgr;
            s += v;
            s2 += v * d2;
          }
    }
  return sqrt (s2 / s);
}

/* Standard deviation of aperture_flux (r = 9) on the noisy input around a star, from the
 * noise model of make_scene: the variance of every aperture sample (clean + 9 e⁻²) plus
 * that of the annulus median (π/2 · σ² / n per sample), times the aperture's area. */
static double
aperture_noise (const Scene *s, double cx, double cy)
{
  const TsrImage *img = s->clean;
  double var = 0;
  for (int c = 0; c < img->channels; c++)
    {
      const float *pl = tsr_image_plane (img, c);
      int nap = 0, nann = 0;
      double vap = 0;
      for (int y = (int) floor (cy - 18); y <= (int) ceil (cy + 18); y++)
        for (int x = (int) floor (cx - 18); x <= (int) ceil (cx + 18); x++)
          {
            double d = hypot (x - cx, y - cy);
            if (d <= 9)
              {
                vap += pl[(gsize) y * img->width + x] + 9.0;
                nap++;
              }
            else if (d >= 12 && d <= 18)
              nann++;
          }
      var += vap + (double) nap * nap * G_PI / 2 * (s->sky + 9.0) / nann;
    }
  return sqrt (var);
}

static void
test_star_flux_fwhm (void)
{
  Scene s = make_scene (seed_base () + 10, 640, 640, 1.0, 400, FALSE);
  TsrDenoiseParams p;
  params_init (&p);
  g_autoptr (TsrImage) d = run_denoise (s.noisy, &p);
  GArray *stars = s.truth->stars;
  guint n = 0, n_quiet = 0;
  double worst_flux = 0, worst_quiet = 0, worst_sigma = 0, worst_w = 0, sum_ratio = 0;
  for (guint i = 0; i < stars->len; i++)
    {
      const TsrSynthStar *st = &g_array_index (stars, TsrSynthStar, i);
      double f = st->flux * s.a;
      if (f < 2e4 || st->x < 30 || st->y < 30 || st->x > 640 - 30 || st->y > 640 - 30)
        continue;
      gboolean isolated = TRUE;
      for (guint k = 0; k < stars->len && isolated; k++)
        {
          const TsrSynthStar *o = &g_array_index (stars, TsrSynthStar, k);
          if (k != i && hypot (o->x - st->x, o->y - st->y) < 20 && o->flux > 0.05 * st->flux)
            isolated = FALSE;
        }
      if (!isolated)
        continue;
      double fc = aperture_flux (s.clean, st->x, st->y, 9), fd = aperture_flux (d, st->x, st->y, 9);
      double wc = moment_width (s.clean, st->x, st->y, s.sky), wd = moment_width (d, st->x, st->y, s.sky);
      double rf = fd / fc - 1, rw = wd / wc - 1;
      /* for comparison: the same aperture on the noisy input, and its expected noise */
      double rn = aperture_flux (s.noisy, st->x, st->y, 9) / fc - 1, sg = aperture_noise (&s, st->x, st->y) / fc;
      g_test_message ("star at (%.1f, %.1f) flux %.3g e⁻ (input aperture noise %.2f %%): flux ratio %+.3f %% (noisy "
                      "input %+.3f %%), width ratio %+.3f %%",
                      st->x, st->y, fc, 100 * sg, 100 * rf, 100 * rn, 100 * rw);
      worst_flux = MAX (worst_flux, fabs (rf));
      worst_sigma = MAX (worst_sigma, fabs (rf) / sg);
      worst_w = MAX (worst_w, rw);
      sum_ratio += rf;
      n++;
      /* stars bright enough that 1 % is at least twice the input's own aperture noise */
      if (sg < 0.005)
        {
          worst_quiet = MAX (worst_quiet, fabs (rf));
          n_quiet++;
        }
    }
  g_test_message ("%u isolated bright stars: worst |flux change| %.3f %% (%.2f× its input aperture noise), mean "
                  "%+.3f %%; the %u with input aperture noise < 0.5 %%: worst %.3f %%; worst width growth %+.3f %%",
                  n, 100 * worst_flux, worst_sigma, n ? 100 * sum_ratio / n : 0.0, n_quiet, 100 * worst_quiet,
                  100 * worst_w);
  g_assert_cmpuint (n, >=, 6);
  g_assert_cmpuint (n_quiet, >=, 4);
  /* The target, every isolated star within 1 %, holds where the data allow it:
   * every star whose input aperture noise is < 0.5 %. The fainter ones (noise 0.7–1 %)
   * stay within 3 σ of their own input noise: the faintest is −2.7 % (2.3 σ) where the
   * noisy input itself measures −2.1 % (the core is low in the data). */
  g_assert_cmpfloat (worst_quiet, <, 0.01);
  g_assert_cmpfloat (worst_sigma, <, 3.0);
  g_assert_cmpfloat (fabs (sum_ratio / n), <, 0.005);
  /* FWHM not broadened by more than 3 % (the shipped pipeline: +0.7 %; the bound is
   * tighter to catch a regression) */
  g_assert_cmpfloat (worst_w, <, 0.015);
  scene_free (&s);
}

/* The photometry target, every isolated star within 1 %, as a property of the
 * denoiser rather than of one noise draw: the same sky (same stars) under K independent
 * noise realisations, denoised each time; a star's flux bias is the mean over the K
 * outputs of (aperture flux / clean flux − 1). One draw cannot show it for the faint stars
 * (their own aperture noise is 0.7–1.2 %, test above); the mean of K draws has K^-1/2 of
 * that noise, so a systematic change of 1 % stands out while a noise-free denoiser would
 * read within ~0.4 %. The same mean over the noisy inputs is printed beside it. */
static void
test_star_flux_bias (void)
{
  enum { K = 8 };
  const int w = 640, h = 640;
  TsrDenoiseParams p;
  params_init (&p);
  Scene s0 = make_scene_noise (seed_base () + 10, 1, w, h, 1.0, 400, FALSE);
  GArray *stars = s0.truth->stars;
  g_autoptr (GArray) sel = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < stars->len; i++)
    {
      const TsrSynthStar *st = &g_array_index (stars, TsrSynthStar, i);
      if (st->flux * s0.a < 2e4 || st->x < 30 || st->y < 30 || st->x > w - 30 || st->y > h - 30)
        continue;
      gboolean isolated = TRUE;
      for (guint k = 0; k < stars->len && isolated; k++)
        {
          const TsrSynthStar *o = &g_array_index (stars, TsrSynthStar, k);
          if (k != i && hypot (o->x - st->x, o->y - st->y) < 20 && o->flux > 0.05 * st->flux)
            isolated = FALSE;
        }
      if (isolated)
        g_array_append_val (sel, i);
    }
  g_assert_cmpuint (sel->len, >=, 6);
  g_autofree double *fc = g_new0 (double, sel->len), *sg = g_new0 (double, sel->len);
  g_autofree double *bias_out = g_new0 (double, sel->len), *bias_in = g_new0 (double, sel->len);
  for (guint j = 0; j < sel->len; j++)
    {
      const TsrSynthStar *st = &g_array_index (stars, TsrSynthStar, g_array_index (sel, guint, j));
      fc[j] = aperture_flux (s0.clean, st->x, st->y, 9);
      sg[j] = aperture_noise (&s0, st->x, st->y) / fc[j];
    }
  for (int k = 0; k < K; k++)
    {
      Scene s = k == 0 ? s0 : make_scene_noise (seed_base () + 10, 1000 + 7919 * (guint32) k, w, h, 1.0, 400, FALSE);
      g_autoptr (TsrImage) d = run_denoise (s.noisy, &p);
      for (guint j = 0; j < sel->len; j++)
        {
          const TsrSynthStar *st = &g_array_index (stars, TsrSynthStar, g_array_index (sel, guint, j));
          bias_out[j] += (aperture_flux (d, st->x, st->y, 9) / fc[j] - 1) / K;
          bias_in[j] += (aperture_flux (s.noisy, st->x, st->y, 9) / fc[j] - 1) / K;
        }
      if (k != 0)
        scene_free (&s);
    }
  double worst = 0;
  for (guint j = 0; j < sel->len; j++)
    {
      const TsrSynthStar *st = &g_array_index (stars, TsrSynthStar, g_array_index (sel, guint, j));
      g_test_message ("star at (%.1f, %.1f) flux %.3g e⁻ (one draw's aperture noise %.2f %%, of the mean of %d: "
                      "%.2f %%): mean flux change %+.3f %% (noisy inputs %+.3f %%)",
                      st->x, st->y, fc[j], 100 * sg[j], K, 100 * sg[j] / sqrt (K), 100 * bias_out[j],
                      100 * bias_in[j]);
      worst = MAX (worst, fabs (bias_out[j]));
    }
  g_test_message ("%u isolated stars, %d noise draws each: worst mean flux change %.3f %%", sel->len, K,
                  100 * worst);
  /* every isolated star within 1 % (issue #14) */
  g_assert_cmpfloat (worst, <, 0.01);
  scene_free (&s0);
}

/* Mean squared horizontal step of the residual (denoised − clean) across tile-boundary
 * columns, over the same at all other columns; same for rows. */
static double
seam_ratio (const TsrImage *d, const TsrImage *clean, int tile, double overlap)
{
  int ov = (int) lround (tile * overlap);
  ov -= ov % 2;
  int step = tile - ov, origin = -ov / 2;
  int w = d->width, h = d->height;
  g_autofree double *col = g_new0 (double, w), *row = g_new0 (double, h);
  for (int c = 0; c < d->channels; c++)
    {
      const float *a = tsr_image_plane (d, c), *b = tsr_image_plane (clean, c);
      for (int y = 1; y < h; y++)
        for (int x = 1; x < w; x++)
          {
            gsize i = (gsize) y * w + x;
            double r = a[i] - b[i], rl = a[i - 1] - b[i - 1], ru = a[i - w] - b[i - w];
            col[x] += (r - rl) * (r - rl);
            row[y] += (r - ru) * (r - ru);
          }
    }
  double sb = 0, so = 0;
  int nb = 0, no = 0;
  for (int dir = 0; dir < 2; dir++)
    {
      int n = dir ? h : w;
      double *e = dir ? row : col;
      for (int i = 1; i < n; i++)
        {
          gboolean boundary = FALSE;
          for (int t0 = origin; t0 < n + tile; t0 += step)
            boundary = boundary || i == t0 || i == t0 + tile;
          if (boundary)
            {
              sb += e[i];
              nb++;
            }
          else
            {
              so += e[i];
              no++;
            }
        }
    }
  return (sb / nb) / (so / no);
}

static void
test_seams (void)
{
  Scene s = make_scene (221, 448, 448, 0.5, 400, FALSE);
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  p.tile = 128;
  g_autoptr (TsrImage) d = run_denoise (s.noisy, &p);
  double feathered = seam_ratio (d, s.clean, p.tile, p.overlap);
  p.overlap = 0;
  g_autoptr (TsrImage) naive = run_denoise (s.noisy, &p);
  double nr = seam_ratio (naive, s.clean, p.tile, 0);
  g_test_message ("residual step power at tile boundaries / elsewhere: feathered %.3f, naïve %.3f", feathered, nr);
  g_assert_cmpfloat (feathered, <, 1.1);
  g_assert_cmpfloat (nr, >, feathered);
  scene_free (&s);
}

static void
test_linear (void)
{
  Scene s = make_scene (231, 200, 160, 1.0, 300, FALSE);
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  p.tile = 128;
  g_autoptr (TsrImage) d = run_denoise (s.noisy, &p);
  /* the same data in other units, with an offset: ADU = e⁻/gain + bias */
  g_autoptr (TsrImage) x = tsr_image_copy (s.noisy);
  const float scale = 1.0f / 3.7f, off = 512.0f;
  gsize n = 3 * tsr_image_npix (x);
  for (gsize i = 0; i < n; i++)
    x->data[i] = x->data[i] * scale + off;
  g_autoptr (TsrImage) dx = run_denoise (x, &p);
  double md = 0, mv = 0;
  for (gsize i = 0; i < n; i++)
    {
      md = MAX (md, fabs ((dx->data[i] - off) / scale - d->data[i]));
      mv = MAX (mv, fabs (d->data[i]));
    }
  g_test_message ("denoise(a·x+b) vs a·denoise(x)+b: max diff %.3g of max %.3g", md, mv);
  g_assert_cmpfloat (md / mv, <, 1e-4);
  /* the sky level is kept: the median of the output matches the median of the clean sky */
  double bg_d, sg_d, bg_c, sg_c;
  tsr_denoise_stats (d, 1, &bg_d, &sg_d);
  tsr_denoise_stats (s.clean, 1, &bg_c, &sg_c);
  g_test_message ("sky median: denoised %.2f, clean %.2f (noise σ %.1f)", bg_d, bg_c, sqrt (s.sky));
  g_assert_cmpfloat (fabs (bg_d - bg_c), <, 0.1 * sqrt (s.sky));
  scene_free (&s);
}

static void
test_strength_mono_mask (void)
{
  Scene s = make_scene (241, 160, 144, 1.0, 300, TRUE);
  g_assert_cmpint (s.noisy->channels, ==, 1);
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  p.tile = 64;
  /* a hole of invalid samples: passed through unchanged */
  for (int y = 50; y < 60; y++)
    for (int x = 70; x < 90; x++)
      {
        s.noisy->mask[y * 160 + x] = 0;
        s.noisy->data[y * 160 + x] = (float) (y * 1000 + x);
      }
  g_autoptr (TsrImage) full = run_denoise (s.noisy, &p);
  g_assert_cmpfloat (psnr (full, s.clean), >, psnr (s.noisy, s.clean) + 3.0);
  for (int y = 50; y < 60; y++)
    for (int x = 70; x < 90; x++)
      {
        g_assert_cmpfloat (full->data[y * 160 + x], ==, (float) (y * 1000 + x));
        g_assert_cmpint (full->mask[y * 160 + x], ==, 0);
      }
  p.strength = 0.0;
  g_autoptr (TsrImage) none = run_denoise (s.noisy, &p);
  g_assert_cmpmem (none->data, 4 * tsr_image_npix (none), s.noisy->data, 4 * tsr_image_npix (none));
  p.strength = 0.5;
  g_autoptr (TsrImage) half = run_denoise (s.noisy, &p);
  for (gsize i = 0; i < tsr_image_npix (half); i += 97)
    g_assert_cmpfloat (fabs (half->data[i] - 0.5f * (full->data[i] + s.noisy->data[i])), <,
                       1e-3 * (fabs (full->data[i]) + 1));
  scene_free (&s);
}

static void
test_params_and_errors (void)
{
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  GError *e = NULL;
  g_assert_true (tsr_denoise_params_set (&p, "denoise.strength", "0.3", &e));
  g_assert_cmpfloat (p.strength, ==, 0.3);
  g_assert_false (tsr_denoise_params_set (&p, "denoise.strength", "1.5", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (e->message, "denoise.strength"));
  g_clear_error (&e);
  g_assert_cmpfloat (p.strength, ==, 0.3);
  g_assert_false (tsr_denoise_params_set (&p, "denoise.tile", "130", &e));
  g_clear_error (&e);
  g_assert_false (tsr_denoise_params_set (&p, "denoise.strenght", "1", &e));
  g_assert_nonnull (strstr (e->message, "denoise.strenght"));
  g_clear_error (&e);
  g_assert_true (tsr_denoise_params_set (&p, "denoise.refine", "0", &e));
  g_assert_cmpint (p.refine, ==, 0);
  g_assert_false (tsr_denoise_params_set (&p, "denoise.refine", "2", &e));
  g_assert_nonnull (strstr (e->message, "denoise.refine"));
  g_clear_error (&e);
  g_assert_true (tsr_denoise_params_set (&p, "denoise.refine_k", "1.5", &e));
  g_assert_cmpfloat (p.refine_k, ==, 1.5);
  g_assert_false (tsr_denoise_params_set (&p, "denoise.refine_k", "0.1", &e));
  g_assert_nonnull (strstr (e->message, "denoise.refine_k"));
  g_clear_error (&e);
  g_assert_true (tsr_denoise_params_set (&p, "denoise.overlap", "0.3", &e));
  g_autofree char *ov = tsr_denoise_params_get_string (&p, "denoise.overlap");
  g_assert_cmpfloat (g_ascii_strtod (ov, NULL), ==, 0.3);
  guint n;
  const TsrParamSpec *sp = tsr_denoise_params_specs (&n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *v = tsr_denoise_params_get_string (&p, sp[i].key);
      g_assert_nonnull (v);
    }
  /* a raw mosaic is refused */
  g_autoptr (TsrImage) raw = tsr_image_new (64, 64, 1);
  raw->cfa = TSR_CFA_RGGB;
  tsr_denoise_params_init (&p);
  g_assert_null (tsr_denoise_run (raw, &p, NULL, NULL, NULL, NULL, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (e->message, "Bayer"));
  g_clear_error (&e);
  /* a missing weight file names it */
  p.weights = g_strdup ("/nonexistent/weights.tnnw");
  g_autoptr (TsrImage) img = tsr_image_new (64, 64, 1);
  g_assert_null (tsr_denoise_run (img, &p, NULL, NULL, NULL, NULL, &e));
  g_assert_nonnull (strstr (e->message, "/nonexistent/weights.tnnw"));
  g_clear_error (&e);
  tsr_denoise_params_clear (&p);
  /* cancelled before it starts */
  tsr_denoise_params_init (&p);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel);
  g_assert_null (tsr_denoise_run (img, &p, NULL, NULL, NULL, cancel, &e));
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
}

static void
test_cli (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("denoise-cli");
  g_autofree char *in = g_build_filename (dir, "in.fits", NULL);
  g_autofree char *out = g_build_filename (dir, "out.fits", NULL);
  Scene s = make_scene (251, 130, 100, 1.0, 300, FALSE);
  GError *e = NULL;
  g_assert_true (tsr_fits_write (in, s.noisy, NULL, &e));
  const char *args[] = { "denoise", in, "-o", out, "--strength", "0.8", "--set", "denoise.tile=64", NULL };
  g_autofree char *so = NULL, *se = NULL;
  int rc = tsr_test_run_cli (args, &so, &se);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (so, "denoised 130×100 RGB"));
  g_autoptr (TsrImage) r = tsr_fits_read (out, &e);
  g_assert_no_error (e);
  g_assert_cmpint (r->channels, ==, 3);
  g_assert_cmpfloat (psnr (r, s.clean), >, psnr (s.noisy, s.clean) + 2.0);
  /* errors: bad strength, same file, missing input, bad key */
  const char *bad1[] = { "denoise", in, "-o", out, "--strength", "2", NULL };
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  g_assert_cmpint (tsr_test_run_cli (bad1, &so, &se), !=, 0);
  g_assert_nonnull (strstr (se, "--strength"));
  const char *bad2[] = { "denoise", in, "-o", in, NULL };
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  g_assert_cmpint (tsr_test_run_cli (bad2, &so, &se), !=, 0);
  g_assert_nonnull (strstr (se, "overwrite the input"));
  g_autofree char *missing = g_build_filename (dir, "missing.fits", NULL);
  const char *bad3[] = { "denoise", missing, "-o", out, NULL };
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  g_assert_cmpint (tsr_test_run_cli (bad3, &so, &se), !=, 0);
  g_assert_nonnull (strstr (se, "missing.fits"));
  const char *bad4[] = { "denoise", in, "-o", out, "--set", "denoise.nope=1", NULL };
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  g_assert_cmpint (tsr_test_run_cli (bad4, &so, &se), !=, 0);
  g_assert_nonnull (strstr (se, "denoise.nope"));
  /* no temporary file is left next to the output */
  g_autoptr (GDir) gd = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (gd)))
    g_assert_true (strcmp (name, "in.fits") == 0 || strcmp (name, "out.fits") == 0);
  scene_free (&s);
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* measurement runs (docs/denoise.md): print every number, do not stop at the first miss */
  if (g_getenv ("TSR_DENOISE_MEASURE"))
    g_test_set_nonfatal_assertions ();
  g_test_add_func ("/denoise/psnr-levels", test_psnr_levels);
  g_test_add_func ("/denoise/star-flux-fwhm", test_star_flux_fwhm);
  g_test_add_func ("/denoise/star-flux-bias", test_star_flux_bias);
  g_test_add_func ("/denoise/seams", test_seams);
  g_test_add_func ("/denoise/linear", test_linear);
  g_test_add_func ("/denoise/strength-mono-mask", test_strength_mono_mask);
  g_test_add_func ("/denoise/params-errors", test_params_and_errors);
  g_test_add_func ("/denoise/cli", test_cli);
  return g_test_run ();
}
