/* test-json-render.c — JSON writer/reader, atomic writes, display stretch and PNG preview. */
#include <locale.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "tessera.h"
#include "tsr-test-util.h"

/* ------------------------------------------------------------------------------------- */
/* JSON                                                                                   */
/* ------------------------------------------------------------------------------------- */

static const char *const tricky_string =
  "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f ctl\x01\x1f del\x7f "
  "é ∑ 漢字 😀";

static char *
build_document (void)
{
  TsrJsonWriter *w = tsr_json_writer_new ();

  tsr_json_begin_object (w);
  tsr_json_key (w, "text");
  tsr_json_string (w, tricky_string);
  tsr_json_key (w, "key \"with\" escapes\n");
  tsr_json_int (w, 7);
  tsr_json_key (w, "numbers");
  tsr_json_begin_array (w);
  tsr_json_double (w, 1e-300);
  tsr_json_double (w, -0.5);
  tsr_json_double (w, 12345678901234.0);
  tsr_json_double (w, 0.1);
  tsr_json_double (w, 1.0 / 3.0);
  tsr_json_double (w, 1.7976931348623157e308);
  tsr_json_double (w, 4.9e-324);
  tsr_json_double (w, NAN);
  tsr_json_double (w, INFINITY);
  tsr_json_int (w, 12345678901234);
  tsr_json_int (w, G_MININT64);
  tsr_json_end_array (w);
  tsr_json_key (w, "flags");
  tsr_json_begin_array (w);
  tsr_json_bool (w, TRUE);
  tsr_json_bool (w, FALSE);
  tsr_json_null (w);
  tsr_json_string (w, NULL);
  tsr_json_end_array (w);
  tsr_json_key (w, "nested");
  tsr_json_begin_object (w);
  tsr_json_key (w, "empty_object");
  tsr_json_begin_object (w);
  tsr_json_end_object (w);
  tsr_json_key (w, "empty_array");
  tsr_json_begin_array (w);
  tsr_json_end_array (w);
  tsr_json_key (w, "deep");
  tsr_json_begin_array (w);
  tsr_json_begin_array (w);
  tsr_json_begin_object (w);
  tsr_json_key (w, "k");
  tsr_json_string (w, "v");
  tsr_json_end_object (w);
  tsr_json_end_array (w);
  tsr_json_end_array (w);
  tsr_json_end_object (w);
  tsr_json_key (w, "");
  tsr_json_string (w, "");
  tsr_json_end_object (w);

  return tsr_json_writer_finish (w);
}

static void
check_document (const TsrJson *root)
{
  g_assert_cmpint (tsr_json_type (root), ==, TSR_JSON_OBJECT);
  g_assert_cmpuint (tsr_json_length (root), ==, 6);

  g_assert_cmpstr (tsr_json_str (tsr_json_get (root, "text")), ==, tricky_string);
  g_assert_cmpfloat (tsr_json_number (tsr_json_get (root, "key \"with\" escapes\n"), -1), ==, 7);

  /* Member order is kept. */
  g_assert_true (tsr_json_index (root, 0) == tsr_json_get (root, "text"));
  g_assert_true (tsr_json_index (root, 2) == tsr_json_get (root, "numbers"));
  g_assert_true (tsr_json_index (root, 5) == tsr_json_get (root, ""));

  const TsrJson *nums = tsr_json_get (root, "numbers");
  g_assert_cmpint (tsr_json_type (nums), ==, TSR_JSON_ARRAY);
  g_assert_cmpuint (tsr_json_length (nums), ==, 11);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 0), 0) == 1e-300);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 1), 0) == -0.5);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 2), 0) == 12345678901234.0);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 3), 0) == 0.1);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 4), 0) == 1.0 / 3.0);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 5), 0) == 1.7976931348623157e308);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 6), 0) == 4.9e-324);
  g_assert_cmpint (tsr_json_type (tsr_json_index (nums, 7)), ==, TSR_JSON_NULL);
  g_assert_cmpint (tsr_json_type (tsr_json_index (nums, 8)), ==, TSR_JSON_NULL);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 9), 0) == 12345678901234.0);
  g_assert_true (tsr_json_number (tsr_json_index (nums, 10), 0) == (double) G_MININT64);
  g_assert_null (tsr_json_index (nums, 11));

  const TsrJson *flags = tsr_json_get (root, "flags");
  g_assert_cmpuint (tsr_json_length (flags), ==, 4);
  g_assert_true (tsr_json_boolean (tsr_json_index (flags, 0), FALSE));
  g_assert_false (tsr_json_boolean (tsr_json_index (flags, 1), TRUE));
  g_assert_cmpint (tsr_json_type (tsr_json_index (flags, 2)), ==, TSR_JSON_NULL);
  g_assert_cmpint (tsr_json_type (tsr_json_index (flags, 3)), ==, TSR_JSON_NULL);
  /* Fallbacks on type mismatch. */
  g_assert_true (tsr_json_boolean (tsr_json_index (flags, 2), TRUE));
  g_assert_cmpfloat (tsr_json_number (tsr_json_index (flags, 0), 42.0), ==, 42.0);
  g_assert_null (tsr_json_str (tsr_json_index (flags, 0)));
  g_assert_null (tsr_json_get (flags, "x"));

  const TsrJson *nested = tsr_json_get (root, "nested");
  g_assert_cmpint (tsr_json_type (tsr_json_get (nested, "empty_object")), ==, TSR_JSON_OBJECT);
  g_assert_cmpuint (tsr_json_length (tsr_json_get (nested, "empty_object")), ==, 0);
  g_assert_cmpint (tsr_json_type (tsr_json_get (nested, "empty_array")), ==, TSR_JSON_ARRAY);
  g_assert_cmpuint (tsr_json_length (tsr_json_get (nested, "empty_array")), ==, 0);
  const TsrJson *deep = tsr_json_get (nested, "deep");
  g_assert_cmpstr (tsr_json_str (tsr_json_get (tsr_json_index (tsr_json_index (deep, 0), 0), "k")),
                   ==, "v");
  g_assert_null (tsr_json_get (nested, "missing"));
  g_assert_cmpstr (tsr_json_str (tsr_json_get (root, "")), ==, "");

  /* NULL-safe accessors. */
  g_assert_cmpint (tsr_json_type (NULL), ==, TSR_JSON_NULL);
  g_assert_null (tsr_json_get (NULL, "a"));
  g_assert_cmpuint (tsr_json_length (NULL), ==, 0);
}

static void
test_json_roundtrip (void)
{
  char *text = build_document ();
  GError *error = NULL;

  g_assert_true (g_utf8_validate (text, -1, NULL));
  /* Control characters are escaped, raw UTF-8 passes through. */
  g_assert_nonnull (strstr (text, "\\u0001"));
  g_assert_nonnull (strstr (text, "\\u001f"));
  g_assert_nonnull (strstr (text, "😀"));
  g_assert_nonnull (strstr (text, "-0.5"));
  g_assert_nonnull (strstr (text, "12345678901234"));
  g_assert_nonnull (strstr (text, "\n  \"text\": "));   /* 2-space indentation */

  g_autoptr (TsrJson) root = tsr_json_parse (text, -1, &error);
  g_assert_no_error (error);
  check_document (root);

  /* The same text with an explicit length and without the trailing NUL. */
  gsize len = strlen (text);
  char *copy = g_memdup2 (text, len);
  g_autoptr (TsrJson) root2 = tsr_json_parse (copy, (gssize) len, &error);
  g_assert_no_error (error);
  check_document (root2);
  g_free (copy);

  /* Locale independence: a decimal comma locale must not change the output. */
  const char *old = setlocale (LC_NUMERIC, NULL);
  char *saved = g_strdup (old);
  if (setlocale (LC_NUMERIC, "de_DE.UTF-8") != NULL || setlocale (LC_NUMERIC, "fr_FR.UTF-8") != NULL)
    {
      char *text2 = build_document ();
      g_assert_cmpstr (text2, ==, text);
      g_autoptr (TsrJson) root3 = tsr_json_parse (text2, -1, &error);
      g_assert_no_error (error);
      check_document (root3);
      g_free (text2);
    }
  setlocale (LC_NUMERIC, saved);
  g_free (saved);

  g_free (text);
}

static void
test_json_reader_details (void)
{
  GError *error = NULL;

  /* \u escapes, surrogate pairs, "/" escape, whitespace, BOM. */
  g_autoptr (TsrJson) s = tsr_json_parse ("\xEF\xBB\xBF \t\r\n [\"\\u00e9\\u00E9\", \"\\ud83d\\ude00\", "
                                          "\"\\u0041\\/\\u20AC\", \"\\u001F\"] \n", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tsr_json_str (tsr_json_index (s, 0)), ==, "éé");
  g_assert_cmpstr (tsr_json_str (tsr_json_index (s, 1)), ==, "😀");
  g_assert_cmpstr (tsr_json_str (tsr_json_index (s, 2)), ==, "A/€");
  g_assert_cmpstr (tsr_json_str (tsr_json_index (s, 3)), ==, "\x1f");

  /* Duplicate keys: the first wins for lookups, both are kept in order. */
  g_autoptr (TsrJson) d = tsr_json_parse ("{\"a\": 1, \"b\": 2, \"a\": 3}", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (tsr_json_number (tsr_json_get (d, "a"), 0), ==, 1);
  g_assert_cmpuint (tsr_json_length (d), ==, 3);
  g_assert_cmpfloat (tsr_json_number (tsr_json_index (d, 2), 0), ==, 3);

  /* Number grammar. */
  const struct { const char *text; double value; } nums[] = {
    { "0", 0 }, { "-0", -0.0 }, { "1e-300", 1e-300 }, { "-0.5", -0.5 },
    { "12345678901234", 12345678901234.0 }, { "1E+2", 100 }, { "2.5e-3", 2.5e-3 },
    { "1e-400", 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (nums); i++)
    {
      g_autoptr (TsrJson) n = tsr_json_parse (nums[i].text, -1, &error);
      g_assert_no_error (error);
      g_assert_cmpint (tsr_json_type (n), ==, TSR_JSON_NUMBER);
      g_assert_cmpfloat (tsr_json_number (n, 99), ==, nums[i].value);
    }

  /* Scalars at the top level. */
  g_autoptr (TsrJson) t = tsr_json_parse ("true", -1, &error);
  g_assert_no_error (error);
  g_assert_true (tsr_json_boolean (t, FALSE));

  /* Nesting up to the limit parses. */
  GString *ok = g_string_new (NULL);
  for (int i = 0; i < 150; i++)
    g_string_append_c (ok, '[');
  for (int i = 0; i < 150; i++)
    g_string_append_c (ok, ']');
  g_autoptr (TsrJson) nest = tsr_json_parse (ok->str, -1, &error);
  g_assert_no_error (error);
  g_string_free (ok, TRUE);

  /* Error position. */
  TsrJson *bad = tsr_json_parse ("{\n  \"a\": x\n}", -1, &error);
  g_assert_null (bad);
  g_assert_error (error, TSR_ERROR, TSR_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 2, column 8"));
  g_clear_error (&error);
}

static void
expect_parse_error (const char *text, gssize len)
{
  GError *error = NULL;
  TsrJson *node = tsr_json_parse (text, len, &error);
  if (node != NULL)
    g_error ("accepted malformed JSON: %.80s", text);
  g_assert_error (error, TSR_ERROR, TSR_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line "));
  g_clear_error (&error);
}

static void
test_json_malformed (void)
{
  static const char *const bad[] = {
    "", "   ", "{", "[", "[1,2", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "[,1]",
    "{,}", "[1 2]", "{1:2}", "{\"a\"}", "\"abc", "\"abc\\", "\"\\x\"", "\"\\u12\"",
    "\"\\u12G4\"", "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"\\udc00\"", "\"\\u0000\"",
    "01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "tru", "nul", "fals", "True",
    "[] x", "{} {}", "1 2", "\"a\tb\"", "\"a\nb\"", "\"\xff\"", "\"\xc3\x28\"",
    "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\xc3\x28", "NaN", "Infinity", "-Infinity",
    "1e999", "-1e999", "[1]]", "{\"a\":1}}", "/* comment */ 1", "'single'", "[1,2,3",
    "{\"a\":[1,{\"b\":}]}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    expect_parse_error (bad[i], -1);

  /* Embedded NUL with an explicit length. */
  expect_parse_error ("[1,\0 2]", 7);
  expect_parse_error ("\"a\0b\"", 5);
  /* A valid prefix cut short by the length. */
  expect_parse_error ("[1, 2]", 5);

  /* Deep nesting: errors, never a stack overflow. */
  for (int pass = 0; pass < 3; pass++)
    {
      GString *deep = g_string_new (NULL);
      for (int i = 0; i < 10000; i++)
        g_string_append (deep, pass == 1 ? "{\"a\":" : "[");
      if (pass == 2)
        for (int i = 0; i < 10000; i++)
          g_string_append_c (deep, ']');
      expect_parse_error (deep->str, -1);
      g_string_free (deep, TRUE);
    }

  /* A NULL text is an error, not a crash. */
  GError *error = NULL;
  g_assert_null (tsr_json_parse (NULL, -1, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_FORMAT);
  g_clear_error (&error);
}

/* A quick mutation fuzz: never crash, and success ⇔ no error. */
static void
test_json_mutations (void)
{
  char *base = build_document ();
  gsize n = strlen (base);
  GRand *rand = g_rand_new_with_seed (12345);

  for (int iter = 0; iter < 20000; iter++)
    {
      char *buf = g_memdup2 (base, n);
      gsize len = n;
      int edits = g_rand_int_range (rand, 1, 5);
      for (int e = 0; e < edits; e++)
        {
          gsize pos = g_rand_int_range (rand, 0, (gint32) len);
          switch (g_rand_int_range (rand, 0, 4))
            {
            case 0: buf[pos] = (char) g_rand_int_range (rand, 0, 256); break;
            case 1: len = pos; break;                                       /* truncate */
            case 2: buf[pos] = "{}[]\",:\\u0e-"[g_rand_int_range (rand, 0, 13)]; break;
            default: buf[pos] = ' '; break;
            }
          if (len == 0)
            break;
        }
      GError *error = NULL;
      TsrJson *node = tsr_json_parse (buf, (gssize) len, &error);
      g_assert_true ((node == NULL) == (error != NULL));
      if (error != NULL)
        g_assert_error (error, TSR_ERROR, TSR_ERROR_FORMAT);
      tsr_json_free (node);
      g_clear_error (&error);
      g_free (buf);
    }
  g_rand_free (rand);
  g_free (base);
}

static void
test_json_parse_file (void)
{
  char *dir = tsr_test_tmpdir ("json-file");
  char *path = g_build_filename (dir, "doc.json", NULL);
  char *missing = g_build_filename (dir, "missing.json", NULL);
  GError *error = NULL;

  char *text = build_document ();
  g_assert_true (tsr_write_file_atomic (path, text, -1, &error));
  g_assert_no_error (error);
  g_autoptr (TsrJson) root = tsr_json_parse_file (path, &error);
  g_assert_no_error (error);
  check_document (root);

  g_assert_null (tsr_json_parse_file (missing, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  tsr_test_write_file (path, "{\"a\": [1, 2,", 12);
  g_assert_null (tsr_json_parse_file (path, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  g_free (text);
  tsr_test_rmtree (dir);
  g_free (missing);
  g_free (path);
  g_free (dir);
}

/* ------------------------------------------------------------------------------------- */
/* Atomic write                                                                           */
/* ------------------------------------------------------------------------------------- */

static guint
count_entries (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  g_dir_close (d);
  return n;
}

static void
test_atomic_write (void)
{
  char *dir = tsr_test_tmpdir ("atomic");
  char *path = g_build_filename (dir, "out.txt", NULL);
  GError *error = NULL;
  gsize len = 0;

  /* Create, then replace. */
  g_assert_true (tsr_write_file_atomic (path, "old contents\n", -1, &error));
  g_assert_no_error (error);
  static const char binary[] = { 'a', '\0', 'b', '\n', (char) 0xff };
  g_assert_true (tsr_write_file_atomic (path, binary, sizeof binary, &error));
  g_assert_no_error (error);
  char *got = tsr_test_read_file (path, &len);
  g_assert_cmpmem (got, len, binary, sizeof binary);
  g_free (got);
  g_assert_cmpuint (count_entries (dir), ==, 1);   /* no temporary file left over */

  /* Empty content. */
  char *empty = g_build_filename (dir, "empty.txt", NULL);
  g_assert_true (tsr_write_file_atomic (empty, "", 0, &error));
  g_assert_no_error (error);
  got = tsr_test_read_file (empty, &len);
  g_assert_cmpuint (len, ==, 0);
  g_free (got);
  g_unlink (empty);
  g_free (empty);

  /* A folder that does not exist. */
  char *nodir = g_build_filename (dir, "no-such-folder", "out.txt", NULL);
  g_assert_false (tsr_write_file_atomic (nodir, "x", 1, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, nodir));
  g_clear_error (&error);
  g_free (nodir);

  /* The target is a non-empty folder: refused before anything is written, the folder is
   * untouched. */
  char *sub = g_build_filename (dir, "sub", NULL);
  char *subfile = g_build_filename (sub, "keep.txt", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  tsr_test_write_file (subfile, "keep", 4);
  g_assert_false (tsr_write_file_atomic (sub, "x", 1, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, sub));
  g_clear_error (&error);
  g_assert_true (g_file_test (subfile, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (count_entries (dir), ==, 2);   /* out.txt, sub */
  g_assert_cmpuint (count_entries (sub), ==, 1);

  /* An unwritable folder leaves the existing file byte-identical (root ignores
   * permissions, so only as a normal user). */
  if (geteuid () != 0)
    {
      g_assert_cmpint (g_chmod (dir, 0555), ==, 0);
      g_assert_false (tsr_write_file_atomic (path, "new", 3, &error));
      g_assert_error (error, TSR_ERROR, TSR_ERROR_IO);
      g_assert_nonnull (strstr (error->message, path));
      g_clear_error (&error);
      g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
      got = tsr_test_read_file (path, &len);
      g_assert_cmpmem (got, len, binary, sizeof binary);
      g_free (got);
      g_assert_cmpuint (count_entries (dir), ==, 2);
    }
  else
    g_test_message ("running as root: unwritable-folder check skipped");

  tsr_test_rmtree (dir);
  g_free (subfile);
  g_free (sub);
  g_free (path);
  g_free (dir);
}

/* ------------------------------------------------------------------------------------- */
/* Render                                                                                 */
/* ------------------------------------------------------------------------------------- */

static double
gauss (GRand *rand)
{
  double u1 = g_rand_double_range (rand, 1e-12, 1.0);
  double u2 = g_rand_double (rand);
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

/* Sky 1000 ± 10 ADU with some bright stars; a masked band on the left. */
static TsrImage *
make_sky (int w, int h, int channels, guint32 seed)
{
  TsrImage *img = tsr_image_new (w, h, channels);
  GRand *rand = g_rand_new_with_seed (seed);

  for (int c = 0; c < channels; c++)
    {
      float *p = tsr_image_plane (img, c);
      for (gsize i = 0; i < tsr_image_npix (img); i++)
        p[i] = (float) (1000.0 + 100.0 * c + 10.0 * gauss (rand));
      for (int s = 0; s < 15; s++)
        {
          int x = g_rand_int_range (rand, 3, w - 3), y = g_rand_int_range (rand, 3, h - 3);
          for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
              p[(y + dy) * w + x + dx] += (float) (30000.0 * exp (-(dx * dx + dy * dy) / 2.0));
        }
    }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < 4; x++)
      {
        img->mask[y * w + x] = 0;
        for (int c = 0; c < channels; c++)
          tsr_image_plane (img, c)[y * w + x] = 0.0f;
      }
  g_rand_free (rand);
  return img;
}

static int
cmp_u8 (gconstpointer a, gconstpointer b)
{
  return (int) *(const guint8 *) a - (int) *(const guint8 *) b;
}

/* Median grey level (0..1) of the surface's valid pixels (x ≥ x_from), channel shift. */
static double
surface_median (cairo_surface_t *s, int x_from, int shift)
{
  int w = cairo_image_surface_get_width (s), h = cairo_image_surface_get_height (s);
  int stride = cairo_image_surface_get_stride (s);
  const unsigned char *data = cairo_image_surface_get_data (s);
  GArray *v = g_array_new (FALSE, FALSE, 1);

  cairo_surface_flush (s);
  for (int y = 0; y < h; y++)
    for (int x = x_from; x < w; x++)
      {
        guint32 px = ((const guint32 *) (data + y * stride))[x];
        guint8 g = (px >> shift) & 0xff;
        g_array_append_val (v, g);
      }
  g_array_sort (v, cmp_u8);
  double med = g_array_index (v, guint8, v->len / 2) / 255.0;
  g_array_unref (v);
  return med;
}

static guint32
surface_pixel (cairo_surface_t *s, int x, int y)
{
  cairo_surface_flush (s);
  const unsigned char *data = cairo_image_surface_get_data (s);
  return ((const guint32 *) (data + y * cairo_image_surface_get_stride (s)))[x];
}

static void
test_mtf (void)
{
  for (float x = 0.0f; x <= 1.0f; x += 0.125f)
    g_assert_cmpfloat_with_epsilon (tsr_mtf (0.5f, x), x, 1e-6);
  for (float m = 0.01f; m < 1.0f; m += 0.07f)
    {
      g_assert_cmpfloat (tsr_mtf (m, 0.0f), ==, 0.0f);
      g_assert_cmpfloat (tsr_mtf (m, 1.0f), ==, 1.0f);
      g_assert_cmpfloat_with_epsilon (tsr_mtf (m, m), 0.5f, 1e-6);
      g_assert_cmpfloat (tsr_mtf (m, -3.0f), ==, 0.0f);
      g_assert_cmpfloat (tsr_mtf (m, 7.0f), ==, 1.0f);
      /* Monotonic. */
      float prev = 0.0f;
      for (float x = 0.01f; x < 1.0f; x += 0.01f)
        {
          float y = tsr_mtf (m, x);
          g_assert_cmpfloat (y, >=, prev);
          prev = y;
        }
    }
}

static void
test_stretch_mono (void)
{
  g_autoptr (TsrImage) img = make_sky (240, 160, 1, 7);
  TsrStretch st;

  tsr_stretch_auto (img, &st);
  g_assert_cmpfloat (st.midtone, >, 0.0f);
  g_assert_cmpfloat (st.midtone, <, 0.5f);
  g_assert_cmpfloat (st.black[0], >, 900.0f);    /* ≈ 1000 − 2.8·10 */
  g_assert_cmpfloat (st.black[0], <, 1000.0f);
  g_assert_cmpfloat (st.black[1], ==, st.black[0]);
  g_assert_cmpfloat (st.white[0], >, 20000.0f);

  cairo_surface_t *s = tsr_render_surface (img, &st, 1);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_format (s), ==, CAIRO_FORMAT_ARGB32);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 240);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 160);
  double med = surface_median (s, 4, 8);
  g_assert_cmpfloat_with_epsilon (med, 0.25, 0.02);
  /* Grey: R = G = B, opaque. */
  guint32 px = surface_pixel (s, 100, 80);
  g_assert_cmphex (px >> 24, ==, 0xff);
  g_assert_cmphex ((px >> 16) & 0xff, ==, (px >> 8) & 0xff);
  g_assert_cmphex (px & 0xff, ==, (px >> 8) & 0xff);
  /* Masked pixels are opaque black. */
  g_assert_cmphex (surface_pixel (s, 0, 0), ==, 0xff000000);
  g_assert_cmphex (surface_pixel (s, 3, 159), ==, 0xff000000);
  cairo_surface_destroy (s);

  /* Downsampled: rounded-up size, median still ≈ 0.25 (noise averages down, so the
   * level moves a little; the background stays near the target). */
  s = tsr_render_surface (img, &st, 3);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 80);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 54);
  med = surface_median (s, 2, 8);
  g_assert_cmpfloat_with_epsilon (med, 0.25, 0.05);
  cairo_surface_destroy (s);
}

static void
test_stretch_edge_cases (void)
{
  TsrStretch st;

  /* Constant image: finite stretch, no crash. */
  g_autoptr (TsrImage) flat = tsr_image_new (16, 8, 1);
  for (gsize i = 0; i < tsr_image_npix (flat); i++)
    flat->data[i] = 5.0f;
  tsr_stretch_auto (flat, &st);
  g_assert_true (isfinite (st.black[0]) && isfinite (st.white[0]) && isfinite (st.midtone));
  g_assert_cmpfloat (st.white[0], >, st.black[0]);
  cairo_surface_t *s = tsr_render_surface (flat, &st, 1);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);

  /* Nothing valid: all black. */
  g_autoptr (TsrImage) none = tsr_image_new (5, 3, 1);
  memset (none->mask, 0, tsr_image_npix (none));
  tsr_stretch_auto (none, &st);
  g_assert_true (isfinite (st.black[0]) && isfinite (st.white[0]) && isfinite (st.midtone));
  s = tsr_render_surface (none, &st, 2);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 3);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 2);
  g_assert_cmphex (surface_pixel (s, 2, 1), ==, 0xff000000);
  cairo_surface_destroy (s);

  /* 1×1 image. */
  g_autoptr (TsrImage) one = tsr_image_new (1, 1, 3);
  tsr_stretch_auto (one, &st);
  s = tsr_render_surface (one, &st, 4);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 1);
  cairo_surface_destroy (s);
}

static void
test_stretch_color_linked (void)
{
  g_autoptr (TsrImage) img = make_sky (120, 90, 3, 11);
  TsrStretch st;

  tsr_stretch_auto (img, &st);
  /* Black points per channel follow the channel backgrounds (1000, 1100, 1200). */
  g_assert_cmpfloat (st.black[1] - st.black[0], >, 80.0f);
  g_assert_cmpfloat (st.black[2] - st.black[1], >, 80.0f);

  cairo_surface_t *s = tsr_render_surface (img, &st, 1);
  for (int shift = 0; shift <= 16; shift += 8)
    g_assert_cmpfloat_with_epsilon (surface_median (s, 4, shift), 0.25, 0.04);
  cairo_surface_destroy (s);
}

/* The linked automatic stretch keeps the channels' relative scale: one star, blue at half
 * the red and green flux, shows blue-deficient; the same image with blue scaled ×2 (what a
 * colour calibration's white balance does) shows it white. The sky stays neutral in both,
 * although blue's noise doubles. A stretch with a range per channel (the earlier one) shows
 * both the same: it fails the first assertion. Unlinked keeps each channel's own range. */
static void
test_stretch_linked_scale (void)
{
  const int w = 96, h = 80, sx = 50, sy = 40;
  g_autoptr (TsrImage) a = tsr_image_new (w, h, 3);
  GRand *rand = g_rand_new_with_seed (5);
  const double amp[3] = { 8000.0, 8000.0, 4000.0 }, sky[3] = { 500.0, 520.0, 480.0 };
  for (int c = 0; c < 3; c++)
    {
      float *p = tsr_image_plane (a, c);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            double r2 = (x - sx) * (x - sx) + (y - sy) * (y - sy);
            p[y * w + x] = (float) (sky[c] + 6.0 * gauss (rand) + amp[c] * exp (-r2 / 8.0));
          }
    }
  g_rand_free (rand);
  g_autoptr (TsrImage) b = tsr_image_copy (a);
  float *bb = tsr_image_plane (b, 2);
  for (gsize i = 0; i < tsr_image_npix (b); i++)
    bb[i] *= 2.0f;

  TsrStretch sa, sb;
  tsr_stretch_auto (a, &sa);
  tsr_stretch_auto (b, &sb);
  cairo_surface_t *ra = tsr_render_surface (a, &sa, 1), *rb = tsr_render_surface (b, &sb, 1);
  /* the star's wing 5.5–6.5 px from the centre, where no channel is near white: the
   * ring's mean (blue's noise doubles in b) */
  double ga = 0, ba = 0, gb = 0, bbv = 0;
  int nr = 0;
  for (int y = sy - 7; y <= sy + 7; y++)
    for (int x = sx - 7; x <= sx + 7; x++)
      {
        double r = hypot (x - sx, y - sy);
        if (r < 5.5 || r > 6.5)
          continue;
        guint32 pa = surface_pixel (ra, x, y), pb = surface_pixel (rb, x, y);
        ga += (pa >> 8) & 0xff;
        ba += pa & 0xff;
        gb += (pb >> 8) & 0xff;
        bbv += pb & 0xff;
        nr++;
      }
  ga /= nr;
  ba /= nr;
  gb /= nr;
  bbv /= nr;
  g_test_message ("star wing G/B: before %.1f/%.1f, blue ×2 %.1f/%.1f", ga, ba, gb, bbv);
  g_assert_cmpfloat (ga - ba, >, 20);       /* the blue-deficient star shows yellow */
  g_assert_cmpfloat (fabs (gb - bbv), <, 8); /* after the white balance: neutral */
  /* the sky: every channel's median at the same grey, before and after */
  for (int k = 0; k < 2; k++)
    {
      cairo_surface_t *r = k ? rb : ra;
      double mr = surface_median (r, 0, 16), mg = surface_median (r, 0, 8), mb = surface_median (r, 0, 0);
      g_test_message ("sky medians R G B %.3f %.3f %.3f", mr, mg, mb);
      g_assert_cmpfloat (fabs (mr - mg), <, 0.02);
      g_assert_cmpfloat (fabs (mb - mg), <, 0.02);
      g_assert_cmpfloat_with_epsilon (mg, 0.25, 0.04);
    }
  cairo_surface_destroy (ra);
  cairo_surface_destroy (rb);

  /* unlinked: each channel black to its own maximum */
  float mids[3];
  tsr_stretch_auto_unlinked (a, &sa, mids);
  float bmax = -INFINITY;
  for (gsize i = 0; i < tsr_image_npix (a); i++)
    bmax = MAX (bmax, tsr_image_plane (a, 2)[i]);
  g_assert_cmpfloat (sa.white[2], ==, bmax);
}

static void
test_stretch_cfa (void)
{
  const int w = 64, h = 48;
  g_autoptr (TsrImage) img = tsr_image_new (w, h, 1);
  GRand *rand = g_rand_new_with_seed (3);

  img->cfa = TSR_CFA_RGGB;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        int col = tsr_cfa_color (img->cfa, x, y);
        img->data[y * w + x] = (float) (col == TSR_RED ? 400 : col == TSR_GREEN ? 900 : 300)
                               + (float) (8.0 * gauss (rand));
      }
  img->data[20 * w + 30] = 60000.0f;
  g_rand_free (rand);

  TsrStretch st;
  tsr_stretch_auto (img, &st);
  /* The luminance background is (400 + 900 + 900 + 300) / 4 = 625. */
  g_assert_cmpfloat (st.black[0], >, 560.0f);
  g_assert_cmpfloat (st.black[0], <, 625.0f);

  cairo_surface_t *s = tsr_render_surface (img, &st, 1);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, w);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, h);
  /* Each 2×2 cell shows one replicated grey value: no Bayer checkerboard. */
  for (int y = 0; y < h; y += 2)
    for (int x = 0; x < w; x += 2)
      {
        guint32 p = surface_pixel (s, x, y);
        g_assert_cmphex (surface_pixel (s, x + 1, y), ==, p);
        g_assert_cmphex (surface_pixel (s, x, y + 1), ==, p);
        g_assert_cmphex (surface_pixel (s, x + 1, y + 1), ==, p);
      }
  g_assert_cmpfloat_with_epsilon (surface_median (s, 0, 8), 0.25, 0.02);
  cairo_surface_destroy (s);

  s = tsr_render_surface (img, &st, 2);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, w / 2);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, h / 2);
  cairo_surface_destroy (s);
}

static void
check_png (const char *path, int want_w, int want_h)
{
  cairo_surface_t *s = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, want_w);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, want_h);
  cairo_surface_destroy (s);
}

static void
test_png_preview (void)
{
  char *dir = tsr_test_tmpdir ("png");
  char *path = g_build_filename (dir, "preview.png", NULL);
  GError *error = NULL;
  g_autoptr (TsrImage) img = make_sky (300, 200, 1, 5);

  g_assert_true (tsr_write_png_preview (img, path, 100, &error));
  g_assert_no_error (error);
  check_png (path, 100, 67);

  g_assert_true (tsr_write_png_preview (img, path, 0, &error));
  g_assert_no_error (error);
  check_png (path, 300, 200);

  g_assert_true (tsr_write_png_preview (img, path, 1000, &error));
  g_assert_no_error (error);
  check_png (path, 300, 200);

  g_assert_true (tsr_write_png_preview (img, path, 150, &error));   /* exact factor 2 */
  g_assert_no_error (error);
  check_png (path, 150, 100);

  /* Portrait, colour, scaled; and its median still near the target. */
  g_autoptr (TsrImage) tall = make_sky (90, 250, 3, 9);
  g_assert_true (tsr_write_png_preview (tall, path, 64, &error));
  g_assert_no_error (error);
  check_png (path, 23, 64);

  g_assert_cmpuint (count_entries (dir), ==, 1);

  /* Unwritable destination. */
  char *bad = g_build_filename (dir, "missing", "p.png", NULL);
  g_assert_false (tsr_write_png_preview (img, bad, 50, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_IO);
  g_clear_error (&error);
  g_free (bad);

  tsr_test_rmtree (dir);
  g_free (path);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/json/roundtrip", test_json_roundtrip);
  g_test_add_func ("/json/reader-details", test_json_reader_details);
  g_test_add_func ("/json/malformed", test_json_malformed);
  g_test_add_func ("/json/mutations", test_json_mutations);
  g_test_add_func ("/json/parse-file", test_json_parse_file);
  g_test_add_func ("/json/atomic-write", test_atomic_write);
  g_test_add_func ("/render/mtf", test_mtf);
  g_test_add_func ("/render/stretch-mono", test_stretch_mono);
  g_test_add_func ("/render/stretch-edge-cases", test_stretch_edge_cases);
  g_test_add_func ("/render/stretch-color-linked", test_stretch_color_linked);
  g_test_add_func ("/render/stretch-cfa", test_stretch_cfa);
  g_test_add_func ("/render/stretch-linked-scale", test_stretch_linked_scale);
  g_test_add_func ("/render/png-preview", test_png_preview);

  return g_test_run ();
}
