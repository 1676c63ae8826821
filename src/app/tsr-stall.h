/* tsr-stall.h — main-loop stall measurement for the window: per-job gap statistics,
 * an optional trace (TSR_STALL_TRACE=1) that tells handler time from scheduling delay,
 * and the lower scheduling priority of job worker threads. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define TSR_STALL_BINS 1000   /* 1 ms bins; the last one collects everything longer */

typedef struct
{
  guint64 n;
  gint64 worst_us;
  guint hist[TSR_STALL_BINS];
} TsrStallStats;

void    tsr_stall_stats_add (TsrStallStats *s, gint64 gap_us);
/* Upper edge (ms) of the bin holding quantile q of the gaps; 0 when empty. */
double  tsr_stall_stats_quantile_ms (const TsrStallStats *s, double q);

/* Called at the start of a job's worker (GTask thread): lowers the calling thread's
 * scheduling priority (Linux: per-thread nice, TSR_JOB_NICE, default 10; 0 leaves it).
 * Threads the engine starts from this thread inherit it, so the main loop wins the CPU
 * over the job's threads. Nice can only be raised, so a pool thread stays lowered. */
void    tsr_stall_lower_thread_priority (void);

/* Trace (only with TSR_STALL_TRACE set in the environment): installs a poll wrapper on
 * the default main context that logs every stretch of more than TSR_STALL_TRACE_MS
 * (default 15) outside poll() — the main thread's dispatch — and every poll() that came
 * back that much later than asked, each with the main thread's CPU time and run-queue
 * wait (from /proc/thread-self/schedstat) over the stretch and the timed handlers
 * (tsr_stall_note) that ran in it. */
void    tsr_stall_trace_init (void);
gboolean tsr_stall_tracing (void);
void    tsr_stall_note (const char *what, gint64 t0_us);
#define TSR_STALL_T0() (tsr_stall_tracing () ? g_get_monotonic_time () : 0)

G_END_DECLS
