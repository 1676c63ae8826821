/* test-fits.c — FITS reading and writing. */
#include <unistd.h>
#include "tsr-test-util.h"

#include <fitsio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmp;

static char *
tpath (const char *name)
{
  return g_build_filename (tmp, name, NULL);
}

static void
test_bitpix_roundtrip (void)
{
  const int bitpixes[] = { BYTE_IMG, SHORT_IMG, USHORT_IMG, LONG_IMG, FLOAT_IMG, DOUBLE_IMG };
  const int w = 13, h = 7;
  for (guint b = 0; b < G_N_ELEMENTS (bitpixes); b++)
    {
      int bp = bitpixes[b];
      float *v = g_new (float, w * h);
      for (int i = 0; i < w * h; i++)
        {
          switch (bp)
            {
            case BYTE_IMG: v[i] = (i * 37) % 256; break;
            case SHORT_IMG: v[i] = (i * 977) % 60000 - 30000; break;
            case USHORT_IMG: v[i] = (i * 1231) % 65536; break;
            case LONG_IMG: v[i] = (i * 99991) % 4000000 - 2000000; break;
            default: v[i] = (float) (i * 0.37 - 11.5); break;
            }
        }
      g_autofree char *name = g_strdup_printf ("bp%d.fits", bp);
      g_autofree char *p = tpath (name);
      tsr_test_write_fits (p, bp, w, h, 1, v, NULL);
      GError *e = NULL;
      g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
      g_assert_no_error (e);
      g_assert_cmpint (img->width, ==, w);
      g_assert_cmpint (img->height, ==, h);
      g_assert_cmpint (img->channels, ==, 1);
      for (int i = 0; i < w * h; i++)
        g_assert_cmpfloat (img->data[i], ==, v[i]);
      g_assert_cmpuint (tsr_image_count_valid (img), ==, w * h);

      TsrFitsInfo info;
      g_assert_true (tsr_fits_read_info (p, &info, NULL, &e));
      g_assert_no_error (e);
      g_assert_cmpint (info.bitpix, ==, bp == USHORT_IMG ? SHORT_IMG : bp);
      tsr_fits_info_clear (&info);

      /* and back out as float32 */
      g_autofree char *out = tpath ("roundtrip-out.fits");
      g_assert_true (tsr_fits_write (out, img, NULL, &e));
      g_assert_no_error (e);
      g_autoptr (TsrImage) back = tsr_fits_read (out, &e);
      g_assert_no_error (e);
      g_assert_cmpmem (back->data, w * h * sizeof (float), img->data, w * h * sizeof (float));
      g_free (v);
    }
}

static void
test_rgb_cube (void)
{
  const int w = 5, h = 4;
  float v[3 * 5 * 4];
  for (int i = 0; i < 60; i++)
    v[i] = i;
  g_autofree char *p = tpath ("rgb.fits");
  tsr_test_write_fits (p, FLOAT_IMG, w, h, 3, v, NULL);
  GError *e = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
  g_assert_no_error (e);
  g_assert_cmpint (img->channels, ==, 3);
  g_assert_cmpfloat (tsr_image_plane (img, 2)[3 * w + 4], ==, 2 * 20 + 3 * w + 4);
  g_assert_cmpint (img->cfa, ==, TSR_CFA_NONE);
}

static void
test_header_passthrough (void)
{
  float v[16] = { 0 };
  const char *cards[] = {
    "OBJECT  = 'M 94    '           / target",
    "HIERARCH SEESTAR FOCUS POS = 1234 / a long keyword",
    "EXPTIME =                 10.0",
    "BAYERPAT= 'GRBG    '",
    "DATE-OBS= '2025-04-09T22:54:35.120'",
    "COMMENT a comment line",
    NULL
  };
  g_autofree char *p = tpath ("hdr.fits");
  tsr_test_write_fits (p, USHORT_IMG, 4, 4, 1, v, cards);
  GError *e = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
  g_assert_no_error (e);
  g_assert_cmpint (img->cfa, ==, TSR_CFA_GRBG);
  g_autofree char *obj = tsr_header_get_string (img->header, "OBJECT");
  g_assert_cmpstr (obj, ==, "M 94");
  gint64 focus = 0;
  g_assert_true (tsr_header_get_int (img->header, "SEESTAR FOCUS POS", &focus));
  g_assert_cmpint (focus, ==, 1234);
  g_assert_false (tsr_header_has (img->header, "BZERO"));
  g_assert_false (tsr_header_has (img->header, "NAXIS1"));

  tsr_header_add_history (img->header, "Tessera test: step=1 alpha=0.4");
  g_autofree char *out = tpath ("hdr-out.fits");
  g_assert_true (tsr_fits_write (out, img, NULL, &e));
  g_assert_no_error (e);
  g_autoptr (TsrHeader) h2 = NULL;
  TsrFitsInfo info;
  g_assert_true (tsr_fits_read_info (out, &info, &h2, &e));
  g_assert_cmpint (info.cfa, ==, TSR_CFA_GRBG);
  g_assert_cmpfloat (info.exposure, ==, 10.0);
  tsr_fits_info_clear (&info);
  g_autofree char *obj2 = tsr_header_get_string (h2, "OBJECT");
  g_assert_cmpstr (obj2, ==, "M 94");
  g_assert_true (tsr_header_get_int (h2, "SEESTAR FOCUS POS", &focus));
  g_assert_true (tsr_header_has (h2, "DATE"));
  g_autofree char *creator = tsr_header_get_string (h2, "CREATOR");
  g_assert_true (g_str_has_prefix (creator, "Tessera"));
  gboolean found_history = FALSE;
  for (guint i = 0; i < tsr_header_n_cards (h2); i++)
    if (strstr (tsr_header_card (h2, i), "Tessera test: step=1"))
      found_history = TRUE;
  g_assert_true (found_history);

  /* A debayered product does not claim a Bayer pattern. */
  g_autoptr (TsrImage) rgb = tsr_image_new (4, 4, 3);
  tsr_header_free (rgb->header);
  rgb->header = tsr_header_copy (img->header);
  g_autofree char *out3 = tpath ("rgb-out.fits");
  g_assert_true (tsr_fits_write (out3, rgb, NULL, &e));
  g_autoptr (TsrHeader) h3 = NULL;
  g_assert_true (tsr_fits_read_info (out3, &info, &h3, &e));
  tsr_fits_info_clear (&info);
  g_assert_false (tsr_header_has (h3, "BAYERPAT"));
  g_assert_cmpint (info.channels, ==, 3);
  /* drop_keys removes keywords that no longer hold */
  const char *drop[] = { "EXPTIME", NULL };
  g_assert_true (tsr_fits_write (out3, img, drop, &e));
  g_autoptr (TsrHeader) h4 = NULL;
  g_assert_true (tsr_fits_read_info (out3, &info, &h4, &e));
  tsr_fits_info_clear (&info);
  g_assert_false (tsr_header_has (h4, "EXPTIME"));
}

static void
test_cfa_detection (void)
{
  struct { const char *cards[4]; int height; TsrCfa want; } cases[] = {
    { { "BAYERPAT= 'GRBG'", NULL }, 4, TSR_CFA_GRBG },
    { { "BAYERPAT= 'RGGB'", "XBAYROFF= 1", NULL }, 4, TSR_CFA_GRBG },
    { { "BAYERPAT= 'RGGB'", "YBAYROFF= 1", NULL }, 4, TSR_CFA_GBRG },
    { { "BAYERPAT= 'GRBG'", "ROWORDER= 'TOP-DOWN'", NULL }, 4, TSR_CFA_GRBG },
    { { "BAYERPAT= 'GRBG'", "ROWORDER= 'BOTTOM-UP'", NULL }, 4, TSR_CFA_BGGR },
    { { "BAYERPAT= 'GRBG'", "ROWORDER= 'BOTTOM-UP'", NULL }, 5, TSR_CFA_GRBG },
    { { "BAYERPAT= 'bggr'", NULL }, 4, TSR_CFA_BGGR },
    { { "OBJECT  = 'x'", NULL }, 4, TSR_CFA_NONE },
  };
  float v[4 * 5] = { 0 };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *p = tpath ("cfa.fits");
      tsr_test_write_fits (p, SHORT_IMG, 4, cases[i].height, 1, v, cases[i].cards);
      TsrFitsInfo info;
      GError *e = NULL;
      g_assert_true (tsr_fits_read_info (p, &info, NULL, &e));
      g_assert_cmpstr (tsr_cfa_name (info.cfa), ==, tsr_cfa_name (cases[i].want));
      tsr_fits_info_clear (&info);
      /* and the writer states it so that reading again gives the same phase */
      g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
      g_autofree char *out = tpath ("cfa-out.fits");
      g_assert_true (tsr_fits_write (out, img, NULL, &e));
      g_assert_true (tsr_fits_read_info (out, &info, NULL, &e));
      g_assert_cmpstr (tsr_cfa_name (info.cfa), ==, tsr_cfa_name (cases[i].want));
      tsr_fits_info_clear (&info);
    }
  /* colours of a pattern */
  g_assert_cmpint (tsr_cfa_color (TSR_CFA_GRBG, 0, 0), ==, TSR_GREEN);
  g_assert_cmpint (tsr_cfa_color (TSR_CFA_GRBG, 1, 0), ==, TSR_RED);
  g_assert_cmpint (tsr_cfa_color (TSR_CFA_GRBG, 0, 1), ==, TSR_BLUE);
  g_assert_cmpint (tsr_cfa_color (TSR_CFA_GRBG, 3, 3), ==, TSR_GREEN);
}

static void
test_nan_mask (void)
{
  float v[12];
  for (int i = 0; i < 12; i++)
    v[i] = i;
  v[5] = NAN;
  v[7] = INFINITY;
  g_autofree char *p = tpath ("nan.fits");
  tsr_test_write_fits (p, FLOAT_IMG, 4, 3, 1, v, NULL);
  GError *e = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_image_count_valid (img), ==, 10);
  g_assert_cmpint (img->mask[5], ==, 0);
  g_assert_cmpint (img->mask[7], ==, 0);
  g_assert_cmpfloat (img->data[5], ==, 0.0f);
  g_assert_cmpfloat (img->data[6], ==, 6.0f);
}

static void
test_compressed (void)
{
  g_autofree char *p = tpath ("comp.fits.fz");
  const int w = 64, h = 48;
  float *v = g_new (float, w * h);
  for (int i = 0; i < w * h; i++)
    v[i] = (i * 131) % 4000;
  fitsfile *f = NULL;
  int status = 0;
  fits_create_diskfile (&f, p, &status);
  fits_set_compression_type (f, RICE_1, &status);
  long naxes[2] = { w, h };
  fits_create_img (f, USHORT_IMG, 2, naxes, &status);
  char card[FLEN_CARD] = "BAYERPAT= 'RGGB'";
  fits_write_record (f, card, &status);
  guint16 *u = g_new (guint16, w * h);
  for (int i = 0; i < w * h; i++)
    u[i] = (guint16) v[i];
  fits_write_img (f, TUSHORT, 1, w * h, u, &status);
  g_free (u);
  fits_close_file (f, &status);
  g_assert_cmpint (status, ==, 0);
  GError *e = NULL;
  TsrFitsInfo info;
  g_assert_true (tsr_fits_read_info (p, &info, NULL, &e));
  g_assert_no_error (e);
  g_assert_true (info.compressed);
  g_assert_cmpint (info.width, ==, w);
  g_assert_cmpint (info.cfa, ==, TSR_CFA_RGGB);
  tsr_fits_info_clear (&info);
  g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
  g_assert_no_error (e);
  for (int i = 0; i < w * h; i++)
    g_assert_cmpfloat (img->data[i], ==, v[i]);
  g_autoptr (TsrImage) rows = tsr_fits_read_rows (p, 5, 9, &e);
  g_assert_no_error (e);
  g_assert_cmpint (rows->height, ==, 4);
  g_assert_cmpfloat (rows->data[0], ==, v[5 * w]);
  g_assert_cmpint (rows->cfa, ==, TSR_CFA_GBRG); /* odd first row shifts the phase */
  g_free (v);
}

static void
test_read_rows (void)
{
  const int w = 9, h = 11;
  float v[9 * 11];
  for (int i = 0; i < w * h; i++)
    v[i] = i;
  g_autofree char *p = tpath ("rows.fits");
  tsr_test_write_fits (p, FLOAT_IMG, w, h, 1, v, NULL);
  GError *e = NULL;
  g_autoptr (TsrImage) r = tsr_fits_read_rows (p, 3, 7, &e);
  g_assert_no_error (e);
  g_assert_cmpint (r->height, ==, 4);
  for (int i = 0; i < 4 * w; i++)
    g_assert_cmpfloat (r->data[i], ==, v[3 * w + i]);
  g_assert_null (tsr_fits_read_rows (p, 7, 12, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&e);
}

static void
write_raw_header (const char *path, const char *const *cards, gsize extra_bytes)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; cards[i]; i++)
    g_string_append_printf (s, "%-80s", cards[i]);
  g_string_append_printf (s, "%-80s", "END");
  while (s->len % 2880)
    g_string_append_c (s, ' ');
  for (gsize i = 0; i < extra_bytes; i++)
    g_string_append_c (s, 0);
  tsr_test_write_file (path, s->str, s->len);
  g_string_free (s, TRUE);
}

static void
expect_error (const char *path, int code, const char *fragment)
{
  GError *e = NULL;
  TsrImage *img = tsr_fits_read (path, &e);
  g_assert_null (img);
  g_assert_nonnull (e);
  if (code >= 0)
    g_assert_error (e, TSR_ERROR, code);
  g_autofree char *base = g_path_get_basename (path);
  if (!strstr (e->message, base))
    g_error ("message '%s' does not name %s", e->message, base);
  if (fragment && !strstr (e->message, fragment))
    g_error ("message '%s' lacks '%s'", e->message, fragment);
  g_assert_null (strchr (e->message, '\n'));
  g_clear_error (&e);
  TsrFitsInfo info;
  gboolean ok = tsr_fits_read_info (path, &info, NULL, &e);
  if (ok)
    tsr_fits_info_clear (&info);
  g_clear_error (&e);
}

static void
test_bad_input (void)
{
  g_autofree char *missing = tpath ("missing.fits");
  expect_error (missing, TSR_ERROR_NOT_FOUND, NULL);

  g_autofree char *text = tpath ("notes.fits");
  const char *junk = "this is a text file pretending to be a FITS image\n";
  GString *big = g_string_new (NULL);
  for (int i = 0; i < 200; i++)
    g_string_append (big, junk);
  tsr_test_write_file (text, big->str, big->len);
  g_string_free (big, TRUE);
  expect_error (text, TSR_ERROR_FORMAT, "not a FITS");

  /* a real frame, truncated at several offsets */
  const int w = 100, h = 80;
  float *v = g_new0 (float, w * h);
  for (int i = 0; i < w * h; i++)
    v[i] = i % 1000;
  g_autofree char *good = tpath ("good.fits");
  tsr_test_write_fits (good, USHORT_IMG, w, h, 1, v, NULL);
  g_free (v);
  gsize len = 0;
  g_autofree char *bytes = tsr_test_read_file (good, &len);
  const gsize cuts[] = { 40, 1000, 2880, 2880 + 100, 2880 + w * h, len - 2881 };
  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autofree char *name = g_strdup_printf ("cut-%" G_GSIZE_FORMAT ".fits", cuts[i]);
      g_autofree char *p = tpath (name);
      tsr_test_write_file (p, bytes, cuts[i]);
      expect_error (p, -1, NULL);
    }
  /* data-start truncation is called a truncation */
  g_autofree char *cut = tpath ("cut-2880.fits");
  expect_error (cut, TSR_ERROR_TRUNCATED, "truncated");

  g_autofree char *huge = tpath ("huge.fits");
  const char *huge_cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                               "NAXIS   =                    2", "NAXIS1  =               100000",
                               "NAXIS2  =               100000", NULL };
  write_raw_header (huge, huge_cards, 5760);
  expect_error (huge, TSR_ERROR_TOO_LARGE, NULL);

  g_autofree char *big2 = tpath ("big2.fits");
  const char *big_cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                              "NAXIS   =                    2", "NAXIS1  =                 5000",
                              "NAXIS2  =                 5000", NULL };
  write_raw_header (big2, big_cards, 5760);
  expect_error (big2, TSR_ERROR_TRUNCATED, "truncated");

  g_autofree char *n1 = tpath ("naxis1.fits");
  const char *n1_cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                             "NAXIS   =                    1", "NAXIS1  =                   10", NULL };
  write_raw_header (n1, n1_cards, 2880);
  expect_error (n1, TSR_ERROR_FORMAT, "NAXIS = 1");

  g_autofree char *zero = tpath ("zero.fits");
  const char *z_cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                            "NAXIS   =                    2", "NAXIS1  =                    0",
                            "NAXIS2  =                   10", NULL };
  write_raw_header (zero, z_cards, 2880);
  expect_error (zero, -1, NULL);

  g_autofree char *bp = tpath ("bitpix.fits");
  const char *bp_cards[] = { "SIMPLE  =                    T", "BITPIX  =                   12",
                             "NAXIS   =                    2", "NAXIS1  =                   10",
                             "NAXIS2  =                   10", NULL };
  write_raw_header (bp, bp_cards, 2880);
  expect_error (bp, -1, NULL);

  g_autofree char *n4 = tpath ("naxis4.fits");
  const char *n4_cards[] = { "SIMPLE  =                    T", "BITPIX  =                    8",
                             "NAXIS   =                    3", "NAXIS1  =                    4",
                             "NAXIS2  =                    4", "NAXIS3  =                    5", NULL };
  write_raw_header (n4, n4_cards, 2880);
  expect_error (n4, TSR_ERROR_FORMAT, "NAXIS3");
}

static void
test_write_failures (void)
{
  g_autoptr (TsrImage) img = tsr_image_new (8, 8, 1);
  GError *e = NULL;
  g_autofree char *nodir = tpath ("no/such/folder/out.fits");
  g_assert_false (tsr_fits_write (nodir, img, NULL, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_IO);
  g_assert_nonnull (strstr (e->message, "out.fits"));
  g_clear_error (&e);

  /* the target is a folder: refused before anything is written (docs/reliability.md,
   * "What an output name may be"), the folder stays and no temp file is left */
  g_autofree char *dir = tpath ("adir.fits");
  g_mkdir (dir, 0755);
  g_autofree char *inside = g_build_filename (dir, "keep.txt", NULL);
  tsr_test_write_file (inside, "keep", 4);
  g_assert_false (tsr_fits_write (dir, img, NULL, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&e);
  g_assert_true (g_file_test (inside, G_FILE_TEST_EXISTS));
  GDir *d = g_dir_open (tmp, 0, NULL);
  const char *n;
  while ((n = g_dir_read_name (d)))
    g_assert_false (g_str_has_suffix (n, ".part"));
  g_dir_close (d);

}

static void
test_date_obs (void)
{
  double a, b, c;
  g_assert_true (tsr_parse_date_obs ("2025-04-09T22:54:35", &a));
  g_assert_true (tsr_parse_date_obs ("2025-04-09T22:54:35.5Z", &b));
  g_assert_cmpfloat_with_epsilon ((b - a) * 86400.0, 0.5, 1e-3);
  g_assert_true (tsr_parse_date_obs ("2000-01-01T12:00:00", &c));
  g_assert_cmpfloat_with_epsilon (c, 2451545.0, 1e-9);
  g_assert_false (tsr_parse_date_obs ("yesterday", &c));
  g_assert_false (tsr_parse_date_obs ("", &c));
}

/* Headers cfitsio would mis-parse into an abort (fuzzer findings kept in the corpus) are
 * refused by the reader's own header walk with a FORMAT error naming the file. */
static void
test_refused_headers (void)
{
  const struct { const char *name, *needle; } cases[] = {
    { "crash-fortify-ffgtbp-ttype.fits", "non-text byte" },   /* 0xFF bytes in a TTYPE1 value */
    { "crash-zimage-free-format.fits", "FITS header" },       /* "ZIMAGE      =  T", non-text comment */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_build_filename (tsr_test_source_root (), "tests", "fuzz", "corpus-fits",
                                                cases[i].name, NULL);
      GError *e = NULL;
      TsrImage *img = tsr_fits_read (path, &e);
      g_assert_null (img);
      g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
      g_assert_nonnull (strstr (e->message, cases[i].name));
      g_assert_nonnull (strstr (e->message, cases[i].needle));
      g_clear_error (&e);
    }
}

/* Issue #20, classes 9 and 10: questionable input is refused with the file and the reason
 * named, not read silently wrong. */
static void
test_questionable_input (void)
{
  float v[16 * 12];
  for (int i = 0; i < 16 * 12; i++)
    v[i] = (float) (i % 9);
  const char *bad_patterns[] = { "XYZW", "GRB", "RGBG", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_patterns); i++)
    {
      g_autofree char *name = g_strdup_printf ("pattern%u.fits", i);
      g_autofree char *path = tpath (name);
      g_autofree char *card = g_strdup_printf ("BAYERPAT= '%s'", bad_patterns[i]);
      const char *cards[] = { card, NULL };
      tsr_test_write_fits (path, FLOAT_IMG, 16, 12, 1, v, cards);
      expect_error (path, TSR_ERROR_FORMAT, "BAYERPAT");
      TsrFitsInfo info;
      GError *e = NULL;
      g_assert_false (tsr_fits_read_info (path, &info, NULL, &e));
      g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
      g_clear_error (&e);
    }
  /* NONE says monochrome; RGGB in lower case is RGGB */
  const char *good_patterns[][2] = { { "NONE", "none" }, { "rggb", "RGGB" } };
  for (guint i = 0; i < G_N_ELEMENTS (good_patterns); i++)
    {
      g_autofree char *path = tpath ("pattern-ok.fits");
      g_autofree char *card = g_strdup_printf ("BAYERPAT= '%s'", good_patterns[i][0]);
      const char *cards[] = { card, NULL };
      tsr_test_write_fits (path, FLOAT_IMG, 16, 12, 1, v, cards);
      GError *e = NULL;
      g_autoptr (TsrImage) img = tsr_fits_read (path, &e);
      g_assert_no_error (e);
      g_assert_cmpstr (tsr_cfa_name (img->cfa), ==, good_patterns[i][1]);
    }
  /* BSCALE = 0 */
  {
    g_autofree char *path = tpath ("bscale0.fits");
    const char *cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   =                    2",
                            "NAXIS1  =                   16", "NAXIS2  =                   12", "BSCALE  =                  0.0",
                            "BZERO   =                32768", NULL };
    write_raw_header (path, cards, 16 * 12 * 2);
    expect_error (path, TSR_ERROR_FORMAT, "BSCALE");
  }
  /* a negative PCOUNT in an extension before the image */
  {
    g_autofree char *path = tpath ("pcount.fits");
    const char *cards[] = { "SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0",
                            "EXTEND  =                    T", NULL };
    write_raw_header (path, cards, 0);
    gsize len;
    g_autofree char *primary = tsr_test_read_file (path, &len);
    const char *ext[] = { "XTENSION= 'IMAGE   '", "BITPIX  =                   16", "NAXIS   =                    2",
                          "NAXIS1  =                   16", "NAXIS2  =                   12", "PCOUNT  =                -5000",
                          "GCOUNT  =                    1", NULL };
    g_autofree char *extpath = tpath ("pcount-ext.bin");
    write_raw_header (extpath, ext, 16 * 12 * 2);
    gsize elen;
    g_autofree char *extbytes = tsr_test_read_file (extpath, &elen);
    GString *all = g_string_new_len (primary, len);
    g_string_append_len (all, extbytes, elen);
    tsr_test_write_file (path, all->str, all->len);
    g_string_free (all, TRUE);
    expect_error (path, TSR_ERROR_FORMAT, "PCOUNT");
  }
  /* a whole file gzip-compressed but named .fits */
  {
    g_autofree char *plain = tpath ("plain.fits");
    tsr_test_write_fits (plain, FLOAT_IMG, 16, 12, 1, v, NULL);
    gsize len;
    g_autofree char *bytes = tsr_test_read_file (plain, &len);
    g_autoptr (GZlibCompressor) z = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
    guint8 out[65536];
    gsize rd = 0, wr = 0;
    g_assert_cmpint (g_converter_convert (G_CONVERTER (z), bytes, len, out, sizeof out, G_CONVERTER_INPUT_AT_END,
                                          &rd, &wr, NULL), ==, G_CONVERTER_FINISHED);
    g_autofree char *path = tpath ("zipped.fits");
    tsr_test_write_file (path, out, wr);
    expect_error (path, TSR_ERROR_FORMAT, "gzip");
  }
  /* an unreadable file is reported as unreadable, not as "not a FITS file" (root reads all) */
  if (geteuid () != 0)
    {
      g_autofree char *path = tpath ("locked.fits");
      tsr_test_write_fits (path, FLOAT_IMG, 16, 12, 1, v, NULL);
      g_chmod (path, 0);
      expect_error (path, TSR_ERROR_IO, "Permission");
      g_chmod (path, 0644);
    }
}

/* Issue #20, class 10: unsigned 64-bit frames are read exactly (to float precision), and the
 * FITS checksums are verified when present. */
static void
test_uint64_and_checksums (void)
{
  /* BITPIX = 64 with BZERO = 2^63 */
  {
    g_autofree char *path = tpath ("u64.fits");
    g_unlink (path);
    fitsfile *f = NULL;
    int st = 0;
    long axes[2] = { 4, 2 };
    unsigned long long v[8] = { 0, 1, 1000, 1001, 65535, 16777215, 123456789012ULL, 281474976710657ULL };
    /* (values above TSR_SAMPLE_MAX, 1e15, are invalid samples like any absurd value: class 4) */
    fits_create_file (&f, path, &st);
    fits_create_img (f, ULONGLONG_IMG, 2, axes, &st);
    fits_write_img (f, TULONGLONG, 1, 8, v, &st);
    fits_close_file (f, &st);
    g_assert_cmpint (st, ==, 0);
    GError *e = NULL;
    g_autoptr (TsrImage) img = tsr_fits_read (path, &e);
    g_assert_no_error (e);
    for (int i = 0; i < 8; i++)
      {
        double want = (double) v[i];
        if (want <= 16777216.0)
          g_assert_cmpfloat (img->data[i], ==, (float) want); /* exact below 2^24 */
        else
          g_assert_cmpfloat (fabs (img->data[i] - want) / want, <=, 6e-8);
        g_assert_true (img->mask[i]);
      }
    /* the band reader goes the same way */
    g_autoptr (TsrImage) band = tsr_fits_read_rows (path, 1, 2, &e);
    g_assert_no_error (e);
    g_assert_cmpfloat (band->data[0], ==, 65535.0f);
    g_assert_cmpfloat (band->data[1], ==, 16777215.0f);
  }
  /* DATASUM / CHECKSUM */
  float v[16 * 12];
  for (int i = 0; i < 16 * 12; i++)
    v[i] = (float) (i % 11) + 100.0f;
  g_autofree char *path = tpath ("summed.fits");
  const char *cards[] = { "COMMENT written for the checksum test", NULL };
  tsr_test_write_fits (path, FLOAT_IMG, 16, 12, 1, v, cards);
  {
    fitsfile *f = NULL;
    int st = 0;
    fits_open_file (&f, path, READWRITE, &st);
    fits_write_chksum (f, &st);
    fits_close_file (f, &st);
    g_assert_cmpint (st, ==, 0);
  }
  gsize len;
  g_autofree char *good = tsr_test_read_file (path, &len);
  g_assert_cmpuint (len, ==, 2 * 2880);
  GError *e = NULL;
  {
    g_autoptr (TsrImage) img = tsr_fits_read (path, &e);
    g_assert_no_error (e);
    g_assert_cmpfloat (img->data[5], ==, 105.0f);
  }
  /* one bit flipped in the pixels: refused, naming DATASUM */
  g_autofree char *bad = g_memdup2 (good, len);
  bad[2880 + 4 * 37 + 3] ^= 0x01;
  tsr_test_write_file (path, bad, len);
  expect_error (path, TSR_ERROR_FORMAT, "DATASUM");
  /* the header changed after writing (a comment edited), pixels intact: read */
  memcpy (bad, good, len);
  char *c = memmem (bad, 2880, "checksum test", 13);
  g_assert_nonnull (c);
  c[0] = 'C';
  tsr_test_write_file (path, bad, len);
  {
    g_autoptr (TsrImage) img = tsr_fits_read (path, &e);
    g_assert_no_error (e);
    g_assert_cmpfloat (img->data[5], ==, 105.0f);
  }
  /* no DATASUM left to tell, and CHECKSUM no longer matches: refused, naming CHECKSUM */
  char *d = memmem (bad, 2880, "DATASUM =", 9);
  g_assert_nonnull (d);
  memcpy (d, "DATASUX", 7);
  tsr_test_write_file (path, bad, len);
  expect_error (path, TSR_ERROR_FORMAT, "CHECKSUM");

  /* what Tessera writes carries both, and they verify */
  {
    g_autoptr (TsrImage) img = tsr_image_new (16, 12, 1);
    memcpy (img->data, v, sizeof v);
    g_autofree char *out = tpath ("written.fits");
    g_assert_true (tsr_fits_write (out, img, NULL, &e));
    g_assert_no_error (e);
    fitsfile *f = NULL;
    int st = 0, dataok = 0, hduok = 0;
    fits_open_file (&f, out, READONLY, &st);
    fits_verify_chksum (f, &dataok, &hduok, &st);
    fits_close_file (f, &st);
    g_assert_cmpint (st, ==, 0);
    g_assert_cmpint (dataok, ==, 1);
    g_assert_cmpint (hduok, ==, 1);
  }
}

/* 16-bit integer images as cameras write them: the raw read with an integer offset (BSCALE 1,
 * integer BZERO, no BLANK) gives exactly raw·BSCALE + BZERO, as cfitsio's scaled read does for
 * the rest (BSCALE ≠ 1, a fractional BZERO, BLANK: those samples masked), for whole images,
 * row ranges and three-plane cubes. */
static void
write_short (const char *p, int w, int h, int nc, const short *raw, double bscale, double bzero, gboolean blank)
{
  fitsfile *f = NULL;
  int status = 0;
  long naxes[3] = { w, h, nc };
  g_remove (p);
  fits_create_file (&f, p, &status);
  fits_create_img (f, SHORT_IMG, nc > 1 ? 3 : 2, naxes, &status);
  if (bscale != 1.0 || bzero != 0.0)
    {
      fits_write_key_dbl (f, "BSCALE", bscale, -15, NULL, &status);
      fits_write_key_dbl (f, "BZERO", bzero, -15, NULL, &status);
      fits_set_bscale (f, 1.0, 0.0, &status);
    }
  if (blank)
    fits_write_key_lng (f, "BLANK", -32768, NULL, &status);
  fits_write_img (f, TSHORT, 1, (LONGLONG) w * h * nc, (void *) raw, &status);
  fits_close_file (f, &status);
  g_assert_cmpint (status, ==, 0);
}

static void
test_short_scaled (void)
{
  const int w = 37, h = 11;
  const struct
  {
    double bscale, bzero;
    gboolean blank;
    int nc;
  } cases[] = {
    { 1, 32768, FALSE, 1 }, { 1, 0, FALSE, 1 }, { 1, -1000, FALSE, 3 }, { 1, 32768, FALSE, 3 },
    { 2, 10, FALSE, 1 }, { 1, 0.5, FALSE, 1 }, { 1, 32768, TRUE, 1 }, { 1, 0, TRUE, 3 },
  };
  g_autoptr (GRand) r = g_rand_new_with_seed (1616);
  for (guint ci = 0; ci < G_N_ELEMENTS (cases); ci++)
    {
      int nc = cases[ci].nc;
      gsize n = (gsize) w * h * nc;
      g_autofree short *raw = g_new (short, n);
      for (gsize i = 0; i < n; i++)
        raw[i] = (short) g_rand_int_range (r, -32767, 32768);
      raw[5] = -32768;   /* the BLANK value where there is one, the smallest sample elsewhere */
      raw[n - 1] = 32767;
      g_autofree char *p = tpath ("short-scaled.fits");
      write_short (p, w, h, nc, raw, cases[ci].bscale, cases[ci].bzero, cases[ci].blank);
      GError *e = NULL;
      g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
      g_assert_no_error (e);
      g_assert_cmpint (img->channels, ==, nc);
      int y0 = 3, y1 = 9;
      g_autoptr (TsrImage) band = tsr_fits_read_rows (p, y0, y1, &e);
      g_assert_no_error (e);
      for (int c = 0; c < nc; c++)
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++)
            {
              gsize k = ((gsize) c * h + y) * w + x, q = (gsize) y * w + x;
              /* a null in one plane masks the pixel in every plane (tsr_fits_read) */
              gboolean null = FALSE;
              for (int c2 = 0; c2 < nc; c2++)
                null |= cases[ci].blank && raw[((gsize) c2 * h + y) * w + x] == -32768;
              float want = null ? 0.0f : (float) ((double) raw[k] * cases[ci].bscale + cases[ci].bzero);
              float got = tsr_image_plane (img, c)[q];
              if (memcmp (&got, &want, sizeof got) != 0 || (img->mask[q] != 0) == null)
                g_error ("case %u (BSCALE %g BZERO %g%s), plane %d (%d, %d): %.9g mask %d, want %.9g%s", ci,
                         cases[ci].bscale, cases[ci].bzero, cases[ci].blank ? " BLANK" : "", c, x, y, got,
                         img->mask[q], want, null ? " masked" : "");
              if (y >= y0 && y < y1)
                {
                  float gb = tsr_image_plane (band, c)[(gsize) (y - y0) * w + x];
                  g_assert_cmpmem (&gb, sizeof gb, &got, sizeof got);
                }
            }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmp = tsr_test_tmpdir ("fits");
  g_test_add_func ("/fits/questionable-input", test_questionable_input);
  g_test_add_func ("/fits/uint64-and-checksums", test_uint64_and_checksums);
  g_test_add_func ("/fits/bitpix-roundtrip", test_bitpix_roundtrip);
  g_test_add_func ("/fits/short-scaled", test_short_scaled);
  g_test_add_func ("/fits/rgb-cube", test_rgb_cube);
  g_test_add_func ("/fits/header-passthrough", test_header_passthrough);
  g_test_add_func ("/fits/cfa-detection", test_cfa_detection);
  g_test_add_func ("/fits/nan-mask", test_nan_mask);
  g_test_add_func ("/fits/compressed", test_compressed);
  g_test_add_func ("/fits/read-rows", test_read_rows);
  g_test_add_func ("/fits/bad-input", test_bad_input);
  g_test_add_func ("/fits/write-failures", test_write_failures);
  g_test_add_func ("/fits/date-obs", test_date_obs);
  g_test_add_func ("/fits/refused-headers", test_refused_headers);
  int r = g_test_run ();
  tsr_test_rmtree (tmp);
  g_free (tmp);
  return r;
}
