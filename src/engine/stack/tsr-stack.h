/* tsr-stack.h — plain stackers for frames that are already aligned. They are the
 * validation baselines for everything else. */
#pragma once
#include <gio/gio.h>
#include "tsr-session.h"
#include "tsr-progress.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_STACK_MEAN,        /* streaming: one frame in memory at a time */
  TSR_STACK_MEDIAN,      /* row bands of every frame within the memory budget */
  TSR_STACK_SIGMA,       /* iterative kappa-sigma clipping about the median */
  TSR_STACK_WINSOR       /* winsorized sigma clipping */
} TsrStackMethod;

typedef struct
{
  TsrStackMethod method;
  double kappa_low, kappa_high;   /* default 3, 3 */
  int max_iterations;             /* default 5 */
  double min_keep_fraction;       /* never keep fewer than this fraction; default 0.3 */
  gsize memory_budget;            /* bytes; 0 = 1 GiB */
  guint n_threads;                /* 0 = all CPUs */
} TsrStackParams;

void           tsr_stack_params_init (TsrStackParams *p);
const char    *tsr_stack_method_name (TsrStackMethod m);
gboolean       tsr_stack_method_from_name (const char *name, TsrStackMethod *out);

/* Stack every frame of s. Output: same size and pattern as the frames; mask marks pixels
 * that had at least one valid sample; header from the first frame plus NCOMBINE and a
 * HISTORY line with the parameters. */
TsrImage      *tsr_stack_session (TsrSession *s, const TsrStackParams *p,
                                  TsrProgressFunc progress, gpointer progress_data,
                                  GCancellable *cancellable, GError **error);

/* Combine n samples of one pixel (the per-pixel kernel, exposed for tests and for other
 * stackers). values is reordered/overwritten. Returns FALSE when n == 0. */
gboolean       tsr_stack_combine (TsrStackMethod method, const TsrStackParams *p,
                                  float *values, gsize n, float *out);

G_END_DECLS
