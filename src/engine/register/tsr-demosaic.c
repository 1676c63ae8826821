/* tsr-demosaic.c — one demosaic of an accumulated CFA mosaic (Malvar–He–Cutler). The
 * filters are linear, so linear data stays linear. */
#include "tsr-demosaic.h"

#include <string.h>

float
tsr_demosaic_fill (const TsrImage *m, int x, int y)
{
  int w = m->width, h = m->height;
  double s = 0;
  int n = 0;
  for (int r = 2; r <= 8 && n == 0; r += 2)
    for (int dy = -r; dy <= r; dy += 2)
      for (int dx = -r; dx <= r; dx += 2)
        {
          int xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h)
            continue;
          gsize kk = (gsize) yy * w + xx;
          if (m->mask[kk])
            s += m->data[kk], n++;
        }
  return n ? s / n : 0.0f;
}

/* Invalid mosaic samples are filled (tsr_demosaic_fill) so the filters see no holes; the
 * output mask keeps them invalid. */
static float *
filled_copy (const TsrImage *m)
{
  int w = m->width, h = m->height;
  float *f = g_memdup2 (m->data, sizeof (float) * w * h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize k = (gsize) y * w + x;
        if (!m->mask[k])
          f[k] = tsr_demosaic_fill (m, x, y);
      }
  return f;
}

/* One site of the mosaic; inner: all taps at direct offsets (x, y at least 2 from the
 * edges), else reflected. Inlined with a constant inner. */
static inline __attribute__ ((always_inline)) void
demosaic_site (const float *src, int w, int h, int x, int y, gboolean inner, const int col[2][2],
               const int right_is_red[2][2], float *R, float *G, float *B)
{
  gsize k = (gsize) y * w + x;
  int c = col[y & 1][x & 1];
#define P(dx, dy) (inner ? src[k + (gssize) (dy) * w + (dx)] \
                 : src[(gsize) tsr_reflect_index (y + (dy), h) * w + tsr_reflect_index (x + (dx), w)])
  float v = src[k];
  if (c == TSR_RED || c == TSR_BLUE)
    {
      /* G at a red or blue site */
      float g_rb = (4 * v + 2 * (P (-1, 0) + P (1, 0) + P (0, -1) + P (0, 1))
                    - (P (-2, 0) + P (2, 0) + P (0, -2) + P (0, 2))) / 8.0f;
      /* the other chroma at a red/blue site (diagonal neighbours) */
      float rb_br = (6 * v + 2 * (P (-1, -1) + P (1, -1) + P (-1, 1) + P (1, 1))
                     - 1.5f * (P (-2, 0) + P (2, 0) + P (0, -2) + P (0, 2))) / 8.0f;
      G[k] = g_rb;
      if (c == TSR_RED)
        R[k] = v, B[k] = rb_br;
      else
        B[k] = v, R[k] = rb_br;
    }
  else
    {
      float diag = P (-1, -1) + P (1, -1) + P (-1, 1) + P (1, 1);
      /* chroma at a green site from horizontal neighbours */
      float h_c = (5 * v + 4 * (P (-1, 0) + P (1, 0)) - (P (-2, 0) + P (2, 0)) - diag
                   + 0.5f * (P (0, -2) + P (0, 2))) / 8.0f;
      /* chroma at a green site from vertical neighbours */
      float v_c = (5 * v + 4 * (P (0, -1) + P (0, 1)) - (P (0, -2) + P (0, 2)) - diag
                   + 0.5f * (P (-2, 0) + P (2, 0))) / 8.0f;
      G[k] = v;
      if (right_is_red[y & 1][x & 1])
        R[k] = h_c, B[k] = v_c;
      else
        B[k] = h_c, R[k] = v_c;
    }
#undef P
}

TsrImage *
tsr_demosaic (const TsrImage *m)
{
  g_return_val_if_fail (m->channels == 1 && m->cfa != TSR_CFA_NONE, NULL);
  int w = m->width, h = m->height;
  /* every sample of the three planes is written below, the mask copied */
  TsrImage *out = tsr_image_new_uninit (w, h, 3);
  if (!out)
    return NULL;
  tsr_header_free (out->header);
  out->header = tsr_header_copy (m->header);
  memcpy (out->mask, m->mask, (gsize) w * h);
  float *src = filled_copy (m);
  float *R = tsr_image_plane (out, 0), *G = tsr_image_plane (out, 1), *B = tsr_image_plane (out, 2);
  /* Colours of the 2×2 pattern: the filters needed at a site depend only on it. */
  int col[2][2], right_is_red[2][2];
  for (int py = 0; py < 2; py++)
    for (int px = 0; px < 2; px++)
      {
        col[py][px] = tsr_cfa_color (m->cfa, px, py);
        right_is_red[py][px] = tsr_cfa_color (m->cfa, px + 1, py) == TSR_RED;
      }
  for (int y = 0; y < h; y++)
    {
      gboolean inner_row = y >= 2 && y < h - 2;
      /* interior pixels with direct offsets (no reflection tests per tap), the two-pixel
       * border with reflected ones; the same arithmetic either way */
      int xa = inner_row ? MIN (2, w) : w, xb = inner_row ? MAX (w - 2, xa) : w;
      for (int x = 0; x < xa; x++)
        demosaic_site (src, w, h, x, y, FALSE, col, right_is_red, R, G, B);
      for (int x = xa; x < xb; x++)
        demosaic_site (src, w, h, x, y, TRUE, col, right_is_red, R, G, B);
      for (int x = xb; x < w; x++)
        demosaic_site (src, w, h, x, y, FALSE, col, right_is_red, R, G, B);
    }
  g_free (src);
  out->cfa = TSR_CFA_NONE;
  return out;
}
