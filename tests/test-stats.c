/* test-stats.c — robust statistics: the median selection against a sort. */
#include "tsr-test-util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* The median by the definition: the middle of the sorted values, or the mean (in double,
 * rounded to float) of the two middle ones for an even count. */
static float
median_by_sort (const float *v, gsize n)
{
  float *s = g_memdup2 (v, n * sizeof (float));
  qsort (s, n, sizeof (float), cmp_float);
  float r = n % 2 ? s[n / 2] : (float) (0.5 * ((double) s[n / 2 - 1] + (double) s[n / 2]));
  g_free (s);
  return r;
}

typedef enum
{
  DATA_UNIFORM,      /* continuous, all distinct (almost surely) */
  DATA_GAUSS,        /* a background level with noise and a few bright outliers */
  DATA_INTEGER,      /* integer ADU: many ties */
  DATA_FEW,          /* two or three distinct values */
  DATA_CONSTANT,     /* all equal */
  DATA_SORTED,       /* ascending, with runs of duplicates */
  DATA_REVERSED,     /* descending */
  DATA_SAWTOOTH,     /* a short period (aliases with a regular sample) */
  DATA_HALF_HALF,    /* two values, split at the middle (the band edge at the median) */
  N_DATA
} DataKind;

static void
fill (float *v, gsize n, DataKind kind, GRand *r)
{
  for (gsize i = 0; i < n; i++)
    switch (kind)
      {
      case DATA_UNIFORM:
        v[i] = (float) g_rand_double_range (r, -1000, 1000);
        break;
      case DATA_GAUSS:
        {
          double g = 0;
          for (int j = 0; j < 4; j++)
            g += g_rand_double (r) - 0.5;
          v[i] = (float) (1200.0 + 20.0 * g + (g_rand_int_range (r, 0, 50) == 0 ? 5000 * g_rand_double (r) : 0));
        }
        break;
      case DATA_INTEGER:
        v[i] = (float) g_rand_int_range (r, 990, 1010 + (gint32) (n % 37));
        break;
      case DATA_FEW:
        v[i] = (float) g_rand_int_range (r, 0, 2 + (gint32) (n % 2));
        break;
      case DATA_CONSTANT:
        v[i] = 3.25f;
        break;
      case DATA_SORTED:
        v[i] = (float) (i / 3);
        break;
      case DATA_REVERSED:
        v[i] = (float) (n - i) * 0.5f;
        break;
      case DATA_SAWTOOTH:
        v[i] = (float) (i % 7) + (float) (i % 3) * 0.125f;
        break;
      case DATA_HALF_HALF:
        v[i] = i % 2 ? 1.0f : (i < n / 2 + 1 ? 1.0f : 2.0f);
        break;
      default:
        g_assert_not_reached ();
      }
}

/* Every size from 1 to 600 and a spread of sizes up to 5000, every kind of data:
 * tsr_median_inplace equals the sorted median exactly, and leaves a permutation of the
 * input (tsr_mad_inplace relies on it). */
static void
test_median_vs_sort (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (20240611);
  const gsize max_n = 5000;
  float *v = g_new (float, max_n), *w = g_new (float, max_n);
  float *a = g_new (float, max_n), *b = g_new (float, max_n);
  guint cases = 0;
  for (gsize n = 1; n <= max_n; n += n < 600 ? 1 : g_rand_int_range (r, 1, 40))
    for (int kind = 0; kind < N_DATA; kind++)
      {
        fill (v, n, kind, r);
        /* shuffle (the sorted and periodic kinds keep their order half of the time) */
        if (kind == DATA_UNIFORM || kind == DATA_GAUSS || kind == DATA_INTEGER || g_rand_boolean (r))
          for (gsize i = n; i > 1; i--)
            {
              gsize j = g_rand_int_range (r, 0, (gint32) i);
              float t = v[i - 1];
              v[i - 1] = v[j];
              v[j] = t;
            }
        memcpy (w, v, n * sizeof (float));
        float want = median_by_sort (v, n);
        float got = tsr_median_inplace (w, n);
        if (memcmp (&got, &want, sizeof got) != 0)
          g_error ("n = %zu, kind %d: median %.9g, sort gives %.9g", n, kind, got, want);
        memcpy (a, v, n * sizeof (float));
        memcpy (b, w, n * sizeof (float));
        qsort (a, n, sizeof (float), cmp_float);
        qsort (b, n, sizeof (float), cmp_float);
        g_assert_cmpmem (a, n * sizeof (float), b, n * sizeof (float));
        cases++;
      }
  g_test_message ("%u arrays", cases);
  g_free (v);
  g_free (w);
  g_free (a);
  g_free (b);
}

/* tsr_select_inplace: the value a sort puts at index k, for ranks across the array (both
 * ends, the quantiles the starless check reads) and every data kind, on arrays large enough for
 * the sampled band of the selection; v stays a permutation. */
static void
test_select_vs_sort (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (20261206);
  /* (16/17: the insertion sort's edge; 250, 320, 321: a tile median, the band pass's edge) */
  const gsize sizes[] = { 1, 2, 7, 16, 17, 100, 250, 320, 321, 1000, 4099, 130000 };
  guint cases = 0;
  for (guint si = 0; si < G_N_ELEMENTS (sizes); si++)
    for (int kind = 0; kind < N_DATA; kind++)
      {
        gsize n = sizes[si];
        float *v = g_new (float, n), *sorted = g_new (float, n), *w = g_new (float, n);
        fill (v, n, kind, r);
        memcpy (sorted, v, n * sizeof (float));
        qsort (sorted, n, sizeof (float), cmp_float);
        const double q[] = { 0.0, 0.05, 0.5, 0.995, 1.0 };
        for (guint qi = 0; qi < G_N_ELEMENTS (q); qi++)
          {
            gsize k = (gsize) (q[qi] * (n - 1));
            memcpy (w, v, n * sizeof (float));
            float got = tsr_select_inplace (w, n, k);
            if (memcmp (&got, &sorted[k], sizeof got) != 0)
              g_error ("n = %zu, kind %d, k = %zu: %.9g, sort gives %.9g", n, kind, k, got, sorted[k]);
            qsort (w, n, sizeof (float), cmp_float);
            g_assert_cmpmem (w, n * sizeof (float), sorted, n * sizeof (float));
            cases++;
          }
        g_free (v);
        g_free (sorted);
        g_free (w);
      }
  g_test_message ("%u selections", cases);
}

/* The lower middle of an even count just below the band the selection narrows to: the
 * values below the median sit where the selection's regular sample does not look (the
 * positions are those of tsr-stats.c: (2i + 1)·n / 2s with s = ½ n^⅔), so the sample
 * sees only the upper half and its lower bracket is the upper middle itself. */
static void
test_median_band_edge (void)
{
  for (int all_equal = 0; all_equal < 2; all_equal++)
    for (gsize n = 1000; n <= 20000; n += 998)
      {
        gsize s = CLAMP ((gsize) (0.5 * pow ((double) n, 2.0 / 3.0)), 64, 1024);
        gboolean *sampled = g_new0 (gboolean, n);
        for (gsize i = 0; i < s; i++)
          sampled[(2 * i + 1) * n / (2 * s)] = TRUE;
        float *v = g_new (float, n);
        gsize k = n / 2, nlow = 0, nhigh = 0;
        /* sampled positions first take upper-half values: 60 % equal to 500, then rising */
        for (gsize i = 0; i < n; i++)
          if (sampled[i])
            {
              v[i] = all_equal || nhigh < s * 6 / 10 ? 500.0f : 500.0f + nhigh;
              nhigh++;
            }
        for (gsize i = 0; i < n; i++)
          if (!sampled[i])
            {
              if (nlow < k)
                v[i] = (float) nlow++ * 0.25f;
              else
                v[i] = all_equal ? 500.0f : 600.0f + nhigh++;
            }
        float want = median_by_sort (v, n);
        float got = tsr_median_inplace (v, n);
        g_assert_cmpfloat (got, ==, want);
        g_free (v);
        g_free (sampled);
      }
}

/* Large inputs (the frame noise estimate selects among up to 2^17 differences). */
static void
test_median_large (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (7);
  const gsize sizes[] = { 65536, 131072, 131073, 200001 };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (int kind = 0; kind < N_DATA; kind++)
      {
        gsize n = sizes[s];
        float *v = g_new (float, n);
        fill (v, n, kind, r);
        float want = median_by_sort (v, n);
        float got = tsr_median_inplace (v, n);
        if (memcmp (&got, &want, sizeof got) != 0)
          g_error ("n = %zu, kind %d: median %.9g, sort gives %.9g", n, kind, got, want);
        g_free (v);
      }
}

/* The MAD (a median of |v − med| after a median of v) matches the definition. */
static void
test_mad (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (99);
  for (gsize n = 1; n <= 3000; n += g_rand_int_range (r, 1, 60))
    for (int kind = 0; kind < N_DATA; kind++)
      {
        float *v = g_new (float, n), *d = g_new (float, n);
        fill (v, n, kind, r);
        float med = median_by_sort (v, n);
        for (gsize i = 0; i < n; i++)
          d[i] = fabsf (v[i] - med);
        float want = median_by_sort (d, n);
        float m2 = tsr_median_inplace (v, n);
        g_assert_cmpfloat (m2, ==, med);
        float got = tsr_mad_inplace (v, n, m2);
        g_assert_cmpfloat (got, ==, want);
        g_free (v);
        g_free (d);
      }
}

/* tsr-eta: the time left of a whole run from per-phase reports (issue #19). A run whose
 * phases cost what the plan says gets the exact time left from 2 % of the work on, including
 * the phases still to come (a per-phase estimate would say ~0 s at the end of the first);
 * phases the plan does not know are ignored; a run 30 % slower than planned in its later
 * phases is off by no more than that share. */
static void
test_eta (void)
{
  static const TsrEtaPhase plan[] = { { "A", 1.0, NULL, 0, FALSE }, { "B", 0.25, NULL, 0, FALSE }, { "C", 0.5, NULL, 0, FALSE } };
  const guint n = 200;
  const double sec_per_unit = 0.8;
  for (int slow = 0; slow < 2; slow++)
    {
      TsrEta e;
      tsr_eta_init (&e, plan, 3, n);
      g_assert_cmpfloat (tsr_eta_seconds_left (&e), <, 0);
      double total_units = n * (1.0 + 0.25 + 0.5);
      double t = 0, worst = 0;
      tsr_eta_update (&e, "not planned", 3, 10, 5);
      for (int ph = 0; ph < 3; ph++)
        for (guint d = 0; d <= n; d++)
          {
            double factor = slow && ph > 0 ? 1.3 : 1.0;
            if (d > 0)
              t += plan[ph].cost * sec_per_unit * factor;
            tsr_eta_update (&e, plan[ph].phase, d, n, (gint64) (t * 1e6) + 1);
            double done_units = (ph == 0 ? 0 : n) + (ph == 2 ? 0.25 * n : 0) + plan[ph].cost * d;
            if (done_units < 0.02 * total_units)
              continue;
            /* true time left */
            double left = 0;
            for (int q = ph; q < 3; q++)
              left += plan[q].cost * sec_per_unit * (slow && q > 0 ? 1.3 : 1.0) * (q == ph ? n - d : n);
            double shown = tsr_eta_seconds_left (&e);
            g_assert_cmpfloat (shown, >=, 0);
            g_assert_cmpfloat_with_epsilon (tsr_eta_fraction (&e), done_units / total_units, 1e-9);
            if (left > 1)
              worst = MAX (worst, fabs (shown - left) / left);
            /* phase B runs 1.3× slower than planned: once 8 of its items are done, B and C
             * are estimated at its own rate */
            if (slow && ph > 0 && d >= 8 && left > 1)
              g_assert_cmpfloat (fabs (shown - left) / left, <, 1e-6);
          }
      if (!slow)
        g_assert_cmpfloat (worst, <, 1e-6);
      else
        g_assert_cmpfloat (worst, <, 0.3);
    }

  /* The machine's load doubles halfway through the long first phase (other jobs start): the
   * time left follows the new rate within a sixth of the phase — the estimate is taken from
   * the latest quarter of the phase's items — where the rate of the whole run so far would
   * still be 25 % short at the end of the phase; the phases to come are counted at the new
   * rate as well. */
  {
    TsrEta e;
    tsr_eta_init (&e, plan, 3, n);
    double t = 0, worst_late = 0, worst_b = 0;
    double per_item[3] = { sec_per_unit * plan[0].cost, 2 * sec_per_unit * plan[1].cost, 2 * sec_per_unit * plan[2].cost };
    for (int ph = 0; ph < 3; ph++)
      for (guint d = 0; d <= n; d++)
        {
          if (d > 0)
            t += ph == 0 && d <= n / 2 ? per_item[0] : ph == 0 ? 2 * per_item[0] : per_item[ph];
          tsr_eta_update (&e, plan[ph].phase, d, n, (gint64) (t * 1e6) + 1);
          double left = 0;
          for (int q = ph; q < 3; q++)
            {
              guint rest = q == ph ? n - d : n;
              left += q == 0 ? 2 * per_item[0] * MIN (rest, n / 2) + per_item[0] * (rest > n / 2 ? rest - n / 2 : 0)
                             : per_item[q] * rest;
            }
          double shown = tsr_eta_seconds_left (&e);
          if (ph == 0 && d >= n / 2 + n / 6 && left > 1)
            worst_late = MAX (worst_late, fabs (shown - left) / left);
          if (ph > 0 && d >= 8 && left > 1)
            worst_b = MAX (worst_b, fabs (shown - left) / left);
        }
    g_test_message ("load doubles halfway: worst error %.3f from a sixth of the phase after; phases B, C: %.2g",
                    worst_late, worst_b);
    g_assert_cmpfloat (worst_late, <, 0.05);
    g_assert_cmpfloat (worst_b, <, 1e-6);
  }
}

/* The work after the last item (a TBQR run's result, validation, writing: tsr_eta_set_finish)
 * is in the time left from the start: a run that follows its plan and then spends the
 * finish's planned time is estimated exactly at every report, the last one included (without
 * the finish the last reports say ~0 s while the finish is still to come). */
static void
test_eta_finish (void)
{
  static const TsrEtaPhase plan[] = { { "A", 1.0, NULL, 0, FALSE }, { "B", 0.5, NULL, 0, FALSE } };
  const guint n = 60;
  const double sec_per_unit = 0.3, finish = TSR_ETA_TBQR_FINISH;
  for (int with = 0; with < 2; with++)
    {
      TsrEta e;
      tsr_eta_init (&e, plan, 2, n);
      if (with)
        tsr_eta_set_finish (&e, finish);
      double t = 0, worst = 0, last_shown = -1, last_left = 0;
      for (int ph = 0; ph < 2; ph++)
        for (guint d = 0; d <= n; d++)
          {
            if (d > 0)
              t += plan[ph].cost * sec_per_unit;
            tsr_eta_update (&e, plan[ph].phase, d, n, (gint64) (t * 1e6) + 1);
            double left = finish * sec_per_unit;
            for (int q = ph; q < 2; q++)
              left += plan[q].cost * sec_per_unit * (q == ph ? n - d : n);
            double shown = tsr_eta_seconds_left (&e);
            if (shown < 0)
              continue;
            worst = MAX (worst, fabs (shown - left) / left);
            last_shown = shown, last_left = left;
          }
      if (with)
        {
          /* (the reports' times are whole microseconds) */
          g_assert_cmpfloat (worst, <, 1e-4);
          g_assert_cmpfloat_with_epsilon (last_shown, finish * sec_per_unit, 1e-4);
          g_assert_cmpfloat (tsr_eta_fraction (&e), <, 1.0);
        }
      else
        /* the plan without the finish: the last report says nothing is left */
        g_assert_cmpfloat (last_shown, <, 0.01 * last_left);
    }
}

/* A step's setup (registration: the reference chosen and measured before the first frame is
 * reported) is work in the plan: a run that spends it between the last item of one step and
 * the first of the next is estimated exactly at every report, where without it the whole-run
 * rate after the setup is too high by the setup's share. */
static void
test_eta_setup (void)
{
  static const TsrEtaPhase plan[] = { { "A", 1.0, NULL, 0, FALSE }, { "B", 1.0, NULL, 0, FALSE, .setup = 2.0 },
                                      { "C", 0.5, NULL, 0, FALSE } };
  static const TsrEtaPhase plain[] = { { "A", 1.0, NULL, 0, FALSE }, { "B", 1.0, NULL, 0, FALSE },
                                       { "C", 0.5, NULL, 0, FALSE } };
  const guint n = 7, m = 200;   /* A: a few candidates; B, C: the session */
  const double spu = 0.2;
  double worst[2] = { 0, 0 };
  for (int k = 0; k < 2; k++)
    {
      TsrEta e;
      tsr_eta_init (&e, k ? plain : plan, 3, m);
      double t = 0;
      for (int ph = 0; ph < 3; ph++)
        {
          guint tot = ph == 0 ? n : m;
          if (ph == 1)
            t += 2.0 * spu;   /* the setup, both runs alike */
          for (guint d = 0; d <= tot; d++)
            {
              if (d > 0)
                t += plan[ph].cost * spu;
              tsr_eta_update (&e, plan[ph].phase, d, tot, (gint64) (t * 1e6) + 1);
              double left = 0;
              for (int q = ph; q < 3; q++)
                left += plan[q].cost * spu * (q == ph ? tot - d : m) + (q > ph ? plan[q].setup * spu : 0);
              double shown = tsr_eta_seconds_left (&e);
              /* the whole-run rate's reports (before the step's own rate takes over) */
              if (shown >= 0 && left > 1 && ph == 1 && d < 8)
                worst[k] = MAX (worst[k], fabs (shown - left) / left);
            }
        }
    }
  g_test_message ("first registered frames: worst error %.4f with the setup in the plan, %.3f without",
                  worst[0], worst[1]);
  g_assert_cmpfloat (worst[0], <, 1e-4);
  g_assert_cmpfloat (worst[1], >, 0.05);
}

/* A frame cache that holds only part of the session (run.cache_disk_mb): the accumulate
 * passes cost the cached share at the cached rate and the rest at the uncached one, so the
 * time left of a run whose cache holds a fraction f follows the mix, not either plan. */
static void
test_eta_partial_cache (void)
{
  guint n;
  const TsrEtaPhase *cached = tsr_eta_plan_tbqr (TRUE, &n);
  const TsrEtaPhase *uncached = tsr_eta_plan_tbqr (FALSE, &n);
  TsrEtaPhase plan[4];
  g_assert_cmpuint (tsr_eta_plan_tbqr_mixed (1.0, plan), ==, 4);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpfloat (plan[i].cost, ==, cached[i].cost);
  tsr_eta_plan_tbqr_mixed (0.0, plan);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpfloat (plan[i].cost, ==, uncached[i].cost);
  /* 2000 frames, 600 of them cached: a run that follows that mix is estimated exactly */
  double f = 0.3;
  tsr_eta_plan_tbqr_mixed (f, plan);
  g_assert_cmpfloat (plan[3].cost, >, cached[3].cost);
  g_assert_cmpfloat (plan[3].cost, <, uncached[3].cost);
  const guint N = 2000;
  double unit_s = 0.01; /* seconds per unit of plan cost */
  double per[4];
  for (guint i = 0; i < 4; i++)
    per[i] = (i == 0 ? 0 : 1) * (f * cached[i].cost + (1 - f) * uncached[i].cost) * unit_s;
  double total = (per[1] + per[2] + per[3]) * N;
  TsrEta e;
  tsr_eta_init (&e, plan, 4, N);
  /* at 5 % of the run (registering frame 115 of 2000) */
  double t = 0;
  guint k = 0;
  for (; t + per[1] <= 0.05 * total + 1e-9; k++)
    t += per[1];
  tsr_eta_update (&e, plan[1].phase, 0, N, 0);
  tsr_eta_update (&e, plan[1].phase, k, N, (gint64) (t * 1e6));
  double left = tsr_eta_seconds_left (&e);
  g_test_message ("partial cache %.0f %%: shown %.2f s left, true %.2f s", 100 * f, left, total - t);
  g_assert_cmpfloat (fabs (left - (total - t)), <, 0.01 * (total - t));
  /* the all-cached plan would be far short of it */
  TsrEta e2;
  tsr_eta_init (&e2, cached, 4, N);
  tsr_eta_update (&e2, plan[1].phase, 0, N, 0);
  tsr_eta_update (&e2, plan[1].phase, k, N, (gint64) (t * 1e6));
  g_assert_cmpfloat (tsr_eta_seconds_left (&e2), <, 0.8 * (total - t));

  /* Within a pass the cached frames come first and cost less than those read again: a run
   * that follows the plan item by item is estimated exactly at every item, also while its
   * recent rate is that of the cheap cached frames (the per-unit rate is taken over planned
   * work, not items); counted as items of one mean cost the same run is 89 % short there. */
  {
    TsrEtaPhase sp[4];
    tsr_eta_plan_tbqr_mixed (f, sp);
    g_assert_cmpfloat (sp[2].first_share, ==, f);
    TsrEtaPhase flat[4];
    memcpy (flat, sp, sizeof flat);
    for (guint i = 0; i < 4; i++)
      flat[i].first_share = 0;
    const guint M = 400;
    double item_s[4][2];
    for (guint i = 1; i < 4; i++)
      {
        double c2 = (sp[i].cost - f * sp[i].first_cost) / (1 - f);
        item_s[i][0] = sp[i].first_cost * unit_s * 100;
        item_s[i][1] = c2 * unit_s * 100;
      }
    double total_s = 0;
    for (guint i = 1; i < 4; i++)
      total_s += (f * M) * item_s[i][0] + (M - f * M) * item_s[i][1];
    TsrEta es, ef;
    tsr_eta_init (&es, sp, 4, M);
    tsr_eta_init (&ef, flat, 4, M);
    double ts = 0, worst_split = 0, flat_err_cached = 0;
    for (guint i = 1; i < 4; i++)
      for (guint d = 0; d <= M; d++)
        {
          if (d > 0)
            ts += d <= f * M ? item_s[i][0] : item_s[i][1];
          tsr_eta_update (&es, sp[i].phase, d, M, (gint64) llround (ts * 1e6));
          tsr_eta_update (&ef, flat[i].phase, d, M, (gint64) llround (ts * 1e6));
          double truth = total_s - ts;
          double a = tsr_eta_seconds_left (&es), b = tsr_eta_seconds_left (&ef);
          if (truth > 1 && a >= 0)
            worst_split = MAX (worst_split, fabs (a - truth) / truth);
          if (i == 2 && d == (guint) (f * M) && b >= 0)
            flat_err_cached = (b - truth) / truth;
        }
    g_test_message ("two-cost passes: worst %.2g; one mean cost at the end of the cached frames: %+.2f",
                    worst_split, flat_err_cached);
    g_assert_cmpfloat (worst_split, <, 1e-3);
    g_assert_cmpfloat (flat_err_cached, <, -0.2);
  }

  /* Bayer drizzle replaces the accumulation with one pass over the raw frames at its own
   * cost, cache or not: expected, it is counted at that cost before it begins; reported
   * under its name, it is counted so even when it was not expected */
  TsrEtaPhase dz[4];
  /* a frame the cache does not hold is demosaiced and warped again for drizzle's rejection
   * test: drizzling costs more the fewer frames are cached */
  tsr_eta_plan_tbqr_mixed (0.3, dz);
  g_assert_cmpfloat (dz[3].alias_cost, >, plan[3].alias_cost - 1e-12);
  g_assert_cmpfloat (dz[3].alias_cost, <, uncached[3].alias_cost);
  g_assert_cmpfloat (dz[3].alias_cost, >, cached[3].alias_cost);
  tsr_eta_plan_tbqr_mixed (1.0, dz);
  g_assert_cmpfloat (dz[3].alias_cost, >, 2 * dz[3].cost);
  for (int expect = 0; expect <= 1; expect++)
    {
      tsr_eta_plan_tbqr_expect_drizzle (dz, expect);
      /* registering done at 1 s per frame, then drizzling half of the frames at its cost */
      TsrEta d;
      tsr_eta_init (&d, dz, 4, 100);
      tsr_eta_update (&d, dz[1].phase, 0, 100, 0);
      tsr_eta_update (&d, dz[1].phase, 100, 100, 100000000);
      double at_reg = tsr_eta_seconds_left (&d);
      double want = 100 * dz[2].cost + 100 * (expect ? dz[3].alias_cost : dz[3].cost);
      g_test_message ("drizzle %s: %.1f s left after registering (plan %.1f)", expect ? "expected" : "not expected",
                      at_reg, want);
      g_assert_cmpfloat (fabs (at_reg - want), <, 0.01 * want);
      double t_rej = 100 + 100 * dz[2].cost;
      tsr_eta_update (&d, dz[2].phase, 100, 100, (gint64) (t_rej * 1e6));
      tsr_eta_update (&d, "Drizzling", 0, 100, (gint64) (t_rej * 1e6));
      tsr_eta_update (&d, "Drizzling", 50, 100, (gint64) ((t_rej + 50 * dz[3].alias_cost) * 1e6));
      double left = tsr_eta_seconds_left (&d);
      g_assert_cmpfloat (fabs (left - 50 * dz[3].alias_cost), <, 0.01 * 50 * dz[3].alias_cost);
    }
}

static void
test_median_vs_sort_portable (void)
{
  tsr_stats_vector_select (FALSE);
  test_median_vs_sort ();
  tsr_stats_vector_select (TRUE);
}

static void
test_select_vs_sort_portable (void)
{
  tsr_stats_vector_select (FALSE);
  test_select_vs_sort ();
  tsr_stats_vector_select (TRUE);
}

static void
test_median_band_edge_portable (void)
{
  tsr_stats_vector_select (FALSE);
  test_median_band_edge ();
  tsr_stats_vector_select (TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/eta/whole-run", test_eta);
  g_test_add_func ("/eta/finish", test_eta_finish);
  g_test_add_func ("/eta/setup", test_eta_setup);
  g_test_add_func ("/eta/partial-cache", test_eta_partial_cache);
  g_test_add_func ("/stats/median/vs-sort", test_median_vs_sort);
  g_test_add_func ("/stats/select/vs-sort", test_select_vs_sort);
  g_test_add_func ("/stats/median/large", test_median_large);
  g_test_add_func ("/stats/median/band-edge", test_median_band_edge);
  g_test_add_func ("/stats/mad", test_mad);
  /* the same comparisons through the portable selection (the default takes the AVX2 form on
   * processors that have it) */
  g_test_add_func ("/stats/median/vs-sort-portable", test_median_vs_sort_portable);
  g_test_add_func ("/stats/select/vs-sort-portable", test_select_vs_sort_portable);
  g_test_add_func ("/stats/median/band-edge-portable", test_median_band_edge_portable);
  return g_test_run ();
}
