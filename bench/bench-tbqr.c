/* bench-tbqr — peak memory of a TBQR run must not grow with the number of frames.
 * Usage: bench-tbqr N_FRAMES [WIDTH HEIGHT]  (prints peak RSS in MiB; run it for 50 and
 * for 200 frames — bench/run-memory.sh does both and prints the ratio). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "tessera.h"

int
main (int argc, char **argv)
{
  /* as tessera-cli runs (huge pages for malloc's heap; TESSERA_HUGEPAGES=0 to compare) */
  tsr_prefer_huge_pages (argv);
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 50;
  int w = argc > 3 ? atoi (argv[2]) : 1080, h = argc > 3 ? atoi (argv[3]) : 1920;
  const char *dir = g_getenv ("BENCH_DIR");
  GError *e = NULL;
  g_autofree char *path = g_strdup_printf ("%s/tbqr-%u", dir ? dir : "/tmp", n);
  g_autofree char *truth = g_build_filename (path, "truth.json", NULL);
  if (!g_file_test (truth, G_FILE_TEST_EXISTS))
    {
      TsrSynthParams p;
      tsr_synth_params_init (&p);
      p.n_frames = n;
      p.width = w;
      p.height = h;
      p.cfa = TSR_CFA_GRBG;
      p.n_stars = 2000;
      TsrSynthTruth *t = tsr_synth_write_session (&p, path, NULL, NULL, NULL, &e);
      if (!t)
        {
          fprintf (stderr, "bench-tbqr: %s\n", e->message);
          return 1;
        }
      tsr_synth_truth_free (t);
    }
  struct rusage ru0;
  getrusage (RUSAGE_SELF, &ru0);
  const char *paths[] = { path, NULL };
  TsrSession *s = tsr_session_scan (paths, NULL, NULL, &e);
  TsrProject prm;
  tsr_project_init (&prm);
  prm.tbqr.clusters = TSR_CLUSTER_OFF;
  gint64 t0 = g_get_monotonic_time ();
  TsrAnalysis *a = s ? tsr_tbqr_analyse (s, &prm.tbqr, &prm.run, NULL, NULL, NULL, &e) : NULL;
  gint64 t1 = g_get_monotonic_time ();
  TsrWeights *wt = a ? tsr_tbqr_weigh (a, &prm.tbqr, &e) : NULL;
  gint64 t2 = g_get_monotonic_time ();
  TsrReconstruction *r = wt ? tsr_tbqr_accumulate (a, wt, &prm.tbqr, &prm.run, NULL, NULL, NULL, &e) : NULL;
  gint64 t3 = g_get_monotonic_time ();
  if (!r)
    {
      fprintf (stderr, "bench-tbqr: %s\n", e ? e->message : "failed");
      return 1;
    }
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  printf ("frames %u %dx%d: analyse %.2f s, weigh %.1f ms, accumulate %.2f s, peak RSS %.1f MiB\n", n, w, h,
          (t1 - t0) / 1e6, (t2 - t1) / 1e3, (t3 - t2) / 1e6, ru.ru_maxrss / 1024.0);
  tsr_reconstruction_free (r);
  tsr_weights_unref (wt);
  tsr_analysis_unref (a);
  tsr_session_unref (s);
  return 0;
}
