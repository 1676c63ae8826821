/* tsr-frames.c — the "map over frames" driver. */
#include "tsr-frames.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <string.h>

void
tsr_map_options_init (TsrMapOptions *opt, const char *phase)
{
  memset (opt, 0, sizeof *opt);
  opt->phase = phase;
  opt->read_pixels = TRUE;
}

/* Bytes one frame in flight takes: the frame itself and the hook's working memory. */
static double
frame_bytes (const TsrSession *s, const TsrMapOptions *opt)
{
  double factor = opt->bytes_per_frame_factor > 0 ? opt->bytes_per_frame_factor : 2.0;
  return (double) s->width * s->height * (s->channels * sizeof (float) + 1) * (1.0 + factor);
}

guint
tsr_frames_parallelism (const TsrSession *s, const TsrMapOptions *opt)
{
  guint threads = opt->n_threads ? opt->n_threads : g_get_num_processors ();
  gsize budget = opt->memory_budget ? opt->memory_budget : (gsize) 2 << 30;
  /* the budget is what the user allows; what the system has left bounds it too */
  guint64 avail = tsr_memory_available ();
  if (avail < budget)
    budget = (gsize) avail;
  double frame = frame_bytes (s, opt);
  guint by_memory = frame > 0 ? (guint) MIN (1024.0, budget / frame) : threads;
  guint n = MIN (threads, by_memory);
  guint frames = opt->indices ? opt->n_indices : tsr_session_n_frames (s);
  n = MIN (n, MAX (frames, 1));
  return MAX (n, 1);
}

typedef struct
{
  TsrSession *session;
  const TsrMapOptions *opt;
  TsrFrameFunc func;
  gpointer user_data;
  TsrProgressFunc progress;
  gpointer progress_data;
  GCancellable *cancellable;
  guint total;
  gint next;          /* atomic */
  GMutex lock;
  guint done;
  gboolean stop;      /* under lock */
  GError *error;      /* first error, under lock */
} MapJob;

static gpointer
map_worker (gpointer data)
{
  MapJob *job = data;
  for (;;)
    {
      g_mutex_lock (&job->lock);
      gboolean stop = job->stop;
      g_mutex_unlock (&job->lock);
      if (stop || g_cancellable_is_cancelled (job->cancellable))
        break;
      guint k = (guint) g_atomic_int_add (&job->next, 1);
      if (k >= job->total)
        break;
      guint index = job->opt->indices ? job->opt->indices[k] : k;
      TsrFrameInfo *fi = tsr_session_frame (job->session, index);
      GError *err = NULL;
      TsrImage *img = NULL;
      gboolean ok = TRUE;
      if (job->opt->read_pixels)
        {
          img = tsr_session_read_frame (job->session, index, &err);
          ok = img != NULL;
        }
      if (ok)
        ok = job->func (index, fi, img, job->user_data, job->cancellable, &err);
      if (img)
        tsr_image_unref (img);
      g_mutex_lock (&job->lock);
      if (!ok)
        {
          if (!job->error)
            job->error = err;
          else
            g_clear_error (&err);
          job->stop = TRUE;
        }
      else
        {
          job->done++;
          if (job->progress)
            job->progress (job->opt->phase ? job->opt->phase : _("Processing"), job->done,
                           job->total, job->progress_data);
        }
      g_mutex_unlock (&job->lock);
    }
  return NULL;
}

gboolean
tsr_frames_map (TsrSession *s, const TsrMapOptions *opt,
                TsrFrameFunc func, gpointer user_data,
                TsrProgressFunc progress, gpointer progress_data,
                GCancellable *cancellable, GError **error)
{
  TsrMapOptions defaults;
  if (!opt)
    {
      tsr_map_options_init (&defaults, NULL);
      opt = &defaults;
    }
  MapJob job = { 0 };
  job.session = s;
  job.opt = opt;
  job.func = func;
  job.user_data = user_data;
  job.progress = progress;
  job.progress_data = progress_data;
  job.cancellable = cancellable;
  job.total = opt->indices ? opt->n_indices : tsr_session_n_frames (s);
  g_mutex_init (&job.lock);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      g_mutex_clear (&job.lock);
      return FALSE;
    }
  /* refused before any frame is read when not even one fits in the memory there is */
  if (opt->read_pixels && job.total > 0 && frame_bytes (s, opt) > (double) tsr_memory_available ())
    {
      g_autofree char *what = g_strdup_printf (_("one frame of %d × %d in flight"), s->width, s->height);
      tsr_set_memory_error (error, (guint64) frame_bytes (s, opt), what);
      g_mutex_clear (&job.lock);
      return FALSE;
    }
  if (progress)
    progress (opt->phase ? opt->phase : _("Processing"), 0, job.total, progress_data);

  guint n = tsr_frames_parallelism (s, opt);
  if (n <= 1)
    map_worker (&job);
  else
    {
      GThread **threads = g_new0 (GThread *, n);
      for (guint i = 0; i < n; i++)
        threads[i] = g_thread_new ("tsr-frames", map_worker, &job);
      for (guint i = 0; i < n; i++)
        g_thread_join (threads[i]);
      g_free (threads);
    }
  g_mutex_clear (&job.lock);
  if (job.error)
    {
      g_propagate_error (error, job.error);
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  return TRUE;
}
