/* test-formats.c — deep-sky frames beside FITS (issue #18): XISF, TIFF and camera raw (a DNG
 * written here with libtiff, read through LibRaw). Every file is written by this test with its
 * own encoder (not the engine's), read back through the engine's readers and compared with the
 * FITS file holding the same samples and keywords: same pixels, same CFA pattern, same
 * exposure and date. Bad files give one line naming the file. */
#include "tsr-test-util.h"
#include "tsr-frame-file.h"
#include "tsr-raw.h"
#include "tsr-xisf.h"
#include "tsr-image-reader.h"
#include "tsr-fits.h"

#include <glib/gstdio.h>
#include <lz4.h>
#include <lz4hc.h>
#include <math.h>
#include <string.h>
#include <tiffio.h>
#include <zlib.h>

enum { U8, U16, U32, F32, F64 };
static const char *const fmt_names[] = { "UInt8", "UInt16", "UInt32", "Float32", "Float64" };
static const int fmt_bytes[] = { 1, 2, 4, 4, 8 };

/* A w × h × channels image of values representable in fmt (integers in range; floats with
 * fractions, a NaN for the mask). */
static TsrImage *
random_image (int w, int h, int channels, int fmt, guint32 seed)
{
  GRand *r = g_rand_new_with_seed (seed);
  TsrImage *img = tsr_image_new (w, h, channels);
  gsize n = tsr_image_npix (img) * channels;
  for (gsize i = 0; i < n; i++)
    {
      double v;
      switch (fmt)
        {
        case U8: v = g_rand_int_range (r, 0, 256); break;
        case U16: v = g_rand_int_range (r, 0, 65536); break;
        case U32: v = (double) g_rand_int_range (r, 0, 1 << 24) * (i % 7 == 0 ? 128 : 1); break;
        default: v = (float) g_rand_double_range (r, -100, 60000); break;
        }
      img->data[i] = (float) v;
    }
  g_rand_free (r);
  return img;
}

static void
put_sample (guint8 *p, int fmt, gboolean big, float v)
{
  guint8 b[8];
  switch (fmt)
    {
    case U8: b[0] = (guint8) v; break;
    case U16: { guint16 u = (guint16) v; memcpy (b, &u, 2); break; }
    case U32: { guint32 u = (guint32) v; memcpy (b, &u, 4); break; }
    case F32: memcpy (b, &v, 4); break;
    default: { double d = v; memcpy (b, &d, 8); break; }
    }
  int n = fmt_bytes[fmt];
  for (int i = 0; i < n; i++)
    p[i] = big ? b[n - 1 - i] : b[i];
}

typedef struct
{
  const char *image_type; /* imageType attribute, NULL: Light */
  const char *codec;     /* NULL, "zlib", "lz4", "lz4hc" */
  gboolean shuffle, normal, big, subblocks, checksum, props_only, inline_b64;
} XisfOpts;

static gsize
compress_block (const char *codec, const guint8 *in, gsize n, guint8 *out, gsize cap)
{
  if (strcmp (codec, "zlib") == 0)
    {
      uLongf dl = cap;
      g_assert_cmpint (compress2 (out, &dl, in, n, 6), ==, Z_OK);
      return dl;
    }
  int r = strcmp (codec, "lz4hc") == 0 ? LZ4_compress_HC ((const char *) in, (char *) out, (int) n, (int) cap, 9)
                                       : LZ4_compress_default ((const char *) in, (char *) out, (int) n, (int) cap);
  g_assert_cmpint (r, >, 0);
  return r;
}

/* An XISF file of img written as the specification says (monolithic: signature, header
 * length, reserved word, XML header, the block attached at 4096). */
static void
write_xisf (const char *path, const TsrImage *img, int fmt, TsrCfa cfa, double exptime, const char *date,
            const XisfOpts *o)
{
  int S = fmt_bytes[fmt], C = img->channels;
  gsize npix = tsr_image_npix (img), n = npix * C * S;
  guint8 *raw = g_malloc (n);
  for (int c = 0; c < C; c++)
    for (gsize i = 0; i < npix; i++)
      {
        gsize k = o->normal ? (i * C + c) * S : ((gsize) c * npix + i) * S;
        put_sample (raw + k, fmt, o->big, tsr_image_plane (img, c)[i]);
      }
  guint8 *block = raw;
  gsize blen = n;
  GString *attrs = g_string_new (NULL);
  if (o->codec)
    {
      guint8 *data = raw;
      if (o->shuffle)
        {
          data = g_malloc (n);
          gsize items = n / S;
          for (gsize i = 0; i < items; i++)
            for (int j = 0; j < S; j++)
              data[(gsize) j * items + i] = raw[i * S + j];
        }
      gsize cap = n * 2 + 1024;
      block = g_malloc (cap);
      if (o->subblocks)
        {
          gsize h1 = n / 3, c1 = compress_block (o->codec, data, h1, block, cap);
          gsize c2 = compress_block (o->codec, data + h1, n - h1, block + c1, cap - c1);
          blen = c1 + c2;
          g_string_append_printf (attrs, " subblocks=\"%zu,%zu:%zu,%zu\"", c1, h1, c2, n - h1);
        }
      else
        blen = compress_block (o->codec, data, n, block, cap);
      if (o->shuffle)
        {
          g_string_append_printf (attrs, " compression=\"%s+sh:%zu:%d\"", o->codec, n, S);
          g_free (data);
        }
      else
        g_string_append_printf (attrs, " compression=\"%s:%zu\"", o->codec, n);
    }
  if (o->checksum)
    {
      g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA1, block, blen);
      g_string_append_printf (attrs, " checksum=\"sha1:%s\"", sum);
    }
  if (o->big)
    g_string_append (attrs, " byteOrder=\"big\"");
  if (o->normal)
    g_string_append (attrs, " pixelStorage=\"Normal\"");
  const gsize pos = 4096;
  g_autofree char *location = o->inline_b64 ? g_strdup ("inline:base64")
                                            : g_strdup_printf ("attachment:%zu:%zu", pos, blen);
  GString *x = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<!--\nExtensible Image Serialization Format - XISF version 1.0\n-->\n"
                             "<xisf version=\"1.0\" xmlns=\"http://www.pixinsight.com/xisf\" "
                             "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
  g_string_append_printf (x, "<Image geometry=\"%d:%d:%d\" sampleFormat=\"%s\" colorSpace=\"%s\" location=\"%s\"%s "
                             "imageType=\"%s\">",
                          img->width, img->height, C, fmt_names[fmt], C == 3 ? "RGB" : "Gray", location, attrs->str,
                          o->image_type ? o->image_type : "Light");
  if (o->inline_b64)
    {
      g_autofree char *b64 = g_base64_encode (block, blen);
      g_string_append (x, b64);
    }
  g_string_append (x, "\n");
  if (o->props_only)
    {
      g_string_append_printf (x, "<Property id=\"Instrument:ExposureTime\" type=\"Float32\" value=\"%.6g\"/>\n", exptime);
      g_string_append_printf (x, "<Property id=\"Observation:Time:Start\" type=\"TimePoint\" value=\"%sZ\"/>\n", date);
      if (cfa != TSR_CFA_NONE)
        g_string_append_printf (x, "<ColorFilterArray pattern=\"%s\" width=\"2\" height=\"2\"/>\n", tsr_cfa_name (cfa));
    }
  else
    {
      g_string_append_printf (x, "<FITSKeyword name=\"EXPTIME\" value=\"%.6g\" comment=\"Exposure time &amp; more\"/>\n",
                              exptime);
      g_string_append_printf (x, "<FITSKeyword name=\"DATE-OBS\" value=\"'%s'\" comment=\"\"/>\n", date);
      if (cfa != TSR_CFA_NONE)
        g_string_append_printf (x, "<FITSKeyword name=\"BAYERPAT\" value=\"'%s'\" comment=\"\"/>\n", tsr_cfa_name (cfa));
      g_string_append (x, "<FITSKeyword name=\"HISTORY\" value=\"\" comment=\"written by test-formats\"/>\n");
    }
  g_string_append (x, "</Image>\n<Metadata><Property id=\"XISF:CreatorApplication\" type=\"String\">test-formats"
                      "</Property></Metadata>\n</xisf>\n");
  g_assert_true (o->inline_b64 || x->len + 16 <= pos);
  gsize total = o->inline_b64 ? 16 + x->len : pos + blen;
  guint8 *file = g_malloc0 (total);
  memcpy (file, "XISF0100", 8);
  guint32 hl = (guint32) x->len;
  file[8] = hl & 255, file[9] = hl >> 8 & 255, file[10] = hl >> 16 & 255, file[11] = hl >> 24;
  memcpy (file + 16, x->str, x->len);
  if (!o->inline_b64)
    memcpy (file + pos, block, blen);
  tsr_test_write_file (path, file, total);
  g_free (file);
  g_string_free (x, TRUE);
  g_string_free (attrs, TRUE);
  if (block != raw)
    g_free (block);
  g_free (raw);
}

static void
write_fits_like (const char *path, const TsrImage *img, TsrCfa cfa, double exptime, const char *date)
{
  g_autofree char *c1 = g_strdup_printf ("EXPTIME = %.6g", exptime);
  g_autofree char *c2 = g_strdup_printf ("DATE-OBS= '%s'", date);
  g_autofree char *c3 = g_strdup_printf ("BAYERPAT= '%s'", tsr_cfa_name (cfa));
  const char *cards[] = { c1, c2, cfa != TSR_CFA_NONE ? c3 : NULL, NULL };
  tsr_test_write_fits (path, -32, img->width, img->height, img->channels, img->data, cards);
}

/* a and b hold the same samples (bitwise, NaN for NaN), masks and pattern */
static void
assert_same_image (const TsrImage *a, const TsrImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpint (a->channels, ==, b->channels);
  g_assert_cmpint (a->cfa, ==, b->cfa);
  gsize n = tsr_image_npix (a);
  g_assert_cmpmem (a->mask, n, b->mask, n);
  g_assert_cmpmem (a->data, n * a->channels * sizeof (float), b->data, n * b->channels * sizeof (float));
}

static void
assert_same_info (const TsrFitsInfo *a, const TsrFitsInfo *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpint (a->channels, ==, b->channels);
  g_assert_cmpint (a->cfa, ==, b->cfa);
  g_assert_cmpfloat_with_epsilon (a->exposure, b->exposure, 1e-9);
  g_assert_cmpfloat_with_epsilon (a->jd, b->jd, 1e-8);
  g_assert_cmpfloat (a->jd, >, 2400000);
}

/* path reads to the same frame as fits_path: info, whole image, and row bands */
static void
assert_reads_like_fits (const char *path, const char *fits_path)
{
  g_autoptr (GError) e = NULL;
  TsrFitsInfo fi, xi;
  g_assert_true (tsr_fits_read_info (fits_path, &fi, NULL, &e));
  g_assert_true (tsr_frame_read_info (path, &xi, NULL, &e));
  g_assert_no_error (e);
  assert_same_info (&xi, &fi);
  g_autoptr (TsrImage) f = tsr_fits_read (fits_path, &e);
  g_assert_no_error (e);
  g_autoptr (TsrImage) x = tsr_frame_read (path, &e);
  g_assert_no_error (e);
  assert_same_image (x, f);
  /* a band starting on an odd row: the pattern shifts, the rows are the whole image's */
  int y0 = 3, y1 = fi.height - 2;
  g_autoptr (TsrImage) fb = tsr_fits_read_rows (fits_path, y0, y1, &e);
  g_autoptr (TsrImage) xb = tsr_frame_read_rows (path, y0, y1, &e);
  g_assert_no_error (e);
  assert_same_image (xb, fb);
  tsr_fits_info_clear (&fi);
  tsr_fits_info_clear (&xi);
}

static void
test_xisf_roundtrip (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("xisf");
  const char *date = "2025-03-01T22:15:30.250";
  struct { const char *codec; gboolean sh, normal, big, sub, ck, props, b64; int fmt, channels; TsrCfa cfa; } cases[] = {
    { NULL, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, U16, 1, TSR_CFA_RGGB },
    { NULL, FALSE, FALSE, FALSE, FALSE, TRUE, TRUE, FALSE, U8, 1, TSR_CFA_GRBG },
    { NULL, FALSE, TRUE, TRUE, FALSE, FALSE, FALSE, FALSE, F32, 3, TSR_CFA_NONE },
    { NULL, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, TRUE, U16, 1, TSR_CFA_BGGR },
    { "zlib", FALSE, FALSE, FALSE, FALSE, TRUE, FALSE, FALSE, U16, 1, TSR_CFA_GBRG },
    { "zlib", TRUE, FALSE, FALSE, FALSE, FALSE, TRUE, FALSE, F32, 1, TSR_CFA_RGGB },
    { "zlib", TRUE, TRUE, FALSE, TRUE, FALSE, FALSE, FALSE, U32, 3, TSR_CFA_NONE },
    { "lz4", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, U16, 1, TSR_CFA_RGGB },
    { "lz4", TRUE, FALSE, TRUE, FALSE, TRUE, FALSE, FALSE, F64, 1, TSR_CFA_GRBG },
    { "lz4hc", FALSE, FALSE, FALSE, TRUE, FALSE, TRUE, FALSE, U16, 3, TSR_CFA_NONE },
    { "lz4hc", TRUE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, F32, 1, TSR_CFA_BGGR },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      XisfOpts o = { NULL, cases[k].codec, cases[k].sh, cases[k].normal, cases[k].big, cases[k].sub, cases[k].ck,
                     cases[k].props, cases[k].b64 };
      g_autoptr (TsrImage) img = random_image (40 + 2 * k, 30 + k, cases[k].channels, cases[k].fmt, 7 + k);
      if (cases[k].fmt == F32 || cases[k].fmt == F64)
        img->data[5] = NAN; /* masked in both readers */
      double exptime = 10 + k * 5;
      g_autofree char *name = g_strdup_printf ("case%02u.xisf", k);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *fits = g_strdup_printf ("%s/case%02u.fits", dir, k);
      write_xisf (path, img, cases[k].fmt, cases[k].cfa, exptime, date, &o);
      write_fits_like (fits, img, cases[k].cfa, exptime, date);
      g_test_message ("case %u: %s%s %s %d ch%s%s", k, o.codec ? o.codec : "uncompressed", o.shuffle ? "+sh" : "",
                      fmt_names[cases[k].fmt], cases[k].channels, o.normal ? " normal" : "", o.big ? " big-endian" : "");
      assert_reads_like_fits (path, fits);
      /* the pixels are the image's, not only the FITS reader's */
      g_autoptr (GError) e = NULL;
      g_autoptr (TsrImage) r = tsr_xisf_read (path, &e);
      g_assert_no_error (e);
      gsize n = tsr_image_npix (img) * img->channels;
      for (gsize i = 0; i < n; i++)
        if (i % tsr_image_npix (img) != 5 || cases[k].fmt < F32)
          g_assert_cmpfloat (r->data[i], ==, img->data[i]);
      g_assert_cmpint (r->mask[5], ==, cases[k].fmt < F32 ? 1 : 0);
    }
  tsr_test_rmtree (dir);
}

/* tsr_xisf_write: what it writes reads back as the FITS of the same image does (samples bit
 * for bit, NaN masked, exposure, date, pattern, a band of rows), the header's cards come back
 * as keywords (a string with a quote in it, HISTORY text), and a target that is a folder is
 * refused with the folder left as it was. */
static void
test_xisf_write (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("xisf-write");
  const char *date = "2025-04-09T22:54:35.000";
  const struct { int channels; TsrCfa cfa; } cases[] = { { 3, TSR_CFA_NONE }, { 1, TSR_CFA_GRBG }, { 1, TSR_CFA_NONE } };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      g_autoptr (TsrImage) img = random_image (37 + k, 26 + 2 * k, cases[k].channels, F32, 31 + k);
      img->data[5] = NAN;
      img->mask[5] = 0;
      img->cfa = cases[k].cfa;
      if (!img->header)
        img->header = tsr_header_new ();
      tsr_header_set_double (img->header, "EXPTIME", 20.0 + k, "[s] exposure time");
      tsr_header_set_string (img->header, "DATE-OBS", date, "UTC start of exposure");
      tsr_header_set_string (img->header, "OBJECT", "M 94 'core' / disk", "a quote and a slash");
      tsr_header_add_history (img->header, "Tessera TBQR: reference=4 frames=11 used=11 <test> & more");
      g_autofree char *x = g_strdup_printf ("%s/w%u.xisf", dir, k), *f = g_strdup_printf ("%s/w%u.fits", dir, k);
      g_autoptr (GError) e = NULL;
      g_assert_true (tsr_xisf_write (x, img, &e));
      g_assert_no_error (e);
      write_fits_like (f, img, cases[k].cfa, 20.0 + k, date);
      assert_reads_like_fits (x, f);
      g_autoptr (TsrImage) r = tsr_xisf_read (x, &e);
      g_assert_no_error (e);
      g_assert_cmpint (r->mask[5], ==, 0);
      g_autofree char *obj = tsr_header_get_string (r->header, "OBJECT");
      g_assert_cmpstr (obj, ==, "M 94 'core' / disk");
      gboolean hist = FALSE;
      for (guint i = 0; i < tsr_header_n_cards (r->header); i++)
        hist |= strstr (tsr_header_card (r->header, i), "used=11 <test> & more") != NULL;
      g_assert_true (hist);
    }
  /* a folder as the target: refused, the folder and what is in it stay */
  g_autofree char *sub = g_build_filename (dir, "a-folder.xisf", NULL);
  g_mkdir (sub, 0755);
  g_autofree char *inside = g_build_filename (sub, "keep.txt", NULL);
  g_assert_true (g_file_set_contents (inside, "keep", -1, NULL));
  g_autoptr (TsrImage) one = random_image (8, 8, 1, F32, 3);
  g_autoptr (GError) e = NULL;
  g_assert_false (tsr_xisf_write (sub, one, &e));
  g_assert_nonnull (e);
  g_assert_true (g_file_test (inside, G_FILE_TEST_EXISTS));
  tsr_test_rmtree (dir);
}

/* an error: one line naming the file */
static void
assert_one_line_error (GError *e, const char *path)
{
  g_assert_nonnull (e);
  g_assert_true (e->domain == TSR_ERROR);
  g_assert_nonnull (strstr (e->message, path));
  g_assert_null (strchr (e->message, '\n'));
}

static void
test_xisf_bad (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("xisf-bad");
  g_autoptr (TsrImage) img = random_image (64, 48, 1, U16, 3);
  XisfOpts plain = { 0 }, zl = { .codec = "zlib" }, lz = { .codec = "lz4", .shuffle = TRUE }, ck = { .checksum = TRUE };
  g_autofree char *good = g_build_filename (dir, "good.xisf", NULL);
  g_autofree char *gz = g_build_filename (dir, "good-zlib.xisf", NULL);
  g_autofree char *gl = g_build_filename (dir, "good-lz4.xisf", NULL);
  g_autofree char *gc = g_build_filename (dir, "good-ck.xisf", NULL);
  write_xisf (good, img, U16, TSR_CFA_RGGB, 30, "2025-03-01T22:15:30", &plain);
  write_xisf (gz, img, U16, TSR_CFA_RGGB, 30, "2025-03-01T22:15:30", &zl);
  write_xisf (gl, img, U16, TSR_CFA_RGGB, 30, "2025-03-01T22:15:30", &lz);
  write_xisf (gc, img, U16, TSR_CFA_RGGB, 30, "2025-03-01T22:15:30", &ck);
  gsize len = 0;
  g_autofree guint8 *bytes = (guint8 *) tsr_test_read_file (good, &len);
  gsize zlen = 0, llen = 0, clen = 0;
  g_autofree guint8 *zbytes = (guint8 *) tsr_test_read_file (gz, &zlen);
  g_autofree guint8 *lbytes = (guint8 *) tsr_test_read_file (gl, &llen);
  g_autofree guint8 *cbytes = (guint8 *) tsr_test_read_file (gc, &clen);

  struct { const char *name; const guint8 *data; gsize len; int code; } bad[] = {
    { "empty.xisf", (const guint8 *) "", 0, TSR_ERROR_FORMAT },
    { "text.xisf", (const guint8 *) "hello, this is no image\n", 24, TSR_ERROR_FORMAT },
    { "fits.xisf", (const guint8 *) "SIMPLE  =                    T", 30, TSR_ERROR_FORMAT },
    { "short-header.xisf", bytes, 40, TSR_ERROR_TRUNCATED },
    { "truncated.xisf", bytes, len - 100, TSR_ERROR_TRUNCATED },
    { "truncated-zlib.xisf", zbytes, zlen - 50, TSR_ERROR_TRUNCATED },
    { "truncated-lz4.xisf", lbytes, llen - 50, TSR_ERROR_TRUNCATED },
  };
  for (guint k = 0; k < G_N_ELEMENTS (bad); k++)
    {
      g_autofree char *p = g_build_filename (dir, bad[k].name, NULL);
      tsr_test_write_file (p, bad[k].data, bad[k].len);
      g_autoptr (GError) e = NULL;
      TsrFitsInfo info;
      g_assert_null (tsr_xisf_read (p, &e));
      assert_one_line_error (e, p);
      g_test_message ("%s: %s", bad[k].name, e->message);
      g_assert_cmpint (e->code, ==, bad[k].code);
      g_clear_error (&e);
      /* header-only reads refuse what the header alone shows */
      if (bad[k].code == TSR_ERROR_FORMAT || k == 3)
        {
          g_assert_false (tsr_frame_read_info (p, &info, NULL, &e));
          assert_one_line_error (e, p);
        }
    }
  /* damaged compressed data (a stretch of the block zeroed, the file's length kept) */
  {
    g_autofree guint8 *z = g_memdup2 (zbytes, zlen);
    memset (z + 4096 + 20, 0x55, 40);
    g_autofree char *p = g_build_filename (dir, "damaged-zlib.xisf", NULL);
    tsr_test_write_file (p, z, zlen);
    g_autoptr (GError) e = NULL;
    g_assert_null (tsr_xisf_read (p, &e));
    assert_one_line_error (e, p);
    g_autofree guint8 *l = g_memdup2 (lbytes, llen);
    memset (l + 4096, 0, 16); /* the first token: no literals, a match at offset 0 */
    g_autofree char *q = g_build_filename (dir, "damaged-lz4.xisf", NULL);
    tsr_test_write_file (q, l, llen);
    g_clear_error (&e);
    g_assert_null (tsr_xisf_read (q, &e));
    assert_one_line_error (e, q);
  }
  /* a checksum that does not match (one sample changed) */
  {
    g_autofree guint8 *c = g_memdup2 (cbytes, clen);
    c[4096 + 100] ^= 1;
    g_autofree char *p = g_build_filename (dir, "checksum.xisf", NULL);
    tsr_test_write_file (p, c, clen);
    g_autoptr (GError) e = NULL;
    g_assert_null (tsr_xisf_read (p, &e));
    assert_one_line_error (e, p);
    g_assert_nonnull (strstr (e->message, "checksum"));
  }
  /* a header declaring far more than its block can hold: refused before allocating */
  {
    GString *s = g_string_new (NULL);
    g_string_append (s, "<xisf version=\"1.0\"><Image geometry=\"60000:60000:3\" sampleFormat=\"Float64\" "
                        "colorSpace=\"RGB\" location=\"attachment:4096:10\" compression=\"zlib:86400000000\"/></xisf>");
    guint8 *f = g_malloc0 (4106);
    memcpy (f, "XISF0100", 8);
    f[8] = s->len & 255, f[9] = s->len >> 8;
    memcpy (f + 16, s->str, s->len);
    g_autofree char *p = g_build_filename (dir, "bomb.xisf", NULL);
    tsr_test_write_file (p, f, 4106);
    g_autoptr (GError) e = NULL;
    g_assert_null (tsr_xisf_read (p, &e));
    assert_one_line_error (e, p);
    g_free (f);
    g_string_free (s, TRUE);
  }
  /* a missing file */
  {
    g_autofree char *p = g_build_filename (dir, "missing.xisf", NULL);
    g_autoptr (GError) e = NULL;
    g_assert_null (tsr_frame_read (p, &e));
    assert_one_line_error (e, p);
    g_assert_cmpint (e->code, ==, TSR_ERROR_NOT_FOUND);
  }
  tsr_test_rmtree (dir);
}

/* ---------------------------------------------------------------- TIFF */

static void
write_tiff (const char *path, const TsrImage *img, int bps, gboolean flt, const char *desc, const guint8 *cfa_pat,
            double exptime)
{
  TIFF *t = TIFFOpen (path, "w");
  g_assert_nonnull (t);
  TIFFSetField (t, TIFFTAG_IMAGEWIDTH, img->width);
  TIFFSetField (t, TIFFTAG_IMAGELENGTH, img->height);
  TIFFSetField (t, TIFFTAG_SAMPLESPERPIXEL, img->channels);
  TIFFSetField (t, TIFFTAG_BITSPERSAMPLE, bps);
  TIFFSetField (t, TIFFTAG_SAMPLEFORMAT, flt ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
  TIFFSetField (t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField (t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
  TIFFSetField (t, TIFFTAG_ROWSPERSTRIP, 8);
  if (cfa_pat)
    {
      guint16 dim[2] = { 2, 2 };
      TIFFSetField (t, TIFFTAG_PHOTOMETRIC, 32803);
      TIFFSetField (t, TIFFTAG_CFAREPEATPATTERNDIM, dim);
      TIFFSetField (t, TIFFTAG_CFAPATTERN, 4, cfa_pat);
    }
  else
    TIFFSetField (t, TIFFTAG_PHOTOMETRIC, img->channels == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
  if (desc)
    TIFFSetField (t, TIFFTAG_IMAGEDESCRIPTION, desc);
  TIFFSetField (t, TIFFTAG_DATETIME, "2025:03:01 22:15:30");
  int S = bps / 8, C = img->channels;
  guint8 *row = g_malloc ((gsize) img->width * C * S);
  for (int y = 0; y < img->height; y++)
    {
      for (int x = 0; x < img->width; x++)
        for (int c = 0; c < C; c++)
          {
            float v = tsr_image_plane (img, c)[(gsize) y * img->width + x];
            put_sample (row + ((gsize) x * C + c) * S, flt ? F32 : bps == 8 ? U8 : bps == 16 ? U16 : U32, FALSE, v);
          }
      g_assert_cmpint (TIFFWriteScanline (t, row, y, 0), ==, 1);
    }
  if (exptime > 0)
    {
      /* the camera's EXIF directory with ExposureTime and DateTimeOriginal */
      g_assert_true (TIFFWriteDirectory (t));
      guint64 exif_off = 0;
      g_assert_true (TIFFCreateEXIFDirectory (t) == 0);
      TIFFSetField (t, EXIFTAG_EXPOSURETIME, exptime);
      TIFFSetField (t, EXIFTAG_DATETIMEORIGINAL, "2025:03:01 22:15:30");
      g_assert_true (TIFFWriteCustomDirectory (t, &exif_off));
      g_assert_true (TIFFSetDirectory (t, 0));
      TIFFSetField (t, TIFFTAG_EXIFIFD, exif_off);
      g_assert_true (TIFFRewriteDirectory (t));
    }
  g_free (row);
  TIFFClose (t);
}

static void
test_tiff_session (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("tiff-frames");
  g_autofree char *lights = g_build_filename (dir, "lights", NULL);
  g_mkdir (lights, 0755);
  const char *date = "2025-03-01T22:15:30";
  /* 16-bit with the pattern and exposure in the description (as FITS cards), 32-bit integer
   * and float with the TIFF/EP CFA tags and the EXIF exposure */
  const guint8 grbg[4] = { 1, 0, 2, 1 };
  struct { int bps; gboolean flt; const char *desc; const guint8 *pat; double exif; } cases[] = {
    { 16, FALSE, "BAYERPAT= 'GRBG'\nEXPTIME = 30.\nDATE-OBS= '2025-03-01T22:15:30'", NULL, 0 },
    { 32, FALSE, NULL, grbg, 30 },
    { 32, TRUE, "Tessera test frame", grbg, 30 },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      g_autoptr (TsrImage) img = random_image (64, 48, 1, cases[k].flt ? F32 : cases[k].bps == 16 ? U16 : U32, 40 + k);
      g_autofree char *p = g_strdup_printf ("%s/l%02u.tif", lights, k);
      g_autofree char *f = g_strdup_printf ("%s/l%02u.fits", dir, k);
      write_tiff (p, img, cases[k].bps, cases[k].flt, cases[k].desc, cases[k].pat, cases[k].exif);
      write_fits_like (f, img, TSR_CFA_GRBG, 30, date);
      assert_reads_like_fits (p, f);
    }
  /* the folder is a session like a folder of FITS frames */
  const char *paths[] = { lights, NULL };
  g_autoptr (GError) e = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 3);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_GRBG);
  g_assert_cmpint (s->width, ==, 64);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpfloat (tsr_session_frame (s, i)->info.exposure, ==, 30);
      g_autoptr (TsrImage) a = tsr_session_read_frame (s, i, &e);
      g_assert_no_error (e);
      g_autofree char *f = g_strdup_printf ("%s/l%02u.fits", dir, i);
      g_autoptr (TsrImage) b = tsr_fits_read (f, NULL);
      g_assert_cmpmem (a->data, tsr_image_npix (a) * 4, b->data, tsr_image_npix (b) * 4);
      g_autoptr (TsrImage) band = tsr_session_read_rows (s, i, 5, 20, &e);
      g_assert_no_error (e);
      g_assert_cmpint (band->cfa, ==, tsr_cfa_shift (TSR_CFA_GRBG, 0, 1));
      g_assert_cmpmem (band->data, 64 * 15 * 4, b->data + 64 * 5, 64 * 15 * 4);
    }
  /* a truncated TIFF: one line naming it */
  g_autofree char *bad = g_build_filename (lights, "l03.tif", NULL);
  {
    gsize len;
    g_autofree char *full = tsr_test_read_file (tsr_session_frame (s, 0)->path, &len);
    tsr_test_write_file (bad, full, 60);
  }
  g_clear_pointer (&s, tsr_session_unref);
  g_assert_null (tsr_session_scan (paths, NULL, NULL, &e));
  assert_one_line_error (e, bad);
  tsr_test_rmtree (dir);
}

/* ---------------------------------------------------------------- XISF session */

static void
test_xisf_session (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("xisf-frames");
  XisfOpts o = { .codec = "lz4hc", .shuffle = TRUE, .props_only = TRUE };
  for (int k = 0; k < 3; k++)
    {
      g_autoptr (TsrImage) img = random_image (50, 40, 1, U16, 90 + k);
      g_autofree char *p = g_strdup_printf ("%s/light-%d.xisf", dir, k);
      g_autofree char *date = g_strdup_printf ("2025-03-01T22:%02d:00", 30 - k); /* later names earlier */
      write_xisf (p, img, U16, TSR_CFA_BGGR, 60, date, &o);
    }
  const char *paths[] = { dir, NULL };
  g_autoptr (GError) e = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 3);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_BGGR);
  /* sorted by Observation:Time:Start, not by name */
  g_assert_cmpstr (tsr_session_frame (s, 0)->name, ==, "light-2.xisf");
  g_assert_cmpfloat (tsr_session_frame (s, 0)->info.exposure, ==, 60);
  g_autoptr (TsrImage) a = tsr_session_read_frame (s, 0, &e);
  g_assert_no_error (e);
  g_assert_cmpint (a->cfa, ==, TSR_CFA_BGGR);
  tsr_test_rmtree (dir);
}

/* ---------------------------------------------------------------- DNG through LibRaw */

static void
exif_extender (TIFF *t)
{
  /* ExposureTime in IFD 0 (TIFF/EP and DNG allow it; LibRaw reads it there) */
  static const TIFFFieldInfo info[] = { { 33434, 1, 1, TIFF_RATIONAL, FIELD_CUSTOM, 1, 0, (char *) "ExposureTime" } };
  TIFFMergeFieldInfo (t, info, 1);
}

/* A DNG 1.4 with a 16-bit CFA plane: pattern pat (0 R, 1 G, 2 B), per-site black levels
 * black[4] (BlackLevelRepeatDim 2 × 2), white level 65535. */
static void
write_dng (const char *path, const guint16 *raw, int w, int h, const guint8 *pat, const float *black, double exptime)
{
  TIFF *t = TIFFOpen (path, "w");
  g_assert_nonnull (t);
  exif_extender (t);
  TIFFSetField (t, TIFFTAG_SUBFILETYPE, 0);
  TIFFSetField (t, TIFFTAG_IMAGEWIDTH, w);
  TIFFSetField (t, TIFFTAG_IMAGELENGTH, h);
  TIFFSetField (t, TIFFTAG_BITSPERSAMPLE, 16);
  TIFFSetField (t, TIFFTAG_SAMPLESPERPIXEL, 1);
  TIFFSetField (t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  TIFFSetField (t, TIFFTAG_PHOTOMETRIC, 32803);
  TIFFSetField (t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField (t, TIFFTAG_ROWSPERSTRIP, h);
  TIFFSetField (t, TIFFTAG_MAKE, "Tessera");
  TIFFSetField (t, TIFFTAG_MODEL, "Test Camera");
  TIFFSetField (t, TIFFTAG_DATETIME, "2025:03:01 22:15:30");
  static const guint8 version[4] = { 1, 4, 0, 0 };
  TIFFSetField (t, TIFFTAG_DNGVERSION, version);
  TIFFSetField (t, TIFFTAG_DNGBACKWARDVERSION, version);
  TIFFSetField (t, TIFFTAG_UNIQUECAMERAMODEL, "Tessera Test Camera");
  guint16 dim[2] = { 2, 2 };
  TIFFSetField (t, TIFFTAG_CFAREPEATPATTERNDIM, dim);
  TIFFSetField (t, TIFFTAG_CFAPATTERN, 4, pat);
  static const guint8 plane_color[3] = { 0, 1, 2 };
  TIFFSetField (t, TIFFTAG_CFAPLANECOLOR, 3, plane_color);
  TIFFSetField (t, TIFFTAG_CFALAYOUT, 1);
  TIFFSetField (t, TIFFTAG_BLACKLEVELREPEATDIM, dim);
  TIFFSetField (t, TIFFTAG_BLACKLEVEL, 4, black);
  guint32 white = 65535;
  TIFFSetField (t, TIFFTAG_WHITELEVEL, 1, &white);
  static const float cm[9] = { 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f };
  TIFFSetField (t, TIFFTAG_COLORMATRIX1, 9, cm);
  TIFFSetField (t, TIFFTAG_CALIBRATIONILLUMINANT1, 21);
  static const float neutral[3] = { 1.0f, 1.0f, 1.0f };
  TIFFSetField (t, TIFFTAG_ASSHOTNEUTRAL, 3, neutral);
  TIFFSetField (t, 33434, exptime);
  for (int y = 0; y < h; y++)
    g_assert_cmpint (TIFFWriteScanline (t, (void *) (raw + (gsize) y * w), y, 0), ==, 1);
  TIFFClose (t);
}

static void
test_dng (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("dng");
  const int w = 64, h = 48;
  const guint8 pats[2][4] = { { 0, 1, 1, 2 }, { 1, 2, 0, 1 } }; /* RGGB, GBRG */
  const TsrCfa cfas[2] = { TSR_CFA_RGGB, TSR_CFA_GBRG };
  const float black[4] = { 512, 520, 530, 540 }; /* per position of the 2×2 block */
  for (int k = 0; k < 2; k++)
    {
      GRand *r = g_rand_new_with_seed (300 + k);
      guint16 *raw = g_new (guint16, w * h);
      TsrImage *want = tsr_image_new (w, h, 1);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            int v = g_rand_int_range (r, 0, 60000);
            raw[y * w + x] = (guint16) v;
            want->data[y * w + x] = (float) v - black[(y & 1) * 2 + (x & 1)];
          }
      g_rand_free (r);
      g_autofree char *p = g_strdup_printf ("%s/frame%d.dng", dir, k);
      g_autofree char *f = g_strdup_printf ("%s/frame%d.fits", dir, k);
      write_dng (p, raw, w, h, pats[k], black, 1.0 / 8);
      want->cfa = cfas[k];
      write_fits_like (f, want, cfas[k], 0.125, "2025-03-01T22:15:30");
      g_autoptr (GError) e = NULL;
      TsrFitsInfo info;
      g_assert_true (tsr_raw_read_info (p, &info, NULL, &e));
      g_assert_no_error (e);
      g_test_message ("DNG %d: %d × %d, %s, %.4f s", k, info.width, info.height, tsr_cfa_name (info.cfa), info.exposure);
      tsr_fits_info_clear (&info);
      /* the raw CFA, black level subtracted per site, not demosaiced, same pattern and
       * exposure as the FITS frame of the same samples */
      assert_reads_like_fits (p, f);
      g_autoptr (TsrImage) img = tsr_frame_read (p, &e);
      g_assert_cmpfloat (img->data[0], ==, (float) raw[0] - black[0]);
      g_assert_cmpfloat (img->data[w + 1], ==, (float) raw[w + 1] - black[3]);
      g_free (raw);
      tsr_image_unref (want);
    }
  /* a session of raw frames */
  g_autofree char *p0 = g_strdup_printf ("%s/frame0.dng", dir);
  g_autofree char *p1 = g_strdup_printf ("%s/frame1.dng", dir);
  const char *paths[] = { p0, NULL };
  g_autoptr (GError) e = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_RGGB);
  /* two patterns in one folder are refused, naming the odd frame */
  const char *both[] = { p0, p1, NULL };
  TsrSession *mixed = tsr_session_scan (both, NULL, NULL, &e);
  g_assert_null (mixed);
  g_assert_nonnull (e);
  g_clear_error (&e);

  /* bad raw files: missing, empty, not a raw file, truncated */
  gsize len = 0;
  g_autofree char *bytes = tsr_test_read_file (p0, &len);
  struct { const char *name; const char *data; gsize len; } bad[] = {
    { "empty.cr2", "", 0 },
    { "text.nef", "this is not a raw file, only some text that is long enough", 58 },
    { "truncated.dng", bytes, len / 3 },
    { "header.arw", bytes, 16 },
  };
  for (guint k = 0; k < G_N_ELEMENTS (bad); k++)
    {
      g_autofree char *p = g_build_filename (dir, bad[k].name, NULL);
      tsr_test_write_file (p, bad[k].data, bad[k].len);
      TsrImage *img = tsr_frame_read (p, &e);
      if (img)
        {
          /* LibRaw may read a truncated uncompressed strip as zeros: then the size is right */
          g_assert_cmpint (img->width, ==, w);
          tsr_image_unref (img);
          g_test_message ("%s: read (LibRaw fills the missing rows)", bad[k].name);
          continue;
        }
      assert_one_line_error (e, p);
      g_test_message ("%s: %s", bad[k].name, e->message);
      g_clear_error (&e);
    }
  g_autofree char *missing = g_build_filename (dir, "missing.cr3", NULL);
  g_assert_null (tsr_frame_read (missing, &e));
  assert_one_line_error (e, missing);
  tsr_test_rmtree (dir);
}

/* ---------------------------------------------------------------- the CLI on XISF and TIFF */

/* One generated star field and its bias and darks, as FITS and as XISF lights with TIFF bias
 * frames and XISF darks: `tessera-cli process` calibrates and reconstructs both to the same
 * result. */
static void
test_process_cli (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("formats-cli");
  const int W = 128, H = 96;
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 5;
  sp.width = W;
  sp.height = H;
  sp.cfa = TSR_CFA_RGGB;
  sp.n_mirrored = sp.n_noise = sp.n_trails = 0;
  sp.extended = FALSE;
  sp.shift_max = 4;
  sp.rotation_max_deg = 0.2;
  sp.exposure = 30;
  sp.sky = 1000;
  sp.bias = 0;
  sp.n_stars = 60;
  sp.star_flux_min = 20000;
  sp.star_flux_max = 400000;
  g_autofree char *sdir = NULL;
  g_autoptr (TsrSession) synth = tsr_test_synth_session (&sp, NULL, "formats-synth", &sdir, NULL);
  const char *sub[] = { "fits-lights", "fits-bias", "fits-darks", "xisf-lights", "tiff-bias", "xisf-darks" };
  char *d[6];
  for (int i = 0; i < 6; i++)
    {
      d[i] = g_build_filename (dir, sub[i], NULL);
      g_mkdir (d[i], 0755);
    }
  GRand *r = g_rand_new_with_seed (11);
  /* a bias with a column pattern, dark current 2 ADU/s with some hot pixels; integer ADU */
  float *bias = g_new (float, W * H), *rate = g_new (float, W * H);
  for (int k = 0; k < W * H; k++)
    {
      bias[k] = 500 + 5 * ((k % W) % 7);
      rate[k] = k % 997 == 0 ? 50 : 2;
    }
  XisfOpts xo = { .codec = "zlib", .shuffle = TRUE };
  for (int i = 0; i < 8; i++)
    {
      g_autoptr (TsrImage) b = tsr_image_new (W, H, 1), dk = tsr_image_new (W, H, 1);
      for (int k = 0; k < W * H; k++)
        {
          b->data[k] = roundf (bias[k] + (float) g_rand_double_range (r, -3, 3));
          dk->data[k] = roundf (bias[k] + rate[k] * 60 + (float) g_rand_double_range (r, -3, 3));
        }
      g_autofree char *date = g_strdup_printf ("2025-03-01T20:%02d:00", i);
      g_autofree char *fb = g_strdup_printf ("%s/b%d.fits", d[1], i), *fd = g_strdup_printf ("%s/d%d.fits", d[2], i);
      g_autofree char *tb = g_strdup_printf ("%s/b%d.tif", d[4], i), *xd = g_strdup_printf ("%s/d%d.xisf", d[5], i);
      g_autofree char *c2 = g_strdup_printf ("DATE-OBS= '%s'", date);
      const char *bcards[] = { "IMAGETYP= 'Bias Frame'", "EXPTIME = 0.", "BAYERPAT= 'RGGB'", c2, NULL };
      const char *dcards[] = { "IMAGETYP= 'Dark Frame'", "EXPTIME = 60.", "BAYERPAT= 'RGGB'", c2, NULL };
      tsr_test_write_fits (fb, -32, W, H, 1, b->data, bcards);
      tsr_test_write_fits (fd, -32, W, H, 1, dk->data, dcards);
      g_autofree char *desc = g_strdup_printf ("IMAGETYP= 'Bias Frame'\nEXPTIME = 0.\nBAYERPAT= 'RGGB'\n%s", c2);
      write_tiff (tb, b, 16, FALSE, desc, NULL, 0);
      xo.image_type = "Dark";
      write_xisf (xd, dk, U16, TSR_CFA_RGGB, 60, date, &xo);
    }
  xo.image_type = "Light";
  xo.codec = "lz4";
  for (guint i = 0; i < tsr_session_n_frames (synth); i++)
    {
      const TsrFrameInfo *fi = tsr_session_frame (synth, i);
      g_autoptr (TsrImage) img = tsr_fits_read (fi->path, NULL);
      for (int k = 0; k < W * H; k++)
        img->data[k] = roundf (CLAMP (img->data[k] + bias[k] + rate[k] * 30, 0, 65535));
      g_autofree char *c1 = g_strdup_printf ("DATE-OBS= '%s'", fi->info.date_obs);
      const char *cards[] = { "IMAGETYP= 'Light Frame'", "EXPTIME = 30.0", "BAYERPAT= 'RGGB'", c1, NULL };
      g_autofree char *fl = g_strdup_printf ("%s/l%u.fits", d[0], i), *xl = g_strdup_printf ("%s/l%u.xisf", d[3], i);
      tsr_test_write_fits (fl, -32, W, H, 1, img->data, cards);
      write_xisf (xl, img, U16, TSR_CFA_RGGB, 30, fi->info.date_obs, &xo);
    }
  g_rand_free (r);
  g_free (bias);
  g_free (rate);
  TsrImage *res[2];
  for (int k = 0; k < 2; k++)
    {
      g_autofree char *out = g_strdup_printf ("%s/result-%s.fits", dir, k ? "xisf" : "fits");
      const char *args[] = { "process", "--deep-sky", d[k * 3], "-o", out, "--set", "register.reference=0", "--bias",
                             d[k * 3 + 1], "--darks", d[k * 3 + 2], NULL };
      g_autofree char *so = NULL, *se = NULL;
      int rc = tsr_test_run_cli (args, &so, &se);
      g_test_message ("%s: %s%s", k ? "XISF lights, TIFF bias, XISF darks" : "FITS", so, se);
      g_assert_cmpint (rc, ==, 0);
      g_assert_nonnull (strstr (se, "darks of 60 s scaled to the lights' 30 s"));
      GError *e = NULL;
      res[k] = tsr_fits_read (out, &e);
      g_assert_no_error (e);
    }
  g_assert_cmpint (res[0]->width, ==, res[1]->width);
  g_assert_cmpint (res[0]->channels, ==, res[1]->channels);
  gsize n = tsr_image_npix (res[0]) * res[0]->channels;
  double maxd = 0, maxv = 0;
  for (gsize i = 0; i < n; i++)
    {
      maxd = MAX (maxd, fabs (res[0]->data[i] - res[1]->data[i]));
      maxv = MAX (maxv, fabs (res[0]->data[i]));
    }
  g_test_message ("largest difference FITS vs XISF/TIFF result: %g (of values up to %g)", maxd, maxv);
  g_assert_cmpfloat (maxv, >, 100);
  g_assert_cmpfloat (maxd, <=, 1e-6 * maxv); /* the same samples in: the same result (measured: 0) */
  tsr_image_unref (res[0]);
  tsr_image_unref (res[1]);
  for (int i = 0; i < 6; i++)
    g_free (d[i]);
  tsr_test_rmtree (dir);
  tsr_test_rmtree (sdir);
}

/* FFmpeg is loaded when the first video is opened, not with the program: a FITS frame is
 * written and read with none of its libraries in the process, and asking for video support
 * maps libavformat (built with FFmpeg; else video is reported unsupported). */
static gboolean
mapped (const char *lib)
{
  g_autofree char *maps = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  return strstr (maps, lib) != NULL;
}

static void
test_ffmpeg_lazy (void)
{
  if (!g_file_test ("/proc/self/maps", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("no /proc/self/maps");
      return;
    }
  g_autofree char *dir = tsr_test_tmpdir ("ff-lazy");
  g_autofree char *path = g_build_filename (dir, "f.fits", NULL);
  g_autoptr (TsrImage) img = tsr_image_new (16, 12, 1);
  for (gsize k = 0; k < tsr_image_npix (img); k++)
    img->data[k] = (float) k;
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_fits_write (path, img, NULL, &e));
  g_autoptr (TsrImage) back = tsr_fits_read (path, &e);
  g_assert_no_error (e);
  g_assert_false (mapped ("libavformat"));
  g_assert_false (mapped ("libavcodec"));
#ifdef TSR_HAVE_FFMPEG
  g_assert_true (tsr_video_supported ());
  g_assert_true (mapped ("libavformat"));
  g_assert_true (mapped ("libswscale"));
#else
  g_assert_false (tsr_video_supported ());
#endif
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/formats/xisf-roundtrip", test_xisf_roundtrip);
  g_test_add_func ("/formats/xisf-bad", test_xisf_bad);
  g_test_add_func ("/formats/xisf-write", test_xisf_write);
  g_test_add_func ("/formats/xisf-session", test_xisf_session);
  g_test_add_func ("/formats/tiff-session", test_tiff_session);
  g_test_add_func ("/formats/dng", test_dng);
  g_test_add_func ("/formats/ffmpeg-lazy", test_ffmpeg_lazy);
  g_test_add_func ("/formats/process-cli", test_process_cli);
  return g_test_run ();
}
