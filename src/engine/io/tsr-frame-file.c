/* tsr-frame-file.c — the deep-sky frame formats behind one interface (tsr-frame-file.h), and
 * the metadata of TIFF frames through libtiff. */
#include "tsr-frame-file.h"
#include "tsr-error.h"
#include "tsr-image-reader.h"
#include "tsr-raw.h"
#include "tsr-session.h"
#include "tsr-xisf.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tiffio.h>

static gboolean
is_tiff_name (const char *name)
{
  g_autofree char *low = g_ascii_strdown (name, -1);
  return g_str_has_suffix (low, ".tif") || g_str_has_suffix (low, ".tiff");
}

gboolean
tsr_is_frame_name (const char *name)
{
  if (!name || name[0] == '.')
    return FALSE;
  return tsr_is_fits_name (name) || tsr_is_xisf_name (name) || is_tiff_name (name) || tsr_is_raw_name (name);
}

TsrFrameFormat
tsr_frame_format (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  if (tsr_is_fits_name (base))
    return TSR_FRAME_FITS;
  if (tsr_is_xisf_name (base))
    return TSR_FRAME_XISF;
  if (is_tiff_name (base))
    return TSR_FRAME_TIFF;
  if (tsr_is_raw_name (base))
    return TSR_FRAME_RAW;
  /* another name: by content */
  guint8 m[8] = { 0 };
  FILE *fp = g_fopen (path, "rb");
  size_t n = 0;
  if (fp)
    {
      n = fread (m, 1, sizeof m, fp);
      fclose (fp);
    }
  if (n >= 8 && memcmp (m, "XISF0100", 8) == 0)
    return TSR_FRAME_XISF;
  if (n >= 4 && ((m[0] == 'I' && m[1] == 'I' && m[2] == 42 && m[3] == 0) || (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && m[3] == 42)))
    return TSR_FRAME_TIFF;
  return TSR_FRAME_FITS;
}

const char *
tsr_frame_format_name (TsrFrameFormat f)
{
  switch (f)
    {
    case TSR_FRAME_XISF: return "XISF";
    case TSR_FRAME_TIFF: return "TIFF";
    case TSR_FRAME_RAW: return "camera raw";
    default: return "FITS";
    }
}

/* ---------------------------------------------------------------- TIFF metadata */

/* "YYYY:MM:DD HH:MM:SS" (TIFF and EXIF dates) to DATE-OBS form. */
static char *
tiff_date (const char *s)
{
  int Y, M, D, h, m, sec;
  if (!s || sscanf (s, "%4d:%2d:%2d %2d:%2d:%2d", &Y, &M, &D, &h, &m, &sec) != 6)
    return NULL;
  if (Y < 1900 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return NULL;
  return g_strdup_printf ("%04d-%02d-%02dT%02d:%02d:%02d", Y, M, D, h, m, sec);
}

/* Lines of an ImageDescription that are FITS cards ("KEY = value / comment"). */
static void
description_cards (TsrHeader *h, const char *desc)
{
  g_auto (GStrv) lines = g_strsplit_set (desc, "\r\n", -1);
  for (int i = 0; lines[i] && i < 4096; i++)
    {
      const char *l = lines[i];
      const char *eq = strchr (l, '=');
      if (!eq || eq - l > 8 || eq == l)
        continue;
      gboolean ok = TRUE;
      for (const char *p = l; p < eq && ok; p++)
        ok = g_ascii_isupper (*p) || g_ascii_isdigit (*p) || *p == '-' || *p == '_' || *p == ' ';
      if (!ok)
        continue;
      g_autofree char *key = g_strstrip (g_strndup (l, eq - l));
      if (!*key)
        continue;
      g_autofree char *value = g_strstrip (g_strdup (eq + 1));
      g_autofree char *card = g_strdup_printf ("%-8s= %s", key, value);
      tsr_header_add_card (h, card);
    }
}

gboolean
tsr_tiff_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error)
{
  TsrTiffErr err = { "", 0 };
  TIFF *tif = tsr_tiff_open_read (path, &err, error);
  if (!tif)
    return FALSE;
  guint32 w = 0, hgt = 0;
  guint16 spp = 1, bps = 8, fmt = SAMPLEFORMAT_UINT, photo = PHOTOMETRIC_MINISBLACK;
  TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &hgt);
  TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted (tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLEFORMAT, &fmt);
  TIFFGetFieldDefaulted (tif, TIFFTAG_PHOTOMETRIC, &photo);
  if (w == 0 || hgt == 0 || w > TSR_FITS_MAX_AXIS || hgt > TSR_FITS_MAX_AXIS
      || (guint64) w * hgt > (guint64) TSR_FITS_MAX_PIXELS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: TIFF size %u × %u is out of range"), path, w, hgt);
      TIFFClose (tif);
      return FALSE;
    }
  gboolean ok_fmt = (fmt == SAMPLEFORMAT_UINT && (bps == 8 || bps == 16 || bps == 32))
                    || (fmt == SAMPLEFORMAT_IEEEFP && bps == 32);
  if (!ok_fmt || spp < 1 || spp > 4 || photo == PHOTOMETRIC_PALETTE || photo == PHOTOMETRIC_YCBCR)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: unsupported TIFF layout (%u samples of %u bits, format %u, photometric %u): 8/16/32-bit "
                     "unsigned or 32-bit float grey or RGB are read"),
                   path, spp, bps, fmt, photo);
      TIFFClose (tif);
      return FALSE;
    }
  int channels = spp >= 3 ? 3 : 1;
  TsrHeader *h = tsr_header_new ();
  char *desc = NULL;
  if (TIFFGetField (tif, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc)
    description_cards (h, desc);
  /* TIFF/EP CFA: a 2×2 CFAPattern of 0 = R, 1 = G, 2 = B */
  if (channels == 1 && !tsr_header_has (h, "BAYERPAT") && photo == 32803)
    {
      guint16 *dim = NULL;
      guint16 count = 0;
      guint8 *pat = NULL;
      if (TIFFGetField (tif, TIFFTAG_CFAREPEATPATTERNDIM, &dim) && dim && dim[0] == 2 && dim[1] == 2
          && TIFFGetField (tif, TIFFTAG_CFAPATTERN, &count, &pat) && pat && count == 4)
        {
          char name[5] = { 0 };
          for (int i = 0; i < 4; i++)
            name[i] = pat[i] == 0 ? 'R' : pat[i] == 1 ? 'G' : pat[i] == 2 ? 'B' : '?';
          if (tsr_cfa_from_name (name) != TSR_CFA_NONE)
            tsr_header_set_string (h, "BAYERPAT", name, "TIFF/EP CFAPattern");
        }
    }
  char *dt = NULL;
  g_autofree char *date = NULL;
  if (TIFFGetField (tif, TIFFTAG_DATETIME, &dt) && dt)
    date = tiff_date (dt);
  toff_t exif = 0;
  if (TIFFGetField (tif, TIFFTAG_EXIFIFD, &exif) && exif && TIFFReadEXIFDirectory (tif, exif))
    {
      /* a rational that libtiff hands out as float or double depending on its field table */
      union { float f; double d; } u;
      memset (&u, 0, sizeof u);
      const TIFFField *fld = TIFFFieldWithTag (tif, EXIFTAG_EXPOSURETIME);
      gboolean got = fld && TIFFGetField (tif, EXIFTAG_EXPOSURETIME, &u);
      double t = fld && TIFFFieldSetGetSize (fld) == 4 ? u.f : u.d;
      if (got && t > 0 && isfinite (t) && !tsr_header_has (h, "EXPTIME")
          && !tsr_header_has (h, "EXPOSURE"))
        tsr_header_set_double (h, "EXPTIME", t, "[s] EXIF ExposureTime");
      char *orig = NULL;
      if (TIFFGetField (tif, EXIFTAG_DATETIMEORIGINAL, &orig) && orig)
        {
          char *d = tiff_date (orig);
          if (d)
            {
              g_free (date);
              date = d;
            }
        }
    }
  if (date && !tsr_header_has (h, "DATE-OBS"))
    tsr_header_set_string (h, "DATE-OBS", date, "TIFF DateTime (camera clock)");
  TIFFClose (tif);
  if (!tsr_fits_check_keywords (path, h, error))
    {
      tsr_header_free (h);
      return FALSE;
    }
  tsr_fits_info_from_header (info, (int) w, (int) hgt, channels, fmt == SAMPLEFORMAT_IEEEFP ? -32 : bps, h);
  if (header_out)
    *header_out = h;
  else
    tsr_header_free (h);
  return TRUE;
}

static TsrImage *
tiff_read (const char *path, GError **error)
{
  TsrFitsInfo info;
  TsrHeader *h = NULL;
  if (!tsr_tiff_read_info (path, &info, &h, error))
    return NULL;
  TsrImage *img = tsr_image_tiff_read (path, error);
  if (img && (img->width != info.width || img->height != info.height || img->channels != info.channels))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: bad TIFF file (its size changed while read)"), path);
      g_clear_pointer (&img, tsr_image_unref);
    }
  if (img)
    {
      tsr_header_free (img->header);
      img->header = g_steal_pointer (&h);
      img->cfa = info.cfa;
    }
  tsr_header_free (h);
  tsr_fits_info_clear (&info);
  return img;
}

/* Rows [y0, y1) cut from a whole image read by read (for formats without row access). */
static TsrImage *
crop_rows (TsrImage *whole, const char *path, int y0, int y1, GError **error)
{
  if (!whole)
    return NULL;
  if (y0 < 0 || y1 > whole->height || y0 >= y1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: rows %d…%d requested from an image of height %d"),
                   path, y0, y1, whole->height);
      tsr_image_unref (whole);
      return NULL;
    }
  if (y0 == 0 && y1 == whole->height)
    return whole;
  TsrImage *out = tsr_image_new_uninit (whole->width, y1 - y0, whole->channels);
  out->cfa = tsr_cfa_shift (whole->cfa, 0, y0 & 1);
  tsr_header_free (out->header);
  out->header = tsr_header_copy (whole->header);
  gsize row = (gsize) whole->width, rows = (gsize) (y1 - y0);
  for (int c = 0; c < whole->channels; c++)
    memcpy (tsr_image_plane (out, c), tsr_image_plane (whole, c) + (gsize) y0 * row, rows * row * sizeof (float));
  memcpy (out->mask, whole->mask + (gsize) y0 * row, rows * row);
  tsr_image_unref (whole);
  return out;
}

gboolean
tsr_frame_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error)
{
  switch (tsr_frame_format (path))
    {
    case TSR_FRAME_XISF: return tsr_xisf_read_info (path, info, header_out, error);
    case TSR_FRAME_TIFF: return tsr_tiff_read_info (path, info, header_out, error);
    case TSR_FRAME_RAW: return tsr_raw_read_info (path, info, header_out, error);
    default: return tsr_fits_read_info (path, info, header_out, error);
    }
}

TsrImage *
tsr_frame_read (const char *path, GError **error)
{
  switch (tsr_frame_format (path))
    {
    case TSR_FRAME_XISF: return tsr_xisf_read (path, error);
    case TSR_FRAME_TIFF: return tiff_read (path, error);
    case TSR_FRAME_RAW: return tsr_raw_read (path, error);
    default: return tsr_fits_read (path, error);
    }
}

TsrImage *
tsr_frame_read_rows (const char *path, int y0, int y1, GError **error)
{
  switch (tsr_frame_format (path))
    {
    case TSR_FRAME_XISF: return tsr_xisf_read_rows (path, y0, y1, error);
    case TSR_FRAME_TIFF: return crop_rows (tiff_read (path, error), path, y0, y1, error);
    case TSR_FRAME_RAW: return tsr_raw_read_rows (path, y0, y1, error);
    default: return tsr_fits_read_rows (path, y0, y1, error);
    }
}
