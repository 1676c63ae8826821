/* tsr-tiff.c — baseline TIFF writer (see tsr-tiff.h).
 *
 * File layout: 8-byte header, one IFD right after it, the IFD's out-of-line values (arrays,
 * rationals, strings) each on an even offset, then the strips on a 16-byte boundary. All
 * integers are little-endian ("II"); the pixel data is converted row by row into a small
 * buffer, so memory does not grow with the image. */
#include "tsr-tiff.h"
#include "tsr-output.h"
#include "tsr-error.h"
#include "tsr-config.h"
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

enum
{
  TIFF_SHORT = 3,
  TIFF_LONG = 4,
  TIFF_ASCII = 2,
  TIFF_RATIONAL = 5
};

enum
{
  TAG_IMAGE_WIDTH = 256,
  TAG_IMAGE_LENGTH = 257,
  TAG_BITS_PER_SAMPLE = 258,
  TAG_COMPRESSION = 259,
  TAG_PHOTOMETRIC = 262,
  TAG_IMAGE_DESCRIPTION = 270,
  TAG_STRIP_OFFSETS = 273,
  TAG_SAMPLES_PER_PIXEL = 277,
  TAG_ROWS_PER_STRIP = 278,
  TAG_STRIP_BYTE_COUNTS = 279,
  TAG_X_RESOLUTION = 282,
  TAG_Y_RESOLUTION = 283,
  TAG_PLANAR_CONFIG = 284,
  TAG_RESOLUTION_UNIT = 296,
  TAG_SOFTWARE = 305,
  TAG_SAMPLE_FORMAT = 339
};

#define N_TAGS 16
#define STRIP_TARGET_BYTES 65536

/* A growing little-endian byte buffer. */
static void
put16 (GByteArray *b, guint16 v)
{
  guint8 x[2] = { v & 0xff, v >> 8 };
  g_byte_array_append (b, x, 2);
}

static void
put32 (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  g_byte_array_append (b, x, 4);
}

static void
set32 (GByteArray *b, gsize at, guint32 v)
{
  b->data[at] = v & 0xff;
  b->data[at + 1] = (v >> 8) & 0xff;
  b->data[at + 2] = (v >> 16) & 0xff;
  b->data[at + 3] = v >> 24;
}

static void
pad_to (GByteArray *b, gsize align)
{
  static const guint8 zero[16] = { 0 };
  gsize r = b->len % align;
  if (r)
    g_byte_array_append (b, zero, (guint) (align - r));
}

typedef struct
{
  guint16 tag, type;
  guint32 count;
  guint32 inline_value;   /* SHORT/LONG with count 1 */
  GByteArray *extra;      /* out-of-line bytes (NULL: inline) */
  gsize entry_at;         /* where the value field of the entry is in the header buffer */
} Entry;

static void
entry_short (Entry *e, guint16 tag, guint16 v)
{
  *e = (Entry) { .tag = tag, .type = TIFF_SHORT, .count = 1, .inline_value = v };
}

static void
entry_long (Entry *e, guint16 tag, guint32 v)
{
  *e = (Entry) { .tag = tag, .type = TIFF_LONG, .count = 1, .inline_value = v };
}

static void
entry_shorts (Entry *e, guint16 tag, guint16 v, guint n)
{
  if (n == 1)
    {
      entry_short (e, tag, v);
      return;
    }
  *e = (Entry) { .tag = tag, .type = TIFF_SHORT, .count = n, .extra = g_byte_array_new () };
  for (guint i = 0; i < n; i++)
    put16 (e->extra, v);
  /* two SHORTs fit in the value field: keep them inline */
  if (n == 2)
    {
      e->inline_value = v | ((guint32) v << 16);
      g_byte_array_unref (e->extra);
      e->extra = NULL;
    }
}

static void
entry_ascii (Entry *e, guint16 tag, const char *s)
{
  gsize n = strlen (s) + 1;
  *e = (Entry) { .tag = tag, .type = TIFF_ASCII, .count = (guint32) n, .extra = g_byte_array_new () };
  g_byte_array_append (e->extra, (const guint8 *) s, (guint) n);
  if (n <= 4)
    {
      guint32 v = 0;
      for (gsize i = 0; i < n; i++)
        v |= (guint32) (guint8) s[i] << (8 * i);
      e->inline_value = v;
      g_byte_array_unref (e->extra);
      e->extra = NULL;
    }
}

static void
entry_rational (Entry *e, guint16 tag, guint32 num, guint32 den)
{
  *e = (Entry) { .tag = tag, .type = TIFF_RATIONAL, .count = 1, .extra = g_byte_array_new () };
  put32 (e->extra, num);
  put32 (e->extra, den);
}

void
tsr_tiff_uint16_scaling (const TsrImage *img, double *offset, double *scale)
{
  gsize npix = tsr_image_npix (img);
  double lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < img->channels; c++)
    {
      const float *p = tsr_image_plane (img, c);
      for (gsize i = 0; i < npix; i++)
        if (img->mask[i] && isfinite (p[i]))
          {
            if (p[i] < lo)
              lo = p[i];
            if (p[i] > hi)
              hi = p[i];
          }
    }
  if (!isfinite (lo))
    lo = hi = 0;
  double off = MIN (0.0, lo);
  double range = hi - off;
  *offset = off;
  *scale = range > 0 ? 65535.0 / range : 1.0;
}

/* Convert row y into buf (row_bytes long). */
static void
convert_row (const TsrImage *img, int y, TsrTiffFormat format, double offset, double scale, guint8 *buf)
{
  int spp = img->channels;
  gsize w = (gsize) img->width;
  gsize row0 = (gsize) y * w;
  for (int c = 0; c < spp; c++)
    {
      const float *p = tsr_image_plane (img, c) + row0;
      const guint8 *m = img->mask + row0;
      for (gsize x = 0; x < w; x++)
        {
          gsize k = x * spp + c;
          float v = p[x];
          if (!m[x] || !isfinite (v))
            v = 0.0f;
          if (format == TSR_TIFF_FLOAT32)
            {
              guint32 bits;
              memcpy (&bits, &v, 4);
              buf[4 * k] = bits & 0xff;
              buf[4 * k + 1] = (bits >> 8) & 0xff;
              buf[4 * k + 2] = (bits >> 16) & 0xff;
              buf[4 * k + 3] = bits >> 24;
            }
          else
            {
              double d = m[x] ? ((double) v - offset) * scale : 0.0;
              guint16 dn = (guint16) CLAMP (lround (d), 0, 65535);
              buf[2 * k] = dn & 0xff;
              buf[2 * k + 1] = dn >> 8;
            }
        }
    }
}

gboolean
tsr_tiff_write (const char *path, const TsrImage *img, TsrTiffFormat format, GError **error)
{
  g_return_val_if_fail (path != NULL && img != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autofree char *target = tsr_output_target (path, error);
  if (!target)
    return FALSE;
  if (img->channels != 1 && img->channels != 3)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s: TIFF export needs a mono or RGB image (this one has %d channels)"), path,
                   img->channels);
      return FALSE;
    }

  const guint spp = (guint) img->channels;
  const guint bps = format == TSR_TIFF_FLOAT32 ? 32 : 16;
  const guint64 row_bytes = (guint64) img->width * spp * (bps / 8);
  const guint64 data_bytes = row_bytes * (guint64) img->height;
  if (img->width <= 0 || img->height <= 0 || data_bytes > G_MAXUINT32 - (1u << 20))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("%s: the image (%d×%d, %u channels) is too large for a baseline TIFF (4 GiB)"),
                   path, img->width, img->height, spp);
      return FALSE;
    }
  guint rows_per_strip = (guint) MAX (1, STRIP_TARGET_BYTES / row_bytes);
  rows_per_strip = MIN (rows_per_strip, (guint) img->height);
  const guint n_strips = ((guint) img->height + rows_per_strip - 1) / rows_per_strip;

  double offset = 0, scale = 1;
  g_autofree char *desc = NULL;
  if (format == TSR_TIFF_UINT16)
    {
      tsr_tiff_uint16_scaling (img, &offset, &scale);
      char o[G_ASCII_DTOSTR_BUF_SIZE], s[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_formatd (o, sizeof o, "%.9g", offset);
      g_ascii_formatd (s, sizeof s, "%.9g", 1.0 / scale);
      desc = g_strdup_printf ("Tessera linear image, 16-bit: value = %s + %s * DN", o, s);
    }
  else
    desc = g_strdup ("Tessera linear image, 32-bit float: values as computed");
  g_autofree char *software = g_strdup_printf ("Tessera %s", TSR_VERSION);

  /* the directory, in ascending tag order */
  Entry e[N_TAGS];
  guint n = 0;
  entry_long (&e[n++], TAG_IMAGE_WIDTH, (guint32) img->width);
  entry_long (&e[n++], TAG_IMAGE_LENGTH, (guint32) img->height);
  entry_shorts (&e[n++], TAG_BITS_PER_SAMPLE, (guint16) bps, spp);
  entry_short (&e[n++], TAG_COMPRESSION, 1);
  entry_short (&e[n++], TAG_PHOTOMETRIC, spp == 3 ? 2 : 1);   /* RGB : BlackIsZero */
  entry_ascii (&e[n++], TAG_IMAGE_DESCRIPTION, desc);
  Entry *strip_offsets = &e[n];
  if (n_strips == 1)
    entry_long (&e[n++], TAG_STRIP_OFFSETS, 0);
  else
    {
      e[n] = (Entry) { .tag = TAG_STRIP_OFFSETS, .type = TIFF_LONG, .count = n_strips,
                       .extra = g_byte_array_sized_new (4 * n_strips) };
      g_byte_array_set_size (e[n].extra, 4 * n_strips);
      n++;
    }
  entry_short (&e[n++], TAG_SAMPLES_PER_PIXEL, (guint16) spp);
  entry_long (&e[n++], TAG_ROWS_PER_STRIP, rows_per_strip);
  if (n_strips == 1)
    entry_long (&e[n++], TAG_STRIP_BYTE_COUNTS, (guint32) data_bytes);
  else
    {
      e[n] = (Entry) { .tag = TAG_STRIP_BYTE_COUNTS, .type = TIFF_LONG, .count = n_strips,
                       .extra = g_byte_array_sized_new (4 * n_strips) };
      for (guint s = 0; s < n_strips; s++)
        {
          guint rows = MIN (rows_per_strip, (guint) img->height - s * rows_per_strip);
          put32 (e[n].extra, (guint32) (rows * row_bytes));
        }
      n++;
    }
  entry_rational (&e[n++], TAG_X_RESOLUTION, 72, 1);
  entry_rational (&e[n++], TAG_Y_RESOLUTION, 72, 1);
  entry_short (&e[n++], TAG_PLANAR_CONFIG, 1);
  entry_short (&e[n++], TAG_RESOLUTION_UNIT, 2);
  entry_ascii (&e[n++], TAG_SOFTWARE, software);
  entry_shorts (&e[n++], TAG_SAMPLE_FORMAT, format == TSR_TIFF_FLOAT32 ? 3 : 1, spp);
  g_assert (n == N_TAGS);

  /* header + IFD */
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) "II", 2);
  put16 (b, 42);
  put32 (b, 8);
  put16 (b, (guint16) n);
  for (guint i = 0; i < n; i++)
    {
      put16 (b, e[i].tag);
      put16 (b, e[i].type);
      put32 (b, e[i].count);
      e[i].entry_at = b->len;
      put32 (b, e[i].inline_value);
    }
  put32 (b, 0);   /* no next IFD */

  /* out-of-line values */
  for (guint i = 0; i < n; i++)
    if (e[i].extra)
      {
        pad_to (b, 2);
        set32 (b, e[i].entry_at, (guint32) b->len);
        if (&e[i] == strip_offsets)
          e[i].entry_at = b->len;   /* from now on: where the offsets array lives */
        g_byte_array_append (b, e[i].extra->data, e[i].extra->len);
      }
  pad_to (b, 16);
  const guint32 data_at = (guint32) b->len;
  if (n_strips == 1)
    set32 (b, strip_offsets->entry_at, data_at);
  else
    for (guint s = 0; s < n_strips; s++)
      set32 (b, strip_offsets->entry_at + 4 * s, (guint32) (data_at + (guint64) s * rows_per_strip * row_bytes));
  for (guint i = 0; i < n; i++)
    if (e[i].extra)
      g_byte_array_unref (e[i].extra);

  /* write: temporary, rows, fsync, rename */
  g_autofree char *tmp = NULL;
  int fd = tsr_output_open_temp (target, path, &tmp, error);
  if (fd < 0)
    {
      g_byte_array_unref (b);
      return FALSE;
    }
  gboolean ok = tsr_output_write_all (fd, b->data, b->len);
  g_byte_array_unref (b);
  guint8 *row = g_malloc ((gsize) row_bytes);
  for (int y = 0; ok && y < img->height; y++)
    {
      convert_row (img, y, format, offset, scale, row);
      ok = tsr_output_write_all (fd, row, (gsize) row_bytes);
    }
  int errsv = errno;
  g_free (row);
  return tsr_output_close_temp (fd, tmp, target, path, ok, errsv, error);
}
