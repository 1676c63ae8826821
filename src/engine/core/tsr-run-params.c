/* tsr-run-params.c — defaults and key table of the resources a job runs with. */
#include "tsr-run-params.h"

#include <glib/gi18n.h>
#include <string.h>

static const TsrParamSpec specs[] = {
  /* resources */
  TSR_KEY_INT (TsrRunParams, "run.threads", n_threads, 0, 256,
               N_("Worker threads; 0 = one per CPU")),
  TSR_KEY_DOUBLE (TsrRunParams, "run.memory_mb", memory_budget_mb, 64, 1048576,
                  N_("Memory budget in MiB: a bound on what a run allocates (frames in flight, the frame cache in memory, the accumulation images); a session that cannot fit is refused before a pixel is read")),
  TSR_KEY_BOOL (TsrRunParams, "run.cache", frame_cache,
                N_("Keep each frame warped and normalised during processing (in memory up to run.cache_memory_mb, the rest in a temporary file) instead of reading and warping it again; a Bayer session needs no cache (drizzled or demosaiced, it reads the raw frames in each pass)")),
  TSR_KEY_DOUBLE (TsrRunParams, "run.cache_memory_mb", cache_memory_mb, -1, 1048576,
                  N_("Upper limit in MiB for frames of the frame cache in memory, within what run.memory_mb leaves; frames beyond it go to the temporary file (0 = file only; -1 = automatic: as much as frames read again would take in flight, so a long session peaks where a short one does)")),
  TSR_KEY_DOUBLE (TsrRunParams, "run.cache_disk_mb", cache_disk_mb, 0, 1048576,
                  N_("Upper limit in MiB for a run's temporary disk: the frame cache's file (never more than half the free space above 1 GiB; frames beyond it are read and warped again in each pass, 0 = no file) and deconvolution's staged frames (refused when they would not fit)")),
};

void
tsr_run_params_init (TsrRunParams *p)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  p->n_threads = 0;
  p->memory_budget_mb = 2048.0;
  p->frame_cache = TRUE;
  p->cache_memory_mb = -1.0; /* automatic (tsr_tbqr_memory_plan) */
  p->cache_disk_mb = 16384.0;
}

const TsrParamSpec *
tsr_run_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_run_params_validate (const TsrRunParams *p, GError **error)
{
  return tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error);
}

gsize
tsr_run_memory_budget (const TsrRunParams *p)
{
  return (gsize) (p->memory_budget_mb * 1024.0 * 1024.0);
}
