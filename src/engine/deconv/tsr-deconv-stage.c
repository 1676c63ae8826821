/* tsr-deconv-stage.c — staging for the deconvolution: registration hooks that measure each
 * frame's PSF stars, photometric scale and background and stage its pixels, and the seed
 * and mean images built in row bands of every used frame. */
#include "tsr-deconv.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-parallel.h"
#include "tsr-register.h"
#include "tsr-stats.h"
#include "tsr-tbqr.h"
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "tsr-deconv-private.h"
#include "tsr-output.h"

/* Staging's temporary disk (issue #19: bounded by a documented budget): once the first frame
 * is staged its file's size is known exactly; every frame of the session staged alike must fit
 * in run.cache_disk_mb (the run's temporary-disk budget, shared with the frame cache's file)
 * and in the staging folder's free space (less 512 MiB), or the job stops now, seconds in,
 * with the GiB it needs, instead of filling the disk frame by frame. */
static char *
format_bytes (guint64 b)
{
  return b >= ((guint64) 1 << 30) ? g_strdup_printf ("%.1f GiB", b / (1024.0 * 1024 * 1024))
                                  : g_strdup_printf ("%.1f MiB", b / (1024.0 * 1024));
}

static gboolean
check_stage_disk (Job *j, guint64 frame_bytes, GError **error)
{
  g_mutex_lock (&j->lock);
  gboolean first = !j->stage_disk_checked;
  j->stage_disk_checked = TRUE;
  g_mutex_unlock (&j->lock);
  if (!first)
    return TRUE;
  guint64 need = frame_bytes * j->n_frames;
  guint64 budget = (guint64) (MAX (j->run->cache_disk_mb, 0.0) * 1024 * 1024);
  g_autofree char *need_s = format_bytes (need);
  g_autofree char *frame_s = format_bytes (frame_bytes);
  if (need > budget)
    {
      g_autofree char *budget_s = format_bytes (budget);
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("deconv: staging the %u frames needs %s of temporary disk (%s per frame) but "
                     "run.cache_disk_mb allows %s; raise run.cache_disk_mb or deconvolve fewer frames"),
                   j->n_frames, need_s, frame_s, budget_s);
      return FALSE;
    }
  struct statvfs st;
  if (statvfs (j->stage_dir, &st) == 0)
    {
      guint64 avail = (guint64) st.f_bavail * st.f_frsize, reserve = (guint64) 512 << 20;
      guint64 rest = need - frame_bytes;   /* the first frame is on the disk already */
      if (rest + reserve > avail)
        {
          g_autofree char *free_s = format_bytes (avail + frame_bytes);
          g_autofree char *parent = g_path_get_dirname (j->stage_dir);
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                       _("deconv: staging the %u frames needs %s of temporary disk in “%s” but only %s is free "
                         "there; free some space or point TMPDIR at a larger disk"),
                       j->n_frames, need_s, parent, free_s);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * Staging (registration hooks)
 */

gboolean
tsr_deconv_reference_hook (const TsrImage *ref, const TsrStarList *ref_stars, gpointer data, GError **error)
{
  Job *j = data;
  j->ref_stars = g_array_new (FALSE, FALSE, sizeof (RefStar));
  if (ref_stars)
    for (guint i = 0; i < ref_stars->stars->len; i++)
      {
        const TsrStar *st = &g_array_index (ref_stars->stars, TsrStar, i);
        if (st->saturated || !(st->flux > 0))
          continue;
        RefStar rs = { st->x, st->y, st->flux };
        g_array_append_val (j->ref_stars, rs);
      }
  g_array_sort (j->ref_stars, tsr_deconv_cmp_refstar);
  return TRUE;
}

/* Photometric scale: median flux ratio of stars matched to the reference's by position. */
#define SCALE_MIN_SNR 50.0

static double
frame_scale (const Job *j, const TsrStarList *stars, const TsrTransform *inv, guint *npairs)
{
  *npairs = 0;
  if (!stars || !j->ref_stars || j->ref_stars->len == 0)
    return 1.0;
  guint n = MIN (stars->stars->len, 400u);
  float *ratio = g_new (float, MAX (n, 1u)), *snr = g_new (float, MAX (n, 1u));
  guint m = 0;
  const RefStar *rs = (const RefStar *) j->ref_stars->data;
  guint nr = j->ref_stars->len;
  const double tol = 1.5;
  for (guint i = 0; i < n; i++)
    {
      const TsrStar *st = &g_array_index (stars->stars, TsrStar, i);
      if (st->saturated || !(st->flux > 0))
        continue;
      double x, y;
      tsr_transform_apply (inv, st->x, st->y, &x, &y);
      /* first reference star with x ≥ x − tol */
      guint lo = 0, hi = nr;
      while (lo < hi)
        {
          guint mid = (lo + hi) / 2;
          if (rs[mid].x < x - tol)
            lo = mid + 1;
          else
            hi = mid;
        }
      double best = tol * tol;
      int bi = -1;
      for (guint k = lo; k < nr && rs[k].x <= x + tol; k++)
        {
          double d2 = (rs[k].x - x) * (rs[k].x - x) + (rs[k].y - y) * (rs[k].y - y);
          if (d2 < best)
            {
              best = d2;
              bi = (int) k;
            }
        }
      if (bi >= 0)
        {
          ratio[m] = (float) (st->flux / rs[bi].flux);
          snr[m++] = (float) st->snr;
        }
    }
  /* the well-measured stars only when there are enough of them: the fitted fluxes of faint
   * stars scatter (and are biased) by several per cent, and a scale error that differs
   * between sharp and blurred frames puts a core-and-moat pattern round every bright star
   * (the sharp frames set the core, the blurred ones the total) */
  guint mb = 0;
  for (guint i = 0; i < m; i++)
    if (snr[i] >= SCALE_MIN_SNR)
      ratio[mb++] = ratio[i];
  if (mb >= 8)
    m = mb;
  g_free (snr);
  double s = 1.0;
  if (m >= 5)
    s = tsr_median_inplace (ratio, m);
  g_free (ratio);
  *npairs = m;
  return isfinite (s) && s > 0.05 && s < 20 ? s : 1.0;
}

/* Isolated, unsaturated, well-measured stars of a frame, in reference coordinates. */
static guint
psf_stars (const TsrStarList *stars, const TsrTransform *inv, double fwhm, double **xs, double **ys)
{
  *xs = *ys = NULL;
  if (!stars || stars->stars->len == 0)
    return 0;
  guint n = stars->stars->len;
  /* no star within the core, nor one brighter than 5 % of it within the wings' stamp */
  double iso = 2.0 * (tsr_psf_size_for_fwhm (fwhm) / 2) + 2;
  double iso_wings = tsr_psf_wing_radius (fwhm) + 5;
  *xs = g_new (double, 60);
  *ys = g_new (double, 60);
  guint m = 0;
  for (guint i = 0; i < n && m < 60; i++)
    {
      const TsrStar *st = &g_array_index (stars->stars, TsrStar, i);
      if (st->saturated || !(st->snr >= 20) || !isfinite (st->fwhm))
        continue;
      if (isfinite (fwhm) && (st->fwhm < 0.6 * fwhm || st->fwhm > 1.6 * fwhm))
        continue;
      gboolean isolated = TRUE;
      for (guint k = 0; k < n && isolated; k++)
        {
          if (k == i)
            continue;
          const TsrStar *o = &g_array_index (stars->stars, TsrStar, k);
          if (fabs (o->x - st->x) < iso && fabs (o->y - st->y) < iso)
            isolated = FALSE;
          else if (o->flux > 0.05 * st->flux && hypot (o->x - st->x, o->y - st->y) < iso_wings)
            isolated = FALSE;
        }
      if (!isolated)
        continue;
      tsr_transform_apply (inv, st->x, st->y, &(*xs)[m], &(*ys)[m]);
      m++;
    }
  return m;
}

static double
median_theta (const TsrStarList *stars)
{
  if (!stars || stars->stars->len == 0)
    return 0;
  guint n = MIN (stars->stars->len, 200u);
  float *t = g_new (float, n);
  for (guint i = 0; i < n; i++)
    t[i] = (float) g_array_index (stars->stars, TsrStar, i).theta;
  double m = tsr_median_inplace (t, n);
  g_free (t);
  return isfinite (m) ? m : 0;
}

/* Robust noise of the native samples of one colour about the background plane. */
static double
native_rms (const float *v, const guint8 *code, const gsize n, int W, int colour, const double *pl)
{
  gsize step = MAX ((gsize) 1, n / 200000);
  if (colour >= 0)
    step |= 1;   /* an even stride on an even width sees one column parity only (tsr_deconv_fit_background) */
  float *res = g_new (float, n / step + 1);
  gsize m = 0;
  for (gsize k = 0; k < n; k += step)
    {
      if (!code[k] || (colour >= 0 && code[k] - 1 != colour))
        continue;
      res[m++] = (float) (v[k] - tsr_deconv_plane_at (pl, (double) (k % W), (double) (k / W)));
    }
  double rms = 0;
  if (m > 16)
    {
      float med = tsr_median_inplace (res, m);
      rms = TSR_MAD_TO_SIGMA * tsr_mad_inplace (res, m, med);
    }
  g_free (res);
  return rms;
}

/* Photon transfer from one frame (before demosaicing): in blocks of 32×32 px, the median
 * level and the variance of the differences of same-colour horizontal neighbours (smooth
 * structure cancels; 1.4826·MAD, so stars do not count). Across the frame's gradient and
 * the night's sky drift var = read² + level/gain; the slope is fitted over all frames. */
void
tsr_deconv_gain_sample (Job *j, const TsrImage *raw, const guint8 *usable)
{
  if (raw->channels != 1)
    return;
  int W = raw->width, H = raw->height, step = raw->cfa != TSR_CFA_NONE ? 2 : 1, B = 32;
  const float *p = raw->data;
  float *lv = g_new (float, B * B), *df = g_new (float, B * B);
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (double));
  for (int by = 0; by + B <= H; by += B)
    for (int bx = 0; bx + B - step < W; bx += B)
      {
        guint n = 0;
        for (int y = by; y < by + B; y++)
          for (int x = bx; x < bx + B && x + step < W; x += step)
            {
              gsize k = (gsize) y * W + x;
              if (!usable[k] || !usable[k + step])
                continue;
              lv[n] = p[k];
              df[n] = p[k + step] - p[k];
              n++;
            }
        if (n < 64)
          continue;
        double level = tsr_median_inplace (lv, n);
        float md = tsr_median_inplace (df, n);
        double sd = TSR_MAD_TO_SIGMA * tsr_mad_inplace (df, n, md);
        double pt[2] = { level, sd * sd / 2 };
        g_array_append_vals (pts, pt, 2);
      }
  g_free (lv);
  g_free (df);
  g_mutex_lock (&j->lock);
  if (!j->gain_pts)
    j->gain_pts = g_array_new (FALSE, FALSE, sizeof (double));
  g_array_append_vals (j->gain_pts, pts->data, pts->len);
  g_mutex_unlock (&j->lock);
  g_array_free (pts, TRUE);
}

/* The slope of variance over level (robust line: least squares with 3σ rejection, 5 rounds);
 * 1/slope = gain in e-/ADU, or 0 when the levels span too little or the slope is not positive. */
static int
cmp_point (const void *a, const void *b)
{
  const double *p = a, *q = b;
  if (p[0] != q[0])
    return p[0] < q[0] ? -1 : 1;
  return p[1] < q[1] ? -1 : p[1] > q[1];
}

double
tsr_deconv_gain_estimate (const GArray *pts)
{
  if (!pts || pts->len < 2 * 8)
    return 0;
  guint n = pts->len / 2;
  /* the frames append their points in the order the registration threads finish: sort them,
   * so the sums below (and the gain) do not depend on that order */
  double *v = g_memdup2 (pts->data, sizeof (double) * 2 * n);
  qsort (v, n, 2 * sizeof (double), cmp_point);
  gboolean *keep = g_new (gboolean, n);
  for (guint i = 0; i < n; i++)
    keep[i] = TRUE;
  double a = 0, b = 0, lo = INFINITY, hi = -INFINITY;
  for (int round = 0; round < 5; round++)
    {
      double S = 0, Sx = 0, Sy = 0, Sxx = 0, Sxy = 0;
      for (guint i = 0; i < n; i++)
        if (keep[i])
          {
            double x = v[2 * i], y = v[2 * i + 1];
            S++, Sx += x, Sy += y, Sxx += x * x, Sxy += x * y;
          }
      double den = S * Sxx - Sx * Sx;
      if (S < 8 || !(den > 0))
        break;
      b = (S * Sxy - Sx * Sy) / den;
      a = (Sy - b * Sx) / S;
      float *r = g_new (float, n);
      guint m = 0;
      for (guint i = 0; i < n; i++)
        if (keep[i])
          r[m++] = (float) (v[2 * i + 1] - a - b * v[2 * i]);
      float med = tsr_median_inplace (r, m), mad = tsr_mad_inplace (r, m, med);
      g_free (r);
      double lim = 3 * TSR_MAD_TO_SIGMA * mad + 1e-12;
      lo = INFINITY, hi = -INFINITY;
      for (guint i = 0; i < n; i++)
        {
          keep[i] = fabs (v[2 * i + 1] - a - b * v[2 * i] - med) <= lim;
          if (keep[i])
            lo = MIN (lo, v[2 * i]), hi = MAX (hi, v[2 * i]);
        }
    }
  g_free (keep);
  g_free (v);
  /* the span of levels must move the variance by more than its own scatter */
  if (!(b > 0) || !((hi - lo) * b > 0.2 * MAX (a + b * lo, 1e-9)))
    return 0;
  return 1.0 / b;
}

/* Usable pixels of a frame: valid and, with deconv.mask_saturated, not within `dilate` px of
 * a saturated pixel (level: stars.saturation, else 0.98 × the maximum when the maximum sits
 * at an ADC full scale, as the star detection decides). */
guint8 *
tsr_deconv_usable_mask (const TsrImage *raw, double level, gboolean mask_sat, int dilate, guint64 *nsat)
{
  gsize n = tsr_image_npix (raw);
  int W = raw->width, H = raw->height;
  guint8 *m = g_memdup2 (raw->mask, n);
  *nsat = 0;
  if (!mask_sat)
    return m;
  if (!(level > 0))
    {
      float vmax = -INFINITY;
      for (int c = 0; c < raw->channels; c++)
        {
          const float *p = tsr_image_plane (raw, c);
          for (gsize k = 0; k < n; k++)
            if (raw->mask[k] && p[k] > vmax)
              vmax = p[k];
        }
      static const double adc[] = { 255, 1023, 4095, 16383, 32767, 65535 };
      level = INFINITY;
      for (guint k = 0; k < G_N_ELEMENTS (adc); k++)
        if (isfinite (vmax) && fabs (vmax - adc[k]) <= 0.03 * adc[k])
          level = 0.98 * vmax;
      if (!isfinite (level))
        return m;
    }
  for (int c = 0; c < raw->channels; c++)
    {
      const float *p = tsr_image_plane (raw, c);
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          if (raw->mask[(gsize) y * W + x] && p[(gsize) y * W + x] >= level)
            {
              (*nsat)++;
              for (int yy = MAX (0, y - dilate); yy <= MIN (H - 1, y + dilate); yy++)
                for (int xx = MAX (0, x - dilate); xx <= MIN (W - 1, x + dilate); xx++)
                  m[(gsize) yy * W + xx] = 0;
            }
    }
  return m;
}

/* (R + G + B) / 3 of a three-channel image, its mask */
static TsrImage *
luminance_of (const TsrImage *img)
{
  TsrImage *l = tsr_image_new (img->width, img->height, 1);
  gsize np = (gsize) img->width * img->height;
  const float *pr = tsr_image_plane (img, 0), *pg = tsr_image_plane (img, 1), *pb = tsr_image_plane (img, 2);
  float *pl = l->data;
  for (gsize k = 0; k < np; k++)
    pl[k] = (pr[k] + pg[k] + pb[k]) * (1.0f / 3.0f);
  memcpy (l->mask, img->mask, np);
  return l;
}

gboolean
tsr_deconv_stage_hook (guint index, const TsrImage *img, TsrFrameReg *fr, gpointer data,
            GCancellable *cancellable, GError **error)
{
  Job *j = data;
  DFrame *f = &j->frames[index];
  if (!fr->registered)
    return TRUE;
  const TsrFrameInfo *fi = tsr_session_frame (j->s, index);
  guint64 nsat = 0;
  /* saturated pixels leave the data term (and the PSF stamps); demosaicing spreads them */
  g_autofree guint8 *pmask = tsr_deconv_usable_mask (img, j->tp->reg.stars.saturation, j->dp->mask_saturated, j->demosaic ? 2 : 1,
                                          &nsat);
  tsr_deconv_gain_sample (j, img, pmask);
  /* Bayer frames in rgb mode: demosaiced in their own geometry, then three full planes */
  g_autoptr (TsrImage) dm = NULL;
  if (j->demosaic)
    {
      if (img->channels != 1 || img->cfa == TSR_CFA_NONE || !(dm = tsr_demosaic (img)))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: cannot demosaic the frame"), fi->path);
          return FALSE;
        }
      img = dm;
    }
  g_autoptr (TsrImage) wp = tsr_warp (img, &fr->transform, j->W, j->H, j->cfa, j->tp->reg.interp);
  if (!wp)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, _("%s: cannot warp the frame into the reference geometry"),
                   fi->path);
      return FALSE;
    }
  TsrTransform inv;
  if (!tsr_transform_invert (&fr->transform, &inv))
    return TRUE; /* degenerate: left unstaged, so unused */
  /* luminance mode: the data term (native samples, background, PSF) sees L = (R + G + B) / 3
   * of the demosaiced frame; the warped colour planes stay for the colour mean stack */
  g_autoptr (TsrImage) lum = j->luminance ? luminance_of (img) : NULL;
  g_autoptr (TsrImage) wlum = j->luminance ? luminance_of (wp) : NULL;
  const TsrImage *dimg = lum ? lum : img, *dwp = wlum ? wlum : wp;

  /* the frame's own pixels: for every reference pixel the nearest frame pixel, its colour
   * (the frame's own CFA site) and its exact position in the reference geometry */
  int W = j->W, H = j->H, Cd = j->Cn;   /* native planes */
  gsize n = (gsize) W * H;
  float *nat = g_new (float, n * Cd);
  guint32 *tap = g_new0 (guint32, n);
  guint8 *code = g_new0 (guint8, n);
  GArray *sat = g_array_new (FALSE, FALSE, sizeof (guint32));
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        gsize k = (gsize) y * W + x;
        double fx, fy, rx, ry;
        tsr_transform_apply (&fr->transform, x, y, &fx, &fy);
        long qx = lround (fx), qy = lround (fy);
        for (int c = 0; c < Cd; c++)
          nat[(gsize) c * n + k] = 0;
        if (!isfinite (fx) || !isfinite (fy) || qx < 0 || qy < 0 || qx >= img->width || qy >= img->height)
          continue;
        gsize q = (gsize) qy * img->width + (gsize) qx;
        if (!pmask[q])
          {
            if (img->mask[q])   /* valid but left out: saturated or next to it */
              {
                guint32 kk = (guint32) k;
                g_array_append_val (sat, kk);
              }
            continue;
          }
        tsr_transform_apply (&inv, (double) qx, (double) qy, &rx, &ry);
        rx -= x;
        ry -= y;
        if (!(fabs (rx) <= 1.0 && fabs (ry) <= 1.0))
          continue; /* scale far from 1: outside the sampling margin */
        for (int c = 0; c < Cd; c++)
          nat[(gsize) c * n + k] = tsr_image_plane (dimg, c)[q];
        code[k] = (guint8) (1 + (img->cfa != TSR_CFA_NONE ? tsr_cfa_color (img->cfa, (int) qx, (int) qy) : 0));
        /* e as float, as staged before the packing (the tap then equals the earlier one) */
        tap[k] = tsr_deconv_tap_axis ((float) rx, j->r) | (tsr_deconv_tap_axis ((float) ry, j->r) << 16);
      }

  if (sat->len > 0 && j->satcount)
    {
      g_mutex_lock (&j->lock);
      for (guint i = 0; i < sat->len; i++)
        {
          guint16 *sc = &j->satcount[g_array_index (sat, guint32, i)];
          if (*sc < G_MAXUINT16)
            (*sc)++;
        }
      g_mutex_unlock (&j->lock);
    }
  g_array_free (sat, TRUE);
  double fwhm = isfinite (fr->fwhm) && fr->fwhm > 0.3 ? fr->fwhm : NAN;
  f->fwhm = fwhm;
  f->scale = frame_scale (j, fr->stars, &inv, &f->n_scale_pairs);
  /* PSFs from the frame's own pixels (frame coordinates, its own CFA sites): no
   * interpolation blur, as the forward model samples the frame's pixels themselves */
  TsrTransform ident;
  tsr_transform_identity (&ident);
  double *xs = NULL, *ys = NULL;
  guint ns = j->dp->psf == TSR_DECONV_PSF_STARS ? psf_stars (fr->stars, &ident, fwhm, &xs, &ys) : 0;
  double ffwhm = isfinite (fwhm) ? fwhm : 3.0;
  for (int c = 0; c < j->C; c++)
    {
      int pc = tsr_deconv_data_plane (j, c), col = tsr_deconv_data_colour (j, c);
      tsr_deconv_fit_background (tsr_image_plane (dwp, pc), dwp->mask, W, H, j->cfa, col, f->plane[c], &f->rms[c]);
      double nr = native_rms (nat + (gsize) pc * n, code, n, W, col, f->plane[c]);
      if (nr > 0)
        f->rms[c] = nr;
      TsrPsf *psf = NULL;
      if (ns > 0 && (col < 0 || img->cfa == TSR_CFA_NONE))
        psf = tsr_psf_from_stamps_full (tsr_image_plane (dimg, pc), pmask, img->width, img->height, xs, ys, ns, ffwhm,
                                        j->r, 5, 0.995);
      else if (ns > 0)   /* deconv.color = cfa: the colour's own sites, full wings */
        psf = tsr_psf_from_sites (tsr_image_plane (img, pc), pmask, img->width, img->height, img->cfa, col, xs, ys,
                                  ns, ffwhm, j->r, 5, 0.995);
      if (!psf)   /* Moffat β = 3 holds 99.5 % within 3.6 FWHM. The measured FWHM already
                     includes the pixel aperture and the model integrates over the pixels
                     again: it takes the FWHM with the pixel's variance (1/12 px²) taken off */
        psf = tsr_psf_new_moffat (sqrt (MAX (ffwhm * ffwhm - 2.354820045 * 2.354820045 / 12.0, 0.25 * ffwhm * ffwhm)), fr->roundness, median_theta (fr->stars), 3.0, j->r,
                                  2 * (int) ceil (3.6 * ffwhm) + 1);
      f->psf[c] = psf;
    }
  /* luminance mode: the colours' background planes, for the colour mean stack */
  for (int c = 0; c < 3 && j->luminance; c++)
    {
      double rms;
      tsr_deconv_fit_background (tsr_image_plane (wp, c), wp->mask, W, H, TSR_CFA_NONE, -1, f->cplane[c], &rms);
      if (ns > 0)
        f->cpsf[c] = tsr_psf_from_stamps_full (tsr_image_plane (img, c), pmask, img->width, img->height, xs, ys, ns, ffwhm,
                                               1, 5, 0.995);
    }
  g_free (xs);
  g_free (ys);

  f->path = g_strdup_printf ("%s/frame-%05u.raw", j->stage_dir, index);
  int fd = g_open (f->path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  gboolean ok = fd >= 0;
  if (ok)
    ok = tsr_output_write_all (fd, wp->data, sizeof (float) * n * wp->channels) && tsr_output_write_all (fd, wp->mask, n)
         && tsr_output_write_all (fd, nat, sizeof (float) * n * Cd) && tsr_output_write_all (fd, code, n)
         && tsr_output_write_all (fd, tap, sizeof (guint32) * n);
  int errsv = errno;
  g_free (nat);
  g_free (code);
  g_free (tap);
  if (fd >= 0 && close (fd) != 0 && ok)
    {
      ok = FALSE;
      errsv = errno;
    }
  if (!ok)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("Cannot write the staged frame “%s”: %s (is the temporary "
                                                      "folder full?)"),
                   f->path, g_strerror (errsv));
      return FALSE;
    }
  f->staged = TRUE;
  f->n_saturated = nsat;
  return check_stage_disk (j, (guint64) (sizeof (float) * n * wp->channels + n + sizeof (float) * n * Cd + n
                                         + sizeof (guint32) * n),   /* the file written above */
                           error);
}

/* ---------------------------------------------------------------------------------------
 * Seed and mean (row bands of every used frame)
 */

/* A band's rows [begin, end) of the seed (the median of the normalised frames) and the mean,
 * pixel by pixel (the pixels are independent: any split of the rows gives the same values) */
typedef struct
{
  Job *j;
  const float *buf;
  const guint8 *mbuf;
  int band, y0;
  TsrImage *seed, *mean;
} SeedRows;

static void
seed_rows (gsize begin, gsize end, gpointer data)
{
  const SeedRows *sr = data;
  Job *j = sr->j;
  const int W = j->W, Cd = j->Cd, band = sr->band, y0 = sr->y0;
  const float *buf = sr->buf;
  const guint8 *mbuf = sr->mbuf;
  float *col = g_new (float, j->nu);
  for (int y = y0 + (int) begin; y < y0 + (int) end; y++)
    for (int x = 0; x < W; x++)
      {
        gsize k = (gsize) y * W + x, kb = (gsize) (y - y0) * W + x;
        gboolean any = FALSE;
        for (int c = 0; c < Cd; c++)
          {
            int col_idx = j->cfa != TSR_CFA_NONE ? tsr_cfa_color (j->cfa, x, y) : c;
            guint m = 0;
            double sum = 0;
            for (guint u = 0; u < j->nu; u++)
              {
                if (!mbuf[(gsize) u * band * W + kb])
                  continue;
                DFrame *f = &j->frames[j->used[u]];
                double v = buf[((gsize) u * Cd + c) * band * W + kb];
                v = (v - tsr_deconv_plane_at (j->luminance ? f->cplane[c] : f->plane[col_idx], x, y)) / f->scale;
                col[m++] = (float) v;
                sum += v;
              }
            if (m > 0)
              {
                any = TRUE;
                tsr_image_plane (sr->mean, c)[k] = (float) (sum / m);
                tsr_image_plane (sr->seed, c)[k] = tsr_median_inplace (col, m);
              }
          }
        sr->seed->mask[k] = sr->mean->mask[k] = any;
      }
  g_free (col);
}

gboolean
tsr_deconv_seed_and_mean (Job *j, gsize budget, guint n_threads, TsrImage **seed_out, TsrImage **mean_out,
                          TsrProgressFunc progress, gpointer pdata, GCancellable *cancellable, GError **error)
{
  int W = j->W, H = j->H, Cd = j->Cd;
  gsize per_row = (gsize) j->nu * W * Cd * (sizeof (float) + 1);
  int band = (int) CLAMP (budget / 3 / MAX (per_row, (gsize) 1), (gsize) 1, (gsize) H);
  TsrImage *seed = tsr_image_new (W, H, Cd);
  TsrImage *mean = tsr_image_new (W, H, Cd);
  seed->cfa = mean->cfa = j->cfa;
  float *buf = g_new (float, (gsize) j->nu * band * W * Cd);
  guint8 *mbuf = g_new (guint8, (gsize) j->nu * band * W);
  gboolean ok = TRUE;
  for (int y0 = 0; y0 < H && ok; y0 += band)
    {
      int y1 = MIN (H, y0 + band), nb = y1 - y0;
      for (guint u = 0; u < j->nu && ok; u++)
        {
          DFrame *f = &j->frames[j->used[u]];
          for (int c = 0; c < Cd && ok; c++)
            ok = tsr_deconv_read_at (f->fd, buf + ((gsize) u * Cd + c) * band * W, sizeof (float) * nb * W,
                          (off_t) (((gsize) c * H + y0) * W * sizeof (float)));
          if (ok)
            ok = tsr_deconv_read_at (f->fd, mbuf + (gsize) u * band * W, (gsize) nb * W,
                          (off_t) ((gsize) Cd * H * W * sizeof (float) + (gsize) y0 * W));
          if (!ok)
            g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("Cannot read the staged frame “%s”"), f->path);
        }
      if (!ok)
        break;
      SeedRows sr = { j, buf, mbuf, band, y0, seed, mean };
      tsr_parallel_range ((gsize) nb, n_threads, 16, seed_rows, &sr);
      if (progress)
        progress (_("Seeding"), (guint) y1, (guint) H, pdata);
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        ok = FALSE;
    }
  g_free (buf);
  g_free (mbuf);
  if (!ok)
    {
      tsr_image_unref (seed);
      tsr_image_unref (mean);
      return FALSE;
    }
  if (j->cfa != TSR_CFA_NONE)
    {
      TsrImage *s3 = tsr_demosaic (seed), *m3 = tsr_demosaic (mean);
      tsr_image_unref (seed);
      tsr_image_unref (mean);
      seed = s3;
      mean = m3;
      seed->cfa = mean->cfa = TSR_CFA_NONE;
    }
  *seed_out = seed;
  *mean_out = mean;
  return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * Saturated stars
 *
 * Where a star saturated, its core is left out of the data term in every channel of the site
 * (tsr_deconv_usable_mask). Nothing constrains the latent there but the PSF wings reaching the
 * unsaturated ring round it, and the MM step, explaining that ring, drains the core: on the
 * M94 frames the two saturated stars kept 0.51–0.56 of the mean stack's flux, and the part of
 * the ring that the drained core's PSF no longer explained stayed in the latent as a ring at
 * 4–8 px, coloured by the channel with the widest halo (blue on the Seestar). Holding the core
 * at a PSF fitted to that ring (tried) kept a square white core inside a blue ring. So the
 * saturated stars are not deconvolved: round each core the result is blended, per pixel and
 * the same way in every channel, into the seed (the median of the normalised frames), which
 * has the star as the frames recorded it.
 */

void
tsr_deconv_flood8 (int W, int H, guint32 *stack, gsize top, TsrDeconvJoinFunc join, TsrDeconvVisitFunc visit,
                   gpointer data)
{
  while (top > 0)
    {
      guint32 k = stack[--top];
      if (visit)
        visit (k, data);
      int x = (int) (k % (guint32) W), y = (int) (k / (guint32) W);
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
          {
            int xx = x + dx, yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H)
              continue;
            gsize q = (gsize) yy * W + xx;
            if (join (q, data))
              stack[top++] = (guint32) q;
          }
    }
}

typedef struct
{
  guint8 *core;    /* 1 = saturated, not yet taken; 2 = taken */
  GArray *pix;
  int W;
  double cx, cy;
} CoreFill;

static gboolean
core_join (gsize q, gpointer data)
{
  CoreFill *cf = data;
  if (cf->core[q] != 1)
    return FALSE;
  cf->core[q] = 2;
  return TRUE;
}

static void
core_visit (gsize k, gpointer data)
{
  CoreFill *cf = data;
  gint32 kk = (gint32) k;
  g_array_append_val (cf->pix, kk);
  cf->cx += (double) (k % (gsize) cf->W);
  cf->cy += (double) (k / (gsize) cf->W);
}

void
tsr_deconv_saturated_cores (const Job *j, GArray *cores)
{
  int W = j->W, H = j->H;
  g_array_set_size (cores, 0);
  if (!j->satcount)
    return;
  guint need = MAX (1u, (j->nu + 1) / 2);
  gsize n = (gsize) W * H;
  guint8 *core = g_new0 (guint8, n);
  gboolean any = FALSE;
  for (gsize k = 0; k < n; k++)
    if (j->satcount[k] >= need)
      any = core[k] = 1;
  if (!any)
    {
      g_free (core);
      return;
    }
  guint32 *stack = g_new (guint32, n);
  for (gsize k0 = 0; k0 < n; k0++)
    {
      if (core[k0] != 1)
        continue;
      /* one core: 8-connected component, its centroid and its largest distance from it */
      CoreFill cf = { core, g_array_new (FALSE, FALSE, sizeof (gint32)), W, 0, 0 };
      stack[0] = (guint32) k0;
      core[k0] = 2;
      tsr_deconv_flood8 (W, H, stack, 1, core_join, core_visit, &cf);
      GArray *pix = cf.pix;
      TsrDeconvSatCore sc = { cf.cx / pix->len, cf.cy / pix->len, 0 };
      for (guint i = 0; i < pix->len; i++)
        {
          gint32 k = g_array_index (pix, gint32, i);
          sc.radius = MAX (sc.radius, hypot (k % W - sc.x, k / W - sc.y));
        }
      g_array_free (pix, TRUE);
      g_array_append_val (cores, sc);
    }
  g_free (stack);
  g_free (core);
}

void
tsr_deconv_blend_saturated (const GArray *cores, double fwhm, const TsrImage *seed, TsrImage *out)
{
  int r = out->width / seed->width, W = out->width, H = out->height;
  const double taper = 3.0;
  for (guint i = 0; i < cores->len; i++)
    {
      const TsrDeconvSatCore *sc = &g_array_index (cores, TsrDeconvSatCore, i);
      /* the seed within the core plus 2 FWHM (where the drained core's ring sits), a cosine
       * taper over 3 px beyond */
      double r0 = sc->radius + 2 * fwhm, r1 = r0 + taper;
      double fx = r * (sc->x + 0.5) - 0.5, fy = r * (sc->y + 0.5) - 0.5;
      for (int y = MAX (0, (int) floor (fy - r * r1)); y <= MIN (H - 1, (int) ceil (fy + r * r1)); y++)
        for (int x = MAX (0, (int) floor (fx - r * r1)); x <= MIN (W - 1, (int) ceil (fx + r * r1)); x++)
          {
            double d = hypot (x - fx, y - fy) / r;
            if (d >= r1)
              continue;
            double w = d <= r0 ? 1.0 : 0.5 * (1 + cos (G_PI * (d - r0) / taper));
            gsize k = (gsize) y * W + x, ks = (gsize) (y / r) * seed->width + x / r;
            if (!out->mask[k] || !seed->mask[ks])
              continue;
            for (int c = 0; c < out->channels; c++)
              {
                float *o = tsr_image_plane (out, c);
                o[k] = (float) ((1 - w) * o[k] + w * tsr_image_plane (seed, MIN (c, seed->channels - 1))[ks]);
              }
          }
    }
}
