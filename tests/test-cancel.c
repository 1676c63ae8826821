/* test-cancel.c — cancel anywhere (issue #7, docs/reliability.md).
 *
 * Every cancellable engine job is first run to completion while its progress reports are
 * counted; then it is run again once per report, cancelling at that report (from inside
 * the progress callback, i.e. from a worker thread mid-job). Each cancelled run must
 * report G_IO_ERROR_CANCELLED (or, when cancelled at the very last report, may finish),
 * leave no partial file behind and free everything (the sanitizer run checks for leaks);
 * and the next job must start and succeed at once with a fresh GCancellable.
 *
 * Phases: scan (cancelled from another thread after increasing delays: it has no progress
 * reports), plain stacking (mean, median), registration and writing registered frames,
 * TBQR analysis, weighting (a cancel arriving while weighing stops the accumulation),
 * accumulation, deconvolution (at progress reports and at iterations) and the synthetic
 * session writer.
 */
#include "tsr-test-util.h"
#include "tsr-frame-cache.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmp;
static char *session_dir;
static TsrSession *session;

typedef struct
{
  GCancellable *cancellable;
  guint calls;
  guint cancel_at;          /* cancel at this report (1-based); 0 = never */
  char last_phase[64];
  guint last_done, last_total;
  gboolean cancelled_at_last; /* the cancel came with the job's final report */
} Canceller;

static void
canceller_init (Canceller *k, guint cancel_at)
{
  memset (k, 0, sizeof *k);
  k->cancellable = g_cancellable_new ();
  k->cancel_at = cancel_at;
}

static void
canceller_clear (Canceller *k)
{
  g_clear_object (&k->cancellable);
}

static void
progress_cb (const char *phase, guint done, guint total, gpointer data)
{
  Canceller *k = data;
  k->calls++;
  g_strlcpy (k->last_phase, phase, sizeof k->last_phase);
  k->last_done = done;
  k->last_total = total;
  if (k->cancel_at && k->calls == k->cancel_at)
    g_cancellable_cancel (k->cancellable);
}

/* ------------------------------------------------------------------------------------- */

static void
setup_session (void)
{
  if (session)
    return;
  tmp = tsr_test_tmpdir ("cancel");
  session_dir = g_build_filename (tmp, "session", NULL);
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 8;
  p.width = 160;
  p.height = 120;
  p.seed = 11;
  p.n_stars = 120;
  p.n_mirrored = 1;
  p.n_noise = 0;
  p.n_trails = 1;
  p.shift_max = 6;
  p.rotation_max_deg = 0.5;
  session = tsr_test_synth_session (&p, session_dir, NULL, NULL, NULL);
}

static TsrProject params;

static void
small_params (void)
{
  tsr_project_init (&params);
  params.run.n_threads = 2;
  params.tbqr.reg.n_threads = 2;
  params.deconv.iterations = 4;
}

/* A job: returns TRUE on success (and frees what it made), FALSE with error set. */
typedef gboolean (*JobFunc) (Canceller *k, const char *scratch, GError **error);

static gboolean
job_stack_mean (Canceller *k, const char *scratch, GError **error)
{
  TsrStackParams p;
  tsr_stack_params_init (&p);
  p.method = TSR_STACK_MEAN;
  p.n_threads = 2;
  TsrImage *img = tsr_stack_session (session, &p, progress_cb, k, k->cancellable, error);
  if (img)
    tsr_image_unref (img);
  return img != NULL;
}

static gboolean
job_stack_median (Canceller *k, const char *scratch, GError **error)
{
  TsrStackParams p;
  tsr_stack_params_init (&p);
  p.method = TSR_STACK_MEDIAN;
  p.n_threads = 2;
  p.memory_budget = 64 * 1024;  /* many row bands: many cancel points */
  TsrImage *img = tsr_stack_session (session, &p, progress_cb, k, k->cancellable, error);
  if (img)
    tsr_image_unref (img);
  return img != NULL;
}

static gboolean
job_register (Canceller *k, const char *scratch, GError **error)
{
  TsrRegistration *r = tsr_register_session (session, &params.tbqr.reg, progress_cb, k, k->cancellable, error);
  if (r)
    tsr_registration_unref (r);
  return r != NULL;
}

static TsrRegistration *shared_reg;

static gboolean
job_write_registered (Canceller *k, const char *scratch, GError **error)
{
  if (!shared_reg)
    {
      GError *e = NULL;
      shared_reg = tsr_register_session (session, &params.tbqr.reg, NULL, NULL, NULL, &e);
      g_assert_no_error (e);
    }
  return tsr_registration_write_frames (shared_reg, scratch, progress_cb, k, k->cancellable, error);
}

static gboolean
job_analyse (Canceller *k, const char *scratch, GError **error)
{
  TsrAnalysis *a = tsr_tbqr_analyse (session, &params.tbqr, &params.run, progress_cb, k, k->cancellable, error);
  if (a)
    tsr_analysis_unref (a);
  return a != NULL;
}

static TsrAnalysis *shared_analysis;
static TsrWeights *shared_weights;

static void
ensure_analysis (void)
{
  if (shared_analysis)
    return;
  GError *e = NULL;
  shared_analysis = tsr_tbqr_analyse (session, &params.tbqr, &params.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  shared_weights = tsr_tbqr_weigh (shared_analysis, &params.tbqr, &e);
  g_assert_no_error (e);
}

static gboolean
job_accumulate (Canceller *k, const char *scratch, GError **error)
{
  ensure_analysis ();
  TsrReconstruction *r = tsr_tbqr_accumulate (shared_analysis, shared_weights, &params.tbqr, &params.run, progress_cb, k,
                                              k->cancellable, error);
  if (r)
    tsr_reconstruction_free (r);
  return r != NULL;
}

static guint iter_cancel_at;

static gboolean
on_iteration (const TsrImage *latent, const TsrDeconvIterStats *st, gpointer data)
{
  Canceller *k = data;
  if (iter_cancel_at && st->iteration == iter_cancel_at)
    g_cancellable_cancel (k->cancellable);
  return TRUE;
}

static gboolean
job_deconv (Canceller *k, const char *scratch, GError **error)
{
  TsrDeconvOptions opt;
  tsr_deconv_options_init (&opt);
  opt.stage_dir = scratch;
  TsrDeconvResult *r = tsr_deconv_run (session, &params.deconv, &params.tbqr, &params.run, &opt, on_iteration, k, progress_cb, k, k->cancellable,
                                       error);
  if (r)
    tsr_deconv_result_free (r);
  return r != NULL;
}

static gboolean
job_synth (Canceller *k, const char *scratch, GError **error)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 6;
  p.width = 96;
  p.height = 64;
  p.n_stars = 40;
  g_autofree char *out = g_build_filename (scratch, "synth", NULL);
  TsrSynthTruth *t = tsr_synth_write_session (&p, out, progress_cb, k, k->cancellable, error);
  if (t)
    tsr_synth_truth_free (t);
  return t != NULL;
}

/* ------------------------------------------------------------------------------------- */

static guint
count_entries (const char *dir, const char *suffix, gboolean recurse)
{
  guint n = 0;
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return 0;
  const char *name;
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      if (recurse && g_file_test (p, G_FILE_TEST_IS_DIR))
        n += count_entries (p, suffix, TRUE);
      else if (!suffix || g_str_has_suffix (name, suffix))
        n++;
    }
  g_dir_close (d);
  return n;
}

/* Open file descriptors of this process (the frame cache is one unlinked file held open
 * by its descriptor); G_MAXUINT where /proc is not available. */
static guint
count_fds (void)
{
  if (!g_file_test ("/proc/self/fd", G_FILE_TEST_IS_DIR))
    return G_MAXUINT;
  return count_entries ("/proc/self/fd", NULL, FALSE);
}

static char *cache_tmp; /* TMPDIR of this test: where the frame cache is created */

/* Frame cache files by name in cache_tmp (there should never be any: unlinked at once). */
static guint
count_cache_files (void)
{
  guint n = 0;
  GDir *d = g_dir_open (cache_tmp, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    n += g_str_has_prefix (name, "tessera-cache-");
  if (d)
    g_dir_close (d);
  return n;
}

typedef struct
{
  const char *name;
  JobFunc func;
  gboolean output_all_or_nothing; /* a cancelled run leaves the scratch folder empty */
} Job;

static guint total_points;

static void
run_cancel_points (gconstpointer data)
{
  const Job *job = data;
  setup_session ();
  small_params ();
  g_autofree char *scratch_root = g_build_filename (tmp, job->name, NULL);
  g_mkdir_with_parents (scratch_root, 0755);

  /* the whole job, counting its progress reports */
  Canceller k;
  canceller_init (&k, 0);
  GError *e = NULL;
  g_autofree char *base = g_build_filename (scratch_root, "full", NULL);
  g_mkdir_with_parents (base, 0755);
  g_assert_true (job->func (&k, base, &e));
  g_assert_no_error (e);
  guint n = k.calls;
  canceller_clear (&k);
  g_assert_cmpuint (n, >=, 2);

  guint cancelled = 0, finished = 0;
  /* every report when there are few, else about 24 spread over the job (first and last included) */
  guint step = n > 24 ? (n + 23) / 24 : 1;
  for (guint at = 1; at <= n; at = (at + step > n && at < n) ? n : at + step)
    {
      g_autofree char *sub = g_strdup_printf ("at-%u", at);
      g_autofree char *scratch = g_build_filename (scratch_root, sub, NULL);
      g_mkdir_with_parents (scratch, 0755);
      canceller_init (&k, at);
      guint fds = count_fds ();
      gboolean ok = job->func (&k, scratch, &e);
      total_points++;
      if (ok)
        {
          /* only a cancel that arrives with the final report may be too late */
          if (at < n)
            g_error ("%s: cancelled at report %u of %u (%s %u/%u) but the job finished", job->name, at, n,
                     k.last_phase, k.last_done, k.last_total);
          finished++;
        }
      else
        {
          g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_clear_error (&e);
          cancelled++;
          g_assert_cmpuint (count_entries (scratch, ".part", TRUE), ==, 0);
          /* no frame cache left behind: nothing in the temporary folder, no descriptor open */
          g_assert_cmpuint (count_cache_files (), ==, 0);
          g_assert_cmpuint (count_fds (), ==, fds);
          if (job->output_all_or_nothing)
            g_assert_cmpuint (count_entries (scratch, NULL, TRUE), ==, 0);
        }
      canceller_clear (&k);
      tsr_test_rmtree (scratch);

      /* the next job starts at once and succeeds */
      if (at == 1 || at == n)
        {
          g_autofree char *again = g_build_filename (scratch_root, "again", NULL);
          g_mkdir_with_parents (again, 0755);
          canceller_init (&k, 0);
          g_assert_true (job->func (&k, again, &e));
          g_assert_no_error (e);
          canceller_clear (&k);
          tsr_test_rmtree (again);
        }
    }
  g_test_message ("%s: %u progress reports, %u cancelled runs, %u finished", job->name, n, cancelled, finished);
  g_assert_cmpuint (cancelled, >=, 1);
  g_assert_cmpuint (finished, <=, 1);
}

/* Deconvolution: also cancel at each iteration. */
static void
test_deconv_iterations (void)
{
  setup_session ();
  small_params ();
  g_autofree char *scratch = g_build_filename (tmp, "deconv-iter", NULL);
  g_mkdir_with_parents (scratch, 0755);
  for (guint it = 1; it <= (guint) params.deconv.iterations; it++)
    {
      Canceller k;
      canceller_init (&k, 0);
      iter_cancel_at = it;
      GError *e = NULL;
      gboolean ok = job_deconv (&k, scratch, &e);
      total_points++;
      /* a cancel at the last iteration may come too late; earlier ones never */
      if (ok)
        g_assert_cmpuint (it, ==, (guint) params.deconv.iterations);
      else
        {
          g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_clear_error (&e);
        }
      g_assert_cmpuint (count_entries (scratch, NULL, TRUE), ==, 0);  /* staged frames removed */
      canceller_clear (&k);
    }
  iter_cancel_at = 0;
}

/* Weighting has no cancel points (milliseconds, no pixels): a cancel that arrives while
 * weighing must stop the accumulation that follows at once; re-weighing and accumulating
 * with a fresh cancellable works. */
static void
test_weighting (void)
{
  setup_session ();
  small_params ();
  ensure_analysis ();
  Canceller k;
  canceller_init (&k, 0);
  g_cancellable_cancel (k.cancellable);
  GError *e = NULL;
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh (shared_analysis, &params.tbqr, &e);
  g_assert_no_error (e);
  TsrReconstruction *r = tsr_tbqr_accumulate (shared_analysis, w, &params.tbqr, &params.run, progress_cb, &k, k.cancellable, &e);
  g_assert_null (r);
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
  g_assert_cmpuint (k.calls, <=, 1);
  canceller_clear (&k);
  total_points++;

  params.tbqr.global_k = 0.3;  /* the user moved a slider: weigh again, accumulate */
  g_autoptr (TsrWeights) w2 = tsr_tbqr_weigh (shared_analysis, &params.tbqr, &e);
  g_assert_no_error (e);
  canceller_init (&k, 0);
  r = tsr_tbqr_accumulate (shared_analysis, w2, &params.tbqr, &params.run, progress_cb, &k, k.cancellable, &e);
  g_assert_no_error (e);
  g_assert_nonnull (r);
  tsr_reconstruction_free (r);
  canceller_clear (&k);
}

/* Scan: no progress reports, so it is cancelled from another thread after increasing
 * delays; every outcome is a session or G_IO_ERROR_CANCELLED. */
typedef struct
{
  GCancellable *c;
  gulong delay_us;
} DelayedCancel;

static gpointer
cancel_later (gpointer data)
{
  DelayedCancel *d = data;
  if (d->delay_us)
    g_usleep (d->delay_us);
  g_cancellable_cancel (d->c);
  return NULL;
}

static void
test_scan (void)
{
  setup_session ();
  /* many small frames, so that the delays below land inside the scan */
  g_autofree char *many = g_build_filename (tmp, "many", NULL);
  g_mkdir_with_parents (many, 0755);
  float v[16 * 16] = { 0 };
  for (guint i = 0; i < 400; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%03u.fits", i);
      g_autofree char *p = g_build_filename (many, name, NULL);
      tsr_test_write_fits (p, -32, 16, 16, 1, v, NULL);
    }
  guint cancelled = 0, finished = 0;
  const char *paths[] = { many, NULL };
  for (gulong delay = 0; delay <= 12800; delay = delay ? delay * 2 : 50)
    for (int rep = 0; rep < 3; rep++)
      {
        DelayedCancel d = { g_cancellable_new (), delay };
        GThread *t = g_thread_new ("cancel", cancel_later, &d);
        GError *e = NULL;
        TsrSession *s = tsr_session_scan (paths, NULL, d.c, &e);
        g_thread_join (t);
        total_points++;
        if (s)
          {
            g_assert_cmpuint (tsr_session_n_frames (s), ==, 400);
            tsr_session_unref (s);
            finished++;
          }
        else
          {
            g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
            g_clear_error (&e);
            cancelled++;
          }
        g_object_unref (d.c);
      }
  /* cancelled before the start: always cancelled */
  GCancellable *c = g_cancellable_new ();
  g_cancellable_cancel (c);
  GError *e = NULL;
  g_assert_null (tsr_session_scan (paths, NULL, c, &e));
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
  g_object_unref (c);
  g_test_message ("scan: %u cancelled, %u finished first", cancelled, finished);
  g_assert_cmpuint (cancelled, >=, 1);
}

/* The frame cache (run.cache): frames in memory up to run.cache_memory_mb, the rest in an
 * unlinked file that exists only during the analysis' life; memory-only, file-only and
 * mixed caches all give the same reconstruction as reading the frames, and leave no file
 * or descriptor behind. */
static void
test_cache (void)
{
  setup_session ();
  small_params ();
  GError *e = NULL;
  TsrProject off = params;
  off.run.frame_cache = FALSE;
  TsrAnalysis *a0 = tsr_tbqr_analyse (session, &off.tbqr, &off.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_null (a0->cache);
  TsrWeights *w = tsr_tbqr_weigh (a0, &off.tbqr, &e);
  g_assert_no_error (e);
  TsrReconstruction *r0 = tsr_tbqr_accumulate (a0, w, &off.tbqr, &off.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  guint n_used = 0;
  for (guint f = 0; f < w->n_frames; f++)
    n_used += a0->reg->frames[f].registered;
  /* one cached frame: warped RGB (Bayer, demosaic-frames) or as read, plus its mask */
  gboolean rgb = a0->cfa != TSR_CFA_NONE && a0->channels == 1;
  double frame_mb = (double) a0->width * a0->height * ((rgb ? 3 : a0->channels) * sizeof (float) + 1) / (1024.0 * 1024.0);
  /* memory only (512 MiB), file only, memory for 2.5 frames with the rest in the file, and
   * (run.cache_disk_mb) memory for 2.5 frames with a file of 3.5 frames: the rest is read and
   * warped again, and the memory tier gives up what those frames in flight take beyond a
   * cached frame, for every worker (tsr-tbqr-memory.c; here more than 2.5 frames, so none stay
   * in memory); no file at all with run.cache_disk_mb = 0 */
  const double budgets[] = { 512.0, 0.0, 2.5 * frame_mb, 2.5 * frame_mb, 0.0 };
  const double disk[] = { params.run.cache_disk_mb, params.run.cache_disk_mb, params.run.cache_disk_mb,
                          3.5 * frame_mb, 0.0 };
  G_STATIC_ASSERT (G_N_ELEMENTS (budgets) == G_N_ELEMENTS (disk));
  for (guint b = 0; b < G_N_ELEMENTS (budgets); b++)
    {
      TsrProject pc = params;
      pc.run.cache_memory_mb = budgets[b];
      pc.run.cache_disk_mb = disk[b];
      guint fds = count_fds ();
      TsrAnalysis *a = tsr_tbqr_analyse (session, &pc.tbqr, &pc.run, NULL, NULL, NULL, &e);
      g_assert_no_error (e);
      g_assert_nonnull (a);
      guint in_mem = 0, in_file = 0;
      tsr_frame_cache_counts (a->cache, &in_mem, &in_file);
      g_test_message ("cache budget %.2f MiB, file %.2f MiB (frame %.2f MiB): %u frames in memory, %u in the file",
                      budgets[b], disk[b], frame_mb, in_mem, in_file);
      if (b == 4)
        {
          /* no memory tier and no file: no cache, no descriptor, nothing on disk */
          g_assert_null (a->cache);
          g_assert_cmpuint (in_file, ==, 0);
          if (fds != G_MAXUINT)
            g_assert_cmpuint (count_fds (), ==, fds);
        }
      else if (b == 3 && a->cache)
        {
          g_assert_cmpuint (in_mem, ==, 0);
          g_assert_cmpuint (in_file, ==, 3); /* 3.5 frames of file: 3 */
          g_assert_cmpuint (tsr_frame_cache_disk_budget (a->cache), <=, (guint64) (disk[b] * 1024 * 1024));
          g_assert_cmpuint (n_used, >, in_mem + in_file); /* the rest is not cached */
          if (fds != G_MAXUINT)
            g_assert_cmpuint (count_fds (), ==, fds + 1);
        }
      else if (!a->cache)
        g_test_message ("no frame cache (no space in %s?): comparing without", cache_tmp);
      else
        {
          g_assert_cmpuint (in_mem + in_file, ==, n_used);
          if (b == 0)
            g_assert_cmpuint (in_mem, ==, n_used); /* the small session fits in 512 MiB */
          if (b == 1)
            g_assert_cmpuint (in_mem, ==, 0);
          if (b == 2)
            g_assert_cmpuint (in_mem, ==, 2);
          /* a descriptor exactly while frames are in the file */
          if (fds != G_MAXUINT)
            g_assert_cmpuint (count_fds (), ==, fds + (in_file > 0 ? 1 : 0));
        }
      g_assert_cmpuint (count_cache_files (), ==, 0);
      TsrReconstruction *r1 = tsr_tbqr_accumulate (a, w, &pc.tbqr, &pc.run, NULL, NULL, NULL, &e);
      g_assert_no_error (e);
      gsize n = tsr_image_npix (r1->result) * r1->result->channels;
      double maxd = 0, maxv = 0;
      for (gsize k = 0; k < n; k++)
        {
          maxd = MAX (maxd, fabs (r1->result->data[k] - r0->result->data[k]));
          maxv = MAX (maxv, fabs (r0->result->data[k]));
        }
      g_test_message ("cache vs no cache: largest difference %.3g of %.3g", maxd, maxv);
      g_assert_cmpfloat (maxd, <=, 1e-4 * maxv);
      tsr_reconstruction_free (r1);
      tsr_analysis_unref (a);
      if (fds != G_MAXUINT)
        g_assert_cmpuint (count_fds (), ==, fds);
      g_assert_cmpuint (count_cache_files (), ==, 0);
    }
  tsr_reconstruction_free (r0);
  tsr_weights_unref (w);
  tsr_analysis_unref (a0);
}

static const Job jobs[] = {
  { "stack-mean", job_stack_mean, TRUE },
  { "stack-median", job_stack_median, TRUE },
  { "register", job_register, TRUE },
  { "write-registered", job_write_registered, FALSE },
  { "analyse", job_analyse, TRUE },
  { "accumulate", job_accumulate, TRUE },
  { "deconv", job_deconv, TRUE },
  { "synth", job_synth, TRUE },
};

int
main (int argc, char **argv)
{
  /* a temporary folder of our own for the frame cache, before anything reads TMPDIR */
  cache_tmp = g_strdup ("/var/tmp/tessera-test-cancel-XXXXXX");
  if (!g_mkdtemp (cache_tmp))
    g_error ("cannot create %s", cache_tmp);
  g_setenv ("TMPDIR", cache_tmp, TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cancel/scan", test_scan);
  g_test_add_func ("/cancel/cache", test_cache);
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cancel/points/%s", jobs[i].name);
      g_test_add_data_func (path, &jobs[i], run_cancel_points);
    }
  g_test_add_func ("/cancel/weighting", test_weighting);
  g_test_add_func ("/cancel/deconv-iterations", test_deconv_iterations);
  int r = g_test_run ();
  g_printerr ("# cancel: %u cancellation points exercised\n", total_points);
  g_clear_pointer (&shared_reg, tsr_registration_unref);
  g_clear_pointer (&shared_weights, tsr_weights_unref);
  g_clear_pointer (&shared_analysis, tsr_analysis_unref);
  g_clear_pointer (&session, tsr_session_unref);
  if (tmp)
    tsr_test_rmtree (tmp);
  g_free (session_dir);
  g_free (tmp);
  g_rmdir (cache_tmp);
  g_free (cache_tmp);
  return r;
}
