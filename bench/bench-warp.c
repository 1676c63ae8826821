/* bench-warp — time of tsr_warp on a frame-sized image (Lanczos-3, small rotation), for
 * an RGB image (demosaiced frames) and a CFA mosaic; and a checksum so a change of the
 * warp's arithmetic shows. Usage: bench-warp [WIDTH HEIGHT REPEATS [rgb|cfa]]; the CPU time
 * (user + system, all threads) per warp is printed besides the wall time. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tessera.h"

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
run (int w, int h, int channels, TsrCfa cfa, int reps)
{
  TsrImage *img = tsr_image_new (w, h, channels);
  img->cfa = cfa;
  guint32 s = 12345;
  for (gsize k = 0; k < (gsize) w * h * channels; k++)
    {
      s = s * 1664525u + 1013904223u;
      img->data[k] = 1000.0f + (s >> 8) % 1000;
    }
  TsrTransform t;
  tsr_transform_identity (&t);
  double th = 0.003;
  t.m[0] = cos (th), t.m[1] = -sin (th), t.m[2] = 3.27;
  t.m[3] = sin (th), t.m[4] = cos (th), t.m[5] = -2.61;
  double sum = 0;
  gint64 t0 = g_get_monotonic_time ();
  double c0 = cpu_seconds ();
  for (int r = 0; r < reps; r++)
    {
      TsrImage *o = tsr_warp (img, &t, w, h, cfa, TSR_INTERP_LANCZOS3);
      for (gsize k = 0; k < (gsize) w * h * channels; k += 997)
        sum += o->data[k];
      tsr_image_unref (o);
    }
  gint64 t1 = g_get_monotonic_time ();
  double c1 = cpu_seconds ();
  printf ("%d×%d×%d%s: %.1f ms per warp (CPU %.1f ms), checksum %.6f\n", w, h, channels,
          cfa != TSR_CFA_NONE ? " CFA" : "", (t1 - t0) / 1e3 / reps, (c1 - c0) * 1e3 / reps, sum);
  tsr_image_unref (img);
}

int
main (int argc, char **argv)
{
  int w = argc > 2 ? atoi (argv[1]) : 1080, h = argc > 2 ? atoi (argv[2]) : 1920;
  int reps = argc > 3 ? atoi (argv[3]) : 5;
  const char *which = argc > 4 ? argv[4] : "";
  if (strcmp (which, "cfa") != 0)
    run (w, h, 3, TSR_CFA_NONE, reps);
  if (strcmp (which, "rgb") != 0)
    run (w, h, 1, TSR_CFA_GRBG, reps);
  return 0;
}
