/* tsr-maps.h — quality maps over the tile grid (issue #13, problem 4): what the image view
 * draws as a switchable overlay with a colour bar and a legend. Pure functions of the
 * analysis and the weighing shown (no GTK), recomputed after every re-weigh. */
#pragma once
#include <cairo.h>
#include "tessera.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_MAP_WEIGHT = 0,   /* W = G·L of the selected frame, or the mean over the used frames */
  TSR_MAP_QUALITY,      /* local quality Q_loc of the selected frame, or the mean */
  TSR_MAP_NEFF,         /* effective number of frames per tile, (Σw)² / Σw² */
  TSR_MAP_COVERAGE,     /* used frames whose footprint covers the tile centre */
  TSR_MAP_CLUSTERS,     /* the cluster with the largest share of the tile's weight */
  TSR_MAP_N_KINDS
} TsrMapKind;

typedef struct
{
  TsrMapKind kind;
  guint n_tiles;
  float *v;             /* per tile; NAN = nothing to show */
  double lo, hi;        /* colour scale ends (clusters: 0 … n_classes − 1) */
  gboolean log_scale;   /* weights: logarithmic between lo and hi */
  gboolean diverging;   /* quality: centred on 0 (blue below, red above) */
  int n_classes;        /* clusters: the number of clusters (categorical colours) */
  int *class_frames;    /* clusters: used frames per cluster (n_classes) */
  double v_min, v_max;  /* the finite values' range */
  char *title;          /* the legend's first line (translated) */
  char *note;           /* why the map is empty (clusters off), else NULL */
} TsrMap;

/* A translated name per kind ("Weight", "Local quality", "N_eff", "Coverage", "Clusters"). */
const char *tsr_map_kind_name (TsrMapKind kind);
/* The map of kind for the weighing w of analysis a; frame ≥ 0 selects one frame for the
 * per-frame maps (weight, quality), −1 the mean over the used frames. NULL when a or w is
 * missing or their tile counts differ. */
TsrMap     *tsr_map_compute (const TsrAnalysis *a, const TsrWeights *w, TsrMapKind kind, int frame);
void        tsr_map_free (TsrMap *m);
/* The colour of value v (FALSE for a value with nothing to show). */
gboolean    tsr_map_color (const TsrMap *m, double v, double *r, double *g, double *b);
/* The categorical colour of cluster k. */
void        tsr_map_class_color (int k, double *r, double *g, double *b);
/* The cell of tile t, [x0, x1) × [y0, y1) in reference pixels: the tiles' cells partition
 * the image (borders halfway between neighbouring centres, the outer ones at the image's
 * edges), so no part of the map is drawn twice. */
void        tsr_map_tile_cell (const TsrAnalysis *a, guint t, double *x0, double *y0, double *x1, double *y1);
/* Does tile t's reference centre fall inside the frame's footprint (frame f registered)? */
gboolean    tsr_map_frame_covers (const TsrAnalysis *a, guint f, guint t);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrMap, tsr_map_free)

G_END_DECLS
