/* bench-median — the median selection (tsr_median_inplace) against the quickselect it
 * replaced, on the sizes a TBQR run selects among (tile backgrounds and noise of about a
 * thousand values, frame noise estimates of up to 2^17).
 *
 * Usage: bench-median [REPEATS]   (default 5; each repeat times every case, the least
 * CPU time per case is printed as ns per element). "new" is tsr_median_inplace as a run
 * takes it (its AVX2 form where the processor has it), "portable" its portable form in the
 * same run (tsr_stats_vector_select). Also checks that all give the same value. No assertions beyond that (see DESIGN.md, Benchmarks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera.h"

static double
cpu_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline void
swapf (float *a, float *b)
{
  float t = *a;
  *a = *b;
  *b = t;
}

/* The previous tsr_median_inplace: Hoare quickselect, median-of-three pivot. */
static float
old_median (float *v, gsize n)
{
  if (n == 0)
    return NAN;
  if (n == 1)
    return v[0];
  gsize k = n / 2, lo = 0, hi = n - 1;
  while (hi > lo)
    {
      if (hi - lo == 1)
        {
          if (v[hi] < v[lo])
            swapf (&v[lo], &v[hi]);
          break;
        }
      gsize mid = lo + (hi - lo) / 2;
      swapf (&v[mid], &v[lo + 1]);
      if (v[lo] > v[hi])
        swapf (&v[lo], &v[hi]);
      if (v[lo + 1] > v[hi])
        swapf (&v[lo + 1], &v[hi]);
      if (v[lo] > v[lo + 1])
        swapf (&v[lo], &v[lo + 1]);
      gsize i = lo + 1, j = hi;
      float pivot = v[lo + 1];
      for (;;)
        {
          do i++; while (v[i] < pivot);
          do j--; while (v[j] > pivot);
          if (j < i)
            break;
          swapf (&v[i], &v[j]);
        }
      v[lo + 1] = v[j];
      v[j] = pivot;
      if (j >= k)
        hi = j - 1;
      if (j <= k)
        lo = i;
      if (j == k)
        break;
    }
  if (n % 2 == 1)
    return v[k];
  float lower = v[0];
  for (gsize i = 1; i < k; i++)
    if (v[i] > lower)
      lower = v[i];
  return (float) (0.5 * ((double) lower + (double) v[k]));
}

/* A sky tile: background 1000 with Gaussian noise of σ 15 and a few stars; integral:
 * rounded to whole ADU (raw frames). */
static void
fill (float *v, gsize n, gboolean integral, GRand *r)
{
  for (gsize i = 0; i < n; i++)
    {
      double g = 0;
      for (int j = 0; j < 6; j++)
        g += g_rand_double (r);
      double x = 1000.0 + 15.0 * 1.414 * (g - 3.0);
      if (g_rand_int_range (r, 0, 40) == 0)
        x += 3000.0 * g_rand_double (r);
      v[i] = integral ? (float) rint (x) : (float) x;
    }
}

int
main (int argc, char **argv)
{
  int repeats = argc > 1 ? atoi (argv[1]) : 5;
  if (repeats < 1)
    repeats = 1;
  const gsize sizes[] = { 250, 1000, 1001, 1500, 5000, 131072 };
  g_autoptr (GRand) r = g_rand_new_with_seed (1);
  printf ("%-8s %-9s %12s %12s %14s %8s %12s\n", "n", "data", "old ns/el", "new ns/el", "portable ns/el", "speedup",
          "vs portable");
  for (guint si = 0; si < G_N_ELEMENTS (sizes); si++)
    for (int integral = 0; integral < 2; integral++)
      {
        gsize n = sizes[si];
        /* enough arrays for about 4 M elements per timing */
        gsize count = MAX ((gsize) 4, ((gsize) 4 << 20) / n);
        float *src = g_new (float, count * n), *work = g_new (float, count * n);
        fill (src, count * n, integral, r);
        double best_old = INFINITY, best_new = INFINITY, best_port = INFINITY;
        for (int rep = 0; rep < repeats; rep++)
          for (int which = 0; which < 3; which++)
            {
              tsr_stats_vector_select (which != 2);
              memcpy (work, src, count * n * sizeof (float));
              double t0 = cpu_ns ();
              for (gsize c = 0; c < count; c++)
                {
                  float *v = work + c * n;
                  if (which == 0)
                    v[0] = old_median (v, n);
                  else
                    v[0] = tsr_median_inplace (v, n);
                }
              double dt = (cpu_ns () - t0) / ((double) count * n);
              if (which == 0)
                best_old = MIN (best_old, dt);
              else if (which == 1)
                best_new = MIN (best_new, dt);
              else
                best_port = MIN (best_port, dt);
            }
        /* the same values from both */
        float *a = g_new (float, n), *b = g_new (float, n);
        for (gsize c = 0; c < count; c++)
          {
            memcpy (a, src + c * n, n * sizeof (float));
            memcpy (b, src + c * n, n * sizeof (float));
            float x = old_median (a, n), y = tsr_median_inplace (b, n);
            if (memcmp (&x, &y, sizeof x) != 0)
              {
                fprintf (stderr, "MISMATCH n = %zu array %zu: %.9g vs %.9g\n", n, c, x, y);
                return 1;
              }
          }
        g_free (a);
        g_free (b);
        tsr_stats_vector_select (TRUE);
        printf ("%-8zu %-9s %12.2f %12.2f %14.2f %7.2fx %11.2fx\n", n, integral ? "integer" : "float", best_old,
                best_new, best_port, best_old / best_new, best_port / best_new);
        g_free (src);
        g_free (work);
      }
  return 0;
}
