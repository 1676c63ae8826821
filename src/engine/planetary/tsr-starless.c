/* tsr-starless.c — is this a lunar/planetary (starless) session?
 *
 * On a 4×4-binned luminance: lo = 5th percentile, hi = 99.5th percentile, σ_b the binned noise.
 * Bright = above lo + 0.25 (hi − lo). The largest 4-connected bright region's area is the
 * "extended fraction"; small bright regions (≤ 6 binned px) above lo + 10 σ_b are point-source
 * candidates. Starless: the contrast is real (hi − lo > 20 σ_b), there are fewer than 25
 * compact sources, and the largest region covers ≥ 2 % of the frame or the bright area is a
 * surface, on a frame of at least 128 px with a disc of at least 12 px radius. Surface: the bright area covers ≥ 40 % of the frame
 * or the largest region touches three or more edges. */
#include "tsr-planetary.h"
#include "tsr-error.h"
#include "tsr-stats.h"

#include <math.h>
#include <string.h>

void
tsr_starless_detect (const TsrImage *img, TsrStarlessInfo *info)
{
  memset (info, 0, sizeof *info);
  int B = 4;
  int w = img->width, h = img->height;
  int bw = w / B, bh = h / B;
  if (bw < 8 || bh < 8)
    return;
  gsize np = tsr_image_npix (img);
  float *lum = g_new (float, np);
  memcpy (lum, img->data, np * sizeof (float));
  for (int c = 1; c < img->channels; c++)
    for (gsize i = 0; i < np; i++)
      lum[i] += tsr_image_plane (img, c)[i];
  float sig = tsr_plane_noise (lum, img->mask, w, h, img->cfa != TSR_CFA_NONE ? 2 : 1);
  gsize nb = (gsize) bw * bh;
  float *b = g_new0 (float, nb);
  for (int y = 0; y < bh * B; y++)
    for (int x = 0; x < bw * B; x++)
      b[(gsize) (y / B) * bw + x / B] += lum[(gsize) y * w + x] / (B * B);
  g_free (lum);
  float sig_b = sig / B;
  float *s = g_memdup2 (b, nb * sizeof (float));
  /* two order statistics: selections, not a sort of every block (the same values) */
  float hi = tsr_select_inplace (s, nb, (gsize) (0.995 * (nb - 1)));
  float lo = tsr_select_inplace (s, nb, (gsize) (0.05 * (nb - 1)));
  g_free (s);
  float thr = lo + 0.25f * (hi - lo);
  float thr_c = lo + MAX (10 * sig_b, 0.05f * (hi - lo));
  /* label components above thr (extended) and above thr_c (compact) */
  int *lab = g_new (int, nb);
  int *stack = g_new (int, nb);
  for (int pass = 0; pass < 2; pass++)
    {
      float t = pass == 0 ? thr : thr_c;
      for (gsize i = 0; i < nb; i++)
        lab[i] = b[i] > t ? -1 : 0;
      int next = 0;
      gsize best_area = 0, bright = 0;
      double bsx = 0, bsy = 0;
      int best_edges = 0;
      for (gsize i0 = 0; i0 < nb; i0++)
        {
          if (lab[i0] != -1)
            continue;
          next++;
          gsize area = 0;
          double sx = 0, sy = 0;
          int edges = 0;
          int sp = 0;
          stack[sp++] = i0;
          lab[i0] = next;
          while (sp)
            {
              int i = stack[--sp];
              int x = i % bw, y = i / bw;
              area++;
              sx += x;
              sy += y;
              edges |= (x == 0) | ((x == bw - 1) << 1) | ((y == 0) << 2) | ((y == bh - 1) << 3);
              const int nbr[4][2] = { { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } };
              for (int k = 0; k < 4; k++)
                {
                  int xx = x + nbr[k][0], yy = y + nbr[k][1];
                  if (xx < 0 || yy < 0 || xx >= bw || yy >= bh)
                    continue;
                  int j = yy * bw + xx;
                  if (lab[j] == -1)
                    {
                      lab[j] = next;
                      stack[sp++] = j;
                    }
                }
            }
          bright += area;
          if (pass == 1 && area <= 6)
            info->n_compact++;
          if (pass == 0 && area > best_area)
            {
              best_area = area;
              bsx = sx / area;
              bsy = sy / area;
              best_edges = edges;
            }
        }
      if (pass == 0)
        {
          info->extended_fraction = (double) best_area / nb;
          info->bright_fraction = (double) bright / nb;
          info->disc_x = (bsx + 0.5) * B - 0.5;
          info->disc_y = (bsy + 0.5) * B - 0.5;
          info->disc_r = sqrt (best_area / G_PI) * B;
          int ne = __builtin_popcount (best_edges);
          info->surface = info->bright_fraction >= 0.4 || (ne >= 3 && info->extended_fraction >= 0.2);
        }
    }
  g_free (lab);
  g_free (stack);
  g_free (b);
  gboolean contrast = hi - lo > 20 * sig_b;
  /* frames under 128 px or a "disc" under 12 px radius are too small to call: deep sky */
  gboolean big_enough = w >= 128 && h >= 128 && (info->surface || info->disc_r >= 12);
  info->starless = contrast && big_enough && info->n_compact < 25
                   && (info->extended_fraction >= 0.02 || info->surface);
}

typedef struct
{
  TsrFrameSource *src;
  GMutex *read_lock;   /* a frame source reads one frame at a time (video containers) */
  guint index;
  TsrStarlessInfo info;
  GError *error;
} StarlessJob;

static gpointer
starless_one (gpointer data)
{
  StarlessJob *j = data;
  g_mutex_lock (j->read_lock);
  TsrImage *img = tsr_frame_source_read (j->src, j->index, &j->error);
  g_mutex_unlock (j->read_lock);
  if (img)
    {
      tsr_starless_detect (img, &j->info);
      tsr_image_unref (img);
    }
  return NULL;
}

gboolean
tsr_starless_detect_paths (const char *const *paths, TsrStarlessInfo *info, GError **error)
{
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, error);
  if (!src)
    return FALSE;
  guint n = tsr_frame_source_n_frames (src);
  guint pick[3] = { 0, n / 2, n - 1 };
  GMutex read_lock;
  g_mutex_init (&read_lock);
  StarlessJob jobs[3];
  GThread *th[3] = { NULL, NULL, NULL };
  guint used = 0;
  for (guint i = 0; i < 3; i++)
    {
      if (i > 0 && pick[i] == pick[i - 1])
        continue;
      jobs[used] = (StarlessJob) { src, &read_lock, pick[i], { 0 }, NULL };
      used++;
    }
  /* the frames are independent: all but the first in threads of their own (this runs before
   * anything else of a run, alone on the machine's cores) */
  guint cores = g_get_num_processors ();
  for (guint i = 1; i < used; i++)
    if (i < cores)
      th[i] = g_thread_try_new ("tsr-starless", starless_one, &jobs[i], NULL);
  starless_one (&jobs[0]);
  for (guint i = 1; i < used; i++)
    {
      if (th[i])
        g_thread_join (th[i]);
      else
        starless_one (&jobs[i]);
    }
  g_mutex_clear (&read_lock);
  guint votes = 0, surf = 0;
  gboolean ok = TRUE;
  for (guint i = 0; i < used; i++)
    {
      if (jobs[i].error)
        {
          if (ok)
            g_propagate_error (error, jobs[i].error);
          else
            g_error_free (jobs[i].error);
          ok = FALSE;
          continue;
        }
      if (i == 0)
        *info = jobs[i].info;
      votes += jobs[i].info.starless;
      surf += jobs[i].info.surface;
    }
  if (!ok)
    return FALSE;
  info->starless = votes * 2 > used;
  info->surface = surf * 2 > used;
  return TRUE;
}
