/* tsr-eta.c — time left for a whole run; see tsr-eta.h. */
#include "tsr-eta.h"

#include <glib/gi18n.h>
#include <string.h>

void
tsr_eta_init (TsrEta *e, const TsrEtaPhase *plan, guint n_plan, guint n_items)
{
  memset (e, 0, sizeof *e);
  e->plan = plan;
  e->n_plan = n_plan;
  e->cur = -1;
  e->max_total = n_items;
}

void
tsr_eta_set_finish (TsrEta *e, double units)
{
  e->finish_units = MAX (units, 0.0);
}

static int
plan_index (const TsrEta *e, const char *phase, gboolean *alias)
{
  for (guint i = 0; i < e->n_plan; i++)
    {
      *alias = FALSE;
      if (!strcmp (phase, e->plan[i].phase) || !strcmp (phase, _(e->plan[i].phase)))
        return (int) i;
      *alias = TRUE;
      if (e->plan[i].alias && (!strcmp (phase, e->plan[i].alias) || !strcmp (phase, _(e->plan[i].alias))))
        return (int) i;
    }
  return -1;
}

/* cost of one item of plan step i, reported (or, ahead of it, expected) by its alias or not */
static double
step_cost (const TsrEtaPhase *ph, gboolean alias)
{
  return alias && ph->alias_cost > 0 ? ph->alias_cost : ph->cost;
}

/* work of the first d of a step's n items: the first first_share of them at their own cost */
static double
step_units (const TsrEtaPhase *ph, gboolean alias, double d, double n)
{
  double c = step_cost (ph, alias);
  double s = ph->first_share;
  if (!(s > 0 && s < 1) || n <= 0)
    return c * d;
  double c1 = alias && ph->alias_cost > 0 ? ph->alias_first_cost : ph->first_cost;
  double c2 = MAX ((c - s * c1) / (1 - s), 0.0);
  double k = s * n;
  return c1 * MIN (d, k) + c2 * MAX (d - k, 0.0);
}

void
tsr_eta_update (TsrEta *e, const char *phase, guint done, guint total, gint64 now_us)
{
  gboolean alias = FALSE;
  int k = phase ? plan_index (e, phase, &alias) : -1;
  if (k < 0)
    return;
  if (e->cur < 0)
    e->t_first = now_us;
  if (k != e->cur)
    {
      /* the phases between the last and this one are over (or were skipped) */
      if (e->cur >= 0)
        e->units_before += step_units (&e->plan[e->cur], e->cur_alias, e->cur_total, e->cur_total);
      /* the setups of this step and of any skipped before it are done */
      for (int q = e->cur + 1; q <= k; q++)
        e->units_before += e->plan[q].setup;
      e->cur = k;
      e->n_marks = 0;
    }
  guint d = MIN (done, total);
  if (e->n_marks == 0 || d > e->marks[e->n_marks - 1].done)
    {
      if (e->n_marks == G_N_ELEMENTS (e->marks))
        {
          /* keep every other mark, the first and the span of the phase */
          guint m = 0;
          for (guint i = 0; i < e->n_marks; i += 2)
            e->marks[m++] = e->marks[i];
          e->n_marks = m;
        }
      e->marks[e->n_marks].t = now_us;
      e->marks[e->n_marks].done = d;
      e->marks[e->n_marks].units = step_units (&e->plan[k], alias, d, total);
      e->n_marks++;
    }
  e->cur_alias = alias;
  e->cur_done = MIN (done, total);
  e->cur_total = total;
  e->max_total = MAX (e->max_total, total);
  e->t_last = now_us;
}

static void
units (const TsrEta *e, double *done, double *all)
{
  *done = e->units_before;
  *all = e->units_before + e->finish_units;
  if (e->cur < 0)
    {
      for (guint i = 0; i < e->n_plan; i++)
        *all += e->plan[i].setup + step_units (&e->plan[i], e->plan[i].alias_expected, e->max_total, e->max_total);
      return;
    }
  const TsrEtaPhase *ph = &e->plan[e->cur];
  *done += step_units (ph, e->cur_alias, e->cur_done, e->cur_total);
  *all += step_units (ph, e->cur_alias, e->cur_total, e->cur_total);
  for (guint i = (guint) e->cur + 1; i < e->n_plan; i++)
    *all += e->plan[i].setup + step_units (&e->plan[i], e->plan[i].alias_expected, e->max_total, e->max_total);
}

double
tsr_eta_fraction (const TsrEta *e)
{
  double done, all;
  units (e, &done, &all);
  return all > 0 ? CLAMP (done / all, 0.0, 1.0) : 0.0;
}

double
tsr_eta_seconds_left (const TsrEta *e)
{
  double done, all;
  units (e, &done, &all);
  if (e->cur < 0 || all <= 0 || done < 0.02 * all || e->t_last <= e->t_first)
    return -1;
  double rate = (e->t_last - e->t_first) / 1e6 / done; /* seconds per unit, this run */
  /* the phase in progress, by its latest quarter of items (at least 8) */
  if (e->n_marks >= 2)
    {
      const guint last = e->n_marks - 1;
      guint span = e->marks[last].done - e->marks[0].done;
      guint want = MAX (8u, span / 4);
      guint i = last;
      while (i > 0 && e->marks[last].done - e->marks[i].done < want)
        i--;
      guint items = e->marks[last].done - e->marks[i].done;
      double secs = (e->marks[last].t - e->marks[i].t) / 1e6;
      double du = e->marks[last].units - e->marks[i].units;
      if (items >= 8 && secs >= 1.0 && du > 0)
        return secs / du * (all - done);
    }
  return rate * (all - done);
}

/* Relative costs per frame (bench: 200 × 1080×1920 Bayer, 2 workers, cache on: registering
 * 0.97 s per frame, rejection statistics 0.044, accumulating 0.088; the reference is chosen
 * from a handful of frames). Without the cache each pass reads, demosaics and warps again. */
/* Bayer drizzle (drizzle.mode) replaces the accumulation pass with one pass over the raw
 * frames, cache or not: 0.23 per frame on a quiet machine (200 × 1080×1920 Bayer, 66.8 s
 * registering, 15.4 s drizzling 198 frames; bench/run-scale.sh); 0.41–0.59 at a load of
 * 14–24 on 2 cores. */
#define DRIZZLE_COST 0.23
/* A frame the cache does not hold is read, demosaiced and warped again in both later passes
 * (drizzle's rejection test reads the warped frame). Two runs of 2,000 1080×1920 Bayer frames
 * with 31 % cached (bench/run-scale.sh, session 25, a shared 2-core machine) cost, per frame
 * of the pass, 0.38 and 0.23 of a registered frame in the rejection statistics and 0.88 and
 * 0.35 in drizzle — the load of other jobs moved between the phases; 200 frames with 36 %
 * cached (run.cache_disk_mb=1500): 0.40 and 0.86. Per uncached frame, the mean of the runs:
 * rejection statistics 0.45, drizzle 0.8. */
#define DRIZZLE_COST_UNCACHED 0.8
static const TsrEtaPhase plan_tbqr_cached[] = {
  { N_("Choosing reference"), 0.5, NULL, 0, FALSE },
  { N_("Registering"), 1.0, NULL, 0, FALSE },
  { N_("Rejection statistics"), 0.05, NULL, 0, FALSE },
  { N_("Accumulating"), 0.10, N_("Drizzling"), DRIZZLE_COST, FALSE }, /* drizzle: one pass instead of accumulating */
};
static const TsrEtaPhase plan_tbqr_uncached[] = {
  { N_("Choosing reference"), 0.5, NULL, 0, FALSE },
  { N_("Registering"), 1.0, NULL, 0, FALSE },
  { N_("Rejection statistics"), 0.45, NULL, 0, FALSE },
  { N_("Accumulating"), 0.50, N_("Drizzling"), DRIZZLE_COST_UNCACHED, FALSE },
};

/* A Bayer session, drizzled or demosaiced frame by frame, reads the raw frames in each later
 * pass and makes no frame cache (its rejection statistics come from the raw samples' 2 × 2
 * cells). Measured on the CLI's own CPU clock (user + system seconds at each progress report,
 * bench/run-scale.sh; session 29), which the other jobs of a shared machine move far less than
 * the wall clock that the earlier plans were measured on (there the same phase read 0.42 or
 * 0.80 of a registered frame as the load changed). Per frame, in registered frames (0.180 s of
 * CPU each), on 200 and 2,000 generated 1080×1920 Bayer frames drizzled, 200 and 60 demosaiced
 * (drizzle.mode=off): choosing the reference (a full star detection and fit of each candidate,
 * whose lists registration then reuses) 0.97 / 0.84 / 0.94 / 1.10; rejection statistics
 * 0.094 / 0.092 / 0.094 / 0.13; drizzling 0.65 / 0.67; accumulating (each frame normalised,
 * demosaiced and warped band by band, each band added at once) 0.81 / 0.92. */
#define ACCUMULATE_RAW_COST 0.82
/* Between the last candidate and the first registered frame the reference is chosen (the
 * candidates matched against each other) and its stars measured for the photometric scales:
 * 0.32 / 0.36 / 0.34 / 0.35 / 0.44 s of CPU in five runs, 1.9–2.6 registered frames. */
#define REFERENCE_SETUP 2.0
static const TsrEtaPhase plan_tbqr_raw[] = {
  { N_("Choosing reference"), 0.95, NULL, 0, FALSE },
  { N_("Registering"), 1.0, NULL, 0, FALSE, .setup = REFERENCE_SETUP },
  { N_("Rejection statistics"), 0.10, NULL, 0, FALSE },
  { N_("Accumulating"), ACCUMULATE_RAW_COST, N_("Drizzling"), 0.67, TRUE },
};

void
tsr_eta_plan_tbqr_raw (TsrEtaPhase plan[4], gboolean drizzle)
{
  G_STATIC_ASSERT (G_N_ELEMENTS (plan_tbqr_raw) == 4);
  memcpy (plan, plan_tbqr_raw, sizeof plan_tbqr_raw);
  plan[3].alias_expected = drizzle;
}

const TsrEtaPhase *
tsr_eta_plan_tbqr (gboolean frame_cache, guint *n_plan)
{
  *n_plan = G_N_ELEMENTS (plan_tbqr_cached);
  return frame_cache ? plan_tbqr_cached : plan_tbqr_uncached;
}

guint
tsr_eta_plan_tbqr_mixed (double cached_fraction, TsrEtaPhase plan[4])
{
  G_STATIC_ASSERT (G_N_ELEMENTS (plan_tbqr_cached) == 4);
  double f = CLAMP (cached_fraction, 0.0, 1.0);
  for (guint i = 0; i < 4; i++)
    {
      plan[i] = plan_tbqr_cached[i];
      plan[i].cost = f * plan_tbqr_cached[i].cost + (1 - f) * plan_tbqr_uncached[i].cost;
      plan[i].alias_cost = f * plan_tbqr_cached[i].alias_cost + (1 - f) * plan_tbqr_uncached[i].alias_cost;
      /* the cache holds the first frames of a pass (it is filled in registration order) */
      plan[i].first_share = f;
      plan[i].first_cost = plan_tbqr_cached[i].cost;
      plan[i].alias_first_cost = plan_tbqr_cached[i].alias_cost;
    }
  return 4;
}

void
tsr_eta_plan_tbqr_expect_drizzle (TsrEtaPhase plan[4], gboolean drizzle)
{
  plan[3].alias_expected = drizzle;
}
