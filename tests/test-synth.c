/* test-synth.c — the synthetic session generator and its truth. */
#include "tsr-test-util.h"

#include <fitsio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* A quiet, small scene: no sky, no extended sources, no invalid frames, no noise. */
static void
quiet_params (TsrSynthParams *p, int w, int h)
{
  tsr_synth_params_init (p);
  p->width = w;
  p->height = h;
  p->n_frames = 5;
  p->sky = 0;
  p->sky_drift = 0;
  p->gradient = 0;
  p->extended = FALSE;
  p->n_trails = 0;
  p->n_mirrored = 0;
  p->n_noise = 0;
  p->read_noise = 0;
}

/* Replace the stars by one star whose position in frame `index` is (fx, fy). */
static void
set_single_star (TsrSynthTruth *t, guint index, double fx, double fy, double flux,
                 const double color[3])
{
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);
  const double *m = f->matrix;
  double det = m[0] * m[4] - m[1] * m[3];
  double ux = fx - m[2], uy = fy - m[5];
  TsrSynthStar s = { 0 };
  s.x = (m[4] * ux - m[1] * uy) / det;
  s.y = (-m[3] * ux + m[0] * uy) / det;
  s.flux = flux;
  for (int c = 0; c < 3; c++)
    s.color[c] = color ? color[c] : 1.0;
  g_array_set_size (t->stars, 0);
  g_array_append_val (t->stars, s);
}

static double
frame_det (const TsrSynthFrame *f)
{
  return f->matrix[0] * f->matrix[4] - f->matrix[1] * f->matrix[3];
}

/* ---------------------------------------------------------------------------------- */

static void
test_plan_determinism (void)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.width = 320;
  p.height = 240;
  p.n_frames = 12;

  g_autoptr (TsrSynthTruth) a = tsr_synth_plan (&p);
  g_autoptr (TsrSynthTruth) b = tsr_synth_plan (&p);
  g_assert_cmpuint (a->frames->len, ==, 12);
  g_assert_cmpuint (a->stars->len, ==, b->stars->len);
  g_assert_cmpuint (a->stars->len, >, 10);
  g_assert_cmpint (memcmp (a->stars->data, b->stars->data,
                           a->stars->len * sizeof (TsrSynthStar)), ==, 0);
  for (guint i = 0; i < a->frames->len; i++)
    {
      const TsrSynthFrame *fa = &g_array_index (a->frames, TsrSynthFrame, i);
      const TsrSynthFrame *fb = &g_array_index (b->frames, TsrSynthFrame, i);
      g_assert_cmpint (fa->kind, ==, fb->kind);
      g_assert_cmpint (memcmp (fa->matrix, fb->matrix, sizeof fa->matrix), ==, 0);
      g_assert_cmpfloat (fa->fwhm, ==, fb->fwhm);
      g_assert_cmpfloat (fa->transparency, ==, fb->transparency);
      g_assert_cmpfloat (fa->sky, ==, fb->sky);
      g_assert_cmpint (fa->has_trail, ==, fb->has_trail);
      g_assert_cmpstr (fa->file, ==, fb->file);
      g_assert_cmpstr (fa->date_obs, ==, fb->date_obs);
    }

  /* rendered frames, with noise, are identical too */
  g_autoptr (TsrImage) ia = tsr_synth_render_frame (a, 3, TRUE);
  g_autoptr (TsrImage) ib = tsr_synth_render_frame (b, 3, TRUE);
  g_assert_cmpint (memcmp (ia->data, ib->data, tsr_image_npix (ia) * sizeof (float)), ==, 0);

  /* another seed gives another sky */
  p.seed = 2;
  g_autoptr (TsrSynthTruth) c = tsr_synth_plan (&p);
  gboolean differ = c->stars->len != a->stars->len
                    || memcmp (a->stars->data, c->stars->data,
                               a->stars->len * sizeof (TsrSynthStar)) != 0;
  g_assert_true (differ);
  const TsrSynthFrame *f0a = &g_array_index (a->frames, TsrSynthFrame, 0);
  const TsrSynthFrame *f0c = &g_array_index (c->frames, TsrSynthFrame, 0);
  g_assert_true (memcmp (f0a->matrix, f0c->matrix, sizeof f0a->matrix) != 0);
}

static void
test_frames_truth (void)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 40;
  p.n_mirrored = 2;
  p.n_noise = 2;
  p.n_trails = 3;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
  guint n_mir = 0, n_noise = 0, n_trail = 0, mid = p.n_frames / 2;
  double cx = (p.width - 1) / 2.0, cy = (p.height - 1) / 2.0;
  double rot_max = p.rotation_max_deg * G_PI / 180.0;
  gboolean identity0;

  const TsrSynthFrame *f0 = &g_array_index (t->frames, TsrSynthFrame, 0);
  identity0 = f0->matrix[0] == 1 && f0->matrix[1] == 0 && f0->matrix[2] == 0
              && f0->matrix[3] == 0 && f0->matrix[4] == 1 && f0->matrix[5] == 0;
  g_assert_false (identity0);

  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      double det = frame_det (f);
      g_assert_cmpuint (f->index, ==, i);
      g_assert_cmpfloat (fabs (fabs (det) - 1.0), <, 1e-9);
      if (f->kind == TSR_SYNTH_MIRRORED)
        {
          g_assert_cmpfloat (det, <, 0);
          n_mir++;
        }
      else
        {
          g_assert_cmpfloat (det, >, 0);
          g_assert_cmpfloat (fabs (sqrt (det) - 1.0), <, 1e-9);
          /* rotation and shift of the frame centre within bounds */
          double ang = atan2 (f->matrix[3], f->matrix[0]);
          g_assert_cmpfloat (fabs (ang), <=, rot_max + 1e-12);
          double dx = f->matrix[0] * cx + f->matrix[1] * cy + f->matrix[2] - cx;
          double dy = f->matrix[3] * cx + f->matrix[4] * cy + f->matrix[5] - cy;
          g_assert_cmpfloat (fabs (dx), <=, p.shift_max + 1e-9);
          g_assert_cmpfloat (fabs (dy), <=, p.shift_max + 1e-9);
        }
      if (f->kind == TSR_SYNTH_NOISE)
        {
          n_noise++;
          g_assert_false (f->has_trail);
        }
      else
        {
          g_assert_true (isfinite (f->fwhm_median));
          g_assert_cmpfloat (f->fwhm_median, >=, f->fwhm - 1e-12);
          g_assert_cmpfloat (f->fwhm_median, <=, f->fwhm * (1 + p.field_psf) + 1e-9);
        }
      if (f->kind != TSR_SYNTH_VALID)
        {
          g_assert_cmpuint (i, !=, 0);
          g_assert_cmpuint (i, !=, mid);
        }
      if (f->has_trail)
        {
          n_trail++;
          g_assert_cmpint (f->kind, ==, TSR_SYNTH_VALID);
          /* both ends on the frame border, far apart */
          for (int e = 0; e < 2; e++)
            {
              double x = f->trail[2 * e], y = f->trail[2 * e + 1];
              gboolean on_border = fabs (x + 0.5) < 1e-6 || fabs (x - (p.width - 0.5)) < 1e-6
                                   || fabs (y + 0.5) < 1e-6 || fabs (y - (p.height - 0.5)) < 1e-6;
              g_assert_true (on_border);
            }
          g_assert_cmpfloat (hypot (f->trail[2] - f->trail[0], f->trail[3] - f->trail[1]), >,
                             0.5 * MIN (p.width, p.height));
        }
      g_assert_cmpfloat (f->fwhm, >=, p.fwhm_min);
      g_assert_cmpfloat (f->fwhm, <=, p.fwhm_max);
      g_assert_cmpfloat (f->transparency, >=, 1 - p.transparency_drop - 1e-12);
      g_assert_cmpfloat (f->transparency, <=, 1 + 1e-12);
      g_assert_cmpfloat (f->sky, >=, p.sky * (1 - p.sky_drift) - 1e-9);
      g_assert_cmpfloat (f->sky, <=, p.sky * (1 + p.sky_drift) + 1e-9);
      g_assert_nonnull (f->date_obs);
      g_autofree char *name = g_strdup_printf ("synth_%04u.fits", i + 1);
      g_assert_cmpstr (f->file, ==, name);
    }
  g_assert_cmpuint (n_mir, ==, 2);
  g_assert_cmpuint (n_noise, ==, 2);
  g_assert_cmpuint (n_trail, ==, 3);
  g_assert_cmpstr (g_array_index (t->frames, TsrSynthFrame, 0).date_obs, ==,
                   "2025-04-09T22:00:00.000");
  g_assert_cmpstr (g_array_index (t->frames, TsrSynthFrame, 5).date_obs, ==,
                   "2025-04-09T22:01:00.000");

  /* seeing and transparency actually vary over the night */
  double fmin = G_MAXDOUBLE, fmax = 0, tmin = 2;
  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      fmin = MIN (fmin, f->fwhm);
      fmax = MAX (fmax, f->fwhm);
      tmin = MIN (tmin, f->transparency);
    }
  g_assert_cmpfloat (fmax - fmin, >, 0.3 * (p.fwhm_max - p.fwhm_min));
  g_assert_cmpfloat (fabs (tmin - (1 - p.transparency_drop)), <, 1e-9);

  /* star fluxes within the range, power law: many more faint than bright ones */
  guint faint = 0, bright = 0;
  for (guint i = 0; i < t->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, i);
      g_assert_cmpfloat (s->flux, >=, p.star_flux_min);
      g_assert_cmpfloat (s->flux, <=, p.star_flux_max);
      g_assert_cmpfloat (fabs ((s->color[0] + s->color[1] + s->color[2]) / 3 - 1), <, 1e-9);
      faint += s->flux < 3 * p.star_flux_min;
      bright += s->flux > 30 * p.star_flux_min;
    }
  g_assert_cmpuint (faint, >, 4 * bright);
}

/* Intensity-weighted centroid and total of the (only) star. */
static void
measure_centroid (const TsrImage *img, double *cx, double *cy, double *sum)
{
  double s = 0, sx = 0, sy = 0;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        double v = img->data[(gsize) y * img->width + x];
        s += v;
        sx += v * x;
        sy += v * y;
      }
  *cx = sx / s;
  *cy = sy / s;
  *sum = s;
}

static void
test_star_position_flux (void)
{
  const double pos[][2] = { { 100.37, 141.81 }, { 40.5, 30.25 }, { 210.9, 200.02 } };
  for (guint os = 1; os <= 3; os += 2)
    for (guint k = 0; k < G_N_ELEMENTS (pos); k++)
      {
        TsrSynthParams p;
        quiet_params (&p, 256, 240);
        p.fwhm_min = p.fwhm_max = 3.0;
        p.oversample = os;
        g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
        guint idx = 2;
        const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, idx);
        set_single_star (t, idx, pos[k][0], pos[k][1], 1e5, NULL);
        g_autoptr (TsrImage) img = tsr_synth_render_frame (t, idx, FALSE);
        g_assert_cmpint (img->width, ==, 256);
        g_assert_cmpint (img->height, ==, 240);
        double cx, cy, sum;
        measure_centroid (img, &cx, &cy, &sum);
        g_test_message ("os %u star (%.2f, %.2f): centroid error (%.4f, %.4f), flux ratio %.5f",
                        os, pos[k][0], pos[k][1], cx - pos[k][0], cy - pos[k][1],
                        sum / (1e5 * f->transparency));
        g_assert_cmpfloat (fabs (cx - pos[k][0]), <, 0.02);
        g_assert_cmpfloat (fabs (cy - pos[k][1]), <, 0.02);
        g_assert_cmpfloat (fabs (sum / (1e5 * f->transparency) - 1), <, 0.01);
      }
}

/* FWHM (geometric mean), axis ratio and major-axis angle of a noise-free isolated star
 * from its second moments; valid for a Moffat profile with beta > 2. */
static void
measure_moments (const TsrImage *img, double beta, double *fwhm, double *q, double *angle)
{
  double s = 0, sx = 0, sy = 0;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        double v = img->data[(gsize) y * img->width + x];
        s += v;
        sx += v * x;
        sy += v * y;
      }
  double mx = sx / s, my = sy / s, xx = 0, yy = 0, xy = 0;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        double v = img->data[(gsize) y * img->width + x];
        xx += v * (x - mx) * (x - mx);
        yy += v * (y - my) * (y - my);
        xy += v * (x - mx) * (y - my);
      }
  xx /= s;
  yy /= s;
  xy /= s;
  double tr = xx + yy, dt = sqrt ((xx - yy) * (xx - yy) / 4 + xy * xy);
  double l1 = tr / 2 + dt, l2 = tr / 2 - dt;
  /* <u²> = a² / (2 (beta − 2)) for (1 + (u/a)² + (v/b)²)^−beta */
  double a = sqrt (2 * (beta - 2) * l1), b = sqrt (2 * (beta - 2) * l2);
  double k = 2 * sqrt (pow (2, 1 / beta) - 1);
  *fwhm = k * sqrt (a * b);
  *q = b / a;
  *angle = 0.5 * atan2 (2 * xy, xx - yy);
}

static double
angle_diff (double a, double b)
{
  double d = fmod (fabs (a - b), G_PI);
  return MIN (d, G_PI - d);
}

static void
test_star_fwhm (void)
{
  TsrSynthParams p;
  quiet_params (&p, 300, 260);
  p.fwhm_min = p.fwhm_max = 5.0;
  p.moffat_beta = 4.0;
  p.field_psf = 0.2;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
  const double pos[][2] = { { 150.0, 130.0 }, { 50.3, 45.6 }, { 255.2, 60.7 }, { 200.0, 130.0 } };
  double cx = (p.width - 1) / 2.0, cy = (p.height - 1) / 2.0;
  guint idx = 1;

  for (guint k = 0; k < G_N_ELEMENTS (pos); k++)
    {
      set_single_star (t, idx, pos[k][0], pos[k][1], 1e6, NULL);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, idx, FALSE);
      double fwhm, q, ang, tf, tq, ta;
      measure_moments (img, p.moffat_beta, &fwhm, &q, &ang);
      tsr_synth_psf_at (t, idx, pos[k][0], pos[k][1], &tf, &tq, &ta);
      g_test_message ("star (%.1f, %.1f): fwhm %.4f / truth %.4f, q %.4f / %.4f, angle %.3f / %.3f",
                      pos[k][0], pos[k][1], fwhm, tf, q, tq, ang, ta);

      /* the truth follows the documented law */
      double dx = pos[k][0] - cx, dy = pos[k][1] - cy;
      double r2 = (dx * dx + dy * dy) / (cx * cx + cy * cy);
      g_assert_cmpfloat (fabs (tf - 5.0 * (1 + p.field_psf * r2)), <, 1e-9);
      g_assert_cmpfloat (tq, <=, 1.0);
      g_assert_cmpfloat (tq, >=, 0.8);

      g_assert_cmpfloat (fabs (fwhm / tf - 1), <, 0.03);
      g_assert_cmpfloat (fabs (q - tq), <, 0.02);
      if (tq < 0.97)
        {
          g_assert_cmpfloat (angle_diff (ang, ta), <, 0.05);
          g_assert_cmpfloat (angle_diff (ang, atan2 (dy, dx)), <, 0.05);   /* radial */
        }
    }

  /* corners reach an axis ratio of about 0.85 */
  double qc;
  tsr_synth_psf_at (t, idx, 0, 0, NULL, &qc, NULL);
  g_assert_cmpfloat (fabs (qc - 0.85), <, 0.01);
}

static int
pattern_color (TsrCfa cfa, int x, int y)
{
  const char *name = tsr_cfa_name (cfa);
  char c = name[(y & 1) * 2 + (x & 1)];
  return c == 'R' ? 0 : c == 'G' ? 1 : 2;
}

static void
test_bayer (void)
{
  const TsrCfa pats[] = { TSR_CFA_RGGB, TSR_CFA_GRBG, TSR_CFA_GBRG, TSR_CFA_BGGR };
  for (guint k = 0; k < G_N_ELEMENTS (pats); k++)
    {
      TsrSynthParams p;
      quiet_params (&p, 128, 96);
      p.cfa = pats[k];
      p.fwhm_min = p.fwhm_max = 3.0;
      g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, 0);

      for (int pure = 0; pure < 3; pure++)
        {
          double col[3] = { 0, 0, 0 };
          col[pure] = 3.0;
          set_single_star (t, 0, 60.3, 47.8, 5e4, col);
          g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, FALSE);
          g_assert_cmpint (img->cfa, ==, pats[k]);
          double on = 0, off = 0;
          for (int y = 0; y < img->height; y++)
            for (int x = 0; x < img->width; x++)
              {
                double v = img->data[(gsize) y * img->width + x];
                if (pattern_color (pats[k], x, y) == pure)
                  on += v;
                else
                  off += fabs (v);
              }
          g_assert_cmpfloat (off, ==, 0.0);
          g_assert_cmpfloat (on, >, 0.0);
        }

      /* a coloured star: each colour's sites carry flux·T·color[c]·(site fraction) */
      const double col[3] = { 1.3, 1.0, 0.7 };
      set_single_star (t, 0, 60.3, 47.8, 5e4, col);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, FALSE);
      double sums[3] = { 0, 0, 0 };
      for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
          sums[pattern_color (pats[k], x, y)] += img->data[(gsize) y * img->width + x];
      const double frac[3] = { 0.25, 0.5, 0.25 };
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (sums[c] / (5e4 * f->transparency * col[c] * frac[c]) - 1), <,
                           0.03);

      /* the RGB truth holds the full planes */
      g_autoptr (TsrImage) truth = tsr_synth_render_truth (t, 3.0);
      g_assert_cmpint (truth->channels, ==, 3);
      for (int c = 0; c < 3; c++)
        {
          double s = 0;
          const float *pl = tsr_image_plane (truth, c);
          for (gsize i = 0; i < tsr_image_npix (truth); i++)
            s += pl[i];
          g_assert_cmpfloat (fabs (s / (5e4 * col[c]) - 1), <, 1e-3);
        }
    }
}

static void
test_noise (void)
{
  const double skies[] = { 400.0, 5.0 };
  for (guint k = 0; k < G_N_ELEMENTS (skies); k++)
    {
      TsrSynthParams p;
      quiet_params (&p, 200, 200);
      p.n_frames = 3;
      p.n_noise = 1;
      p.sky = skies[k];
      p.read_noise = 3.0;
      g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
      guint idx = G_MAXUINT;
      for (guint i = 0; i < t->frames->len; i++)
        if (g_array_index (t->frames, TsrSynthFrame, i).kind == TSR_SYNTH_NOISE)
          idx = i;
      g_assert_cmpuint (idx, !=, G_MAXUINT);
      g_autoptr (TsrImage) clean = tsr_synth_render_frame (t, idx, FALSE);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, idx, TRUE);
      gsize n = tsr_image_npix (img);
      double s = 0, s2 = 0;
      for (gsize i = 0; i < n; i++)
        {
          g_assert_cmpfloat (clean->data[i], ==, (float) skies[k]);   /* no stars */
          s += img->data[i];
          s2 += (double) img->data[i] * img->data[i];
        }
      double mean = s / n, var = s2 / n - mean * mean;
      double want_var = skies[k] + 9.0;
      g_assert_cmpfloat (fabs (mean - skies[k]), <, 0.02 * skies[k] + 0.05);
      g_assert_cmpfloat (fabs (var / want_var - 1), <, 0.05);
    }
}

static void
test_extended (void)
{
  TsrSynthParams p;
  quiet_params (&p, 200, 160);
  p.extended = TRUE;
  p.sky = 300;
  p.fwhm_min = p.fwhm_max = 3.0;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&p);
  g_array_set_size (t->stars, 0);
  g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 1, FALSE);
  double mx = 0;
  for (gsize i = 0; i < tsr_image_npix (img); i++)
    {
      g_assert_true (isfinite (img->data[i]));
      g_assert_cmpfloat (img->data[i], >=, p.sky - 1e-3);
      mx = MAX (mx, img->data[i] - p.sky);
    }
  /* the bright galaxy is inside the frame */
  g_assert_cmpfloat (mx, >, 0.3 * p.sky);
}

/* ---------------------------------------------------------------------------------- */

typedef struct
{
  guint calls, last_done, last_total;
  gboolean monotonic;
  GCancellable *cancel_at_2;
} ProgressLog;

static void
progress_cb (const char *phase, guint done, guint total, gpointer data)
{
  ProgressLog *log = data;
  g_assert_nonnull (phase);
  g_assert_cmpuint (done, <=, total);
  if (log->calls > 0 && done < log->last_done)
    log->monotonic = FALSE;
  log->calls++;
  log->last_done = done;
  log->last_total = total;
  if (log->cancel_at_2 && done >= 2)
    g_cancellable_cancel (log->cancel_at_2);
}

static guint
count_files (const char *dir, const char *prefix)
{
  guint n = 0;
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return 0;
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (g_str_has_prefix (name, prefix))
      n++;
  g_dir_close (d);
  return n;
}

static void
test_write_session (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("synth");
  g_autofree char *out = g_build_filename (dir, "sub", "session", NULL);
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.width = 160;
  p.height = 120;
  p.n_frames = 8;
  p.cfa = TSR_CFA_GRBG;
  ProgressLog log = { 0, 0, 0, TRUE, NULL };
  GError *error = NULL;

  g_autoptr (TsrSynthTruth) t = tsr_synth_write_session (&p, out, progress_cb, &log, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (t);
  g_assert_true (log.monotonic);
  g_assert_cmpuint (log.calls, >=, p.n_frames);
  g_assert_cmpuint (log.last_done, ==, log.last_total);

  g_assert_cmpuint (count_files (out, "synth_"), ==, 8);
  g_assert_cmpuint (count_files (out, "."), ==, 0);
  const char *names[] = { "synth_0001.fits", "synth_0008.fits", "truth.json", "truth/truth.fits",
                          "truth/truth-sharp.fits" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (out, names[i], NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }

  /* truth.json */
  g_autofree char *jpath = g_build_filename (out, "truth.json", NULL);
  g_autoptr (TsrJson) j = tsr_json_parse_file (jpath, &error);
  g_assert_no_error (error);
  const TsrJson *frames = tsr_json_get (j, "frames");
  g_assert_cmpuint (tsr_json_length (frames), ==, 8);
  g_assert_cmpuint (tsr_json_length (tsr_json_get (j, "stars")), ==, t->stars->len);
  g_assert_cmpfloat (tsr_json_number (tsr_json_get (tsr_json_get (j, "params"), "width"), 0), ==, 160);
  for (guint i = 0; i < 8; i++)
    {
      const TsrJson *fj = tsr_json_index (frames, i);
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      g_assert_cmpstr (tsr_json_str (tsr_json_get (fj, "file")), ==, f->file);
      const char *kind = tsr_json_str (tsr_json_get (fj, "kind"));
      g_assert_cmpstr (kind, ==, f->kind == TSR_SYNTH_VALID ? "valid"
                                 : f->kind == TSR_SYNTH_MIRRORED ? "mirrored" : "noise");
      const TsrJson *m = tsr_json_get (fj, "matrix");
      g_assert_cmpuint (tsr_json_length (m), ==, 6);
      for (guint k = 0; k < 6; k++)
        g_assert_cmpfloat (fabs (tsr_json_number (tsr_json_index (m, k), NAN) - f->matrix[k]), <, 1e-9);
      const TsrJson *trail = tsr_json_get (fj, "trail");
      g_assert_cmpint (tsr_json_type (trail), ==, f->has_trail ? TSR_JSON_ARRAY : TSR_JSON_NULL);
      g_assert_cmpstr (tsr_json_str (tsr_json_get (fj, "date_obs")), ==, f->date_obs);
    }

  /* a frame: 16-bit with BZERO 32768, Seestar-like keywords, same pixels as the renderer */
  for (guint i = 0; i < 8; i += 5)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      g_autofree char *path = g_build_filename (out, f->file, NULL);
      fitsfile *fp = NULL;
      int status = 0, bitpix = 0, naxis = 0;
      long naxes[3] = { 0, 0, 0 };
      double bzero = 0, exptime = 0;
      char bayer[FLEN_VALUE] = "", date[FLEN_VALUE] = "", instr[FLEN_VALUE] = "";
      fits_open_diskfile (&fp, path, READONLY, &status);
      fits_get_img_param (fp, 3, &bitpix, &naxis, naxes, &status);
      fits_read_key (fp, TDOUBLE, "BZERO", &bzero, NULL, &status);
      fits_read_key (fp, TDOUBLE, "EXPTIME", &exptime, NULL, &status);
      fits_read_key (fp, TSTRING, "BAYERPAT", bayer, NULL, &status);
      fits_read_key (fp, TSTRING, "DATE-OBS", date, NULL, &status);
      fits_read_key (fp, TSTRING, "INSTRUME", instr, NULL, &status);
      g_assert_cmpint (status, ==, 0);
      g_assert_cmpint (bitpix, ==, 16);
      g_assert_cmpint (naxis, ==, 2);
      g_assert_cmpint (naxes[0], ==, 160);
      g_assert_cmpint (naxes[1], ==, 120);
      g_assert_cmpfloat (bzero, ==, 32768);
      g_assert_cmpfloat (exptime, ==, 10);
      g_assert_cmpstr (bayer, ==, "GRBG");
      g_assert_cmpstr (date, ==, f->date_obs);
      g_assert_cmpstr (instr, ==, "Tessera synth");
      gsize n = 160 * 120;
      guint16 *u = g_new (guint16, n);
      int anynul = 0;
      fits_read_img (fp, TUSHORT, 1, (LONGLONG) n, NULL, u, &anynul, &status);
      fits_close_file (fp, &status);
      g_assert_cmpint (status, ==, 0);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, i, TRUE);
      for (gsize k = 0; k < n; k++)
        {
          double adu = CLAMP (floor (img->data[k] / p.gain + p.bias + 0.5), 0, 65535);
          g_assert_cmpfloat (u[k], ==, adu);
        }
      g_free (u);
    }

  /* the RGB truth */
  g_autofree char *tpath = g_build_filename (out, "truth", "truth.fits", NULL);
  g_autoptr (TsrImage) truth = tsr_fits_read (tpath, &error);
  g_assert_no_error (error);
  g_assert_cmpint (truth->channels, ==, 3);
  g_assert_cmpint (truth->width, ==, 160);

  tsr_test_rmtree (dir);
}

static void
test_cancel (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("synth-cancel");
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.width = 160;
  p.height = 120;
  p.n_frames = 12;
  GError *error = NULL;

  /* cancelled before the start */
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  TsrSynthTruth *t = tsr_synth_write_session (&p, dir, NULL, NULL, c, &error);
  g_assert_null (t);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpuint (count_files (dir, "synth_"), ==, 0);

  /* cancelled while running: nothing is left behind */
  g_autoptr (GCancellable) c2 = g_cancellable_new ();
  ProgressLog log = { 0, 0, 0, TRUE, c2 };
  t = tsr_synth_write_session (&p, dir, progress_cb, &log, c2, &error);
  g_assert_null (t);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpuint (count_files (dir, "synth_"), ==, 0);
  g_assert_cmpuint (count_files (dir, "."), ==, 0);
  g_assert_cmpuint (count_files (dir, "truth"), ==, 0);

  /* bad parameters */
  p.width = 0;
  t = tsr_synth_write_session (&p, dir, NULL, NULL, NULL, &error);
  g_assert_null (t);
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&error);

  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/synth/plan-determinism", test_plan_determinism);
  g_test_add_func ("/synth/frames-truth", test_frames_truth);
  g_test_add_func ("/synth/star-position-flux", test_star_position_flux);
  g_test_add_func ("/synth/star-fwhm", test_star_fwhm);
  g_test_add_func ("/synth/bayer", test_bayer);
  g_test_add_func ("/synth/noise", test_noise);
  g_test_add_func ("/synth/extended", test_extended);
  g_test_add_func ("/synth/write-session", test_write_session);
  g_test_add_func ("/synth/cancel", test_cancel);
  return g_test_run ();
}
