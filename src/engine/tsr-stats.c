/* tsr-stats.c — robust statistics on float samples.
 *
 * Every function here expects valid samples only (no NaN): callers filter through the
 * image mask first. */
#include "tsr-stats.h"

#include <math.h>

static inline void
swapf (float *a, float *b)
{
  float t = *a;
  *a = *b;
  *b = t;
}

/* Reorder v so that v[k] is the k-th smallest value, everything before it ≤ v[k] and
 * everything after it ≥ v[k] (Hoare partition with median-of-three pivot). */
static void
select_kth (float *v, gsize n, gsize k)
{
  gsize lo = 0, hi = n - 1;

  while (hi > lo)
    {
      if (hi - lo == 1)
        {
          if (v[hi] < v[lo])
            swapf (&v[lo], &v[hi]);
          return;
        }

      gsize mid = lo + (hi - lo) / 2;
      /* Median of three at v[lo+1]; v[lo] ≤ v[lo+1] ≤ v[hi] serve as sentinels. */
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
        return;
    }
}

float
tsr_median_inplace (float *v, gsize n)
{
  if (n == 0)
    return NAN;
  if (n == 1)
    return v[0];

  gsize k = n / 2;
  select_kth (v, n, k);
  if (n % 2 == 1)
    return v[k];

  /* Even count: the lower middle is the largest value of v[0 .. k). */
  float lower = v[0];
  for (gsize i = 1; i < k; i++)
    if (v[i] > lower)
      lower = v[i];
  return (float) (0.5 * ((double) lower + (double) v[k]));
}

float
tsr_mad_inplace (float *v, gsize n, float med)
{
  if (n == 0)
    return NAN;
  for (gsize i = 0; i < n; i++)
    v[i] = fabsf (v[i] - med);
  return tsr_median_inplace (v, n);
}

void
tsr_plane_median_mad (const float *plane, const guint8 *mask, gsize n,
                      gsize max_samples, float *median, float *mad)
{
  gsize stride = 1;
  if (max_samples > 0 && n > max_samples)
    stride = (n + max_samples - 1) / max_samples;

  gsize cap = (n + stride - 1) / stride;
  float *buf = g_new (float, MAX (cap, 1));
  gsize m = 0;

  for (gsize i = 0; i < n; i += stride)
    if (mask == NULL || mask[i])
      buf[m++] = plane[i];

  float med = tsr_median_inplace (buf, m);
  float dev = tsr_mad_inplace (buf, m, med);
  g_free (buf);

  if (median)
    *median = med;
  if (mad)
    *mad = dev;
}

/* Differences are gathered on at most about this many samples (rows are skipped
 * regularly on large images; the estimate needs far fewer). */
#define NOISE_MAX_SAMPLES ((gsize) 4 * 1024 * 1024)

float
tsr_plane_noise (const float *plane, const guint8 *mask, int width, int height, int step)
{
  if (step < 1)
    step = 1;
  if (width <= step || height <= 0)
    return NAN;

  gsize per_row = (gsize) (width - step);
  gsize total = per_row * (gsize) height;
  int row_step = 1;
  if (total > NOISE_MAX_SAMPLES)
    row_step = (int) ((total + NOISE_MAX_SAMPLES - 1) / NOISE_MAX_SAMPLES);

  gsize cap = per_row * (gsize) ((height + row_step - 1) / row_step);
  float *d = g_new (float, cap);
  gsize m = 0;

  for (int y = 0; y < height; y += row_step)
    {
      const float *row = plane + (gsize) y * width;
      const guint8 *mrow = mask ? mask + (gsize) y * width : NULL;
      for (int x = 0; x + step < width; x++)
        {
          if (mrow && (!mrow[x] || !mrow[x + step]))
            continue;
          d[m++] = row[x] - row[x + step];
        }
    }

  float result = NAN;
  if (m >= 2)
    {
      float med = tsr_median_inplace (d, m);
      float mad = tsr_mad_inplace (d, m, med);
      result = (float) (TSR_MAD_TO_SIGMA * mad / G_SQRT2);
    }
  g_free (d);
  return result;
}

double
tsr_mean_d (const double *v, gsize n)
{
  if (n == 0)
    return NAN;
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += v[i];
  return s / (double) n;
}
