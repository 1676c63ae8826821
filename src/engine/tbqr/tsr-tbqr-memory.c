/* tsr-tbqr-memory.c — the memory plan of a TBQR run; see tsr-tbqr-memory.h. */
#include "tsr-tbqr-memory.h"
#include "tsr-error.h"
#include "tsr-frame-cache.h"
#include "tsr-tbqr-drizzle.h"

#include <glib/gi18n.h>

#define MIB (1024.0 * 1024.0)

gboolean
tsr_tbqr_memory_hold (TsrTbqrMemory *m, gsize bytes, const TsrRunParams *run, GError **error)
{
  if (bytes == 0)
    return TRUE;
  if (m->need + bytes > m->budget)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("run.memory_mb = %.0f is too small: with the calibration masters (%.0f MiB) a TBQR run needs at "
                     "least %.0f MiB; raise run.memory_mb"),
                   run->memory_budget_mb, bytes / MIB, (m->need + bytes) / MIB + 1);
      return FALSE;
    }
  m->need += bytes;
  m->budget -= bytes;
  m->cache_ram = m->cache_ram > bytes ? m->cache_ram - bytes : 0;
  m->accumulate_budget = MAX (m->accumulate_budget > bytes ? m->accumulate_budget - bytes : 0, m->per_frame);
  m->register_budget = MAX (m->register_budget > bytes ? m->register_budget - bytes : 0, m->per_frame);
  return TRUE;
}

double
tsr_tbqr_accumulate_frame_factor (gboolean demosaic_frames, gboolean raw_cells)
{
  /* raw cells (a Bayer session, tsr_tbqr_raw_cells): the frame as read, its rejection cells
   * (a quarter plane), and one band of 256 rows demosaiced and warped at a time with its
   * demosaic strip (~330 rows: RCD's seven padded planes, the strip's RGB twice) — at
   * 1920 × 1080 about 22 bytes per frame pixel beside the frame's 5; a drizzle pass holds
   * the frame, its weights and rejection flags. Otherwise a frame as read, demosaiced
   * (3 planes), warped, normalised, its masks and rows of scratch: measured with massif on
   * 1920 × 1080 Bayer frames. */
  if (raw_cells)
    return 5.0;
  return demosaic_frames ? 10.0 : 4.0;
}

gboolean
tsr_tbqr_memory_plan (int width, int height, int channels, TsrCfa cfa, guint n_frames,
                      const TsrTbqrParams *p, const TsrRunParams *run, TsrTbqrMemory *m, GError **error)
{
  memset (m, 0, sizeof *m);
  double npix = (double) width * height;
  gboolean demosaic = cfa != TSR_CFA_NONE && channels == 1 && p->color_method == TSR_COLOR_DEMOSAIC_FRAMES;
  m->demosaic_frames = demosaic;
  int C = demosaic ? 3 : channels;               /* planes accumulated */
  /* statistics per 2 × 2 Bayer cell: of the warped mosaic, or of the raw frame's cells */
  gboolean raw_cells = tsr_tbqr_raw_cells (cfa, channels, n_frames, p);
  gboolean cells = (cfa != TSR_CFA_NONE && C == 1) || raw_cells;
  double nstat = cells ? npix / 4.0 : npix;
  gboolean reject = p->reject != TSR_REJECT_NONE && n_frames >= 3;

  /* tsr_tbqr_accumulate: Σw, n (per pixel), Σw·x and the mean stack's Σx (per value), all
   * 4-byte; with rejection μ and σ per statistic, the rejected Σw·x per value and, unless
   * winsorising, the rejected Σw and count per pixel. The first pass's moments (s0 s1 s2,
   * extrema: 28 B per statistic) are freed before the sums are made. */
  /* global.per_channel on RGB values (a demosaiced or colour session): Σw and the rejected Σw
   * per channel, and a weight map per channel */
  gboolean per_channel = p->global_per_channel && p->global_ivw && C == 3;
  int WC = per_channel ? 3 : 1;
  double sums = npix * (4 * WC + 4) + npix * C * (4 + 4);
  if (reject)
    sums += nstat * (4 + 4) + npix * C * 4 + (p->reject == TSR_REJECT_WINSOR ? 0 : npix * (4 * WC + 4));
  double stats_pass = reject ? nstat * 28 : 0;
  /* results: result and mean stack (float planes and a mask each), coverage, weight and
   * rejection maps */
  double results = 2 * npix * (C * 4 + 1) + 3 * npix * 5 + (WC - 1) * npix * 4;
  /* while the sums are alive: the pixel path's finish writes the result, mean stack, weight,
   * coverage and rejected maps over the sums they come from (tsr_tbqr_accumulate), so only
   * their masks (and a rejected map when nothing was rejected) come on top */
  double finish_extra = 5 * npix + (reject && p->reject != TSR_REJECT_WINSOR ? 0 : npix * 4);
  /* after the sums are freed: a mosaic result demosaiced (two RGB images), then the
   * validation: luminance images, two star detections (sep's buffers and ours) */
  double colour = C == 1 && cfa != TSR_CFA_NONE ? 2 * npix * (3 * 4 + 1) : 0;
  double validate = npix * 64;
  /* Bayer drizzle (drizzle.mode on, or auto on a Bayer session of enough frames) keeps its
   * own sums at the output scale instead of the pixel path's (tsr-tbqr-drizzle.c: 16 bytes
   * per colour and 12 per output pixel), with the rejection statistics' μ and σ; its results
   * and the validation's images are at the output scale too */
  gboolean bayer = cfa != TSR_CFA_NONE && channels == 1;
  if (tsr_tbqr_drizzle_expected (cfa, channels, n_frames, p))
    {
      double s2 = (double) CLAMP (p->drizzle_scale, 1, 2) * CLAMP (p->drizzle_scale, 1, 2);
      int DC = bayer ? 3 : channels;
      sums = MAX (sums, npix * s2 * (16.0 * DC + 12) + (reject ? nstat * 8 : 0));
      /* result and mean stack, weight, coverage and rejection maps, and the finish's two
       * masks per value */
      /* (a weight map per colour with global.per_channel) */
      int DWC = p->global_per_channel && p->global_ivw && DC == 3 ? 3 : 1;
      results = MAX (results, 2 * npix * s2 * (DC * 4 + 1) + 3 * npix * s2 * 5 + 2 * npix * s2 * DC
                                  + (DWC - 1) * npix * s2 * 4);
      validate = MAX (validate, npix * s2 * 64);
      finish_extra = results;   /* drizzle's results are new images beside its sums */
    }
  double per_frame = npix * (channels * 4 + 1) * (1.0 + tsr_tbqr_accumulate_frame_factor (demosaic, raw_cells));

  m->budget = (gsize) (run->memory_budget_mb * MIB);
  m->sums = (gsize) MAX (sums, stats_pass);
  m->results = (gsize) results;
  m->finish = (gsize) (results + colour + validate);
  m->per_frame = (gsize) per_frame;
  double fixed = MAX (MAX (sums + per_frame, stats_pass + per_frame), MAX (sums + finish_extra, results + colour + validate));
  m->need = (gsize) fixed + TSR_TBQR_MEMORY_OVERHEAD;
  if (m->need > m->budget)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("run.memory_mb = %.0f is too small for frames of %d × %d%s: a TBQR run needs at least "
                     "%.0f MiB (%.0f MiB of accumulation images, %.0f MiB per frame in flight); raise "
                     "run.memory_mb or process smaller frames"),
                   run->memory_budget_mb, width, height, demosaic ? _(" (demosaiced)") : "",
                   m->need / MIB + 1, MAX (sums, results + colour + validate) / MIB, per_frame / MIB);
      return FALSE;
    }
  /* frames in flight for every worker first (speed), then the cache takes what is left */
  guint threads = run->n_threads > 0 ? (guint) run->n_threads : g_get_num_processors ();
  threads = MAX (1u, MIN (threads, MAX (n_frames, 1u)));
  double working = MAX (MAX (sums, stats_pass) + per_frame * threads, MAX (sums + finish_extra, results + colour + validate));
  double left = (double) m->budget - TSR_TBQR_MEMORY_OVERHEAD - working;
  double cache_frame = npix * (C * 4 + 1);
  double cache_all = cache_frame * n_frames;
  /* run.cache_memory_mb = −1 (automatic): what a frame read again takes in flight beyond a
   * cached one, for every worker — memory a session longer than the cache file needs anyway
   * in the later passes (below), so a short session peaks where a long one does, without
   * the 512 MiB tier's extra (issue #19; docs/tbqr.md, "Memory at the finish") */
  double reread_extra = threads * MAX (per_frame - cache_frame, 0.0);
  double want = run->cache_memory_mb >= 0 ? run->cache_memory_mb * MIB : reread_extra;
  double cache = run->frame_cache ? MIN (MIN (want, cache_all), MAX (left, 0.0)) : 0.0;
  /* a Bayer session drizzled or demosaiced frame by frame takes every pass from the raw
   * frames: no frame cache (tsr_tbqr_raw_cells) */
  if (raw_cells)
    cache = 0.0;
  /* Frames the cache will not hold (a long session beyond run.cache_disk_mb or the free
   * space) are read, demosaiced and warped again in each later pass: a frame in flight then
   * takes per_frame instead of a cached frame's cache_frame. The memory tier gives that
   * difference up for every worker, so the run's peak does not grow with the share of frames
   * read again — 2,000 frames peak where 200 do (issue #19). */
  if (cache > 0
      && tsr_frame_cache_expected_fraction (width, height, channels, cfa, n_frames, p, run, (gsize) cache) < 1.0)
    cache = MAX (0.0, cache - reread_extra);
  m->cache_ram = (gsize) cache;
  /* the accumulation's frames in flight share what the sums and the cache leave */
  m->accumulate_budget = (gsize) MAX ((double) m->budget - TSR_TBQR_MEMORY_OVERHEAD - MAX (sums, stats_pass) - cache,
                                      per_frame);
  /* registration runs before the sums exist, while the cache fills */
  m->register_budget = (gsize) MAX ((double) m->budget - TSR_TBQR_MEMORY_OVERHEAD - cache, per_frame);
  return TRUE;
}
