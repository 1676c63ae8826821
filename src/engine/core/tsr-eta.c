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

static int
plan_index (const TsrEta *e, const char *phase)
{
  for (guint i = 0; i < e->n_plan; i++)
    if (!strcmp (phase, e->plan[i].phase) || !strcmp (phase, _(e->plan[i].phase))
        || (e->plan[i].alias && (!strcmp (phase, e->plan[i].alias) || !strcmp (phase, _(e->plan[i].alias)))))
      return (int) i;
  return -1;
}

void
tsr_eta_update (TsrEta *e, const char *phase, guint done, guint total, gint64 now_us)
{
  int k = phase ? plan_index (e, phase) : -1;
  if (k < 0)
    return;
  if (e->cur < 0)
    e->t_first = now_us;
  if (k != e->cur)
    {
      /* the phases between the last and this one are over (or were skipped) */
      if (e->cur >= 0)
        e->units_before += e->plan[e->cur].cost * e->cur_total;
      e->cur = k;
    }
  e->cur_done = MIN (done, total);
  e->cur_total = total;
  e->max_total = MAX (e->max_total, total);
  e->t_last = now_us;
}

static void
units (const TsrEta *e, double *done, double *all)
{
  *done = e->units_before;
  *all = e->units_before;
  if (e->cur < 0)
    {
      for (guint i = 0; i < e->n_plan; i++)
        *all += e->plan[i].cost * e->max_total;
      return;
    }
  *done += e->plan[e->cur].cost * e->cur_done;
  *all += e->plan[e->cur].cost * e->cur_total;
  for (guint i = (guint) e->cur + 1; i < e->n_plan; i++)
    *all += e->plan[i].cost * e->max_total;
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
  return rate * (all - done);
}

/* Relative costs per frame (bench: 200 × 1080×1920 Bayer, 2 workers, cache on: registering
 * 0.97 s per frame, rejection statistics 0.044, accumulating 0.088; the reference is chosen
 * from a handful of frames). Without the cache each pass reads, demosaics and warps again. */
static const TsrEtaPhase plan_tbqr_cached[] = {
  { N_("Choosing reference"), 0.5, NULL },
  { N_("Registering"), 1.0, NULL },
  { N_("Rejection statistics"), 0.05, NULL },
  { N_("Accumulating"), 0.10, N_("Drizzling") }, /* drizzle: one pass instead of accumulating */
};
static const TsrEtaPhase plan_tbqr_uncached[] = {
  { N_("Choosing reference"), 0.5, NULL },
  { N_("Registering"), 1.0, NULL },
  { N_("Rejection statistics"), 0.45, NULL },
  { N_("Accumulating"), 0.50, N_("Drizzling") },
};

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
    }
  return 4;
}
