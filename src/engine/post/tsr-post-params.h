/* tsr-post-params.h — the parameters of the steps on a finished image ("post.*"):
 * background extraction and colour calibration (docs/post.md). */
#pragma once
#include "tsr-keys.h"

G_BEGIN_DECLS

typedef struct
{
  gboolean background;    /* post.background: subtract a smooth sky model in process (FALSE) */
  int bg_degree;          /* post.background_degree: polynomial degree of the model (2) */
  int bg_grid;            /* post.background_grid: sample boxes along the longer side (16) */
  double bg_kappa;        /* post.background_kappa: a sample this many σ off the model is
                             rejected as a star or nebulosity (2.5) */
  gboolean colour;        /* post.colour: background neutralisation and white balance on the
                             average star in process (FALSE) */
  double colour_min_snr;  /* post.colour_min_snr: stars used for the white balance (20) */
  /* cosmetic correction from the session, before demosaic (tsr-cosmetic.h) */
  gboolean cosmetic;      /* cosmetic.session: find hot/cold pixels from the lights (TRUE) */
  double cosmetic_sigma;  /* cosmetic.sigma: outlier threshold in frame-noise σ (5) */
  double cosmetic_fraction; /* cosmetic.fraction: of the sampled frames (0.6) */
  int cosmetic_frames;    /* cosmetic.frames: frames sampled (12) */
} TsrPostParams;

void                tsr_post_params_init (TsrPostParams *p);
const TsrParamSpec *tsr_post_params_specs (guint *n);
gboolean            tsr_post_params_validate (const TsrPostParams *p, GError **error);

G_END_DECLS
