/* tsr-test-truth.c — measuring a result against the truth of a generated session (shared
 * by test-deconv and test-restore): the truth in the reference geometry, PSNR, isolated
 * stars, aperture photometry. */
#include "tsr-test-truth.h"

#include <math.h>
#include <string.h>

TsrTransform
frame_matrix (const TsrSynthFrame *f)
{
  TsrTransform t = { { f->matrix[0], f->matrix[1], f->matrix[2], f->matrix[3], f->matrix[4], f->matrix[5], 0, 0, 1 } };
  return t;
}

/* Truth in the reference frame's geometry (sky → reference pixel = the frame's matrix). */
TsrImage *
truth_in_reference (const TsrSynthTruth *t, guint ref, const TsrImage *truth, int w, int h)
{
  TsrTransform m = frame_matrix (&g_array_index (t->frames, TsrSynthFrame, ref)), inv;
  g_assert_true (tsr_transform_invert (&m, &inv));
  return tsr_warp (truth, &inv, w, h, TSR_CFA_NONE, TSR_INTERP_LANCZOS3);
}

void
sky_to_ref (const TsrSynthTruth *t, guint ref, double sx, double sy, double *rx, double *ry)
{
  TsrTransform m = frame_matrix (&g_array_index (t->frames, TsrSynthFrame, ref));
  tsr_transform_apply (&m, sx, sy, rx, ry);
}

/* PSNR of img against truth after the least-squares flux scale, over mask (border cut). */
double
psnr (const TsrImage *img, const TsrImage *truth, const guint8 *common, int border)
{
  int W = truth->width, H = truth->height;
  double sxt = 0, sxx = 0, tmax = 0;
  for (int y = border; y < H - border; y++)
    for (int x = border; x < W - border; x++)
      {
        gsize k = (gsize) y * W + x;
        if (!common[k])
          continue;
        double a = img->data[k], t = truth->data[k];
        sxt += a * t;
        sxx += a * a;
        tmax = MAX (tmax, t);
      }
  double s = sxt / sxx, mse = 0;
  guint n = 0;
  for (int y = border; y < H - border; y++)
    for (int x = border; x < W - border; x++)
      {
        gsize k = (gsize) y * W + x;
        if (!common[k])
          continue;
        double e = s * img->data[k] - truth->data[k];
        mse += e * e;
        n++;
      }
  return 10 * log10 (tmax * tmax / (mse / n));
}


/* Truth stars in reference coordinates, isolated (no star with ≥ 2 % of the flux within
 * iso px), inside the image by margin. */
GArray *
isolated_stars (const TsrSynthTruth *t, guint ref, int W, int H, double iso, double margin)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (Pt));
  guint n = t->stars->len;
  for (guint i = 0; i < n; i++)
    {
      const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, i);
      Pt p;
      sky_to_ref (t, ref, s->x, s->y, &p.x, &p.y);
      p.flux = s->flux;
      if (p.x < margin || p.y < margin || p.x > W - 1 - margin || p.y > H - 1 - margin)
        continue;
      gboolean ok = TRUE;
      for (guint k = 0; k < n && ok; k++)
        {
          const TsrSynthStar *o = &g_array_index (t->stars, TsrSynthStar, k);
          if (k == i || o->flux < 0.02 * s->flux)
            continue;
          if (hypot (o->x - s->x, o->y - s->y) < iso)
            ok = FALSE;
        }
      if (ok)
        g_array_append_val (out, p);
    }
  return out;
}

/* Aperture flux minus the median of an annulus. */
double
aperture (const TsrImage *img, double cx, double cy, double r, double *bg_out)
{
  int W = img->width;
  float ring[2000];
  guint nr = 0;
  double sum = 0;
  int n = 0;
  for (int y = (int) (cy - r - 6); y <= (int) (cy + r + 6); y++)
    for (int x = (int) (cx - r - 6); x <= (int) (cx + r + 6); x++)
      {
        if (x < 0 || y < 0 || x >= W || y >= img->height)
          continue;
        double d = hypot (x - cx, y - cy);
        float v = img->data[(gsize) y * W + x];
        if (d <= r)
          {
            sum += v;
            n++;
          }
        else if (d >= r + 2 && d <= r + 6 && nr < G_N_ELEMENTS (ring))
          ring[nr++] = v;
      }
  /* the mean, not the median: a non-negative deconvolved sky is skewed, and the aperture
   * holds its mean */
  double bg = 0;
  for (guint i = 0; i < nr; i++)
    bg += ring[i];
  bg /= MAX (nr, 1u);
  if (bg_out)
    *bg_out = bg;
  return sum - n * bg;
}

GArray *
trail_medians (const TsrSynthTruth *t, guint ref, const gboolean *used, const TsrImage *img, int c, float *noise)
{
  gsize npix = (gsize) img->width * img->height;
  const float *pl = img->data + (gsize) c * npix;
  *noise = tsr_plane_noise (pl, img->mask, img->width, img->height, 1);
  TsrTransform Mref = frame_matrix (&g_array_index (t->frames, TsrSynthFrame, ref));
  GArray *out = g_array_new (FALSE, FALSE, sizeof (TrailMedian));
  for (guint f = 0; f < t->frames->len; f++)
    {
      const TsrSynthFrame *sf = &g_array_index (t->frames, TsrSynthFrame, f);
      if (!sf->has_trail || (used && !used[f]))
        continue;
      TsrTransform Mf = frame_matrix (sf), Mf_inv, to_ref;
      g_assert_true (tsr_transform_invert (&Mf, &Mf_inv));
      tsr_transform_compose (&Mref, &Mf_inv, &to_ref);
      double x0, y0, x1, y1;
      tsr_transform_apply (&to_ref, sf->trail[0], sf->trail[1], &x0, &y0);
      tsr_transform_apply (&to_ref, sf->trail[2], sf->trail[3], &x1, &y1);
      double len = hypot (x1 - x0, y1 - y0), nx = -(y1 - y0) / len, ny = (x1 - x0) / len;
      GArray *on = g_array_new (FALSE, FALSE, sizeof (float)), *off = g_array_new (FALSE, FALSE, sizeof (float));
      for (double s = 0; s <= len; s += 1.0)
        for (int side = -1; side <= 1; side++)
          {
            double x = x0 + (x1 - x0) * s / len + side * 8 * nx, y = y0 + (y1 - y0) * s / len + side * 8 * ny;
            int ix = (int) lround (x), iy = (int) lround (y);
            if (ix < 0 || iy < 0 || ix >= img->width || iy >= img->height || !img->mask[(gsize) iy * img->width + ix])
              continue;
            float v = pl[(gsize) iy * img->width + ix];
            g_array_append_val (side == 0 ? on : off, v);
          }
      if (on->len > 50)
        {
          TrailMedian tm = { f, tsr_median_inplace ((float *) on->data, on->len),
                             tsr_median_inplace ((float *) off->data, off->len), on->len };
          g_array_append_val (out, tm);
        }
      g_array_unref (on);
      g_array_unref (off);
    }
  return out;
}
