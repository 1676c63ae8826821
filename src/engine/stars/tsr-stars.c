/* tsr-stars.c — background, star detection (libsep) and per-star PSF fits.
 *
 * Pipeline of tsr_stars_detect (see docs/stars.md for the measurements behind the
 * defaults):
 *
 *  1. Working copy of the samples used for detection: the raw plane of a mono or CFA frame
 *     (the channel mean of an RGB frame), with isolated bright pixels (hot pixels, cosmic
 *     ray hits) replaced by the median of their neighbours.
 *  2. Luminance proxy of that copy (superpixels or green interpolation for a CFA mosaic).
 *  3. sep background and RMS mesh on the proxy (invalid samples masked), subtraction,
 *     extraction at detect_sigma × global RMS with deblending.
 *  4. Elliptical Moffat fit (Levenberg–Marquardt, β in [1.5, 10], Gaussian when β runs to
 *     its upper bound) of the brightest sources on small patches: for superpixels the
 *     model is averaged over the four full-resolution sites of a cell, for green
 *     interpolation only the real green sites are fitted, so every fit is a forward model
 *     of the samples in full-resolution coordinates.
 *  5. Rejection of failed fits, sources sharper than any PSF, huge blobs and fits that
 *     wandered off their detection; duplicates of one star collapse to one entry.
 */
#include "tsr-stars.h"

#include <math.h>
#include <string.h>
#include <sep.h>
#include <glib/gi18n-lib.h>

#include "tsr-error.h"
#include "tsr-stats.h"
#include "tsr-stars-private.h"

void
tsr_star_params_init (TsrStarParams *p)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->detect_sigma = 5.0;
  p->min_area = 5;
  p->max_stars = 1500;
  p->saturation = 0.0;
  p->luma = TSR_LUMA_CFA;     /* measured: docs/stars.md */
  p->fit = TRUE;
  p->bg_box = 64;
  p->bg_decimate = TRUE;  /* measured: docs/stars.md, "Performance" */
}

void
tsr_star_list_free (TsrStarList *l)
{
  if (l == NULL)
    return;
  if (l->stars)
    g_array_unref (l->stars);
  g_free (l);
}

/* ---------------------------------------------------------------------------------- */
/* Luminance proxy                                                                     */

/* Colours of the 2×2 cell of a mosaic (all 0 for TSR_CFA_NONE), for CFA_AT: the pattern
 * repeats with the parity of x and y, so one table replaces a call per sample. */
static void
cfa_table (TsrCfa cfa, int t[4])
{
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 2; x++)
      t[y * 2 + x] = cfa != TSR_CFA_NONE ? tsr_cfa_color (cfa, x, y) : 0;
}

static inline gboolean
is_green (TsrCfa cfa, int x, int y)
{
  return tsr_cfa_color (cfa, x, y) == TSR_GREEN;
}

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_PROXY_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_PROXY_CLONES
#define TSR_PROXY_CLONES
#endif

typedef double TsrPxV4d __attribute__ ((vector_size (4 * sizeof (double))));
typedef gint64 TsrPxV4l __attribute__ ((vector_size (4 * sizeof (gint64))));

/* The green interpolation's inner sites x0, x0 + 2, … of one inner row, four sites a vector:
 * for each, the mean of its valid horizontal and vertical neighbours in double — lane by
 * lane the scalar loop's sum in its order, a masked neighbour adding exactly 0.0 (a select,
 * not a product), the same division by 3 or product by ½ or ¼ — so the same floats. Returns
 * the first site it did not do (the caller's scalar loop finishes the row). */
static TSR_PROXY_CLONES int
green_fill_row (const float *restrict row, const float *restrict up, const float *restrict dn,
                const guint8 *restrict mrow, const guint8 *restrict mup, const guint8 *restrict mdn,
                float *restrict o, guint8 *restrict om, int x0, int w)
{
  int x = x0;
  for (; x + 7 < w; x += 8)
    {
      TsrPxV4d l, r, u, d;
      TsrPxV4l ml, mr, mu, md;
      for (int i = 0; i < 4; i++)
        {
          int xi = x + 2 * i;
          l[i] = row[xi - 1], r[i] = row[xi + 1], u[i] = up[xi], d[i] = dn[xi];
          ml[i] = -(gint64) (mrow[xi - 1] != 0), mr[i] = -(gint64) (mrow[xi + 1] != 0);
          mu[i] = -(gint64) (mup[xi] != 0), md[i] = -(gint64) (mdn[xi] != 0);
        }
      TsrPxV4d a = (TsrPxV4d) ((TsrPxV4l) l & ml), b = (TsrPxV4d) ((TsrPxV4l) r & mr);
      TsrPxV4d c = (TsrPxV4d) ((TsrPxV4l) u & mu), e = (TsrPxV4d) ((TsrPxV4l) d & md);
      TsrPxV4d sum = ((a + b) + c) + e;
      TsrPxV4l n = -(ml + mr + mu + md);            /* valid neighbours, 0 … 4 */
      TsrPxV4d third = sum / 3;
      TsrPxV4d half = sum * 0.5, quarter = sum * 0.25;
      TsrPxV4l is3 = n == 3, is2 = n == 2, is4 = n == 4, is1 = n == 1;
      TsrPxV4d mean = (TsrPxV4d) (((TsrPxV4l) third & is3) | ((TsrPxV4l) half & is2)
                                  | ((TsrPxV4l) quarter & is4) | ((TsrPxV4l) sum & is1));
      for (int i = 0; i < 4; i++)
        {
          int xi = x + 2 * i;
          o[xi] = n[i] > 0 ? (float) mean[i] : 0.0f;
          om[xi] = n[i] > 0 && mrow[xi];
        }
    }
  return x;
}

/* Proxy of one mosaic plane (or of a mono plane when cfa is NONE: a copy). */
static TsrImage *
proxy_from_plane (const float *plane, const guint8 *mask, int w, int h, TsrCfa cfa,
                  TsrLumaMode mode, int *scale_out)
{
  TsrImage *out;

  if (cfa == TSR_CFA_NONE || (mode == TSR_LUMA_SUPERPIXEL && (w < 2 || h < 2)))
    {
      out = tsr_image_new_uninit (w, h, 1);
      memcpy (out->data, plane, sizeof (float) * (gsize) w * h);
      memcpy (out->mask, mask, (gsize) w * h);
      *scale_out = 1;
      return out;
    }

  if (mode == TSR_LUMA_SUPERPIXEL)
    {
      int w2 = w / 2, h2 = h / 2;
      out = tsr_image_new_uninit (w2, h2, 1);
      for (int j = 0; j < h2; j++)
        {
          const float *r0 = plane + (gsize) (2 * j) * w, *r1 = r0 + w;
          const guint8 *m0 = mask + (gsize) (2 * j) * w, *m1 = m0 + w;
          float *o = out->data + (gsize) j * w2;
          guint8 *om = out->mask + (gsize) j * w2;
          for (int i = 0; i < w2; i++)
            {
              int x = 2 * i;
              o[i] = 0.25f * (r0[x] + r0[x + 1] + r1[x] + r1[x + 1]);
              /* bitwise, not &&: the same 0 or 1 without four branches a cell */
              om[i] = (m0[x] != 0) & (m0[x + 1] != 0) & (m1[x] != 0) & (m1[x + 1] != 0);
            }
        }
      *scale_out = 2;
      return out;
    }

  /* Green interpolation at full resolution. */
  out = tsr_image_new_uninit (w, h, 1);
  for (int y = 0; y < h; y++)
    {
      const float *row = plane + (gsize) y * w;
      const guint8 *mrow = mask + (gsize) y * w;
      float *o = out->data + (gsize) y * w;
      guint8 *om = out->mask + (gsize) y * w;
      int g0 = is_green (cfa, 0, y) ? 0 : 1;   /* first green column of this row */
      memcpy (o, row, sizeof (float) * w);       /* green sites */
      memcpy (om, mrow, w);
      if (y > 0 && y + 1 < h)
        {
          /* inner rows, inner columns: the same sums without branches (adding 0 for a
           * masked neighbour leaves a double sum unchanged) */
          const float *up = row - w, *dn = row + w;
          const guint8 *mup = mrow - w, *mdn = mrow + w;
          int x = green_fill_row (row, up, dn, mrow, mup, mdn, o, om, 1 + (g0 == 1), w);
          for (; x + 1 < w; x += 2)
            {
              double s = (mrow[x - 1] ? (double) row[x - 1] : 0.0)
                         + (mrow[x + 1] ? (double) row[x + 1] : 0.0)
                         + (mup[x] ? (double) up[x] : 0.0) + (mdn[x] ? (double) dn[x] : 0.0);
              int n = (mrow[x - 1] != 0) + (mrow[x + 1] != 0) + (mup[x] != 0) + (mdn[x] != 0);
              /* s / n: a product for n = 1, 2, 4 (exact powers of two, same rounding) */
              static const double inv_n[5] = { 0.0, 1.0, 0.5, 0.0, 0.25 };
              double mean = n == 3 ? s / 3 : s * inv_n[n];
              o[x] = n > 0 ? (float) mean : 0.0f;
              om[x] = n > 0 && mrow[x];
            }
        }
      /* edge rows whole, and the first and last column of inner rows */
      gboolean inner = y > 0 && y + 1 < h;
      for (int x = 0; x < w; x = inner && x == 0 ? MAX (1, w - 1) : x + 1)
        {
          if (((x - g0) & 1) == 0)
            continue;
          double s = 0;
          int n = 0;
          if (x > 0 && mrow[x - 1])
            s += row[x - 1], n++;
          if (x + 1 < w && mrow[x + 1])
            s += row[x + 1], n++;
          if (y > 0 && mask[(gsize) (y - 1) * w + x])
            s += plane[(gsize) (y - 1) * w + x], n++;
          if (y + 1 < h && mask[(gsize) (y + 1) * w + x])
            s += plane[(gsize) (y + 1) * w + x], n++;
          o[x] = n > 0 ? (float) (s / n) : 0.0f;
          om[x] = n > 0 && mrow[x];
        }
    }
  *scale_out = 1;
  return out;
}

/* Channel mean of an RGB image (valid where the mask says so). */
static TsrImage *
proxy_rgb_mean (const TsrImage *img)
{
  gsize n = tsr_image_npix (img);
  TsrImage *out = tsr_image_new_uninit (img->width, img->height, 1);
  const float *r = tsr_image_plane (img, 0), *g = tsr_image_plane (img, 1);
  const float *b = tsr_image_plane (img, 2);
  for (gsize i = 0; i < n; i++)
    out->data[i] = (r[i] + g[i] + b[i]) * (1.0f / 3.0f);
  memcpy (out->mask, img->mask, n);
  return out;
}

TsrImage *
tsr_luminance_proxy (const TsrImage *img, TsrLumaMode mode, int *scale_out)
{
  g_return_val_if_fail (img != NULL, NULL);
  int scale = 1;
  TsrImage *out;

  if (img->channels == 3)
    out = proxy_rgb_mean (img);
  else
    out = proxy_from_plane (img->data, img->mask, img->width, img->height,
                            img->channels == 1 ? img->cfa : TSR_CFA_NONE, mode, &scale);
  tsr_header_free (out->header);
  out->header = tsr_header_copy (img->header);
  if (scale_out)
    *scale_out = scale;
  return out;
}

/* ---------------------------------------------------------------------------------- */
/* Noise                                                                               */

/* Pixel noise from differences of samples `step` apart along rows (robust to gradients
 * and stars: 1.4826 · MAD / √2), on regularly spaced rows, at most ~256k differences. */
static double
quick_noise (const float *plane, const guint8 *mask, int w, int h, int step)
{
  const gsize cap = 262144;
  if (w <= step || h <= 0)
    return NAN;
  gsize per_row = (gsize) (w - step);
  int row_step = (int) MAX ((gsize) 1, (per_row * (gsize) h + cap - 1) / cap);
  /* keep the colour phase of the rows varied on a mosaic: odd row steps */
  if (row_step > 1 && (row_step & 1) == 0)
    row_step++;
  float *d = g_new (float, per_row * (gsize) ((h + row_step - 1) / row_step));
  gsize n = 0;
  for (int y = 0; y < h; y += row_step)
    {
      const float *row = plane + (gsize) y * w;
      const guint8 *mrow = mask + (gsize) y * w;
      for (int x = 0; x + step < w; x++)
        if (mrow[x] && mrow[x + step])
          d[n++] = row[x + step] - row[x];
    }
  double sigma = NAN;
  if (n >= 16)
    {
      float med = tsr_median_inplace (d, n);
      float mad = tsr_mad_inplace (d, n, med);
      sigma = TSR_MAD_TO_SIGMA * mad / G_SQRT2;
    }
  g_free (d);
  return sigma;
}

/* ---------------------------------------------------------------------------------- */
/* Hot pixels and cosmic-ray hits                                                      */

/* Median level of each colour of a plane (one value for mono), on a subsample. */
static void
colour_levels (const float *plane, const guint8 *mask, int w, int h, TsrCfa cfa, float lvl[3])
{
  const gsize cap = 65536;
  gsize npix = (gsize) w * h;
  gsize stride = MAX ((gsize) 1, npix / (cap * 4));
  float *buf[3];
  gsize n[3] = { 0, 0, 0 };

  for (int c = 0; c < 3; c++)
    buf[c] = g_new (float, cap);
  int ct[4];
  cfa_table (cfa, ct);
  /* Walk cells of 2×2 so every colour is sampled alike; (x, y) follows k = y·w + x. */
  gsize step = 2 * stride, sx = step % w, sy = step / w;
  int x = 0, y = 0;
  for (gsize k = 0; k < npix; k += step)
    {
      for (int dy = 0; dy < 2 && y + dy < h; dy++)
        for (int dx = 0; dx < 2 && x + dx < w; dx++)
          {
            gsize i = (gsize) (y + dy) * w + x + dx;
            if (!mask[i])
              continue;
            int c = CFA_AT (ct, x + dx, y + dy);
            if (n[c] < cap)
              buf[c][n[c]++] = plane[i];
          }
      x += (int) sx;
      y += (int) sy;
      if (x >= w)
        {
          x -= w;
          y++;
        }
    }
  for (int c = 0; c < 3; c++)
    {
      float m = tsr_median_inplace (buf[c], n[c]);
      lvl[c] = isfinite (m) ? m : 0.0f;
      g_free (buf[c]);
    }
  if (cfa == TSR_CFA_NONE)
    lvl[1] = lvl[2] = lvl[0];
}

/* Whether colour_levels reads sample (x, y) (its cells of 2×2 start at every
 * 2·stride-th index of the plane). */
static gboolean
colour_levels_reads (int w, int h, int x, int y)
{
  const gsize cap = 65536;
  gsize npix = (gsize) w * h;
  gsize step = 2 * MAX ((gsize) 1, npix / (cap * 4));
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++)
      {
        int cx = x - dx, cy = y - dy;
        if (cx < 0 || cy < 0)
          continue;
        gsize k = (gsize) cy * w + cx;
        if (k % step == 0)
          return TRUE;
      }
  return FALSE;
}

typedef struct
{
  gsize index;
  float value;
} Fix;

/* Replace, in place, samples that stand far above the median of their 8 neighbours while
 * at most one neighbour rises noticeably (a hot pixel, or one pixel of a 2-pixel cosmic
 * streak). For a mosaic the neighbours are first brought to the colour level of the
 * centre (additive per-colour levels). All decisions use the original values. */
/* lvl_after (optional): colour_levels of the plane after the replacements (computed
 * again only when a replaced sample is one that colour_levels reads). */
static guint
clean_hot_pixels (float *plane, const guint8 *mask, int w, int h, TsrCfa cfa, double sigma,
                  float *lvl_after)
{
  if (!(sigma > 0) || w < 3 || h < 3)
    {
      if (lvl_after)
        colour_levels (plane, mask, w, h, cfa, lvl_after);
      return 0;
    }

  float lvl[3];
  colour_levels (plane, mask, w, h, cfa, lvl);
  float lo = MIN (lvl[0], MIN (lvl[1], lvl[2]));
  float pre = (float) (lo + HOT_K * sigma);
  int ct[4];
  cfa_table (cfa, ct);
  double ksig = HOT_K * sigma;
  GArray *fixes = g_array_new (FALSE, FALSE, sizeof (Fix));

  for (int y = 1; y < h - 1; y++)
    {
      const float *row = plane + (gsize) y * w;
      const guint8 *mrow = mask + (gsize) y * w;
      for (int x = 1; x < w - 1; x++)
        {
          float v = row[x];
          if (v <= pre || !mrow[x])
            continue;
          int cv = CFA_AT (ct, x, y);
          float nb[8];
          int n = 0;
          for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
              {
                if (dx == 0 && dy == 0)
                  continue;
                gsize i = (gsize) (y + dy) * w + x + dx;
                if (!mask[i])
                  continue;
                float u = plane[i];
                if (cfa != TSR_CFA_NONE)
                  u += lvl[cv] - lvl[CFA_AT (ct, x + dx, y + dy)];
                /* insertion sort */
                int k = n++;
                while (k > 0 && nb[k - 1] > u)
                  {
                    nb[k] = nb[k - 1];
                    k--;
                  }
                nb[k] = u;
              }
          if (n < 5)
            continue;
          float med = (n & 1) ? nb[n / 2] : 0.5f * (nb[n / 2 - 1] + nb[n / 2]);
          double e = (double) v - med;
          if (e > ksig && (double) nb[n - 2] - med < HOT_RATIO * e)
            {
              Fix f = { (gsize) y * w + x, med };
              g_array_append_val (fixes, f);
            }
        }
    }
  gboolean again = FALSE;
  for (guint i = 0; i < fixes->len; i++)
    {
      const Fix *f = &g_array_index (fixes, Fix, i);
      plane[f->index] = f->value;
      again = again || colour_levels_reads (w, h, (int) (f->index % w), (int) (f->index / w));
    }
  if (lvl_after)
    {
      if (again)
        colour_levels (plane, mask, w, h, cfa, lvl_after);
      else
        memcpy (lvl_after, lvl, sizeof lvl);
    }
  guint n = fixes->len;
  g_array_free (fixes, TRUE);
  return n;
}

/* ---------------------------------------------------------------------------------- */
/* Saturation                                                                          */

static double
auto_saturation (const TsrImage *img)
{
  gsize npix = tsr_image_npix (img);
  /* eight running maxima (NaN never wins a comparison), so the loop vectorises */
  float vm[8] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY };
  const guint8 *mask = img->mask;
  for (int c = 0; c < img->channels; c++)
    {
      const float *p = tsr_image_plane (img, c);
      gsize i = 0;
      for (; i + 8 <= npix; i += 8)
        for (int l = 0; l < 8; l++)
          {
            float v = mask[i + l] ? p[i + l] : -INFINITY;
            vm[l] = v > vm[l] ? v : vm[l];
          }
      for (; i < npix; i++)
        if (mask[i] && p[i] > vm[0])
          vm[0] = p[i];
    }
  float vmax = vm[0];
  for (int l = 1; l < 8; l++)
    if (vm[l] > vmax)
      vmax = vm[l];
  if (!isfinite (vmax) || vmax <= 0)
    return INFINITY;
  static const double adc[] = { 255, 1023, 4095, 16383, 32767, 65535 };
  for (guint k = 0; k < G_N_ELEMENTS (adc); k++)
    if (fabs (vmax - adc[k]) <= 0.03 * adc[k])
      return 0.98 * vmax;
  return INFINITY;
}

/* ---------------------------------------------------------------------------------- */
/* Detection                                                                           */

static gboolean
check_cancel (GCancellable *cancellable, GError **error)
{
  return g_cancellable_set_error_if_cancelled (cancellable, error);
}

static gboolean
sep_failed (int status, const char *what, GError **error)
{
  char msg[128] = "";
  sep_get_errmsg (status, msg);
  g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
               _("Star detection failed during %s: %s (sep status %d)"), what, msg, status);
  return FALSE;
}

/* The sky: sep's background mesh (box × box, 3 × 3 median filter) and global RMS of the
 * proxy, the map written to back (pw × ph).
 *
 * On a large proxy (≥ 8 boxes a side) the mesh is measured on a quarter of its samples (decimate): sample
 * (2i + ((i + j) & 1), 2j) for decimated pixel (i, j), boxes of box / 2 — the same sky area
 * per box with a quarter of the samples — and the map interpolated back bilinearly. The
 * checkerboard takes even and odd columns alike, so a CFA proxy's real and interpolated
 * green sites (whose noise differs) enter in the proportions of the full proxy and the RMS
 * keeps its meaning. sep's background was a sixth to a third of a detection's CPU time; the
 * map is a spline through 64 px nodes, which bilinear interpolation at 2 px follows to well
 * below its own noise (docs/stars.md, "Performance"). */
static gboolean
background_map (const sep_image *full, int box, gboolean decimate, float *back, double *global,
                double *globalrms, GError **error)
{
  const int pw = full->w, ph = full->h;
  sep_bkg *bkg = NULL;
  int status;
  /* only where the decimated image still holds ≥ 8 × 8 of its boxes (a 1080 × 1920 frame: 16 × 30):
   * on small frames the mesh's global level and RMS from a quarter of the samples moved the
   * detection threshold enough to change a registration (a generated 320 × 256 session lost a
   * frame), and there is no time to save */
  if (!decimate || box < 16 || pw < 8 * box || ph < 8 * box)
    {
      status = sep_background (full, box, box, 3, 3, 0.0, &bkg);
      if (status == 0)
        {
          *global = sep_bkg_global (bkg);
          *globalrms = sep_bkg_globalrms (bkg);
          status = sep_bkg_array (bkg, back, SEP_TFLOAT);
        }
      if (bkg)
        sep_bkg_free (bkg);
      return status == 0 || sep_failed (status, _("background estimation"), error);
    }
  const int dw = pw / 2, dh = ph / 2;
  const float *src = full->data;
  const guint8 *inv = full->mask;
  float *dd = g_new (float, (gsize) dw * dh), *db = g_new (float, (gsize) dw * dh);
  guint8 *dm = inv ? g_new (guint8, (gsize) dw * dh) : NULL;
  for (int j = 0; j < dh; j++)
    for (int i = 0; i < dw; i++)
      {
        gsize k = (gsize) (2 * j) * pw + 2 * i + ((i + j) & 1);
        dd[(gsize) j * dw + i] = src[k];
        if (dm)
          dm[(gsize) j * dw + i] = inv[k];
      }
  sep_image im = *full;
  im.data = dd;
  im.mask = dm;
  im.w = dw;
  im.h = dh;
  status = sep_background (&im, box / 2, box / 2, 3, 3, 0.0, &bkg);
  if (status == 0)
    {
      *global = sep_bkg_global (bkg);
      *globalrms = sep_bkg_globalrms (bkg);
      status = sep_bkg_array (bkg, db, SEP_TFLOAT);
    }
  if (bkg)
    sep_bkg_free (bkg);
  if (status == 0)
    {
      /* decimated pixel (i, j) stands at (2i + 0.5, 2j) on average: full-resolution column
       * x = 2a + 1 lies a quarter, x = 2a + 2 three quarters of the way from a to a + 1 */
      float *vr = g_new (float, dw);
      for (int y = 0; y < ph; y++)
        {
          double v = CLAMP (y / 2.0, 0.0, dh - 1.0);
          int b = MIN ((int) v, MAX (dh - 2, 0));
          float fy = dh > 1 ? (float) (v - b) : 0.0f;
          const float *r0 = db + (gsize) b * dw, *r1 = dh > 1 ? r0 + dw : r0;
          for (int i = 0; i < dw; i++)
            vr[i] = r0[i] + fy * (r1[i] - r0[i]);
          float *o = back + (gsize) y * pw;
          o[0] = vr[0];
          for (int a = 0; a + 1 < dw; a++)
            {
              float d = vr[a + 1] - vr[a];
              o[2 * a + 1] = vr[a] + 0.25f * d;
              o[2 * a + 2] = vr[a] + 0.75f * d;
            }
          for (int x = MAX (2 * dw - 1, 1); x < pw; x++)
            o[x] = vr[dw - 1];
        }
      g_free (vr);
    }
  g_free (dd);
  g_free (db);
  g_free (dm);
  return status == 0 || sep_failed (status, _("background estimation"), error);
}

typedef struct
{
  int obj;
  float flux;
} Cand;

static int
cmp_cand (gconstpointer a, gconstpointer b)
{
  float fa = ((const Cand *) a)->flux, fb = ((const Cand *) b)->flux;
  return (fa < fb) - (fa > fb);
}

static int
cmp_star_flux (gconstpointer a, gconstpointer b)
{
  double fa = ((const TsrStar *) a)->flux, fb = ((const TsrStar *) b)->flux;
  return (fa < fb) - (fa > fb);
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median_double (double *v, guint n)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (double), cmp_double);
  return (n & 1) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Everything about one detection run that the per-star fit needs. */
typedef struct
{
  int pw, ph;               /* proxy size */
  int scale;                /* proxy → full resolution */
  gboolean superpixel;
  gboolean green;           /* fit the green sites of the raw plane */
  gboolean allsites;        /* … and the red and blue sites, colour-scaled (TSR_LUMA_CFA) */
  float off[3];             /* per-colour level minus the green level (mosaic) */
  TsrCfa cfa;
  int ct[4];                /* cfa_table of cfa */
  int fw, fh;               /* full-resolution size */
  const float *raw;         /* cleaned full-resolution plane (green mode) */
  const guint8 *raw_mask;
  const float *work;        /* proxy minus background */
  const float *back;        /* background of the proxy */
  const guint8 *pmask;      /* proxy validity */
  const guint8 *sat;        /* proxy-resolution saturation flags, or NULL */
  const int *seg;           /* proxy-resolution segmentation (object + 1), 0 = sky */
  double sigma;             /* noise of one fitted sample */
  double pix_area;          /* full-resolution area of one fitted sample */
} Ctx;

/* The fit samples of object obj (proxy coordinates u, v) and their starting values. */
typedef struct
{
  double u, v;              /* sep barycentre, proxy px */
  double fwhm_est;          /* proxy px */
  double vmax;              /* starting amplitude */
  gboolean saturated;
} Patch;

/* kcol: for TSR_LUMA_CFA, the star's red/green and blue/green amplitude ratios (red and
 * blue sites join the samples divided by them); NULL fits the green sites only. */
static gboolean
gather_samples (const Ctx *c, const sep_catalog *cat, int obj, const double *kcol,
                Samples *s, Patch *pt)
{
  double u = cat->x[obj], v = cat->y[obj];
  /* FWHM estimate from the area above half the peak (sep's a, b describe the isophote
   * at the detection threshold and grow with brightness). */
  float half = 0.5f * cat->peak[obj];
  int n_half = 0;
  for (int q = 0; q < cat->npix[obj]; q++)
    n_half += c->work[cat->pix[obj][q]] >= half;
  double fwhm_est = MAX (1.0, 2.0 * sqrt (n_half / G_PI));    /* proxy px */
  double rad = CLAMP (PATCH_FWHM * fwhm_est, PATCH_MIN, PATCH_MAX);
  int id = obj + 1;
  int i0 = MAX (0, (int) floor (u - rad)), i1 = MIN (c->pw - 1, (int) ceil (u + rad));
  int j0 = MAX (0, (int) floor (v - rad)), j1 = MIN (c->ph - 1, (int) ceil (v + rad));
  double r2 = rad * rad;
  gboolean saturated = FALSE;
  double vmax = -INFINITY, vmax_all = -INFINITY;

  if (c->superpixel)
    tsr_star_samples_reset (s, 4, SUB_CELL);
  else
    tsr_star_samples_reset (s, 1, SUB_ONE);

  for (int j = j0; j <= j1; j++)
    for (int i = i0; i <= i1; i++)
      {
        double du = i - u, dv = j - v, d2 = du * du + dv * dv;
        if (d2 > r2)
          continue;
        gsize k = (gsize) j * c->pw + i;
        if (c->sat && c->sat[k])
          {
            saturated = TRUE;
            continue;
          }
        if (!c->pmask[k] || (c->seg[k] != 0 && c->seg[k] != id))
          continue;
        double val;
        if (c->green)
          {
            if (!c->raw_mask[k])
              continue;
            int col = CFA_AT (c->ct, i, j);
            if (col != TSR_GREEN)
              {
                if (!kcol || !(kcol[col] > 0))
                  continue;
                val = (c->raw[k] - c->back[k] - c->off[col]) / kcol[col];
              }
            else
              val = c->raw[k] - c->back[k];
          }
        else
          val = c->work[k];
        if (c->superpixel)
          tsr_star_samples_add (s, 2 * i, 2 * j, val);
        else
          tsr_star_samples_add (s, i, j, val);
        if (d2 <= 2.25 && val > vmax)
          vmax = val;
        vmax_all = MAX (vmax_all, val);
      }

  /* a saturated core is left out of the fit: start from the brightest wing sample */
  if (!(vmax > 0) && saturated)
    vmax = 2.0 * vmax_all;
  pt->u = u;
  pt->v = v;
  pt->fwhm_est = fwhm_est;
  pt->vmax = vmax;
  pt->saturated = saturated;
  return s->n > NP + 2 && vmax > 0;
}

/* Star fields from fitted parameters p, and the acceptance tests. */
static gboolean
accept_fit (const Ctx *c, const Patch *pt, const double *p, gboolean gauss, TsrStar *out)
{
  double sc = c->scale, off = c->superpixel ? 0.5 : 0.0;
  double x0 = sc * pt->u + off, y0 = sc * pt->v + off;

  memset (out, 0, sizeof *out);
  if (!tsr_star_from_fit_params (p, gauss, c->sigma, c->pix_area, out))
    return FALSE;
  out->saturated = pt->saturated;

  /* local background: sep's mesh at the fitted centre plus the fitted constant */
  int bi = CLAMP ((int) lround ((out->x - off) / sc), 0, c->pw - 1);
  int bj = CLAMP ((int) lround ((out->y - off) / sc), 0, c->ph - 1);
  out->background = c->back[(gsize) bj * c->pw + bi] + p[P_BG];

  double dx = out->x - x0, dy = out->y - y0;
  double shift_max = SHIFT_MAX * sc;
  if (dx * dx + dy * dy > shift_max * shift_max)
    return FALSE;
  if (out->fwhm < FWHM_REJECT_MIN || out->fwhm_minor < FWHM_MINOR_MIN)
    return FALSE;
  if (out->fwhm > FWHM_REJECT_MAX && !pt->saturated)
    return FALSE;
  if (out->x < -0.5 || out->y < -0.5 || out->x > c->fw - 0.5 || out->y > c->fh - 0.5)
    return FALSE;
  return TRUE;
}

/* Value of the fitted profile (without amplitude and background) at (x, y). */
static double
profile_at (const double *p, gboolean gauss, double x, double y)
{
  double dx = x - p[P_X], dy = y - p[P_Y];
  double q = p[P_AXX] * dx * dx + 2 * p[P_AXY] * dx * dy + p[P_AYY] * dy * dy;
  return gauss ? exp (-q) : pow (1.0 + q, -p[P_BETA]);
}

/* TSR_LUMA_CFA: with the profile fitted on the green sites (p), each other colour's
 * amplitude relative to green is the least-squares scale of that colour's samples onto the
 * profile, Σ v f / (A Σ f²) — unbiased by where the centre falls in the CFA cell, unlike
 * ratios of aperture sums. Red and blue sites divided by their ratio then join a second fit
 * of every site, which keeps all the star's photons at full resolution. A colour whose
 * ratio is not clearly positive stays out. p is replaced only when the refit succeeds. */
static void
refit_all_sites (const Ctx *c, const sep_catalog *cat, int obj, Samples *s, double *p,
                 gboolean *gauss)
{
  double num[3] = { 0, 0, 0 }, den[3] = { 0, 0, 0 };
  double u = cat->x[obj], v = cat->y[obj];
  double fw = 2.0 * sqrt ((*gauss ? log (2.0) : pow (2.0, 1.0 / p[P_BETA]) - 1.0)
                          / MAX (1e-9, 0.5 * (p[P_AXX] + p[P_AYY])));
  double rad = CLAMP (1.5 * fw, 1.5, PATCH_MAX), r2 = rad * rad;
  int id = obj + 1;
  for (int j = MAX (0, (int) floor (v - rad)); j <= MIN (c->ph - 1, (int) ceil (v + rad)); j++)
    for (int i = MAX (0, (int) floor (u - rad)); i <= MIN (c->pw - 1, (int) ceil (u + rad)); i++)
      {
        gsize k = (gsize) j * c->pw + i;
        if ((i - p[P_X]) * (i - p[P_X]) + (j - p[P_Y]) * (j - p[P_Y]) > r2 || !c->raw_mask[k]
            || (c->sat && c->sat[k]) || (c->seg[k] != 0 && c->seg[k] != id))
          continue;
        int col = CFA_AT (c->ct, i, j);
        double f = profile_at (p, *gauss, i, j);
        num[col] += (c->raw[k] - c->back[k] - c->off[col] - p[P_BG]) * f;
        den[col] += f * f;
      }
  double kcol[3] = { 0, 1, 0 };
  for (int col = 0; col < 3; col++)
    if (col != TSR_GREEN && den[col] > 0)
      {
        double r = num[col] / (den[col] * p[P_AMP]);
        kcol[col] = (r > 0.1 && r < 10.0) ? r : 0.0;
      }
  if (!(kcol[TSR_RED] > 0) && !(kcol[TSR_BLUE] > 0))
    return;
  Patch pt;
  if (!gather_samples (c, cat, obj, kcol, s, &pt))
    return;
  double q[NP];
  memcpy (q, p, sizeof q);
  gboolean g = *gauss;
  double chi2;
  if (!tsr_star_lm_fit (s, q, g, &chi2))
    return;
  memcpy (p, q, sizeof q);
}

/* Fit the object obj of the catalogue. */
static gboolean
fit_candidate (const Ctx *c, const sep_catalog *cat, int obj, Samples *s, TsrStar *out)
{
  Patch pt;
  if (!gather_samples (c, cat, obj, NULL, s, &pt))
    return FALSE;

  double sc = c->scale, off = c->superpixel ? 0.5 : 0.0;
  double p[NP] = { 0 };
  p[P_AMP] = pt.vmax;
  p[P_X] = sc * pt.u + off;
  p[P_Y] = sc * pt.v + off;
  p[P_BG] = 0;
  tsr_star_init_shape (p, pt.fwhm_est * sc);
  gboolean gauss = FALSE;
  double chi2;
  if (!tsr_star_fit_psf (s, p, &gauss, &chi2))
    return FALSE;
  if (c->allsites)
    refit_all_sites (c, cat, obj, s, p, &gauss);
  return accept_fit (c, &pt, p, gauss, out);
}

/* sep moments only (p->fit == FALSE). */
static gboolean
star_from_moments (const Ctx *c, const sep_catalog *cat, int obj, TsrStar *out)
{
  double sc = c->scale, off = c->superpixel ? 0.5 : 0.0;
  memset (out, 0, sizeof *out);
  out->x = sc * cat->x[obj] + off;
  out->y = sc * cat->y[obj] + off;
  double area = c->superpixel ? 4.0 : 1.0;
  out->flux = cat->flux[obj] * area;
  out->peak = cat->peak[obj];
  out->fwhm_major = 2.3548 * cat->a[obj] * sc;
  out->fwhm_minor = 2.3548 * cat->b[obj] * sc;
  out->fwhm = sqrt (out->fwhm_major * out->fwhm_minor);
  out->theta = cat->theta[obj];
  out->roundness = out->fwhm_major > 0 ? out->fwhm_minor / out->fwhm_major : 0;
  double rms = c->sigma;
  out->snr = rms > 0 ? cat->flux[obj] / (rms * sqrt (MAX (1, cat->npix[obj]))) : INFINITY;
  int bi = CLAMP ((int) lround (cat->x[obj]), 0, c->pw - 1);
  int bj = CLAMP ((int) lround (cat->y[obj]), 0, c->ph - 1);
  gsize k = (gsize) bj * c->pw + bi;
  out->background = c->back[k];
  out->saturated = FALSE;
  if (c->sat)
    for (int y = cat->ymin[obj]; y <= cat->ymax[obj] && !out->saturated; y++)
      for (int x = cat->xmin[obj]; x <= cat->xmax[obj]; x++)
        if (c->sat[(gsize) y * c->pw + x])
          {
            out->saturated = TRUE;
            break;
          }
  return out->fwhm >= FWHM_REJECT_MIN && out->fwhm_minor >= FWHM_MINOR_MIN
         && (out->fwhm <= FWHM_REJECT_MAX || out->saturated);
}

/* Remove the fainter of two entries closer than half the larger FWHM (a star split by
 * deblending and fitted twice). stars is sorted brightest first. */
static void
remove_duplicates (GArray *stars)
{
  guint n = stars->len, m = 0;
  TsrStar *v = (TsrStar *) stars->data;
  for (guint i = 0; i < n; i++)
    {
      gboolean dup = FALSE;
      for (guint k = 0; k < m && !dup; k++)
        {
          double dx = v[i].x - v[k].x, dy = v[i].y - v[k].y;
          double lim = 0.5 * MAX (v[i].fwhm, v[k].fwhm);
          lim = MAX (lim, 1.0);
          dup = dx * dx + dy * dy < lim * lim;
        }
      if (!dup)
        v[m++] = v[i];
    }
  g_array_set_size (stars, m);
}

TsrStarList *
tsr_stars_detect (const TsrImage *img, const TsrStarParams *params,
                  GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (img != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  TsrStarParams defp;
  if (params == NULL)
    {
      tsr_star_params_init (&defp);
      params = &defp;
    }
  if (!(params->detect_sigma > 0) || params->min_area < 1 || params->bg_box < 4)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("Star detection parameters out of range (detect_sigma %g, min_area %d, "
                     "bg_box %d)"), params->detect_sigma, params->min_area, params->bg_box);
      return NULL;
    }

  TsrStarList *list = g_new0 (TsrStarList, 1);
  list->stars = g_array_new (FALSE, FALSE, sizeof (TsrStar));
  list->fwhm_median = NAN;
  list->roundness_median = NAN;
  list->background = NAN;
  list->background_rms = NAN;

  const int fw = img->width, fh = img->height;
  gsize fnpix = tsr_image_npix (img);
  gboolean mosaic = img->channels == 1 && img->cfa != TSR_CFA_NONE;
  TsrCfa cfa = mosaic ? img->cfa : TSR_CFA_NONE;
  TsrLumaMode mode = params->luma;
  double sat_level = params->saturation > 0 ? params->saturation : auto_saturation (img);

  float *rawc = NULL;           /* cleaned full-resolution plane (mono / CFA) */
  TsrImage *proxy = NULL;
  guint8 *sat = NULL, *inv = NULL;
  float *back = NULL, *work = NULL;   /* work: proxy->data minus the background */
  int *seg = NULL;
  sep_catalog *cat = NULL;
  Samples samples = { 0 };
  int scale = 1;
  double raw_sigma = NAN;
  float lvl_raw[3] = { 0, 0, 0 };  /* colour levels of the cleaned plane (mono / CFA) */
  gboolean ok = FALSE;

  if (fw < 3 || fh < 3 || tsr_image_count_valid (img) < 16)
    {
      ok = TRUE;
      goto out;
    }

  /* 1–2: cleaned working copy and its proxy; saturation flags at proxy resolution. */
  if (img->channels == 3)
    {
      proxy = proxy_rgb_mean (img);
      raw_sigma = quick_noise (proxy->data, proxy->mask, fw, fh, 1);
      clean_hot_pixels (proxy->data, proxy->mask, fw, fh, TSR_CFA_NONE, raw_sigma, NULL);
      if (isfinite (sat_level))
        {
          sat = g_new0 (guint8, fnpix);
          for (int c = 0; c < 3; c++)
            {
              const float *pl = tsr_image_plane (img, c);
              for (gsize i = 0; i < fnpix; i++)
                sat[i] |= img->mask[i] && pl[i] >= sat_level;
            }
        }
    }
  else
    {
      rawc = g_memdup2 (img->data, sizeof (float) * fnpix);
      raw_sigma = quick_noise (rawc, img->mask, fw, fh, mosaic ? 2 : 1);
      clean_hot_pixels (rawc, img->mask, fw, fh, cfa, raw_sigma, lvl_raw);
      proxy = proxy_from_plane (rawc, img->mask, fw, fh, cfa, mode, &scale);
      if (isfinite (sat_level))
        {
          sat = g_new0 (guint8, tsr_image_npix (proxy));
          if (scale == 2)
            {
              for (int j = 0; j < proxy->height; j++)
                for (int i = 0; i < proxy->width; i++)
                  {
                    gsize k = (gsize) (2 * j) * fw + 2 * i;
                    sat[(gsize) j * proxy->width + i] =
                      rawc[k] >= sat_level || rawc[k + 1] >= sat_level
                      || rawc[k + fw] >= sat_level || rawc[k + fw + 1] >= sat_level;
                  }
            }
          else
            for (gsize i = 0; i < fnpix; i++)
              sat[i] = img->mask[i] && rawc[i] >= sat_level;
        }
    }
  if (check_cancel (cancellable, error))
    goto out;

  const int pw = proxy->width, ph = proxy->height;
  gsize pnpix = tsr_image_npix (proxy);

  /* 3: background mesh, subtraction, extraction. */
  /* sep's mask marks invalid samples; without any, sep gets none (it only skips samples
   * whose mask exceeds maskthresh: the same background and catalogue) */
  if (memchr (proxy->mask, 0, pnpix) != NULL)
    {
      inv = g_new (guint8, pnpix);
      for (gsize i = 0; i < pnpix; i++)
        inv[i] = !proxy->mask[i];
    }

  sep_image im;
  memset (&im, 0, sizeof im);
  im.data = proxy->data;
  im.dtype = SEP_TFLOAT;
  im.mask = inv;
  im.mdtype = SEP_TBYTE;
  im.maskthresh = 0.0;
  im.w = pw;
  im.h = ph;
  im.noise_type = SEP_NOISE_NONE;
  im.gain = 0.0;

  int box = MIN (params->bg_box, MAX (pw, ph));
  back = g_new (float, pnpix);
  if (!background_map (&im, box, params->bg_decimate, back, &list->background, &list->background_rms, error))
    goto out;
  /* the proxy's samples are not needed after the background: subtract in place */
  work = proxy->data;
  {
    const guint8 *pm = proxy->mask;
    for (gsize i = 0; i < pnpix; i++)
      {
        float d = work[i] - back[i];
        work[i] = pm[i] ? d : 0.0f;
      }
  }
  if (check_cancel (cancellable, error))
    goto out;

  double rms = list->background_rms;
  if (!(rms > 0) || !isfinite (rms))
    {
      /* A constant frame: nothing to detect. */
      ok = TRUE;
      goto out;
    }

  im.data = work;
  static const float conv[9] = { 1, 2, 1, 2, 4, 2, 1, 2, 1 };
  double thresh = params->detect_sigma * rms;
  /* min_area counts full-resolution pixels: a superpixel covers four */
  int min_area = MAX (1, (params->min_area + scale * scale - 1) / (scale * scale));
  int status;
  for (int attempt = 0;; attempt++)
    {
      status = sep_extract (&im, (float) thresh, SEP_THRESH_ABS, min_area, conv, 3, 3,
                            SEP_FILTER_CONV, 32, 0.005, 1, 1.0, &cat);
      if (status == 0)
        break;
      cat = NULL;
      if ((status == SEP_PIXSTACK_FULL || status == SEP_DEBLEND_OVERFLOW) && attempt < 4)
        {
          thresh *= 2.0;   /* crowded or nebulous: detect the brighter sources only */
          continue;
        }
      sep_failed (status, _("source extraction"), error);
      goto out;
    }
  list->n_detected = (guint) cat->nobj;
  if (check_cancel (cancellable, error))
    goto out;

  /* 4: fits, brightest sources first. */
  seg = g_new0 (int, pnpix);
  for (int k = 0; k < cat->nobj; k++)
    for (int q = 0; q < cat->npix[k]; q++)
      {
        int pix = cat->pix[k][q];
        if (pix >= 0 && (gsize) pix < pnpix)
          seg[pix] = k + 1;
      }

  Ctx ctx = {
    .pw = pw, .ph = ph, .scale = scale,
    .superpixel = mosaic && scale == 2,
    .green = mosaic && scale == 1 && (mode == TSR_LUMA_GREEN || mode == TSR_LUMA_CFA),
    .allsites = mosaic && scale == 1 && mode == TSR_LUMA_CFA,
    .cfa = cfa, .fw = fw, .fh = fh,
    .raw = rawc, .raw_mask = img->mask,
    .work = work, .back = back, .pmask = proxy->mask, .sat = sat, .seg = seg,
  };
  cfa_table (cfa, ctx.ct);
  if (ctx.allsites)
    {
      for (int col = 0; col < 3; col++)
        ctx.off[col] = lvl_raw[col] - lvl_raw[TSR_GREEN];
    }
  if (ctx.green)
    {
      ctx.sigma = raw_sigma;
      ctx.pix_area = ctx.allsites ? 1.0 : 2.0;
    }
  else
    {
      ctx.sigma = rms;
      ctx.pix_area = ctx.superpixel ? 4.0 : 1.0;
    }

  Cand *cand = g_new (Cand, MAX (cat->nobj, 1));
  for (int k = 0; k < cat->nobj; k++)
    {
      cand[k].obj = k;
      cand[k].flux = isfinite (cat->flux[k]) ? cat->flux[k] : -INFINITY;
    }
  qsort (cand, cat->nobj, sizeof (Cand), cmp_cand);

  guint max_stars = params->max_stars > 0 ? params->max_stars : G_MAXUINT;
  for (int k = 0; k < cat->nobj && list->stars->len < max_stars; k++)
    {
      if ((k & 63) == 63 && check_cancel (cancellable, error))
        {
          g_free (cand);
          goto out;
        }
      TsrStar st;
      gboolean good = params->fit ? fit_candidate (&ctx, cat, cand[k].obj, &samples, &st)
                                  : star_from_moments (&ctx, cat, cand[k].obj, &st);
      if (good)
        g_array_append_val (list->stars, st);
    }
  g_free (cand);

  /* 5: brightest first, duplicates collapsed, statistics. */
  g_array_sort (list->stars, cmp_star_flux);
  remove_duplicates (list->stars);
  if (list->stars->len > max_stars)
    g_array_set_size (list->stars, max_stars);

  {
    guint n = list->stars->len, m = 0;
    double *fv = g_new (double, MAX (n, 1)), *rv = g_new (double, MAX (n, 1));
    for (guint i = 0; i < n; i++)
      {
        const TsrStar *st = &g_array_index (list->stars, TsrStar, i);
        if (st->saturated || !(st->snr > SNR_STATS_MIN))
          continue;
        fv[m] = st->fwhm;
        rv[m] = st->roundness;
        m++;
      }
    list->fwhm_median = median_double (fv, m);
    list->roundness_median = median_double (rv, m);
    g_free (fv);
    g_free (rv);
  }
  ok = TRUE;

out:
  tsr_star_samples_clear (&samples);
  if (cat)
    sep_catalog_free (cat);
  g_free (seg);
  g_free (back);
  g_free (inv);
  g_free (sat);
  g_free (rawc);
  if (proxy)
    tsr_image_unref (proxy);
  if (!ok)
    {
      tsr_star_list_free (list);
      return NULL;
    }
  return list;
}
