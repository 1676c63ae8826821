/* test-session.c — scanning sessions and the map-over-frames driver. */
#include <unistd.h>
#include <sys/resource.h>
#include <glib/gstdio.h>
#include "tsr-test-util.h"

#include <fitsio.h>
#include <glib/gstdio.h>
#include <string.h>

static void
write_frame (const char *dir, const char *name, int w, int h, const char *date, const char *pattern,
             float value)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  float *v = g_new (float, w * h);
  for (int i = 0; i < w * h; i++)
    v[i] = value;
  g_autofree char *dcard = date ? g_strdup_printf ("DATE-OBS= '%s'", date) : g_strdup ("COMMENT no date");
  g_autofree char *pcard = pattern ? g_strdup_printf ("BAYERPAT= '%s'", pattern) : g_strdup ("COMMENT mono");
  const char *cards[] = { dcard, pcard, "EXPTIME =                 10.0", NULL };
  tsr_test_write_fits (p, USHORT_IMG, w, h, 1, v, cards);
  g_free (v);
}

static TsrSession *
scan1 (const char *path, gboolean recursive, GError **e)
{
  const char *paths[] = { path, NULL };
  TsrScanOptions o = { .recursive = recursive };
  return tsr_session_scan (paths, &o, NULL, e);
}

static void
test_sort_and_names (void)
{
  g_autofree char *d = tsr_test_tmpdir ("session");
  /* names in the opposite order of time, spaces, mixed-case extensions */
  write_frame (d, "Light_M 94_c.FIT", 16, 12, "2025-04-09T22:50:00", "GRBG", 1);
  write_frame (d, "Light_M 94_b.fts", 16, 12, "2025-04-09T22:51:00", "GRBG", 2);
  write_frame (d, "Light_M 94_a.Fits", 16, 12, "2025-04-09T22:52:00", "GRBG", 3);
  write_frame (d, "z tie.fit", 16, 12, "2025-04-09T22:52:00", "GRBG", 4);
  write_frame (d, "y tie.fit", 16, 12, "2025-04-09T22:52:00", "GRBG", 5);
  write_frame (d, "nodate.fit", 16, 12, NULL, "GRBG", 6);
  write_frame (d, ".hidden.fit", 16, 12, "2025-04-09T20:00:00", "GRBG", 7);
  g_autofree char *txt = g_build_filename (d, "notes.txt", NULL);
  tsr_test_write_file (txt, "hello", 5);
  g_autofree char *sub = g_build_filename (d, "sub", NULL);
  g_mkdir (sub, 0755);
  write_frame (sub, "deep.fit", 16, 12, "2025-04-09T22:40:00", "GRBG", 8);

  GError *e = NULL;
  g_autoptr (TsrSession) s = scan1 (d, FALSE, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 6);
  const char *want[] = { "Light_M 94_c.FIT", "Light_M 94_b.fts", "Light_M 94_a.Fits", "y tie.fit",
                         "z tie.fit", "nodate.fit" };
  for (guint i = 0; i < 6; i++)
    g_assert_cmpstr (tsr_session_frame (s, i)->name, ==, want[i]);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_GRBG);
  g_assert_cmpint (s->width, ==, 16);
  g_assert_cmpfloat (tsr_session_frame (s, 0)->info.exposure, ==, 10.0);

  g_autoptr (TsrSession) r = scan1 (d, TRUE, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (r), ==, 7);
  g_assert_cmpstr (tsr_session_frame (r, 0)->name, ==, "deep.fit");

  /* a list of files, one given twice */
  g_autofree char *f1 = g_build_filename (d, "z tie.fit", NULL);
  g_autofree char *f2 = g_build_filename (d, "Light_M 94_c.FIT", NULL);
  const char *list[] = { f1, f2, f1, NULL };
  g_autoptr (TsrSession) l = tsr_session_scan (list, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (l), ==, 2);
  g_assert_cmpstr (tsr_session_frame (l, 0)->name, ==, "Light_M 94_c.FIT");
  tsr_test_rmtree (d);
}

static void
test_bad_sessions (void)
{
  GError *e = NULL;
  g_autofree char *d = tsr_test_tmpdir ("badsession");
  g_assert_null (scan1 (d, FALSE, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_EMPTY);
  g_clear_error (&e);

  g_autofree char *missing = g_build_filename (d, "nope", NULL);
  g_assert_null (scan1 (missing, FALSE, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (e->message, "nope"));
  g_clear_error (&e);

  write_frame (d, "a.fit", 16, 12, "2025-04-09T22:50:00", "GRBG", 1);
  write_frame (d, "b.fit", 16, 12, "2025-04-09T22:51:00", "GRBG", 1);
  write_frame (d, "c odd.fit", 18, 12, "2025-04-09T22:49:00", "GRBG", 1);
  write_frame (d, "d.fit", 16, 12, "2025-04-09T22:52:00", "GRBG", 1);
  g_assert_null (scan1 (d, FALSE, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
  g_assert_nonnull (strstr (e->message, "c odd.fit"));
  g_clear_error (&e);

  g_autofree char *odd = g_build_filename (d, "c odd.fit", NULL);
  g_unlink (odd);
  write_frame (d, "e pattern.fit", 16, 12, "2025-04-09T22:53:00", "RGGB", 1);
  g_assert_null (scan1 (d, FALSE, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
  g_assert_nonnull (strstr (e->message, "e pattern.fit"));
  g_clear_error (&e);

  g_autofree char *ep = g_build_filename (d, "e pattern.fit", NULL);
  g_unlink (ep);
  g_autofree char *junk = g_build_filename (d, "junk.fits", NULL);
  tsr_test_write_file (junk, "not fits at all", 15);
  g_assert_null (scan1 (d, FALSE, &e));
  g_assert_nonnull (e);
  g_assert_nonnull (strstr (e->message, "junk.fits"));
  g_clear_error (&e);
  tsr_test_rmtree (d);
}

typedef struct
{
  gint visited;
  gint max_in_flight;
  gint in_flight;
  guint fail_at;
  GCancellable *cancel_after_first;
  double sum[64];
} MapState;

static gboolean
visit (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
       GCancellable *cancellable, GError **error)
{
  MapState *st = user_data;
  int now = g_atomic_int_add (&st->in_flight, 1) + 1;
  int prev;
  while ((prev = g_atomic_int_get (&st->max_in_flight)) < now
         && !g_atomic_int_compare_and_exchange (&st->max_in_flight, prev, now))
    ;
  g_usleep (2000);
  st->sum[index] = img ? img->data[0] : -1;
  g_atomic_int_inc (&st->visited);
  g_atomic_int_add (&st->in_flight, -1);
  if (st->cancel_after_first)
    g_cancellable_cancel (st->cancel_after_first);
  if (st->fail_at && index == st->fail_at)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, "frame %u failed on purpose", index);
      return FALSE;
    }
  return TRUE;
}

static guint progress_calls, progress_last;

static void
on_progress (const char *phase, guint done, guint total, gpointer data)
{
  g_assert_cmpuint (done, <=, total);
  g_assert_cmpuint (done, >=, progress_last);
  progress_last = done;
  progress_calls++;
}

static void
test_map (void)
{
  g_autofree char *d = tsr_test_tmpdir ("map");
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%02d.fit", i);
      g_autofree char *date = g_strdup_printf ("2025-04-09T22:%02d:00", i);
      write_frame (d, name, 32, 16, date, NULL, i + 100);
    }
  GError *e = NULL;
  g_autoptr (TsrSession) s = scan1 (d, FALSE, &e);
  g_assert_no_error (e);

  MapState st = { 0 };
  TsrMapOptions opt;
  tsr_map_options_init (&opt, "Testing");
  opt.n_threads = 4;
  progress_calls = progress_last = 0;
  g_assert_true (tsr_frames_map (s, &opt, visit, &st, on_progress, NULL, NULL, &e));
  g_assert_no_error (e);
  g_assert_cmpint (st.visited, ==, 20);
  for (int i = 0; i < 20; i++)
    g_assert_cmpfloat (st.sum[i], ==, i + 100);
  g_assert_cmpuint (progress_last, ==, 20);
  g_assert_cmpint (st.max_in_flight, <=, 4);

  /* a memory budget of two frames' worth allows one frame in flight at a time */
  MapState st2 = { 0 };
  opt.memory_budget = 32 * 16 * 4 * 4;
  opt.bytes_per_frame_factor = 2.0;
  g_assert_cmpuint (tsr_frames_parallelism (s, &opt), ==, 1);
  g_assert_true (tsr_frames_map (s, &opt, visit, &st2, NULL, NULL, NULL, &e));
  g_assert_cmpint (st2.max_in_flight, ==, 1);
  opt.memory_budget = 0;

  /* an error stops the job and is reported */
  MapState st3 = { .fail_at = 5 };
  g_assert_false (tsr_frames_map (s, &opt, visit, &st3, NULL, NULL, NULL, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_FAILED);
  g_clear_error (&e);
  g_assert_cmpint (st3.visited, <, 20);

  /* cancellation stops early and says so */
  g_autoptr (GCancellable) c = g_cancellable_new ();
  MapState st4 = { .cancel_after_first = c };
  g_assert_false (tsr_frames_map (s, &opt, visit, &st4, NULL, NULL, c, &e));
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
  g_assert_cmpint (st4.visited, <=, 4);

  /* subset of frames, no pixels */
  guint idx[] = { 3, 7 };
  MapState st5 = { 0 };
  opt.indices = idx;
  opt.n_indices = 2;
  opt.read_pixels = FALSE;
  g_assert_true (tsr_frames_map (s, &opt, visit, &st5, NULL, NULL, NULL, &e));
  g_assert_cmpint (st5.visited, ==, 2);
  g_assert_cmpfloat (st5.sum[3], ==, -1);

  /* a frame that vanished after the scan gives a clear error naming it */
  g_autofree char *gone = g_build_filename (d, "f04.fit", NULL);
  g_unlink (gone);
  opt.indices = NULL;
  opt.read_pixels = TRUE;
  MapState st6 = { 0 };
  g_assert_false (tsr_frames_map (s, &opt, visit, &st6, NULL, NULL, NULL, &e));
  g_assert_nonnull (strstr (e->message, "f04.fit"));
  g_clear_error (&e);
  tsr_test_rmtree (d);
}

/* Folders reached twice (links to "." or a parent) are listed once and the scan ends; the
 * same frame reached through a symbolic link, a hard link or a byte-identical copy counts
 * once and is reported (docs/reliability.md, class 2). */
static void
test_links_and_copies (void)
{
  g_autofree char *rel = tsr_test_tmpdir ("links");
  g_autofree char *dir = g_canonicalize_filename (rel, NULL);
  g_autofree char *night = g_build_filename (dir, "night", NULL);
  g_autofree char *copy = g_build_filename (dir, "copy", NULL);
  g_mkdir_with_parents (night, 0755);
  g_mkdir_with_parents (copy, 0755);
  float v[32 * 24];
  for (int f = 0; f < 3; f++)
    {
      for (int i = 0; i < 32 * 24; i++)
        v[i] = (float) (100 + f * 7 + i % 13);
      g_autofree char *date = g_strdup_printf ("DATE-OBS= '2025-01-01T22:00:%02d' / start", 10 * f);
      const char *cards[] = { date, NULL };
      g_autofree char *name = g_strdup_printf ("f%d.fits", f);
      g_autofree char *path = g_build_filename (night, name, NULL);
      tsr_test_write_fits (path, -32, 32, 24, 1, v, cards);
      g_autofree char *cpath = g_build_filename (copy, name, NULL);   /* a byte-identical copy */
      gsize len;
      g_autofree char *bytes = tsr_test_read_file (path, &len);
      tsr_test_write_file (cpath, bytes, len);
    }
  /* a different frame with the same time stamp and size is not a copy */
  for (int i = 0; i < 32 * 24; i++)
    v[i] = (float) (500 + i % 5);
  const char *cards[] = { "DATE-OBS= '2025-01-01T22:00:00' / start", NULL };
  g_autofree char *twin = g_build_filename (copy, "other.fits", NULL);
  tsr_test_write_fits (twin, -32, 32, 24, 1, v, cards);
  g_autofree char *self = g_build_filename (night, "self", NULL);
  g_autofree char *up = g_build_filename (night, "up", NULL);
  g_autofree char *up2 = g_build_filename (copy, "up2", NULL);
  g_autofree char *slink = g_build_filename (night, "link.fits", NULL);
  g_autofree char *hard = g_build_filename (night, "hard.fits", NULL);
  g_autofree char *f0 = g_build_filename (night, "f0.fits", NULL);
  g_assert_cmpint (symlink (".", self), ==, 0);
  g_assert_cmpint (symlink ("..", up), ==, 0);
  g_assert_cmpint (symlink ("..", up2), ==, 0);
  g_assert_cmpint (symlink ("f1.fits", slink), ==, 0);
  g_assert_cmpint (link (f0, hard), ==, 0);

  TsrScanOptions opt = { .recursive = TRUE };
  const char *paths[] = { dir, NULL };
  GError *e = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, &opt, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 4);      /* f0, f1, f2 and the other frame */
  g_assert_cmpuint (s->duplicates->len, >=, 5);            /* 3 copies, a symlink, a hard link, … */
  guint others = 0;
  for (guint i = 0; i < tsr_session_n_frames (s); i++)
    others += !strcmp (tsr_session_frame (s, i)->name, "other.fits");
  g_assert_cmpuint (others, ==, 1);
  /* the same file given twice on the command line */
  const char *twice[] = { f0, f0, slink, NULL };
  g_autoptr (TsrSession) t = tsr_session_scan (twice, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (t), ==, 2);
  tsr_test_rmtree (dir);
}

/* Issue #19: a session of more than 10,000 files opens and stacks (mean and median) with
 * 64 file descriptors: no file is held open between frames, and nothing lists the files
 * on a command line. Run in a subprocess so the lowered limit stays there. */
static void
test_ten_thousand_files (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *d = tsr_test_tmpdir ("many");
      /* the smallest honest frame: one header block, one data block (16 × 12 × 16 bit) */
      char block[2 * 2880];
      const guint n = 10001;
      for (guint i = 0; i < n; i++)
        {
          memset (block, ' ', 2880);
          memset (block + 2880, 0, 2880);
          const char *cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                  "NAXIS   =                    2", "NAXIS1  =                   16",
                                  "NAXIS2  =                   12", NULL };
          int k = 0;
          for (; cards[k]; k++)
            memcpy (block + 80 * k, cards[k], strlen (cards[k]));
          char date[81];
          g_snprintf (date, sizeof date, "DATE-OBS= '2025-04-09T%02u:%02u:%02u'", 20 + i / 3600, i / 60 % 60, i % 60);
          memcpy (block + 80 * k++, date, strlen (date));
          memcpy (block + 80 * k, "END", 3);
          guint16 *px = (guint16 *) (block + 2880);
          px[(i % 192)] = GUINT16_TO_BE ((guint16) (i % 1000)); /* one pixel differs per frame */
          g_autofree char *name = g_strdup_printf ("%s/f%05u.fits", d, i);
          tsr_test_write_file (name, block, sizeof block);
        }
      struct rlimit rl = { 64, 64 };
      g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &rl), ==, 0);
      GError *e = NULL;
      g_autoptr (TsrSession) s = scan1 (d, FALSE, &e);
      g_assert_no_error (e);
      g_assert_cmpuint (tsr_session_n_frames (s), ==, n);
      /* sorted by DATE-OBS: the first and last frames are the first and last written */
      g_assert_cmpstr (tsr_session_frame (s, 0)->name, ==, "f00000.fits");
      g_assert_cmpstr (tsr_session_frame (s, n - 1)->name, ==, "f10000.fits");
      for (int m = 0; m < 2; m++)
        {
          TsrStackParams sp;
          tsr_stack_params_init (&sp);
          sp.method = m ? TSR_STACK_MEDIAN : TSR_STACK_MEAN;
          g_autoptr (TsrImage) img = tsr_stack_session (s, &sp, NULL, NULL, NULL, &e);
          g_assert_no_error (e);
          g_assert_nonnull (img);
          /* pixel 0 holds i % 1000 in frames i ≡ 0 (mod 192), 0 elsewhere */
          double sum = 0;
          guint cnt = 0;
          for (guint i = 0; i < n; i += 192)
            sum += i % 1000, cnt++;
          if (m == 0)
            g_assert_cmpfloat_with_epsilon (img->data[0], sum / n, 1e-3);
          else
            g_assert_cmpfloat (img->data[0], ==, 0.0f);
        }
      tsr_test_rmtree (d);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/session/sort-and-names", test_sort_and_names);
  g_test_add_func ("/session/bad", test_bad_sessions);
  g_test_add_func ("/session/map", test_map);
  g_test_add_func ("/session/links-and-copies", test_links_and_copies);
  g_test_add_func ("/session/ten-thousand-files", test_ten_thousand_files);
  return g_test_run ();
}
