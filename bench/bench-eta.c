/* bench-eta — replay a recorded `process` run through the time-left estimator (core/tsr-eta.c)
 * with the plan tessera-cli makes for the session now (tsr_tbqr_eta_plan, default parameters),
 * and print the shown time left against the true one at 5, 10, 25, 50, 75 and 90 % of the run.
 * The recording is what bench/scale-run.py captured: one progress report per line on stdin,
 * "SECONDS<TAB>PHASE<TAB>DONE<TAB>TOTAL", and the run's wall time as the second argument. The
 * clock may be any: bench/run-scale.sh also replays the run on the CLI's CPU seconds (rows
 * and total in CPU seconds), which a change in the machine's load does not move. KEY=VALUE
 * arguments set parameters as the run's --set did (the plan depends on drizzle.mode, run.*).
 *
 * Usage: bench-eta SESSION_DIR SECONDS [KEY=VALUE…] < rows.tsv */
#include "tessera.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  double t, shown;
} Row;

int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      fprintf (stderr, "usage: bench-eta SESSION_DIR SECONDS [KEY=VALUE…] < rows.tsv\n");
      return 2;
    }
  GError *error = NULL;
  const char *paths[] = { argv[1], NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &error);
  if (!s)
    {
      fprintf (stderr, "bench-eta: %s\n", error->message);
      return 1;
    }
  TsrProject pr;
  tsr_project_init (&pr);
  for (int i = 3; i < argc; i++)
    if (!tsr_project_set_assignment (&pr, argv[i], &error))
      {
        fprintf (stderr, "bench-eta: %s\n", error->message);
        return 1;
      }
  TsrEtaPhase plan[4];
  guint n_plan = tsr_tbqr_eta_plan (s, &pr.tbqr, &pr.run, plan);
  TsrEta e;
  tsr_eta_init (&e, plan, n_plan, tsr_session_n_frames (s));
  tsr_eta_set_finish (&e, TSR_ETA_TBQR_FINISH); /* as tessera-cli process */
  double T = atof (argv[2]);
  GArray *rows = g_array_new (FALSE, FALSE, sizeof (Row));
  char line[1024];
  while (fgets (line, sizeof line, stdin))
    {
      char **f = g_strsplit (g_strchomp (line), "\t", 4);
      if (g_strv_length (f) == 4)
        {
          double t = atof (f[0]);
          tsr_eta_update (&e, f[1], (guint) atoi (f[2]), (guint) atoi (f[3]), (gint64) (t * 1e6));
          Row r = { t, tsr_eta_seconds_left (&e) };
          g_array_append_val (rows, r);
        }
      g_strfreev (f);
    }
  printf ("plan: ");
  for (guint i = 0; i < n_plan; i++)
    printf ("%s %.3f%s  ", plan[i].phase, plan[i].alias_expected ? plan[i].alias_cost : plan[i].cost,
            plan[i].alias_expected ? " (drizzle)" : "");
  printf ("\n");
  const double fr[] = { 0.05, 0.10, 0.25, 0.50, 0.75, 0.90 };
  double worst = 0;
  for (guint k = 0; k < G_N_ELEMENTS (fr); k++)
    {
      const Row *last = NULL;
      for (guint i = 0; i < rows->len; i++)
        {
          const Row *r = &g_array_index (rows, Row, i);
          if (r->t <= fr[k] * T && r->shown >= 0)
            last = r;
        }
      if (!last)
        {
          printf ("%3.0f %%: no estimate shown yet\n", 100 * fr[k]);
          continue;
        }
      double truth = T - last->t, err = 100 * (last->shown - truth) / truth;
      worst = MAX (worst, fabs (err));
      printf ("%3.0f %%: shown %.0f s left, true %.0f s, error %+.0f %%\n", 100 * fr[k], last->shown, truth, err);
    }
  printf ("worst error after 5 %% of the run: %.0f %%\n", worst);
  g_array_unref (rows);
  return 0;
}
