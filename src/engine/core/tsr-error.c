/* tsr-error.c — the engine's GError domain, and errors for memory that is not there. */
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

G_DEFINE_QUARK (tsr-error-quark, tsr_error)

/* MemAvailable from /proc/meminfo, in bytes (0 when unknown). */
static guint64
mem_available (void)
{
  FILE *f = fopen ("/proc/meminfo", "r");
  if (!f)
    return 0;
  char line[256];
  guint64 kb = 0;
  while (fgets (line, sizeof line, f))
    if (sscanf (line, "MemAvailable: %" G_GUINT64_FORMAT " kB", &kb) == 1)
      break;
  fclose (f);
  return kb * 1024;
}

/* Address space the limit still leaves (0 when unlimited or unknown). */
static guint64
address_space_left (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return 0;
  guint64 used = 0;
  FILE *f = fopen ("/proc/self/statm", "r");
  if (f)
    {
      unsigned long pages = 0;
      if (fscanf (f, "%lu", &pages) == 1)
        used = (guint64) pages * (guint64) sysconf (_SC_PAGESIZE);
      fclose (f);
    }
  return rl.rlim_cur > used ? rl.rlim_cur - used : 1;
}

guint64
tsr_memory_available (void)
{
  guint64 a = mem_available (), b = address_space_left ();
  if (!a && !b)
    return G_MAXUINT64;
  if (!a)
    return b;
  if (!b)
    return a;
  return MIN (a, b);
}

void
tsr_set_memory_error (GError **error, guint64 bytes, const char *what)
{
  guint64 avail = tsr_memory_available ();
  const double gib = 1024.0 * 1024.0 * 1024.0;
  if (avail == G_MAXUINT64)
    g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                 _("not enough memory: %s needs %.2f GiB; free memory, lower run.memory_mb or process smaller "
                   "frames"),
                 what, bytes / gib);
  else
    g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                 _("not enough memory: %s needs %.2f GiB, %.2f GiB available; free memory, lower run.memory_mb "
                   "or process smaller frames"),
                 what, bytes / gib, avail / gib);
}

gpointer
tsr_try_alloc (gsize bytes, const char *what, GError **error)
{
  gpointer p = g_try_malloc (bytes ? bytes : 1);
  if (!p)
    tsr_set_memory_error (error, bytes, what);
  return p;
}
