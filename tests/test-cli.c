/* test-cli.c — tessera-cli as a user runs it. */
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "tsr-test-util.h"

#include <cairo.h>
#include <fitsio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmp;

/* n frames numbered first … first + n − 1 (values and DATE-OBS differ by number) */
static void
write_frames_from (const char *dir, int first, int n, int w, int h)
{
  g_mkdir_with_parents (dir, 0755);
  for (int f = first; f < first + n; f++)
    {
      float *v = g_new (float, w * h);
      for (int i = 0; i < w * h; i++)
        v[i] = 1000 + 10 * f + (i % 7);
      g_autofree char *name = g_strdup_printf ("frame %02d.fits", f);
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_autofree char *date = g_strdup_printf ("DATE-OBS= '2025-04-09T22:%02d:00'", f);
      const char *cards[] = { date, "EXPTIME =                 10.0", NULL };
      tsr_test_write_fits (p, USHORT_IMG, w, h, 1, v, cards);
      g_free (v);
    }
}

static void
write_frames (const char *dir, int n, int w, int h)
{
  write_frames_from (dir, 0, n, w, h);
}

static int
count_lines (const char *s)
{
  int n = 0;
  for (; s && *s; s++)
    n += *s == '\n';
  return n;
}

static void
test_help (void)
{
  const char *cmds[] = { "info", "stack", "synth", "demo", NULL };
  for (int i = 0; cmds[i]; i++)
    {
      const char *args[] = { cmds[i], "--help", NULL };
      g_autofree char *out = NULL;
      g_assert_cmpint (tsr_test_run_cli (args, &out, NULL), ==, 0);
      g_assert_nonnull (strstr (out, "Usage"));
    }
  const char *bad[] = { "frobnicate", NULL };
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (bad, NULL, &err), !=, 0);
  g_assert_nonnull (strstr (err, "frobnicate"));
  const char *badopt[] = { "stack", "--no-such-option", NULL };
  g_autofree char *err2 = NULL;
  g_assert_cmpint (tsr_test_run_cli (badopt, NULL, &err2), !=, 0);
  g_assert_cmpint (count_lines (err2), ==, 1);
}

static void
test_info_and_stack (void)
{
  g_autofree char *dir = g_build_filename (tmp, "session", NULL);
  write_frames (dir, 5, 24, 16);
  const char *info[] = { "info", dir, NULL };
  g_autofree char *out = NULL;
  g_assert_cmpint (tsr_test_run_cli (info, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "frame 00.fits"));
  g_assert_nonnull (strstr (out, "frame 04.fits"));
  g_assert_nonnull (strstr (out, "24x16"));
  g_assert_nonnull (strstr (out, "5 frames"));
  g_assert_true (strstr (out, "frame 00.fits") < strstr (out, "frame 04.fits"));

  g_autofree char *res = g_build_filename (tmp, "mean.fits", NULL);
  const char *stack[] = { "stack", dir, "-o", res, "--method", "mean", NULL };
  g_assert_cmpint (tsr_test_run_cli (stack, NULL, NULL), ==, 0);
  GError *e = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (res, &e);
  g_assert_no_error (e);
  g_assert_cmpfloat_with_epsilon (img->data[3], 1000 + 20 + 3, 1e-3);
  gint64 ncomb = 0;
  g_assert_true (tsr_header_get_int (img->header, "NCOMBINE", &ncomb));
  g_assert_cmpint (ncomb, ==, 5);

  for (int m = 0; m < 3; m++)
    {
      const char *methods[] = { "median", "sigma", "winsor" };
      const char *a[] = { "stack", dir, "-o", res, "-m", methods[m], NULL };
      g_assert_cmpint (tsr_test_run_cli (a, NULL, NULL), ==, 0);
    }
  /* one frame: "stacked 1 frame", not "1 frames" */
  g_autofree char *f0 = g_build_filename (dir, "frame 00.fits", NULL);
  const char *one[] = { "stack", f0, "-o", res, NULL };
  g_autofree char *one_out = NULL;
  g_assert_cmpint (tsr_test_run_cli (one, &one_out, NULL), ==, 0);
  g_assert_nonnull (strstr (one_out, "stacked 1 frame (mean)"));
  const char *badm[] = { "stack", dir, "-o", res, "-m", "average", NULL };
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (badm, NULL, &err), !=, 0);
  g_assert_nonnull (strstr (err, "average"));
}

/* A failing run names the problem in one line and leaves an existing output intact. */
static void
expect_failure (const char *const *args, const char *existing, const char *fragment)
{
  g_autofree char *before = NULL;
  gsize before_len = 0;
  if (existing)
    before = tsr_test_read_file (existing, &before_len);
  g_autofree char *err = NULL;
  int rc = tsr_test_run_cli (args, NULL, &err);
  g_assert_cmpint (rc, !=, 0);
  g_assert_cmpint (rc, <, 128); /* no crash */
  g_assert_cmpint (count_lines (err), ==, 1);
  if (fragment && !strstr (err, fragment))
    g_error ("stderr '%s' lacks '%s'", err, fragment);
  if (existing)
    {
      gsize after_len = 0;
      g_autofree char *after = tsr_test_read_file (existing, &after_len);
      g_assert_cmpuint (after_len, ==, before_len);
      g_assert_cmpmem (after, after_len, before, before_len);
    }
}

/* As expect_failure, and the output the run was asked for does not exist afterwards. */
static void
expect_failure_nothing_written (const char *const *args, const char *existing, const char *fragment,
                                const char *not_written)
{
  expect_failure (args, existing, fragment);
  g_assert_false (g_file_test (not_written, G_FILE_TEST_EXISTS));
}

/* `info` on args succeeds, counts frames ("5 frames") and says (note) or does not say that
 * the folder was opened with its subfolders. */
static void
check_info (const char *const *args, const char *frames, gboolean note)
{
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (args, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, frames));
  if (note)
    g_assert_nonnull (strstr (err, "holds no frames itself"));
  else
    g_assert_null (strstr (err, "holds no frames"));
}

/* A folder whose frames are all in subfolders (one per night) opens with them, as the
 * window does, and says so; an error in a subfolder's frames is the one reported; a folder
 * with nothing anywhere still fails with "no frames found". */
static void
test_subfolders (void)
{
  g_autofree char *top = g_build_filename (tmp, "nights", NULL);
  g_autofree char *a = g_build_filename (top, "2024-07-31", NULL);
  g_autofree char *b = g_build_filename (top, "2025-06-30", NULL);
  write_frames_from (a, 0, 3, 24, 16);
  write_frames_from (b, 3, 2, 24, 16);
  const char *info[] = { "info", top, NULL };
  check_info (info, "5 frames", TRUE);
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (info, NULL, &err), ==, 0);
  g_assert_nonnull (strstr (err, "5 frames of its subfolders"));
  /* with --recursive nothing needs saying */
  const char *rec[] = { "info", "-r", top, NULL };
  check_info (rec, "5 frames", FALSE);
  /* frames of the folder itself: the subfolders stay out */
  g_autofree char *own = g_build_filename (tmp, "own", NULL);
  g_autofree char *own_sub = g_build_filename (own, "sub", NULL);
  write_frames_from (own, 0, 2, 24, 16);
  write_frames_from (own_sub, 2, 3, 24, 16);
  const char *info_own[] = { "info", own, NULL };
  check_info (info_own, "2 frames", FALSE);
  /* a broken frame in a subfolder: its own error, not "no frames found" */
  g_autofree char *bad = g_build_filename (tmp, "badnights", NULL);
  g_autofree char *bad_sub = g_build_filename (bad, "n1", NULL);
  write_frames (bad_sub, 2, 24, 16);
  g_autofree char *junk = g_build_filename (bad_sub, "junk.fits", NULL);
  g_assert_true (g_file_set_contents (junk, "this is not a FITS file", -1, NULL));
  const char *info_bad[] = { "info", bad, NULL };
  expect_failure (info_bad, NULL, "junk.fits");
  /* nothing anywhere */
  g_autofree char *empty = g_build_filename (tmp, "empty", "deeper", NULL);
  g_mkdir_with_parents (empty, 0755);
  g_autofree char *empty_top = g_path_get_dirname (empty);
  const char *info_empty[] = { "info", empty_top, NULL };
  expect_failure (info_empty, NULL, "no frames found");
}


static void
no_part_files (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *n;
  while ((n = g_dir_read_name (d)))
    if (g_str_has_suffix (n, ".part"))
      g_error ("left a temporary file %s in %s", n, dir);
  g_dir_close (d);
}

static void
test_bad_input (void)
{
  g_autofree char *dir = g_build_filename (tmp, "bad", NULL);
  write_frames (dir, 4, 24, 16);
  g_autofree char *existing = g_build_filename (tmp, "existing.fits", NULL);
  tsr_test_write_file (existing, "precious result", 15);

  /* missing session */
  g_autofree char *missing = g_build_filename (tmp, "nowhere", NULL);
  const char *a1[] = { "stack", missing, "-o", existing, NULL };
  expect_failure (a1, existing, "nowhere");
  const char *a1b[] = { "info", missing, NULL };
  expect_failure (a1b, NULL, "nowhere");

  /* empty folder */
  g_autofree char *empty = g_build_filename (tmp, "empty", NULL);
  g_mkdir (empty, 0755);
  const char *a2[] = { "stack", empty, "-o", existing, NULL };
  expect_failure (a2, existing, "no frames found");

  /* truncated frame mid-data */
  g_autofree char *f2 = g_build_filename (dir, "frame 02.fits", NULL);
  gsize len = 0;
  g_autofree char *bytes = tsr_test_read_file (f2, &len);
  g_autofree char *trunc_dir = g_build_filename (tmp, "trunc", NULL);
  write_frames (trunc_dir, 3, 24, 16);
  g_autofree char *tf = g_build_filename (trunc_dir, "frame 01.fits", NULL);
  tsr_test_write_file (tf, bytes, 2880 + 300);
  const char *a3[] = { "stack", trunc_dir, "-o", existing, "-m", "median", NULL };
  expect_failure (a3, existing, "frame 01.fits");
  const char *a3b[] = { "stack", trunc_dir, "-o", existing, NULL };
  expect_failure (a3b, existing, "frame 01.fits");

  /* non-FITS file with a .fits name */
  g_autofree char *nf_dir = g_build_filename (tmp, "nonfits", NULL);
  write_frames (nf_dir, 2, 24, 16);
  g_autofree char *nf = g_build_filename (nf_dir, "readme.fits", NULL);
  tsr_test_write_file (nf, "hello", 5);
  const char *a4[] = { "stack", nf_dir, "-o", existing, NULL };
  expect_failure (a4, existing, "readme.fits");

  /* mixed sizes */
  g_autofree char *mixed = g_build_filename (tmp, "mixed", NULL);
  write_frames (mixed, 3, 24, 16);
  float v[20 * 16] = { 0 };
  g_autofree char *odd = g_build_filename (mixed, "odd one.fits", NULL);
  tsr_test_write_fits (odd, USHORT_IMG, 20, 16, 1, v, NULL);
  const char *a5[] = { "stack", mixed, "-o", existing, NULL };
  expect_failure (a5, existing, "odd one.fits");

  /* output folder missing, output equal to an input, output is a folder */
  g_autofree char *nofolder = g_build_filename (tmp, "no-folder", "out.fits", NULL);
  const char *a6[] = { "stack", dir, "-o", nofolder, NULL };
  expect_failure_nothing_written (a6, NULL, "no-folder", nofolder);
  g_autofree char *f0 = g_build_filename (dir, "frame 00.fits", NULL);
  const char *a7[] = { "stack", dir, "-o", f0, NULL };
  expect_failure (a7, f0, "overwrite");
  const char *a8[] = { "stack", dir, "-o", tmp, NULL };
  expect_failure (a8, NULL, "folder");

  /* no output given */
  const char *a9[] = { "stack", dir, NULL };
  expect_failure (a9, NULL, "-o");

  no_part_files (tmp);
}

static void
test_synth (void)
{
  g_autofree char *dir = g_build_filename (tmp, "synth", NULL);
  const char *a[] = { "synth", dir, "--frames", "4", "--width", "96", "--height", "64", "--bayer", "RGGB",
                      "--seed", "7", NULL };
  g_assert_cmpint (tsr_test_run_cli (a, NULL, NULL), ==, 0);
  g_autofree char *truth = g_build_filename (dir, "truth.json", NULL);
  g_assert_true (g_file_test (truth, G_FILE_TEST_EXISTS));
  const char *paths[] = { dir, NULL };
  GError *e = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 4);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_RGGB);
  g_assert_cmpint (s->width, ==, 96);
  const char *bad[] = { "synth", dir, "--bayer", "XYZW", NULL };
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (bad, NULL, &err), !=, 0);
  g_assert_nonnull (strstr (err, "XYZW"));
}

/* Grey levels of a preview PNG: its size and the spread of its green bytes (a preview that
 * is one flat colour — a stretch gone wrong — has none). */
static void
png_check (const char *path, int w, int h)
{
  cairo_surface_t *sf = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (sf), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (sf), ==, w);
  g_assert_cmpint (cairo_image_surface_get_height (sf), ==, h);
  const guint8 *d = cairo_image_surface_get_data (sf);
  int stride = cairo_image_surface_get_stride (sf), lo = 255, hi = 0;
  double sum = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        int g = (((const guint32 *) (d + (gsize) y * stride))[x] >> 8) & 0xff;
        lo = MIN (lo, g);
        hi = MAX (hi, g);
        sum += g;
      }
  /* the automatic stretch puts the sky at a dark grey and the stars near white */
  g_assert_cmpint (hi - lo, >, 100);
  g_assert_cmpfloat (sum / ((double) w * h), >, 15);
  g_assert_cmpfloat (sum / ((double) w * h), <, 160);
  cairo_surface_destroy (sf);
}

/* --preview on the one-image commands: a stretched PNG of what was written; a preview that
 * is the input, the output or in a missing folder is refused before any work and the input
 * is left as it was. */
static void
test_preview (void)
{
  g_autofree char *dir = g_build_filename (tmp, "preview", NULL);
  g_autofree char *ses = g_build_filename (dir, "session", NULL);
  const char *syn[] = { "synth", ses, "--frames", "6", "--width", "384", "--height", "320", "--bayer", "RGGB",
                        "--seed", "3", NULL };
  g_assert_cmpint (tsr_test_run_cli (syn, NULL, NULL), ==, 0);
#define P(name, ext) g_autofree char *name = g_build_filename (dir, #name ext, NULL)
  P (mean, ".fits");
  P (mean_png, ".png");
  P (res, ".fits");
  P (bg, ".fits");
  P (bg_png, ".png");
  P (col, ".fits");
  P (col_png, ".png");
  P (dn, ".fits");
  P (dn_png, ".png");
  P (wl, ".fits");
  P (wl_png, ".png");
#undef P
  const char *stack[] = { "stack", ses, "-o", mean, "--preview", mean_png, NULL };
  g_assert_cmpint (tsr_test_run_cli (stack, NULL, NULL), ==, 0);
  png_check (mean_png, 384, 320);
  const char *proc[] = { "process", ses, "-o", res, NULL };
  g_assert_cmpint (tsr_test_run_cli (proc, NULL, NULL), ==, 0);
  const char *bg_a[] = { "background", res, "-o", bg, "--preview", bg_png, NULL };
  g_assert_cmpint (tsr_test_run_cli (bg_a, NULL, NULL), ==, 0);
  png_check (bg_png, 384, 320);
  const char *col_a[] = { "colour", bg, "-o", col, "--preview", col_png, NULL };
  g_assert_cmpint (tsr_test_run_cli (col_a, NULL, NULL), ==, 0);
  png_check (col_png, 384, 320);
  const char *dn_a[] = { "denoise", col, "-o", dn, "--preview", dn_png, NULL };
  g_assert_cmpint (tsr_test_run_cli (dn_a, NULL, NULL), ==, 0);
  png_check (dn_png, 384, 320);
  const char *wl_a[] = { "wavelets", dn, "-o", wl, "--gains", "1.5,1.2", "--preview", wl_png, NULL };
  g_assert_cmpint (tsr_test_run_cli (wl_a, NULL, NULL), ==, 0);
  png_check (wl_png, 384, 320);

  /* refused before any work; the input (and an existing output) stay as they were */
  g_autofree char *fresh = g_build_filename (dir, "fresh.fits", NULL);
  const char *onto_in[] = { "colour", bg, "-o", fresh, "--preview", bg, NULL };
  expect_failure_nothing_written (onto_in, bg, "overwrite the input", fresh);
  const char *onto_out[] = { "denoise", col, "-o", dn, "--preview", dn, NULL };
  expect_failure (onto_out, dn, "name the same file");
  g_autofree char *nowhere = g_build_filename (dir, "no-such-folder", "p.png", NULL);
  const char *missing[] = { "background", res, "-o", fresh, "--preview", nowhere, NULL };
  expect_failure_nothing_written (missing, NULL, "does not exist", fresh);
  const char *st_missing[] = { "stack", ses, "-o", fresh, "--preview", nowhere, NULL };
  expect_failure_nothing_written (st_missing, NULL, "does not exist", fresh);
  /* the preview is a PNG: under another image name it is refused, not written as a PNG in disguise */
  g_autofree char *as_tif = g_build_filename (dir, "preview.tif", NULL);
  const char *tif_preview[] = { "stack", ses, "-o", fresh, "--preview", as_tif, NULL };
  expect_failure_nothing_written (tif_preview, NULL, "name it .png", as_tif);
  g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));
  g_autofree char *as_jpg = g_build_filename (dir, "preview.JPG", NULL);
  const char *jpg_preview[] = { "colour", bg, "-o", fresh, "--preview", as_jpg, NULL };
  expect_failure_nothing_written (jpg_preview, NULL, "--preview", as_jpg);
}

/* A failed validation says which check failed, its value, the limit and the parameter that
 * sets it; a passed one lists none. */
static void
test_validation_explained (void)
{
  g_autofree char *dir = g_build_filename (tmp, "validation", NULL);
  g_autofree char *ses = g_build_filename (dir, "session", NULL);
  g_autofree char *res = g_build_filename (dir, "res.fits", NULL);
  const char *syn[] = { "synth", ses, "--frames", "6", "--width", "384", "--height", "320", "--seed", "5", NULL };
  g_assert_cmpint (tsr_test_run_cli (syn, NULL, NULL), ==, 0);
  /* a noise limit no result meets, and a lenient rest: exactly one check fails */
  const char *strict[] = { "process", ses, "-o", res, "--set", "validate.noise_max=0.2", "--set",
                           "validate.flux_tol=0.5", "--set", "validate.fwhm_gain=-1", "--set",
                           "validate.seam_max=100", NULL };
  g_autofree char *out = NULL;
  g_assert_cmpint (tsr_test_run_cli (strict, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, ": FAIL"));
  const char *f = strstr (out, "  failed: ");
  g_assert_nonnull (f);
  g_assert_nonnull (strstr (f, "needs ≤ 0.2×"));
  g_assert_nonnull (strstr (f, "(validate.noise_max)"));
  g_assert_null (strstr (f + 1, "  failed: "));   /* only that one */
  const char *lenient[] = { "process", ses, "-o", res, "--set", "validate.noise_max=100", "--set",
                            "validate.flux_tol=0.5", "--set", "validate.fwhm_gain=-1", "--set",
                            "validate.seam_max=100", NULL };
  g_autofree char *out2 = NULL;
  g_assert_cmpint (tsr_test_run_cli (lenient, &out2, NULL), ==, 0);
  g_assert_nonnull (strstr (out2, ": PASS"));
  g_assert_null (strstr (out2, "failed:"));
}

/* Image outputs by name: .tif writes a 32-bit float TIFF and .xisf an XISF holding the same
 * values as the FITS (read back bit for bit), which the one-image commands take as input
 * again; a name that asks for another image type is refused before any work, naming the
 * option. */
static void
test_image_outputs (void)
{
  g_autofree char *dir = g_build_filename (tmp, "tiffout", NULL);
  g_autofree char *ses = g_build_filename (dir, "session", NULL);
  const char *syn[] = { "synth", ses, "--frames", "5", "--width", "256", "--height", "192", "--bayer", "GRBG",
                        "--seed", "9", NULL };
  g_assert_cmpint (tsr_test_run_cli (syn, NULL, NULL), ==, 0);
  g_autofree char *rf = g_build_filename (dir, "r.fits", NULL), *rt = g_build_filename (dir, "r.TIF", NULL);
  g_autofree char *mt = g_build_filename (dir, "m.tiff", NULL);
  const char *pf[] = { "process", ses, "-o", rf, "--set", "run.threads=1", NULL };
  const char *pt[] = { "process", ses, "-o", rt, "--mean-stack", mt, "--set", "run.threads=1", NULL };
  g_assert_cmpint (tsr_test_run_cli (pf, NULL, NULL), ==, 0);
  g_assert_cmpint (tsr_test_run_cli (pt, NULL, NULL), ==, 0);
  GError *e = NULL;
  g_autoptr (TsrImage) a = tsr_fits_read (rf, &e);
  g_assert_no_error (e);
  g_autoptr (TsrImage) b = tsr_image_tiff_read (rt, &e);
  g_assert_no_error (e);
  g_assert_cmpint (b->width, ==, a->width);
  g_assert_cmpint (b->height, ==, a->height);
  g_assert_cmpint (b->channels, ==, 3);
  gsize n = tsr_image_npix (a), same = 0, valid = 0;
  for (gsize i = 0; i < n; i++)
    if (a->mask[i])
      {
        valid++;
        gboolean eq = TRUE;
        for (int c = 0; c < 3; c++)
          eq &= memcmp (tsr_image_plane (a, c) + i, tsr_image_plane (b, c) + i, sizeof (float)) == 0;
        same += eq;
      }
  g_assert_cmpuint (valid, >, n / 2);
  g_assert_cmpuint (same, ==, valid);
  g_autoptr (TsrImage) m = tsr_image_tiff_read (mt, &e);
  g_assert_no_error (e);
  g_assert_cmpint (m->width, ==, a->width);
  g_autofree char *rx = g_build_filename (dir, "r.xisf", NULL);
  const char *px[] = { "process", ses, "-o", rx, "--set", "run.threads=1", NULL };
  g_assert_cmpint (tsr_test_run_cli (px, NULL, NULL), ==, 0);
  g_autoptr (TsrImage) xi = tsr_xisf_read (rx, &e);
  g_assert_no_error (e);
  g_assert_cmpint (xi->channels, ==, 3);
  for (gsize i = 0; i < n; i++)
    if (a->mask[i])
      for (int c = 0; c < 3; c++)
        g_assert_cmpmem (tsr_image_plane (a, c) + i, sizeof (float), tsr_image_plane (xi, c) + i, sizeof (float));
  g_autofree char *nc = tsr_header_get_string (xi->header, "NCOMBINE");
  g_assert_nonnull (nc);

  /* the TIFF is an input of the one-image commands: background of r.TIF = background of r.fits */
  g_autofree char *bf = g_build_filename (dir, "bf.fits", NULL), *bt = g_build_filename (dir, "bt.fits", NULL);
  const char *bgf[] = { "background", rf, "-o", bf, NULL }, *bgt[] = { "background", rt, "-o", bt, NULL };
  g_assert_cmpint (tsr_test_run_cli (bgf, NULL, NULL), ==, 0);
  g_assert_cmpint (tsr_test_run_cli (bgt, NULL, NULL), ==, 0);
  g_autoptr (TsrImage) x = tsr_fits_read (bf, &e);
  g_assert_no_error (e);
  g_autoptr (TsrImage) y = tsr_fits_read (bt, &e);
  g_assert_no_error (e);
  double dmax = 0;
  for (gsize i = 0; i < n; i++)
    if (x->mask[i] && y->mask[i])
      for (int c = 0; c < 3; c++)
        dmax = MAX (dmax, fabs (tsr_image_plane (x, c)[i] - tsr_image_plane (y, c)[i]));
  g_assert_cmpfloat (dmax, <, 1e-3);

  /* other image types: refused before any work, nothing written */
  g_autofree char *png = g_build_filename (dir, "r.png", NULL), *jpg = g_build_filename (dir, "m.jpg", NULL);
  const char *bad1[] = { "process", ses, "-o", png, NULL };
  expect_failure_nothing_written (bad1, NULL, "-o", png);
  const char *bad2[] = { "process", ses, "-o", rf, "--mean-stack", jpg, NULL };
  expect_failure_nothing_written (bad2, rf, "--mean-stack", jpg);
  const char *bad3[] = { "stack", ses, "-o", png, NULL };
  expect_failure_nothing_written (bad3, NULL, "--preview", png);
}

/* Outputs (docs/reliability.md, classes 1 and 6): a FIFO, a device, a folder or an empty
 * name is refused before any work and left as it was; two options naming one file (also
 * through "d/../a.fits" or a symbolic link) are refused; an output that is a symbolic link
 * keeps being a link and the file it points to receives the result. */
static void
test_outputs (void)
{
  g_autofree char *dir = g_build_filename (tmp, "outputs", NULL);
  g_autofree char *session = g_build_filename (dir, "session", NULL);
  g_mkdir_with_parents (dir, 0755);
  const char *synth[] = { "synth", session, "--frames", "3", "--width", "96", "--height", "72", NULL };
  g_assert_cmpint (tsr_test_run_cli (synth, NULL, NULL), ==, 0);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  gint64 t0 = g_get_monotonic_time ();
  const char *a1[] = { "process", session, "-o", fifo, NULL };
  expect_failure (a1, NULL, "FIFO");
  const char *a2[] = { "stack", session, "-o", "/dev/null", NULL };
  expect_failure (a2, NULL, "device");
  const char *a3[] = { "process", session, "-o", "", NULL };
  expect_failure (a3, NULL, "empty");
  g_assert_cmpfloat ((g_get_monotonic_time () - t0) / 1e6, <, 20); /* refused up front, not after a run */
  GStatBuf st;
  g_assert_cmpint (lstat (fifo, &st), ==, 0);
  g_assert_true (S_ISFIFO (st.st_mode));
  g_assert_cmpint (lstat ("/dev/null", &st), ==, 0);
  g_assert_true (S_ISCHR (st.st_mode));

  g_autofree char *a = g_build_filename (dir, "a.fits", NULL);
  g_autofree char *sub = g_build_filename (dir, "d", NULL);
  g_autofree char *via = g_build_filename (dir, "d", "..", "a.fits", NULL);
  g_mkdir_with_parents (sub, 0755);
  const char *a4[] = { "process", session, "-o", a, "--json", via, NULL };
  expect_failure (a4, NULL, "name the same file");
  const char *a5[] = { "deconv", session, "-o", a, "--mean-stack", via, NULL };
  expect_failure_nothing_written (a5, NULL, "name the same file", a);

  g_autofree char *target = g_build_filename (dir, "target.fits", NULL);
  g_autofree char *lnk = g_build_filename (dir, "latest.fits", NULL);
  tsr_test_write_file (target, "old", 3);
  g_assert_cmpint (symlink ("target.fits", lnk), ==, 0);
  const char *a6[] = { "process", session, "-o", a, "--mean-stack", lnk, NULL };
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (a6, NULL, &err), ==, 0);
  g_assert_cmpint (lstat (lnk, &st), ==, 0);
  g_assert_true (S_ISLNK (st.st_mode));
  g_autoptr (TsrImage) mean = tsr_fits_read (target, NULL);
  g_assert_nonnull (mean);
  g_assert_cmpint (mean->width, ==, 96);
  const char *a7[] = { "process", session, "-o", target, "--mean-stack", lnk, NULL };
  expect_failure (a7, target, "name the same file");
  /* a seed image of another size: refused before staging, naming the file and both sizes */
  g_autofree char *seedp = g_build_filename (dir, "seed-small.fits", NULL);
  {
    g_autoptr (TsrImage) small = tsr_image_new (50, 40, 1);
    g_assert_true (tsr_fits_write (seedp, small, NULL, NULL));
  }
  g_autofree char *dout = g_build_filename (dir, "deconv.fits", NULL);
  const char *a8[] = { "deconv", session, "-o", dout, "--seed-image", seedp, NULL };
  t0 = g_get_monotonic_time ();
  expect_failure_nothing_written (a8, NULL, "seed-small.fits is 50×40×1; this session needs 96×72×1", dout);
  g_assert_cmpfloat ((g_get_monotonic_time () - t0) / 1e6, <, 20);
  no_part_files (dir);

  /* options out of the range of the key they stand for (issue #20, class 10) */
  const char *r1[] = { "register", session, "--reference", "-5", NULL };
  expect_failure (r1, NULL, "--reference");
  const char *r2[] = { "register", session, "--cc-mad", "inf", NULL };
  expect_failure (r2, NULL, "--cc-mad");
}

/* Option values a user mistypes are refused naming the option, never taken for "not given"
 * (denoise used −1 as its "not given" mark: --strength -1 and -j -3 ran with the defaults). */
static void
test_option_values (void)
{
  g_autofree char *dir = g_build_filename (tmp, "optvals", NULL);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *in = g_build_filename (dir, "in.fits", NULL);
  float v[32 * 24];
  for (int i = 0; i < 32 * 24; i++)
    v[i] = 100 + (i % 5);
  tsr_test_write_fits (in, FLOAT_IMG, 32, 24, 1, v, NULL);
  g_autofree char *out = g_build_filename (dir, "out.fits", NULL);
  const char *d1[] = { "denoise", in, "-o", out, "--strength", "-1", NULL };
  expect_failure_nothing_written (d1, NULL, "--strength", out);
  const char *d2[] = { "denoise", in, "-o", out, "--strength", "nan", NULL };
  expect_failure_nothing_written (d2, NULL, "--strength", out);
  const char *d3[] = { "denoise", in, "-o", out, "-j", "-3", NULL };
  expect_failure_nothing_written (d3, NULL, "--threads", out);

  /* wavelets: an explicit --layers 0 was taken for "not given"; fewer layers than the gains
   * given dropped the last gains silently; the printed gains listed 5 for 3 layers */
  const char *w1[] = { "wavelets", in, "-o", out, "--layers", "0", NULL };
  expect_failure_nothing_written (w1, NULL, "layers", out);
  const char *w2[] = { "wavelets", in, "-o", out, "--gains", "2,1,3", "--layers", "2", NULL };
  expect_failure_nothing_written (w2, NULL, "--layers 2", out);
  const char *w3[] = { "wavelets", in, "-o", out, "--layers", "3", NULL };
  g_autofree char *wo = NULL;
  g_assert_cmpint (tsr_test_run_cli (w3, &wo, NULL), ==, 0);
  g_assert_nonnull (strstr (wo, "3 layers, gains 1,1,1 →"));

  /* -o X.fits.gz wrote an uncompressed FITS under a gzip name (which no session scan reads) */
  g_autofree char *gz = g_build_filename (dir, "result.fits.gz", NULL);
  const char *z1[] = { "stack", dir, "-o", gz, NULL };
  expect_failure_nothing_written (z1, NULL, "compressed", gz);
  g_autofree char *bz = g_build_filename (dir, "mean.FITS.BZ2", NULL);
  const char *z2[] = { "process", dir, "-o", out, "--mean-stack", bz, NULL };
  expect_failure_nothing_written (z2, NULL, "--mean-stack", bz);
  no_part_files (dir);
}

/* A frame without EXPTIME, and --headers-only (no median/noise), show "-" in the table like a
 * missing DATE-OBS, not "nan". */
static void
test_info_unknown (void)
{
  g_autofree char *dir = g_build_filename (tmp, "noexp", NULL);
  g_mkdir_with_parents (dir, 0755);
  float v[24 * 16];
  for (int i = 0; i < 24 * 16; i++)
    v[i] = 500 + (i % 3);
  for (int f = 0; f < 2; f++)
    {
      g_autofree char *name = g_strdup_printf ("moon %d.fits", f);
      g_autofree char *p = g_build_filename (dir, name, NULL);
      tsr_test_write_fits (p, USHORT_IMG, 24, 16, 1, v, NULL);
    }
  for (int headers_only = 0; headers_only < 2; headers_only++)
    {
      const char *args[] = { "info", dir, headers_only ? "--headers-only" : NULL, NULL };
      g_autofree char *out = NULL;
      g_assert_cmpint (tsr_test_run_cli (args, &out, NULL), ==, 0);
      g_assert_nonnull (strstr (out, "moon 1.fits"));
      g_assert_null (strstr (out, "nan"));
      /* the row still has its columns: file, time, size, pattern, exposure, median, noise */
      const char *row = strstr (out, "moon 0.fits");
      g_autofree char *line = g_strndup (row, strcspn (row, "\n"));
      g_auto (GStrv) cols = g_regex_split_simple ("\\s{2,}", line, 0, 0);
      g_assert_cmpuint (g_strv_length (cols), ==, 7);
      g_assert_cmpstr (cols[4], ==, "-");
      if (headers_only)
        g_assert_cmpstr (cols[6], ==, "-");
      else
        g_assert_cmpstr (cols[5], ==, "501.0");
    }
}

/* A planetary capture given to a deep-sky command (a PNG or JPEG frame, also under a .fits
 * name, a SER video) is said to be one, and where it is read, not only "not a FITS file". */
static void
test_planetary_input_named (void)
{
  g_autofree char *dir = g_build_filename (tmp, "capture", NULL);
  g_mkdir_with_parents (dir, 0755);
  const struct { const char *name; const char *head; gsize head_len; gsize size; const char *kind; } files[] = {
    { "frame 1.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, 600, "PNG image" },
    { "jupiter.fits", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, 6000, "PNG image" },
    { "moon.fits", "\xff\xd8\xff\xe0\0\x10JFIF", 10, 4000, "JPEG image" },
    { "mars.ser", "LUCAM-RECORDER", 14, 3000, "SER video" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *p = g_build_filename (dir, files[i].name, NULL);
      g_autofree char *bytes = g_malloc0 (files[i].size);
      memcpy (bytes, files[i].head, files[i].head_len);
      tsr_test_write_file (p, bytes, files[i].size);
      const char *args[] = { "info", p, NULL };
      g_autofree char *err = NULL;
      g_assert_cmpint (tsr_test_run_cli (args, NULL, &err), ==, 1);
      g_assert_nonnull (strstr (err, files[i].name));
      g_assert_nonnull (strstr (err, "not a FITS file"));
      if (!strstr (err, files[i].kind) || !strstr (err, "tessera-cli planetary"))
        g_error ("%s: '%s' does not say it is a %s read by planetary", files[i].name, err, files[i].kind);
      g_assert_cmpint (count_lines (err), ==, 1);
    }
  /* a file of none of these stays "not a FITS file", with nothing more */
  g_autofree char *txt = g_build_filename (dir, "notes.fits", NULL);
  g_autofree char *zeros = g_malloc0 (4000);
  tsr_test_write_file (txt, zeros, 4000);
  const char *args[] = { "info", txt, NULL };
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (args, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "notes.fits: not a FITS file"));
  g_assert_null (strstr (err, "planetary"));

  /* a folder of such frames: counted and sent to planetary instead of "no frames found" */
  g_autofree char *pdir = g_build_filename (tmp, "capture-folder", NULL);
  g_mkdir_with_parents (pdir, 0755);
  for (int f = 0; f < 3; f++)
    {
      g_autofree char *name = g_strdup_printf ("%08d.PNG", f);
      g_autofree char *p = g_build_filename (pdir, name, NULL);
      tsr_test_write_file (p, "\x89PNG\r\n\x1a\n", 8);
    }
  const char *st[] = { "stack", pdir, "-o", txt, NULL };
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (tsr_test_run_cli (st, NULL, &err), ==, 1);
  if (!strstr (err, "3 PNG, JPEG, SER or video files") || !strstr (err, "tessera-cli planetary"))
    g_error ("'%s' does not count the PNG frames or name planetary", err);
  g_assert_cmpint (count_lines (err), ==, 1);
}

/* `demo DIR` writes result.fits, mean-stack.fits, result.png and report/ into DIR: a folder
 * holding a session's frames got them mixed in (its next scan failed on "mixed image sizes"). */
static void
test_demo_into_session (void)
{
  g_autofree char *dir = g_build_filename (tmp, "demo-into", NULL);
  write_frames (dir, 2, 24, 16);
  const char *a[] = { "demo", dir, "--frames", "2", NULL };
  expect_failure (a, NULL, "holds frames");
  g_autofree char *res = g_build_filename (dir, "result.fits", NULL);
  g_autofree char *sub = g_build_filename (dir, "session", NULL);
  g_assert_false (g_file_test (res, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (sub, G_FILE_TEST_EXISTS));
  const char *info[] = { "info", dir, NULL };
  check_info (info, "2 frames", FALSE);

  /* a result written among the session's frames is one of them at the next run: said so */
  g_autofree char *inside = g_build_filename (dir, "stack.fits", NULL);
  g_autofree char *outside = g_build_filename (tmp, "demo-into-stack.fits", NULL);
  const char *st_in[] = { "stack", dir, "-o", inside, NULL };
  g_autofree char *err = NULL;
  g_assert_cmpint (tsr_test_run_cli (st_in, NULL, &err), ==, 0);
  g_assert_nonnull (strstr (err, "into the session folder"));
  const char *st_out[] = { "stack", dir, "-o", outside, NULL };
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (tsr_test_run_cli (st_out, NULL, &err), ==, 0);
  g_assert_null (strstr (err, "session folder"));
}

/* info's columns line up: a DATE-OBS with microseconds (Seestar, 26 characters) and a name
 * with non-ASCII letters pushed the rest of their row to the right of the header. */
static void
test_info_columns (void)
{
  g_autofree char *dir = g_build_filename (tmp, "columns", NULL);
  g_mkdir_with_parents (dir, 0755);
  float v[24 * 16];
  for (int i = 0; i < 24 * 16; i++)
    v[i] = 700 + (i % 3);
  const char *names[] = { "Nacht \xc3\xa4\xc3\xb6\xc3\xbc 1.fits", "plain 2.fits" };
  for (int f = 0; f < 2; f++)
    {
      g_autofree char *p = g_build_filename (dir, names[f], NULL);
      g_autofree char *date = g_strdup_printf ("DATE-OBS= '2025-04-09T20:54:2%d.790113'", f);
      const char *cards[] = { date, "EXPTIME =                 10.0", NULL };
      tsr_test_write_fits (p, USHORT_IMG, 24, 16, 1, v, cards);
    }
  const char *args[] = { "info", dir, NULL };
  g_autofree char *out = NULL;
  g_assert_cmpint (tsr_test_run_cli (args, &out, NULL), ==, 0);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  const char *h = strstr (lines[0], "size");
  g_assert_nonnull (h);
  glong col = g_utf8_pointer_to_offset (lines[0], h);
  for (int r = 1; r <= 2; r++)
    {
      const char *c = strstr (lines[r], "24x16");
      g_assert_nonnull (c);
      if (g_utf8_pointer_to_offset (lines[r], c) != col)
        g_error ("row '%s': size at character %ld, the header's at %ld", lines[r],
                 g_utf8_pointer_to_offset (lines[r], c), col);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("TSR_NO_PROGRESS", "1", TRUE);
  tmp = tsr_test_tmpdir ("cli");
  g_test_add_func ("/cli/help", test_help);
  g_test_add_func ("/cli/info-and-stack", test_info_and_stack);
  g_test_add_func ("/cli/bad-input", test_bad_input);
  g_test_add_func ("/cli/subfolders", test_subfolders);
  g_test_add_func ("/cli/synth", test_synth);
  g_test_add_func ("/cli/outputs", test_outputs);
  g_test_add_func ("/cli/preview", test_preview);
  g_test_add_func ("/cli/validation-explained", test_validation_explained);
  g_test_add_func ("/cli/image-outputs", test_image_outputs);
  g_test_add_func ("/cli/option-values", test_option_values);
  g_test_add_func ("/cli/info-unknown", test_info_unknown);
  g_test_add_func ("/cli/planetary-input-named", test_planetary_input_named);
  g_test_add_func ("/cli/demo-into-session", test_demo_into_session);
  g_test_add_func ("/cli/info-columns", test_info_columns);
  int r = g_test_run ();
  tsr_test_rmtree (tmp);
  g_free (tmp);
  return r;
}
