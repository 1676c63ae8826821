/* test-tiff.c — the baseline TIFF writer: read the file back byte by byte and check the
 * header, every tag and the pixel values; check that ImageMagick's identify parses it when
 * installed; atomic replacement. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include "tsr-test-util.h"

typedef struct
{
  guint16 type;
  guint32 count;
  guint32 value;      /* inline value or offset */
} Tag;

typedef struct
{
  guint8 *data;
  gsize len;
  Tag tags[65536 / 64];
  gboolean have[400];
} Tiff;

static guint16
rd16 (const Tiff *t, gsize at)
{
  g_assert_cmpuint (at + 2, <=, t->len);
  return (guint16) (t->data[at] | (t->data[at + 1] << 8));
}

static guint32
rd32 (const Tiff *t, gsize at)
{
  g_assert_cmpuint (at + 4, <=, t->len);
  return (guint32) t->data[at] | ((guint32) t->data[at + 1] << 8) | ((guint32) t->data[at + 2] << 16)
         | ((guint32) t->data[at + 3] << 24);
}

static Tiff *
tiff_load (const char *path)
{
  Tiff *t = g_new0 (Tiff, 1);
  t->data = (guint8 *) tsr_test_read_file (path, &t->len);
  g_assert_nonnull (t->data);
  g_assert_cmpuint (t->len, >, 8);
  g_assert_cmpint (memcmp (t->data, "II", 2), ==, 0);
  g_assert_cmpuint (rd16 (t, 2), ==, 42);
  guint32 ifd = rd32 (t, 4);
  g_assert_cmpuint (ifd % 2, ==, 0);
  guint16 n = rd16 (t, ifd);
  g_assert_cmpuint (n, >, 0);
  guint prev = 0;
  for (guint i = 0; i < n; i++)
    {
      gsize at = ifd + 2 + 12 * i;
      guint16 tag = rd16 (t, at);
      g_assert_cmpuint (tag, >, prev);   /* ascending order, no duplicates */
      prev = tag;
      g_assert_cmpuint (tag, <, G_N_ELEMENTS (t->have));
      t->have[tag] = TRUE;
      t->tags[tag].type = rd16 (t, at + 2);
      t->tags[tag].count = rd32 (t, at + 4);
      t->tags[tag].value = rd32 (t, at + 8);
    }
  g_assert_cmpuint (rd32 (t, ifd + 2 + 12 * n), ==, 0);   /* single image */
  return t;
}

static void
tiff_free (Tiff *t)
{
  g_free (t->data);
  g_free (t);
}

/* Value i of a SHORT or LONG tag (inline or out of line). */
static guint32
tag_uint (const Tiff *t, guint tag, guint i)
{
  g_assert_true (t->have[tag]);
  const Tag *g = &t->tags[tag];
  g_assert_cmpuint (i, <, g->count);
  if (g->type == 3)
    {
      if (g->count <= 2)
        return (g->value >> (16 * i)) & 0xffff;
      return rd16 (t, g->value + 2 * i);
    }
  g_assert_cmpuint (g->type, ==, 4);
  if (g->count == 1)
    return g->value;
  return rd32 (t, g->value + 4 * i);
}

static char *
tag_ascii (const Tiff *t, guint tag)
{
  g_assert_true (t->have[tag]);
  const Tag *g = &t->tags[tag];
  g_assert_cmpuint (g->type, ==, 2);
  const char *p = g->count <= 4 ? (const char *) &g->value : (const char *) t->data + g->value;
  if (g->count > 4)
    g_assert_cmpuint (g->value + g->count, <=, t->len);
  g_assert_cmpint (p[g->count - 1], ==, '\0');
  return g_strdup (p);
}

/* Sample (x, y, c) of a chunky image, following the strips. */
static gsize
sample_offset (const Tiff *t, int x, int y, int c)
{
  guint w = tag_uint (t, 256, 0);
  guint spp = tag_uint (t, 277, 0);
  guint bytes = tag_uint (t, 258, 0) / 8;
  guint rps = tag_uint (t, 278, 0);
  guint strip = (guint) y / rps;
  gsize at = tag_uint (t, 273, strip) + ((gsize) (y - strip * rps) * w * spp + (gsize) x * spp + c) * bytes;
  g_assert_cmpuint (at + bytes, <=, t->len);
  return at;
}

static TsrImage *
make_image (int w, int h, int channels)
{
  TsrImage *img = tsr_image_new (w, h, channels);
  for (int c = 0; c < channels; c++)
    {
      float *p = tsr_image_plane (img, c);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          p[y * w + x] = 100.0f + 3.5f * x - 1.25f * y + 1000.0f * c + 0.125f * ((x * 7 + y * 3) % 5);
    }
  img->mask[3 * w + 4] = 0;   /* one masked pixel */
  return img;
}

static void
check_common (const Tiff *t, const TsrImage *img, guint bps, guint sample_format)
{
  g_assert_cmpuint (tag_uint (t, 256, 0), ==, (guint) img->width);
  g_assert_cmpuint (tag_uint (t, 257, 0), ==, (guint) img->height);
  g_assert_cmpuint (tag_uint (t, 277, 0), ==, (guint) img->channels);
  g_assert_cmpuint (t->tags[258].count, ==, (guint) img->channels);
  g_assert_cmpuint (t->tags[339].count, ==, (guint) img->channels);
  for (int c = 0; c < img->channels; c++)
    {
      g_assert_cmpuint (tag_uint (t, 258, c), ==, bps);
      g_assert_cmpuint (tag_uint (t, 339, c), ==, sample_format);
    }
  g_assert_cmpuint (tag_uint (t, 259, 0), ==, 1);
  g_assert_cmpuint (tag_uint (t, 262, 0), ==, img->channels == 3 ? 2 : 1);
  g_assert_cmpuint (tag_uint (t, 284, 0), ==, 1);
  g_assert_cmpuint (tag_uint (t, 296, 0), ==, 2);
  g_assert_true (t->have[282] && t->have[283]);
  g_assert_cmpuint (t->tags[282].type, ==, 5);
  g_assert_cmpuint (rd32 (t, t->tags[282].value), ==, 72);
  g_assert_cmpuint (rd32 (t, t->tags[282].value + 4), ==, 1);
  g_autofree char *sw = tag_ascii (t, 305);
  g_assert_true (g_str_has_prefix (sw, "Tessera "));

  /* strips cover the image exactly, inside the file */
  guint rps = tag_uint (t, 278, 0);
  guint n_strips = (img->height + rps - 1) / rps;
  g_assert_cmpuint (t->tags[273].count, ==, n_strips);
  g_assert_cmpuint (t->tags[279].count, ==, n_strips);
  guint64 total = 0;
  for (guint s = 0; s < n_strips; s++)
    {
      guint32 off = tag_uint (t, 273, s), cnt = tag_uint (t, 279, s);
      g_assert_cmpuint ((guint64) off + cnt, <=, t->len);
      guint rows = MIN (rps, img->height - s * rps);
      g_assert_cmpuint (cnt, ==, (guint64) rows * img->width * img->channels * bps / 8);
      total += cnt;
    }
  g_assert_cmpuint (total, ==, (guint64) img->width * img->height * img->channels * bps / 8);
}

static void
check_identify (const char *path, const TsrImage *img, guint bps)
{
  g_autofree char *identify = g_find_program_in_path ("identify");
  if (!identify)
    {
      g_test_message ("identify (ImageMagick) not installed: parser check skipped");
      return;
    }
  const char *argv[] = { identify, "-format", "%w %h %z", path, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  GError *error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("identify: %s %s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autofree char *expect = g_strdup_printf ("%d %d %u", img->width, img->height, bps);
  g_assert_true (g_str_has_prefix (out, expect));
}

static void
test_float32 (gconstpointer data)
{
  int channels = GPOINTER_TO_INT (data);
  g_autofree char *dir = tsr_test_tmpdir ("tiff");
  g_autofree char *path = g_build_filename (dir, "out.tif", NULL);
  /* 300 × 70: several strips with a short last one */
  g_autoptr (TsrImage) img = make_image (300, 70, channels);
  GError *error = NULL;
  g_assert_true (tsr_tiff_write (path, img, TSR_TIFF_FLOAT32, &error));
  g_assert_no_error (error);

  Tiff *t = tiff_load (path);
  check_common (t, img, 32, 3);
  g_assert_cmpuint (t->tags[273].count, >, 1);
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      for (int c = 0; c < channels; c++)
        {
          guint32 bits = rd32 (t, sample_offset (t, x, y, c));
          float v;
          memcpy (&v, &bits, 4);
          float expect = img->mask[y * img->width + x] ? tsr_image_plane (img, c)[y * img->width + x] : 0.0f;
          g_assert_cmpfloat (v, ==, expect);
        }
  tiff_free (t);
  check_identify (path, img, 32);

  /* no temporary left behind */
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d))
    n++;
  g_assert_cmpuint (n, ==, 1);
  tsr_test_rmtree (dir);
}

static void
test_uint16 (gconstpointer data)
{
  int channels = GPOINTER_TO_INT (data);
  g_autofree char *dir = tsr_test_tmpdir ("tiff");
  g_autofree char *path = g_build_filename (dir, "out.tiff", NULL);
  g_autoptr (TsrImage) img = make_image (64, 40, channels);
  GError *error = NULL;
  g_assert_true (tsr_tiff_write (path, img, TSR_TIFF_UINT16, &error));
  g_assert_no_error (error);

  double offset, scale;
  tsr_tiff_uint16_scaling (img, &offset, &scale);
  g_assert_cmpfloat (offset, ==, 0.0);   /* positive data: zero stays zero */

  Tiff *t = tiff_load (path);
  check_common (t, img, 16, 1);
  g_autofree char *desc = tag_ascii (t, 270);
  g_assert_nonnull (strstr (desc, "16-bit"));
  guint16 max_dn = 0;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      for (int c = 0; c < channels; c++)
        {
          guint16 dn = rd16 (t, sample_offset (t, x, y, c));
          gsize i = (gsize) y * img->width + x;
          if (!img->mask[i])
            {
              g_assert_cmpuint (dn, ==, 0);
              continue;
            }
          double v = tsr_image_plane (img, c)[i];
          /* linear: recovered value within half a DN */
          g_assert_cmpfloat (fabs (offset + dn / scale - v), <=, 0.5 / scale + 1e-6);
          max_dn = MAX (max_dn, dn);
        }
  g_assert_cmpuint (max_dn, ==, 65535);
  tiff_free (t);
  check_identify (path, img, 16);

  /* replacing an existing file is atomic: the old one stays when writing fails */
  TsrImage bad = *img;   /* a shape the writer refuses (tsr_image_new cannot make it) */
  bad.channels = 2;
  g_assert_false (tsr_tiff_write (path, &bad, TSR_TIFF_UINT16, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&error);
  Tiff *again = tiff_load (path);
  g_assert_cmpuint (tag_uint (again, 256, 0), ==, 64);
  tiff_free (again);
  tsr_test_rmtree (dir);
}

static void
test_unwritable (void)
{
  g_autoptr (TsrImage) img = make_image (8, 8, 1);
  GError *error = NULL;
  g_assert_false (tsr_tiff_write ("/nonexistent-folder/x.tif", img, TSR_TIFF_FLOAT32, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent-folder/x.tif"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/tiff/float32-mono", GINT_TO_POINTER (1), test_float32);
  g_test_add_data_func ("/tiff/float32-rgb", GINT_TO_POINTER (3), test_float32);
  g_test_add_data_func ("/tiff/uint16-mono", GINT_TO_POINTER (1), test_uint16);
  g_test_add_data_func ("/tiff/uint16-rgb", GINT_TO_POINTER (3), test_uint16);
  g_test_add_func ("/tiff/unwritable", test_unwritable);
  return g_test_run ();
}
