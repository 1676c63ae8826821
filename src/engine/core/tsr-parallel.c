/* tsr-parallel.c — the image-loop driver: a range of work cut over the cores (tsr-parallel.h). */
#include "tsr-parallel.h"

typedef struct
{
  TsrRangeFunc fn;
  gpointer data;
  gsize begin, end;
} RangeTask;

static gpointer
range_thread (gpointer p)
{
  RangeTask *t = p;
  t->fn (t->begin, t->end, t->data);
  return NULL;
}

void
tsr_parallel_range (gsize n, guint n_threads, gsize min_chunk, TsrRangeFunc fn, gpointer data)
{
  if (n == 0)
    return;
  guint threads = n_threads ? n_threads : g_get_num_processors ();
  gsize by_size = n / MAX (min_chunk, 1);
  threads = (guint) CLAMP (by_size, 1, MIN (threads, 64u));
  RangeTask task[64];
  GThread *th[64] = { NULL };
  for (guint i = 0; i < threads; i++)
    task[i] = (RangeTask) { fn, data, n * i / threads, n * (i + 1) / threads };
  for (guint i = 1; i < threads; i++)
    {
      th[i] = g_thread_try_new ("tsr-range", range_thread, &task[i], NULL);
      if (!th[i])
        range_thread (&task[i]);   /* no thread to be had: the caller does it */
    }
  range_thread (&task[0]);
  for (guint i = 1; i < threads; i++)
    if (th[i])
      g_thread_join (th[i]);
}
