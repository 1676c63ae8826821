/* tsr-run-params.h — the resources every job runs with ("run.*": threads, memory budget, the
 * frame cache) and their key table. */
#pragma once
#include "tsr-keys.h"

G_BEGIN_DECLS

typedef struct
{
  guint n_threads;             /* run.threads (0 = all) */
  double memory_budget_mb;     /* run.memory_mb (2048) */
  gboolean frame_cache;        /* run.cache: keep warped frames during processing (on) */
  double cache_memory_mb;      /* run.cache_memory_mb: of them, in memory (512; rest in a file) */
  double cache_disk_mb;        /* run.cache_disk_mb: of them, in the temporary file at most (16384;
                                  0 = no file, the rest is read and warped again) */
} TsrRunParams;

void                tsr_run_params_init (TsrRunParams *p);
const TsrParamSpec *tsr_run_params_specs (guint *n);
gboolean            tsr_run_params_validate (const TsrRunParams *p, GError **error);
/* run.memory_mb in bytes */
gsize               tsr_run_memory_budget (const TsrRunParams *p);

G_END_DECLS
