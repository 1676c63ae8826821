/* tsr-stall.c — see tsr-stall.h. */
#include "tsr-config.h"
#include <stdio.h>
#include <stdlib.h>
#include "tsr-stall.h"
#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

void
tsr_stall_stats_add (TsrStallStats *s, gint64 gap_us)
{
  gint64 bin = gap_us / 1000;
  s->hist[CLAMP (bin, 0, TSR_STALL_BINS - 1)]++;
  s->n++;
  if (gap_us > s->worst_us)
    s->worst_us = gap_us;
}

double
tsr_stall_stats_quantile_ms (const TsrStallStats *s, double q)
{
  if (s->n == 0)
    return 0;
  guint64 want = (guint64) (q * s->n + 0.999999), seen = 0;
  if (want < 1)
    want = 1;
  for (guint b = 0; b < TSR_STALL_BINS; b++)
    {
      seen += s->hist[b];
      if (seen >= want)
        return b == TSR_STALL_BINS - 1 ? s->worst_us / 1e3 : MIN (b + 1.0, s->worst_us / 1e3);
    }
  return s->worst_us / 1e3;
}

void
tsr_stall_lower_thread_priority (void)
{
#ifdef __linux__
  static gsize once;
  static int nice_level;
  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("TSR_JOB_NICE");
      int v = env ? atoi (env) : 10;
      nice_level = CLAMP (v, 0, 19);
      g_once_init_leave (&once, 1);
    }
  if (nice_level == 0)
    return;
  pid_t tid = (pid_t) syscall (SYS_gettid);
  errno = 0;
  int cur = getpriority (PRIO_PROCESS, (id_t) tid);
  if (errno == 0 && cur < nice_level)
    setpriority (PRIO_PROCESS, (id_t) tid, nice_level);
#endif
}

/* ---------------------------------------------------------------- trace */

static gboolean tracing;
static gint64 trace_threshold_us = 15000;
static GPollFunc orig_poll;
static gint64 last_out_t;
static guint64 last_out_cpu, last_out_wait;
static GString *notes;

gboolean
tsr_stall_tracing (void)
{
  return tracing;
}

/* The main thread's CPU time and run-queue wait so far (ns). */
static void
schedstat (guint64 *cpu, guint64 *wait)
{
  *cpu = *wait = 0;
  FILE *f = fopen ("/proc/thread-self/schedstat", "r");
  if (!f)
    return;
  unsigned long long c = 0, w = 0;
  if (fscanf (f, "%llu %llu", &c, &w) == 2)
    {
      *cpu = c;
      *wait = w;
    }
  fclose (f);
}

void
tsr_stall_note (const char *what, gint64 t0_us)
{
  if (!tracing || t0_us == 0)
    return;
  gint64 dt = g_get_monotonic_time () - t0_us;
  if (dt >= 1000)
    g_string_append_printf (notes, " %s %.1f ms;", what, dt / 1e3);
}

static gint
traced_poll (GPollFD *fds, guint nfds, gint timeout)
{
  gint64 t_in = g_get_monotonic_time ();
  guint64 cpu_in, wait_in;
  schedstat (&cpu_in, &wait_in);
  if (last_out_t && t_in - last_out_t > trace_threshold_us)
    g_message ("stall-trace: %.1f ms outside poll (main thread ran %.1f ms, waited for a CPU %.1f ms):%s",
               (t_in - last_out_t) / 1e3, (cpu_in - last_out_cpu) / 1e6, (wait_in - last_out_wait) / 1e6,
               notes->len ? notes->str : " no timed handler");
  g_string_truncate (notes, 0);
  gint r = orig_poll (fds, nfds, timeout);
  gint64 t_out = g_get_monotonic_time ();
  guint64 cpu_out, wait_out;
  schedstat (&cpu_out, &wait_out);
  if (timeout >= 0 && t_out - t_in > (gint64) timeout * 1000 + trace_threshold_us)
    g_message ("stall-trace: poll(%d ms) came back after %.1f ms (main thread ran %.1f ms, waited for a CPU %.1f ms)",
               timeout, (t_out - t_in) / 1e3, (cpu_out - cpu_in) / 1e6, (wait_out - wait_in) / 1e6);
  last_out_t = t_out;
  last_out_cpu = cpu_out;
  last_out_wait = wait_out;
  return r;
}

void
tsr_stall_trace_init (void)
{
  if (tracing || !g_getenv ("TSR_STALL_TRACE"))
    return;
  const char *ms = g_getenv ("TSR_STALL_TRACE_MS");
  if (ms && atoi (ms) > 0)
    trace_threshold_us = (gint64) atoi (ms) * 1000;
  notes = g_string_new (NULL);
  orig_poll = g_main_context_get_poll_func (NULL);
  g_main_context_set_poll_func (NULL, traced_poll);
  tracing = TRUE;
}
