/* tsr-tbqr-memory.h — the memory plan of a TBQR run (issue #20, class 8).
 *
 * run.memory_mb is a bound on what a run allocates, planned before a pixel is read: the
 * accumulation images (sums, rejection statistics, results, the validation's working
 * images) depend only on the frame size; what is left is shared by the frames in flight
 * (at least one) and the in-memory part of the frame cache (at most run.cache_memory_mb).
 * When the fixed part and one frame in flight do not fit, the run is refused up front with
 * the number needed. The model counts the allocations of tsr-tbqr-accumulate.c and
 * tsr-tbqr-validate.c per pixel; bench/bench-memory.sh checks it against measured peak RSS. */
#pragma once
#include "tsr-tbqr.h"

G_BEGIN_DECLS

/* Memory outside the plan: program, libraries, FFTW plans, per-frame metadata. */
#define TSR_TBQR_MEMORY_OVERHEAD ((gsize) 64 << 20)

typedef struct
{
  gsize budget;          /* run.memory_mb in bytes */
  gsize sums;            /* accumulation sums and rejection statistics */
  gsize results;         /* result, mean stack, coverage, weight and rejection maps */
  gsize finish;          /* after accumulation: results, colour, validation working images */
  gsize per_frame;       /* one frame in flight during accumulation, with its working memory */
  gsize need;            /* the least budget that runs: fixed part, one frame, overhead */
  gsize cache_ram;       /* in-memory frame cache allowed */
  gsize accumulate_budget; /* for the frames in flight of the accumulation pass */
  gsize register_budget;   /* for the frames in flight of the registration pass */
  gboolean demosaic_frames;
} TsrTbqrMemory;

/* Plan a run on frames of width × height × channels (cfa: the session's pattern) of n_frames.
 * FALSE with a TSR_ERROR_TOO_LARGE naming run.memory_mb and the MiB needed when the budget is
 * too small for the fixed part and one frame in flight. */
gboolean tsr_tbqr_memory_plan (int width, int height, int channels, TsrCfa cfa, guint n_frames,
                               const TsrTbqrParams *p, const TsrRunParams *run, TsrTbqrMemory *m,
                               GError **error);

/* Memory held for the whole run outside the plan — the calibration masters of the session
 * (tsr_session_filter_bytes) — taken from the budget: FALSE with a TSR_ERROR_TOO_LARGE naming
 * run.memory_mb when the plan no longer fits, else every share shrinks by bytes. */
gboolean tsr_tbqr_memory_hold (TsrTbqrMemory *m, gsize bytes, const TsrRunParams *run, GError **error);

/* Bytes of one frame in flight in the accumulation pass, as tsr_frames_map counts it with
 * this factor (TsrMapOptions.bytes_per_frame_factor). */
double tsr_tbqr_accumulate_frame_factor (gboolean demosaic_frames, gboolean raw_cells);

G_END_DECLS
