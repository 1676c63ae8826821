/* test-output.c — what an output path may name (docs/reliability.md, class 1): a new name or
 * a regular file is written; a symbolic link keeps being a link and its target is replaced;
 * a folder, a FIFO, a device, a link loop or an empty name are refused and left as they
 * were. Every writer (FITS, TIFF, PNG, JSON/text) goes through the same rule. */
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tsr-test-util.h"
#include "tsr-output.h"

static TsrImage *
small_image (void)
{
  TsrImage *img = tsr_image_new (16, 12, 1);
  for (gsize i = 0; i < tsr_image_npix (img); i++)
    img->data[i] = (float) (i % 7);
  return img;
}

/* Write img to path with each writer; TRUE when all succeeded. */
static gboolean
write_all (const char *path, const TsrImage *img, GError **error)
{
  return tsr_fits_write (path, img, NULL, error);
}

static gboolean
write_kind (int kind, const char *path, const TsrImage *img, GError **error)
{
  switch (kind)
    {
    case 0:
      return write_all (path, img, error);
    case 1:
      return tsr_tiff_write (path, img, TSR_TIFF_FLOAT32, error);
    case 2:
      return tsr_write_png_preview (img, path, 0, error);
    default:
      return tsr_write_file_atomic (path, "{\"written\": true}\n", -1, error);
    }
}

static void
test_regular_and_new (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("output");
  g_autoptr (TsrImage) img = small_image ();
  for (int kind = 0; kind < 4; kind++)
    {
      g_autofree char *path = g_strdup_printf ("%s/out%d", dir, kind);
      GError *e = NULL;
      g_assert_true (write_kind (kind, path, img, &e));   /* new name */
      g_assert_no_error (e);
      g_assert_true (write_kind (kind, path, img, &e));   /* existing regular file */
      g_assert_no_error (e);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }
  tsr_test_rmtree (dir);
}

static void
test_symlink_keeps_link (void)
{
  g_autofree char *rel = tsr_test_tmpdir ("output");
  g_autofree char *dir = g_canonicalize_filename (rel, NULL);
  g_autoptr (TsrImage) img = small_image ();
  for (int kind = 0; kind < 4; kind++)
    {
      g_autofree char *target = g_strdup_printf ("%s/target%d", dir, kind);
      g_autofree char *link = g_strdup_printf ("%s/link%d", dir, kind);
      g_autofree char *link2 = g_strdup_printf ("%s/link%d-b", dir, kind);
      tsr_test_write_file (target, "old", 3);
      g_autofree char *tbase = g_path_get_basename (target);
      g_assert_cmpint (symlink (tbase, link), ==, 0);
      g_assert_cmpint (symlink (link, link2), ==, 0);   /* a chain of two links */
      GError *e = NULL;
      g_assert_true (write_kind (kind, link2, img, &e));
      g_assert_no_error (e);
      struct stat st;
      g_assert_cmpint (lstat (link, &st), ==, 0);
      g_assert_true (S_ISLNK (st.st_mode));
      g_assert_cmpint (lstat (link2, &st), ==, 0);
      g_assert_true (S_ISLNK (st.st_mode));
      g_assert_cmpint (lstat (target, &st), ==, 0);
      g_assert_true (S_ISREG (st.st_mode));
      g_assert_cmpint (st.st_size, >, 3);                 /* the target was replaced */
      /* a dangling link: the file it names is created, the link stays */
      g_autofree char *dangling = g_strdup_printf ("%s/dangling%d", dir, kind);
      g_autofree char *newfile = g_strdup_printf ("%s/new%d", dir, kind);
      g_assert_cmpint (symlink (newfile, dangling), ==, 0);
      g_assert_true (write_kind (kind, dangling, img, &e));
      g_assert_no_error (e);
      g_assert_true (g_file_test (newfile, G_FILE_TEST_IS_REGULAR));
      g_assert_cmpint (lstat (dangling, &st), ==, 0);
      g_assert_true (S_ISLNK (st.st_mode));
    }
  tsr_test_rmtree (dir);
}

static void
test_refused (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("output");
  g_autoptr (TsrImage) img = small_image ();
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  g_autofree char *sub = g_build_filename (dir, "folder", NULL);
  g_autofree char *loop_a = g_build_filename (dir, "loop-a", NULL);
  g_autofree char *loop_b = g_build_filename (dir, "loop-b", NULL);
  g_autofree char *to_dir = g_build_filename (dir, "link-to-folder", NULL);
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (symlink (loop_b, loop_a), ==, 0);
  g_assert_cmpint (symlink (loop_a, loop_b), ==, 0);
  g_assert_cmpint (symlink (sub, to_dir), ==, 0);
  const char *bad[] = { fifo, sub, loop_a, to_dir, "/dev/null", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    for (int kind = 0; kind < 4; kind++)
      {
        GError *e = NULL;
        g_assert_false (write_kind (kind, bad[i], img, &e));
        g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
        if (*bad[i])
          g_assert_nonnull (strstr (e->message, bad[i]));
        g_clear_error (&e);
      }
  struct stat st;
  g_assert_cmpint (lstat (fifo, &st), ==, 0);
  g_assert_true (S_ISFIFO (st.st_mode));
  g_assert_cmpint (lstat ("/dev/null", &st), ==, 0);
  g_assert_true (S_ISCHR (st.st_mode));
  g_assert_cmpint (lstat (sub, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  /* nothing left behind in the folder (no temporary files) */
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d))
    n++;
  g_assert_cmpuint (n, ==, 5);
  tsr_test_rmtree (dir);
}

static void
test_same_output (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("output");
  g_autofree char *a = g_build_filename (dir, "a.fits", NULL);
  g_autofree char *sub = g_build_filename (dir, "d", NULL);
  g_autofree char *via = g_build_filename (dir, "d", "..", "a.fits", NULL);
  g_autofree char *lnk = g_build_filename (dir, "l.fits", NULL);
  g_autofree char *other = g_build_filename (dir, "b.fits", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (symlink (a, lnk), ==, 0);
  g_assert_true (tsr_output_same (a, via));     /* a new name, reached two ways */
  g_assert_true (tsr_output_same (a, lnk));    /* a dangling link to it */
  g_assert_false (tsr_output_same (a, other));
  tsr_test_write_file (a, "x", 1);
  g_autofree char *hard = g_build_filename (dir, "hard.fits", NULL);
  g_assert_cmpint (link (a, hard), ==, 0);
  g_assert_true (tsr_output_same (a, hard));    /* a hard link: same inode */
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/output/regular-and-new", test_regular_and_new);
  g_test_add_func ("/output/symlink-keeps-link", test_symlink_keeps_link);
  g_test_add_func ("/output/refused", test_refused);
  g_test_add_func ("/output/same-output", test_same_output);
  return g_test_run ();
}
