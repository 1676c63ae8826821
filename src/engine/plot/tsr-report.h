/* tsr-report.h — the report folder of a TBQR run: HTML + PNG figures (the method paper's
 * figures), drawn by the same code the window uses (tsr-plot). */
#pragma once
#include "tsr-tbqr.h"
#include "tsr-plot.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_FIG_FWHM = 0,      /* FWHM over time, gated frames marked */
  TSR_FIG_WEIGHTS,       /* G and mean L over time */
  TSR_FIG_CC,            /* registration CC over time */
  TSR_FIG_CC_HIST,       /* CC histogram with the gate threshold */
  TSR_FIG_FUNNEL,        /* scanned → registered → valid → weighted */
  TSR_FIG_QUALITY_MAP,   /* mean local quality per tile */
  TSR_FIG_WEIGHT_MAP,    /* mean weight per tile (of the selected frame when frame ≥ 0) */
  TSR_FIG_NEFF_MAP,      /* effective sample size per tile */
  TSR_FIG_VALIDATION,    /* validation table */
  TSR_FIG_N
} TsrFigure;

const char *tsr_figure_name (TsrFigure f);   /* file stem, e.g. "fwhm" */
const char *tsr_figure_title (TsrFigure f);  /* translated title */

/* Draw a figure. frame selects a frame for the per-frame maps (−1 = session mean).
 * r may be NULL (no validation yet). */
/* The CC threshold the CC histogram draws: the weighing's (the gate.* keys as they are now)
 * when w is given, else the analysis' own. */
double   tsr_report_cc_gate (const TsrAnalysis *a, const TsrWeights *w);
void     tsr_report_draw (cairo_t *cr, double width, double height, TsrFigure fig, gboolean dark,
                          const TsrAnalysis *a, const TsrWeights *w, const TsrReconstruction *r,
                          int frame);

/* Write dir/index.html, dir/<figure>.png for every figure, dir/diagnostics.json,
 * dir/result-preview.png and dir/mean-preview.png. */
/* A file every report folder has: a folder holding it may be replaced by a new report. */
#define TSR_REPORT_MARKER "diagnostics.json"

gboolean tsr_report_write (const char *dir, const TsrAnalysis *a, const TsrWeights *w,
                           const TsrReconstruction *r, GError **error);

G_END_DECLS
