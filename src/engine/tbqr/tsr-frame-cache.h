/* tsr-frame-cache.h — the frame cache (run.cache), a unit of its own: created by the analysis
 * pass (tsr-tbqr.c), read by the accumulate pass (tsr-tbqr-accumulate.c). */
#pragma once
#include "tsr-tbqr.h"

G_BEGIN_DECLS

/* Frame cache (run.cache): each registered frame normalised, demosaiced (norm.color_method =
 * demosaic-frames) and warped into the reference geometry once, during the analysis, kept
 * in memory up to a quarter of run.memory_mb and beyond that as float32 planes plus mask in
 * one unlinked temporary file (nothing is left on disk whatever happens to the process),
 * read back by both accumulate passes instead of re-reading, re-normalising, re-demosaicing
 * and re-warping the frame. */
typedef struct _TsrFrameCache TsrFrameCache;

TsrFrameCache *tsr_frame_cache_new (const TsrAnalysis *a, const TsrTbqrParams *p, const TsrRunParams *run,
                                guint n_frames);
void           tsr_frame_cache_free (TsrFrameCache *c);
/* Warp img (frame index, as read) for accumulation per p and store it; FALSE on error. */
gboolean       tsr_frame_cache_put_frame (TsrFrameCache *c, const TsrAnalysis *a, const TsrTbqrParams *p,
                                          const TsrImage *img, guint index, const TsrTransform *T,
                                          GError **error);
/* Read the cached warped frame for accumulation with p into *img (allocated when NULL,
 * else reused: same shape); FALSE when the cache cannot serve it. */
gboolean       tsr_frame_cache_read (TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames,
                                     guint index, TsrImage **img);
/* The cached warped frame when it is held in memory (valid while the cache lives), else
 * NULL: then tsr_frame_cache_read may still serve it from the file. */
const TsrImage *tsr_frame_cache_peek (TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames,
                                      guint index);
/* How many frames the cache holds in memory and in its file (for tests and diagnostics). */
void tsr_frame_cache_counts (TsrFrameCache *c, guint *in_memory, guint *in_file);
/* Bytes of frames the cache may hold in memory (0 without a cache). */
gsize tsr_frame_cache_ram_budget (const TsrFrameCache *c);
/* Bytes the cache's temporary file may grow to (0 without a file): at most run.cache_disk_mb
 * and half the free space above 1 GiB; frames beyond it are read and warped again. */
guint64 tsr_frame_cache_disk_budget (const TsrFrameCache *c);
/* The fraction of a session's frames a cache made now would hold (memory tier of cache_ram
 * bytes, the file within run.cache_disk_mb and the free space): for the time-left plan. */
double tsr_frame_cache_expected_fraction (int width, int height, int channels, TsrCfa cfa, guint n_frames,
                                          const TsrTbqrParams *p, const TsrRunParams *run, gsize cache_ram);

/* An unlinked temporary file for about `bytes` (name: the file name's prefix) in the
 * temporary folder, else /var/tmp — the first one on a disk (not tmpfs, which would hold it
 * in memory) with 1 GiB + 2 × bytes free, as the cache's file; −1 when there is none. The
 * per-tile metrics of a long analysis use it too (tsr-tbqr.c). */
int      tsr_temp_file_new (const char *name, guint64 bytes);
/* All len bytes written to (read from) fd at off; FALSE on an error or end of file. */
gboolean tsr_temp_file_io (int fd, gboolean write_, void *buf, gsize len, guint64 off);

G_END_DECLS
