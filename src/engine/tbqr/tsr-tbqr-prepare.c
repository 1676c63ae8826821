/* tsr-tbqr-prepare.c — one frame made ready for accumulation: normalised in its own
 * geometry, demosaiced when norm.color_method says so, warped into the reference geometry.
 * Used by the accumulate pass and by the frame cache. */
#include "tsr-tbqr-private.h"
#include "tsr-warp.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_NORM_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_NORM_CLONES
#define TSR_NORM_CLONES
#endif

typedef double TsrNormV4 __attribute__ ((vector_size (4 * sizeof (double))));

/* One row of the additive normalisation, (v − bg(x, y)) / scale + ref with bg = p0 + p1·x +
 * p2·y of the site's colour: four sites a vector, the colours of even and odd columns in
 * alternate lanes. Lane by lane exactly the scalar expression's operations in its order (no
 * FMA in either clone), so exactly its values. */
static TSR_NORM_CLONES void
normalise_row_add (float *restrict row, int w, int y, const double *const pp[2], const double cs[2],
                   const double ref[2])
{
  const TsrNormV4 p0 = { pp[0][0], pp[1][0], pp[0][0], pp[1][0] };
  const TsrNormV4 p1 = { pp[0][1], pp[1][1], pp[0][1], pp[1][1] };
  const TsrNormV4 p2 = { pp[0][2], pp[1][2], pp[0][2], pp[1][2] };
  const TsrNormV4 sc = { cs[0], cs[1], cs[0], cs[1] }, rf = { ref[0], ref[1], ref[0], ref[1] };
  const double yd = y;
  int x = 0;
  for (; x + 4 <= w; x += 4)
    {
      const TsrNormV4 xd = { x, x + 1, x + 2, x + 3 };
      const TsrNormV4 v = { row[x], row[x + 1], row[x + 2], row[x + 3] };
      TsrNormV4 bg = p0 + p1 * xd;
      bg = bg + p2 * yd;
      const TsrNormV4 o = (v - bg) / sc + rf;
      for (int i = 0; i < 4; i++)
        row[x + i] = (float) o[i];
    }
  for (; x < w; x++)
    {
      const double *q = pp[x & 1];
      double bg = q[0] + q[1] * x + q[2] * y;
      row[x] = (row[x] - bg) / cs[x & 1] + ref[x & 1];
    }
}

/* Normalise in frame geometry: subtract the frame's background plane per colour, divide
 * by the photometric scale, add the reference's background level back. */
void
tsr_tbqr_normalise_frame (TsrImage *img, const TsrFrameMetrics *fm, const TsrAnalysis *a, TsrNormMode mode)
{
  if (mode == TSR_NORM_NONE)
    return;
  int w = img->width, h = img->height;
  for (int c = 0; c < img->channels; c++)
    {
      float *pl = tsr_image_plane (img, c);
      for (int y = 0; y < h; y++)
        {
          /* the colour of a site repeats every two columns: looked up once per row */
          int rowcol[2];
          for (int x = 0; x < 2; x++)
            rowcol[x] = img->channels == 3 ? c : (img->cfa != TSR_CFA_NONE ? tsr_cfa_color (img->cfa, x, y) : 0);
          if (mode != TSR_NORM_DIVIDE_BACKGROUND)
            {
              const double *pp[2] = { fm->plane[rowcol[0]], fm->plane[rowcol[1]] };
              const double cs[2] = { fm->color_scale[rowcol[0]], fm->color_scale[rowcol[1]] };
              const double ref[2] = { a->ref_plane[rowcol[0]], a->ref_plane[rowcol[1]] };
              normalise_row_add (pl + (gsize) y * w, w, y, pp, cs, ref);
              continue;
            }
          for (int x = 0; x < w; x++)
            {
              int col = rowcol[x & 1];
              const double *pp = fm->plane[col];
              double bg = pp[0] + pp[1] * x + pp[2] * y;
              gsize k = (gsize) y * w + x;
              if (mode == TSR_NORM_DIVIDE_BACKGROUND)
                pl[k] = bg > 1e-6 ? pl[k] / bg * a->ref_plane[col] : pl[k];
              else
                pl[k] = (pl[k] - bg) / fm->color_scale[col] + a->ref_plane[col];
            }
        }
    }
}

/* Normalise in frame geometry, demosaic (norm.color_method=demosaic-frames) and warp into
 * the reference geometry. With sum_only, demosaiced frames come back as one plane R + G + B
 * (all the rejection statistics need: the warp is linear). img is normalised in place. */
TsrImage *
tsr_tbqr_prepare_frame (const TsrAnalysis *a, const TsrTbqrParams *p, gboolean demosaic_frames, gboolean sum_only,
            TsrImage *img, guint index, const TsrTransform *T)
{
  tsr_tbqr_normalise_frame (img, &a->frames[index], a, p->norm);
  if (demosaic_frames && img->channels == 1 && img->cfa != TSR_CFA_NONE && !sum_only)
    return tsr_warp_demosaic (img, p->demosaic, T, a->width, a->height, p->reg.interp);
  if (demosaic_frames && img->channels == 1 && img->cfa != TSR_CFA_NONE)
    {
      g_autoptr (TsrImage) rgb = tsr_demosaic_with (img, p->demosaic);
      if (!rgb)
        return NULL;
      if (sum_only)
        {
          gsize n = tsr_image_npix (rgb);
          g_autoptr (TsrImage) sum = tsr_image_new (rgb->width, rgb->height, 1);
          memcpy (sum->mask, rgb->mask, n);
          for (gsize k = 0; k < n; k++)
            sum->data[k] = rgb->data[k] + rgb->data[n + k] + rgb->data[2 * n + k];
          return tsr_warp (sum, T, a->width, a->height, TSR_CFA_NONE, p->reg.interp);
        }
      return tsr_warp (rgb, T, a->width, a->height, TSR_CFA_NONE, p->reg.interp);
    }
  return tsr_warp (img, T, a->width, a->height, a->cfa, p->reg.interp);
}
