/* tsr-eta.h — time left for a whole run, from the per-phase progress reports.
 *
 * A job reports phases one after another ("Registering" 1…N, "Accumulating" 1…N, …); the
 * time left of the current phase alone is not the time left of the run. A plan lists the
 * phases of a job in order with their cost per item relative to each other (measured); the
 * estimator converts every report into units of work done, measures seconds per unit on this
 * run and machine, and counts the phases still to come with the item count seen so far. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *phase;  /* the untranslated phase name the job reports (compared translated) */
  double cost;        /* cost of one item, relative to the plan's other phases */
  const char *alias;  /* another name the job may report for this step instead, or NULL */
  double alias_cost;  /* cost of one item when the job reports the alias (0: cost) */
  gboolean alias_expected; /* before the step begins, count it at alias_cost */
  /* Items of unequal cost, in order: the first first_share of them (0…1; 0 = all alike) cost
   * first_cost (alias_first_cost when reported by the alias) each, the rest what keeps the
   * mean at cost (alias_cost). A frame cache holds the first frames of a pass; the others
   * are read and warped again. */
  double first_share;
  double first_cost, alias_first_cost;
  /* Work at the step's start before its first item, reported by no item (registration: the
   * reference chosen among the candidates, its stars measured), in the plan's units. */
  double setup;
} TsrEtaPhase;

typedef struct
{
  const TsrEtaPhase *plan;
  guint n_plan;
  int cur;               /* plan index of the phase in progress, -1 before the first */
  gboolean cur_alias;    /* it was reported by its alias */
  guint cur_done, cur_total;
  guint max_total;       /* the largest item count seen: the phases to come are assumed to have it */
  double units_before;   /* work of the finished phases */
  gint64 t_first;        /* µs of the first report of a planned phase */
  gint64 t_last;
  /* the current phase's progress over time (thinned to every other mark when full): its
   * recent rate follows a machine whose load changes during a long run */
  struct { gint64 t; guint done; double units; } marks[64];
  guint n_marks;
  double finish_units;   /* work after the last planned item (tsr_eta_set_finish) */
} TsrEta;

/* n_items: the item count the phases are expected to have (the session's frames), 0 when not
 * known (then the largest count reported so far). */
void   tsr_eta_init (TsrEta *e, const TsrEtaPhase *plan, guint n_plan, guint n_items);
/* Work that follows the plan's last item, reported by no phase (a TBQR run's result image,
 * validation and writing), in the plan's units: counted in the time left until the end. */
void   tsr_eta_set_finish (TsrEta *e, double units);
/* A TBQR run's finish (the sums into the result and the mean stack, the validation's star
 * detections and apertures, the FITS written) in registered frames of 1080×1920: 0.6–1.7 s
 * after the last frame's report on 60 and 200 generated frames, 4 frames' worth at their
 * registering rate (bench/run-scale.sh, session 29). */
#define TSR_ETA_TBQR_FINISH 4.0

/* Feed a progress report made at time now_us (g_get_monotonic_time ()). Phases not in the
 * plan are ignored. */
void   tsr_eta_update (TsrEta *e, const char *phase, guint done, guint total, gint64 now_us);
/* Seconds left for the whole plan, or a negative number while there is too little to go by
 * (nothing planned seen yet, or under 2 % of the work done). Once the phase in progress has
 * done 8 items over a second or more, its own rate per unit of planned work over the latest
 * quarter of its items (at least 8) gives the time left — of this phase and of those to
 * come — so a phase that runs slower than planned, or a machine whose load changes, is
 * followed within a few items; before that, the rate of the whole run so far. */
double tsr_eta_seconds_left (const TsrEta *e);
/* Fraction of the planned work done, 0…1. */
double tsr_eta_fraction (const TsrEta *e);

/* The plan of a TBQR run (`process`, the window's Run): the relative costs measured on 200
 * generated 1080×1920 Bayer frames (docs/tbqr.md); with the frame cache off the two passes
 * read and warp every frame again. */
const TsrEtaPhase *tsr_eta_plan_tbqr (gboolean frame_cache, guint *n_plan);
/* The same plan when the frame cache holds only this fraction of the frames (run.cache_memory_mb
 * and run.cache_disk_mb bound it; the others are read and warped again in each pass): fills
 * plan[4] (the caller keeps it while the estimator uses it), returns 4. */
guint tsr_eta_plan_tbqr_mixed (double cached_fraction, TsrEtaPhase plan[4]);
/* Count the last step as Bayer drizzle (one pass over the raw frames, whatever the cache)
 * until it is reported as the one it is. */
void  tsr_eta_plan_tbqr_expect_drizzle (TsrEtaPhase plan[4], gboolean drizzle);
/* The plan of a Bayer session drizzled (drizzle: counted on until the last pass says
 * otherwise) or demosaiced frame by frame: no frame cache, every later pass reads the raw
 * frames (tsr_tbqr_raw_cells). */
void  tsr_eta_plan_tbqr_raw (TsrEtaPhase plan[4], gboolean drizzle);

G_END_DECLS
