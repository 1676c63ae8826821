/* tsr-raw.c — camera raw frames through LibRaw (libraw_r, the thread-safe build): the sensor's
 * CFA samples as stored, cropped to the visible area, black level subtracted, no demosaic. */
#include "tsr-raw.h"
#include "tsr-error.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <libraw.h>
#include <math.h>
#include <string.h>

/* Decoded pixels per byte of file no raw codec reaches (lossless JPEG needs at least one bit
 * per sample; the densest Huffman tables in LibRaw's decoders are of that order), plus slack
 * for small files. A header declaring more cannot be backed by the file. */
#define TSR_RAW_MAX_PIXELS_PER_BYTE 16
#define TSR_RAW_PIXEL_SLACK (1024 * 1024)

gboolean
tsr_is_raw_name (const char *name)
{
  static const char *const s[] = { ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng",
                                   ".raf", ".orf", ".rw2", ".pef", ".srw", ".3fr", ".iiq", ".erf", ".kdc",
                                   ".mrw", NULL };
  if (!name || name[0] == '.')
    return FALSE;
  g_autofree char *low = g_ascii_strdown (name, -1);
  for (guint i = 0; s[i]; i++)
    if (g_str_has_suffix (low, s[i]))
      return TRUE;
  return FALSE;
}

static void
set_raw_error (GError **error, const char *path, int code)
{
  int tsr_code = code == LIBRAW_FILE_UNSUPPORTED ? TSR_ERROR_FORMAT
                 : code == LIBRAW_IO_ERROR || code == LIBRAW_DATA_ERROR ? TSR_ERROR_TRUNCATED
                 : code == LIBRAW_UNSUFFICIENT_MEMORY || code == LIBRAW_TOO_BIG ? TSR_ERROR_TOO_LARGE
                                                                                : TSR_ERROR_FORMAT;
  g_set_error (error, TSR_ERROR, tsr_code, _("%s: cannot read the camera raw file (%s)"), path,
               libraw_strerror (code));
}

/* The colour (TSR_RED/GREEN/BLUE) of visible pixel (row, col), or −1 when not R, G or B. */
static int
site_color (libraw_data_t *lr, int row, int col)
{
  int c = libraw_COLOR (lr, row, col);
  if (c < 0 || c > 3)
    return -1;
  switch (lr->idata.cdesc[c])
    {
    case 'R': return TSR_RED;
    case 'G': return TSR_GREEN;
    case 'B': return TSR_BLUE;
    default: return -1;
    }
}

/* The 2×2 Bayer pattern of the visible area, or TSR_CFA_NONE when the sensor has none of the
 * four (X-Trans, Foveon, CMYG, a linear DNG). */
static TsrCfa
raw_cfa (libraw_data_t *lr)
{
  if (lr->idata.filters == 0 || lr->idata.filters < 1000 || lr->idata.colors < 3)
    return TSR_CFA_NONE;
  static const TsrCfa all[] = { TSR_CFA_RGGB, TSR_CFA_GRBG, TSR_CFA_GBRG, TSR_CFA_BGGR };
  for (guint k = 0; k < G_N_ELEMENTS (all); k++)
    {
      gboolean same = TRUE;
      for (int y = 0; y < 4 && same; y++)
        for (int x = 0; x < 4 && same; x++)
          same = site_color (lr, y, x) == tsr_cfa_color (all[k], x, y);
      if (same)
        return all[k];
    }
  return TSR_CFA_NONE;
}

static void
fill_header (libraw_data_t *lr, TsrHeader *h, TsrCfa cfa)
{
  char make[128];
  g_snprintf (make, sizeof make, "%s %s", lr->idata.make, lr->idata.model);
  g_strstrip (make);
  if (*make)
    tsr_header_set_string (h, "INSTRUME", make, "camera (LibRaw)");
  if (cfa != TSR_CFA_NONE)
    tsr_header_set_string (h, "BAYERPAT", tsr_cfa_name (cfa), "CFA of the visible area (LibRaw)");
  if (lr->other.shutter > 0 && isfinite (lr->other.shutter))
    tsr_header_set_double (h, "EXPTIME", lr->other.shutter, "[s] exposure (camera metadata)");
  if (lr->other.iso_speed > 0 && isfinite (lr->other.iso_speed))
    tsr_header_set_double (h, "ISOSPEED", lr->other.iso_speed, "ISO (camera metadata)");
  if (lr->other.timestamp > 0)
    {
      /* cameras store their clock's reading without a zone; LibRaw turns it into a time_t with
       * mktime (the machine's local zone), so the local breakdown gives the reading back */
      g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local ((gint64) lr->other.timestamp);
      if (dt)
        {
          g_autofree char *s = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
          tsr_header_set_string (h, "DATE-OBS", s, "camera clock (LibRaw)");
        }
    }
  float t = lr->makernotes.common.SensorTemperature;
  if (isfinite (t) && t > -273.f && t != 0.f && t < 200.f)
    tsr_header_set_double (h, "CCD-TEMP", t, "[C] sensor temperature (camera metadata)");
}

/* Open path with LibRaw (metadata only) and check its size against the file. */
static libraw_data_t *
open_raw (const char *path, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, e == ENOENT ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO, _("%s: cannot open: %s"),
                   path, g_strerror (e));
      return NULL;
    }
  if (st.st_size == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: empty file (not a camera raw file)"), path);
      return NULL;
    }
  libraw_data_t *lr = libraw_init (LIBRAW_OPIONS_NO_DATAERR_CALLBACK);
  if (!lr)
    {
      tsr_set_memory_error (error, sizeof (libraw_data_t), path);
      return NULL;
    }
  int rc = libraw_open_file (lr, path);
  if (rc != LIBRAW_SUCCESS)
    {
      set_raw_error (error, path, rc);
      libraw_close (lr);
      return NULL;
    }
  guint64 w = lr->sizes.width, h = lr->sizes.height, rw = lr->sizes.raw_width, rh = lr->sizes.raw_height;
  if (w == 0 || h == 0 || w > TSR_FITS_MAX_AXIS || h > TSR_FITS_MAX_AXIS || rw * rh > (guint64) TSR_FITS_MAX_PIXELS
      || (guint64) lr->sizes.left_margin + w > rw || (guint64) lr->sizes.top_margin + h > rh)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: camera raw size %u × %u is out of range"), path,
                   (unsigned) w, (unsigned) h);
      libraw_close (lr);
      return NULL;
    }
  if (rw * rh > (guint64) st.st_size * TSR_RAW_MAX_PIXELS_PER_BYTE + TSR_RAW_PIXEL_SLACK)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   _("%s: bad or truncated camera raw file (it declares %u × %u samples, more than %lld bytes can "
                     "hold)"),
                   path, (unsigned) rw, (unsigned) rh, (long long) st.st_size);
      libraw_close (lr);
      return NULL;
    }
  return lr;
}

/* Reject what is not one CFA plane (X-Trans, Foveon, linear DNG, sRAW). */
static gboolean
check_cfa (libraw_data_t *lr, const char *path, TsrCfa cfa, GError **error)
{
  if (cfa != TSR_CFA_NONE)
    return TRUE;
  g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
               _("%s: unsupported camera raw file: the sensor has no 2×2 Bayer pattern (X-Trans, Foveon or an "
                 "already demosaiced file)"),
               path);
  return FALSE;
}

gboolean
tsr_raw_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error)
{
  libraw_data_t *lr = open_raw (path, error);
  if (!lr)
    return FALSE;
  TsrCfa cfa = raw_cfa (lr);
  if (!check_cfa (lr, path, cfa, error))
    {
      libraw_close (lr);
      return FALSE;
    }
  TsrHeader *h = tsr_header_new ();
  fill_header (lr, h, cfa);
  tsr_fits_info_from_header (info, lr->sizes.width, lr->sizes.height, 1, 16, h);
  libraw_close (lr);
  if (header_out)
    *header_out = h;
  else
    tsr_header_free (h);
  return TRUE;
}

static TsrImage *
read_raw (const char *path, int y0, int y1, gboolean whole, GError **error)
{
  libraw_data_t *lr = open_raw (path, error);
  if (!lr)
    return NULL;
  TsrImage *img = NULL;
  TsrCfa cfa = raw_cfa (lr);
  if (!check_cfa (lr, path, cfa, error))
    goto out;
  int W = lr->sizes.width, H = lr->sizes.height;
  if (whole)
    y0 = 0, y1 = H;
  if (y0 < 0 || y1 > H || y0 >= y1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: rows %d…%d requested from an image of height %d"),
                   path, y0, y1, H);
      goto out;
    }
  int rc = libraw_unpack (lr);
  if (rc != LIBRAW_SUCCESS)
    {
      set_raw_error (error, path, rc);
      goto out;
    }
  const unsigned short *raw = lr->rawdata.raw_image;
  /* sizes may change in unpack for some formats: read them again */
  guint64 rw = lr->sizes.raw_width, rh = lr->sizes.raw_height;
  gsize pitch = lr->sizes.raw_pitch ? lr->sizes.raw_pitch / 2 : rw;
  int left = lr->sizes.left_margin, top = lr->sizes.top_margin;
  if (!raw || W != lr->sizes.width || H != lr->sizes.height || pitch < rw || (guint64) left + W > rw
      || (guint64) top + H > rh)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: unsupported camera raw file: no single CFA plane to read"), path);
      goto out;
    }
  img = tsr_image_new_checked (W, y1 - y0, 1, path, error);
  if (!img)
    goto out;
  fill_header (lr, img->header, cfa);
  img->cfa = tsr_cfa_shift (cfa, 0, y0 & 1);
  /* black level per sample: the common level, the per-colour one (cblack[0..3]) and the
   * repeating block cblack[6…] of cblack[4] rows × cblack[5] columns (LibRaw's convention) */
  const unsigned *cb = lr->color.cblack;
  unsigned bh = cb[4], bw = cb[5];
  if ((guint64) bh * bw > LIBRAW_CBLACK_SIZE - 6)
    bh = bw = 0;
  float *dst = img->data;
  for (int y = y0; y < y1; y++)
    for (int x = 0; x < W; x++)
      {
        int c = libraw_COLOR (lr, y, x);
        float black = (float) lr->color.black + (c >= 0 && c < 4 ? (float) cb[c] : 0.f);
        if (bh && bw)
          black += (float) cb[6 + (y % bh) * bw + (x % bw)];
        float v = (float) raw[(gsize) (y + top) * pitch + (gsize) (x + left)];
        dst[(gsize) (y - y0) * W + x] = v - black;
      }
  char note[80];
  g_snprintf (note, sizeof note, "LibRaw %s: raw CFA, black %u subtracted, no demosaic", libraw_version (),
              lr->color.black);
  tsr_header_add_history (img->header, note);
out:
  libraw_close (lr);
  return img;
}

TsrImage *
tsr_raw_read (const char *path, GError **error)
{
  return read_raw (path, 0, 0, TRUE, error);
}

TsrImage *
tsr_raw_read_rows (const char *path, int y0, int y1, GError **error)
{
  return read_raw (path, y0, y1, FALSE, error);
}
