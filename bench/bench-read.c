/* bench-read — read + decode time per frame of a session: the floor every later
 * benchmark compares against.  Usage: bench-read SESSION [--repeat N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

static gboolean
touch (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
       GCancellable *cancellable, GError **error)
{
  volatile float s = 0;
  gsize n = tsr_image_npix (img);
  for (gsize i = 0; i < n; i += 4096)
    s += img->data[i];
  (void) s;
  return TRUE;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: bench-read SESSION [--repeat N] [--threads T]\n");
      return 2;
    }
  int repeat = 3, threads = 1;
  for (int i = 2; i + 1 < argc; i++)
    {
      if (!strcmp (argv[i], "--repeat"))
        repeat = atoi (argv[++i]);
      else if (!strcmp (argv[i], "--threads"))
        threads = atoi (argv[++i]);
    }
  GError *e = NULL;
  const char *paths[] = { argv[1], NULL };
  gint64 t0 = g_get_monotonic_time ();
  TsrSession *s = tsr_session_scan (paths, NULL, NULL, &e);
  if (!s)
    {
      fprintf (stderr, "bench-read: %s\n", e->message);
      return 1;
    }
  double scan = (g_get_monotonic_time () - t0) / 1e6;
  guint n = tsr_session_n_frames (s);
  printf ("session: %u frames %dx%d %s, header scan %.2f ms/frame\n", n, s->width, s->height,
          tsr_cfa_name (s->cfa), scan * 1e3 / n);
  double best = 1e30;
  for (int r = 0; r < repeat; r++)
    {
      TsrMapOptions opt;
      tsr_map_options_init (&opt, "Reading");
      opt.n_threads = threads;
      t0 = g_get_monotonic_time ();
      if (!tsr_frames_map (s, &opt, touch, NULL, NULL, NULL, NULL, &e))
        {
          fprintf (stderr, "bench-read: %s\n", e->message);
          return 1;
        }
      double t = (g_get_monotonic_time () - t0) / 1e6;
      best = MIN (best, t);
    }
  double mpix = (double) s->width * s->height * s->channels / 1e6;
  printf ("read+decode (%d thread%s, best of %d): %.2f ms/frame, %.1f Mpx/s\n", threads,
          threads > 1 ? "s" : "", repeat, best * 1e3 / n, mpix * n / best);
  tsr_session_unref (s);
  return 0;
}
