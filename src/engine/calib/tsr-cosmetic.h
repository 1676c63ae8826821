/* tsr-cosmetic.h — cosmetic correction from the session itself (issue #17): hot and cold
 * pixels are the sensor positions that are outliers against their same-colour neighbours
 * in most frames (the sky moves across the sensor between frames, a defect does not); they
 * are replaced by the median of their same-colour neighbours in every frame read, before
 * demosaic. Works without calibration frames, and after them (chained behind the
 * calibration's filter). docs/post.md. */
#pragma once
#include <gio/gio.h>
#include "tsr-session.h"
#include "tsr-progress.h"

G_BEGIN_DECLS

typedef struct
{
  double sigma;       /* an outlier in a frame: this many σ from its same-colour neighbours' median */
  double fraction;    /* … in at least this fraction of the sampled frames is a defect */
  int max_frames;     /* frames sampled, spread over the session */
  guint n_threads;    /* worker threads (0: one per processor) */
} TsrCosmeticParams;

typedef struct _TsrCosmetic TsrCosmetic;

/* Read up to p->max_frames frames (through the session, so calibrated when a calibration is
 * attached) and find the defects. Fewer than 3 frames: an empty map. */
TsrCosmetic *tsr_cosmetic_find (TsrSession *s, const TsrCosmeticParams *p, TsrProgressFunc progress,
                                gpointer progress_data, GCancellable *cancellable, GError **error);
gsize        tsr_cosmetic_n_hot (const TsrCosmetic *c);
gsize        tsr_cosmetic_n_cold (const TsrCosmetic *c);
/* 1 where a defect was found (width × height of the session) */
const guint8 *tsr_cosmetic_map (const TsrCosmetic *c);
/* Replace the defects of rows [y0, y0 + img->height) of a frame in place. */
void         tsr_cosmetic_apply (const TsrCosmetic *c, TsrImage *img, int y0);
/* Install c as a frame filter of s, behind any filter already installed (the calibration);
 * s owns c afterwards. */
void         tsr_cosmetic_attach (TsrCosmetic *c, TsrSession *s);
void         tsr_cosmetic_free (TsrCosmetic *c);
/* Test hook: add one plane's outliers (σ-threshold thr, same-colour step st) to the counts
 * hot and cold (w × h), through the screen as tsr_cosmetic_find does, or with the exact test
 * at every valid sample (screened = FALSE). */
void         tsr_cosmetic_count_plane (const float *pl, const guint8 *mask, int w, int h, int st, float thr,
                                       gboolean screened, guint8 *hot, guint8 *cold);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrCosmetic, tsr_cosmetic_free)

G_END_DECLS
