/* tsr-calib.c — calibration masters and their application to the lights; see tsr-calib.h and
 * docs/calibration.md.
 *
 * Plan (headers only, before any pixel is read): every folder is scanned like a session
 * (sizes and patterns within it), every frame's IMAGETYP, binning and exposure checked, a
 * master file checked for being a master of its kind, and every input compared with the
 * lights. Build: bias, dark-flat and dark masters are the stacker's combination (winsorised
 * σ by default) of their raw frames; flats are offset-corrected (dark-flat, else bias) and
 * scaled to median 1 per Bayer site frame by frame through a session filter, combined, and
 * the master normalised per site again. Apply: a TsrSession frame filter, so every job reads
 * calibrated lights. */
#include "tsr-calib.h"
#include "tsr-frame-file.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-frames.h"
#include "tsr-stack.h"
#include "tsr-stats.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define N_SITES 12            /* channel × 2×2 Bayer site */
#define SITE_SAMPLES ((gsize) 256 * 1024)

typedef struct
{
  char *path;                 /* as given */
  gboolean given;
  gboolean is_master;         /* a master file rather than a folder of frames */
  TsrSession *frames;         /* the folder's frames */
  char *first;                /* the file named in errors: the master or the first frame */
  int width, height, channels, xbin, ybin;
  TsrCfa cfa;
  double exposure;            /* mean, NAN when unknown */
  double temperature;         /* mean, NAN when unknown */
  double gain;                /* NAN when unknown */
  guint n_frames;
  TsrImage *master;
} Input;

struct _TsrCalib
{
  TsrCalibParams p;
  Input in[TSR_CALIB_N_KINDS];
  GPtrArray *notes;
  int width, height, channels;
  TsrCfa cfa;
  gboolean mosaic;
  /* built */
  gboolean built;
  TsrImage *bias;            /* B, or NULL */
  TsrImage *dark;            /* D − B with a bias, D without one, or NULL */
  gboolean dark_has_bias;    /* no bias given: D is subtracted as it is */
  double dark_exposure;      /* NAN unknown */
  TsrImage *flat;            /* F normalised to median 1 per site, or NULL */
  guint8 *bad;               /* per pixel: 1 = hot or cold (NULL when none) */
  gsize n_hot, n_cold;
  /* calib.dark_optimize: the scale of each light of the attached session, found at its first
   * read */
  GMutex lock;
  double *k_opt;             /* NAN until found */
  guint n_lights;
};

static const char *const kind_names[] = { "bias", "dark", "flat", "dark-flat" };
static const char *const kind_options[] = { "--bias", "--darks", "--flats", "--dark-flats" };
static const char *const master_names[] = { "master-bias.fits", "master-dark.fits", "master-flat.fits",
                                            "master-dark-flat.fits" };
static const char *const master_types[] = { "Master Bias", "Master Dark", "Master Flat", "Master Dark Flat" };

const char *
tsr_calib_kind_name (TsrCalibKind k)
{
  return (guint) k < TSR_CALIB_N_KINDS ? kind_names[k] : "unknown";
}

const char *
tsr_calib_master_file_name (TsrCalibKind k)
{
  return (guint) k < TSR_CALIB_N_KINDS ? master_names[k] : NULL;
}

static void
input_clear (Input *in)
{
  g_free (in->path);
  g_free (in->first);
  if (in->frames)
    tsr_session_unref (in->frames);
  if (in->master)
    tsr_image_unref (in->master);
  memset (in, 0, sizeof *in);
}

void
tsr_calib_free (TsrCalib *c)
{
  if (!c)
    return;
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    input_clear (&c->in[k]);
  if (c->notes)
    g_ptr_array_unref (c->notes);
  if (c->bias)
    tsr_image_unref (c->bias);
  if (c->dark)
    tsr_image_unref (c->dark);
  if (c->flat)
    tsr_image_unref (c->flat);
  g_free (c->bad);
  g_free (c->k_opt);
  g_mutex_clear (&c->lock);
  g_free (c);
}

gboolean
tsr_calib_is_empty (const TsrCalib *c)
{
  for (guint k = 0; c && k < TSR_CALIB_N_KINDS; k++)
    if (c->in[k].given)
      return FALSE;
  return TRUE;
}

GPtrArray *
tsr_calib_input_files (const TsrCalib *c)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; c && k < TSR_CALIB_N_KINDS; k++)
    {
      const Input *in = &c->in[k];
      if (in->is_master)
        g_ptr_array_add (out, g_strdup (in->path));
      for (guint i = 0; in->frames && i < tsr_session_n_frames (in->frames); i++)
        g_ptr_array_add (out, g_strdup (tsr_session_frame (in->frames, i)->path));
    }
  return out;
}

const GPtrArray *
tsr_calib_notes (const TsrCalib *c)
{
  return c->notes;
}

TsrImage *
tsr_calib_master (const TsrCalib *c, TsrCalibKind k)
{
  return c && (guint) k < TSR_CALIB_N_KINDS ? c->in[k].master : NULL;
}

gsize
tsr_calib_n_bad_pixels (const TsrCalib *c)
{
  return c ? c->n_hot + c->n_cold : 0;
}

/* ---------------------------------------------------------------------------------------
 * Plan: headers only
 */

/* What an IMAGETYP value says: a kind, -2 for a light (or anything else known not to be a
 * calibration frame), -1 when it says nothing we know; *master when it names a master. */
static int
imagetyp_kind (const char *value, gboolean *master)
{
  *master = FALSE;
  if (!value)
    return -1;
  GString *s = g_string_new (NULL);
  for (const char *p = value; *p; p++)
    if (g_ascii_isalnum (*p))
      g_string_append_c (s, g_ascii_toupper (*p));
  int kind = -1;
  *master = strstr (s->str, "MASTER") != NULL;
  if (strstr (s->str, "DARKFLAT") || strstr (s->str, "FLATDARK"))
    kind = TSR_CALIB_DARK_FLAT;
  else if (strstr (s->str, "FLAT"))
    kind = TSR_CALIB_FLAT;
  else if (strstr (s->str, "DARK"))
    kind = TSR_CALIB_DARK;
  else if (strstr (s->str, "BIAS") || strstr (s->str, "OFFSET") || strstr (s->str, "ZERO"))
    kind = TSR_CALIB_BIAS;
  else if (strstr (s->str, "LIGHT") || strstr (s->str, "SCIENCE") || strstr (s->str, "OBJECT"))
    kind = -2;
  g_string_free (s, TRUE);
  return kind;
}

static void
header_binning (const TsrHeader *h, int *xbin, int *ybin)
{
  gint64 v;
  *xbin = h && tsr_header_get_int (h, "XBINNING", &v) && v > 0 && v < 1000 ? (int) v : 1;
  *ybin = h && tsr_header_get_int (h, "YBINNING", &v) && v > 0 && v < 1000 ? (int) v : *xbin;
}

static char *
fmt_s (double v)
{
  return g_strdup_printf ("%g", v);
}

static gboolean
same_exposure (double a, double b)
{
  return fabs (a - b) <= 1e-3 * MAX (fabs (a), fabs (b)) + 1e-6;
}

/* "1920 × 1080, GRBG, binning 1×1" (mono or RGB spelt out) */
static char *
describe (int w, int h, int channels, TsrCfa cfa, int xbin, int ybin)
{
  const char *pat = channels == 3 ? "RGB" : cfa != TSR_CFA_NONE ? tsr_cfa_name (cfa) : "mono";
  return g_strdup_printf ("%d × %d, %s, binning %d×%d", w, h, pat, xbin, ybin);
}

/* The frames of a folder: types, binning, exposures. */
static gboolean
plan_folder (TsrCalibKind k, Input *in, GCancellable *cancellable, GError **error)
{
  const char *const paths[] = { in->path, NULL };
  in->frames = tsr_session_scan (paths, NULL, cancellable, error);
  if (!in->frames)
    return FALSE;
  TsrSession *s = in->frames;
  in->n_frames = tsr_session_n_frames (s);
  in->first = g_strdup (tsr_session_frame (s, 0)->path);
  in->width = s->width;
  in->height = s->height;
  in->channels = s->channels;
  in->cfa = s->cfa;
  double texp = 0, ttemp = 0;
  guint nexp = 0, ntemp = 0;
  in->gain = NAN;
  for (guint i = 0; i < in->n_frames; i++)
    {
      const TsrFrameInfo *fi = tsr_session_frame (s, i);
      TsrFitsInfo info = { 0 };
      g_autoptr (TsrHeader) h = NULL;
      if (!tsr_frame_read_info (fi->path, &info, &h, error))
        return FALSE;
      tsr_fits_info_clear (&info);
      g_autofree char *type = tsr_header_get_string (h, "IMAGETYP");
      gboolean master;
      int tk = imagetyp_kind (type, &master);
      if (master)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s (%s): is a master (IMAGETYP = '%s') inside a folder of frames; give the master "
                         "file itself, or remove it from the folder"),
                       fi->path, kind_options[k], type);
          return FALSE;
        }
      if (tk != -1 && tk != (int) k)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s (%s): IMAGETYP = '%s' is not a %s frame; remove it from the folder"), fi->path,
                       kind_options[k], type, kind_names[k]);
          return FALSE;
        }
      int xb, yb;
      header_binning (h, &xb, &yb);
      if (i == 0)
        in->xbin = xb, in->ybin = yb;
      else if (xb != in->xbin || yb != in->ybin)
        {
          g_autofree char *d = describe (s->width, s->height, s->channels, s->cfa, xb, yb);
          g_autofree char *r = describe (s->width, s->height, s->channels, s->cfa, in->xbin, in->ybin);
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s (%s): %s does not match %s of %s; calibration frames must have the lights' size, "
                         "Bayer pattern and binning"),
                       fi->path, kind_options[k], d, r, in->first);
          return FALSE;
        }
      double e = fi->info.exposure;
      if ((k == TSR_CALIB_DARK || k == TSR_CALIB_DARK_FLAT) && nexp > 0 && isfinite (e)
          && !same_exposure (e, texp / nexp))
        {
          g_autofree char *a = fmt_s (e);
          g_autofree char *b = fmt_s (texp / nexp);
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s (%s): exposure %s s differs from the folder's %s s; a master is made of frames of "
                         "one exposure"),
                       fi->path, kind_options[k], a, b);
          return FALSE;
        }
      if (isfinite (e) && e > 0)
        texp += e, nexp++;
      if (isfinite (fi->info.temperature))
        ttemp += fi->info.temperature, ntemp++;
      if (!isfinite (in->gain) && isfinite (fi->info.gain))
        in->gain = fi->info.gain;
    }
  in->exposure = nexp ? texp / nexp : NAN;
  in->temperature = ntemp ? ttemp / ntemp : NAN;
  return TRUE;
}

/* A master file: it must say it is a master of this kind. */
static gboolean
plan_master (TsrCalibKind k, Input *in, GError **error)
{
  TsrFitsInfo info = { 0 };
  g_autoptr (TsrHeader) h = NULL;
  if (!tsr_frame_read_info (in->path, &info, &h, error))
    return FALSE;
  in->is_master = TRUE;
  in->first = g_strdup (in->path);
  in->width = info.width;
  in->height = info.height;
  in->channels = info.channels;
  in->cfa = info.cfa;
  in->exposure = info.exposure > 0 ? info.exposure : NAN;
  in->temperature = info.temperature;
  in->gain = info.gain;
  tsr_fits_info_clear (&info);
  header_binning (h, &in->xbin, &in->ybin);
  gint64 ncombine = 0;
  if (!tsr_header_get_int (h, "NCOMBINE", &ncombine))
    ncombine = 0;
  in->n_frames = ncombine > 0 ? (guint) MIN (ncombine, G_MAXUINT) : 1;
  g_autofree char *type = tsr_header_get_string (h, "IMAGETYP");
  gboolean master;
  int tk = imagetyp_kind (type, &master);
  if (tk != (int) k)
    {
      if (type)
        g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                     _("%s (%s): not a master %s (IMAGETYP = '%s'); give a folder of %s frames or a master "
                       "written by 'tessera-cli masters'"),
                     in->path, kind_options[k], kind_names[k], type, kind_names[k]);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                     _("%s (%s): not a master %s (no IMAGETYP says so); give a folder of %s frames or a master "
                       "written by 'tessera-cli masters'"),
                     in->path, kind_options[k], kind_names[k], kind_names[k]);
      return FALSE;
    }
  if (!master && ncombine <= 1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                   _("%s (%s): a single %s frame, not a master (IMAGETYP = '%s', no NCOMBINE above 1); give the "
                     "folder of %s frames"),
                   in->path, kind_options[k], kind_names[k], type, kind_names[k]);
      return FALSE;
    }
  return TRUE;
}

static void
add_note (TsrCalib *c, char *msg)
{
  g_ptr_array_add (c->notes, msg);
}

TsrCalib *
tsr_calib_plan (const char *const *paths, const TsrSession *lights, const TsrCalibParams *p,
                GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  g_autoptr (TsrCalib) c = g_new0 (TsrCalib, 1);
  g_mutex_init (&c->lock);
  c->notes = g_ptr_array_new_with_free_func (g_free);
  if (p)
    c->p = *p;
  else
    tsr_calib_params_init (&c->p);
  if (!tsr_calib_params_validate (&c->p, error))
    return NULL;
  c->dark_exposure = NAN;

  for (guint k = 0; paths && k < TSR_CALIB_N_KINDS; k++)
    {
      if (!paths[k] || !*paths[k])
        continue;
      Input *in = &c->in[k];
      in->given = TRUE;
      in->path = g_strdup (paths[k]);
      in->exposure = in->temperature = in->gain = NAN;
      if (!g_file_test (in->path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND, _("%s (%s): no such file or folder"), in->path,
                       kind_options[k]);
          return NULL;
        }
      gboolean ok = g_file_test (in->path, G_FILE_TEST_IS_DIR) ? plan_folder (k, in, cancellable, error)
                                                                : plan_master (k, in, error);
      if (!ok)
        return NULL;
    }
  if (tsr_calib_is_empty (c))
    return g_steal_pointer (&c);

  /* the reference every input must match: the lights, else the first input given */
  const char *ref_name = NULL;
  int rxb = 1, ryb = 1;
  if (lights)
    {
      c->width = lights->width;
      c->height = lights->height;
      c->channels = lights->channels;
      c->cfa = lights->cfa;
      TsrFitsInfo info = { 0 };
      g_autoptr (TsrHeader) h = NULL;
      const char *lp = tsr_session_frame (lights, 0)->path;
      if (!tsr_frame_read_info (lp, &info, &h, error))
        return NULL;
      tsr_fits_info_clear (&info);
      header_binning (h, &rxb, &ryb);
      ref_name = lp;
    }
  else
    for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
      if (c->in[k].given)
        {
          const Input *r = &c->in[k];
          c->width = r->width, c->height = r->height, c->channels = r->channels, c->cfa = r->cfa;
          rxb = r->xbin, ryb = r->ybin;
          ref_name = r->first;
          break;
        }
  c->mosaic = c->channels == 1 && c->cfa != TSR_CFA_NONE;
  /* a calibration frame that is also a light (the lights' folder given as darks, a master
   * among the lights) */
  if (lights)
    {
      g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      for (guint i = 0; i < tsr_session_n_frames (lights); i++)
        {
          GStatBuf st;
          if (g_stat (tsr_session_frame (lights, i)->path, &st) == 0)
            g_hash_table_add (ids, g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64) st.st_dev,
                                                    (guint64) st.st_ino));
        }
      g_autoptr (GPtrArray) files = tsr_calib_input_files (c);
      for (guint i = 0; i < files->len; i++)
        {
          GStatBuf st;
          if (g_stat (files->pdata[i], &st) != 0)
            continue;
          g_autofree char *id = g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64) st.st_dev,
                                                 (guint64) st.st_ino);
          if (g_hash_table_contains (ids, id))
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                           _("%s: is one of the lights and a calibration frame; keep calibration frames in their own "
                             "folders"),
                           (const char *) files->pdata[i]);
              return NULL;
            }
        }
    }
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      const Input *in = &c->in[k];
      if (!in->given)
        continue;
      if (in->width != c->width || in->height != c->height || in->channels != c->channels || in->cfa != c->cfa
          || in->xbin != rxb || in->ybin != ryb)
        {
          g_autofree char *d = describe (in->width, in->height, in->channels, in->cfa, in->xbin, in->ybin);
          g_autofree char *r = describe (c->width, c->height, c->channels, c->cfa, rxb, ryb);
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s (%s): %s does not match %s of %s; calibration frames must have the lights' size, "
                         "Bayer pattern and binning"),
                       in->first, kind_options[k], d, r, ref_name);
          return NULL;
        }
    }

  /* gain: bias and darks at another gain than the lights' do not hold their offset */
  double lgain = NAN;
  for (guint i = 0; lights && i < tsr_session_n_frames (lights) && !isfinite (lgain); i++)
    lgain = tsr_session_frame (lights, i)->info.gain;
  for (guint k = TSR_CALIB_BIAS; k <= TSR_CALIB_DARK; k++)
    {
      const Input *in = &c->in[k];
      if (in->given && isfinite (in->gain) && isfinite (lgain) && fabs (in->gain - lgain) > 1e-6 * MAX (1, fabs (lgain)))
        {
          g_autofree char *a = fmt_s (in->gain);
          g_autofree char *b = fmt_s (lgain);
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s (%s): gain %s differs from the lights' %s; bias and darks must be taken at the "
                         "lights' gain"),
                       in->first, kind_options[k], a, b);
          return NULL;
        }
    }

  /* the dark's exposure against the lights' */
  const Input *dk = &c->in[TSR_CALIB_DARK];
  const gboolean have_bias = c->in[TSR_CALIB_BIAS].given;
  if (dk->given && c->p.dark_optimize && !have_bias)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s (--darks): calib.dark_optimize needs --bias: the dark holds the bias too and cannot be "
                     "scaled without it"),
                   dk->first);
      return NULL;
    }
  if (dk->given && lights)
    {
      double lo = INFINITY, hi = -INFINITY;
      gboolean unknown = !(dk->exposure > 0);
      for (guint i = 0; i < tsr_session_n_frames (lights); i++)
        {
          double e = tsr_session_frame (lights, i)->info.exposure;
          if (!(e > 0))
            unknown = TRUE;
          else
            lo = MIN (lo, e), hi = MAX (hi, e);
        }
      if (unknown)
        add_note (c, g_strdup (_("the exposure of the darks or of some lights is unknown (no EXPTIME): the dark is "
                                 "subtracted unscaled from those lights")));
      if (c->p.dark_optimize)
        add_note (c, g_strdup (_("the dark current is scaled for each light by the factor that minimises its noise "
                                 "(calib.dark_optimize)")));
      else if (isfinite (lo) && dk->exposure > 0
               && !(same_exposure (lo, dk->exposure) && same_exposure (hi, dk->exposure)))
        {
          g_autofree char *de = fmt_s (dk->exposure);
          g_autofree char *le = fmt_s (lo);
          g_autofree char *he = fmt_s (hi);
          if (!have_bias)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                           _("%s (--darks): darks of %s s cannot be scaled to the lights' %s s without a bias (the "
                             "dark holds the bias too); give --bias, or darks of the lights' exposure"),
                           dk->first, de, same_exposure (lo, dk->exposure) ? he : le);
              return NULL;
            }
          if (same_exposure (lo, hi))
            add_note (c, g_strdup_printf (_("darks of %s s scaled to the lights' %s s (dark current × %.4g)"), de, le,
                                          lo / dk->exposure));
          else
            add_note (c, g_strdup_printf (_("darks of %s s scaled to each light's exposure (%s to %s s)"), de, le,
                                          he));
        }
    }
  if (c->in[TSR_CALIB_FLAT].given && !c->in[TSR_CALIB_FLAT].is_master && !c->in[TSR_CALIB_DARK_FLAT].given)
    add_note (c, g_strdup (have_bias ? _("no dark-flats given: the master bias is subtracted from the flats")
                                     : _("neither dark-flats nor a bias given: the flats are used without "
                                         "subtracting their offset (vignetting is under-corrected by the offset's "
                                         "share of the flat)")));
  return g_steal_pointer (&c);
}

/* ---------------------------------------------------------------------------------------
 * Building the masters
 */

static inline int
site_of (gboolean mosaic, int c, int x, int y)
{
  return c * 4 + (mosaic ? ((y & 1) << 1) | (x & 1) : 0);
}

/* Median of every site of rows [y0, y0 + img->height) (valid samples, subsampled). NAN for a
 * site without samples. */
static void
site_medians (const TsrImage *img, int y0, gboolean mosaic, double med[N_SITES])
{
  gsize npix = tsr_image_npix (img);
  gsize stride = MAX ((gsize) 1, npix / SITE_SAMPLES);
  /* a stride that is even would only ever visit one column parity */
  if (mosaic && stride % 2 == 0)
    stride++;
  for (int s = 0; s < N_SITES; s++)
    med[s] = NAN;
  for (int c = 0; c < img->channels; c++)
    {
      const float *pl = tsr_image_plane (img, c);
      float *buf[4];
      gsize n[4] = { 0 };
      for (int q = 0; q < 4; q++)
        buf[q] = g_new (float, npix / stride + 2);
      for (gsize i = 0; i < npix; i += stride)
        if (img->mask[i])
          {
            int x = (int) (i % img->width), y = (int) (i / img->width) + y0;
            int q = site_of (mosaic, 0, x, y);
            buf[q][n[q]++] = pl[i];
          }
      for (int q = 0; q < 4; q++)
        {
          if (n[q])
            med[c * 4 + q] = tsr_median_inplace (buf[q], n[q]);
          g_free (buf[q]);
        }
    }
}

typedef struct
{
  const TsrImage *offset;          /* subtracted, or NULL */
  double (*scale)[N_SITES];        /* per frame and site, or NULL */
  gboolean mosaic;
} FlatFilter;

static gboolean
flat_filter (guint index, const TsrFrameInfo *frame, TsrImage *img, int y0, gpointer data, GError **error)
{
  FlatFilter *f = data;
  const int w = img->width;
  const gsize n = tsr_image_npix (img);
  const gsize off0 = (gsize) y0 * w;
  for (int c = 0; c < img->channels; c++)
    {
      float *pl = tsr_image_plane (img, c);
      const float *o = f->offset ? tsr_image_plane (f->offset, c) + off0 : NULL;
      for (gsize i = 0; i < n; i++)
        {
          double v = pl[i];
          if (o)
            v -= o[i];
          if (f->scale)
            {
              int x = (int) (i % w), y = (int) (i / w) + y0;
              v *= f->scale[index][site_of (f->mosaic, c, x, y)];
            }
          pl[i] = (float) v;
        }
    }
  if (f->offset)
    for (gsize i = 0; i < n; i++)
      img->mask[i] &= f->offset->mask[off0 + i];
  return TRUE;
}

typedef struct
{
  gboolean mosaic;
  double (*med)[N_SITES];
} MeasureJob;

static gboolean
measure_flat (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data, GCancellable *cancellable,
              GError **error)
{
  MeasureJob *j = user_data;
  site_medians (img, 0, j->mosaic, j->med[index]);
  return TRUE;
}

typedef struct
{
  const char *phase;
  TsrProgressFunc progress;
  gpointer data;
} PhaseRename;

static void
renamed_progress (const char *phase, guint done, guint total, gpointer user_data)
{
  PhaseRename *r = user_data;
  r->progress (r->phase, done, total, r->data);
}

static void
stack_params (const TsrCalib *c, const TsrRunParams *run, TsrStackParams *sp)
{
  tsr_stack_params_init (sp);
  static const TsrStackMethod methods[] = { TSR_STACK_WINSOR, TSR_STACK_SIGMA, TSR_STACK_MEDIAN, TSR_STACK_MEAN };
  sp->method = methods[CLAMP ((int) c->p.method, 0, 3)];
  sp->kappa_low = sp->kappa_high = c->p.kappa;
  if (run)
    {
      sp->memory_budget = tsr_run_memory_budget (run);
      sp->n_threads = run->n_threads;
    }
}

/* Provenance of a master made here. */
static void
stamp_master (const TsrCalib *c, TsrCalibKind k, TsrImage *m, const char *offset_used)
{
  const Input *in = &c->in[k];
  TsrHeader *h = m->header;
  tsr_header_set_string (h, "IMAGETYP", master_types[k], "Tessera calibration master");
  tsr_header_set_int (h, "NCOMBINE", in->n_frames, "number of frames combined");
  static const char *const methods[] = { "winsor", "sigma", "median", "mean" };
  g_autofree char *meth = c->p.method == TSR_CALIB_WINSOR || c->p.method == TSR_CALIB_SIGMA
                            ? g_strdup_printf ("%s kappa=%g", methods[c->p.method], c->p.kappa)
                            : g_strdup (methods[CLAMP ((int) c->p.method, 0, 3)]);
  tsr_header_set_string (h, "CALMETH", meth, "how the frames were combined");
  tsr_header_remove (h, "EXPOSURE");
  if (isfinite (in->exposure))
    tsr_header_set_double (h, "EXPTIME", in->exposure, "[s] mean exposure of the frames");
  else
    tsr_header_remove (h, "EXPTIME");
  if (isfinite (in->temperature))
    tsr_header_set_double (h, "CCD-TEMP", in->temperature, "[C] mean sensor temperature of the frames");
  if (k == TSR_CALIB_DARK)
    tsr_header_set_bool (h, "CALBIAS", TRUE, "the bias is included (not subtracted)");
  if (k == TSR_CALIB_FLAT)
    {
      tsr_header_set_string (h, "CALOFFS", offset_used, "offset subtracted from each flat");
      tsr_header_set_string (h, "FLATNORM", c->mosaic ? "median per Bayer site" : "median per channel",
                             "normalised to 1");
    }
  g_autofree char *hist = g_strdup_printf ("Tessera master %s: %u frames from %s, %s", kind_names[k], in->n_frames,
                                           in->path, meth);
  tsr_header_add_history (h, hist);
}

/* Divide the master flat by the median of each site; samples that are not positive and
 * finite carry no data. */
static gboolean
normalise_flat (const TsrCalib *c, TsrImage *f, GError **error)
{
  double med[N_SITES];
  site_medians (f, 0, c->mosaic, med);
  const int w = f->width;
  for (int ch = 0; ch < f->channels; ch++)
    for (int q = 0; q < (c->mosaic ? 4 : 1); q++)
      if (!(med[ch * 4 + q] > 0))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID,
                       _("%s (--flats): the master flat's level is not above zero (median %g); is it a flat?"),
                       c->in[TSR_CALIB_FLAT].first, med[ch * 4 + q]);
          return FALSE;
        }
  gsize n = tsr_image_npix (f);
  for (int ch = 0; ch < f->channels; ch++)
    {
      float *pl = tsr_image_plane (f, ch);
      for (gsize i = 0; i < n; i++)
        {
          int x = (int) (i % w), y = (int) (i / w);
          float v = (float) (pl[i] / med[site_of (c->mosaic, ch, x, y)]);
          if (!(v > 0) || !isfinite (v))
            {
              v = 0;
              f->mask[i] = 0;
            }
          pl[i] = v;
        }
    }
  return TRUE;
}

static TsrImage *
build_flat (TsrCalib *c, const TsrRunParams *run, const TsrImage *offset, TsrProgressFunc progress, gpointer pd,
            GCancellable *cancellable, GError **error)
{
  Input *in = &c->in[TSR_CALIB_FLAT];
  TsrSession *s = in->frames;
  guint n = tsr_session_n_frames (s);
  double (*med)[N_SITES] = g_malloc0 (MAX (n, 1u) * sizeof *med);
  FlatFilter *ff = g_new0 (FlatFilter, 1);
  ff->offset = offset;
  ff->mosaic = c->mosaic;
  /* 1. each flat's level per site, offset subtracted */
  tsr_session_set_filter (s, flat_filter, ff, NULL, 0, 0, NULL);
  MeasureJob mj = { c->mosaic, med };
  TsrMapOptions opt;
  tsr_map_options_init (&opt, _("Measuring flats"));
  if (run)
    {
      opt.n_threads = run->n_threads;
      opt.memory_budget = tsr_run_memory_budget (run);
    }
  TsrImage *master = NULL;
  if (!tsr_frames_map (s, &opt, measure_flat, &mj, progress, pd, cancellable, error))
    goto out;
  for (guint i = 0; i < n; i++)
    for (int ch = 0; ch < c->channels; ch++)
      for (int q = 0; q < (c->mosaic ? 4 : 1); q++)
        {
          double m = med[i][ch * 4 + q];
          if (!(m > 0))
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID,
                           _("%s (--flats): its level after subtracting the offset is %g, not above zero; is it a "
                             "flat?"),
                           tsr_session_frame (s, i)->path, m);
              goto out;
            }
          med[i][ch * 4 + q] = 1.0 / m;
        }
  /* 2. combined at median 1 per site */
  ff->scale = med;
  TsrStackParams sp;
  stack_params (c, run, &sp);
  PhaseRename pr = { _("Master flat"), progress, pd };
  master = tsr_stack_session (s, &sp, progress ? renamed_progress : NULL, &pr, cancellable, error);
out:
  tsr_session_set_filter (s, NULL, NULL, NULL, 0, 0, NULL);
  g_free (ff);
  g_free (med);
  if (master && !normalise_flat (c, master, error))
    g_clear_pointer (&master, tsr_image_unref);
  return master;
}

static TsrImage *
build_plain (TsrCalib *c, TsrCalibKind k, const TsrRunParams *run, TsrProgressFunc progress, gpointer pd,
             GCancellable *cancellable, GError **error)
{
  static const char *const phases[] = { N_("Master bias"), N_("Master dark"), N_("Master flat"),
                                        N_("Master dark-flat") };
  TsrStackParams sp;
  stack_params (c, run, &sp);
  PhaseRename pr = { _(phases[k]), progress, pd };
  return tsr_stack_session (c->in[k].frames, &sp, progress ? renamed_progress : NULL, &pr, cancellable, error);
}

/* Hot and cold pixels of the dark current, per site: beyond the thresholds in robust σ. */
static void
find_bad_pixels (TsrCalib *c)
{
  if (!c->dark || (c->p.hot_sigma <= 0 && c->p.cold_sigma <= 0))
    return;
  const TsrImage *d = c->dark;
  const int w = d->width;
  const gsize n = tsr_image_npix (d);
  double med[N_SITES], sig[N_SITES];
  site_medians (d, 0, c->mosaic, med);
  /* robust σ per site: the MAD of |v − median| */
  for (int ch = 0; ch < d->channels; ch++)
    {
      const float *pl = tsr_image_plane (d, ch);
      gsize stride = MAX ((gsize) 1, n / SITE_SAMPLES);
      if (c->mosaic && stride % 2 == 0)
        stride++;
      float *buf[4];
      gsize cnt[4] = { 0 };
      for (int q = 0; q < 4; q++)
        buf[q] = g_new (float, n / stride + 2);
      for (gsize i = 0; i < n; i += stride)
        if (d->mask[i])
          {
            int q = site_of (c->mosaic, 0, (int) (i % w), (int) (i / w));
            buf[q][cnt[q]++] = (float) fabs (pl[i] - med[ch * 4 + q]);
          }
      for (int q = 0; q < 4; q++)
        {
          sig[ch * 4 + q] = cnt[q] ? TSR_MAD_TO_SIGMA * tsr_median_inplace (buf[q], cnt[q]) : 0;
          g_free (buf[q]);
        }
    }
  c->bad = g_new0 (guint8, n);
  for (int ch = 0; ch < d->channels; ch++)
    {
      const float *pl = tsr_image_plane (d, ch);
      for (gsize i = 0; i < n; i++)
        {
          if (!d->mask[i] || c->bad[i])
            continue;
          int q = site_of (c->mosaic, ch, (int) (i % w), (int) (i / w));
          double s = sig[q];
          if (!(s > 0))
            continue; /* no spread to measure against */
          double z = (pl[i] - med[q]) / s;
          if (c->p.hot_sigma > 0 && z > c->p.hot_sigma)
            c->bad[i] = 1, c->n_hot++;
          else if (c->p.cold_sigma > 0 && z < -c->p.cold_sigma)
            c->bad[i] = 1, c->n_cold++;
        }
    }
  if (c->n_hot + c->n_cold == 0)
    g_clear_pointer (&c->bad, g_free);
}

static TsrImage *
subtract (const TsrImage *a, const TsrImage *b)
{
  TsrImage *r = tsr_image_copy (a);
  gsize n = tsr_image_npix (a) * a->channels;
  for (gsize i = 0; i < n; i++)
    r->data[i] -= b->data[i];
  for (gsize i = 0; i < tsr_image_npix (a); i++)
    r->mask[i] &= b->mask[i];
  return r;
}

gboolean
tsr_calib_build (TsrCalib *c, const TsrRunParams *run, TsrProgressFunc progress, gpointer progress_data,
                 GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (c != NULL && !c->built, FALSE);
  static const TsrCalibKind order[] = { TSR_CALIB_BIAS, TSR_CALIB_DARK_FLAT, TSR_CALIB_DARK, TSR_CALIB_FLAT };
  for (guint o = 0; o < G_N_ELEMENTS (order); o++)
    {
      TsrCalibKind k = order[o];
      Input *in = &c->in[k];
      if (!in->given)
        continue;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      TsrImage *m = NULL;
      if (in->is_master)
        {
          m = tsr_frame_read (in->path, error);
          if (m && (m->width != c->width || m->height != c->height || m->channels != c->channels))
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, _("%s: changed size since the session was scanned"),
                           in->path);
              g_clear_pointer (&m, tsr_image_unref);
            }
          if (m && k == TSR_CALIB_FLAT && !normalise_flat (c, m, error))
            g_clear_pointer (&m, tsr_image_unref);
        }
      else if (k == TSR_CALIB_FLAT)
        {
          const TsrImage *offset = c->in[TSR_CALIB_DARK_FLAT].master ? c->in[TSR_CALIB_DARK_FLAT].master
                                                                      : c->in[TSR_CALIB_BIAS].master;
          m = build_flat (c, run, offset, progress, progress_data, cancellable, error);
          if (m)
            stamp_master (c, k, m,
                          c->in[TSR_CALIB_DARK_FLAT].master ? "dark-flat"
                          : c->in[TSR_CALIB_BIAS].master    ? "bias"
                                                            : "none");
        }
      else
        {
          m = build_plain (c, k, run, progress, progress_data, cancellable, error);
          if (m)
            stamp_master (c, k, m, NULL);
        }
      if (!m)
        return FALSE;
      m->cfa = c->cfa;
      in->master = m;
    }

  if (c->in[TSR_CALIB_BIAS].master)
    c->bias = tsr_image_ref (c->in[TSR_CALIB_BIAS].master);
  if (c->in[TSR_CALIB_DARK].master)
    {
      c->dark_exposure = c->in[TSR_CALIB_DARK].exposure;
      if (c->bias)
        c->dark = subtract (c->in[TSR_CALIB_DARK].master, c->bias);
      else
        {
          c->dark = tsr_image_ref (c->in[TSR_CALIB_DARK].master);
          c->dark_has_bias = TRUE;
        }
    }
  if (c->in[TSR_CALIB_FLAT].master)
    c->flat = tsr_image_ref (c->in[TSR_CALIB_FLAT].master);
  find_bad_pixels (c);
  if (c->n_hot + c->n_cold > 0)
    add_note (c, g_strdup_printf (_("pixels of the master dark replaced by their same-colour neighbours: "
                                    "%lu hot, %lu cold"),
                                  (unsigned long) c->n_hot, (unsigned long) c->n_cold));
  c->built = TRUE;
  return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * Applying
 */

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

void
tsr_calib_repair_pixels (const guint8 *bad, int map_height, int step, TsrImage *img, int y0, gboolean revalidate)
{
  static const int nb[8][2] = { { -1, -1 }, { 0, -1 }, { 1, -1 }, { -1, 0 }, { 1, 0 }, { -1, 1 }, { 0, 1 }, { 1, 1 } };
  const int w = img->width;
  for (int y = 0; y < img->height; y++)
    {
      const guint8 *brow = bad + (gsize) (y0 + y) * w;
      for (int x = 0; x < w; x++)
        {
          /* the map is nearly all zeros and is scanned on every read of every frame (three
           * times per frame in a TBQR run): eight bytes at a time where it is */
          if ((x & 7) == 0 && x + 8 <= w)
            {
              guint64 eight;
              memcpy (&eight, brow + x, sizeof eight);
              if (!eight)
                {
                  x += 7;
                  continue;
                }
            }
          if (!brow[x])
            continue;
          for (int ch = 0; ch < img->channels; ch++)
            {
              float *pl = tsr_image_plane (img, ch);
              float v[8];
              int k = 0;
              for (int j = 0; j < 8; j++)
                {
                  int xx = x + nb[j][0] * step, yy = y + nb[j][1] * step;
                  if (xx < 0 || xx >= w || yy < 0 || yy >= img->height || y0 + yy >= map_height)
                    continue;
                  gsize q = (gsize) yy * w + xx;
                  if (bad[(gsize) (y0 + yy) * w + xx] || !img->mask[q])
                    continue;
                  v[k++] = pl[q];
                }
              gsize at = (gsize) y * w + x;
              if (k == 0)
                {
                  img->mask[at] = 0;
                  continue;
                }
              qsort (v, (size_t) k, sizeof (float), cmp_float);
              pl[at] = k % 2 ? v[k / 2] : 0.5f * (v[k / 2 - 1] + v[k / 2]);
              if (revalidate)
                img->mask[at] = 1;
            }
        }
    }
}

/* s = t_light / t_dark; 1 when either is unknown or the dark holds the bias */
static double
exposure_scale (const TsrCalib *c, double exposure)
{
  if (c->dark && !c->dark_has_bias && exposure > 0 && c->dark_exposure > 0)
    return exposure / c->dark_exposure;
  return 1.0;
}

/* The k minimising the noise of L − B − k·(D − B): least squares between the high-passed
 * light and dark current (each sample minus the mean of its 4 same-colour neighbours, which
 * removes the sky, stars' smooth parts and the vignetting while keeping the pixel-scale
 * structure of the dark current: hot pixels, column and amp-glow edges). NAN when the dark
 * current has no structure to fit. */
static double
optimal_scale (const TsrCalib *c, const TsrImage *raw)
{
  const int w = raw->width, h = raw->height, st = c->mosaic ? 2 : 1;
  double num = 0, den = 0;
  for (int ch = 0; ch < raw->channels; ch++)
    {
      const float *l = tsr_image_plane (raw, ch), *b = tsr_image_plane (c->bias, ch), *d = tsr_image_plane (c->dark, ch);
      for (int y = st; y < h - st; y++)
        for (int x = st; x < w - st; x++)
          {
            gsize i = (gsize) y * w + x;
            const gsize nb[4] = { i - st, i + st, i - (gsize) st * w, i + (gsize) st * w };
            gboolean ok = raw->mask[i] && c->dark->mask[i] && c->bias->mask[i];
            double la = 0, da = 0;
            for (int k = 0; k < 4 && ok; k++)
              {
                ok = raw->mask[nb[k]] && c->dark->mask[nb[k]] && c->bias->mask[nb[k]];
                la += l[nb[k]] - b[nb[k]];
                da += d[nb[k]];
              }
            if (!ok)
              continue;
            double a = (l[i] - b[i]) - la / 4, dd = d[i] - da / 4;
            num += a * dd;
            den += dd * dd;
          }
    }
  return den > 0 ? num / den : NAN;
}

static gboolean apply_scaled (const TsrCalib *c, TsrImage *img, int y0, double s, GError **error);

gboolean
tsr_calib_apply (const TsrCalib *c, TsrImage *img, int y0, double exposure, GError **error)
{
  g_return_val_if_fail (c != NULL && c->built, FALSE);
  return apply_scaled (c, img, y0, exposure_scale (c, exposure), error);
}

double
tsr_calib_dark_scale (const TsrCalib *c, guint index)
{
  if (!c || !c->k_opt || index >= c->n_lights)
    return NAN;
  g_mutex_lock ((GMutex *) &c->lock);
  double k = c->k_opt[index];
  g_mutex_unlock ((GMutex *) &c->lock);
  return k;
}

static gboolean
apply_scaled (const TsrCalib *c, TsrImage *img, int y0, double s, GError **error)
{
  if (img->width != c->width || img->channels != c->channels || y0 < 0 || y0 + img->height > c->height)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                   _("a frame of %d × %d × %d cannot be calibrated with masters of %d × %d × %d"), img->width,
                   img->height, img->channels, c->width, c->height, c->channels);
      return FALSE;
    }
  const int w = img->width;
  const gsize n = tsr_image_npix (img);
  const gsize off0 = (gsize) y0 * w;
  const float fmin = (float) c->p.flat_min;
  for (int ch = 0; ch < img->channels; ch++)
    {
      float *pl = tsr_image_plane (img, ch);
      const float *b = c->bias ? tsr_image_plane (c->bias, ch) + off0 : NULL;
      const float *d = c->dark ? tsr_image_plane (c->dark, ch) + off0 : NULL;
      const float *f = c->flat ? tsr_image_plane (c->flat, ch) + off0 : NULL;
      for (gsize i = 0; i < n; i++)
        {
          double v = pl[i];
          if (b)
            v -= b[i];
          if (d)
            v -= s * d[i];
          if (f)
            {
              if (f[i] >= fmin)
                v /= f[i];
              else
                {
                  v = 0;
                  img->mask[i] = 0;
                }
            }
          pl[i] = (float) v;
        }
    }
  const TsrImage *masters[] = { c->bias, c->dark, c->flat };
  for (guint m = 0; m < G_N_ELEMENTS (masters); m++)
    if (masters[m])
      for (gsize i = 0; i < n; i++)
        img->mask[i] &= masters[m]->mask[off0 + i];

  /* hot and cold pixels: the median of the same-colour neighbours that are neither (a dead
   * pixel's flat held nothing either: the repaired sample is valid again) */
  if (c->bad)
    tsr_calib_repair_pixels (c->bad, img->height + y0, c->mosaic ? 2 : 1, img, y0, TRUE);
  return TRUE;
}

static gboolean
calib_filter (guint index, const TsrFrameInfo *frame, TsrImage *img, int y0, gpointer data, GError **error)
{
  TsrCalib *c = data;
  double s = exposure_scale (c, frame->info.exposure);
  if (c->k_opt && index < c->n_lights)
    {
      g_mutex_lock (&c->lock);
      double k = c->k_opt[index];
      g_mutex_unlock (&c->lock);
      if (isnan (k))
        {
          /* the light's first read: the scale comes from the whole raw frame */
          if (y0 == 0 && img->height == c->height)
            k = optimal_scale (c, img);
          else
            {
              g_autoptr (TsrImage) whole = tsr_frame_read (frame->path, error);
              if (!whole)
                return FALSE;
              if (whole->width != c->width || whole->height != c->height || whole->channels != c->channels)
                {
                  g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, _("%s: changed size since the session was scanned"),
                               frame->path);
                  return FALSE;
                }
              k = optimal_scale (c, whole);
            }
          if (!(k > 0) || !isfinite (k))
            k = s; /* nothing to fit: by exposure */
          g_mutex_lock (&c->lock);
          c->k_opt[index] = k;
          g_mutex_unlock (&c->lock);
        }
      s = k;
    }
  return apply_scaled (c, img, y0, s, error);
}

static void
calib_destroy (gpointer data)
{
  tsr_calib_free (data);
}

void
tsr_calib_attach (TsrCalib *c, TsrSession *lights)
{
  g_return_if_fail (c != NULL && c->built && lights != NULL);
  gsize bytes = 0;
  const TsrImage *masters[] = { c->bias, c->dark, c->flat };
  for (guint m = 0; m < G_N_ELEMENTS (masters); m++)
    if (masters[m])
      bytes += tsr_image_npix (masters[m]) * (masters[m]->channels * sizeof (float) + 1);
  if (c->bad)
    bytes += (gsize) c->width * c->height;
  /* what was done, for the products' HISTORY */
  GString *h = g_string_new ("Tessera calibration:");
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    if (c->in[k].given)
      {
        g_string_append_printf (h, " %s=%s (%s", kind_names[k], c->in[k].path,
                                c->in[k].is_master ? "master" : "frames");
        if (c->in[k].n_frames)
          g_string_append_printf (h, " %u", c->in[k].n_frames);
        if (isfinite (c->in[k].exposure) && k != TSR_CALIB_BIAS)
          g_string_append_printf (h, ", %g s", c->in[k].exposure);
        g_string_append_c (h, ')');
      }
  if (c->dark)
    g_string_append (h, c->dark_has_bias          ? " dark=unscaled"
                        : c->p.dark_optimize ? " dark=scaled to the least noise per light"
                                             : " dark=scaled by exposure");
  if (c->dark && !c->dark_has_bias && c->p.dark_optimize)
    {
      c->n_lights = tsr_session_n_frames (lights);
      c->k_opt = g_new (double, MAX (c->n_lights, 1u));
      for (guint i = 0; i < c->n_lights; i++)
        c->k_opt[i] = NAN;
    }
  g_string_append_printf (h, " method=%s kappa=%g hot=%lu cold=%lu flat_min=%g",
                          (const char *[]){ "winsor", "sigma", "median", "mean" }[CLAMP ((int) c->p.method, 0, 3)],
                          c->p.kappa, (unsigned long) c->n_hot, (unsigned long) c->n_cold, c->p.flat_min);
  g_autofree char *history = g_string_free (h, FALSE);
  /* the raw dark and the dark-flat are not applied: only B, D − B (or D) and F stay */
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    if (c->in[k].master)
      g_clear_pointer (&c->in[k].master, tsr_image_unref);
  tsr_session_set_filter (lights, calib_filter, c, calib_destroy, c->mosaic ? 2 : 1, bytes, history);
}

/* ---------------------------------------------------------------------------------------
 * Lunar and planetary frames (a TsrFrameSource: stills, SER, video)
 */

gboolean
tsr_calib_check_source (const TsrCalib *c, const TsrFrameSource *src, GError **error)
{
  if (tsr_calib_is_empty (c))
    return TRUE;
  int w, h, ch;
  tsr_frame_source_size (src, &w, &h, &ch);
  TsrCfa cfa = tsr_frame_source_cfa (src);
  if (w == c->width && h == c->height && ch == c->channels && cfa == c->cfa)
    return TRUE;
  const char *name = NULL, *opt = NULL;
  for (guint k = 0; k < TSR_CALIB_N_KINDS && !name; k++)
    if (c->in[k].given)
      {
        name = c->in[k].first ? c->in[k].first : c->in[k].path;
        opt = kind_options[k];
      }
  g_autofree char *d = describe (c->width, c->height, c->channels, c->cfa, 1, 1);
  g_autofree char *r = describe (w, h, ch, cfa, 1, 1);
  g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
               _("%s (%s): %s does not match %s of %s; calibration frames must have the lights' size, "
                 "Bayer pattern and binning"),
               name, opt, d, r, tsr_frame_source_path (src));
  return FALSE;
}

static gboolean
source_filter (guint index, TsrImage *img, gpointer data, GError **error)
{
  (void) index;
  return tsr_calib_apply (data, img, 0, NAN, error);
}

void
tsr_calib_attach_source (TsrCalib *c, TsrFrameSource *src)
{
  g_return_if_fail (c != NULL && c->built && src != NULL);
  tsr_frame_source_set_filter (src, source_filter, c, calib_destroy);
}
