/* tsr-ser.c — SER videos (LUCAM-RECORDER format, Heiko Wilkens / Grischa Hahn, v3).
 *
 * Layout: a 178-byte header, FrameCount frames of Width × Height × planes × bytes samples,
 * then optionally FrameCount little-endian int64 timestamps (100 ns ticks since
 * 0001-01-01 UTC). 16-bit samples are little-endian when the LittleEndian field is 1 (as the
 * specification says); a file whose field is 0 is read big-endian. We write 1. */
#include "tsr-image-reader.h"
#include "tsr-error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SER_HEADER 178
/* ticks (100 ns) from 0001-01-01 to 1970-01-01 */
#define SER_EPOCH_TICKS G_GINT64_CONSTANT (621355968000000000)

struct _TsrSer
{
  char *path;
  FILE *fp;
  TsrSerInfo info;
  int planes, bytes;
  gsize frame_bytes;
  gint64 *times;   /* NULL without trailer */
  guint8 *buf;
};

static gint32
rd32 (const guint8 *p)
{
  return (gint32) ((guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24));
}

static gint64
rd64 (const guint8 *p)
{
  guint64 v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return (gint64) v;
}

static void
wr32 (guint8 *p, gint32 v)
{
  for (int i = 0; i < 4; i++)
    p[i] = ((guint32) v >> (8 * i)) & 0xff;
}

static void
wr64 (guint8 *p, gint64 v)
{
  for (int i = 0; i < 8; i++)
    p[i] = ((guint64) v >> (8 * i)) & 0xff;
}

void
tsr_ser_close (TsrSer *ser)
{
  if (!ser)
    return;
  if (ser->fp)
    fclose (ser->fp);
  g_free (ser->path);
  g_free (ser->times);
  g_free (ser->buf);
  g_free (ser);
}

TsrSer *
tsr_ser_open (const char *path, GError **error)
{
  FILE *fp = g_fopen (path, "rb");
  if (!fp)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, e == ENOENT ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO,
                   "%s: cannot open: %s", path, g_strerror (e));
      return NULL;
    }
  guint8 h[SER_HEADER];
  if (fread (h, 1, SER_HEADER, fp) != SER_HEADER)
    {
      fclose (fp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   "%s: truncated SER file (shorter than its %d-byte header)", path, SER_HEADER);
      return NULL;
    }
  if (memcmp (h, "LUCAM-RECORDER", 14) != 0)
    {
      fclose (fp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   "%s: not a SER file (no LUCAM-RECORDER signature)", path);
      return NULL;
    }
  TsrSer *ser = g_new0 (TsrSer, 1);
  ser->path = g_strdup (path);
  ser->fp = fp;
  TsrSerInfo *in = &ser->info;
  in->color = rd32 (h + 18);
  in->little_endian = rd32 (h + 22) != 0;
  in->width = rd32 (h + 26);
  in->height = rd32 (h + 30);
  in->depth = rd32 (h + 34);
  gint32 count = rd32 (h + 38);
  memcpy (in->observer, h + 42, 40);
  memcpy (in->instrument, h + 82, 40);
  memcpy (in->telescope, h + 122, 40);
  in->date_utc = rd64 (h + 170);
  switch (in->color)
    {
    case TSR_SER_MONO: case TSR_SER_BAYER_RGGB: case TSR_SER_BAYER_GRBG:
    case TSR_SER_BAYER_GBRG: case TSR_SER_BAYER_BGGR:
      ser->planes = 1;
      break;
    case TSR_SER_RGB: case TSR_SER_BGR:
      ser->planes = 3;
      break;
    default:
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   "%s: unsupported SER colour id %d (mono, RGGB/GRBG/GBRG/BGGR Bayer, RGB and BGR are read)",
                   path, (int) in->color);
      tsr_ser_close (ser);
      return NULL;
    }
  if (in->width <= 0 || in->height <= 0 || in->width > 65536 || in->height > 65536
      || (gint64) in->width * in->height > (gint64) 400 * 1000 * 1000)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, "%s: SER frame size %d × %d is out of range",
                   path, in->width, in->height);
      tsr_ser_close (ser);
      return NULL;
    }
  if (in->depth < 1 || in->depth > 16)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, "%s: unsupported SER pixel depth %d (1–16 bits are read)",
                   path, in->depth);
      tsr_ser_close (ser);
      return NULL;
    }
  if (count <= 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY, "%s: the SER file holds no frames", path);
      tsr_ser_close (ser);
      return NULL;
    }
  in->n_frames = count;
  ser->bytes = in->depth > 8 ? 2 : 1;
  ser->frame_bytes = (gsize) in->width * in->height * ser->planes * ser->bytes;

  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: cannot stat: %s", path, g_strerror (errno));
      tsr_ser_close (ser);
      return NULL;
    }
  guint64 need = SER_HEADER + (guint64) ser->frame_bytes * in->n_frames;
  if ((guint64) st.st_size < need)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   "%s: truncated SER file: %u frames of %d × %d need %" G_GUINT64_FORMAT " bytes, the file has %"
                   G_GINT64_FORMAT " (%" G_GUINT64_FORMAT " whole frames)",
                   path, in->n_frames, in->width, in->height, need, (gint64) st.st_size,
                   ((guint64) st.st_size - SER_HEADER) / ser->frame_bytes);
      tsr_ser_close (ser);
      return NULL;
    }
  if ((guint64) st.st_size >= need + 8ull * in->n_frames)
    {
      guint8 *tb = g_malloc (8ull * in->n_frames);
      if (fseeko (fp, (off_t) need, SEEK_SET) == 0 && fread (tb, 8, in->n_frames, fp) == in->n_frames)
        {
          ser->times = g_new (gint64, in->n_frames);
          gboolean any = FALSE;
          for (guint i = 0; i < in->n_frames; i++)
            {
              ser->times[i] = rd64 (tb + 8 * i);
              any |= ser->times[i] > 0;
            }
          if (!any)
            g_clear_pointer (&ser->times, g_free);
        }
      g_free (tb);
    }
  in->has_timestamps = ser->times != NULL;
  ser->buf = g_malloc (ser->frame_bytes);
  return ser;
}

const TsrSerInfo *
tsr_ser_info (const TsrSer *ser)
{
  return &ser->info;
}

double
tsr_ser_frame_time (const TsrSer *ser, guint i)
{
  if (!ser->times || i >= ser->info.n_frames || ser->times[i] <= 0)
    return NAN;  /* no stamp for this frame (a zero or a damaged, negative tick count) */
  /* in integers: both are positive, so the difference cannot overflow whatever a damaged
   * trailer holds; in double the ticks (~6e17) would lose 128 of them (~6 µs) */
  return (double) (ser->times[i] - SER_EPOCH_TICKS) / 1e7;
}

static TsrCfa
ser_cfa (TsrSerColor c)
{
  switch (c)
    {
    case TSR_SER_BAYER_RGGB: return TSR_CFA_RGGB;
    case TSR_SER_BAYER_GRBG: return TSR_CFA_GRBG;
    case TSR_SER_BAYER_GBRG: return TSR_CFA_GBRG;
    case TSR_SER_BAYER_BGGR: return TSR_CFA_BGGR;
    default: return TSR_CFA_NONE;
    }
}

TsrImage *
tsr_ser_read_frame (TsrSer *ser, guint i, GError **error)
{
  const TsrSerInfo *in = &ser->info;
  if (i >= in->n_frames)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: frame %u does not exist (%u frames)",
                   ser->path, i + 1, in->n_frames);
      return NULL;
    }
  if (fseeko (ser->fp, (off_t) (SER_HEADER + (guint64) ser->frame_bytes * i), SEEK_SET) != 0
      || fread (ser->buf, 1, ser->frame_bytes, ser->fp) != ser->frame_bytes)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED, "%s: cannot read frame %u (file truncated?)",
                   ser->path, i + 1);
      return NULL;
    }
  TsrImage *img = tsr_image_new_uninit (in->width, in->height, ser->planes);
  memset (img->mask, 1, tsr_image_npix (img));
  img->cfa = ser_cfa (in->color);
  gsize npix = tsr_image_npix (img);
  for (gsize p = 0; p < npix; p++)
    for (int c = 0; c < ser->planes; c++)
      {
        gsize k = p * ser->planes + c;
        float v;
        if (ser->bytes == 1)
          v = ser->buf[k];
        else
          {
            const guint8 *b = ser->buf + 2 * k;
            v = in->little_endian ? (b[0] | (b[1] << 8)) : ((b[0] << 8) | b[1]);
          }
        int plane = in->color == TSR_SER_BGR ? 2 - c : c;
        img->data[(gsize) plane * npix + p] = v;
      }
  tsr_header_set_int (img->header, "SERFRAME", i + 1, "frame index in the SER file");
  return img;
}

gboolean
tsr_ser_write (const char *path, TsrImage *const *frames, guint n, int depth, TsrSerColor color,
               const double *times, GError **error)
{
  g_return_val_if_fail (n > 0 && (depth == 8 || depth == 16), FALSE);
  int w = frames[0]->width, h = frames[0]->height, planes = frames[0]->channels;
  int want = (color == TSR_SER_RGB || color == TSR_SER_BGR) ? 3 : 1;
  if (planes != want)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   "%s: SER colour id %d needs %d-channel frames, got %d", path, color, want, planes);
      return FALSE;
    }
  for (guint f = 1; f < n; f++)
    if (frames[f]->width != w || frames[f]->height != h || frames[f]->channels != planes)
      {
        g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, "%s: frame %u has another size", path, f + 1);
        return FALSE;
      }
  g_autofree char *tmp = g_strdup_printf ("%s.part", path);
  FILE *fp = g_fopen (tmp, "wb");
  if (!fp)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: cannot create: %s", tmp, g_strerror (errno));
      return FALSE;
    }
  guint8 hd[SER_HEADER] = { 0 };
  memcpy (hd, "LUCAM-RECORDER", 14);
  wr32 (hd + 14, 0);
  wr32 (hd + 18, color);
  wr32 (hd + 22, 1);
  wr32 (hd + 26, w);
  wr32 (hd + 30, h);
  wr32 (hd + 34, depth);
  wr32 (hd + 38, n);
  memcpy (hd + 82, "Tessera", 7);
  if (times)
    {
      gint64 t = SER_EPOCH_TICKS + (gint64) llround (times[0] * 1e7);
      wr64 (hd + 162, t);
      wr64 (hd + 170, t);
    }
  gboolean ok = fwrite (hd, 1, SER_HEADER, fp) == SER_HEADER;
  int bytes = depth / 8;
  gsize npix = (gsize) w * h;
  guint8 *buf = g_malloc (npix * planes * bytes);
  float vmax = depth == 8 ? 255.f : 65535.f;
  for (guint f = 0; ok && f < n; f++)
    {
      for (gsize p = 0; p < npix; p++)
        for (int c = 0; c < planes; c++)
          {
            int plane = color == TSR_SER_BGR ? 2 - c : c;
            float v = frames[f]->data[(gsize) plane * npix + p];
            v = v < 0 ? 0 : v > vmax ? vmax : v;
            guint32 q = (guint32) lrintf (v);
            gsize k = p * planes + c;
            if (bytes == 1)
              buf[k] = q;
            else
              {
                buf[2 * k] = q & 0xff;
                buf[2 * k + 1] = q >> 8;
              }
          }
      ok = fwrite (buf, 1, npix * planes * bytes, fp) == npix * planes * bytes;
    }
  g_free (buf);
  for (guint f = 0; ok && times && f < n; f++)
    {
      guint8 tb[8];
      wr64 (tb, SER_EPOCH_TICKS + (gint64) llround (times[f] * 1e7));
      ok = fwrite (tb, 1, 8, fp) == 8;
    }
  if (fflush (fp) != 0)
    ok = FALSE;
  if (fclose (fp) != 0)
    ok = FALSE;
  if (!ok)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: write failed: %s", tmp, g_strerror (errno));
      g_unlink (tmp);
      return FALSE;
    }
  if (g_rename (tmp, path) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: cannot rename to %s: %s", tmp, path, g_strerror (errno));
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}
