/* tsr-parallel.h — the image-loop driver (the frame-loop driver is io/tsr-frames.h). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* Run fn over [0, n) cut into one contiguous range per thread, on up to n_threads threads
 * (0: one per processor) of which the caller is one; returns when every range is done.
 * Ranges are never shorter than min_chunk. For image-sized loops between the passes over
 * the frames (zeroing the sums, finishing the result) that would otherwise leave all but
 * one core idle. */
typedef void (*TsrRangeFunc) (gsize begin, gsize end, gpointer data);
void tsr_parallel_range (gsize n, guint n_threads, gsize min_chunk, TsrRangeFunc fn, gpointer data);

G_END_DECLS
