/* tsr-background.h — background extraction: a smooth polynomial sky model fitted to sky
 * samples chosen automatically (stars and nebulosity rejected) and subtracted, the data
 * kept linear (docs/post.md). */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-post-params.h"

G_BEGIN_DECLS

typedef struct
{
  guint n_samples;     /* sample boxes with enough valid pixels */
  guint n_used;        /* of those, kept as sky after the rejection */
  int degree;
  double pedestal[3];  /* per channel: the model's mean, added back so the sky level stays */
  double range[3];     /* per channel: max − min of the model over the image (the gradient taken out) */
} TsrBackgroundInfo;

/* Sky level and noise of a plane: the median of the valid samples after 3σ clipping (stars
 * and hot pixels do not pull it); sigma_out (may be NULL) the clipped robust σ. */
double    tsr_sky_level (const float *plane, const guint8 *mask, gsize n, double *sigma_out);

/* img (1 or 3 channels, not a raw CFA mosaic) minus its background model plus the model's
 * mean per channel: gradients removed, star and nebula fluxes unchanged, still linear. A
 * HISTORY line says what was done. model_out (may be NULL) receives the model. Too few sky
 * samples for the degree is an error. */
TsrImage *tsr_background_extract (const TsrImage *img, const TsrPostParams *p, TsrBackgroundInfo *info,
                                  TsrImage **model_out, GCancellable *cancellable, GError **error);

G_END_DECLS
