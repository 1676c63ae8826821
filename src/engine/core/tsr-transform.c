/* tsr-transform.c — planar transforms between pixel grids. */
#include "tsr-transform.h"

#include <math.h>
#include <string.h>

const char *
tsr_model_name (TsrModel m)
{
  switch (m)
    {
    case TSR_MODEL_AFFINE: return "affine";
    case TSR_MODEL_HOMOGRAPHY: return "homography";
    case TSR_MODEL_SIMILARITY:
    default: return "similarity";
    }
}

gboolean
tsr_model_from_name (const char *name, TsrModel *out)
{
  for (int m = 0; m <= TSR_MODEL_HOMOGRAPHY; m++)
    if (name && g_ascii_strcasecmp (name, tsr_model_name (m)) == 0)
      {
        *out = m;
        return TRUE;
      }
  return FALSE;
}

void
tsr_transform_identity (TsrTransform *t)
{
  memset (t, 0, sizeof *t);
  t->m[0] = t->m[4] = t->m[8] = 1.0;
}

void
tsr_transform_apply (const TsrTransform *t, double x, double y, double *ox, double *oy)
{
  const double *m = t->m;
  double w = m[6] * x + m[7] * y + m[8];
  if (w == 0)
    w = 1e-300;
  *ox = (m[0] * x + m[1] * y + m[2]) / w;
  *oy = (m[3] * x + m[4] * y + m[5]) / w;
}

void
tsr_transform_compose (const TsrTransform *a, const TsrTransform *b, TsrTransform *out)
{
  double r[9];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      r[i * 3 + j] = a->m[i * 3 + 0] * b->m[0 * 3 + j] + a->m[i * 3 + 1] * b->m[1 * 3 + j]
                     + a->m[i * 3 + 2] * b->m[2 * 3 + j];
  memcpy (out->m, r, sizeof r);
  if (out->m[8] != 0 && out->m[8] != 1.0)
    for (int i = 0; i < 9; i++)
      out->m[i] /= r[8];
}

gboolean
tsr_transform_invert (const TsrTransform *t, TsrTransform *out)
{
  const double *m = t->m;
  double c00 = m[4] * m[8] - m[5] * m[7];
  double c01 = m[5] * m[6] - m[3] * m[8];
  double c02 = m[3] * m[7] - m[4] * m[6];
  double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  if (fabs (det) < 1e-300)
    return FALSE;
  double r[9];
  r[0] = c00 / det;
  r[1] = (m[2] * m[7] - m[1] * m[8]) / det;
  r[2] = (m[1] * m[5] - m[2] * m[4]) / det;
  r[3] = c01 / det;
  r[4] = (m[0] * m[8] - m[2] * m[6]) / det;
  r[5] = (m[2] * m[3] - m[0] * m[5]) / det;
  r[6] = c02 / det;
  r[7] = (m[1] * m[6] - m[0] * m[7]) / det;
  r[8] = (m[0] * m[4] - m[1] * m[3]) / det;
  if (r[8] != 0)
    for (int i = 0; i < 9; i++)
      r[i] /= r[8] == 0 ? 1 : r[8];
  memcpy (out->m, r, sizeof r);
  return TRUE;
}

void
tsr_transform_similarity (TsrTransform *t, double theta, double scale, double tx, double ty)
{
  tsr_transform_identity (t);
  double c = scale * cos (theta), s = scale * sin (theta);
  t->m[0] = c;
  t->m[1] = -s;
  t->m[2] = tx;
  t->m[3] = s;
  t->m[4] = c;
  t->m[5] = ty;
}

double
tsr_transform_det (const TsrTransform *t)
{
  return t->m[0] * t->m[4] - t->m[1] * t->m[3];
}

double
tsr_transform_scale (const TsrTransform *t)
{
  return sqrt (fabs (tsr_transform_det (t)));
}

double
tsr_transform_rotation (const TsrTransform *t)
{
  return atan2 (t->m[3] - t->m[1], t->m[0] + t->m[4]);
}

double
tsr_transform_corner_rms (const TsrTransform *a, const TsrTransform *b, int w, int h)
{
  const double cx[4] = { 0, w - 1, 0, w - 1 }, cy[4] = { 0, 0, h - 1, h - 1 };
  double s = 0;
  for (int i = 0; i < 4; i++)
    {
      double ax, ay, bx, by;
      tsr_transform_apply (a, cx[i], cy[i], &ax, &ay);
      tsr_transform_apply (b, cx[i], cy[i], &bx, &by);
      s += (ax - bx) * (ax - bx) + (ay - by) * (ay - by);
    }
  return sqrt (s / 4);
}

/* Solve the normal equations A x = b (n × n, symmetric positive) by Gaussian elimination
 * with partial pivoting. */
static gboolean
solve (double *A, double *b, int n)
{
  for (int c = 0; c < n; c++)
    {
      int p = c;
      for (int r = c + 1; r < n; r++)
        if (fabs (A[r * n + c]) > fabs (A[p * n + c]))
          p = r;
      if (fabs (A[p * n + c]) < 1e-12)
        return FALSE;
      if (p != c)
        {
          for (int k = 0; k < n; k++)
            {
              double t = A[c * n + k];
              A[c * n + k] = A[p * n + k];
              A[p * n + k] = t;
            }
          double t = b[c];
          b[c] = b[p];
          b[p] = t;
        }
      for (int r = c + 1; r < n; r++)
        {
          double f = A[r * n + c] / A[c * n + c];
          for (int k = c; k < n; k++)
            A[r * n + k] -= f * A[c * n + k];
          b[r] -= f * b[c];
        }
    }
  for (int c = n - 1; c >= 0; c--)
    {
      double s = b[c];
      for (int k = c + 1; k < n; k++)
        s -= A[c * n + k] * b[k];
      b[c] = s / A[c * n + c];
    }
  return TRUE;
}

/* Accumulate one observation row (coefficients a[0..n-1], value v, weight w). */
static void
accumulate (double *ATA, double *ATb, const double *a, double v, double w, int n)
{
  for (int i = 0; i < n; i++)
    {
      ATb[i] += w * a[i] * v;
      for (int j = 0; j < n; j++)
        ATA[i * n + j] += w * a[i] * a[j];
    }
}

gboolean
tsr_transform_fit (TsrModel model, const double *src, const double *dst, const double *w,
                   guint n, TsrTransform *out)
{
  /* Normalise coordinates (centroid, mean distance √2) for conditioning. */
  double sx = 0, sy = 0, dx = 0, dy = 0, sw = 0;
  for (guint i = 0; i < n; i++)
    {
      double wi = w ? w[i] : 1.0;
      sx += wi * src[2 * i];
      sy += wi * src[2 * i + 1];
      dx += wi * dst[2 * i];
      dy += wi * dst[2 * i + 1];
      sw += wi;
    }
  guint need = model == TSR_MODEL_SIMILARITY ? 2 : model == TSR_MODEL_AFFINE ? 3 : 4;
  if (n < need || sw <= 0)
    return FALSE;
  sx /= sw, sy /= sw, dx /= sw, dy /= sw;
  double ss = 0, ds = 0;
  for (guint i = 0; i < n; i++)
    {
      double wi = w ? w[i] : 1.0;
      ss += wi * hypot (src[2 * i] - sx, src[2 * i + 1] - sy);
      ds += wi * hypot (dst[2 * i] - dx, dst[2 * i + 1] - dy);
    }
  ss = ss > 0 ? M_SQRT2 * sw / ss : 1.0;
  ds = ds > 0 ? M_SQRT2 * sw / ds : 1.0;

  double H[9];
  if (model == TSR_MODEL_SIMILARITY)
    {
      /* x' = a x − b y + tx ; y' = b x + a y + ty */
      double ATA[16] = { 0 }, ATb[4] = { 0 };
      for (guint i = 0; i < n; i++)
        {
          double wi = w ? w[i] : 1.0;
          double x = (src[2 * i] - sx) * ss, y = (src[2 * i + 1] - sy) * ss;
          double u = (dst[2 * i] - dx) * ds, v = (dst[2 * i + 1] - dy) * ds;
          double r1[4] = { x, -y, 1, 0 }, r2[4] = { y, x, 0, 1 };
          accumulate (ATA, ATb, r1, u, wi, 4);
          accumulate (ATA, ATb, r2, v, wi, 4);
        }
      if (!solve (ATA, ATb, 4))
        return FALSE;
      double h[9] = { ATb[0], -ATb[1], ATb[2], ATb[1], ATb[0], ATb[3], 0, 0, 1 };
      memcpy (H, h, sizeof h);
    }
  else if (model == TSR_MODEL_AFFINE)
    {
      double ATA[9] = { 0 }, ATbx[3] = { 0 }, ATA2[9], ATby[3] = { 0 };
      for (guint i = 0; i < n; i++)
        {
          double wi = w ? w[i] : 1.0;
          double x = (src[2 * i] - sx) * ss, y = (src[2 * i + 1] - sy) * ss;
          double u = (dst[2 * i] - dx) * ds, v = (dst[2 * i + 1] - dy) * ds;
          double r[3] = { x, y, 1 };
          for (int a = 0; a < 3; a++)
            {
              ATbx[a] += wi * r[a] * u;
              ATby[a] += wi * r[a] * v;
              for (int b = 0; b < 3; b++)
                ATA[a * 3 + b] += wi * r[a] * r[b];
            }
        }
      memcpy (ATA2, ATA, sizeof ATA);
      if (!solve (ATA, ATbx, 3) || !solve (ATA2, ATby, 3))
        return FALSE;
      double h[9] = { ATbx[0], ATbx[1], ATbx[2], ATby[0], ATby[1], ATby[2], 0, 0, 1 };
      memcpy (H, h, sizeof h);
    }
  else
    {
      /* DLT with h8 = 1 (normalised coordinates keep this well conditioned), then a few
       * Gauss–Newton iterations on the geometric error. */
      double ATA[64] = { 0 }, ATb[8] = { 0 };
      for (guint i = 0; i < n; i++)
        {
          double wi = w ? w[i] : 1.0;
          double x = (src[2 * i] - sx) * ss, y = (src[2 * i + 1] - sy) * ss;
          double u = (dst[2 * i] - dx) * ds, v = (dst[2 * i + 1] - dy) * ds;
          double r1[8] = { x, y, 1, 0, 0, 0, -u * x, -u * y };
          double r2[8] = { 0, 0, 0, x, y, 1, -v * x, -v * y };
          accumulate (ATA, ATb, r1, u, wi, 8);
          accumulate (ATA, ATb, r2, v, wi, 8);
        }
      if (!solve (ATA, ATb, 8))
        return FALSE;
      double h[9] = { ATb[0], ATb[1], ATb[2], ATb[3], ATb[4], ATb[5], ATb[6], ATb[7], 1 };
      for (int it = 0; it < 5; it++)
        {
          double JTJ[64] = { 0 }, JTr[8] = { 0 };
          for (guint i = 0; i < n; i++)
            {
              double wi = w ? w[i] : 1.0;
              double x = (src[2 * i] - sx) * ss, y = (src[2 * i + 1] - sy) * ss;
              double u = (dst[2 * i] - dx) * ds, v = (dst[2 * i + 1] - dy) * ds;
              double W = h[6] * x + h[7] * y + 1;
              double px = (h[0] * x + h[1] * y + h[2]) / W, py = (h[3] * x + h[4] * y + h[5]) / W;
              double jx[8] = { x / W, y / W, 1 / W, 0, 0, 0, -px * x / W, -px * y / W };
              double jy[8] = { 0, 0, 0, x / W, y / W, 1 / W, -py * x / W, -py * y / W };
              accumulate (JTJ, JTr, jx, u - px, wi, 8);
              accumulate (JTJ, JTr, jy, v - py, wi, 8);
            }
          if (!solve (JTJ, JTr, 8))
            break;
          for (int k = 0; k < 8; k++)
            h[k] += JTr[k];
        }
      memcpy (H, h, sizeof h);
    }
  /* Undo the normalisation: out = Td⁻¹ · H · Ts */
  TsrTransform Ts, Tdi, Hm, tmp;
  tsr_transform_identity (&Ts);
  Ts.m[0] = Ts.m[4] = ss;
  Ts.m[2] = -ss * sx;
  Ts.m[5] = -ss * sy;
  tsr_transform_identity (&Tdi);
  Tdi.m[0] = Tdi.m[4] = 1.0 / ds;
  Tdi.m[2] = dx;
  Tdi.m[5] = dy;
  memcpy (Hm.m, H, sizeof H);
  tsr_transform_compose (&Hm, &Ts, &tmp);
  tsr_transform_compose (&Tdi, &tmp, out);
  for (int i = 0; i < 9; i++)
    if (!isfinite (out->m[i]))
      return FALSE;
  return TRUE;
}
