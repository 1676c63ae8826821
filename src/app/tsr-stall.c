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

/* The watchdog (Linux): while the main thread has been outside poll() for more than the
 * threshold, a thread samples where it is every 20 ms — the system call it is blocked in
 * (/proc/self/task/TID/syscall: its number and first argument, or "running") and the kernel
 * function it waits in (wchan) — so a stall that is neither CPU nor scheduling (an X round
 * trip, a disk write, a lock) names its cause. */
static gint64 out_since;   /* atomic: when the main thread left poll(); 0 while inside */
static GMutex samples_lock;
static GHashTable *samples;   /* "what" → count, for the current stretch */
#ifdef __linux__
static pid_t main_tid;

static char *
read_small (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  g_strstrip (text);
  return text;
}

static gpointer
watchdog_thread (gpointer data)
{
  g_autofree char *sys_path = g_strdup_printf ("/proc/self/task/%d/syscall", (int) main_tid);
  g_autofree char *wchan_path = g_strdup_printf ("/proc/self/task/%d/wchan", (int) main_tid);
  for (;;)
    {
      g_usleep (20000);
      gint64 since = __atomic_load_n (&out_since, __ATOMIC_RELAXED);
      if (!since || g_get_monotonic_time () - since < trace_threshold_us)
        continue;
      g_autofree char *sys = read_small (sys_path);
      g_autofree char *wchan = read_small (wchan_path);
      char *what;
      if (!sys || g_str_has_prefix (sys, "running"))
        what = g_strdup ("running");
      else
        {
          /* "NR arg1 arg2 …": keep the number and the first argument (an fd for poll/read) */
          char **f = g_strsplit (sys, " ", 3);
          what = g_strdup_printf ("syscall %s(%s…) in %s", f[0], f[1] ? f[1] : "",
                                  wchan && *wchan ? wchan : "?");
          g_strfreev (f);
        }
      g_mutex_lock (&samples_lock);
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (samples, what));
      g_hash_table_insert (samples, what, GUINT_TO_POINTER (n + 1));   /* takes what */
      g_mutex_unlock (&samples_lock);
    }
  return NULL;
}
#endif

/* The watchdog's samples of the stretch that ended, as " [where: what ×n, …]", and reset. */
static char *
take_samples (void)
{
  GString *s = g_string_new (NULL);
  g_mutex_lock (&samples_lock);
  if (samples && g_hash_table_size (samples))
    {
      GHashTableIter it;
      gpointer k, v;
      g_string_append (s, " [main thread sampled every 20 ms:");
      g_hash_table_iter_init (&it, samples);
      while (g_hash_table_iter_next (&it, &k, &v))
        g_string_append_printf (s, " %s ×%u;", (const char *) k, GPOINTER_TO_UINT (v));
      g_string_append (s, "]");
      g_hash_table_remove_all (samples);
    }
  g_mutex_unlock (&samples_lock);
  return g_string_free (s, FALSE);
}

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
  __atomic_store_n (&out_since, 0, __ATOMIC_RELAXED);
  g_autofree char *where = take_samples ();
  if (last_out_t && t_in - last_out_t > trace_threshold_us)
    g_message ("stall-trace: %.1f ms outside poll (main thread ran %.1f ms, waited for a CPU %.1f ms):%s%s",
               (t_in - last_out_t) / 1e3, (cpu_in - last_out_cpu) / 1e6, (wait_in - last_out_wait) / 1e6,
               notes->len ? notes->str : " no timed handler", where);
  g_string_truncate (notes, 0);
  gint r = orig_poll (fds, nfds, timeout);
  gint64 t_out = g_get_monotonic_time ();
  __atomic_store_n (&out_since, t_out, __ATOMIC_RELAXED);
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
  samples = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
#ifdef __linux__
  main_tid = (pid_t) syscall (SYS_gettid);
  g_thread_unref (g_thread_new ("tessera-stall-watchdog", watchdog_thread, NULL));
#endif
  orig_poll = g_main_context_get_poll_func (NULL);
  g_main_context_set_poll_func (NULL, traced_poll);
  tracing = TRUE;
}
