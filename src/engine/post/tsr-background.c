/* tsr-background.c — background extraction. The image is cut into square boxes; each box
 * gives a sky sample per channel (median after 3σ clipping, so a star in the box does not
 * count). A polynomial in x, y is fitted to the luminance samples, samples far from it
 * (above: nebulosity, star fields, galaxies; far below: dust, edges) are rejected and the fit
 * repeated until the set is stable; each channel then gets its own polynomial on the kept
 * samples. The model minus its mean is subtracted: an affine change per pixel, so the
 * result is as linear as the input. */
#include "tsr-background.h"

#include "tsr-error.h"
#include "tsr-stats.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#define MAX_TERMS 15   /* (4 + 1)(4 + 2) / 2 */

double
tsr_sky_level (const float *plane, const guint8 *mask, gsize n, double *sigma_out)
{
  g_autofree float *v = g_new (float, MAX (n, 1));
  gsize m = 0;
  for (gsize k = 0; k < n; k++)
    if (!mask || mask[k])
      v[m++] = plane[k];
  double med = NAN, sig = NAN;
  g_autofree float *tmp = g_new (float, MAX (m, 1));
  for (int it = 0; it < 4 && m > 0; it++)
    {
      memcpy (tmp, v, m * sizeof (float));
      med = tsr_median_inplace (tmp, m);
      sig = TSR_MAD_TO_SIGMA * tsr_mad_inplace (tmp, m, (float) med);
      if (!(sig > 0))
        break;
      gsize j = 0;
      for (gsize k = 0; k < m; k++)
        if (fabs (v[k] - med) <= 3.0 * sig)
          v[j++] = v[k];
      if (j == m)
        break;
      m = j;
    }
  if (sigma_out)
    *sigma_out = sig;
  return med;
}

static int
n_terms (int degree)
{
  return (degree + 1) * (degree + 2) / 2;
}

/* The monomials u^i v^j, i + j ≤ degree, in a fixed order. */
static void
terms (double u, double v, int degree, double *t)
{
  int k = 0;
  for (int d = 0; d <= degree; d++)
    {
      for (int j = 0; j <= d; j++)
        {
          double a = 1.0;
          for (int q = 0; q < d - j; q++)
            a *= u;
          for (int q = 0; q < j; q++)
            a *= v;
          t[k++] = a;
        }
    }
}

/* Least squares by the normal equations, solved by Gaussian elimination with partial
 * pivoting (at most 15 unknowns, coordinates scaled to [−1, 1]). */
static gboolean
fit_poly (const double *u, const double *v, const double *z, const guint8 *use, guint n, int degree, double *coef)
{
  int nt = n_terms (degree);
  double A[MAX_TERMS][MAX_TERMS + 1];
  memset (A, 0, sizeof A);
  double t[MAX_TERMS];
  guint used = 0;
  for (guint i = 0; i < n; i++)
    {
      if (!use[i])
        continue;
      used++;
      terms (u[i], v[i], degree, t);
      for (int a = 0; a < nt; a++)
        {
          for (int b = 0; b < nt; b++)
            A[a][b] += t[a] * t[b];
          A[a][nt] += t[a] * z[i];
        }
    }
  if (used < (guint) nt)
    return FALSE;
  for (int c = 0; c < nt; c++)
    {
      int piv = c;
      for (int r = c + 1; r < nt; r++)
        if (fabs (A[r][c]) > fabs (A[piv][c]))
          piv = r;
      if (fabs (A[piv][c]) < 1e-12 * used)
        return FALSE;
      if (piv != c)
        for (int q = 0; q <= nt; q++)
          {
            double s = A[c][q];
            A[c][q] = A[piv][q];
            A[piv][q] = s;
          }
      for (int r = 0; r < nt; r++)
        {
          if (r == c)
            continue;
          double f = A[r][c] / A[c][c];
          for (int q = c; q <= nt; q++)
            A[r][q] -= f * A[c][q];
        }
    }
  for (int c = 0; c < nt; c++)
    coef[c] = A[c][nt] / A[c][c];
  return TRUE;
}

static double
poly_eval (const double *coef, int degree, double u, double v)
{
  double t[MAX_TERMS];
  terms (u, v, degree, t);
  double s = 0;
  for (int k = 0; k < n_terms (degree); k++)
    s += coef[k] * t[k];
  return s;
}

/* The sky level of the box [x0,x1)×[y0,y1) per channel (z[0..nc-1]) and of the luminance
 * (z[3]), with the luminance's standard error; FALSE when fewer than half its pixels (or
 * fewer than 8) are valid. */
static gboolean
measure_box (const TsrImage *img, int x0, int y0, int x1, int y1, double *z, double *err)
{
  int w = img->width, nc = img->channels;
  int area = (x1 - x0) * (y1 - y0), nvalid = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      nvalid += img->mask[(gsize) y * w + x] != 0;
  if (nvalid < area / 2 || nvalid < 8)
    return FALSE;
  g_autofree float *buf = g_new (float, area);
  g_autofree guint8 *bmask = g_new (guint8, area);
  double lum = 0, lum_err = 0;
  for (int c = 0; c < nc; c++)
    {
      const float *pl = tsr_image_plane (img, c);
      int m = 0;
      for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
          {
            gsize k = (gsize) y * w + x;
            buf[m] = pl[k];
            bmask[m++] = img->mask[k];
          }
      double sig;
      double lev = tsr_sky_level (buf, bmask, m, &sig);
      z[c] = lev;
      lum += lev / nc;
      lum_err += (isfinite (sig) ? sig * sig : 0) / (nc * nc);
    }
  z[3] = lum;
  *err = 1.25 * sqrt (lum_err / nvalid);  /* standard error of a median */
  return TRUE;
}

gboolean
tsr_background_edit_parse_line (const char *line, TsrBgPoint *pt, gboolean *exclude)
{
  g_return_val_if_fail (line != NULL && pt != NULL && exclude != NULL, FALSE);
  g_autofree char *copy = g_strdup (line);
  char *l = g_strstrip (copy);
  gboolean excl = *l == '-';
  if (excl)
    l++;
  g_auto (GStrv) f = g_strsplit (l, ",", -1);
  guint nf = g_strv_length (f);
  double v[3] = { 0, 0, 0 };
  gboolean ok = nf == 2 || (nf == 3 && !excl);
  for (guint k = 0; ok && k < nf; k++)
    {
      char *e = NULL, *t = g_strstrip (f[k]);
      v[k] = g_ascii_strtod (t, &e);
      ok = *t && e && *e == '\0' && isfinite (v[k]);
    }
  if (ok && nf == 3)
    ok = v[2] >= 4 && v[2] <= 4096 && v[2] == floor (v[2]);
  if (!ok)
    return FALSE;
  pt->x = v[0];
  pt->y = v[1];
  pt->size = (int) v[2];
  *exclude = excl;
  return TRUE;
}

char *
tsr_background_edit_format (const TsrBgPoint *pt, gboolean exclude)
{
  g_return_val_if_fail (pt != NULL, NULL);
  char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
  /* an added box left of x = 0 would read as an exclusion ("-…"): it starts at the edge */
  g_ascii_dtostr (bx, sizeof bx, exclude ? pt->x : MAX (pt->x, 0.0));
  g_ascii_dtostr (by, sizeof by, pt->y);
  if (exclude)
    return g_strdup_printf ("-%s,%s", bx, by);
  if (pt->size > 0)
    return g_strdup_printf ("%s,%s,%d", bx, by, pt->size);
  return g_strdup_printf ("%s,%s", bx, by);
}

gboolean
tsr_background_edits_parse (const char *text, GArray *add, GArray *exclude, GError **error)
{
  g_return_val_if_fail (text != NULL && add != NULL && exclude != NULL, FALSE);
  guint n_add0 = add->len, n_excl0 = exclude->len;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *l = g_strstrip (lines[i]);
      if (!*l || *l == '#')
        continue;
      TsrBgPoint pt;
      gboolean excl;
      if (!tsr_background_edit_parse_line (l, &pt, &excl))
        {
          /* nothing of the file is kept */
          g_array_set_size (add, n_add0);
          g_array_set_size (exclude, n_excl0);
          g_autofree char *shown = g_utf8_make_valid (l, MIN (strlen (l), 80));
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("sample file line %u: '%s' is not 'x,y', 'x,y,size' (size 4 to 4096 px) or '-x,y'"), i + 1,
                       shown);
          return FALSE;
        }
      g_array_append_val (excl ? exclude : add, pt);
    }
  return TRUE;
}

static gboolean
inside (const TsrImage *img, double x, double y)
{
  return x >= -0.5 && y >= -0.5 && x < img->width - 0.5 && y < img->height - 0.5;
}

TsrImage *
tsr_background_extract (const TsrImage *img, const TsrPostParams *p, TsrBackgroundInfo *info, TsrImage **model_out,
                        GCancellable *cancellable, GError **error)
{
  return tsr_background_extract_edited (img, p, NULL, info, NULL, model_out, cancellable, error);
}

TsrImage *
tsr_background_extract_edited (const TsrImage *img, const TsrPostParams *p, const TsrBackgroundEdits *edits,
                               TsrBackgroundInfo *info, GArray **samples_out, TsrImage **model_out,
                               GCancellable *cancellable, GError **error)
{
  return tsr_background_extract_full (img, p, edits, info, samples_out, model_out, NULL, NULL, cancellable, error);
}

TsrImage *
tsr_background_extract_full (const TsrImage *img, const TsrPostParams *p, const TsrBackgroundEdits *edits,
                             TsrBackgroundInfo *info, GArray **samples_out, TsrImage **model_out,
                             TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
                             GError **error)
{
  g_return_val_if_fail (img != NULL && p != NULL, NULL);
  if (!tsr_post_params_validate (p, error))
    return NULL;
  if (img->channels == 1 && img->cfa != TSR_CFA_NONE)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("background extraction needs a demosaiced or monochrome image, not a raw Bayer mosaic"));
      return NULL;
    }
  int w = img->width, h = img->height, nc = img->channels, deg = p->bg_degree;
  int box = (MAX (w, h) + p->bg_grid - 1) / p->bg_grid;
  box = MAX (box, 4);
  int nx = (w + box - 1) / box, ny = (h + box - 1) / box;
  guint n_add = edits ? edits->n_add : 0, n_excl = edits ? edits->n_exclude : 0;
  guint na = (guint) nx * ny;      /* automatic boxes, then the added ones */
  guint nb = na + n_add;
  g_autofree double *u = g_new0 (double, nb), *v = g_new0 (double, nb), *z = g_new0 (double, (gsize) nb * 4);
  g_autofree double *err = g_new0 (double, nb);
  g_autofree int *bx0 = g_new0 (int, nb), *by0 = g_new0 (int, nb), *bx1 = g_new0 (int, nb), *by1 = g_new0 (int, nb);
  g_autofree guint8 *ok = g_new0 (guint8, nb), *use = g_new0 (guint8, nb), *excl = g_new0 (guint8, nb);
  double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1), sx = MAX (cx, 0.5), sy = MAX (cy, 0.5);
  gsize npix = tsr_image_npix (img);
  for (guint i = 0; i < n_excl; i++)
    {
      const TsrBgPoint *e = &edits->exclude[i];
      if (!inside (img, e->x, e->y))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("background extraction: the excluded sample at %.1f, %.1f lies outside the %d × %d image"),
                       e->x, e->y, w, h);
          return NULL;
        }
    }
  guint n_ok = 0;
  for (guint b = 0; b < nb; b++)
    {
      if (b % MAX (nx, 1) == 0)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return NULL;
          if (progress)
            progress (N_("Measuring the sky samples"), b, nb, progress_data);
        }
      if (b < na)
        {
          int gx = b % nx, gy = b / nx;
          bx0[b] = gx * box, by0[b] = gy * box, bx1[b] = MIN (bx0[b] + box, w), by1[b] = MIN (by0[b] + box, h);
        }
      else
        {
          const TsrBgPoint *a = &edits->add[b - na];
          int size = a->size > 0 ? a->size : box;
          if (!inside (img, a->x, a->y) || size < 4)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                           _("background extraction: the added sample at %.1f, %.1f (%d px) lies outside the %d × %d "
                             "image"), a->x, a->y, size, w, h);
              return NULL;
            }
          int x0 = (int) floor (a->x + 0.5 - 0.5 * size), y0 = (int) floor (a->y + 0.5 - 0.5 * size);
          bx0[b] = MAX (x0, 0), by0[b] = MAX (y0, 0), bx1[b] = MIN (x0 + size, w), by1[b] = MIN (y0 + size, h);
        }
      if (!measure_box (img, bx0[b], by0[b], bx1[b], by1[b], &z[4 * b], &err[b]))
        {
          if (b >= na)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                           _("background extraction: the added sample at %.1f, %.1f holds too little valid data"),
                           edits->add[b - na].x, edits->add[b - na].y);
              return NULL;
            }
          continue;
        }
      u[b] = (0.5 * (bx0[b] + bx1[b] - 1) - cx) / sx;
      v[b] = (0.5 * (by0[b] + by1[b] - 1) - cy) / sy;
      ok[b] = 1;
    }
  /* an excluded point takes the automatic box that holds it out */
  guint n_excluded = 0;
  for (guint i = 0; i < n_excl; i++)
    {
      const TsrBgPoint *e = &edits->exclude[i];
      int gx = CLAMP ((int) floor (e->x + 0.5) / box, 0, nx - 1), gy = CLAMP ((int) floor (e->y + 0.5) / box, 0, ny - 1);
      guint b = (guint) gy * nx + gx;
      if (ok[b] && !excl[b])
        excl[b] = 1, n_excluded++;
    }
  for (guint b = 0; b < nb; b++)
    n_ok += ok[b] && !excl[b];
  int nt = n_terms (deg);
  if (n_ok < (guint) (2 * nt))
    {
      if (n_excluded || n_add)
        g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                     _("background extraction: %u sky samples are left after %u excluded and %u added; a degree-%d "
                       "model needs %d (restore or add samples, or lower post.background_degree)"),
                     n_ok, n_excluded, n_add, deg, 2 * nt);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                     _("background extraction: only %u sky sample boxes hold data, a degree-%d model needs %d; "
                       "lower post.background_degree or raise post.background_grid"), n_ok, deg, 2 * nt);
      return NULL;
    }
  if (progress)
    {
      progress (N_("Measuring the sky samples"), nb, nb, progress_data);
      progress (N_("Fitting the sky model"), 0, 0, progress_data);
    }
  g_autofree double *zl = g_new (double, nb);
  for (guint b = 0; b < nb; b++)
    zl[b] = z[4 * b + 3];
  for (guint b = 0; b < nb; b++)
    use[b] = ok[b] && !excl[b];
  double coef[MAX_TERMS];
  /* the median box error: the residual σ never drops below the samples' own noise */
  g_autofree float *tmp = g_new (float, nb);
  guint m = 0;
  for (guint b = 0; b < nb; b++)
    if (use[b])
      tmp[m++] = (float) err[b];
  double err_med = tsr_median_inplace (tmp, m);
  for (int it = 0; it < 20; it++)
    {
      if (!fit_poly (u, v, zl, use, nb, deg, coef))
        break;
      m = 0;
      for (guint b = 0; b < nb; b++)
        if (use[b])
          tmp[m++] = (float) fabs (zl[b] - poly_eval (coef, deg, u[b], v[b]));
      double sig = MAX (TSR_MAD_TO_SIGMA * tsr_median_inplace (tmp, m), err_med);
      gboolean changed = FALSE;
      guint kept = 0;
      for (guint b = 0; b < nb; b++)
        {
          if (!ok[b] || excl[b] || b >= na)   /* added samples are never rejected */
            continue;
          double r = zl[b] - poly_eval (coef, deg, u[b], v[b]);
          /* bright structure is rejected at κ σ; dark outliers only at 2κ (a model pulled up
           * by nebulosity leaves the true sky below it) */
          guint8 keep = r <= p->bg_kappa * sig && r >= -2.0 * p->bg_kappa * sig;
          changed |= keep != use[b];
          use[b] = keep;
          kept += keep;
        }
      kept += n_add;
      if (kept < (guint) (2 * nt))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                       _("background extraction: only %u of %u sample boxes look like sky; a degree-%d model needs %d "
                         "(raise post.background_kappa or lower the degree)"), kept, n_ok, deg, 2 * nt);
          return NULL;
        }
      if (!changed)
        break;
    }
  guint n_used = 0;
  for (guint b = 0; b < nb; b++)
    n_used += use[b];

  g_autoptr (TsrImage) out = tsr_image_copy (img);
  g_autoptr (TsrImage) model = model_out ? tsr_image_new (w, h, nc) : NULL;
  TsrBackgroundInfo inf = { n_ok, n_used, deg, { 0 }, { 0 }, n_add, n_excluded };
  g_autofree double *cz = g_new (double, nb);
  g_autofree double *row = g_new (double, w);
  for (int c = 0; c < nc; c++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      for (guint b = 0; b < nb; b++)
        cz[b] = z[4 * b + c];
      double cc[MAX_TERMS];
      if (!fit_poly (u, v, cz, use, nb, deg, cc))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                       _("background extraction: the sky samples do not determine a degree-%d model; lower "
                         "post.background_degree"), deg);
          return NULL;
        }
      /* the model's mean over the valid pixels is the pedestal added back */
      double sum = 0, lo = INFINITY, hi = -INFINITY;
      gsize nv = 0;
      float *pl = tsr_image_plane (out, c);
      float *mp = model ? tsr_image_plane (model, c) : NULL;
      for (int y = 0; y < h; y++)
        {
          if (progress && y % 64 == 0)
            progress (N_("Subtracting the sky model"), (guint) (c * h + y), (guint) (nc * h), progress_data);
          double vv = (y - cy) / sy;
          for (int x = 0; x < w; x++)
            {
              double val = poly_eval (cc, deg, (x - cx) / sx, vv);
              row[x] = val;
              lo = MIN (lo, val);
              hi = MAX (hi, val);
              if (img->mask[(gsize) y * w + x])
                sum += val, nv++;
            }
          for (int x = 0; x < w; x++)
            {
              gsize k = (gsize) y * w + x;
              pl[k] = (float) (pl[k] - row[x]);
              if (mp)
                mp[k] = (float) row[x];
            }
        }
      double ped = nv ? sum / nv : 0;
      for (gsize k = 0; k < npix; k++)
        pl[k] = (float) (pl[k] + ped);
      inf.pedestal[c] = ped;
      inf.range[c] = hi - lo;
    }
  g_autofree char *hist = g_strdup_printf ("tessera background: degree-%d polynomial on %u of %u sky boxes of %d px "
                                           "(kappa %.3g; user samples: %u added, %u excluded) subtracted, mean added back; "
                                           "model range %.6g %.6g %.6g",
                                           deg, n_used, n_ok, box, p->bg_kappa, n_add, n_excluded, inf.range[0],
                                           nc > 1 ? inf.range[1] : 0.0, nc > 2 ? inf.range[2] : 0.0);
  tsr_header_add_history (out->header, hist);
  if (progress)
    progress (N_("Subtracting the sky model"), (guint) (nc * h), (guint) (nc * h), progress_data);
  if (info)
    *info = inf;
  if (model_out)
    *model_out = g_steal_pointer (&model);
  if (samples_out)
    {
      GArray *a = g_array_new (FALSE, FALSE, sizeof (TsrBgSample));
      for (guint b = 0; b < nb; b++)
        {
          if (!ok[b])
            continue;
          TsrBgSample sm = { 0.5 * (bx0[b] + bx1[b] - 1), 0.5 * (by0[b] + by1[b] - 1),
                             MAX (bx1[b] - bx0[b], by1[b] - by0[b]),
                             b >= na ? TSR_BG_SAMPLE_ADDED
                             : excl[b] ? TSR_BG_SAMPLE_EXCLUDED
                             : use[b] ? TSR_BG_SAMPLE_USED : TSR_BG_SAMPLE_REJECTED, z[4 * b + 3] };
          g_array_append_val (a, sm);
        }
      *samples_out = a;
    }
  return g_steal_pointer (&out);
}
