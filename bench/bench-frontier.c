/* bench-frontier — what per-tile weighting can buy on the test session (oracle frontier).
 *
 * Usage: bench-frontier [quick]
 *
 * Generates the session of tests/test-tbqr.c (60 frames 512×384 mono, seed 77, seeing
 * 2–4.5 px with 3 bursts, focus drift, cloud, 2 invalid frames, 3 trails) into a temporary
 * directory (removed at the end), analyses it once with the default parameters, and then
 * accumulates it with several weight families written into TsrWeights.w (frames × tiles;
 * 0 for unused frames). Prints, per setting, the validation numbers of tsr_tbqr_accumulate:
 * matched-star FWHM ratio result/mean, sky-noise ratio normalised by star flux, flux ratio,
 * seam; plus "pred", the noise ratio the weights alone predict for the frames' true sky
 * noise without rejection (mean over tiles of sqrt(Σw²σ²)/Σw ÷ sqrt(Σσ²)/n).
 *
 * ORACLE families use the truth of the generator: the true FWHM of frame f at the tile centre
 * (tsr_synth_psf_at, the tile centre mapped from reference to frame coordinates through the
 * true transforms) and the frame's true noise in reference photometric units,
 * σ_f = sqrt(sky_f + read_noise²) / transparency_f:
 *   oracle-p      w = FWHM(f, t)^−p / σ_f²                 (per tile)
 *   oracle-frame  w = FWHM(f, centre)^−p / σ_f²            (one weight per frame)
 *   select-x      the best x % of the frames per tile by FWHM(f, t), w = 1/σ_f²
 *   select-x-eq   the same, equal weights
 * Also the product's weights (tsr_tbqr_weigh): the defaults, local.mode=quality for a sweep
 * of global.k / local.k, local.mode=psf for a sweep of local.p, and equal weights with
 * rejection on and off.
 * Then the frontier: the best oracle FWHM ratio at noise ratio ≤ 1.05 and the smallest
 * noise ratio at FWHM ratio ≤ 0.90 (linear interpolation along each family).
 * No assertions (see DESIGN.md, Benchmarks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"
#include <glib/gstdio.h>

typedef struct
{
  char name[64];
  double fwhm, noise, flux, seam, pred;
  int family; /* −1 = not an oracle curve */
  double x;   /* family parameter (order along the curve) */
} Point;

static TsrAnalysis *ana;
static TsrSynthTruth *truth;
static double *true_sigma;  /* per frame, reference photometric units */
static float *true_fwhm;    /* frames × tiles */
static GArray *points;

static void
rmtree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *d = g_dir_open (path, 0, NULL);
      const char *n;
      while (d && (n = g_dir_read_name (d)))
        {
          g_autofree char *c = g_build_filename (path, n, NULL);
          rmtree (c);
        }
      if (d)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static double
predicted_noise (const TsrWeights *w)
{
  double acc = 0;
  guint nt = w->n_tiles, n = w->n_frames;
  for (guint t = 0; t < nt; t++)
    {
      double s1 = 0, s2 = 0, e2 = 0;
      guint m = 0;
      for (guint f = 0; f < n; f++)
        if (w->used[f])
          {
            double x = w->w[(gsize) f * nt + t], s = true_sigma[f];
            s1 += x, s2 += x * x * s * s, e2 += s * s, m++;
          }
      acc += (sqrt (s2) / s1) / (sqrt (e2) / m);
    }
  return acc / nt;
}

/* Accumulate with w's weights and params p; record the point. */
static void
run (const char *name, TsrWeights *w, const TsrProject *p, int family, double x)
{
  GError *e = NULL;
  TsrReconstruction *r = tsr_tbqr_accumulate (ana, w, &p->tbqr, &p->run, NULL, NULL, NULL, &e);
  if (!r)
    {
      fprintf (stderr, "bench-frontier: %s: %s\n", name, e->message);
      exit (1);
    }
  const TsrValidation *v = &r->validation;
  Point pt = { .fwhm = v->fwhm_ratio, .noise = v->noise_ratio, .flux = v->flux_ratio, .seam = v->seam,
               .pred = predicted_noise (w), .family = family, .x = x };
  g_strlcpy (pt.name, name, sizeof pt.name);
  g_array_append_val (points, pt);
  printf ("%-28s FWHM %.3f  noise %.3f  (pred %.3f)  flux %.4f  seam %.3f  stars %u\n", name, v->fwhm_ratio,
          v->noise_ratio, pt.pred, v->flux_ratio, v->seam, v->n_matched);
  fflush (stdout);
  tsr_reconstruction_free (r);
}

static TsrWeights *
fresh (const TsrProject *p)
{
  GError *e = NULL;
  TsrWeights *w = tsr_tbqr_weigh (ana, &p->tbqr, &e);
  if (!w)
    {
      fprintf (stderr, "bench-frontier: %s\n", e->message);
      exit (1);
    }
  return w;
}

static int
cmp_pair (const void *a, const void *b)
{
  const double *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}

int
main (int argc, char **argv)
{
  gboolean quick = argc > 1 && strcmp (argv[1], "quick") == 0;
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 60;
  sp.width = 512;
  sp.height = 384;
  sp.seed = 77;
  sp.focus_blur = 1.5;
  sp.fwhm_min = 2.0;
  sp.fwhm_max = 4.5;
  sp.n_bursts = 3;
  sp.shift_max = 20;
  sp.rotation_max_deg = 1.0;
  sp.n_mirrored = 1;
  sp.n_noise = 1;
  sp.n_trails = 3;
  const char *base = g_getenv ("BENCH_DIR");
  GError *e = NULL;
  g_autofree char *dir = NULL;
  if (base)
    dir = g_build_filename (base, "frontier-XXXXXX", NULL), dir = g_mkdtemp (dir) ? dir : NULL;
  else
    dir = g_dir_make_tmp ("tessera-frontier-XXXXXX", &e);
  if (!dir)
    {
      fprintf (stderr, "bench-frontier: no temporary directory\n");
      return 1;
    }
  truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &e);
  const char *paths[] = { dir, NULL };
  TsrSession *s = truth ? tsr_session_scan (paths, NULL, NULL, &e) : NULL;
  TsrProject p;
  tsr_project_init (&p);
  ana = s ? tsr_tbqr_analyse (s, &p.tbqr, &p.run, NULL, NULL, NULL, &e) : NULL;
  if (!ana)
    {
      fprintf (stderr, "bench-frontier: %s\n", e ? e->message : "failed");
      rmtree (dir);
      return 1;
    }
  points = g_array_new (FALSE, FALSE, sizeof (Point));
  guint n = ana->reg->n_frames, nt = ana->n_tiles;
  printf ("session: %u frames, %u tiles of %d px (step %d), session FWHM %.2f px\n", n, nt, ana->tile_size,
          ana->tile_step, ana->session_fwhm);

  /* truth per frame and tile */
  true_sigma = g_new (double, n);
  true_fwhm = g_new (float, (gsize) n * nt);
  TsrTransform Mref, Mi;
  tsr_transform_identity (&Mref);
  memcpy (Mref.m, g_array_index (truth->frames, TsrSynthFrame, ana->reg->reference).matrix, 6 * sizeof (double));
  tsr_transform_invert (&Mref, &Mi);
  for (guint f = 0; f < n; f++)
    {
      const TsrSynthFrame *sf = &g_array_index (truth->frames, TsrSynthFrame, f);
      true_sigma[f] = sqrt (sf->sky + sp.read_noise * sp.read_noise) / MAX (sf->transparency, 1e-3);
      TsrTransform Mf, to_f;
      tsr_transform_identity (&Mf);
      memcpy (Mf.m, sf->matrix, 6 * sizeof (double));
      tsr_transform_compose (&Mf, &Mi, &to_f);
      for (guint t = 0; t < nt; t++)
        {
          double fx, fy, fw = NAN;
          tsr_transform_apply (&to_f, ana->tiles[t].cx, ana->tiles[t].cy, &fx, &fy);
          if (sf->kind != TSR_SYNTH_NOISE)
            tsr_synth_psf_at (truth, f, fx, fy, &fw, NULL, NULL);
          true_fwhm[(gsize) f * nt + t] = fw;
        }
    }
  guint centre = (guint) ((ana->tiles_y / 2) * ana->tiles_x + ana->tiles_x / 2);

  /* 1. the product's default, and equal weights with rejection on and off */
  {
    /* the defaults before local.mode existed */
    TsrProject q = p;
    q.tbqr.local_mode = TSR_LOCAL_QUALITY;
    q.tbqr.global_k = 0.2;
    q.tbqr.local_k = 0.5;
    TsrWeights *w0 = fresh (&q);
    run ("old default (quality 0.2/0.5)", w0, &q, -1, 0);
    tsr_weights_unref (w0);
  }
  TsrWeights *w = fresh (&p);
  run ("default", w, &p, -1, 0);
  {
    /* how well the analysis knows the truth: the estimated σ_f and model FWHM */
    double *a1 = g_new (double, n), *b1 = g_new (double, n);
    guint m = 0;
    for (guint f = 0; f < n; f++)
      if (w->used[f])
        a1[m] = log (ana->frames[f].noise), b1[m] = log (true_sigma[f]), m++;
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (guint i = 0; i < m; i++)
      ma += a1[i] / m, mb += b1[i] / m;
    for (guint i = 0; i < m; i++)
      sab += (a1[i] - ma) * (b1[i] - mb), saa += (a1[i] - ma) * (a1[i] - ma), sbb += (b1[i] - mb) * (b1[i] - mb);
    printf ("analysis vs truth: corr(log σ_f est, log σ_f true) = %.3f over %u frames; ", sab / sqrt (saa * sbb), m);
    double sr = 0, srr = 0;
    guint k = 0;
    for (guint f = 0; f < n; f++)
      if (w->used[f])
        for (guint t = 0; t < nt; t++)
          {
            double mf = tsr_tbqr_model_fwhm (ana, f, ana->tiles[t].cx, ana->tiles[t].cy);
            double tf = true_fwhm[(gsize) f * nt + t];
            if (isfinite (mf) && isfinite (tf))
              sr += mf / tf, srr += (mf / tf) * (mf / tf), k++;
          }
    printf ("model/true FWHM per tile: mean %.3f, sd %.3f (%u)\n", sr / k, sqrt (MAX (srr / k - (sr / k) * (sr / k), 0)), k);
    g_free (a1), g_free (b1);
  }
  for (int rj = 0; rj < 2; rj++)
    {
      TsrProject q = p;
      q.tbqr.reject = rj ? TSR_REJECT_SIGMA : TSR_REJECT_NONE;
      for (guint i = 0; i < (gsize) n * nt; i++)
        w->w[i] = w->used[i / nt] ? 1.0f : 0.0f;
      run (rj ? "equal, reject sigma" : "equal, reject none", w, &q, -1, 0);
      for (guint i = 0; i < (gsize) n * nt; i++)
        w->w[i] = w->used[i / nt] ? (float) (1.0 / (true_sigma[i / nt] * true_sigma[i / nt])) : 0.0f;
      run (rj ? "truth 1/σ², reject sigma" : "truth 1/σ², reject none", w, &q, -1, 0);
    }
  tsr_weights_unref (w);

  /* 2. oracle families, rejection as default (sigma) */
  static const double ps[] = { 0, 1, 2, 3, 4, 6, 8 };
  for (int per_tile = 1; per_tile >= 0; per_tile--)
    for (guint k = 0; k < G_N_ELEMENTS (ps); k++)
      {
        if (quick && !per_tile)
          continue;
        w = fresh (&p);
        for (guint f = 0; f < n; f++)
          for (guint t = 0; t < nt; t++)
            {
              float fw = true_fwhm[(gsize) f * nt + (per_tile ? t : centre)];
              w->w[(gsize) f * nt + t] = w->used[f] && isfinite (fw)
                                           ? (float) (pow (fw, -ps[k]) / (true_sigma[f] * true_sigma[f])) : 0.0f;
            }
        char name[64];
        g_snprintf (name, sizeof name, "%s p=%g", per_tile ? "oracle-tile" : "oracle-frame", ps[k]);
        run (name, w, &p, per_tile ? 0 : 1, ps[k]);
        tsr_weights_unref (w);
      }
  static const double sel[] = { 90, 80, 70, 60, 50, 40, 30 };
  for (int eq = 0; eq < 2; eq++)
    for (guint k = 0; k < G_N_ELEMENTS (sel); k++)
      {
        if (quick && eq)
          continue;
        w = fresh (&p);
        float *v = g_new (float, n);
        for (guint t = 0; t < nt; t++)
          {
            guint m = 0;
            for (guint f = 0; f < n; f++)
              if (w->used[f] && isfinite (true_fwhm[(gsize) f * nt + t]))
                v[m++] = true_fwhm[(gsize) f * nt + t];
            /* the FWHM of the ⌈x %⌉-th best frame */
            guint keep = MAX (1u, (guint) ceil (m * sel[k] / 100.0));
            float *c = g_memdup2 (v, sizeof (float) * m);
            for (guint i = 0; i < keep; i++) /* partial selection sort: small n */
              for (guint j = i + 1; j < m; j++)
                if (c[j] < c[i])
                  {
                    float x = c[i];
                    c[i] = c[j], c[j] = x;
                  }
            float lim = c[keep - 1];
            g_free (c);
            for (guint f = 0; f < n; f++)
              {
                float fw = true_fwhm[(gsize) f * nt + t];
                gboolean in = w->used[f] && isfinite (fw) && fw <= lim;
                w->w[(gsize) f * nt + t] = in ? (eq ? 1.0f : (float) (1.0 / (true_sigma[f] * true_sigma[f]))) : 0.0f;
              }
          }
        g_free (v);
        char name[64];
        g_snprintf (name, sizeof name, "select-%g%s", sel[k], eq ? "-eq" : "");
        run (name, w, &p, 2 + eq, -sel[k]);
        tsr_weights_unref (w);
      }

  /* ramp and exponential families: the stationary point of "linear FWHM functional +
   * λ·noise²" is w ∝ max(0, c − g(F))/σ², a truncated ramp; the exponential lies between
   * the ramp and the power law */
  static const double ks[] = { 4, 3, 2.2, 1.8, 1.5, 1.35, 1.25, 1.15 };
  static const double as[] = { 1, 2, 3, 4, 6, 8 };
  for (int fam2 = 0; fam2 < 2; fam2++)
    for (guint k = 0; k < (fam2 ? G_N_ELEMENTS (as) : G_N_ELEMENTS (ks)); k++)
      {
        if (quick)
          break;
        w = fresh (&p);
        float *v = g_new (float, n);
        for (guint t = 0; t < nt; t++)
          {
            guint m = 0;
            for (guint f = 0; f < n; f++)
              if (w->used[f] && isfinite (true_fwhm[(gsize) f * nt + t]))
                v[m++] = true_fwhm[(gsize) f * nt + t];
            float *c = g_memdup2 (v, sizeof (float) * m);
            double med = tsr_median_inplace (c, m);
            g_free (c);
            for (guint f = 0; f < n; f++)
              {
                float fw = true_fwhm[(gsize) f * nt + t];
                double x = 0;
                if (w->used[f] && isfinite (fw))
                  x = fam2 ? exp (-as[k] * fw / med) : MAX (0.0, ks[k] * med - fw);
                w->w[(gsize) f * nt + t] = (float) (x / (true_sigma[f] * true_sigma[f]));
              }
          }
        g_free (v);
        char name[64];
        if (fam2)
          g_snprintf (name, sizeof name, "exp a=%g", as[k]);
        else
          g_snprintf (name, sizeof name, "ramp c=%g·med", ks[k]);
        run (name, w, &p, 5 + fam2, fam2 ? as[k] : -ks[k]);
        tsr_weights_unref (w);
      }

  /* 3. the product's weights: sweeps */
  static const double gks[] = { 0, 0.2, 0.5 };
  static const double lks[] = { 0.3, 0.5, 0.7, 0.9, 1.2, 1.5 };
  for (guint i = 0; i < G_N_ELEMENTS (gks); i++)
    for (guint j = 0; j < G_N_ELEMENTS (lks); j++)
      {
        if (quick && gks[i] != 0.2)
          continue;
        TsrProject q = p;
        q.tbqr.local_mode = TSR_LOCAL_QUALITY;
        q.tbqr.global_k = gks[i];
        q.tbqr.local_k = lks[j];
        w = fresh (&q);
        char name[64];
        g_snprintf (name, sizeof name, "product g.k=%g l.k=%g", gks[i], lks[j]);
        run (name, w, &q, gks[i] == 0 ? 7 : gks[i] == 0.2 ? 8 : -1, lks[j]);
        tsr_weights_unref (w);
      }
  {
    /* local.k sweep with a wider clamp */
    for (guint j = 0; j < G_N_ELEMENTS (lks); j++)
      {
        if (quick)
          break;
        TsrProject q = p;
        q.tbqr.local_mode = TSR_LOCAL_QUALITY;
        q.tbqr.local_k = lks[j];
        q.tbqr.local_clamp = 3.0;
        w = fresh (&q);
        char name[64];
        g_snprintf (name, sizeof name, "product l.k=%g clamp 3", lks[j]);
        run (name, w, &q, -1, 0);
        tsr_weights_unref (w);
      }
  }
  /* the product's local.mode=psf: L = (F/F_med)^−p */
  static const double pps[] = { 1, 2, 2.5, 3, 3.5, 4, 5, 6, 8 };
  for (guint i = 0; i < 2; i++)
    for (guint j = 0; j < G_N_ELEMENTS (pps); j++)
      {
        if (quick && i == 1)
          continue;
        TsrProject q = p;
        q.tbqr.local_mode = TSR_LOCAL_PSF;
        q.tbqr.local_p = pps[j];
        q.tbqr.global_k = i ? 0.2 : 0;
        w = fresh (&q);
        char name[64];
        g_snprintf (name, sizeof name, "product psf g.k=%g p=%g", q.tbqr.global_k, pps[j]);
        run (name, w, &q, 9 + i, pps[j]);
        tsr_weights_unref (w);
      }
  /* the product's own PSF model in the oracle's matched-filter form (what the analysis
   * can know): w = F_model(f, t)^−p / σ_f,est² */
  for (guint k = 0; k < G_N_ELEMENTS (ps); k++)
    {
      w = fresh (&p);
      for (guint f = 0; f < n; f++)
        for (guint t = 0; t < nt; t++)
          {
            double mf = tsr_tbqr_model_fwhm (ana, f, ana->tiles[t].cx, ana->tiles[t].cy);
            double sg = ana->frames[f].noise;
            w->w[(gsize) f * nt + t] = w->used[f] && isfinite (mf) && mf > 0.5
                                         ? (float) (pow (mf, -ps[k]) / (sg * sg)) : 0.0f;
          }
      char name[64];
      g_snprintf (name, sizeof name, "model-tile p=%g", ps[k]);
      run (name, w, &p, 4, ps[k]);
      tsr_weights_unref (w);
    }

  /* frontier per family: best FWHM at noise ≤ 1.05, least noise at FWHM ≤ 0.90 */
  static const char *fam[] = { "oracle-tile FWHM^-p/σ²", "oracle-frame FWHM^-p/σ²", "select best x % (1/σ²)",
                               "select best x % (equal)", "model-tile F_model^-p/σ_est²",
                               "ramp max(0, c − FWHM)/σ²", "exp(−a·FWHM/med)/σ²",
                               "product quality g.k=0 (l.k)", "product quality g.k=0.2 (l.k)",
                               "product psf g.k=0 (p)", "product psf g.k=0.2 (p)" };
  printf ("\nfrontier (linear interpolation between neighbouring settings of a family):\n");
  double best_all = G_MAXDOUBLE, noise_all = G_MAXDOUBLE;
  for (int fi = 0; fi < (int) G_N_ELEMENTS (fam); fi++)
    {
      double xy[64][2];
      guint m = 0;
      for (guint i = 0; i < points->len && m < 64; i++)
        {
          const Point *pt = &g_array_index (points, Point, i);
          if (pt->family == fi)
            xy[m][0] = pt->x, xy[m][1] = i, m++;
        }
      if (m == 0)
        continue;
      qsort (xy, m, sizeof xy[0], cmp_pair);
      double best = G_MAXDOUBLE, need = G_MAXDOUBLE;
      for (guint i = 0; i < m; i++)
        {
          const Point *a = &g_array_index (points, Point, (guint) xy[i][1]);
          if (a->noise <= 1.05)
            best = MIN (best, a->fwhm);
          if (a->fwhm <= 0.90)
            need = MIN (need, a->noise);
          if (i + 1 < m)
            {
              const Point *b = &g_array_index (points, Point, (guint) xy[i + 1][1]);
              if ((a->noise - 1.05) * (b->noise - 1.05) < 0)
                best = MIN (best, a->fwhm + (b->fwhm - a->fwhm) * (1.05 - a->noise) / (b->noise - a->noise));
              if ((a->fwhm - 0.90) * (b->fwhm - 0.90) < 0)
                need = MIN (need, a->noise + (b->noise - a->noise) * (0.90 - a->fwhm) / (b->fwhm - a->fwhm));
            }
        }
      printf ("  %-30s best FWHM ratio at noise ≤ 1.05: %s%.3f   noise for FWHM ≤ 0.90: ", fam[fi],
              best < G_MAXDOUBLE ? "" : "none ", best < G_MAXDOUBLE ? best : NAN);
      if (need < G_MAXDOUBLE)
        printf ("%.3f\n", need);
      else
        printf ("not reached\n");
      if (fi < 4 || fi == 5 || fi == 6) /* the oracles */
        best_all = MIN (best_all, best), noise_all = MIN (noise_all, need);
    }
  printf ("ORACLE BOUND: best FWHM ratio at noise ≤ 1.05 = %.3f; least noise ratio for FWHM ≤ 0.90 = %s%.3f\n",
          best_all, noise_all < G_MAXDOUBLE ? "" : "not reached ", noise_all < G_MAXDOUBLE ? noise_all : NAN);

  g_array_free (points, TRUE);
  g_free (true_sigma);
  g_free (true_fwhm);
  tsr_analysis_unref (ana);
  tsr_session_unref (s);
  tsr_synth_truth_free (truth);
  rmtree (dir);
  return 0;
}
