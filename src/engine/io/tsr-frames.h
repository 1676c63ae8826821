/* tsr-frames.h — the "map over frames" driver: read → per-frame hook, with bounded
 * worker threads, a memory budget, progress, cancellation and errors. */
#pragma once
#include <gio/gio.h>
#include "tsr-session.h"
#include "tsr-progress.h"
#include "tsr-parallel.h"

G_BEGIN_DECLS

/* Hook called once per frame, possibly from several threads at once (the hook does its
 * own locking for shared results). img is the frame as read (NULL when
 * TsrMapOptions.read_pixels is FALSE). Return FALSE with error set to stop the job. */
typedef gboolean (*TsrFrameFunc) (guint index, const TsrFrameInfo *frame, TsrImage *img,
                                  gpointer user_data, GCancellable *cancellable, GError **error);

typedef struct
{
  const char *phase;            /* progress phase name */
  guint n_threads;              /* 0 = number of CPUs */
  gsize memory_budget;          /* bytes; 0 = 2 GiB. Bounds frames in flight. */
  double bytes_per_frame_factor;/* extra working memory per frame in flight, in units of the
                                   frame's float size (0 = 2.0) */
  gboolean read_pixels;         /* TRUE: the driver reads each frame */
  const guint *indices;         /* subset of frames to visit, or NULL for all */
  guint n_indices;
} TsrMapOptions;

void     tsr_map_options_init (TsrMapOptions *opt, const char *phase);

/* How many frames may be in flight for this session under opt (≥ 1). */
guint    tsr_frames_parallelism (const TsrSession *s, const TsrMapOptions *opt);

gboolean tsr_frames_map (TsrSession *s, const TsrMapOptions *opt,
                         TsrFrameFunc func, gpointer user_data,
                         TsrProgressFunc progress, gpointer progress_data,
                         GCancellable *cancellable, GError **error);

G_END_DECLS
