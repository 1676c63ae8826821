/* tsr-preview.h — live preview reconstruction from a reduced-resolution registered cache.
 *
 * After the analysis, every registered frame is read once more, normalised as the
 * accumulation does (background plane, photometric scale), resampled into the reference
 * geometry at 1/factor resolution by box averaging (Bayer frames become RGB) and kept in
 * memory. A preview is then a weighted mean of the cached frames with the per-pixel weight
 * field of the current weights (separable Hann overlap-add of the tile weights, as the
 * accumulation), without rejection or cluster normalisation: fast enough to follow every
 * change of a weighting parameter. */
#pragma once
#include <gio/gio.h>
#include "tsr-tbqr.h"

G_BEGIN_DECLS

typedef struct _TsrPreviewCache TsrPreviewCache;

/* Build the cache for a. The reduction factor is the smallest integer that keeps the longest
 * side at or below max_side (0 = 512) and the whole cache within max_bytes (0 = 256 MiB). */
TsrPreviewCache *tsr_preview_cache_build (TsrAnalysis *a, int max_side, gsize max_bytes,
                                          TsrProgressFunc progress, gpointer progress_data,
                                          GCancellable *cancellable, GError **error);
TsrPreviewCache *tsr_preview_cache_ref (TsrPreviewCache *c);
void             tsr_preview_cache_unref (TsrPreviewCache *c);

int              tsr_preview_cache_factor (const TsrPreviewCache *c);
void             tsr_preview_cache_size (const TsrPreviewCache *c, int *width, int *height, int *channels);
gsize            tsr_preview_cache_bytes (const TsrPreviewCache *c);
/* The analysis the cache was built for. */
TsrAnalysis     *tsr_preview_cache_get_analysis (const TsrPreviewCache *c);

/* Weighted mean of the cached frames with w (from the cache's analysis). Pixels no used
 * frame covers are masked. NULL with error when w does not fit or every frame is unused;
 * NULL without error when cancelled. */
TsrImage        *tsr_preview_render (const TsrPreviewCache *c, const TsrWeights *w,
                                     GCancellable *cancellable, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrPreviewCache, tsr_preview_cache_unref)

G_END_DECLS
