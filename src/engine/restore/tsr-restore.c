/* tsr-restore.c — the deep-image-prior restoration job (see tsr-restore.h, docs/restore.md).
 *
 * 1. Registration pass with a frame hook: each registered frame is (demosaiced and) warped
 *    into the reference geometry as luminance; its background plane, noise, photometric
 *    scale (matched star fluxes) and PSF (stacked star stamps, Moffat fallback) are
 *    measured. Frames stay in memory (checked against the budget).
 * 2. Training: at every step a crop (the whole image when it fits) of every frame is the
 *    network's input; latent = crop padded by the PSF radius; the decoder convolves it with
 *    each frame's PSF by FFT (deconv/'s exact operators) and the Huber loss on the non-held-
 *    out valid pixels is back-propagated through decoder and encoder; Adam updates θ and the
 *    background planes. The held-out loss is watched; the weights at its minimum are kept.
 * 3. Inference: the kept step's batch-norm statistics (the whole image's), then the
 *    encoder on tiles with a halo ≥ its receptive field and ≥ 2 PSF widths (pass 2; the
 *    encoder is local, so the cores are exact and simply copied). */
#include "tsr-restore.h"
#include "tsr-deconv.h"
#include "tsr-demosaic.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-frame-file.h"
#include "tsr-nn-train.h"
#include "tsr-psf.h"
#include "tsr-register.h"
#include "tsr-stats.h"
#include "tsr-warp.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((gsize) 1024 * 1024)
#define MAX_BRANCHES 4
#define MAX_PSF_REGIONS 3
#define REGION_MIN_STAMPS 10
static const int branch_k[MAX_BRANCHES] = { 3, 5, 9, 15 };

typedef struct
{
  gboolean staged;
  float *y;              /* W × H luminance in the reference geometry, ADU */
  guint8 *m;             /* valid */
  guint8 *sat;           /* 1: saturated or next to it in the raw frame, out of the loss (NULL: none) */
  guint64 n_sat;         /* such samples */
  double plane[3];       /* background a + b x + c y */
  double rms, scale, fwhm;
  TsrPsf *psf;
  /* restore.psf_regions = g > 1: the PSF of each of the g × g cells of the frame (row-major),
   * from the stamps in that cell; the frame's psf (a copy) where a cell has too few */
  TsrPsf *rpsf[MAX_PSF_REGIONS * MAX_PSF_REGIONS];
  guint rpsf_stars[MAX_PSF_REGIONS * MAX_PSF_REGIONS];   /* stamps used (0: the field model's) */
  double rpsf_scale[MAX_PSF_REGIONS * MAX_PSF_REGIONS];  /* the field model's stretch (1: none) */
  /* the isolated candidates (x, y in the reference geometry, the detector's FWHM) and the
   * stamps of the frame's PSF, for the field model (restore.psf_regions > 1) */
  double *cx, *cy, *cfw;
  guint nc;
  double *sx, *sy;
  guint nsx;
  double cplane[3][3];   /* colour sessions: background plane of each channel */
  gboolean coloured;     /* its channels were added to Job.csum */
} RFrame;

typedef struct
{
  double x, y, flux, snr, fwhm;
} RStar;

typedef struct
{
  const TsrRestoreParams *rp;
  const TsrTbqrParams *tp;
  TsrSession *s;
  int W, H;
  guint n_frames;
  RFrame *frames;
  GArray *ref_stars;
  guint nu;
  guint *used;
  /* colour sessions (Bayer or RGB frames): Σ over frames of each channel minus its
   * background plane, ÷ the photometric scale, and the count, for the chroma of the result */
  GMutex lock;
  float *csum;           /* 3 · W · H */
  guint16 *ccnt;         /* W · H */
  /* where pixels may be held out (1): sky, not sources (NULL: everywhere) */
  guint8 *hold_ok;
  /* TSR_RESTORE_SCALE=apertures (measurement runs): the reference frame's luminance as staged
   * (identity warp) while the frames are staged, the photometric scales the aperture ratios
   * against it (aperture_scale); freed after staging */
  float *ref_y;          /* W · H (NULL: not made) */
  guint8 *ref_m;
  double ref_fwhm, ref_rms;
  /* Σ over the used frames of (y − b0) ÷ the scale and their count per pixel: a held-out
   * pixel's input is the mean of the other frames there (load_input) */
  float *msum;           /* W · H */
  guint16 *mcnt;         /* W · H */
} Job;

/* ---------------------------------------------------------------------------------------
 * Staging
 */

static gint
cmp_star_x (gconstpointer a, gconstpointer b)
{
  double d = ((const RStar *) a)->x - ((const RStar *) b)->x;
  return d < 0 ? -1 : d > 0;
}

static void fit_background (const float *v, const guint8 *mask, int w, int h, double out[3], double *rms);
static TsrImage *frame_warped (const Job *j, const TsrImage *img, const TsrTransform *tf, const char *path,
                               GError **error);

static gboolean
reference_hook (const TsrImage *ref, const TsrStarList *ref_stars, gpointer data, GError **error)
{
  Job *j = data;
  j->ref_stars = g_array_new (FALSE, FALSE, sizeof (RStar));
  if (ref_stars)
    for (guint i = 0; i < ref_stars->stars->len; i++)
      {
        const TsrStar *st = &g_array_index (ref_stars->stars, TsrStar, i);
        if (st->saturated || !(st->flux > 0))
          continue;
        RStar rs = { st->x, st->y, st->flux, st->snr, st->fwhm };
        g_array_append_val (j->ref_stars, rs);
      }
  g_array_sort (j->ref_stars, cmp_star_x);
  if (g_strcmp0 (g_getenv ("TSR_RESTORE_SCALE"), "apertures") != 0)
    return TRUE;
  /* the reference's luminance as stage_hook makes every frame's (demosaic, warp — here the
   * identity —, channel mean), for the aperture photometric scale */
  TsrTransform id;
  tsr_transform_identity (&id);
  g_autoptr (TsrImage) wp = frame_warped (j, ref, &id, "reference", NULL);
  gsize n = (gsize) j->W * j->H;
  if (wp && wp->width == j->W && wp->height == j->H && (j->ref_y = g_try_new (float, n))
      && (j->ref_m = g_try_new (guint8, n)))
    {
      for (gsize k = 0; k < n; k++)
        {
          double v = 0;
          for (int c = 0; c < wp->channels; c++)
            v += tsr_image_plane (wp, c)[k];
          v /= wp->channels;
          j->ref_m[k] = wp->mask[k] && isfinite (v);
          j->ref_y[k] = j->ref_m[k] ? (float) v : 0.0f;
        }
      double pl[3];
      fit_background (j->ref_y, j->ref_m, j->W, j->H, pl, &j->ref_rms);
      float *fw = g_new (float, MAX (j->ref_stars->len, 1u));
      guint nf = 0;
      for (guint i = 0; i < j->ref_stars->len; i++)
        {
          const RStar *rs = &g_array_index (j->ref_stars, RStar, i);
          if (rs->snr >= 20 && isfinite (rs->fwhm) && rs->fwhm > 0.3)
            fw[nf++] = (float) rs->fwhm;
        }
      j->ref_fwhm = nf ? tsr_median_inplace (fw, nf) : NAN;
      g_free (fw);
    }
  else
    {
      g_clear_pointer (&j->ref_y, g_free);
      g_clear_pointer (&j->ref_m, g_free);
    }
  return TRUE;
}

/* Background-subtracted sum of v within radius r of (cx, cy) (pixel centres), the sky the
 * median of the r + 2 … r + 6 annulus; FALSE when a pixel of either is invalid or outside. */
static gboolean
aperture_sum (const float *v, const guint8 *m, int W, int H, double cx, double cy, int r, double *sum, int *npix)
{
  int R = r + 6, ix = (int) floor (cx + 0.5), iy = (int) floor (cy + 0.5);
  if (ix - R < 0 || iy - R < 0 || ix + R >= W || iy + R >= H)
    return FALSE;
  float *ann = g_new (float, (gsize) (2 * R + 1) * (2 * R + 1));
  guint na = 0;
  double s = 0;
  int np = 0;
  gboolean ok = TRUE;
  for (int y = iy - R; y <= iy + R && ok; y++)
    for (int x = ix - R; x <= ix + R; x++)
      {
        double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        if (d2 > (double) R * R)
          continue;
        gsize k = (gsize) y * W + x;
        if (!m[k])
          {
            ok = FALSE;
            break;
          }
        if (d2 <= (double) r * r)
          {
            s += v[k];
            np++;
          }
        else if (d2 >= (double) (r + 2) * (r + 2))
          ann[na++] = v[k];
      }
  if (ok && na >= 16)
    {
      *sum = s - np * (double) tsr_median_inplace (ann, na);
      *npix = np;
    }
  g_free (ann);
  return ok && na >= 16;
}

/* Photometric scale of a staged frame (luminance y, valid m, its FWHM and noise) against the
 * reference's staged luminance: the same aperture at the same positions (every frame is in
 * the reference geometry), radius 3 × the worse of the two FWHM, so the ratio depends neither
 * on the seeing nor on a PSF model; the reference's stars with detection SNR ≥ 20 and
 * aperture SNR ≥ 5; the ratio by least squares through the origin, weighted by each pair's
 * variance (sky noise of both apertures, and the counts' own when restore.gain is given),
 * with three rounds of 4σ clipping. Round 9's scale, the median ratio of the detector's
 * fitted Moffat fluxes (integrated to infinity over a free β), was off by −8 … +3 % per frame
 * and −2 % on average on the mono sparse session (docs/restore.md, round 10); these are within
 * −2.4 … +2.2 %. NAN when fewer than 5 stars remain. Not the default (stage_hook). */
static double
aperture_scale (const Job *j, const float *y, const guint8 *m, double fwhm, double rms, guint *n_used)
{
  *n_used = 0;
  if (!j->ref_y || !j->ref_stars || !isfinite (j->ref_fwhm))
    return NAN;
  int r = (int) ceil (3.0 * MAX (fwhm, j->ref_fwhm));
  r = CLAMP (r, 4, 30);
  guint ns = j->ref_stars->len;
  double *ft = g_new (double, MAX (ns, 1u)), *fr = g_new (double, MAX (ns, 1u)), *np = g_new (double, MAX (ns, 1u));
  guint8 *keep = g_new0 (guint8, MAX (ns, 1u));
  guint n = 0;
  for (guint i = 0; i < ns; i++)
    {
      const RStar *rs = &g_array_index (j->ref_stars, RStar, i);
      if (!(rs->snr >= 20))
        continue;
      double a, b;
      int na, nb;
      if (!aperture_sum (j->ref_y, j->ref_m, j->W, j->H, rs->x, rs->y, r, &a, &na)
          || !aperture_sum (y, m, j->W, j->H, rs->x, rs->y, r, &b, &nb))
        continue;
      if (!(a > 5 * sqrt ((double) na) * j->ref_rms))
        continue;
      fr[n] = a;
      ft[n] = b;
      np[n] = na;
      keep[n] = 1;
      n++;
    }
  double s = NAN, se = NAN;
  double ig = j->rp->gain > 0 ? 1.0 / j->rp->gain : 0;
  for (int round = 0; round < 4 && n >= 5; round++)
    {
      double sxy = 0, sxx = 0;
      guint nk = 0;
      double s0 = isfinite (s) ? s : 1.0;
      for (guint i = 0; i < n; i++)
        if (keep[i])
          {
            double var = np[i] * (rms * rms + s0 * s0 * j->ref_rms * j->ref_rms) + ig * (fabs (ft[i]) + s0 * s0 * fabs (fr[i]));
            sxy += ft[i] * fr[i] / var;
            sxx += fr[i] * fr[i] / var;
            nk++;
          }
      if (nk < 5 || !(sxx > 0))
        {
          s = NAN;
          break;
        }
      s = sxy / sxx;
      se = 1.0 / sqrt (sxx);
      *n_used = nk;
      if (round == 3)
        break;
      gboolean changed = FALSE;
      for (guint i = 0; i < n; i++)
        {
          double var = np[i] * (rms * rms + s * s * j->ref_rms * j->ref_rms) + ig * (fabs (ft[i]) + s * s * fabs (fr[i]));
          gboolean k2 = fabs (ft[i] - s * fr[i]) <= 4 * sqrt (var);
          changed |= k2 != keep[i];
          keep[i] = k2;
        }
      if (!changed)
        break;
    }
  if (g_getenv ("TSR_RESTORE_DIAG"))
    g_printerr ("restore diag: aperture scale r %d: %u reference stars, %u measured, ref fwhm %.2f rms %.2f, scale %.4f "
                "+- %.4f (the weighted fit's standard error)\n", r, ns, n, j->ref_fwhm, j->ref_rms, s, se);
  g_free (ft);
  g_free (fr);
  g_free (np);
  g_free (keep);
  return isfinite (s) && s > 0.05 && s < 20 ? s : NAN;
}

/* Photometric scale: median flux ratio of stars matched to the reference's by position. */
static double
frame_scale (const Job *j, const TsrStarList *stars, const TsrTransform *inv)
{
  if (!stars || !j->ref_stars || j->ref_stars->len == 0)
    return 1.0;
  guint n = MIN (stars->stars->len, 400u), m = 0, nr = j->ref_stars->len;
  float *ratio = g_new (float, MAX (n, 1u));
  const RStar *rs = (const RStar *) j->ref_stars->data;
  for (guint i = 0; i < n; i++)
    {
      const TsrStar *st = &g_array_index (stars->stars, TsrStar, i);
      if (st->saturated || !(st->flux > 0))
        continue;
      double x, y;
      tsr_transform_apply (inv, st->x, st->y, &x, &y);
      guint lo = 0, hi = nr;
      while (lo < hi)
        {
          guint mid = (lo + hi) / 2;
          if (rs[mid].x < x - 1.5)
            lo = mid + 1;
          else
            hi = mid;
        }
      double best = 1.5 * 1.5;
      int bi = -1;
      for (guint k = lo; k < nr && rs[k].x <= x + 1.5; k++)
        {
          double d2 = (rs[k].x - x) * (rs[k].x - x) + (rs[k].y - y) * (rs[k].y - y);
          if (d2 < best)
            {
              best = d2;
              bi = (int) k;
            }
        }
      if (bi >= 0)
        ratio[m++] = (float) (st->flux / rs[bi].flux);
    }
  double s = m >= 5 ? tsr_median_inplace (ratio, m) : 1.0;
  g_free (ratio);
  return isfinite (s) && s > 0.05 && s < 20 ? s : 1.0;
}

/* Sky estimate of one box: iterated κσ clipping around the median (κ 3, five rounds), then
 * the mode 2.5·median − 1.5·mean of the clipped set (SExtractor) while the set is only mildly
 * skewed, else the median. Faint sources skew a box upwards; its median alone reads high. */
static double
box_sky (float *v, guint n)
{
  float med = tsr_median_inplace (v, n);
  guint m = n;
  double mean = med, sd = 0;
  for (int it = 0; it < 5; it++)
    {
      double s1 = 0, s2 = 0;
      for (guint i = 0; i < m; i++)
        {
          s1 += v[i];
          s2 += (double) v[i] * v[i];
        }
      mean = s1 / m;
      sd = sqrt (MAX (s2 / m - mean * mean, 0));
      guint k = 0;
      for (guint i = 0; i < m; i++)
        if (fabs (v[i] - med) <= 3.0 * sd)
          v[k++] = v[i];
      if (k == m || k < 16)
        break;
      m = k;
      med = tsr_median_inplace (v, m);
    }
  if (sd > 0 && fabs (mean - med) / sd < 0.3)
    return 2.5 * med - 1.5 * mean;
  return med;
}

/* Robust background plane and noise. Box sky estimates (box_sky) fitted by least squares
 * with one rejection round; then twice: pixels above plane + 2.5 σ, grown by 2 px, are
 * masked as sources and the boxes measured again on the rest (faint sources otherwise bias
 * the plane high, and the non-negative latent then cuts faint signal; docs/restore.md). */
static void
fit_background (const float *v, const guint8 *mask, int w, int h, double out[3], double *rms)
{
  const int nbx = 8, nby = 8;
  double bx[64], by[64], bv[64];
  double a = 0, b = 0, c = 0;
  gsize npx = (gsize) w * h;
  guint8 *src = g_new0 (guint8, npx);   /* source pixels (masked from the boxes) */
  float *tmp = g_new (float, (gsize) (w / nbx + 2) * (h / nby + 2));
  for (int pass = 0; pass < 3; pass++)
    {
      int nb = 0;
      for (int j = 0; j < nby; j++)
        for (int i = 0; i < nbx; i++)
          {
            int x0 = i * w / nbx, x1 = (i + 1) * w / nbx, y0 = j * h / nby, y1 = (j + 1) * h / nby;
            guint n = 0;
            for (int y = y0; y < y1; y++)
              for (int x = x0; x < x1; x++)
                if (mask[(gsize) y * w + x] && !src[(gsize) y * w + x])
                  tmp[n++] = v[(gsize) y * w + x];
            if (n < 16)
              continue;
            bx[nb] = 0.5 * (x0 + x1 - 1);
            by[nb] = 0.5 * (y0 + y1 - 1);
            bv[nb] = box_sky (tmp, n);
            nb++;
          }
      gboolean keep[64];
      for (int i = 0; i < nb; i++)
        keep[i] = TRUE;
      for (int round = 0; round < 2 && nb > 0; round++)
        {
          double S[3][3] = { { 0 } }, R[3] = { 0 };
          int m = 0;
          for (int i = 0; i < nb; i++)
            if (keep[i])
              {
                double f[3] = { 1, bx[i], by[i] };
                for (int p = 0; p < 3; p++)
                  {
                    R[p] += f[p] * bv[i];
                    for (int q = 0; q < 3; q++)
                      S[p][q] += f[p] * f[q];
                  }
                m++;
              }
          double sol[3];
          if (m >= 6 && tsr_solve3 (S, R, 1e-9, sol))
            {
              a = sol[0];
              b = sol[1];
              c = sol[2];
            }
          else if (m > 0)
            {
              a = R[0] / m;
              b = c = 0;
            }
          float res[64];
          int nr = 0;
          for (int i = 0; i < nb; i++)
            res[nr++] = (float) fabs (bv[i] - (a + b * bx[i] + c * by[i]));
          float med = tsr_median_inplace (res, nr);
          for (int i = 0; i < nb; i++)
            keep[i] = fabs (bv[i] - (a + b * bx[i] + c * by[i])) <= 3.0 * 1.4826 * med + 1e-9;
        }
      /* noise of the sky pixels (sources masked after the first pass) */
      gsize step = MAX ((gsize) 1, npx / 200000), m = 0;
      float *res = g_new (float, npx / step + 1);
      for (gsize k = 0; k < npx; k += step)
        if (mask[k] && !src[k])
          res[m++] = (float) (v[k] - (a + b * (double) (k % w) + c * (double) (k / w)));
      float med = m ? tsr_median_inplace (res, m) : 0;
      *rms = m > 16 ? TSR_MAD_TO_SIGMA * tsr_mad_inplace (res, m, med) : 1.0;
      g_free (res);
      if (pass == 2 || !(*rms > 0))
        break;
      /* source mask: above 2.5 σ, grown by 2 px (separable box dilation) */
      guint8 *hit = g_new0 (guint8, npx);
      for (gsize k = 0; k < npx; k++)
        hit[k] = mask[k] && v[k] - (a + b * (double) (k % w) + c * (double) (k / w)) > 2.5 * *rms;
      const int g = 2;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            guint8 any = 0;
            for (int d = MAX (0, x - g); d <= MIN (w - 1, x + g) && !any; d++)
              any = hit[(gsize) y * w + d];
            src[(gsize) y * w + x] = any;
          }
      for (int x = 0; x < w; x++)
        for (int y = 0; y < h; y++)
          {
            guint8 any = 0;
            for (int d = MAX (0, y - g); d <= MIN (h - 1, y + g) && !any; d++)
              any = src[(gsize) d * w + x] & 1;
            hit[(gsize) y * w + x] = any;
          }
      memcpy (src, hit, npx);
      g_free (hit);
    }
  g_free (tmp);
  g_free (src);
  out[0] = a;
  out[1] = b;
  out[2] = c;
}

static double
plane_at (const double *p, double x, double y)
{
  return p[0] + p[1] * x + p[2] * y;
}

/* Colour sessions: add (sign +1) or take out (−1, a frame the validity gate dropped after
 * the pass) one warped RGB frame's background-subtracted, scaled channels to the sums the
 * chroma of the result is made from (valid where the luminance is). */
static void
colour_accumulate (Job *j, const RFrame *f, const TsrImage *wp, const guint8 *m, int sign)
{
  int W = j->W, H = j->H;
  gsize n = (gsize) W * H;
  g_mutex_lock (&j->lock);
  if (!j->csum)
    {
      j->csum = g_new0 (float, 3 * n);
      j->ccnt = g_new0 (guint16, n);
    }
  for (int c = 0; c < 3; c++)
    {
      const float *v = tsr_image_plane (wp, c);
      float *d = j->csum + (gsize) c * n;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            gsize k = (gsize) y * W + x;
            if (m[k])
              d[k] += (float) (sign * (v[k] - plane_at (f->cplane[c], x, y)) / f->scale);
          }
    }
  for (gsize k = 0; k < n; k++)
    if (m[k])
      j->ccnt[k] = (guint16) (j->ccnt[k] + sign);
  g_mutex_unlock (&j->lock);
}

/* The frame as read → (demosaiced) and warped into the reference geometry. */
static TsrImage *
frame_warped (const Job *j, const TsrImage *img, const TsrTransform *tf, const char *path, GError **error)
{
  g_autoptr (TsrImage) dm = NULL;
  if (img->channels == 1 && img->cfa != TSR_CFA_NONE)
    {
      if (!(dm = tsr_demosaic (img)))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: cannot demosaic the frame"), path);
          return NULL;
        }
      img = dm;
    }
  TsrImage *wp = tsr_warp (img, tf, j->W, j->H, TSR_CFA_NONE, j->tp->reg.interp);
  if (!wp)
    g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, _("%s: cannot warp the frame into the reference geometry"), path);
  return wp;
}

static gboolean
stage_hook (guint index, const TsrImage *img, TsrFrameReg *fr, gpointer data, GCancellable *cancellable,
            GError **error)
{
  Job *j = data;
  RFrame *f = &j->frames[index];
  if (!fr->registered)
    return TRUE;
  const TsrFrameInfo *fi = tsr_session_frame (j->s, index);
  TsrTransform inv;
  if (!tsr_transform_invert (&fr->transform, &inv))
    return TRUE; /* degenerate: unused */
  g_autoptr (TsrImage) wp = frame_warped (j, img, &fr->transform, fi->path, error);
  if (!wp)
    return FALSE;
  gsize n = (gsize) j->W * j->H;
  /* saturated samples (restore.mask_saturated): raw pixels at the saturation level as the
   * deconvolution finds it (stars.saturation, else near an ADC full scale), and their
   * neighbours (2 px for a Bayer frame, whose demosaicing spreads them), carried into the
   * reference geometry by warping their indicator (bilinear: every reference sample that
   * reads a saturated pixel). They stay in the encoder's input and in the mean stack; in
   * the loss they are lower bounds (censored samples: no loss where the model lies above
   * them). Fitted as data a clipped core pulls the star's latent down; left out entirely the
   * core lost even more (the encoder sees the clipped input and nothing pulls the core up):
   * on /restore/saturated the star read 0.830 as data, 0.767 left out, 0.897 as lower
   * bounds of the sharp truth's flux (docs/restore.md, round 9;
   * TSR_RESTORE_SATMODE=exclude, measurement runs, leaves them out). */
  guint8 *sat = NULL;
  guint64 nsat_w = 0;
  if (j->rp->mask_saturated)
    {
      guint64 nsat = 0;
      g_autofree guint8 *pm = tsr_deconv_usable_mask (img, j->tp->reg.stars.saturation, TRUE,
                                                      img->cfa != TSR_CFA_NONE ? 2 : 1, &nsat);
      if (nsat > 0)
        {
          g_autoptr (TsrImage) ind = tsr_image_new (img->width, img->height, 1);
          g_autoptr (TsrImage) wi = NULL;
          if (ind)
            {
              for (gsize k = 0; k < tsr_image_npix (img); k++)
                {
                  ind->data[k] = img->mask[k] && !pm[k] ? 1.0f : 0.0f;
                  ind->mask[k] = 1;
                }
              wi = tsr_warp (ind, &fr->transform, j->W, j->H, TSR_CFA_NONE, TSR_INTERP_BILINEAR);
            }
          if (!wi || !(sat = g_try_new0 (guint8, n)))
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: not enough memory to keep the frame"), fi->path);
              return FALSE;
            }
          for (gsize k = 0; k < n; k++)
            if (wi->mask[k] && wi->data[k] > 0.01f)
              {
                sat[k] = 1;
                nsat_w++;
              }
        }
    }
  float *y = g_try_new (float, n);
  guint8 *m = g_try_new (guint8, n);
  if (!y || !m)
    {
      g_free (y);
      g_free (m);
      g_free (sat);
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: not enough memory to keep the frame"), fi->path);
      return FALSE;
    }
  for (gsize k = 0; k < n; k++)
    {
      double s = 0;
      for (int c = 0; c < wp->channels; c++)
        s += tsr_image_plane (wp, c)[k];
      float v = (float) (s / wp->channels);
      m[k] = wp->mask[k] && isfinite (v);
      y[k] = m[k] ? v : 0.0f;
    }
  fit_background (y, m, j->W, j->H, f->plane, &f->rms);
  if (!(f->rms > 0))
    f->rms = 1.0;
  /* TSR_RESTORE_SCALE=apertures (measurement runs, docs/restore.md round 10): the aperture
   * ratios against the reference. They are right where the fitted-flux ratios are not (sparse
   * session: −2.4 … +2.2 % per frame against −8.0 … +3.3 %; crowded: −2.8 … +1.5 % against
   * −10.9 … +3.1 %) and bring the sparse session's isolated stars from 1.039 to 1.010, but the
   * crowded field's proxy then reads 1.038 (1.024 with the fitted ratios): not the default
   * until the mid-bright stars' own excess is found. Round 14 compared every estimator with
   * the generators' true scales: these are the closest on both sessions (1.2 / 1.5 % rms against
   * the fitted fluxes' 4.2 / 3.6 %; the isolated stars' curve-of-growth-corrected or PSF-fitted
   * fluxes, which lean on the measured PSF, 1.7–6.1 %), and with the true scales the crowded
   * proxy reads 1.028: it passes only 0.2 % inside its 3 % (docs/restore.md round 14). */
  double fwhm0 = isfinite (fr->fwhm) && fr->fwhm > 0.3 ? fr->fwhm : 3.0;
  guint n_ap = 0;
  double sa = j->ref_y ? aperture_scale (j, y, m, fwhm0, f->rms, &n_ap) : NAN;
  f->scale = isfinite (sa) ? sa : frame_scale (j, fr->stars, &inv);
  if (g_getenv ("TSR_RESTORE_DIAG"))
    g_printerr ("restore diag: frame %u scale: apertures %.4f (%u stars), fitted fluxes %.4f\n", index, sa, n_ap,
                frame_scale (j, fr->stars, &inv));
  if (wp->channels == 3 && j->rp->chroma > 0)
    {
      /* colour: each channel's own background plane, then into the chroma sums */
      float *cv = g_try_new (float, n);
      if (!cv)
        {
          g_free (y);
          g_free (m);
          g_free (sat);
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: not enough memory to keep the frame"), fi->path);
          return FALSE;
        }
      for (int c = 0; c < 3; c++)
        {
          const float *p = tsr_image_plane (wp, c);
          for (gsize k = 0; k < n; k++)
            cv[k] = m[k] ? p[k] : 0.0f;
          double crms;
          fit_background (cv, m, j->W, j->H, f->cplane[c], &crms);
        }
      g_free (cv);
      colour_accumulate (j, f, wp, m, +1);
      f->coloured = TRUE;
    }
  double fwhm = isfinite (fr->fwhm) && fr->fwhm > 0.3 ? fr->fwhm : 3.0;
  f->fwhm = fwhm;
  /* PSF from isolated well-measured stars, on the warped luminance (the data the decoder
   * models, interpolation blur included) */
  double xs[60], ys[60], sfw[60];
  guint ns = 0;
  /* every isolated candidate (restore.psf_regions: the cells' stamps); the frame's PSF takes
   * the first 60, as before the regions */
#define MAX_CAND 600
  double *cxs = g_new (double, MAX_CAND), *cys = g_new (double, MAX_CAND), *cfw = g_new (double, MAX_CAND);
  guint nc = 0;
  if (fr->stars)
    {
      guint nst = fr->stars->stars->len;
      double iso = 2.0 * (tsr_psf_size_for_fwhm (fwhm) / 2) + 2;
      for (guint i = 0; i < nst && nc < MAX_CAND; i++)
        {
          const TsrStar *st = &g_array_index (fr->stars->stars, TsrStar, i);
          if (st->saturated || !(st->snr >= 20) || !isfinite (st->fwhm) || st->fwhm < 0.6 * fwhm
              || st->fwhm > 1.6 * fwhm)
            continue;
          gboolean isolated = TRUE;
          for (guint k = 0; k < nst && isolated; k++)
            {
              const TsrStar *o = &g_array_index (fr->stars->stars, TsrStar, k);
              if (k != i && fabs (o->x - st->x) < iso && fabs (o->y - st->y) < iso)
                isolated = FALSE;
            }
          if (isolated)
            {
              tsr_transform_apply (&inv, st->x, st->y, &cxs[nc], &cys[nc]);
              cfw[nc] = st->fwhm;
              if (ns < 60)
                {
                  xs[ns] = cxs[nc];
                  ys[ns] = cys[nc];
                  sfw[ns] = st->fwhm;
                  ns++;
                }
              nc++;
            }
        }
    }
  /* TSR_RESTORE_PSF_SELECT (measurement runs, docs/restore.md round 10): "narrow" keeps the
   * stamps of the stars whose measured FWHM is at most the candidates' median, "centre" the
   * half nearest the field's centre (at least 5 either way) */
  const char *psel = g_getenv ("TSR_RESTORE_PSF_SELECT");
  if (psel && ns >= 10)
    {
      float key[60], tmpk[60];
      for (guint q = 0; q < ns; q++)
        key[q] = g_strcmp0 (psel, "centre") == 0
                   ? (float) hypot (xs[q] - (j->W - 1) / 2.0, ys[q] - (j->H - 1) / 2.0)
                   : (float) sfw[q];
      memcpy (tmpk, key, sizeof (float) * ns);
      float med = tsr_median_inplace (tmpk, ns);
      guint kept = 0;
      for (guint q = 0; q < ns; q++)
        if (key[q] <= med)
          {
            xs[kept] = xs[q];
            ys[kept] = ys[q];
            kept++;
          }
      if (kept >= 5)
        ns = kept;
    }
  /* the PSF with its full wings, as the deconvolution measures it: stamps recentred at the
   * stars' exact centres (Lanczos), the median per sample, the stack kept within 1.5–2.5
   * FWHM and a Moffat fitted to its profile beyond, cut where the model holds 99.5 %.
   * Round 6 took tsr_psf_from_stamps (nearest-bin stacking, which widens the core by the
   * sub-pixel offsets, and negative samples cut after the offset, which rectifies the
   * wings' noise into a pedestal): its PSFs held 0.78–0.90 of their light within 1.5 FWHM
   * (a Moffat β = 3: 0.91), and every star's latent flux came out too high by about the
   * ratio (mono sparse session 1.090 → 1.041, crowded field 1.061 → 1.017; docs/restore.md
   * round 7). restore.psf_span sizes the Moffat used where a frame has too few stars. */
  double span = j->rp->psf_span;
  f->psf = ns > 0 ? tsr_psf_from_stamps_full (y, m, j->W, j->H, xs, ys, ns, fwhm, 1, 5, 0.995) : NULL;
  if (!f->psf)
    f->psf = tsr_psf_new_moffat (fwhm, isfinite (fr->roundness) ? fr->roundness : 1.0, 0, 3.0, 1,
                                 tsr_psf_size_for_fwhm (span * fwhm));
  if (g_getenv ("TSR_RESTORE_PSF_WIDEN"))
    {
      /* measurement runs (restore.blind, docs/restore.md round 8): a deliberately wrong PSF,
       * the measured one stretched by this factor about its centre (bilinear), unit sum */
      double wf = g_ascii_strtod (g_getenv ("TSR_RESTORE_PSF_WIDEN"), NULL);
      if (wf > 0.2 && wf < 5)
        {
          const TsrPsf *o = f->psf;
          int R = (int) ceil (o->radius * wf);
          TsrPsf *wp2 = tsr_psf_new_delta (2 * R + 1, 1);
          double sum = 0;
          for (int yy = -R; yy <= R; yy++)
            for (int xx = -R; xx <= R; xx++)
              {
                double sx = xx / wf + o->radius, sy = yy / wf + o->radius, v = 0;
                int ix = (int) floor (sx), iy = (int) floor (sy);
                double ax = sx - ix, ay = sy - iy;
                for (int b2 = 0; b2 < 2; b2++)
                  for (int a2 = 0; a2 < 2; a2++)
                    {
                      int px = ix + a2, py = iy + b2;
                      if (px >= 0 && py >= 0 && px < o->size && py < o->size)
                        v += (a2 ? ax : 1 - ax) * (b2 ? ay : 1 - ay) * o->data[py * o->size + px];
                    }
                wp2->data[(yy + R) * wp2->size + xx + R] = (float) v;
                sum += v;
              }
          for (int i = 0; i < wp2->size * wp2->size; i++)
            wp2->data[i] = (float) (wp2->data[i] / sum);
          wp2->fwhm = tsr_psf_measure_fwhm (wp2);
          wp2->from_stars = o->from_stars;
          tsr_psf_free (f->psf);
          f->psf = wp2;
        }
    }
  if (g_getenv ("TSR_RESTORE_TRUE_PSF"))
    {
      /* measurement runs (docs/restore.md round 10): the generator's PSF of frame `index` in
       * place of the measured one — "F0,F1,…" the Moffat β = 3 FWHM of each frame (px), each
       * pixel the mean of 3 × 3 point samples as the generator renders it, radius 5 FWHM,
       * unit sum; no field variation, no warp blur */
      g_auto (GStrv) fv = g_strsplit (g_getenv ("TSR_RESTORE_TRUE_PSF"), ",", -1);
      if (index < g_strv_length (fv))
        {
          double tf = g_ascii_strtod (fv[index], NULL), al = tf / (2.0 * sqrt (pow (2.0, 1.0 / 3.0) - 1.0));
          int R = (int) ceil (5 * tf);
          TsrPsf *tp = tsr_psf_new_delta (2 * R + 1, 1);
          double sum = 0;
          for (int yy = -R; yy <= R; yy++)
            for (int xx = -R; xx <= R; xx++)
              {
                double v = 0;
                for (int sy = 0; sy < 3; sy++)
                  for (int sx = 0; sx < 3; sx++)
                    {
                      double dx = xx + (sx + 0.5) / 3 - 0.5, dy = yy + (sy + 0.5) / 3 - 0.5;
                      v += pow (1 + (dx * dx + dy * dy) / (al * al), -3.0);
                    }
                if (xx * xx + yy * yy > R * R)
                  v = 0;
                tp->data[(yy + R) * tp->size + xx + R] = (float) v;
                sum += v;
              }
          for (int i = 0; i < tp->size * tp->size; i++)
            tp->data[i] = (float) (tp->data[i] / sum);
          tp->fwhm = tsr_psf_measure_fwhm (tp);
          tp->from_stars = f->psf->from_stars;
          tsr_psf_free (f->psf);
          f->psf = tp;
        }
    }
  /* restore.psf_regions (round 11): the field-varying PSF. Each g × g cell's PSF from the
   * isolated stamps in it (a star belongs to the cell whose centre is nearest: the regular
   * grid's cell), measured as the frame's, where the cell has at least REGION_MIN_STAMPS;
   * the other cells are filled after staging (field_model_fill: the frame's PSF stretched by
   * the field model fitted to all frames' stars). Not with the measurement hooks that replace
   * the frame's PSF. */
  int g = j->rp->psf_regions;
  f->sx = g_memdup2 (xs, sizeof (double) * MAX (ns, 1));
  f->sy = g_memdup2 (ys, sizeof (double) * MAX (ns, 1));
  f->nsx = ns;
  if (g > 1 && !g_getenv ("TSR_RESTORE_TRUE_PSF") && !g_getenv ("TSR_RESTORE_PSF_WIDEN"))
    {
      double *rx = g_new (double, nc + 1), *ry = g_new (double, nc + 1);
      for (int c = 0; c < g * g; c++)
        {
          int gx = c % g, gy = c / g;
          guint rn = 0;
          for (guint q = 0; q < nc && rn < 60; q++)
            {
              int qx = CLAMP ((int) floor (cxs[q] * g / j->W), 0, g - 1);
              int qy = CLAMP ((int) floor (cys[q] * g / j->H), 0, g - 1);
              if (qx == gx && qy == gy)
                {
                  rx[rn] = cxs[q];
                  ry[rn] = cys[q];
                  rn++;
                }
            }
          TsrPsf *cp = rn >= REGION_MIN_STAMPS && !g_getenv ("TSR_RESTORE_REGION_MODEL")
                         ? tsr_psf_from_stamps_full (y, m, j->W, j->H, rx, ry, rn, fwhm, 1, REGION_MIN_STAMPS, 0.995)
                         : NULL;
          f->rpsf_stars[c] = cp ? rn : 0;
          f->rpsf_scale[c] = 1;
          f->rpsf[c] = cp;
        }
      g_free (rx);
      g_free (ry);
    }
  f->cx = cxs;
  f->cy = cys;
  f->cfw = cfw;
  f->nc = nc;
  if (g_getenv ("TSR_RESTORE_TRUE_SCALE"))
    {
      /* measurement runs: the generator's transparency / the reference's in place of the
       * measured photometric scale, "S0,S1,…" by frame */
      g_auto (GStrv) sv = g_strsplit (g_getenv ("TSR_RESTORE_TRUE_SCALE"), ",", -1);
      if (index < g_strv_length (sv))
        f->scale = g_ascii_strtod (sv[index], NULL);
    }
  if (g_getenv ("TSR_RESTORE_DIAG"))
    {
      double neg = 0, pos = 0, in2 = 0;
      int R = f->psf->radius;
      for (int yy = -R; yy <= R; yy++)
        for (int xx = -R; xx <= R; xx++)
          {
            double v = f->psf->data[(gsize) (yy + R) * f->psf->size + xx + R];
            if (v < 0)
              neg += v;
            else
              pos += v;
            if (hypot (xx, yy) <= 1.5 * fwhm)
              in2 += v;
          }
      g_printerr ("restore diag: frame %u fwhm %.2f psf radius %d (%u stars) sum+ %.4f sum- %.4f within 1.5 FWHM %.4f, psf fwhm %.2f rms %.2f scale %.4f\n",
                  index, fwhm, R, ns, pos, neg, in2, f->psf->fwhm, f->rms, f->scale);
      /* the encircled energy at r = 1 … 8 px (centred samples; docs/restore.md round 10) */
      g_autofree char *bn = g_path_get_basename (fi->path);
      GString *ee = g_string_new (NULL);
      for (int r = 1; r <= 8; r++)
        {
          double e = 0;
          for (int yy = -R; yy <= R; yy++)
            for (int xx = -R; xx <= R; xx++)
              if (xx * xx + yy * yy <= r * r)
                e += f->psf->data[(gsize) (yy + R) * f->psf->size + xx + R];
          g_string_append_printf (ee, " %.4f", e);
        }
      double r2m = 0, cxm = (j->W - 1) / 2.0, cym = (j->H - 1) / 2.0;
      for (guint q = 0; q < ns; q++)
        r2m += ((xs[q] - cxm) * (xs[q] - cxm) + (ys[q] - cym) * (ys[q] - cym)) / (cxm * cxm + cym * cym) / ns;
      g_printerr ("restore diag: frame %u %s EE(1..8 px)%s plane %.2f stamps' mean r2 %.3f\n", index, bn, ee->str,
                  f->plane[0], r2m);
      g_string_free (ee, TRUE);
    }
  f->y = y;
  f->m = m;
  f->sat = sat;
  f->n_sat = nsat_w;
  f->staged = TRUE;
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* ---------------------------------------------------------------------------------------
 * The field model of the PSF (restore.psf_regions > 1, round 11)
 *
 * A cell with fewer than REGION_MIN_STAMPS isolated stamps cannot have a PSF of its own (the
 * mono sparse session has 6–15 such stars per frame in all). The PSF's change over the field
 * is the optics' and the same in every frame, while the seeing sets each frame's scale, so it
 * is fitted to all frames' stars at once: log FWHM_i = a_t + c_u u + c_v v + c_r r² (the
 * detector's FWHM of each isolated candidate, a_t a free level per frame — the within-frame
 * least squares — u, v the position from the centre ÷ the half-diagonal, one 3σ clipping
 * round). The frame's PSF is the median of its stamps, so its scale is the model's mean over
 * those stamps; a cell's PSF is the frame's stretched by exp(model(cell centre) − that mean)
 * (Lanczos-3 resampling, the same sum). With fewer than 20 stars in all the stretch is 1.
 */

/* q(x, y) = p(x / lam, y / lam) / lam², resampled (Lanczos-3), rescaled to p's sum */
static TsrPsf *
psf_stretch (const TsrPsf *p, double lam)
{
  int R = p->radius, R2 = MAX (1, (int) ceil (R * lam));
  TsrPsf *q = tsr_psf_new_delta (2 * R2 + 1, 1);
  double s0 = 0, s1 = 0;
  for (int i = 0; i < p->size * p->size; i++)
    s0 += p->data[i];
  for (int j = -R2; j <= R2; j++)
    for (int i = -R2; i <= R2; i++)
      {
        double fx = i / lam, fy = j / lam, v = 0;
        int ix = (int) floor (fx), iy = (int) floor (fy);
        for (int b = iy - 2; b <= iy + 3; b++)
          {
            if (b < -R || b > R)
              continue;
            double wy = tsr_lanczos3 (fy - b);
            for (int a = ix - 2; a <= ix + 3; a++)
              if (a >= -R && a <= R)
                v += wy * tsr_lanczos3 (fx - a) * p->data[(gsize) (b + R) * p->size + a + R];
          }
        q->data[(gsize) (j + R2) * q->size + i + R2] = (float) v;
        s1 += v;
      }
  if (s1 > 0)
    for (int i = 0; i < q->size * q->size; i++)
      q->data[i] = (float) (q->data[i] * s0 / s1);
  q->fwhm = tsr_psf_measure_fwhm (q);
  q->from_stars = p->from_stars;
  return q;
}

/* v (n samples, stride st) shifted by t px, band-limited: the DFT on 2n samples (zero-padded,
 * so the wings do not wrap), times the phase ramp, back; the Nyquist bin is left unshifted
 * (its cosine only: the result stays real) */
static void
shift_1d (float *v, int n, gsize st, double t)
{
  int L = 2 * n;
  double *re = g_new0 (double, L), *im = g_new0 (double, L);
  for (int k = 0; k < L; k++)
    for (int i = 0; i < n; i++)
      {
        double a = -2 * G_PI * k * i / L;
        re[k] += v[i * st] * cos (a);
        im[k] += v[i * st] * sin (a);
      }
  for (int k = 0; k < L; k++)
    {
      int f = k <= L / 2 ? k : k - L;
      double a = f == L / 2 ? 0 : -2 * G_PI * f * t / L, c = cos (a), sn = sin (a);
      double r2 = re[k] * c - im[k] * sn, i2 = re[k] * sn + im[k] * c;
      re[k] = r2;
      im[k] = i2;
    }
  for (int i = 0; i < n; i++)
    {
      double acc = 0;
      for (int k = 0; k < L; k++)
        {
          double a = 2 * G_PI * k * i / L;
          acc += re[k] * cos (a) - im[k] * sin (a);
        }
      v[i * st] = (float) (acc / L);
    }
  g_free (re);
  g_free (im);
}

/* q(x, y) = p(x − ox, y − oy): the PSF centred at (ox, oy) px (restore.subpixel), shifted
 * band-limited (separable Fourier shift: the first moment moves by exactly (ox, oy); Lanczos-3
 * moved a σ 1.3 px Gaussian by 0.230 px for ¼), on p's support, rescaled to p's sum */
static TsrPsf *
psf_shift (const TsrPsf *p, double ox, double oy)
{
  int N = p->size;
  TsrPsf *q = tsr_psf_copy (p);
  double s0 = 0, s1 = 0;
  for (int i = 0; i < N * N; i++)
    s0 += p->data[i];
  for (int j = 0; j < N; j++)
    shift_1d (q->data + (gsize) j * N, N, 1, ox);
  for (int i = 0; i < N; i++)
    shift_1d (q->data + i, N, N, oy);
  for (int i = 0; i < N * N; i++)
    s1 += q->data[i];
  if (s1 > 0)
    for (int i = 0; i < N * N; i++)
      q->data[i] = (float) (q->data[i] * s0 / s1);
  return q;
}

/* the offset (px) of phase i of s along one axis: (i + ½)/s − ½ (s = 2: −¼, +¼) */
static inline double
phase_offset (int i, int s)
{
  return (i + 0.5) / s - 0.5;
}

/* the decoder's kernels of one frame for g × g cells (cells[c], or one PSF when g = 1) and
 * s × s phases: out[c · s² + φ] = cell c's PSF centred at phase φ's offset (row-major φ = iy · s
 * + ix); new PSFs (copies where s = 1) */
static void
phase_kernels (const TsrPsf *const *cells, int g, int s, TsrPsf **out)
{
  for (int c = 0; c < g * g; c++)
    for (int f = 0; f < s * s; f++)
      out[c * s * s + f] = s == 1 ? tsr_psf_copy (cells[c])
                                  : psf_shift (cells[c], phase_offset (f % s, s), phase_offset (f / s, s));
}

static void
field_uv (const Job *j, double x, double y, double *u, double *v)
{
  double cx = (j->W - 1) / 2.0, cy = (j->H - 1) / 2.0, rm = sqrt (cx * cx + cy * cy);
  *u = (x - cx) / rm;
  *v = (y - cy) / rm;
}

static double
field_model (const double c[3], double u, double v)
{
  return c[0] * u + c[1] * v + c[2] * (u * u + v * v);
}

/* fit the model to the used frames' candidates and fill every cell without a PSF of its own;
 * FALSE when the cells were not made (restore.psf_regions = 1 or a measurement hook) */
static gboolean
field_model_fill (Job *j, int g, double coef[3], guint *n_fit)
{
  coef[0] = coef[1] = coef[2] = 0;
  *n_fit = 0;
  if (g <= 1 || g_getenv ("TSR_RESTORE_TRUE_PSF") || g_getenv ("TSR_RESTORE_PSF_WIDEN"))
    return FALSE;
  GArray *rows = g_array_new (FALSE, FALSE, sizeof (double) * 4);   /* y − ȳ, u − ū, v − v̄, r² − r̄² */
  for (guint q = 0; q < j->nu; q++)
    {
      const RFrame *f = &j->frames[j->used[q]];
      guint n = 0;
      double m[4] = { 0 };
      for (guint i = 0; i < f->nc; i++)
        if (isfinite (f->cfw[i]) && f->cfw[i] > 0)
          {
            double u, v;
            field_uv (j, f->cx[i], f->cy[i], &u, &v);
            m[0] += log (f->cfw[i]);
            m[1] += u;
            m[2] += v;
            m[3] += u * u + v * v;
            n++;
          }
      if (n < 3)
        continue;
      for (int k = 0; k < 4; k++)
        m[k] /= n;
      for (guint i = 0; i < f->nc; i++)
        if (isfinite (f->cfw[i]) && f->cfw[i] > 0)
          {
            double u, v, row[4];
            field_uv (j, f->cx[i], f->cy[i], &u, &v);
            row[0] = log (f->cfw[i]) - m[0];
            row[1] = u - m[1];
            row[2] = v - m[2];
            row[3] = u * u + v * v - m[3];
            g_array_append_vals (rows, row, 1);
          }
    }
  guint8 *keep = g_new (guint8, MAX (rows->len, 1));
  memset (keep, 1, MAX (rows->len, 1));
  for (int pass = 0; pass < 2 && rows->len >= 20; pass++)
    {
      double S[3][3] = { { 0 } }, r[3] = { 0 }, c[3];
      guint nk = 0;
      for (guint i = 0; i < rows->len; i++)
        {
          const double *row = (const double *) (rows->data + (gsize) i * sizeof (double) * 4);
          if (!keep[i])
            continue;
          for (int a = 0; a < 3; a++)
            {
              r[a] += row[a + 1] * row[0];
              for (int b = 0; b < 3; b++)
                S[a][b] += row[a + 1] * row[b + 1];
            }
          nk++;
        }
      if (nk < 20 || !tsr_solve3 (S, r, 1e-12, c))
        break;
      coef[0] = c[0];
      coef[1] = c[1];
      coef[2] = c[2];
      *n_fit = nk;
      /* one 3σ clipping round (σ from the MAD of the residuals) */
      float *res = g_new (float, rows->len);
      for (guint i = 0; i < rows->len; i++)
        {
          const double *row = (const double *) (rows->data + (gsize) i * sizeof (double) * 4);
          res[i] = (float) fabs (row[0] - (c[0] * row[1] + c[1] * row[2] + c[2] * row[3]));
        }
      float *tmp = g_memdup2 (res, sizeof (float) * rows->len);
      double sg = 1.4826 * tsr_median_inplace (tmp, rows->len);
      for (guint i = 0; i < rows->len; i++)
        keep[i] = res[i] <= 3 * sg;
      g_free (tmp);
      g_free (res);
    }
  g_free (keep);
  g_array_free (rows, TRUE);
  for (guint q = 0; q < j->nu; q++)
    {
      RFrame *f = &j->frames[j->used[q]];
      double mean = 0;
      for (guint i = 0; i < f->nsx; i++)
        {
          double u, v;
          field_uv (j, f->sx[i], f->sy[i], &u, &v);
          mean += field_model (coef, u, v) / f->nsx;
        }
      for (int c = 0; c < g * g; c++)
        {
          if (f->rpsf[c])
            continue;
          double u, v;
          field_uv (j, ((c % g) + 0.5) * j->W / g - 0.5, ((c / g) + 0.5) * j->H / g - 0.5, &u, &v);
          double lam = CLAMP (exp (field_model (coef, u, v) - mean), 0.7, 1.4);
          f->rpsf_scale[c] = lam;
          f->rpsf_stars[c] = 0;
          f->rpsf[c] = lam == 1.0 ? tsr_psf_copy (f->psf) : psf_stretch (f->psf, lam);
        }
      if (g_getenv ("TSR_RESTORE_DIAG"))
        {
          GString *ds = g_string_new (NULL);
          for (int c = 0; c < g * g; c++)
            {
              double e4 = 0;
              const TsrPsf *p = f->rpsf[c];
              for (int yy = -p->radius; yy <= p->radius; yy++)
                for (int xx = -p->radius; xx <= p->radius; xx++)
                  if (xx * xx + yy * yy <= 16)
                    e4 += p->data[(gsize) (yy + p->radius) * p->size + xx + p->radius];
              g_string_append_printf (ds, " [%d: %u stamps, stretch %.3f, fwhm %.3f, EE4 %.4f]", c, f->rpsf_stars[c],
                                      f->rpsf_scale[c], p->fwhm, e4);
            }
          g_printerr ("restore diag: frame %u PSF cells (frame PSF fwhm %.3f)%s\n", j->used[q], f->psf->fwhm, ds->str);
          g_string_free (ds, TRUE);
        }
    }
  if (g_getenv ("TSR_RESTORE_DIAG"))
    g_printerr ("restore diag: PSF field model log FWHM = a_t %+.4f u %+.4f v %+.4f r2 (%u stars)\n", coef[0],
                coef[1], coef[2], *n_fit);
  return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * The network
 */

typedef struct
{
  int n, K;              /* frames (channels), branches */
  int S;                 /* latent phases (restore.subpixel²): the pointwise convolution's outputs */
  TsrNnParam dw_w[MAX_BRANCHES], dw_b[MAX_BRANCHES];   /* n·k·k, n */
  TsrNnParam bn_g[MAX_BRANCHES], bn_b[MAX_BRANCHES];   /* n, n */
  TsrNnParam pw_w, pw_b;                               /* S·K·n, S */
  TsrNnParam bkg;                                      /* 3n: background plane per frame, σ units */
  TsrNnParam diff;                                     /* gx·gy: the smooth map, out_scale units */
  TsrNnParam psfq;                                     /* restore.blind: the frames' PSF logits */
  int gx, gy;            /* its bilinear grid: nodes at x = i·sx, y = j·sy (0 × 0: none) */
  double sx, sy;
  TsrNnParam *all[4 * MAX_BRANCHES + 5];
  guint n_all;
  float out_scale;       /* x = out_scale · ReLU(P) */
  float x_scale;         /* the latent's: out_scale, or out_scale / S with TSR_RESTORE_PHASE_GAIN
                            (measurement runs, round 13: the phases' sum at the pixel latent's scale) */
  /* batch-norm statistics over the whole image (training on random crops): refreshed every
   * BN_REFRESH steps, used by the forward pass instead of each crop's own, and at inference */
  float *run_mean[MAX_BRANCHES], *run_var[MAX_BRANCHES];
} Net;

static void
net_init (Net *net, int n, int K, int S, float out_scale, gboolean background, int W, int H, double spacing,
          GRand *rng)
{
  memset (net, 0, sizeof *net);
  if (spacing > 0)
    {
      /* cells of about `spacing` px over the image, plus one node beyond each side (the
       * cubic B-spline's support) */
      int cx = MAX (1, (int) ceil ((W - 1) / spacing)), cy = MAX (1, (int) ceil ((H - 1) / spacing));
      net->sx = (double) MAX (W - 1, 1) / cx;
      net->sy = (double) MAX (H - 1, 1) / cy;
      net->gx = cx + 3;
      net->gy = cy + 3;
    }
  net->n = n;
  net->K = K;
  net->S = S;
  net->out_scale = out_scale;
  net->x_scale = S > 1 && g_getenv ("TSR_RESTORE_PHASE_GAIN") ? out_scale / S : out_scale;
  for (int b = 0; b < K; b++)
    {
      int k = branch_k[b];
      tsr_nn_param_init (&net->dw_w[b], (gsize) n * k * k);
      /* TensorFlow's depthwise Glorot: fan_in = k², fan_out = k² · depth multiplier */
      tsr_nn_glorot_uniform (net->dw_w[b].value, net->dw_w[b].size, k * k, k * k, rng);
      tsr_nn_param_init (&net->dw_b[b], n);
      tsr_nn_param_init (&net->bn_g[b], n);
      tsr_nn_param_init (&net->bn_b[b], n);
      for (int i = 0; i < n; i++)
        net->bn_g[b].value[i] = 1.0f;
      net->run_mean[b] = g_new0 (float, n);
      net->run_var[b] = g_new0 (float, n);
      net->all[net->n_all++] = &net->dw_w[b];
      net->all[net->n_all++] = &net->dw_b[b];
      net->all[net->n_all++] = &net->bn_g[b];
      net->all[net->n_all++] = &net->bn_b[b];
    }
  tsr_nn_param_init (&net->pw_w, (gsize) S * K * n);
  tsr_nn_glorot_uniform (net->pw_w.value, net->pw_w.size, K * n, S, rng);
  tsr_nn_param_init (&net->pw_b, S);
  net->all[net->n_all++] = &net->pw_w;
  net->all[net->n_all++] = &net->pw_b;
  tsr_nn_param_init (&net->bkg, (gsize) 3 * n);
  if (background)
    net->all[net->n_all++] = &net->bkg;
  tsr_nn_param_init (&net->diff, (gsize) MAX (net->gx * net->gy, 1));
  if (net->gx > 0)
    net->all[net->n_all++] = &net->diff;
}

/* The smooth map's nodes are stored divided by DIFFUSE_GAIN: Adam moves every parameter by
 * about the learning rate per step, and the map must be able to climb a galaxy's disk (tens of
 * σ) within the few hundred steps to the held-out stop (docs/restore.md). */
#define DIFFUSE_GAIN 10.0f

/* The smooth map at image pixel (x, y): a uniform cubic B-spline on the node grid (node i at
 * x = (i − 1)·sx; smooth, no facets at the cell edges, and it reproduces a plane exactly from
 * node values sampled on it), out_scale units; with the 16 node indices and weights
 * (∂value/∂node) when i/w are given. */
static inline void
bspline3 (double t, float b[4])
{
  double t2 = t * t, t3 = t2 * t, u = 1 - t;
  b[0] = (float) (u * u * u / 6);
  b[1] = (float) ((3 * t3 - 6 * t2 + 4) / 6);
  b[2] = (float) ((-3 * t3 + 3 * t2 + 3 * t + 1) / 6);
  b[3] = (float) (t3 / 6);
}

static inline float
diffuse_at (const Net *net, int x, int y, int i[16], float w[16])
{
  double fx = CLAMP (x, 0, (net->gx - 3) * net->sx) / net->sx, fy = CLAMP (y, 0, (net->gy - 3) * net->sy) / net->sy;
  int x0 = MIN ((int) fx, net->gx - 4), y0 = MIN ((int) fy, net->gy - 4);
  float bx[4], by[4];
  bspline3 (fx - x0, bx);
  bspline3 (fy - y0, by);
  const float *v = net->diff.value;
  float sum = 0;
  for (int b = 0; b < 4; b++)
    for (int a = 0; a < 4; a++)
      {
        int k = (y0 + b) * net->gx + x0 + a;
        float wt = DIFFUSE_GAIN * bx[a] * by[b];
        sum += wt * v[k];
        if (i)
          {
            i[b * 4 + a] = k;
            w[b * 4 + a] = wt;
          }
      }
  return sum;
}

/* The smooth map and the per-frame background planes are degenerate in their common mode
 * (a plane added to the map and taken from every frame's plane leaves the model unchanged):
 * move the frames' mean plane (in the reference frame's units) into the map, so the
 * frames' planes hold only their differences and the map's level is that of b0. Exact:
 * bilinear interpolation reproduces a plane. */
static void
diffuse_pin (Net *net, const double *rms, const double *scale, int W, int H)
{
  if (net->gx == 0)
    return;
  double m[3] = { 0, 0, 0 };
  for (int t = 0; t < net->n; t++)
    for (int k = 0; k < 3; k++)
      m[k] += net->bkg.value[3 * t + k] * rms[t] / scale[t] / net->n;
  for (int t = 0; t < net->n; t++)
    for (int k = 0; k < 3; k++)
      net->bkg.value[3 * t + k] -= (float) (m[k] * scale[t] / rms[t]);
  for (int j = 0; j < net->gy; j++)
    for (int i = 0; i < net->gx; i++)
      {
        double ux = 2.0 * ((i - 1) * net->sx) / MAX (W - 1, 1) - 1, uy = 2.0 * ((j - 1) * net->sy) / MAX (H - 1, 1) - 1;
        net->diff.value[j * net->gx + i] += (float) ((m[0] + m[1] * ux + m[2] * uy) / net->out_scale / DIFFUSE_GAIN);
      }
}

static void
net_clear (Net *net)
{
  for (int b = 0; b < net->K; b++)
    {
      tsr_nn_param_clear (&net->dw_w[b]);
      tsr_nn_param_clear (&net->dw_b[b]);
      tsr_nn_param_clear (&net->bn_g[b]);
      tsr_nn_param_clear (&net->bn_b[b]);
      g_free (net->run_mean[b]);
      g_free (net->run_var[b]);
    }
  tsr_nn_param_clear (&net->pw_w);
  tsr_nn_param_clear (&net->pw_b);
  tsr_nn_param_clear (&net->bkg);
  tsr_nn_param_clear (&net->diff);
  tsr_nn_param_clear (&net->psfq);
}

static guint
net_n_scalars (const Net *net)
{
  guint s = 0;
  for (guint i = 0; i < net->n_all; i++)
    s += (guint) net->all[i]->size;
  return s;
}

/* The learnable scalars, then the running batch-norm statistics (2·K·n floats). */
static void
net_snapshot (const Net *net, float *buf)
{
  for (guint i = 0; i < net->n_all; i++)
    {
      memcpy (buf, net->all[i]->value, sizeof (float) * net->all[i]->size);
      buf += net->all[i]->size;
    }
  for (int b = 0; b < net->K; b++)
    {
      memcpy (buf, net->run_mean[b], sizeof (float) * net->n);
      memcpy (buf + net->n, net->run_var[b], sizeof (float) * net->n);
      buf += 2 * net->n;
    }
}

static void
net_restore (Net *net, const float *buf)
{
  for (guint i = 0; i < net->n_all; i++)
    {
      memcpy (net->all[i]->value, buf, sizeof (float) * net->all[i]->size);
      buf += net->all[i]->size;
    }
  for (int b = 0; b < net->K; b++)
    {
      memcpy (net->run_mean[b], buf, sizeof (float) * net->n);
      memcpy (net->run_var[b], buf + net->n, sizeof (float) * net->n);
      buf += 2 * net->n;
    }
}

static TsrNnConv
pw_conv (const Net *net)
{
  TsrNnConv c = { net->K * net->n, net->S, 1, 1, 0, 1, net->pw_w.value, net->pw_b.value };
  return c;
}

/* A tensor view of channels [c0, c0 + nc) of t (batch 1). */
static TsrNnTensor
slice (const TsrNnTensor *t, int c0, int nc)
{
  TsrNnTensor v = { 1, nc, t->h, t->w, t->data + (gsize) c0 * t->h * t->w };
  return v;
}

/* held-out pixel of frame t: a hash of (seed, t, pixel) below the fraction */
static inline gboolean
held_out (guint64 seed, guint t, gsize k, double frac)
{
  guint64 z = seed * 0x9E3779B97F4A7C15ull + ((guint64) t << 40) + k;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double) (z >> 11) * (1.0 / 9007199254740992.0) < frac;
}

static inline double
huber (double r, double d)
{
  double a = fabs (r);
  return a <= d ? 0.5 * r * r : d * (a - 0.5 * d);
}

/* ---------------------------------------------------------------------------------------
 * Blind PSFs (restore.blind, the paper's appendix A): each frame's PSF f = softmax(q) of
 * learnable logits q over its samples — non-negative with unit sum by construction —
 * initialised from the measured PSF (q = log max(f, 1e-6·max f)).
 */

static void
psf_softmax (const float *q, int n, float *f)
{
  float mx = -INFINITY;
  for (int i = 0; i < n; i++)
    mx = MAX (mx, q[i]);
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += f[i] = expf (q[i] - mx);
  for (int i = 0; i < n; i++)
    f[i] = (float) (f[i] / sum);
}

static void
psf_logits_init (const TsrPsf *psf, float *q)
{
  int n = psf->size * psf->size;
  float mx = 0;
  for (int i = 0; i < n; i++)
    mx = MAX (mx, psf->data[i]);
  for (int i = 0; i < n; i++)
    q[i] = logf (MAX (psf->data[i], 1e-6f * mx));
}

/* dq += weight · ∂L/∂q of one frame, given G = ∂L/∂ŷ on the valid region (ow × oh) of the
 * lw × lh latent whose spectrum is Xs: ∂L/∂f(d) = Σ_q G(q) X(q + rf − d) (a correlation:
 * the decoder's adjoint with the latent as the kernel, read at the PSF's offsets of the
 * plan's FFT grid; exact while the grid holds the tile, as the forward needs), then the
 * softmax's Jacobian ∂L/∂q_j = f_j (∂L/∂f_j − Σ_i f_i ∂L/∂f_i). acc: a spectrum, grid: nw·nh
 * floats (work). */
static void
psf_logit_grad (TsrConvWork *cw, const TsrConvPlan *plan, const float *Xs, const float *G, int lw, int lh,
                const TsrPsf *f, double weight, float *acc, float *grid, float *dq)
{
  int nw, nh;
  tsr_conv_plan_size (plan, &nw, &nh);
  tsr_conv_spectrum_zero (plan, acc);
  tsr_conv_adjoint_accumulate (cw, Xs, G, lw, lh, 1.0, acc);
  tsr_conv_from_spectrum (cw, acc, nw, nh, grid);
  int R = f->radius, sz = f->size;
  double fg = 0;
  for (int j = 0; j < sz; j++)
    for (int i = 0; i < sz; i++)
      {
        int gx = ((i - R) % nw + nw) % nw, gy = ((j - R) % nh + nh) % nh;
        fg += (double) f->data[j * sz + i] * grid[(gsize) gy * nw + gx];
      }
  for (int j = 0; j < sz; j++)
    for (int i = 0; i < sz; i++)
      {
        int gx = ((i - R) % nw + nw) % nw, gy = ((j - R) % nh + nh) % nh;
        double g = grid[(gsize) gy * nw + gx];
        dq[j * sz + i] += (float) (weight * f->data[j * sz + i] * (g - fg));
      }
}

double
tsr_restore_blind_psf_loss (const float *x, int lw, int lh, const float *logits, int psf_size, double scale,
                            const float *off, const float *y, const float *sigma, const guint8 *m, double delta,
                            float *dlogits)
{
  g_return_val_if_fail (psf_size % 2 == 1 && lw > psf_size && lh > psf_size, NAN);
  int R = psf_size / 2, ow = lw - 2 * R, oh = lh - 2 * R;
  TsrPsf *f = tsr_psf_new_delta (psf_size, 1);
  psf_softmax (logits, psf_size * psf_size, f->data);
  TsrConvPlan *plan = tsr_conv_plan_new (lw, lh, R, 1);
  TsrConvWork *cw = tsr_conv_work_new (plan);
  float *ks = tsr_conv_spectrum_new (plan), *xs = tsr_conv_spectrum_new (plan), *acc = tsr_conv_spectrum_new (plan);
  int nw, nh;
  tsr_conv_plan_size (plan, &nw, &nh);
  float *grid = g_new (float, (gsize) nw * nh), *yh = g_new (float, (gsize) ow * oh), *G = g_new0 (float, (gsize) ow * oh);
  tsr_conv_kernel_spectrum (cw, f, ks);
  tsr_conv_spectrum (cw, x, lw, lh, xs);
  tsr_conv_forward_spec (cw, xs, ks, lw, lh, yh);
  /* the job's loss and ∂L/∂ŷ (the per-frame loop of tsr_restore_run_full) */
  double loss = 0;
  for (gsize q = 0; q < (gsize) ow * oh; q++)
    {
      if (!m[q])
        continue;
      double r = (scale * yh[q] + off[q] - y[q]) / sigma[q];
      loss += huber (r, delta);
      G[q] = (float) (CLAMP (r, -delta, delta) / sigma[q] * scale);
    }
  if (dlogits)
    {
      memset (dlogits, 0, sizeof (float) * psf_size * psf_size);
      psf_logit_grad (cw, plan, xs, G, lw, lh, f, 1.0, acc, grid, dlogits);
    }
  g_free (grid);
  g_free (yh);
  g_free (G);
  tsr_conv_spectrum_free (ks);
  tsr_conv_spectrum_free (xs);
  tsr_conv_spectrum_free (acc);
  tsr_conv_work_free (cw);
  tsr_conv_plan_free (plan);
  tsr_psf_free (f);
  return loss;
}

/* ---------------------------------------------------------------------------------------
 * The field-varying decoder (restore.psf_regions = g, round 11; Nagy & O'Leary's piecewise
 * constant PSFs with interpolated weights): the frame is cut into g × g cells, cell k has its
 * own PSF f_k, and
 *     ŷ = Σ_k f_k ∗ (w_k · x),   w_k(p) = bilinear weight of cell k's centre at p, Σ_k w_k = 1
 * (weights held constant beyond the outermost centres). Adjoint: x̄ = Σ_k w_k · (f_kᵀ ∗ ȳ).
 * The weights are the same for every frame (the frames share the reference geometry), so a
 * step takes K spectra of the weighted latent and K inverse FFTs of the accumulated adjoint;
 * per frame the K products are summed in the spectrum (one inverse FFT) and the adjoint's
 * input is transformed once — the per-frame FFT count is that of one PSF.
 */
typedef struct
{
  int g, S, K, lw, lh;   /* cells per side, sub-pixel phases (restore.subpixel²), kernels g² · S */
  int x0, y0;            /* the origin the weights are for */
  float *w;              /* g² · lw · lh (g > 1) */
  float **xs, **acc;     /* K spectra each */
  float *tmp;            /* lw · lh */
} FieldDec;

static void
field_init (FieldDec *fd, const TsrConvPlan *plan, int g, int S, int lw, int lh)
{
  fd->g = g;
  fd->S = S;
  fd->K = g * g * S;
  fd->lw = lw;
  fd->lh = lh;
  fd->w = g > 1 ? g_new (float, (gsize) g * g * lw * lh) : NULL;
  fd->xs = g_new (float *, fd->K);
  fd->acc = g_new (float *, fd->K);
  for (int k = 0; k < fd->K; k++)
    {
      fd->xs[k] = tsr_conv_spectrum_new (plan);
      fd->acc[k] = tsr_conv_spectrum_new (plan);
    }
  fd->tmp = g_new (float, (gsize) lw * lh);
  fd->x0 = fd->y0 = G_MININT;
}

static void
field_clear (FieldDec *fd)
{
  for (int k = 0; k < fd->K; k++)
    {
      tsr_conv_spectrum_free (fd->xs[k]);
      tsr_conv_spectrum_free (fd->acc[k]);
    }
  g_free (fd->xs);
  g_free (fd->acc);
  g_free (fd->w);
  g_free (fd->tmp);
}

/* bilinear weights of the g cell centres along one axis of length L at coordinate t (px):
 * cell i0 gets 1 − a, cell i0 + 1 gets a (i0 + 1 < g) */
static void
field_axis (double t, int g, int L, int *i0, double *a)
{
  double c = (t + 0.5) * g / L - 0.5;   /* in units of cells, centre i at i */
  if (g == 1 || c <= 0)
    {
      *i0 = 0;
      *a = 0;
      return;
    }
  if (c >= g - 1)
    {
      *i0 = g - 2;
      *a = 1;
      return;
    }
  *i0 = (int) floor (c);
  *a = c - *i0;
}

/* the weights of a latent whose sample (0, 0) is the image pixel (x0, y0) of a W × H image */
static void
field_weights (FieldDec *fd, int W, int H, int x0, int y0)
{
  if (fd->g == 1 || (x0 == fd->x0 && y0 == fd->y0))
    return;
  fd->x0 = x0;
  fd->y0 = y0;
  int g = fd->g, lw = fd->lw, lh = fd->lh;
  gsize np = (gsize) lw * lh;
  memset (fd->w, 0, sizeof (float) * g * g * np);
  for (int yy = 0; yy < lh; yy++)
    {
      int iy;
      double ay;
      field_axis (y0 + yy, g, H, &iy, &ay);
      for (int xx = 0; xx < lw; xx++)
        {
          int ix;
          double ax;
          field_axis (x0 + xx, g, W, &ix, &ax);
          gsize p = (gsize) yy * lw + xx;
          fd->w[(gsize) (iy * g + ix) * np + p] += (float) ((1 - ax) * (1 - ay));
          if (ix + 1 < g)
            fd->w[(gsize) (iy * g + ix + 1) * np + p] += (float) (ax * (1 - ay));
          if (iy + 1 < g)
            {
              fd->w[(gsize) ((iy + 1) * g + ix) * np + p] += (float) ((1 - ax) * ay);
              if (ix + 1 < g)
                fd->w[(gsize) ((iy + 1) * g + ix + 1) * np + p] += (float) (ax * ay);
            }
        }
    }
}

/* the spectra of w_c · X_φ (of X_φ itself when g = 1), kernel k = c · S + φ; X: S planes
 * of lw × lh (restore.subpixel: the phases' latents) */
static void
field_spectra (FieldDec *fd, TsrConvWork *cw, const float *X)
{
  gsize np = (gsize) fd->lw * fd->lh;
  for (int k = 0; k < fd->K; k++)
    {
      int c = k / fd->S, ph = k % fd->S;
      const float *xp = X + (gsize) ph * np;
      if (fd->g == 1)
        {
          tsr_conv_spectrum (cw, xp, fd->lw, fd->lh, fd->xs[k]);
          continue;
        }
      const float *wk = fd->w + (gsize) c * np;
      for (gsize i = 0; i < np; i++)
        fd->tmp[i] = wk[i] * xp[i];
      tsr_conv_spectrum (cw, fd->tmp, fd->lw, fd->lh, fd->xs[k]);
    }
}

/* ŷ (the valid region) = Σ_c Σ_φ f_{c,φ} ∗ (w_c · X_φ); kspec: the frame's K kernel spectra */
static void
field_forward (FieldDec *fd, TsrConvWork *cw, float *const *kspec, float *yh)
{
  if (fd->K == 1)
    tsr_conv_forward_spec (cw, fd->xs[0], kspec[0], fd->lw, fd->lh, yh);
  else
    tsr_conv_forward_spec_sum (cw, (const float *const *) fd->xs, (const float *const *) kspec, fd->K, fd->lw,
                               fd->lh, yh);
}

static void
field_adjoint_zero (FieldDec *fd, const TsrConvPlan *plan)
{
  for (int k = 0; k < fd->K; k++)
    tsr_conv_spectrum_zero (plan, fd->acc[k]);
}

static void
field_adjoint_accumulate (FieldDec *fd, TsrConvWork *cw, float *const *kspec, const float *G)
{
  if (fd->K == 1)
    tsr_conv_adjoint_accumulate (cw, kspec[0], G, fd->lw, fd->lh, 1.0, fd->acc[0]);
  else
    tsr_conv_adjoint_accumulate_multi (cw, (const float *const *) kspec, fd->K, G, fd->lw, fd->lh, 1.0, fd->acc);
}

/* dX_φ = Σ_c w_c · (the accumulated adjoint of kernel (c, φ)); dX: S planes */
static void
field_adjoint_finish (FieldDec *fd, TsrConvWork *cw, float *dX)
{
  gsize np = (gsize) fd->lw * fd->lh;
  if (fd->g == 1)
    {
      for (int k = 0; k < fd->K; k++)
        tsr_conv_from_spectrum (cw, fd->acc[k], fd->lw, fd->lh, dX + (gsize) k * np);
      return;
    }
  memset (dX, 0, sizeof (float) * np * fd->S);
  for (int k = 0; k < fd->K; k++)
    {
      tsr_conv_from_spectrum (cw, fd->acc[k], fd->lw, fd->lh, fd->tmp);
      const float *wk = fd->w + (gsize) (k / fd->S) * np;
      float *dp = dX + (gsize) (k % fd->S) * np;
      for (gsize i = 0; i < np; i++)
        dp[i] += wk[i] * fd->tmp[i];
    }
}

/* the public wrappers for the layer tests (tsr-restore.h) */
static void
field_test_setup (int g, int sub, const TsrPsf *const *psfs, int lw, int lh, int W, int H, int x0, int y0,
                  TsrConvPlan **plan, TsrConvWork **cw, float ***ks, FieldDec *fd)
{
  int K = g * g * sub * sub, R = 0;
  for (int c = 0; c < g * g; c++)
    R = MAX (R, psfs[c]->radius);
  *plan = tsr_conv_plan_new (lw, lh, R, 1);
  *cw = tsr_conv_work_new (*plan);
  *ks = g_new (float *, K);
  TsrPsf **kp = g_new (TsrPsf *, K);
  phase_kernels (psfs, g, sub, kp);
  for (int k = 0; k < K; k++)
    {
      (*ks)[k] = tsr_conv_spectrum_new (*plan);
      tsr_conv_kernel_spectrum (*cw, kp[k], (*ks)[k]);
      tsr_psf_free (kp[k]);
    }
  g_free (kp);
  field_init (fd, *plan, g, sub * sub, lw, lh);
  field_weights (fd, W, H, x0, y0);
}

static void
field_test_clear (int K, TsrConvPlan *plan, TsrConvWork *cw, float **ks, FieldDec *fd)
{
  field_clear (fd);
  for (int k = 0; k < K; k++)
    tsr_conv_spectrum_free (ks[k]);
  g_free (ks);
  tsr_conv_work_free (cw);
  tsr_conv_plan_free (plan);
}

void
tsr_restore_phase_psf_apply (const TsrPsf *const *psfs, int g, int sub, int W, int H, int x0, int y0, int lw, int lh,
                             gboolean adjoint, const float *in, float *out)
{
  g_return_if_fail (g >= 1 && g <= MAX_PSF_REGIONS && sub >= 1 && sub <= 2);
  TsrConvPlan *plan;
  TsrConvWork *cw;
  float **ks;
  FieldDec fd;
  field_test_setup (g, sub, psfs, lw, lh, W, H, x0, y0, &plan, &cw, &ks, &fd);
  if (!adjoint)
    {
      field_spectra (&fd, cw, in);
      field_forward (&fd, cw, ks, out);
    }
  else
    {
      field_adjoint_zero (&fd, plan);
      field_adjoint_accumulate (&fd, cw, ks, in);
      field_adjoint_finish (&fd, cw, out);
    }
  field_test_clear (fd.K, plan, cw, ks, &fd);
}

void
tsr_restore_field_psf_apply (const TsrPsf *const *psfs, int g, int W, int H, int x0, int y0, int lw, int lh,
                             gboolean adjoint, const float *in, float *out)
{
  tsr_restore_phase_psf_apply (psfs, g, 1, W, H, x0, y0, lw, lh, adjoint, in, out);
}

double
tsr_restore_phase_psf_loss (const TsrPsf *const *psfs, int g, int sub, int W, int H, int x0, int y0, const float *x,
                            int lw, int lh, const float *y, const float *sigma, const guint8 *m, double delta,
                            float *dx)
{
  g_return_val_if_fail (g >= 1 && g <= MAX_PSF_REGIONS && sub >= 1 && sub <= 2, NAN);
  TsrConvPlan *plan;
  TsrConvWork *cw;
  float **ks;
  FieldDec fd;
  field_test_setup (g, sub, psfs, lw, lh, W, H, x0, y0, &plan, &cw, &ks, &fd);
  int rf = 0;
  for (int k = 0; k < g * g; k++)
    rf = MAX (rf, psfs[k]->radius);
  int ow = lw - 2 * rf, oh = lh - 2 * rf;
  float *yh = g_new (float, (gsize) ow * oh), *G = g_new0 (float, (gsize) ow * oh);
  field_spectra (&fd, cw, x);
  field_forward (&fd, cw, ks, yh);
  double loss = 0;
  for (gsize q = 0; q < (gsize) ow * oh; q++)
    {
      if (!m[q])
        continue;
      double r = (yh[q] - y[q]) / sigma[q];
      loss += huber (r, delta);
      G[q] = (float) (CLAMP (r, -delta, delta) / sigma[q]);
    }
  if (dx)
    {
      field_adjoint_zero (&fd, plan);
      field_adjoint_accumulate (&fd, cw, ks, G);
      field_adjoint_finish (&fd, cw, dx);
    }
  g_free (yh);
  g_free (G);
  field_test_clear (fd.K, plan, cw, ks, &fd);
  return loss;
}

double
tsr_restore_field_psf_loss (const TsrPsf *const *psfs, int g, int W, int H, int x0, int y0, const float *x, int lw,
                            int lh, const float *y, const float *sigma, const guint8 *m, double delta, float *dx)
{
  return tsr_restore_phase_psf_loss (psfs, g, 1, W, H, x0, y0, x, lw, lh, y, sigma, m, delta, dx);
}

/* Buffers of one training step or inference tile (batch 1, n channels, lh × lw). */
typedef struct
{
  int lw, lh, S;
  TsrNnTensor *Z;                    /* normalised input */
  TsrNnTensor *R[MAX_BRANCHES];      /* ReLU(depthwise) */
  TsrNnTensor *CAT;                  /* batch-normed branches, concatenated */
  TsrNnTensor *P;                    /* pointwise output: S phases (restore.subpixel) */
  TsrNnTensor *dCAT, *dR, *dP;
  float mean[MAX_BRANCHES][1024], invstd[MAX_BRANCHES][1024];
  TsrNnWork work;
} Bufs;

static void
bufs_init (Bufs *b, int n, int K, int S, int lw, int lh, gboolean train)
{
  memset (b, 0, sizeof *b);
  b->lw = lw;
  b->lh = lh;
  b->S = S;
  b->Z = tsr_nn_tensor_new (1, n, lh, lw);
  for (int i = 0; i < K; i++)
    b->R[i] = tsr_nn_tensor_new (1, n, lh, lw);
  b->CAT = tsr_nn_tensor_new (1, K * n, lh, lw);
  b->P = tsr_nn_tensor_new (1, S, lh, lw);
  if (train)
    {
      b->dCAT = tsr_nn_tensor_new (1, K * n, lh, lw);
      b->dR = tsr_nn_tensor_new (1, n, lh, lw);
      b->dP = tsr_nn_tensor_new (1, S, lh, lw);
    }
}

static void
bufs_clear (Bufs *b)
{
  tsr_nn_tensor_free (b->Z);
  for (int i = 0; i < MAX_BRANCHES; i++)
    if (b->R[i])
      tsr_nn_tensor_free (b->R[i]);
  tsr_nn_tensor_free (b->CAT);
  tsr_nn_tensor_free (b->P);
  if (b->dCAT)
    tsr_nn_tensor_free (b->dCAT);
  if (b->dR)
    tsr_nn_tensor_free (b->dR);
  if (b->dP)
    tsr_nn_tensor_free (b->dP);
  tsr_nn_work_clear (&b->work);
}

/* Reshape the buffers of an inference tile to iw × ih. */
static void
bufs_tile (Bufs *b, int n, int K, int iw, int ih)
{
  tsr_nn_tensor_reshape (b->Z, 1, n, ih, iw);
  for (int br = 0; br < K; br++)
    tsr_nn_tensor_reshape (b->R[br], 1, n, ih, iw);
  tsr_nn_tensor_reshape (b->CAT, 1, K * n, ih, iw);
  tsr_nn_tensor_reshape (b->P, 1, b->S, ih, iw);
  b->lw = iw;
  b->lh = ih;
}

/* Load the normalised input of the latent window whose top-left image pixel is (x0, y0):
 * (y − b0)/σ_t where valid and not held out, 0 elsewhere (outside the image too). */
static void
load_input (const Job *j, Bufs *b, int x0, int y0, double frac, guint64 seed)
{
  int lw = b->lw, lh = b->lh;
  for (guint u = 0; u < j->nu; u++)
    {
      const RFrame *f = &j->frames[j->used[u]];
      float *z = b->Z->data + (gsize) u * lw * lh;
      /* a held-out pixel's input is the mean of the other frames at that pixel (× this
       * frame's scale): its own noise stays out of the input, and the input's level and
       * variance stay those of inference. Zeros there (with or without the inverted
       * dropout's 1 / (1 − frac) on the rest) made the encoder's response depend on the
       * thinning in proportion to the signal: a bright star's latent held 53.9k e in
       * training and 42.5k at inference (docs/restore.md, round 6). */
      float is1 = (float) (1.0 / f->rms);
      for (int yy = 0; yy < lh; yy++)
        for (int xx = 0; xx < lw; xx++)
          {
            int x = x0 + xx, y = y0 + yy;
            float v = 0;
            if (x >= 0 && y >= 0 && x < j->W && y < j->H)
              {
                gsize k = (gsize) y * j->W + x;
                gboolean may = frac > 0 && (!j->hold_ok || j->hold_ok[k]);
                if (f->m[k])
                  {
                    double d = f->y[k] - plane_at (f->plane, x, y);
                    if (may && held_out (seed, u, k, frac))
                      {
                        int mo = (int) j->mcnt[k] - 1;
                        d = mo > 0 ? f->scale * (j->msum[k] - d / f->scale) / mo : 0;
                      }
                    v = (float) (d * is1);
                  }
              }
            z[(gsize) yy * lw + xx] = v;
          }
    }
}

/* The depthwise part of the encoder (convolutions, ReLU, batch norm and their backward) is
 * independent per channel (frame): threads take channel ranges [c0, c1). */
typedef struct
{
  Net *net;
  Bufs *b;
  int c0, c1;
  int mode;              /* ENC_* */
} EncPart;

enum
{
  ENC_BATCH,             /* forward, batch statistics (training on the whole image) */
  ENC_GIVEN,             /* forward, the statistics in Bufs (inference) */
  ENC_BATCH_BACK,        /* backward of ENC_BATCH */
  ENC_RUNNING,           /* forward, the whole image's statistics in Net (training on crops) */
  ENC_RUNNING_BACK,      /* backward of ENC_RUNNING: the statistics are constants */
  ENC_CONV               /* the depthwise convolutions and ReLU only */
};

#define BN_REFRESH 25
#define BN_EPS 1e-3f
/* the first snapshot (tsr_restore_run_full): early, so a window shows the latent soon */
#define SNAPSHOT_FIRST 10

static gpointer
enc_part (gpointer data)
{
  EncPart *e = data;
  Net *net = e->net;
  Bufs *b = e->b;
  int n = net->n, c0 = e->c0, nc = e->c1 - e->c0;
  TsrNnTensor z = slice (b->Z, c0, nc);
  for (int br = 0; br < net->K; br++)
    {
      int k = branch_k[br];
      TsrNnConv c = { nc, nc, k, 1, k / 2, nc, net->dw_w[br].value + (gsize) c0 * k * k, net->dw_b[br].value + c0 };
      TsrNnTensor r = slice (b->R[br], c0, nc);
      if (e->mode == ENC_RUNNING_BACK)
        {
          TsrNnTensor dh = slice (b->dCAT, br * n + c0, nc), dr = slice (b->dR, c0, nc);
          tsr_nn_batchnorm_given_backward (&r, net->bn_g[br].value + c0, b->mean[br] + c0, b->invstd[br] + c0, &dh,
                                           &dr, net->bn_g[br].grad + c0, net->bn_b[br].grad + c0);
          tsr_nn_relu_backward (&r, &dr);
          tsr_nn_conv2d_backward (&c, &z, &dr, NULL, net->dw_w[br].grad + (gsize) c0 * k * k, net->dw_b[br].grad + c0);
          continue;
        }
      if (e->mode == ENC_BATCH_BACK)
        {
          TsrNnTensor dh = slice (b->dCAT, br * n + c0, nc), dr = slice (b->dR, c0, nc);
          tsr_nn_batchnorm_train_backward (&r, net->bn_g[br].value + c0, b->mean[br] + c0, b->invstd[br] + c0, &dh,
                                           &dr, net->bn_g[br].grad + c0, net->bn_b[br].grad + c0);
          tsr_nn_relu_backward (&r, &dr);
          tsr_nn_conv2d_backward (&c, &z, &dr, NULL, net->dw_w[br].grad + (gsize) c0 * k * k, net->dw_b[br].grad + c0);
          continue;
        }
      tsr_nn_conv2d_direct (&c, &z, &r, TRUE);
      TsrNnTensor h = slice (b->CAT, br * n + c0, nc);
      if (e->mode == ENC_CONV)
        continue;
      if (e->mode == ENC_RUNNING)
        for (int ch = c0; ch < e->c1; ch++)
          {
            b->mean[br][ch] = net->run_mean[br][ch];
            b->invstd[br][ch] = (float) (1.0 / sqrt (net->run_var[br][ch] + BN_EPS));
          }
      if (e->mode == ENC_BATCH)
        tsr_nn_batchnorm_train (&r, net->bn_g[br].value + c0, net->bn_b[br].value + c0, BN_EPS, &h, b->mean[br] + c0,
                                b->invstd[br] + c0);
      else
        tsr_nn_batchnorm_given (&r, net->bn_g[br].value + c0, net->bn_b[br].value + c0, b->mean[br] + c0,
                                b->invstd[br] + c0, &h);
    }
  return NULL;
}

static void
enc_run (Net *net, Bufs *b, int mode, int n_threads)
{
  int nt = CLAMP (n_threads, 1, MIN (net->n, 16));
  EncPart parts[16];
  GThread *th[16] = { NULL };
  for (int i = 0; i < nt; i++)
    parts[i] = (EncPart) { net, b, i * net->n / nt, (i + 1) * net->n / nt, mode };
  for (int i = 1; i < nt; i++)
    th[i] = g_thread_try_new ("tsr-restore", enc_part, &parts[i], NULL);
  enc_part (&parts[0]);
  for (int i = 1; i < nt; i++)
    {
      if (th[i])
        g_thread_join (th[i]);
      else
        enc_part (&parts[i]);
    }
}

static void bufs_tile (Bufs *b, int n, int K, int iw, int ih);
static void load_input (const Job *j, Bufs *b, int x0, int y0, double frac, guint64 seed);

/* The batch-norm statistics of the whole image (tiles of T with a halo) into net->run_mean /
 * run_var: over every tile, or over at most max_tiles spread evenly (max_tiles > 0; the
 * refresh during training, where a full pass would cost as much as many steps). */
static void
bn_global_stats (Net *net, const Job *j, Bufs *ib, int T, int halo, int max_tiles, int n_threads)
{
  int n = net->n, K = net->K, W = j->W, H = j->H;
  int ntx = (W + T - 1) / T, nty = (H + T - 1) / T, nt = ntx * nty;
  int m = max_tiles > 0 ? MIN (max_tiles, nt) : nt;
  double *sum = g_new0 (double, (gsize) K * n), *sum2 = g_new0 (double, (gsize) K * n);
  double npx = 0;
  for (int i = 0; i < m; i++)
      {
        int t = (int) (((double) i + 0.5) * nt / m);
        int tx = (t % ntx) * T, ty = (t / ntx) * T;
        int cw2 = MIN (T, W - tx), ch2 = MIN (T, H - ty), iw = cw2 + 2 * halo, ih = ch2 + 2 * halo;
        bufs_tile (ib, n, K, iw, ih);
        load_input (j, ib, tx - halo, ty - halo, 0, 0);
        enc_run (net, ib, ENC_CONV, n_threads);
        for (int br = 0; br < K; br++)
          for (int ch = 0; ch < n; ch++)
            {
              const float *p = ib->R[br]->data + (gsize) ch * iw * ih;
              double s1 = 0, s2 = 0;
              for (int yy = halo; yy < halo + ch2; yy++)
                for (int xx = halo; xx < halo + cw2; xx++)
                  {
                    double v = p[(gsize) yy * iw + xx];
                    s1 += v;
                    s2 += v * v;
                  }
              sum[br * n + ch] += s1;
              sum2[br * n + ch] += s2;
            }
        npx += (double) cw2 * ch2;
      }
  for (int br = 0; br < K; br++)
    for (int c = 0; c < n; c++)
      {
        double mu = sum[br * n + c] / npx;
        net->run_mean[br][c] = (float) mu;
        net->run_var[br][c] = (float) MAX (sum2[br * n + c] / npx - mu * mu, 0);
      }
  g_free (sum);
  g_free (sum2);
}

/* Encoder up to P: batch statistics (training) or the given global ones (inference). */
static void
encode (Net *net, Bufs *b, int mode, int n_threads)
{
  enc_run (net, b, mode, n_threads);
  TsrNnConv pc = pw_conv (net);
  tsr_nn_conv2d (&pc, b->CAT, b->P, FALSE, &b->work);
}

/* Separable Gaussian smoothing of the valid pixels (normalised by the kernel weight). */
static float *
smooth_gauss (const TsrImage *img, double sg)
{
  int W = img->width, H = img->height, r = (int) ceil (3 * sg);
  gsize npx = (gsize) W * H;
  float *kern = g_new (float, 2 * r + 1);
  for (int i = -r; i <= r; i++)
    kern[i + r] = (float) exp (-0.5 * i * i / (sg * sg));
  float *a = g_new0 (float, npx), *aw = g_new0 (float, npx), *b = g_new0 (float, npx);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        double sv = 0, sw = 0;
        for (int i = MAX (-r, -x); i <= MIN (r, W - 1 - x); i++)
          if (img->mask[(gsize) y * W + x + i])
            {
              sv += kern[i + r] * img->data[(gsize) y * W + x + i];
              sw += kern[i + r];
            }
        a[(gsize) y * W + x] = (float) sv;
        aw[(gsize) y * W + x] = (float) sw;
      }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        double sv = 0, sw = 0;
        for (int i = MAX (-r, -y); i <= MIN (r, H - 1 - y); i++)
          {
            sv += kern[i + r] * a[(gsize) (y + i) * W + x];
            sw += kern[i + r] * aw[(gsize) (y + i) * W + x];
          }
        b[(gsize) y * W + x] = sw > 0 ? (float) (sv / sw) : 0.0f;
      }
  g_free (kern);
  g_free (a);
  g_free (aw);
  return b;
}

/* Where the L1 prior acts (1) and where not (0). Sources: the mean stack smoothed by a
 * Gaussian of the median FWHM (point sources) or of 4 FWHM (faint extended emission: a
 * galaxy's outer disk is below the threshold per PSF area), above snr times the robust σ
 * of the same smoothed image, dilated by one FWHM. NULL when snr ≤ 0 (everywhere). */
static guint8 *
sky_weight_map (const TsrImage *mean, double fwhm, double snr)
{
  if (!(snr > 0))
    return NULL;
  int W = mean->width, H = mean->height;
  gsize npx = (gsize) W * H;
  guint8 *src = g_new0 (guint8, npx);
  const double scales[2] = { 1.0, 4.0 };
  gsize step = MAX ((gsize) 1, npx / 200000);
  float *tmp = g_new (float, npx / step + 1);
  for (int sc = 0; sc < 2; sc++)
    {
      float *b = smooth_gauss (mean, scales[sc] * MAX (fwhm, 1.0) / 2.3548);
      gsize m = 0;
      for (gsize k = 0; k < npx; k += step)
        if (mean->mask[k])
          tmp[m++] = b[k];
      float med = m ? tsr_median_inplace (tmp, m) : 0;
      double sd = m > 16 ? TSR_MAD_TO_SIGMA * tsr_mad_inplace (tmp, m, med) : 0;
      for (gsize k = 0; k < npx; k++)
        src[k] |= sd > 0 && b[k] - med > snr * sd;
      g_free (b);
    }
  g_free (tmp);
  /* dilate by one FWHM (square) and invert */
  int g = MAX (1, (int) ceil (fwhm));
  guint8 *h = g_new0 (guint8, npx), *w = g_new (guint8, npx);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        guint8 any = 0;
        for (int d = MAX (0, x - g); d <= MIN (W - 1, x + g) && !any; d++)
          any = src[(gsize) y * W + d];
        h[(gsize) y * W + x] = any;
      }
  for (int x = 0; x < W; x++)
    for (int y = 0; y < H; y++)
      {
        guint8 any = 0;
        for (int d = MAX (0, y - g); d <= MIN (H - 1, y + g) && !any; d++)
          any = h[(gsize) d * W + x];
        w[(gsize) y * W + x] = !any;
      }
  g_free (h);
  g_free (src);
  return w;
}

/* ---------------------------------------------------------------------------------------
 * Job
 */

static void
job_clear (Job *j)
{
  for (guint i = 0; i < j->n_frames; i++)
    {
      g_free (j->frames[i].y);
      g_free (j->frames[i].m);
      g_free (j->frames[i].sat);
      if (j->frames[i].psf)
        tsr_psf_free (j->frames[i].psf);
      for (int c = 0; c < MAX_PSF_REGIONS * MAX_PSF_REGIONS; c++)
        if (j->frames[i].rpsf[c])
          tsr_psf_free (j->frames[i].rpsf[c]);
      g_free (j->frames[i].cx);
      g_free (j->frames[i].cy);
      g_free (j->frames[i].cfw);
      g_free (j->frames[i].sx);
      g_free (j->frames[i].sy);
    }
  g_free (j->frames);
  g_free (j->used);
  g_free (j->csum);
  g_free (j->ccnt);
  g_free (j->hold_ok);
  g_free (j->msum);
  g_free (j->mcnt);
  g_mutex_clear (&j->lock);
  if (j->ref_stars)
    g_array_free (j->ref_stars, TRUE);
  g_clear_pointer (&j->ref_y, g_free);
  g_clear_pointer (&j->ref_m, g_free);
}

/* See tsr-restore.h. r_c = (S(M_c)·S(L) + λ) / (S(L)² + λ): the colour of the mean stack
 * smoothed by a Gaussian of σ, with λ the variance of S(L) on the sky, so where there is no
 * signal the ratio goes to neutral instead of following the noise; Σ_c r_c = 3 exactly.
 * Measured on M94's stars against the mean stack's aperture colours (docs/restore.md): a
 * local least-squares slope S(M_c·L)/S(L²) weighs the core (L²) and put the stars' B/G
 * +9 % off (the channels' PSFs differ); this form at σ = 1 FWHM: R/G −1.8 %, B/G +1.9 %;
 * wider windows take in the local sky's colour (σ = 2 FWHM: B/G +9 %). */
TsrImage *
tsr_restore_colour (const TsrImage *lum, const TsrImage *mean, double sigma)
{
  g_return_val_if_fail (lum && mean && lum->channels == 1 && mean->channels == 3, NULL);
  g_return_val_if_fail (lum->width == mean->width && lum->height == mean->height, NULL);
  int W = mean->width, H = mean->height;
  gsize n = (gsize) W * H;
  g_autoptr (TsrImage) q = tsr_image_new (W, H, 1);
  for (gsize k = 0; k < n; k++)
    {
      q->data[k] = (mean->data[k] + mean->data[n + k] + mean->data[2 * n + k]) / 3;
      q->mask[k] = mean->mask[k];
    }
  float *ls = smooth_gauss (q, MAX (sigma, 0.3));
  /* λ: the robust σ² of the smoothed luminance on the sky */
  g_autoptr (TsrImage) lsi = tsr_image_new (W, H, 1);
  memcpy (lsi->data, ls, sizeof (float) * n);
  memcpy (lsi->mask, mean->mask, n);
  double sl = tsr_restore_sky_sigma (lsi, 0);
  double lambda = isfinite (sl) && sl > 0 ? sl * sl : 1e-12;
  TsrImage *out = tsr_image_new (W, H, 3);
  for (int c = 0; c < 3; c++)
    {
      memcpy (q->data, mean->data + (gsize) c * n, sizeof (float) * n);
      float *cs = smooth_gauss (q, MAX (sigma, 0.3));
      float *o = out->data + (gsize) c * n;
      for (gsize k = 0; k < n; k++)
        {
          double l = ls[k];
          o[k] = (float) (lum->data[k] * ((cs[k] * l + lambda) / (l * l + lambda)));
        }
      g_free (cs);
    }
  g_free (ls);
  memcpy (out->mask, lum->mask, n);
  return out;
}

/* Colour sessions: the RGB mean stack from the chroma sums, and the result in colour
 * (tsr_restore_colour on the luminance latent; docs/restore.md). */
static void
colour_result (Job *j, TsrRestoreResult *res)
{
  int W = j->W, H = j->H;
  gsize n = (gsize) W * H;
  g_autoptr (TsrImage) mean = tsr_image_new (W, H, 3);
  for (gsize k = 0; k < n; k++)
    {
      gboolean ok = j->ccnt[k] > 0 && res->mean->mask[k];
      for (int c = 0; c < 3; c++)
        mean->data[(gsize) c * n + k] = ok ? j->csum[(gsize) c * n + k] / j->ccnt[k] : 0.0f;
      mean->mask[k] = ok;
    }
  TsrImage *out = tsr_restore_colour (res->image, mean, j->rp->chroma * MAX (res->median_fwhm, 1.0));
  res->luminance = res->image;
  res->image = out;
  tsr_image_unref (res->mean);
  res->mean = g_steal_pointer (&mean);
}

void
tsr_restore_result_free (TsrRestoreResult *r)
{
  if (!r)
    return;
  if (r->image)
    tsr_image_unref (r->image);
  if (r->mean)
    tsr_image_unref (r->mean);
  if (r->smooth)
    tsr_image_unref (r->smooth);
  if (r->luminance)
    tsr_image_unref (r->luminance);
  if (r->stats)
    g_array_free (r->stats, TRUE);
  g_free (r->frame_index);
  g_free (r->frame_scale);
  g_free (r);
}

/* the latent at sample i on the pixel grid: the sum of its S phases (restore.subpixel) */
static inline float
latent_px (const float *X, int S, gsize np, gsize i)
{
  float v = 0;
  for (int ph = 0; ph < S; ph++)
    v += X[ph * np + i];
  return v;
}

/* The encoder over the whole image in tiles of T with the halo, batch-norm statistics
 * net->run_mean / run_var, into out (mono W×H): s·ReLU(P) plus the smooth map when smooth
 * is given; out's mask is mask. The tile cores are exact (the encoder is local). FALSE when
 * cancelled (error set). The final inference and the snapshots on crops. */
static gboolean
infer_tiles (Net *net, const Job *j, Bufs *ib, int T, int halo, int n_threads, TsrImage *out, const TsrImage *smooth,
             const guint8 *mask, TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
             GError **error)
{
  int n = net->n, K = net->K, W = j->W, H = j->H;
  for (int br = 0; br < K; br++)
    for (int c = 0; c < n; c++)
      {
        ib->mean[br][c] = net->run_mean[br][c];
        ib->invstd[br][c] = (float) (1.0 / sqrt (net->run_var[br][c] + BN_EPS));
      }
  for (int ty = 0; ty < H; ty += T)
    for (int tx = 0; tx < W; tx += T)
      {
        if (g_cancellable_set_error_if_cancelled (cancellable, error))
          return FALSE;
        int cw2 = MIN (T, W - tx), ch2 = MIN (T, H - ty);
        int iw = cw2 + 2 * halo;
        bufs_tile (ib, n, K, iw, ch2 + 2 * halo);
        load_input (j, ib, tx - halo, ty - halo, 0, 0);
        encode (net, ib, ENC_GIVEN, n_threads);
        gsize tnp = (gsize) iw * (ch2 + 2 * halo);
        for (int yy = 0; yy < ch2; yy++)
          for (int xx = 0; xx < cw2; xx++)
            {
              /* restore.subpixel: the phases' sum on the pixel grid (flux-conserving) */
              float v = 0;
              for (int ph = 0; ph < net->S; ph++)
                {
                  float p = ib->P->data[ph * tnp + (gsize) (yy + halo) * iw + xx + halo];
                  v += p > 0 ? net->x_scale * p : 0.0f;
                }
              gsize k = (gsize) (ty + yy) * W + tx + xx;
              out->data[k] = v + (smooth ? smooth->data[k] : 0.0f);
              out->mask[k] = mask[k];
            }
        if (progress)
          progress (_("Restoring"), (guint) (ty + ch2), (guint) H, progress_data);
      }
  return TRUE;
}

/* The normalised residual (model − y)/σ of frame f's sample k at (x, y), for decoded latent v
 * (PSF ⊗ latent + colour term, before the frame's scale) and the learned background tilt bk.
 * restore.gain: σ² = rms² + max(y − b, 0)/gain is read off the noisy sample itself, so upward
 * fluctuations weigh less and the fit sits low: for a weight 1/σ²(y), E[(y − μ)/σ²(y)] ≈ −σ²′
 * (the variance's slope in y, 1/gain where y > b). The first-order correction (Mighell's χ²γ
 * for Poisson counts) moves the sample up by that slope: y + 1/gain where y > b. On the sparse
 * session the sky round the stars rose by ~0.4 e (docs/restore.md, round 9); varfix FALSE
 * (TSR_RESTORE_VARFIX=0, measurement runs) leaves it out. */
static inline double
frame_residual (const RFrame *f, int W, int H, int x, int y, gsize k, double v, const float *bk, double gain,
                gboolean varfix, double *sig_out, double *ux_out, double *uy_out)
{
  double bg = plane_at (f->plane, x, y);
  double ux = 2.0 * x / MAX (W - 1, 1) - 1, uy = 2.0 * y / MAX (H - 1, 1) - 1;
  if (ux_out)
    *ux_out = ux, *uy_out = uy;
  double model = f->scale * v + bg + f->rms * (bk[0] + bk[1] * ux + bk[2] * uy);
  double sig = f->rms, shift = 0;
  if (gain > 0)
    {
      sig = sqrt (f->rms * f->rms + MAX (f->y[k] - bg, 0) / gain);
      if (varfix && f->y[k] > bg)
        shift = 1.0 / gain;
    }
  if (sig_out)
    *sig_out = sig;
  return (model - f->y[k] - shift) / sig;
}

/* The smooth map (restore.diffuse) over the whole image, in ADU of the reference frame. */
static void
smooth_image (const Net *net, TsrImage *out, const guint8 *mask)
{
  for (int y = 0; y < out->height; y++)
    for (int x = 0; x < out->width; x++)
      {
        gsize k = (gsize) y * out->width + x;
        out->data[k] = net->out_scale * diffuse_at (net, x, y, NULL, NULL);
        out->mask[k] = mask[k];
      }
}

TsrRestoreResult *
tsr_restore_run (TsrSession *s, const TsrRestoreParams *rp, const TsrTbqrParams *tp, const TsrRunParams *run,
                 TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable, GError **error)
{
  return tsr_restore_run_full (s, rp, tp, run, NULL, NULL, 0, progress, progress_data, cancellable, error);
}

TsrRestoreResult *
tsr_restore_run_full (TsrSession *s, const TsrRestoreParams *rp, const TsrTbqrParams *tp, const TsrRunParams *run,
                      TsrRestoreSnapshotFunc snapshot, gpointer snapshot_data, double snapshot_seconds,
                      TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (s != NULL && rp != NULL && tp != NULL && run != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!tsr_restore_params_validate (rp, error))
    return NULL;
  /* the network's products run in our own threads (frame ranges, tiles): OpenBLAS's pool
   * inside each small product only spun — its waiting thread took a core in sched_yield for
   * the whole training (M94: 17.6 of 58.8 s CPU, 13 s of it system time) */
  tsr_nn_blas_single_thread ();
  gint64 t0 = g_get_monotonic_time ();
  Job job = { 0 };
  Job *j = &job;
  j->rp = rp;
  j->tp = tp;
  j->s = s;
  j->W = s->width;
  j->H = s->height;
  j->n_frames = tsr_session_n_frames (s);
  j->frames = g_new0 (RFrame, j->n_frames);
  g_mutex_init (&j->lock);
  gsize budget = MIN ((gsize) (rp->memory_mb * (double) MIB), tsr_run_memory_budget (run));
  /* the calibration masters the session holds for the whole run (calib/) come out of it first */
  gsize held = tsr_session_filter_bytes (s);
  budget = budget > held ? budget - held : 0;
  gsize per_frame = (gsize) j->W * j->H * (sizeof (float) + 1);
  /* frames kept + the registration's own working set (a few frames) */
  if (per_frame * (j->n_frames + 4) > budget)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("restore: %u frames of %d×%d need about %.0f MiB in memory but the budget is %.0f MiB; raise "
                     "restore.memory_mb and run.memory_mb, or restore fewer frames"),
                   j->n_frames, j->W, j->H, (double) per_frame * (j->n_frames + 4) / MIB, (double) budget / MIB);
      job_clear (j);
      return NULL;
    }

  /* 1. registration + staging */
  TsrRegisterParams regp = tp->reg;
  regp.n_threads = run->n_threads;
  /* the full background mesh for the detections, as deconv/ keeps it: the photometric scales,
   * the PSF stamps and the frame gate come from these stars. With main's stars.bg_decimate
   * (a quarter of the mesh's samples) the sparse session kept 11 of 12 frames, another
   * reference, and its restored faint stars fell to 3 / 11 against the mean stack's 6 / 11
   * (docs/restore.md round 12) */
  regp.stars.bg_decimate = FALSE;
  regp.memory_budget = budget - per_frame * j->n_frames;
  g_autoptr (TsrRegistration) reg = tsr_register_session_with_hooks (s, &regp, reference_hook, stage_hook, j, progress,
                                                                     progress_data, cancellable, error);
  if (!reg)
    {
      job_clear (j);
      return NULL;
    }
  j->used = g_new (guint, j->n_frames);
  for (guint i = 0; i < j->n_frames; i++)
    if (j->frames[i].staged && reg->frames[i].gate == 0)
      j->used[j->nu++] = i;
    else if (j->frames[i].coloured)
      {
        /* the gate (decided over all frames after the pass) dropped a frame whose channels
         * are in the chroma sums: read and warp it again and take it out */
        const TsrFrameInfo *fi = tsr_session_frame (s, i);
        g_autoptr (TsrImage) img = tsr_session_read_frame (s, i, error);
        g_autoptr (TsrImage) wp = img ? frame_warped (j, img, &reg->frames[i].transform, fi->path, error) : NULL;
        if (!wp)
          {
            job_clear (j);
            return NULL;
          }
        colour_accumulate (j, &j->frames[i], wp, j->frames[i].m, -1);
      }
  if (j->nu == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID,
                   _("No frame of the session could be registered and passed the validity gate; nothing to restore"));
      job_clear (j);
      return NULL;
    }
  if (j->nu > 1024)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("restore: %u frames; at most 1024 can be restored at once"),
                   j->nu);
      job_clear (j);
      return NULL;
    }
  /* the reference frame's units: the photometric scales are relative to it */
  int W = j->W, H = j->H, n = (int) j->nu, K = rp->branches;
  int n_threads = (int) (run->n_threads ? run->n_threads : g_get_num_processors ());
  TsrRestoreResult *res = g_new0 (TsrRestoreResult, 1);
  res->n_frames = j->nu;
  res->reference = reg->reference;
  res->frame_index = g_new (guint, n);
  res->frame_scale = g_new (double, n);
  for (int u = 0; u < n; u++)
    {
      res->frame_index[u] = j->used[u];
      res->frame_scale[u] = j->frames[j->used[u]].scale;
    }
  for (int u = 0; u < n; u++)
    res->n_saturated += j->frames[j->used[u]].n_sat;
  res->memory_budget = budget;
  /* restore.psf_regions: the cells without a PSF of their own from the field model */
  res->psf_field[0] = res->psf_field[1] = res->psf_field[2] = 0;
  field_model_fill (j, rp->psf_regions, res->psf_field, &res->n_field_stars);
  int rf = 0;
  {
    float *fw = g_new (float, n);
    double rms_sum = 0;
    for (int u = 0; u < n; u++)
      {
        const RFrame *f = &j->frames[j->used[u]];
        fw[u] = (float) f->fwhm;
        rf = MAX (rf, f->psf->radius);
        for (int c = 0; c < MAX_PSF_REGIONS * MAX_PSF_REGIONS; c++)
          if (f->rpsf[c])
            {
              rf = MAX (rf, f->rpsf[c]->radius);
              res->n_region_psfs += f->rpsf_stars[c] > 0;
            }
        res->n_psf_stars += f->psf->from_stars;
        rms_sum += f->rms / f->scale;
      }
    res->median_fwhm = tsr_median_inplace (fw, n);
    g_free (fw);
    (void) rms_sum;
  }
  res->psf_radius = rf;

  /* mean stack of the same frames (background-subtracted, scaled) */
  res->mean = tsr_image_new (W, H, 1);
  j->msum = g_new (float, (gsize) W * H);
  j->mcnt = g_new (guint16, (gsize) W * H);
  for (gsize k = 0; k < (gsize) W * H; k++)
    {
      double sum = 0;
      int m = 0;
      int x = (int) (k % W), y = (int) (k / W);
      for (int u = 0; u < n; u++)
        {
          const RFrame *f = &j->frames[j->used[u]];
          if (!f->m[k])
            continue;
          sum += (f->y[k] - plane_at (f->plane, x, y)) / f->scale;
          m++;
        }
      res->mean->data[k] = m ? (float) (sum / m) : 0.0f;
      res->mean->mask[k] = m > 0;
      j->msum[k] = (float) sum;
      j->mcnt[k] = (guint16) m;
    }
  /* the reference's luminance served the photometric scales only */
  g_clear_pointer (&j->ref_y, g_free);
  g_clear_pointer (&j->ref_m, g_free);
  res->seconds_stage = (g_get_monotonic_time () - t0) / 1e6;

  /* 2. training */
  gint64 t1 = g_get_monotonic_time ();
  int ow = MIN (rp->crop, W), oh = MIN (rp->crop, H);
  int lw = ow + 2 * rf, lh = oh + 2 * rf;
  res->crop_w = ow;
  res->crop_h = oh;
  gsize step_bytes = (gsize) (2 * K + 4) * n * lw * lh * sizeof (float) + (gsize) (n + 8) * lw * lh * 8 * 2;
  /* restore.psf_regions = g > 1: g² kernel spectra per frame and g² latent and adjoint spectra
   * (complex on half the grid: ~4 bytes per latent sample each) and the g² weight planes
   * (bench, 40 frames, crop 192: peak RSS +85 MiB at g = 3, this term 79 MiB) */
  if (rp->psf_regions > 1)
    step_bytes += (gsize) rp->psf_regions * rp->psf_regions * lw * lh * ((gsize) (n + 2) * 4 + 4);
  /* restore.subpixel = s > 1: s² phases — (s² − 1) more pointwise outputs, their gradients, the
   * latent and its adjoint (4 planes of 4 bytes), and s² − 1 more kernel spectra per frame and
   * cell with their latent and adjoint spectra ((n + 2) · 4 bytes per latent sample, as above) */
  if (rp->subpixel > 1)
    {
      gsize sp = (gsize) rp->subpixel * rp->subpixel, cells = (gsize) rp->psf_regions * rp->psf_regions;
      step_bytes += (sp - 1) * lw * lh * 4 * sizeof (float) + (sp - 1) * cells * lw * lh * ((gsize) (n + 2) * 4);
    }
  /* + the tile buffers of the batch-norm statistics and the inference (Z, R×K, CAT: 2K + 1
   * planes per frame of (256 + 2 halo)², halo ≤ 4 FWHM + 1), the held-out fill's sum and count
   * (6 bytes per px), the L1 prior's sky map and the
   * smooth map's image (restore.diffuse: W·H·5) with its crop buffers (12 bytes per crop px) */
  gsize tile_side = (gsize) MIN (256, MAX (W, H)) + 2 * (gsize) MAX (8, ceil (4.0 * res->median_fwhm) + 1);
  /* colour: the chroma sums (14 bytes per px) and, at the end, the mean stack's channels, their
   * products, two smoothed planes and the RGB result (40 bytes per px) */
  res->memory_estimate = per_frame * j->n_frames + step_bytes + (gsize) W * H * (rp->diffuse > 0 ? 20 : 15)
                         + (j->csum ? (gsize) W * H * 54 : 0)
                         + (rp->diffuse > 0 ? (gsize) ow * oh * 12 : 0)
                         + ((gsize) (2 * K + 2) * n + (gsize) rp->subpixel * rp->subpixel - 1) * tile_side * tile_side
                           * sizeof (float)
                         /* snapshots: the latent and the smooth map's image (5 bytes per px each) */
                         + (snapshot ? (gsize) W * H * 10 : 0)
                         /* restore.blind: the logits' Adam state (4 floats per PSF sample) and
                          * the PSF gradient's spectrum and grid */
                         + (rp->blind ? (gsize) n * (2 * rf + 1) * (2 * rf + 1) * 4 * sizeof (float)
                                          + (gsize) lw * lh * 3 * sizeof (float) : 0);
  if (res->memory_estimate > budget)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("restore: training crops of %d px with %u frames need %.0f MiB but the budget is %.0f MiB; lower "
                     "restore.crop or raise restore.memory_mb"),
                   ow, j->nu, (double) res->memory_estimate / MIB, (double) budget / MIB);
      tsr_restore_result_free (res);
      job_clear (j);
      return NULL;
    }
  GRand *rng = g_rand_new_with_seed ((guint32) rp->seed);
  /* the latent in units of the median frame noise: the network works near unit scale */
  double med_rms;
  {
    float *r = g_new (float, n);
    for (int u = 0; u < n; u++)
      r[u] = (float) (j->frames[j->used[u]].rms / j->frames[j->used[u]].scale);
    med_rms = tsr_median_inplace (r, n);
    g_free (r);
  }
  Net net;
  const int SP = rp->subpixel * rp->subpixel;   /* latent phases */
  net_init (&net, n, K, SP, (float) med_rms, rp->background, W, H, rp->diffuse * res->median_fwhm, rng);
  double *f_rms = g_new (double, n), *f_scale = g_new (double, n);
  for (int u = 0; u < n; u++)
    {
      f_rms[u] = j->frames[j->used[u]].rms;
      f_scale[u] = j->frames[j->used[u]].scale;
    }
  /* restore.blind: each frame's PSF a softmax of learnable logits, from the measured one */
  TsrPsf **bpsf = NULL;
  gsize *psf_off = NULL;
  if (rp->blind)
    {
      bpsf = g_new0 (TsrPsf *, n);
      psf_off = g_new (gsize, n + 1);
      psf_off[0] = 0;
      for (int u = 0; u < n; u++)
        {
          const TsrPsf *pm = j->frames[j->used[u]].psf;
          psf_off[u + 1] = psf_off[u] + (gsize) pm->size * pm->size;
        }
      tsr_nn_param_init (&net.psfq, psf_off[n]);
      for (int u = 0; u < n; u++)
        {
          bpsf[u] = tsr_psf_copy (j->frames[j->used[u]].psf);
          psf_logits_init (bpsf[u], net.psfq.value + psf_off[u]);
          psf_softmax (net.psfq.value + psf_off[u], bpsf[u]->size * bpsf[u]->size, bpsf[u]->data);
        }
      net.all[net.n_all++] = &net.psfq;
      float *fw = g_new (float, n);
      for (int u = 0; u < n; u++)
        fw[u] = (float) tsr_psf_measure_fwhm (bpsf[u]);
      res->psf_fwhm_given = tsr_median_inplace (fw, n);
      g_free (fw);
    }
  res->n_params = net_n_scalars (&net);
  float *best = g_new (float, res->n_params + (gsize) 2 * K * n);
  net_snapshot (&net, best);
  TsrNnAdam adam, adam_psf;
  tsr_nn_adam_init (&adam, rp->lr, rp->decay, (guint) rp->decay_steps);
  tsr_nn_adam_init (&adam_psf, rp->lr * rp->blind_lr, rp->decay, (guint) rp->decay_steps);
  Bufs b;
  bufs_init (&b, n, K, SP, lw, lh, TRUE);
  /* tiles of the whole-image batch-norm statistics and of the inference: a halo of at least
   * the encoder's radius and 2 PSF widths (FWHM) */
  int halo = MAX (branch_k[K - 1] / 2, (int) ceil (2.0 * 2.0 * res->median_fwhm));
  int T = MIN (256, MAX (W, H));
  Bufs ib;
  bufs_init (&ib, n, K, SP, MIN (T, W) + 2 * halo, MIN (T, H) + 2 * halo, FALSE);
  TsrConvPlan *plan = tsr_conv_plan_new (lw, lh, rf, 1);
  TsrConvWork *cw = tsr_conv_work_new (plan);
  /* the frames' kernel spectra: KR per frame (restore.psf_regions: the cells', row-major; each
   * with restore.subpixel's SP phases, kernel c · SP + φ the cell's PSF centred at phase φ) */
  const int PG = j->frames[j->used[0]].rpsf[0] ? rp->psf_regions : 1, KR = PG * PG * SP;
  float **kspec = g_new (float *, (gsize) n * KR);
  {
    TsrPsf **kp = g_new (TsrPsf *, KR);
    for (int u = 0; u < n; u++)
      {
        const RFrame *f = &j->frames[j->used[u]];
        const TsrPsf *const one[1] = { f->psf };
        phase_kernels (PG > 1 ? (const TsrPsf *const *) f->rpsf : one, PG, rp->subpixel, kp);
        for (int k = 0; k < KR; k++)
          {
            kspec[u * KR + k] = tsr_conv_spectrum_new (plan);
            tsr_conv_kernel_spectrum (cw, kp[k], kspec[u * KR + k]);
            tsr_psf_free (kp[k]);
          }
      }
    g_free (kp);
  }
  FieldDec fd;
  field_init (&fd, plan, PG, SP, lw, lh);
  const gsize lnp = (gsize) lw * lh;   /* latent samples per phase */
  float *X = g_new (float, lnp * SP), *dX = g_new (float, lnp * SP);
  int pnw, pnh;
  tsr_conv_plan_size (plan, &pnw, &pnh);
  float *pacc = bpsf ? tsr_conv_spectrum_new (plan) : NULL, *pgrid = bpsf ? g_new (float, (gsize) pnw * pnh) : NULL;
  float *Xs = fd.xs[0];   /* restore.blind (PG = 1): the latent's spectrum */
  float *yh = g_new (float, (gsize) ow * oh), *G = g_new (float, (gsize) ow * oh);
  /* the smooth map on the crop (ADU of the reference frame) and Σ_t ∂L/∂(its value) */
  float *Cq = g_new0 (float, (gsize) ow * oh);
  double *Gc = g_new (double, (gsize) ow * oh);
  guint8 *l1w = rp->sparsity > 0 ? sky_weight_map (res->mean, res->median_fwhm, rp->sparsity_snr) : NULL;
  /* training on random crops: the held-out pixels are hidden from the encoder's input only on
   * the sky (they stay out of the loss everywhere). Hidden in star cores too, the encoder
   * learnt to fill the holes and the stars read 10 % bright at inference with the running
   * statistics (sparse session, crop 192: 1.103 → 1.011; docs/restore.md). Trained on the
   * whole image they are hidden everywhere as before: there the batch-norm statistics of
   * the unthinned image are taken at the end, and hiding only on sky cut the crowded
   * field's star flux (1.010 → 0.937 against the sharp truth). */
  if (ow < W || oh < H)
    j->hold_ok = sky_weight_map (res->mean, res->median_fwhm, 2.0);
  res->stats = g_array_new (FALSE, FALSE, sizeof (TsrRestoreStepStats));
  gboolean whole = ow == W && oh == H;
  double frac = rp->holdout, smooth = NAN, best_h = INFINITY;
  guint64 hseed = (guint64) rp->seed * 7919u + 17u;
  gboolean use_heldout = rp->stop == TSR_RESTORE_STOP_HELDOUT;
  gboolean sat_exclude = g_strcmp0 (g_getenv ("TSR_RESTORE_SATMODE"), "exclude") == 0;
  gboolean varfix = !g_getenv ("TSR_RESTORE_VARFIX") || atoi (g_getenv ("TSR_RESTORE_VARFIX")) != 0;
  double alpha = whole ? 1.0 : 0.05;
  guint best_step = 0;
  gboolean ok = TRUE;
  res->stop = use_heldout ? "max-steps" : "fixed";
  int steps = rp->max_steps;
  double *best_hist = g_new (double, (gsize) steps + 1);   /* held-out minimum after each step */
  TsrImage *snap_img = NULL, *snap_smooth = NULL;
  gint64 t_snap = g_get_monotonic_time ();
  double snap_cost = 0;
  for (int step = 1; step <= steps; step++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          ok = FALSE;
          break;
        }
      /* the crop: observed core (qx0, qy0) … + ow, oh; latent from qx0 − rf */
      int qx0 = whole ? 0 : g_rand_int_range (rng, 0, W - ow + 1);
      int qy0 = whole ? 0 : g_rand_int_range (rng, 0, H - oh + 1);
      /* the batch-norm statistics: the whole image's (unthinned input, image pixels), as
       * inference uses them, refreshed every BN_REFRESH steps — on crops from ≤ 6 tiles, on
       * the whole image from all of it. Batch statistics in training (the paper) are over
       * the padded latent, whose zeros outside the image are 20–30 % of a small image, and
       * the result then was a different function of the data than the one the loss
       * fitted (docs/restore.md, round 6). */
      if ((step - 1) % BN_REFRESH == 0)
        bn_global_stats (&net, j, &ib, T, halo, whole ? 0 : 6, n_threads);
      load_input (j, &b, qx0 - rf, qy0 - rf, frac, hseed);
      encode (&net, &b, ENC_RUNNING, n_threads);
      if (bpsf)
        for (int u = 0; u < n; u++)
          {
            psf_softmax (net.psfq.value + psf_off[u], bpsf[u]->size * bpsf[u]->size, bpsf[u]->data);
            tsr_conv_kernel_spectrum (cw, bpsf[u], kspec[u]);
          }
      const float s = net.out_scale, xsc = net.x_scale;
      for (gsize i = 0; i < lnp * SP; i++)
        X[i] = b.P->data[i] > 0 ? xsc * b.P->data[i] : 0.0f;
      field_weights (&fd, W, H, qx0 - rf, qy0 - rf);
      field_spectra (&fd, cw, X);
      field_adjoint_zero (&fd, plan);
      for (guint i = 0; i < net.n_all; i++)
        tsr_nn_param_zero_grad (net.all[i]);
      double tl = 0, hl = 0;
      guint64 tn = 0, hn = 0;
      if (net.gx > 0)
        for (int yy = 0; yy < oh; yy++)
          for (int xx = 0; xx < ow; xx++)
            Cq[(gsize) yy * ow + xx] = s * diffuse_at (&net, qx0 + xx, qy0 + yy, NULL, NULL);
      memset (Gc, 0, sizeof (double) * ow * oh);
      /* first pass counts the training pixels so the gradient is of the mean loss */
      for (int u = 0; u < n; u++)
        {
          const RFrame *f = &j->frames[j->used[u]];
          field_forward (&fd, cw, kspec + (gsize) u * KR, yh);
          const float *bk = net.bkg.value + 3 * u;
          float *gb = net.bkg.grad + 3 * u;
          double g0 = 0, g1 = 0, g2 = 0;
          for (int yy = 0; yy < oh; yy++)
            for (int xx = 0; xx < ow; xx++)
              {
                int x = qx0 + xx, y = qy0 + yy;
                gsize k = (gsize) y * W + x, q = (gsize) yy * ow + xx;
                G[q] = 0;
                gboolean cens = f->sat && f->sat[k];
                if (!f->m[k] || (cens && sat_exclude))
                  continue;
                double sig, ux, uy;
                double r = frame_residual (f, W, H, x, y, k, yh[q] + Cq[q], bk, rp->gain, varfix, &sig, &ux, &uy);
                /* a saturated sample is a lower bound (censored): the model above it agrees */
                if (cens && r >= 0)
                  continue;
                if (frac > 0 && held_out (hseed, (guint) u, k, frac))
                  {
                    hl += huber (r, rp->delta);
                    hn++;
                    continue;
                  }
                tl += huber (r, rp->delta);
                tn++;
                double psi = CLAMP (r, -rp->delta, rp->delta) / sig;   /* ∂H/∂model */
                G[q] = (float) (psi * f->scale);
                Gc[q] += psi * f->scale;
                double gbk = psi * f->rms;
                g0 += gbk;
                g1 += gbk * ux;
                g2 += gbk * uy;
              }
          gb[0] += (float) g0;
          gb[1] += (float) g1;
          gb[2] += (float) g2;
          field_adjoint_accumulate (&fd, cw, kspec + (gsize) u * KR, G);
          if (bpsf)
            psf_logit_grad (cw, plan, Xs, G, lw, lh, bpsf[u], 1.0, pacc, pgrid, net.psfq.grad + psf_off[u]);
        }
      double inv_n = tn ? 1.0 / (double) tn : 0;
      if (bpsf)
        for (gsize i = 0; i < psf_off[n]; i++)
          net.psfq.grad[i] *= (float) inv_n;
      field_adjoint_finish (&fd, cw, dX);
      for (int i = 0; i < 3 * n; i++)
        net.bkg.grad[i] *= (float) inv_n;
      if (net.gx > 0)
        for (int yy = 0; yy < oh; yy++)
          for (int xx = 0; xx < ow; xx++)
            {
              double g = Gc[(gsize) yy * ow + xx];
              if (g == 0)
                continue;
              int ni[16];
              float nw[16];
              diffuse_at (&net, qx0 + xx, qy0 + yy, ni, nw);
              for (int c = 0; c < 16; c++)
                net.diff.grad[ni[c]] += (float) (g * s * inv_n * nw[c]);
            }
      /* back through x = s·ReLU(P); the L1 prior λ · mean(x / σ_med) = λ · mean(ReLU(P))
       * adds λ / (latent pixels) where P > 0 */
      double l1 = 0, l1g = rp->sparsity / ((double) lw * lh) * (xsc != s ? (double) xsc / s : 1.0);
      /* restore.subpixel: over every phase's sample (x ≥ 0, so the phases' L1 is the pixel sum's) */
      for (gsize i = 0; i < lnp * SP; i++)
        if (b.P->data[i] > 0)
          {
            /* restore.sparsity_snr: on sky pixels only (outside the image: sky) */
            int x = qx0 - rf + (int) (i % lnp % lw), y = qy0 - rf + (int) (i % lnp / lw);
            gboolean on = !l1w || x < 0 || y < 0 || x >= W || y >= H || l1w[(gsize) y * W + x];
            if (on)
              l1 += b.P->data[i];
            b.dP->data[i] = (float) (dX[i] * xsc * inv_n + (on ? l1g : 0));
          }
        else
          b.dP->data[i] = 0.0f;
      l1 *= l1g;
      TsrNnConv pc = pw_conv (&net);
      tsr_nn_conv2d_backward (&pc, b.CAT, b.dP, b.dCAT, net.pw_w.grad, net.pw_b.grad);
      enc_run (&net, &b, ENC_RUNNING_BACK, n_threads);
      TsrRestoreStepStats st = { (guint) step, (tn ? tl / tn : 0) + l1, 0, tsr_nn_adam_lr (&adam) };
      /* held-out loss of the weights that made this forward pass */
      double h = hn ? hl / hn : 0;
      smooth = isnan (smooth) ? h : (1 - alpha) * smooth + alpha * h;
      st.heldout_loss = smooth;
      g_array_append_val (res->stats, st);
      if (!use_heldout || smooth < best_h)
        {
          best_h = MIN (best_h, smooth);
          best_step = (guint) step - 1;   /* weights before this step's update */
          net_snapshot (&net, best);
        }
      best_hist[step] = best_h;
      /* a snapshot of the current latent for a window (tsr_restore_run_full) */
      if (snapshot && (step == SNAPSHOT_FIRST
                       || (g_get_monotonic_time () - t_snap) / 1e6 >= MAX (snapshot_seconds, 9.0 * snap_cost)))
        {
          gint64 ts = g_get_monotonic_time ();
          if (!snap_img)
            snap_img = tsr_image_new (W, H, 1);
          gboolean made = TRUE;
          if (whole)
            /* this step's forward pass: the latent is X's core plus the smooth map Cq */
            for (int y = 0; y < H; y++)
              for (int x = 0; x < W; x++)
                {
                  gsize k = (gsize) y * W + x;
                  snap_img->data[k] = latent_px (X, SP, lnp, (gsize) (y + rf) * lw + x + rf) + Cq[k];
                  snap_img->mask[k] = res->mean->mask[k];
                }
          else
            {
              if (net.gx > 0)
                {
                  if (!snap_smooth)
                    snap_smooth = tsr_image_new (W, H, 1);
                  smooth_image (&net, snap_smooth, res->mean->mask);
                }
              made = infer_tiles (&net, j, &ib, T, halo, n_threads, snap_img, net.gx > 0 ? snap_smooth : NULL,
                                  res->mean->mask, NULL, NULL, cancellable, NULL);
            }
          if (made)
            {
              TsrRestoreSnapshot sn = { snap_img, res->mean, (guint) step, (guint) steps, smooth };
              snapshot (&sn, snapshot_data);
              res->n_snapshots++;
            }
          t_snap = g_get_monotonic_time ();
          snap_cost = (t_snap - ts) / 1e6;
          res->seconds_snapshot += snap_cost;
        }
      if (use_heldout && step >= rp->min_steps && (guint) step - best_step > (guint) rp->patience)
        {
          res->stop = "heldout-minimum";
          break;
        }
      /* plateau: the minimum fell by less than min_delta (relative) over the last patience
       * steps — the deep image prior approaches its minimum so slowly on a small network
       * that a strict minimum may lie far beyond any useful step count (docs/restore.md) */
      if (use_heldout && rp->min_delta > 0 && step >= rp->min_steps && step > rp->patience
          && best_hist[step - rp->patience] - best_h < rp->min_delta * best_hist[step - rp->patience])
        {
          res->stop = "heldout-plateau";
          break;
        }
      /* the PSF logits (restore.blind, last in net.all) have their own Adam: frozen for the
       * first restore.min_steps steps, then at restore.blind_lr × the network's rate. A deep
       * image prior fits the low frequencies first: learnt from the start at the network's
       * rate, the PSFs shrank towards a delta under the still blurry latent (20 % too wide
       * given: FWHM 4.2 → 1.0–3.4 px, S_F −0.1 %; docs/restore.md round 8). */
      tsr_nn_adam_step (&adam, net.all, net.n_all - (bpsf ? 1 : 0));
      if (bpsf && step > rp->min_steps)
        {
          TsrNnParam *pq[1] = { &net.psfq };
          tsr_nn_adam_step (&adam_psf, pq, 1);
        }
      if (rp->background)
        diffuse_pin (&net, f_rms, f_scale, W, H);
      res->steps = (guint) step;
      if (progress && (step % 10 == 0 || step == steps))
        progress (_("Training"), (guint) step, (guint) steps, progress_data);
    }
  if (!use_heldout)
    {
      best_step = res->steps;
      net_snapshot (&net, best);
    }
  g_free (best_hist);
  g_clear_pointer (&snap_img, tsr_image_unref);
  g_clear_pointer (&snap_smooth, tsr_image_unref);
  if (l1w && g_getenv ("TSR_RESTORE_DUMP"))
    {
      /* measurement runs: the L1 prior's sky map (1 = penalised) */
      g_autoptr (TsrImage) lm = tsr_image_new (W, H, 1);
      for (gsize k = 0; k < (gsize) W * H; k++)
        {
          lm->data[k] = l1w[k];
          lm->mask[k] = 1;
        }
      g_autofree char *pl = g_build_filename (g_getenv ("TSR_RESTORE_DUMP"), "l1sky.fits", NULL);
      tsr_fits_write (pl, lm, NULL, NULL);
    }
  g_free (l1w);
  res->best_step = best_step;
  net_restore (&net, best);
  g_free (best);
  if (bpsf)
    {
      /* the kept step's PSFs (the dump below convolves with them) */
      float *fw = g_new (float, n);
      for (int u = 0; u < n; u++)
        {
          psf_softmax (net.psfq.value + psf_off[u], bpsf[u]->size * bpsf[u]->size, bpsf[u]->data);
          tsr_conv_kernel_spectrum (cw, bpsf[u], kspec[u]);
          fw[u] = (float) tsr_psf_measure_fwhm (bpsf[u]);
          if (g_getenv ("TSR_RESTORE_DIAG"))
            g_printerr ("restore diag: blind PSF of frame %u: FWHM %.3f → %.3f px\n", j->used[u],
                        tsr_psf_measure_fwhm (j->frames[j->used[u]].psf), fw[u]);
        }
      res->psf_fwhm_learnt = tsr_median_inplace (fw, n);
      g_free (fw);
    }
  if (ok && whole && g_getenv ("TSR_RESTORE_DUMP"))
    {
      /* measurement runs (docs/restore.md round 6): the kept weights' training forward pass
       * (held-out pixels filled) and the mean over frames of the data minus the model and of
       * the model, ÷ the scale; xgiven: the input without held-out pixels */
      const char *dd = g_getenv ("TSR_RESTORE_DUMP");
      load_input (j, &b, -rf, -rf, frac, hseed);
      encode (&net, &b, ENC_RUNNING, n_threads);
      const float s = net.out_scale, xsc = net.x_scale;
      g_autoptr (TsrImage) xt = tsr_image_new (W, H, 1), rs = tsr_image_new (W, H, 1), md = tsr_image_new (W, H, 1);
      for (gsize i = 0; i < lnp * SP; i++)
        X[i] = b.P->data[i] > 0 ? xsc * b.P->data[i] : 0.0f;
      field_weights (&fd, W, H, -rf, -rf);
      field_spectra (&fd, cw, X);
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            gsize k = (gsize) y * W + x;
            Cq[k] = net.gx > 0 ? s * diffuse_at (&net, x, y, NULL, NULL) : 0;
            xt->data[k] = latent_px (X, SP, lnp, (gsize) (y + rf) * lw + x + rf) + Cq[k];
            xt->mask[k] = rs->mask[k] = md->mask[k] = 1;
          }
      for (int u = 0; u < n; u++)
        {
          const RFrame *f = &j->frames[j->used[u]];
          field_forward (&fd, cw, kspec + (gsize) u * KR, yh);
          const float *bk = net.bkg.value + 3 * u;
          for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
              {
                gsize k = (gsize) y * W + x;
                double bg = plane_at (f->plane, x, y);
                double ux = 2.0 * x / MAX (W - 1, 1) - 1, uy = 2.0 * y / MAX (H - 1, 1) - 1;
                double model = f->scale * (yh[k] + Cq[k]) + bg + f->rms * (bk[0] + bk[1] * ux + bk[2] * uy);
                if (f->m[k])
                  {
                    rs->data[k] += (float) ((f->y[k] - model) / f->scale / n);
                    md->data[k] += (float) ((model - bg) / f->scale / n);
                  }
              }
        }
      /* measurement runs (docs/restore.md round 12): TSR_RESTORE_DIAG_STARS="x,y;x,y;…"
       * (reference pixels): is each star's latent flux at the loss's optimum? The star's
       * latent (within 2 median FWHM) scaled by α, everything else as trained; the training
       * loss over the pixels near the star minimised over α (golden section) */
      const char *dstars = g_getenv ("TSR_RESTORE_DIAG_STARS");
      if (dstars)
        {
          gsize np = (gsize) W * H;
          float *Yf = g_new (float, (gsize) n * np), *Ms = g_new (float, (gsize) n * np);
          float *Xs = g_new (float, lnp * SP);
          field_spectra (&fd, cw, X);
          for (int u = 0; u < n; u++)
            field_forward (&fd, cw, kspec + (gsize) u * KR, Yf + (gsize) u * np);
          g_auto (GStrv) sv = g_strsplit (dstars, ";", -1);
          double Rs = 2 * res->median_fwhm, Rb = Rs + rf;
          for (guint si = 0; sv[si]; si++)
            {
              char *endp;
              double sx = g_ascii_strtod (sv[si], &endp), sy;
              if (*endp != ',')
                continue;
              sy = g_ascii_strtod (endp + 1, NULL);
              double xsum = 0;
              for (int y = 0; y < lh; y++)
                for (int x = 0; x < lw; x++)
                  for (int ph = 0; ph < SP; ph++)
                    {
                      gsize i = ph * lnp + (gsize) y * lw + x;
                      gboolean in = hypot (x - rf - sx, y - rf - sy) <= Rs;
                      Xs[i] = in ? X[i] : 0.0f;
                      xsum += Xs[i];
                    }
              field_spectra (&fd, cw, Xs);
              for (int u = 0; u < n; u++)
                field_forward (&fd, cw, kspec + (gsize) u * KR, Ms + (gsize) u * np);
              double lo = 0.7, hi = 1.3, gr = (sqrt (5) - 1) / 2, best_a = 1;
              double la[2] = { 0 }, l1v = 0;
              for (int it = 0; it < 60; it++)
                {
                  double a[2] = { hi - gr * (hi - lo), lo + gr * (hi - lo) };
                  for (int e2 = 0; e2 < 2 + (it == 59); e2++)
                    {
                      double al = e2 < 2 ? a[e2] : 1.0, L = 0;
                      for (int u = 0; u < n; u++)
                        {
                          const RFrame *f = &j->frames[j->used[u]];
                          const float *bk = net.bkg.value + 3 * u;
                          for (int y = MAX (0, (int) floor (sy - Rb)); y <= MIN (H - 1, (int) ceil (sy + Rb)); y++)
                            for (int x = MAX (0, (int) floor (sx - Rb)); x <= MIN (W - 1, (int) ceil (sx + Rb)); x++)
                              {
                                gsize k = (gsize) y * W + x;
                                gboolean cens = f->sat && f->sat[k];
                                if (!f->m[k] || (cens && sat_exclude) || (frac > 0 && held_out (hseed, (guint) u, k, frac)))
                                  continue;
                                double yv = Yf[(gsize) u * np + k] + (al - 1) * Ms[(gsize) u * np + k];
                                double r = frame_residual (f, W, H, x, y, k, yv + Cq[k], bk, rp->gain, varfix, NULL,
                                                           NULL, NULL);
                                if (cens && r >= 0)
                                  continue;
                                L += huber (r, rp->delta);
                              }
                        }
                      if (e2 < 2)
                        la[e2] = L;
                      else
                        l1v = L;
                    }
                  if (it == 59)
                    break;
                  if (la[0] < la[1])
                    hi = a[1];
                  else
                    lo = a[0];
                  best_a = (lo + hi) / 2;
                }
              g_printerr ("restore diag: star (%.2f, %.2f): latent sum %.0f within %.1f px; the loss near it is least at "
                          "alpha %.4f (loss %.2f there, %.2f at alpha 1; delta %.1f)\n",
                          sx, sy, xsum, Rs, best_a, MIN (la[0], la[1]), l1v, rp->delta);
            }
          g_free (Yf);
          g_free (Ms);
          g_free (Xs);
          field_spectra (&fd, cw, X);
        }
      /* the unthinned input through the training's batch statistics */
      g_autoptr (TsrImage) xg = tsr_image_new (W, H, 1);
      load_input (j, &b, -rf, -rf, 0, hseed);
      encode (&net, &b, ENC_GIVEN, n_threads);
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            gsize k = (gsize) y * W + x;
            float xv = 0;
            for (int ph = 0; ph < SP; ph++)
              {
                float pv = b.P->data[ph * lnp + (gsize) (y + rf) * lw + x + rf];
                xv += pv > 0 ? xsc * pv : 0;
              }
            xg->data[k] = xv + Cq[k];
            xg->mask[k] = 1;
          }
      g_autofree char *p4 = g_build_filename (dd, "xgiven.fits", NULL);
      tsr_fits_write (p4, xg, NULL, NULL);
      g_autofree char *p1 = g_build_filename (dd, "xtrain.fits", NULL);
      g_autofree char *p2 = g_build_filename (dd, "resid.fits", NULL);
      g_autofree char *p3 = g_build_filename (dd, "model.fits", NULL);
      tsr_fits_write (p1, xt, NULL, NULL);
      tsr_fits_write (p2, rs, NULL, NULL);
      tsr_fits_write (p3, md, NULL, NULL);
    }
  for (int u = 0; u < n; u++)
    for (int k = 0; k < KR; k++)
      tsr_conv_spectrum_free (kspec[u * KR + k]);
  g_free (kspec);
  field_clear (&fd);
  if (bpsf)
    {
      for (int u = 0; u < n; u++)
        tsr_psf_free (bpsf[u]);
      g_free (bpsf);
      g_free (psf_off);
      tsr_conv_spectrum_free (pacc);
      g_free (pgrid);
    }
  tsr_conv_work_free (cw);
  tsr_conv_plan_free (plan);
  g_free (X);
  g_free (dX);
  g_free (yh);
  g_free (G);
  g_free (Cq);
  g_free (Gc);
  g_free (f_rms);
  g_free (f_scale);
  bufs_clear (&b);
  g_rand_free (rng);
  res->seconds_train = (g_get_monotonic_time () - t1) / 1e6;
  if (!ok)
    {
      bufs_clear (&ib);
      net_clear (&net);
      tsr_restore_result_free (res);
      job_clear (j);
      return NULL;
    }

  /* 3. inference: the encoder on tiles with the batch-norm statistics the kept step's
   * forward pass used (the whole image's, refreshed every BN_REFRESH steps; kept with the
   * weights), so the result is the function of the data that the loss fitted. Each crop's
   * own statistics made the latent depend on what else the crop held (isolated stars
   * 16–19 % too bright), and the whole image's batch statistics over the padded latent cut
   * a bright star's flux by 25 % (docs/restore.md rounds 3 and 6). */
  gint64 t2 = g_get_monotonic_time ();
  if (net.gx > 0)
    {
      res->smooth = tsr_image_new (W, H, 1);
      smooth_image (&net, res->smooth, res->mean->mask);
    }
  res->image = tsr_image_new (W, H, 1);
  ok = infer_tiles (&net, j, &ib, T, halo, n_threads, res->image, res->smooth, res->mean->mask, progress,
                    progress_data, cancellable, error);
  bufs_clear (&ib);
  net_clear (&net);
  res->seconds_infer = (g_get_monotonic_time () - t2) / 1e6;
  if (!ok)
    {
      tsr_restore_result_free (res);
      job_clear (j);
      return NULL;
    }

  if (j->csum)
    colour_result (j, res);

  /* header: the reference frame's (as process writes it), NCOMBINE, the method, what the
   * stop decided, every parameter */
  {
    TsrFitsInfo info;
    TsrHeader *h = NULL;
    if (tsr_frame_read_info (tsr_session_frame (s, res->reference)->path, &info, &h, NULL))
      {
        tsr_fits_info_clear (&info);
        tsr_header_free (res->image->header);
        res->image->header = h;
        tsr_header_free (res->mean->header);
        res->mean->header = tsr_header_copy (h);
      }
    tsr_header_set_int (res->image->header, "NCOMBINE", j->nu, "frames combined");
    tsr_header_set_int (res->mean->header, "NCOMBINE", j->nu, "frames combined");
  }
  TsrHeader *hd = res->image->header;
  tsr_header_set_string (hd, "RESTORE", "AstroClearNet deep image prior (Tessera)", "multi-frame restoration");
  tsr_header_set_int (hd, "RS_NFRM", j->nu, "frames used");
  tsr_header_set_int (hd, "RS_STEPS", res->steps, "training steps taken");
  tsr_header_set_int (hd, "RS_BEST", res->best_step, "step whose weights made the image");
  tsr_header_set_string (hd, "RS_STOP", res->stop, "why training stopped");
  tsr_header_set_int (hd, "RS_BRNCH", K, "restore.branches");
  tsr_header_set_double (hd, "RS_LR", rp->lr, "restore.lr");
  tsr_header_set_double (hd, "RS_DECAY", rp->decay, "restore.decay");
  tsr_header_set_int (hd, "RS_DSTEP", rp->decay_steps, "restore.decay_steps");
  tsr_header_set_double (hd, "RS_DELTA", rp->delta, "restore.delta (Huber, sigma units)");
  tsr_header_set_double (hd, "RS_HOLD", rp->holdout, "restore.holdout");
  tsr_header_set_int (hd, "RS_PATNC", rp->patience, "restore.patience");
  tsr_header_set_double (hd, "RS_MINDL", rp->min_delta, "restore.min_delta");
  tsr_header_set_int (hd, "RS_CROP", rp->crop, "restore.crop");
  tsr_header_set_bool (hd, "RS_BKG", rp->background, "restore.background");
  tsr_header_set_double (hd, "RS_L1", rp->sparsity, "restore.sparsity (L1 prior on the latent)");
  tsr_header_set_double (hd, "RS_L1SNR", rp->sparsity_snr, "restore.sparsity_snr (L1 on sky only)");
  tsr_header_set_double (hd, "RS_PSFSP", rp->psf_span, "restore.psf_span");
  tsr_header_set_double (hd, "RS_GAIN", rp->gain, "restore.gain");
  tsr_header_set_bool (hd, "RS_MSAT", rp->mask_saturated, "restore.mask_saturated");
  tsr_header_set_int (hd, "RS_NSAT", (gint64) res->n_saturated, "samples out of the loss as saturated");
  tsr_header_set_bool (hd, "RS_BLIND", rp->blind, "restore.blind (PSFs learnt)");
  tsr_header_set_int (hd, "RS_PSFRG", rp->psf_regions, "restore.psf_regions (PSF cells per side)");
  tsr_header_set_int (hd, "RS_SUBPX", rp->subpixel, "restore.subpixel (latent phases per pixel side)");
  if (rp->psf_regions > 1)
    {
      tsr_header_set_int (hd, "RS_PSFRN", res->n_region_psfs, "PSF cells (all frames) with own stamps");
      tsr_header_set_double (hd, "RS_PSFFR", res->psf_field[2], "PSF field model: d log FWHM / d r2");
      tsr_header_set_int (hd, "RS_PSFFN", res->n_field_stars, "stars in the PSF field model");
    }
  if (rp->blind)
    {
      tsr_header_set_double (hd, "RS_BLNLR", rp->blind_lr, "restore.blind_lr");
      tsr_header_set_double (hd, "RS_PSFW0", res->psf_fwhm_given, "median FWHM of the measured PSFs, px");
      tsr_header_set_double (hd, "RS_PSFW1", res->psf_fwhm_learnt, "median FWHM of the learnt PSFs, px");
    }
  tsr_header_set_int (hd, "RS_SEED", rp->seed, "restore.seed");
  tsr_header_set_double (hd, "RS_CHROM", rp->chroma, "restore.chroma (colour ratio window, FWHM)");
  tsr_header_set_int (hd, "RS_PSFR", rf, "PSF radius, px");
  tsr_header_set_double (hd, "RS_FWHM", res->median_fwhm, "median frame FWHM, px");
  g_autofree char *hist = tsr_restore_params_history (rp, tp, run);
  tsr_session_add_history (j->s, hd);
  tsr_header_add_history (hd, hist);
  job_clear (j);
  return res;
}
