/* bench-restore.c — deep-image-prior restoration: time to the held-out stop (staging,
 * training, inference), time per step, and peak memory, against the mean stack's cost.
 * The target: 40 frames of 1024×1024 in ≤ 10 minutes.
 *
 *   bench-restore [FRAMES [WIDTH HEIGHT [MAX_STEPS [CROP [PSF_REGIONS]]]]]   (default 40 1024 1024 2000 192 1)
 *   TSR_BENCH_SNAPSHOTS=2 bench-restore …                         (with the window's snapshots every 2 s)
 */
#include "tessera.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double
peak_rss_mib (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

static void
rmtree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  if (d)
    {
      const char *n;
      while ((n = g_dir_read_name (d)))
        {
          g_autofree char *p = g_build_filename (path, n, NULL);
          if (g_file_test (p, G_FILE_TEST_IS_DIR))
            rmtree (p);
          else
            g_unlink (p);
        }
      g_dir_close (d);
    }
  g_rmdir (path);
}

/* TSR_BENCH_SNAPSHOTS=S: the run with the window's snapshots every S seconds (each copied, as
 * the window copies it before rendering), to measure what they cost */
static void
snapshot_copy (const TsrRestoreSnapshot *sn, gpointer data)
{
  TsrImage *c = tsr_image_copy (sn->latent);
  tsr_image_unref (c);
}

int
main (int argc, char **argv)
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 40;
  int w = argc > 3 ? atoi (argv[2]) : 1024, h = argc > 3 ? atoi (argv[3]) : 1024;
  int steps = argc > 4 ? atoi (argv[4]) : 2000;
  int crop = argc > 5 ? atoi (argv[5]) : 192;
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = n;
  sp.width = w;
  sp.height = h;
  sp.n_mirrored = 0;
  sp.n_noise = 0;
  g_autofree char *dir = g_dir_make_tmp ("bench-restore-XXXXXX", NULL);
  GError *e = NULL;
  gint64 tg = g_get_monotonic_time ();
  g_autoptr (TsrSynthTruth) t = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &e);
  if (!t)
    {
      fprintf (stderr, "bench-restore: %s\n", e->message);
      return 1;
    }
  double gen = (g_get_monotonic_time () - tg) / 1e6;
  const char *paths[] = { dir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  double rss0 = peak_rss_mib ();
  TsrProject p;
  tsr_project_init (&p);
  p.restore.max_steps = steps;
  p.restore.min_steps = MIN (p.restore.min_steps, steps);
  p.restore.crop = crop;
  if (argc > 6)   /* restore.psf_regions (docs/restore.md round 11: the cost of the PSF cells) */
    p.restore.psf_regions = atoi (argv[6]);
  if (argc > 7)   /* restore.subpixel (docs/restore.md round 13: the cost of the phases) */
    p.restore.subpixel = atoi (argv[7]);
  p.restore.gain = sp.gain;
  p.restore.memory_mb = 4096;
  p.run.memory_budget_mb = 4096;
  gint64 t0 = g_get_monotonic_time ();
  const char *snap = g_getenv ("TSR_BENCH_SNAPSHOTS");
  TsrRestoreResult *r = tsr_restore_run_full (s, &p.restore, &p.tbqr, &p.run, snap ? snapshot_copy : NULL, NULL,
                                              snap ? g_ascii_strtod (snap, NULL) : 0, NULL, NULL, NULL, &e);
  double total = (g_get_monotonic_time () - t0) / 1e6;
  if (!r)
    {
      fprintf (stderr, "bench-restore: %s\n", e->message);
      rmtree (dir);
      return 1;
    }
  double rss = peak_rss_mib ();
  printf ("session: %u frames %d×%d (generated in %.1f s), crop %d×%d, %u parameters, PSF radius %d\n", r->n_frames, w,
          h, gen, r->crop_w, r->crop_h, r->n_params, r->psf_radius);
  printf ("time to the stop: %.1f s = staging %.1f s + training %.1f s (%u steps, stop: %s at step %u; %.1f ms/step) "
          "+ inference %.1f s; target 600 s for 40×1024²\n",
          total, r->seconds_stage, r->seconds_train, r->steps, r->stop, r->best_step,
          r->steps ? 1e3 * r->seconds_train / r->steps : 0, r->seconds_infer);
  if (snap)
    printf ("snapshots every %s s: %u, costing %.2f s of the %.1f s training (%.1f %%)\n", snap, r->n_snapshots,
            r->seconds_snapshot, r->seconds_train, 100 * r->seconds_snapshot / MAX (r->seconds_train, 1e-9));
  printf ("peak RSS %.1f MiB (before the run %.1f MiB); planner estimate %.1f MiB\n", rss, rss0,
          r->memory_estimate / 1048576.0);
  tsr_restore_result_free (r);
  rmtree (dir);
  return 0;
}
