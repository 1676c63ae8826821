/* tsr-test-util.c — helpers shared by the test programs. */
#include "tsr-test-util.h"

#include <fitsio.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

/* The test's temporary folders, removed when the program exits normally: a passing run
 * leaves nothing in the temporary folder (the 2,000-frame window test alone writes 2,000
 * files per run). A failed assertion aborts, which skips the removal, so a failure's files
 * stay for a look; TSR_TEST_KEEP=1 keeps them always. */
static GPtrArray *tmpdirs;

static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st, (void) flag, (void) ftw;
  remove (path);   /* go on past what cannot be removed */
  return 0;
}

static void
remove_tmpdirs (void)
{
  if (!tmpdirs || g_getenv ("TSR_TEST_KEEP"))
    return;
  for (guint i = 0; i < tmpdirs->len; i++)
    nftw (tmpdirs->pdata[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  g_ptr_array_free (tmpdirs, TRUE);
  tmpdirs = NULL;
}

char *
tsr_test_tmpdir (const char *tag)
{
  g_autofree char *tmpl = g_strdup_printf ("tessera-%s-XXXXXX", tag);
  GError *e = NULL;
  char *d = g_dir_make_tmp (tmpl, &e);
  g_assert_no_error (e);
  if (!tmpdirs)
    {
      tmpdirs = g_ptr_array_new_with_free_func (g_free);
      atexit (remove_tmpdirs);
    }
  g_ptr_array_add (tmpdirs, g_strdup (d));
  return d;
}

TsrSession *
tsr_test_synth_session (const TsrSynthParams *p, const char *dir, const char *tag,
                        char **dir_out, TsrSynthTruth **truth_out)
{
  char *d = dir ? g_strdup (dir) : tsr_test_tmpdir (tag);
  GError *e = NULL;
  TsrSynthTruth *t = tsr_synth_write_session (p, d, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  const char *paths[] = { d, NULL };
  TsrSession *s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  if (truth_out)
    *truth_out = t;
  else
    tsr_synth_truth_free (t);
  if (dir_out)
    *dir_out = d;
  else
    g_free (d);
  return s;
}

void
tsr_test_rmtree (const char *path)
{
  if (!path || !g_file_test (path, G_FILE_TEST_EXISTS))
    return;
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *d = g_dir_open (path, 0, NULL);
      if (d)
        {
          const char *n;
          while ((n = g_dir_read_name (d)))
            {
              g_autofree char *c = g_build_filename (path, n, NULL);
              tsr_test_rmtree (c);
            }
          g_dir_close (d);
        }
      g_chmod (path, 0755);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

const char *
tsr_test_source_root (void)
{
  const char *r = g_getenv ("TSR_SOURCE_ROOT");
  return r ? r : ".";
}

char *
tsr_test_shared_data (const char *sub)
{
  g_autofree char *root = g_canonicalize_filename ("../shared/data", tsr_test_source_root ());
  char *p = sub ? g_build_filename (root, sub, NULL) : g_strdup (root);
  if (!g_file_test (p, G_FILE_TEST_IS_DIR))
    {
      g_free (p);
      return NULL;
    }
  return p;
}

int
tsr_test_run_cli (const char *const *args, char **out, char **err)
{
  const char *cli = g_getenv ("TSR_CLI");
  g_assert_nonnull (cli);
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) cli);
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  int status = 0;
  GError *e = NULL;
  char *o = NULL, *r = NULL;
  gboolean ok = g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &r,
                              &status, &e);
  g_assert_no_error (e);
  g_assert_true (ok);
  g_ptr_array_free (argv, TRUE);
  if (out)
    *out = o;
  else
    g_free (o);
  if (err)
    *err = r;
  else
    g_free (r);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + (WIFSIGNALED (status) ? WTERMSIG (status) : 0);
}

char *
tsr_test_read_file (const char *path, gsize *len)
{
  char *c = NULL;
  if (!g_file_get_contents (path, &c, len, NULL))
    return NULL;
  return c;
}

gboolean
tsr_test_files_equal (const char *a, const char *b)
{
  gsize la = 0, lb = 0;
  g_autofree char *ca = tsr_test_read_file (a, &la);
  g_autofree char *cb = tsr_test_read_file (b, &lb);
  return ca && cb && la == lb && memcmp (ca, cb, la) == 0;
}

void
tsr_test_write_file (const char *path, const void *data, gsize len)
{
  GError *e = NULL;
  g_file_set_contents (path, data, len, &e);
  g_assert_no_error (e);
}

void
tsr_test_write_fits (const char *path, int bitpix, int width, int height, int channels,
                     const float *values, const char *const *extra_cards)
{
  fitsfile *f = NULL;
  int status = 0;
  g_unlink (path);
  fits_create_diskfile (&f, path, &status);
  g_assert_cmpint (status, ==, 0);
  long naxes[3] = { width, height, channels };
  fits_create_img (f, bitpix, channels > 1 ? 3 : 2, naxes, &status);
  g_assert_cmpint (status, ==, 0);
  for (int i = 0; extra_cards && extra_cards[i]; i++)
    {
      char card[FLEN_CARD];
      g_strlcpy (card, extra_cards[i], sizeof card);
      fits_write_record (f, card, &status);
    }
  gsize n = (gsize) width * height * channels;
  fits_write_img (f, TFLOAT, 1, n, (float *) values, &status);
  fits_close_file (f, &status);
  g_assert_cmpint (status, ==, 0);
}
