/* tsr-register.c — registration of a session to a reference frame, with the geometric
 * validity gate. See docs/registration.md for the method and the definitions. */
#include "tsr-register.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-frames.h"
#include "tsr-json.h"
#include "tsr-stats.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

void
tsr_register_params_init (TsrRegisterParams *p)
{
  memset (p, 0, sizeof *p);
  p->model = TSR_MODEL_SIMILARITY;
  p->reference = -1;
  tsr_star_params_init (&p->stars);
  p->interp = TSR_INTERP_LANCZOS3;
  p->match_stars = 30;
  p->match_tolerance_px = 2.0;
  p->min_matched = 6;
  p->starless_fallback = TRUE;
  p->min_phase_peak = 0.2;
  p->cc_size = 256;
  p->reject_scale_min = 0.92;
  p->reject_scale_max = 1.08;
  p->reject_cc_min_abs = 0.35;
  p->reject_cc_mad_multiplier = 4.0;
  p->reject_cc_margin_min = 0.05;
  p->reject_cc_trust_stars = TRUE;
  p->reject_shift_px_min = 25.0;
  p->reject_shift_median_multiplier = 3.0;
}

/* ---------------------------------------------------------------------------------------
 * Star pattern matching: similar triangles vote for star pairs, the best-voted pairs seed
 * exhaustive 3-point affine hypotheses, the best hypothesis is grown to every star by
 * mutual nearest neighbours and refined by least squares with the requested model.
 */

typedef struct
{
  float r1, r2;     /* b/a and c/a, a ≥ b ≥ c the sides */
  float a;          /* longest side */
  guint8 v[3];      /* vertices opposite a, b, c */
} Triangle;

static int
cmp_tri (const void *x, const void *y)
{
  const Triangle *a = x, *b = y;
  return a->r1 < b->r1 ? -1 : a->r1 > b->r1;
}

static GArray *
make_triangles (const double *xy, guint k)
{
  GArray *t = g_array_new (FALSE, FALSE, sizeof (Triangle));
  for (guint i = 0; i < k; i++)
    for (guint j = i + 1; j < k; j++)
      for (guint l = j + 1; l < k; l++)
        {
          double dij = hypot (xy[2 * i] - xy[2 * j], xy[2 * i + 1] - xy[2 * j + 1]);
          double djl = hypot (xy[2 * j] - xy[2 * l], xy[2 * j + 1] - xy[2 * l + 1]);
          double dil = hypot (xy[2 * i] - xy[2 * l], xy[2 * i + 1] - xy[2 * l + 1]);
          /* side opposite each vertex */
          double s[3] = { djl, dil, dij };
          guint8 v[3] = { i, j, l };
          /* sort by side length descending, carrying the opposite vertex */
          for (int p = 0; p < 2; p++)
            for (int q = 0; q < 2 - p; q++)
              if (s[q] < s[q + 1])
                {
                  double ts = s[q];
                  s[q] = s[q + 1];
                  s[q + 1] = ts;
                  guint8 tv = v[q];
                  v[q] = v[q + 1];
                  v[q + 1] = tv;
                }
          if (s[0] < 8.0 || s[2] / s[0] < 0.1)
            continue;
          /* near-isosceles triangles have ambiguous vertex order: skip them */
          if (s[0] - s[1] < 0.02 * s[0] || s[1] - s[2] < 0.02 * s[0])
            continue;
          Triangle tr = { s[1] / s[0], s[2] / s[0], s[0], { v[0], v[1], v[2] } };
          g_array_append_val (t, tr);
        }
  g_array_sort (t, cmp_tri);
  return t;
}

/* image-star indices by x (the data is the xy array) */
static gint
cmp_x_index (gconstpointer pa, gconstpointer pb, gpointer data)
{
  const double *xy = data;
  double a = xy[2 * *(const guint *) pa], b = xy[2 * *(const guint *) pb];
  return (a > b) - (a < b);
}

/* Positions, and the expected variance of each position: (FWHM / SNR)², floored so the
 * brightest stars do not dominate, and larger for saturated stars. */
static void
star_xy (const TsrStarList *l, guint n, double *xy, double *var)
{
  for (guint i = 0; i < n; i++)
    {
      const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
      xy[2 * i] = s->x;
      xy[2 * i + 1] = s->y;
      if (var)
        {
          double f = isfinite (s->fwhm) && s->fwhm > 0 ? s->fwhm : 3.0;
          double snr = isfinite (s->snr) && s->snr > 0 ? s->snr : 10.0;
          double sd = MAX (f / snr, 0.01);
          if (s->saturated)
            sd = MAX (sd, 0.1);
          var[i] = sd * sd;
        }
    }
}

/* The first n image stars ordered by x (ord: their indices, ox: their x): each search of
 * match_nn looks only at the slice within tol in x. Made once per star list and count, not
 * once per hypothesis (the sort was most of the hypothesis loop's matching). */
typedef struct
{
  const double *xy;
  guint n;
  guint *ord;
  double *ox;
} XOrder;

static void
xorder_init (XOrder *o, const double *xy, guint n)
{
  o->xy = xy;
  o->n = n;
  o->ord = g_new (guint, MAX (n, 1u));
  o->ox = g_new (double, MAX (n, 1u));
  for (guint b = 0; b < n; b++)
    o->ord[b] = b;
  g_qsort_with_data (o->ord, n, sizeof (guint), cmp_x_index, (gpointer) xy);
  for (guint k = 0; k < n; k++)
    o->ox[k] = xy[2 * o->ord[k]];
}

static void
xorder_clear (XOrder *o)
{
  g_free (o->ord);
  g_free (o->ox);
}

/* Mutual nearest neighbours within tol between T(ref) and the image stars of io. Fills
 * pairs (ref index, img index) and returns the count. */
static guint
match_nn (const double *rxy, guint nr, const XOrder *io, const TsrTransform *T, double tol, guint *pairs)
{
  const double *ixy = io->xy;
  const guint ni = io->n, *ord = io->ord;
  const double *ox = io->ox;
  double *px = g_new (double, 2 * MAX (nr, 1u));
  int *best_i = g_new (int, MAX (nr, 1u));
  /* per image star: the smallest distance of a reference star that chose it */
  double *bd_of = g_new (double, MAX (ni, 1u));
  for (guint b = 0; b < ni; b++)
    bd_of[b] = G_MAXDOUBLE;
  for (guint a = 0; a < nr; a++)
    {
      tsr_transform_apply (T, rxy[2 * a], rxy[2 * a + 1], &px[2 * a], &px[2 * a + 1]);
      best_i[a] = -1;
      double bd = tol * tol;
      /* first k with ox[k] ≥ x − tol */
      guint lo = 0, hi = ni;
      double x0 = px[2 * a] - tol;
      while (lo < hi)
        {
          guint mid = (lo + hi) / 2;
          if (ox[mid] < x0)
            lo = mid + 1;
          else
            hi = mid;
        }
      double x1 = px[2 * a] + tol;
      for (guint k = lo; k < ni && ox[k] <= x1; k++)
        {
          guint b = ord[k];
          double dx = px[2 * a] - ixy[2 * b], dy = px[2 * a + 1] - ixy[2 * b + 1];
          double d = dx * dx + dy * dy;
          /* nearest; among equal distances the lowest index, as a sweep in index order */
          if (d < bd || (d == bd && best_i[a] >= 0 && (int) b < best_i[a]))
            bd = d, best_i[a] = b;
        }
      if (best_i[a] >= 0 && bd < bd_of[best_i[a]])
        bd_of[best_i[a]] = bd;
    }
  guint n = 0;
  for (guint a = 0; a < nr; a++)
    {
      int b = best_i[a];
      if (b < 0)
        continue;
      /* mutual: no other ref star closer to b */
      double dx = px[2 * a] - ixy[2 * b], dy = px[2 * a + 1] - ixy[2 * b + 1];
      if (dx * dx + dy * dy <= bd_of[b])
        {
          pairs[2 * n] = a;
          pairs[2 * n + 1] = b;
          n++;
        }
    }
  g_free (px);
  g_free (best_i);
  g_free (bd_of);
  return n;
}

gboolean
tsr_match_stars (const TsrStarList *ref, const TsrStarList *img, TsrModel model, guint match_stars,
                 double tolerance, guint min_matched, TsrTransform *T, guint *n_matched, double *rms)
{
  *n_matched = 0;
  *rms = NAN;
  if (!ref || !img)
    return FALSE;
  guint nr = ref->stars->len, ni = img->stars->len;
  guint kr = MIN (MIN (nr, match_stars), 255), ki = MIN (MIN (ni, match_stars), 255);
  if (kr < 3 || ki < 3 || nr < min_matched || ni < min_matched)
    return FALSE;
  double *rxy = g_new (double, 2 * nr), *ixy = g_new (double, 2 * ni);
  double *rv = g_new (double, nr), *iv = g_new (double, ni);
  star_xy (ref, nr, rxy, rv);
  star_xy (img, ni, ixy, iv);

  GArray *tr = make_triangles (rxy, kr), *ti = make_triangles (ixy, ki);
  guint *votes = g_new0 (guint, kr * ki);
  const float tol = 0.008f;
  for (guint a = 0; a < ti->len; a++)
    {
      const Triangle *t = &g_array_index (ti, Triangle, a);
      /* binary search for r1 − tol */
      guint lo = 0, hi = tr->len;
      while (lo < hi)
        {
          guint mid = (lo + hi) / 2;
          if (g_array_index (tr, Triangle, mid).r1 < t->r1 - tol)
            lo = mid + 1;
          else
            hi = mid;
        }
      for (guint b = lo; b < tr->len; b++)
        {
          const Triangle *u = &g_array_index (tr, Triangle, b);
          if (u->r1 > t->r1 + tol)
            break;
          if (fabsf (u->r2 - t->r2) > tol)
            continue;
          float sc = t->a / u->a;
          if (sc < 0.5f || sc > 2.0f)
            continue;
          for (int v = 0; v < 3; v++)
            votes[u->v[v] * ki + t->v[v]]++;
        }
    }
  g_array_unref (tr);
  g_array_unref (ti);

  /* Candidate pairs: for each ref star its best-voted img star, strongest first. */
  typedef struct { guint r, i, v; } Cand;
  GArray *cands = g_array_new (FALSE, FALSE, sizeof (Cand));
  for (guint r = 0; r < kr; r++)
    {
      guint best = 0, bi = 0;
      for (guint i = 0; i < ki; i++)
        if (votes[r * ki + i] > best)
          best = votes[r * ki + i], bi = i;
      if (best >= 2)
        {
          Cand c = { r, bi, best };
          g_array_append_val (cands, c);
        }
    }
  g_free (votes);
  /* sort by votes, descending */
  for (guint a = 1; a < cands->len; a++)
    for (guint b = a; b > 0 && g_array_index (cands, Cand, b).v > g_array_index (cands, Cand, b - 1).v; b--)
      {
        Cand t = g_array_index (cands, Cand, b);
        g_array_index (cands, Cand, b) = g_array_index (cands, Cand, b - 1);
        g_array_index (cands, Cand, b - 1) = t;
      }

  guint nc = MIN (cands->len, 16);
  guint *pairs = g_new (guint, 2 * MAX (nr, ni));
  TsrTransform best_T;
  guint best_n = 0;
  /* count inliers over the brightest stars only while hypothesising */
  guint hr = MIN (nr, 150), hi = MIN (ni, 150);
  XOrder ho, io;
  xorder_init (&ho, ixy, hi);
  xorder_init (&io, ixy, ni);
  for (guint a = 0; a < nc; a++)
    for (guint b = a + 1; b < nc; b++)
      for (guint c = b + 1; c < nc; c++)
        {
          const Cand *ca = &g_array_index (cands, Cand, a), *cb = &g_array_index (cands, Cand, b),
                     *cc = &g_array_index (cands, Cand, c);
          if (ca->i == cb->i || ca->i == cc->i || cb->i == cc->i)
            continue;
          double s[6] = { rxy[2 * ca->r], rxy[2 * ca->r + 1], rxy[2 * cb->r], rxy[2 * cb->r + 1],
                          rxy[2 * cc->r], rxy[2 * cc->r + 1] };
          double d[6] = { ixy[2 * ca->i], ixy[2 * ca->i + 1], ixy[2 * cb->i], ixy[2 * cb->i + 1],
                          ixy[2 * cc->i], ixy[2 * cc->i + 1] };
          TsrTransform H;
          if (!tsr_transform_fit (TSR_MODEL_AFFINE, s, d, NULL, 3, &H))
            continue;
          double det = fabs (tsr_transform_det (&H));
          if (det < 0.25 || det > 4.0)
            continue;
          /* a similarity-like hypothesis: axes of nearly equal length */
          double ax = hypot (H.m[0], H.m[3]), ay = hypot (H.m[1], H.m[4]);
          if (ax / ay < 0.8 || ax / ay > 1.25)
            continue;
          guint n = match_nn (rxy, hr, &ho, &H, tolerance, pairs);
          if (n > best_n)
            best_n = n, best_T = H;
        }
  g_array_unref (cands);

  gboolean ok = FALSE;
  if (best_n >= MIN (min_matched, 4))
    {
      /* Grow to every star and refine. A reflected field keeps an affine fit (a
       * similarity cannot represent it) so the gate can see det < 0. */
      gboolean reflected = tsr_transform_det (&best_T) < 0;
      TsrModel m = reflected && model == TSR_MODEL_SIMILARITY ? TSR_MODEL_AFFINE : model;
      TsrTransform cur = best_T;
      double tol_now = tolerance;
      double *s = g_new (double, 2 * nr), *d = g_new (double, 2 * nr), *w = g_new (double, nr);
      guint n = 0;
      double r = NAN;
      for (int it = 0; it < 4; it++)
        {
          n = match_nn (rxy, nr, &io, &cur, tol_now, pairs);
          if (n < MAX (min_matched, m == TSR_MODEL_HOMOGRAPHY ? 5u : 3u))
            break;
          for (guint k = 0; k < n; k++)
            {
              s[2 * k] = rxy[2 * pairs[2 * k]];
              s[2 * k + 1] = rxy[2 * pairs[2 * k] + 1];
              d[2 * k] = ixy[2 * pairs[2 * k + 1]];
              d[2 * k + 1] = ixy[2 * pairs[2 * k + 1] + 1];
              w[k] = 1.0 / (rv[pairs[2 * k]] + iv[pairs[2 * k + 1]]);
            }
          TsrTransform next;
          if (!tsr_transform_fit (m, s, d, w, n, &next))
            break;
          cur = next;
          double ss = 0;
          for (guint k = 0; k < n; k++)
            {
              double px, py;
              tsr_transform_apply (&cur, s[2 * k], s[2 * k + 1], &px, &py);
              ss += (px - d[2 * k]) * (px - d[2 * k]) + (py - d[2 * k + 1]) * (py - d[2 * k + 1]);
            }
          r = sqrt (ss / n);
          ok = n >= min_matched;
          tol_now = MIN (tolerance, MAX (4.0 * r, 0.75));
        }
      if (ok)
        {
          *T = cur;
          *n_matched = n;
          *rms = r;
        }
      g_free (s);
      g_free (d);
      g_free (w);
    }
  xorder_clear (&ho);
  xorder_clear (&io);
  g_free (pairs);
  g_free (rxy);
  g_free (ixy);
  g_free (rv);
  g_free (iv);
  return ok;
}

/* ---------------------------------------------------------------------------------------
 * Reduced images for the registration correlation and the starless path.
 */

static void blur_small (TsrImage *img, double sigma);

typedef struct
{
  TsrImage *img;       /* luminance, background-subtracted */
  TsrTransform to_full;/* small pixel → full-resolution pixel */
} Small;

static void
small_clear (Small *s)
{
  g_clear_pointer (&s->img, tsr_image_unref);
}

/* Luminance proxy of img, binned by an integer factor so the longer side ≤ max_side
 * (max_side ≤ 0: the proxy itself). */
static void
make_small (const TsrImage *img, int max_side, Small *out)
{
  int pscale = 1;
  TsrImage *proxy = tsr_luminance_proxy (img, TSR_LUMA_SUPERPIXEL, &pscale);
  int b = 1;
  if (max_side > 0)
    while (MAX (proxy->width, proxy->height) / b > max_side)
      b++;
  int w = proxy->width / b, h = proxy->height / b;
  TsrImage *s = tsr_image_new (MAX (w, 1), MAX (h, 1), 1);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double acc = 0;
        gboolean valid = TRUE;
        for (int j = 0; j < b; j++)
          for (int i = 0; i < b; i++)
            {
              gsize k = (gsize) (y * b + j) * proxy->width + x * b + i;
              acc += proxy->data[k];
              valid &= proxy->mask[k] != 0;
            }
        s->data[(gsize) y * w + x] = acc / (b * b);
        s->mask[(gsize) y * w + x] = valid;
      }
  tsr_image_unref (proxy);
  float med = 0, mad = 0;
  tsr_plane_median_mad (s->data, s->mask, tsr_image_npix (s), 200000, &med, &mad);
  for (gsize i = 0; i < tsr_image_npix (s); i++)
    s->data[i] = s->mask[i] ? s->data[i] - med : 0.0f;
  out->img = s;
  if (max_side > 0)
    blur_small (s, 1.5);
  double S = (double) pscale * b;
  double O = pscale * (b - 1) / 2.0 + (pscale == 2 ? 0.5 : 0.0);
  tsr_transform_identity (&out->to_full);
  out->to_full.m[0] = out->to_full.m[4] = S;
  out->to_full.m[2] = out->to_full.m[5] = O;
}

/* Separable Gaussian blur (σ in pixels) honouring the mask: the CC images are blurred
 * beyond the worst seeing, so CC measures geometric agreement, not sharpness. */
static void
blur_small (TsrImage *img, double sigma)
{
  int r = (int) ceil (3 * sigma), w = img->width, h = img->height;
  double *k = g_new (double, 2 * r + 1);
  for (int i = -r; i <= r; i++)
    k[i + r] = exp (-0.5 * i * i / (sigma * sigma));
  float *tmp = g_new (float, (gsize) w * h);
  for (int pass = 0; pass < 2; pass++)
    {
      const float *src = pass == 0 ? img->data : tmp;
      float *dst = pass == 0 ? tmp : img->data;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            double s = 0, ws = 0;
            for (int i = -r; i <= r; i++)
              {
                int xx = pass == 0 ? x + i : x, yy = pass == 0 ? y : y + i;
                if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                  continue;
                gsize kk = (gsize) yy * w + xx;
                if (!img->mask[kk])
                  continue;
                s += k[i + r] * src[kk];
                ws += k[i + r];
              }
            dst[(gsize) y * w + x] = ws > 0 ? s / ws : 0;
          }
    }
  g_free (tmp);
  g_free (k);
}

/* CC of a frame's small image against the reference's, given T (reference → frame) in
 * full-resolution pixels. */
static double
registration_cc (const Small *ref, const Small *frm, const TsrTransform *T)
{
  TsrTransform inv, tmp, Ts;
  if (!tsr_transform_invert (&frm->to_full, &inv))
    return NAN;
  tsr_transform_compose (T, &ref->to_full, &tmp);
  tsr_transform_compose (&inv, &tmp, &Ts);
  TsrImage *w = tsr_warp (frm->img, &Ts, ref->img->width, ref->img->height, TSR_CFA_NONE,
                          TSR_INTERP_BILINEAR);
  if (!w)
    return NAN;
  /* Transient features (satellite trails, aircraft) must not decide the correlation:
   * pixels where the standardised images disagree by more than 6 robust σ of their
   * difference are left out. */
  gsize n = tsr_image_npix (w);
  const float *r = ref->img->data;
  float rmed, rmad, wmed, wmad;
  tsr_plane_median_mad (r, ref->img->mask, n, 100000, &rmed, &rmad);
  tsr_plane_median_mad (w->data, w->mask, n, 100000, &wmed, &wmad);
  double rs = rmad > 0 ? 1.0 / (TSR_MAD_TO_SIGMA * rmad) : 1.0, ws = wmad > 0 ? 1.0 / (TSR_MAD_TO_SIGMA * wmad) : 1.0;
  float *d = g_new (float, n);
  guint8 *m = g_new0 (guint8, n);
  gsize nd = 0;
  for (gsize k = 0; k < n; k++)
    if (ref->img->mask[k] && w->mask[k])
      d[nd++] = (float) ((w->data[k] - wmed) * ws - (r[k] - rmed) * rs);
  float dmed = 0, dmad = 0;
  if (nd > 0)
    {
      float *tmp = g_memdup2 (d, nd * sizeof (float));
      dmed = tsr_median_inplace (tmp, nd);
      dmad = tsr_mad_inplace (tmp, nd, dmed);
      g_free (tmp);
    }
  double lim = 6.0 * TSR_MAD_TO_SIGMA * MAX (dmad, 1e-6);
  for (gsize k = 0; k < n; k++)
    if (ref->img->mask[k] && w->mask[k])
      {
        double dk = (w->data[k] - wmed) * ws - (r[k] - rmed) * rs;
        m[k] = fabs (dk - dmed) <= lim;
      }
  double cc = tsr_correlation (r, m, w->data, NULL, n);
  g_free (d);
  g_free (m);
  tsr_image_unref (w);
  return cc;
}

/* ---------------------------------------------------------------------------------------
 * The job.
 */

typedef struct
{
  TsrRegistration *reg;
  const TsrRegisterParams *p;
  /* reference material, read-only during the main pass */
  TsrStarList *ref_stars;
  Small ref_small;     /* for CC */
  Small ref_proxy;     /* full proxy resolution, for the starless path */
  gboolean ref_starless;
  gboolean ref_bright; /* a bright extended object fills the field: its "stars" are surface
                          features, no check of the phase path by stars */
  TsrFrameHook frame_hook;
  gpointer hook_data;
  /* star lists of the reference candidates, detected while choosing the reference, so no
   * frame is detected twice (n_frames entries, NULL for the others; taken when used) */
  TsrStarList **cached;
} RegJob;

static TsrStarList *
star_list_copy (const TsrStarList *l)
{
  TsrStarList *c = g_new (TsrStarList, 1);
  *c = *l;
  c->stars = g_array_sized_new (FALSE, FALSE, sizeof (TsrStar), l->stars->len);
  g_array_append_vals (c->stars, l->stars->data, l->stars->len);
  return c;
}

static gboolean
phase_path (RegJob *job, const TsrImage *img, gboolean rotation, TsrFrameReg *fr)
{
  Small proxy = { 0 };
  make_small (img, 0, &proxy);
  const TsrImage *a = job->ref_proxy.img, *b = proxy.img;
  TsrTransform Tp;
  double peak = 0;
  gboolean ok = a->width == b->width && a->height == b->height
                && tsr_phase_register (a->data, b->data, a->width, a->height, rotation, &Tp, &peak);
  if (ok && isfinite (peak) && peak >= job->p->min_phase_peak)
    {
      /* full: F = P ∘ Tp ∘ P⁻¹ */
      TsrTransform inv, tmp;
      tsr_transform_invert (&job->ref_proxy.to_full, &inv);
      tsr_transform_compose (&Tp, &inv, &tmp);
      tsr_transform_compose (&proxy.to_full, &tmp, &fr->transform);
      fr->registered = TRUE;
      fr->method = "phase";
      fr->phase_peak = peak;
      fr->rms_px = NAN;
    }
  else
    {
      ok = FALSE;
      fr->phase_peak = isfinite (peak) ? peak : 0;
    }
  small_clear (&proxy);
  return ok;
}

/* A phase registration checked against the stars the frame does have (too few for the
 * triangle matcher, or not matched): the reference's brightest stars mapped through T
 * (reference → frame) should land on the frame's stars. A mirrored frame, or a wrong
 * rotation the log-polar step picked on a small field, correlates above the CC threshold
 * now and then; it does not put the stars in place (docs/registration.md). When they do
 * land, the pairs refine T (a similarity fitted to them, kept when its residual is within
 * refine_tol and no pair is lost): the phase correlation on the binned proxy is coarser
 * than the stars' centres. */
static void
star_check (const TsrStarList *ref, const TsrStarList *frm, TsrTransform *T, int w, int h, double tol,
            double refine_tol, guint *checked, guint *confirmed, double *rms)
{
  *checked = *confirmed = 0;
  *rms = NAN;
  guint nr0 = MIN (ref->stars->len, 50u), nf = MIN (frm->stars->len, 100u);
  if (nr0 < 3 || nf < 3)
    return;
  double *all = g_new (double, 2 * nr0), *allv = g_new (double, nr0);
  double *rxy = g_new (double, 2 * nr0), *rv = g_new (double, nr0);
  double *ixy = g_new (double, 2 * nf), *iv = g_new (double, nf);
  guint *pairs = g_new (guint, 2 * nr0);
  star_xy (ref, nr0, all, allv);
  star_xy (frm, nf, ixy, iv);
  guint nr = 0;
  for (guint i = 0; i < nr0; i++)
    {
      double x, y;
      tsr_transform_apply (T, all[2 * i], all[2 * i + 1], &x, &y);
      if (!(x >= 1 && y >= 1 && x <= w - 2 && y <= h - 2))
        continue;
      rxy[2 * nr] = all[2 * i];
      rxy[2 * nr + 1] = all[2 * i + 1];
      rv[nr++] = allv[i];
    }
  guint k = MIN (nr, nf);
  if (k >= 3)
    {
      XOrder fo;
      xorder_init (&fo, ixy, nf);
      guint n = match_nn (rxy, nr, &fo, T, tol, pairs);
      *checked = k;
      *confirmed = MIN (n, k);
      if (n >= 3 && *confirmed >= MAX (2u, (k + 1) / 2))
        {
          double *src = g_new (double, 2 * n), *dst = g_new (double, 2 * n), *wt = g_new (double, n);
          for (guint q = 0; q < n; q++)
            {
              guint ia = pairs[2 * q], ib = pairs[2 * q + 1];
              src[2 * q] = rxy[2 * ia];
              src[2 * q + 1] = rxy[2 * ia + 1];
              dst[2 * q] = ixy[2 * ib];
              dst[2 * q + 1] = ixy[2 * ib + 1];
              wt[q] = 1.0 / (rv[ia] + iv[ib]);
            }
          TsrTransform F;
          if (tsr_transform_fit (TSR_MODEL_SIMILARITY, src, dst, wt, n, &F))
            {
              double ss = 0;
              for (guint q = 0; q < n; q++)
                {
                  double x, y;
                  tsr_transform_apply (&F, src[2 * q], src[2 * q + 1], &x, &y);
                  ss += (x - dst[2 * q]) * (x - dst[2 * q]) + (y - dst[2 * q + 1]) * (y - dst[2 * q + 1]);
                }
              double r = sqrt (ss / n);
              if (r <= refine_tol && match_nn (rxy, nr, &fo, &F, tol, pairs) >= n)
                {
                  *T = F;
                  *rms = r;
                }
            }
          g_free (src);
          g_free (dst);
          g_free (wt);
        }
      xorder_clear (&fo);
    }
  g_free (all);
  g_free (allv);
  g_free (rxy);
  g_free (rv);
  g_free (ixy);
  g_free (iv);
  g_free (pairs);
}

/* Half of the checkable stars, and at least two, must land. */
static gboolean
stars_unconfirmed (const TsrFrameReg *fr)
{
  return fr->registered && g_strcmp0 (fr->method, "phase") == 0 && fr->stars_checked >= 3
         && fr->stars_confirmed < MAX (2u, (fr->stars_checked + 1) / 2);
}

/* The phase path: rotation and translation first; when the frame's stars do not confirm
 * that, the translation alone (a session's frames rarely rotate by more than a degree or
 * two, and the log-polar step is what goes wrong on a small field), kept if more stars
 * land. */
static void
phase_register_frame (RegJob *job, const TsrImage *img, TsrFrameReg *fr)
{
  if (!phase_path (job, img, TRUE, fr))
    return;
  if (job->ref_bright || !fr->stars)
    return;
  double tol = 2.0 * job->p->match_tolerance_px, rtol = job->p->match_tolerance_px;
  star_check (job->ref_stars, fr->stars, &fr->transform, img->width, img->height, tol, rtol,
              &fr->stars_checked, &fr->stars_confirmed, &fr->rms_px);
  /* unconfirmed, or confirmed by too few pairs to refine it (a scale or rotation error
   * shows at the corners, not at two stars near the centre) */
  if (stars_unconfirmed (fr) || (fr->stars_checked >= 3 && !isfinite (fr->rms_px)))
    {
      TsrFrameReg alt = *fr;
      if (phase_path (job, img, FALSE, &alt))
        {
          star_check (job->ref_stars, fr->stars, &alt.transform, img->width, img->height, tol, rtol,
                      &alt.stars_checked, &alt.stars_confirmed, &alt.rms_px);
          guint more = alt.stars_confirmed * fr->stars_checked, less = fr->stars_confirmed * alt.stars_checked;
          if (alt.stars_checked >= 3
              && (more > less || (more == less && isfinite (alt.rms_px) && !isfinite (fr->rms_px))))
            *fr = alt;
        }
    }
  /* the stars that landed, in the table's "matched" column */
  fr->n_matched = fr->stars_confirmed;
}

static gboolean
register_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
                GCancellable *cancellable, GError **error)
{
  RegJob *job = user_data;
  TsrFrameReg *fr = &job->reg->frames[index];
  fr->index = index;
  if (job->cached && job->cached[index])
    {
      fr->stars = job->cached[index];
      job->cached[index] = NULL;
    }
  else
    fr->stars = tsr_stars_detect (img, &job->p->stars, cancellable, error);
  if (!fr->stars)
    return FALSE;
  fr->n_stars = fr->stars->stars->len;
  fr->fwhm = fr->stars->fwhm_median;
  fr->roundness = fr->stars->roundness_median;
  fr->background = fr->stars->background;
  int plane_step = img->cfa != TSR_CFA_NONE ? 2 : 1;
  fr->noise = tsr_plane_noise (img->data, img->mask, img->width, img->height, plane_step);
  fr->cc = NAN;
  fr->rms_px = NAN;
  fr->stars_checked = fr->stars_confirmed = 0;
  fr->method = "none";
  tsr_transform_identity (&fr->transform);

  if (index == job->reg->reference)
    {
      fr->registered = TRUE;
      fr->method = "reference";
      fr->cc = 1.0;
      fr->rms_px = 0.0;
      fr->n_matched = fr->n_stars;
      return job->frame_hook ? job->frame_hook (index, img, fr, job->hook_data, cancellable, error) : TRUE;
    }
  gboolean ok = TRUE;
  if (!job->ref_starless)
    {
      TsrTransform T;
      guint nm = 0;
      double rms = NAN;
      if (tsr_match_stars (job->ref_stars, fr->stars, job->p->model, job->p->match_stars,
                           job->p->match_tolerance_px, job->p->min_matched, &T, &nm, &rms))
        {
          fr->transform = T;
          fr->registered = TRUE;
          fr->method = "stars";
          fr->n_matched = nm;
          fr->rms_px = rms;
        }
    }
  if (!fr->registered && job->p->starless_fallback)
    phase_register_frame (job, img, fr);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (fr->registered)
    {
      Small sm = { 0 };
      make_small (img, job->p->cc_size, &sm);
      fr->cc = registration_cc (&job->ref_small, &sm, &fr->transform);
      small_clear (&sm);
    }
  if (job->frame_hook)
    ok = job->frame_hook (index, img, fr, job->hook_data, cancellable, error);
  if (job->p->drop_star_lists)
    g_clear_pointer (&fr->stars, tsr_star_list_free);
  return ok;
}

/* Reference candidates: frames around the temporal middle. */
static GArray *
reference_candidates (guint n)
{
  GArray *c = g_array_new (FALSE, FALSE, sizeof (guint));
  guint mid = n / 2;
  guint k = MIN (n, 7u);
  guint span = MAX (n / 3, k);
  int lo = (int) mid - (int) span / 2;
  lo = CLAMP (lo, 0, (int) (n - MIN (span, n)));
  for (guint i = 0; i < k; i++)
    {
      guint idx = lo + (guint) ((i + 0.5) * MIN (span, n) / k);
      idx = MIN (idx, n - 1);
      if (c->len == 0 || g_array_index (c, guint, c->len - 1) != idx)
        g_array_append_val (c, idx);
    }
  return c;
}

typedef struct
{
  TsrStarList **stars;
  double *sharpness;
  GArray *cand;
  TsrStarParams sp;
} CandJob;

static gboolean
measure_candidate (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
                   GCancellable *cancellable, GError **error)
{
  CandJob *cj = user_data;
  guint slot = 0;
  for (; slot < cj->cand->len; slot++)
    if (g_array_index (cj->cand, guint, slot) == index)
      break;
  cj->stars[slot] = tsr_stars_detect (img, &cj->sp, cancellable, error);
  if (!cj->stars[slot])
    return FALSE;
  /* sharpness for starless sessions: gradient energy over noise² of the small image */
  Small s = { 0 };
  make_small (img, 512, &s);
  const TsrImage *m = s.img;
  double e = 0;
  gsize cnt = 0;
  for (int y = 0; y + 1 < m->height; y++)
    for (int x = 0; x + 1 < m->width; x++)
      {
        gsize k = (gsize) y * m->width + x;
        if (!m->mask[k] || !m->mask[k + 1] || !m->mask[k + m->width])
          continue;
        double gx = m->data[k + 1] - m->data[k], gy = m->data[k + m->width] - m->data[k];
        e += gx * gx + gy * gy;
        cnt++;
      }
  float noise = tsr_plane_noise (m->data, m->mask, m->width, m->height, 1);
  cj->sharpness[slot] = cnt ? e / cnt / MAX ((double) noise * noise, 1e-12) : 0;
  small_clear (&s);
  return TRUE;
}

static gboolean
choose_reference (TsrSession *s, const TsrRegisterParams *p, guint *reference, gboolean *starless,
                  TsrStarList **cached, TsrProgressFunc progress, gpointer pd, GCancellable *cancellable,
                  GError **error)
{
  guint n = tsr_session_n_frames (s);
  GArray *cand = reference_candidates (n);
  CandJob cj = { g_new0 (TsrStarList *, cand->len), g_new0 (double, cand->len), cand, p->stars };
  TsrMapOptions opt;
  tsr_map_options_init (&opt, _("Choosing reference"));
  opt.indices = (const guint *) cand->data;
  opt.n_indices = cand->len;
  opt.n_threads = p->n_threads;
  opt.memory_budget = p->memory_budget;
  opt.bytes_per_frame_factor = 4.0;
  gboolean ok = tsr_frames_map (s, &opt, measure_candidate, &cj, progress, pd, cancellable, error);
  if (ok)
    {
      guint maxstars = 0;
      for (guint i = 0; i < cand->len; i++)
        maxstars = MAX (maxstars, cj.stars[i]->stars->len);
      guint need = MAX (2 * p->min_matched, maxstars / 2);
      *starless = maxstars < 2 * p->min_matched;
      /* order candidates by quality */
      guint *order = g_new (guint, cand->len);
      double *score = g_new (double, cand->len);
      for (guint i = 0; i < cand->len; i++)
        {
          order[i] = i;
          if (*starless)
            score[i] = -cj.sharpness[i];
          else
            {
              double f = cj.stars[i]->fwhm_median;
              score[i] = cj.stars[i]->stars->len < need || !isfinite (f) ? 1e9 + (maxstars - cj.stars[i]->stars->len) : f;
            }
        }
      for (guint a = 1; a < cand->len; a++)
        for (guint b = a; b > 0 && score[order[b]] < score[order[b - 1]]; b--)
          {
            guint t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
          }
      *reference = g_array_index (cand, guint, order[0]);
      /* A mirrored frame must not become the reference: the chosen one has to agree
       * (det > 0) with most other candidates it matches. The candidates with fewer stars
       * than the best are tried too: when the one frame with the most stars is the mirrored
       * one, a frame with fewer stars is the better reference. */
      if (!*starless)
        for (guint o = 0; o < cand->len; o++)
          {
            guint c = order[o];
            guint agree = 0, disagree = 0;
            for (guint j = 0; j < cand->len; j++)
              {
                if (j == c)
                  continue;
                TsrTransform T;
                guint nm;
                double rms;
                if (tsr_match_stars (cj.stars[c], cj.stars[j], TSR_MODEL_AFFINE, p->match_stars,
                                     p->match_tolerance_px, p->min_matched, &T, &nm, &rms))
                  {
                    if (tsr_transform_det (&T) > 0)
                      agree++;
                    else
                      disagree++;
                  }
              }
            if (agree >= disagree)
              {
                *reference = g_array_index (cand, guint, c);
                break;
              }
          }
      g_free (order);
      g_free (score);
    }
  for (guint i = 0; i < cand->len; i++)
    if (cj.stars[i])
      {
        guint f = g_array_index (cand, guint, i);
        if (ok && cached && !cached[f])
          cached[f] = cj.stars[i];
        else
          tsr_star_list_free (cj.stars[i]);
      }
  g_free (cj.stars);
  g_free (cj.sharpness);
  g_array_unref (cand);
  return ok;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median_of (double *v, guint n)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void
tsr_registration_gate (TsrRegistration *r, const TsrRegisterParams *p)
{
  if (p != &r->params)
    r->params = *p;
  p = &r->params;
  guint n = r->n_frames;
  double *v = g_new (double, n);
  double *tx = g_new (double, n), *ty = g_new (double, n);
  guint m = 0;
  TsrFrameInfo *fi0 = tsr_session_frame (r->session, 0);
  double cx = (fi0->info.width - 1) / 2.0, cy = (fi0->info.height - 1) / 2.0;

  /* CC threshold: median − k·MAD over registered frames other than the reference */
  for (guint i = 0; i < n; i++)
    if (r->frames[i].registered && i != r->reference && isfinite (r->frames[i].cc))
      v[m++] = r->frames[i].cc;
  double med = median_of (v, m);
  for (guint i = 0; i < m; i++)
    v[i] = fabs (v[i] - med);
  double mad = median_of (v, m);
  r->cc_median = med;
  r->cc_mad = mad;
  r->cc_threshold = m ? MAX (p->reject_cc_min_abs, med - MAX (p->reject_cc_mad_multiplier * TSR_MAD_TO_SIGMA * mad, p->reject_cc_margin_min))
                      : p->reject_cc_min_abs;

  /* shift: distance of each frame's centre translation from the session's median one */
  m = 0;
  for (guint i = 0; i < n; i++)
    if (r->frames[i].registered)
      {
        double x, y;
        tsr_transform_apply (&r->frames[i].transform, cx, cy, &x, &y);
        tx[m] = x - cx;
        ty[m] = y - cy;
        m++;
      }
  double mtx = median_of (memcpy (v, tx, m * sizeof (double)), m);
  double mty = median_of (memcpy (v, ty, m * sizeof (double)), m);
  m = 0;
  for (guint i = 0; i < n; i++)
    {
      TsrFrameReg *fr = &r->frames[i];
      fr->shift_px = NAN;
      if (!fr->registered)
        continue;
      double x, y;
      tsr_transform_apply (&fr->transform, cx, cy, &x, &y);
      fr->shift_px = hypot (x - cx - mtx, y - cy - mty);
      v[m++] = fr->shift_px;
    }
  double mshift = median_of (v, m);
  r->shift_threshold = MAX (p->reject_shift_px_min, p->reject_shift_median_multiplier * (isfinite (mshift) ? mshift : 0));

  for (guint i = 0; i < n; i++)
    {
      TsrFrameReg *fr = &r->frames[i];
      fr->gate = 0;
      if (!fr->registered)
        {
          fr->gate |= TSR_GATE_FAILED;
          continue;
        }
      if (i == r->reference)
        continue;
      if (tsr_transform_det (&fr->transform) < 0)
        fr->gate |= TSR_GATE_REFLECTION;
      double sc = tsr_transform_scale (&fr->transform);
      if (sc < p->reject_scale_min || sc > p->reject_scale_max)
        fr->gate |= TSR_GATE_SCALE;
      /* A registration confirmed by many star inliers is geometrically valid whatever its
       * correlation: a frame of another night or exposure (other sky, noise, nebula
       * contrast) correlates less with the reference but is not a failed registration;
       * gating it would be gating for being different (seestar-ngc7023's 20 s frames).
       * Likewise a large confirmed shift is a real pointing jump (Seestar re-centres and
       * dithers): only an unconfirmed shift (phase path, or few inliers) is an outlier. */
      gboolean confirmed = strcmp (fr->method, "stars") == 0 && fr->n_matched >= 2 * p->min_matched;
      gboolean tight = confirmed && isfinite (fr->rms_px) && fr->rms_px <= p->match_tolerance_px;
      if ((!isfinite (fr->cc) || fr->cc < r->cc_threshold) && !(p->reject_cc_trust_stars && tight))
        fr->gate |= TSR_GATE_CC;
      if (fr->shift_px > r->shift_threshold && !confirmed)
        fr->gate |= TSR_GATE_SHIFT;
      if (stars_unconfirmed (fr))
        fr->gate |= TSR_GATE_UNCONFIRMED;
    }
  g_free (v);
  g_free (tx);
  g_free (ty);
}

const char *const tsr_gate_reason_names[TSR_GATE_N_REASONS] = { "reflection", "scale", "cc", "shift",
                                                                  "failed", "unconfirmed" };

char *
tsr_gate_reasons_string (guint gate)
{
  GString *s = g_string_new (NULL);
  for (guint b = 0; b < TSR_GATE_N_REASONS; b++)
    if (gate & (1u << b))
      {
        if (s->len)
          g_string_append_c (s, ',');
        g_string_append (s, tsr_gate_reason_names[b]);
      }
  return g_string_free (s, FALSE);
}

guint
tsr_registration_n_valid (const TsrRegistration *r)
{
  guint n = 0;
  for (guint i = 0; i < r->n_frames; i++)
    n += r->frames[i].gate == 0;
  return n;
}

static gboolean
load_reference (RegJob *job, TsrReferenceHook reference_hook, GError **error)
{
  g_autoptr (TsrImage) img = tsr_session_read_frame (job->reg->session, job->reg->reference, error);
  if (!img)
    return FALSE;
  guint ref = job->reg->reference;
  job->ref_stars = job->cached && job->cached[ref] ? star_list_copy (job->cached[ref])
                                                   : tsr_stars_detect (img, &job->p->stars, NULL, error);
  if (!job->ref_stars)
    return FALSE;
  if (reference_hook && !reference_hook (img, job->ref_stars, job->hook_data, error))
    return FALSE;
  if (job->ref_stars->stars->len < 2 * job->p->min_matched)
    job->ref_starless = TRUE;
  make_small (img, job->p->cc_size, &job->ref_small);
  if (job->p->starless_fallback)
    {
      make_small (img, 0, &job->ref_proxy);
      /* The Moon or a planet filling the field: sources sep finds there are surface
       * features, not stars. When more than a fifth of the field is far above the
       * background, the session is registered by phase correlation. */
      const TsrImage *pr = job->ref_proxy.img;
      double thr = 5.0 * (job->ref_stars->background_rms > 0 ? job->ref_stars->background_rms : 1.0);
      gsize bright = 0, valid = 0;
      for (gsize k = 0; k < tsr_image_npix (pr); k++)
        if (pr->mask[k])
          {
            valid++;
            bright += fabs (pr->data[k]) > thr; /* the proxy is median-subtracted */
          }
      if (valid && bright > valid / 5)
        job->ref_starless = job->ref_bright = TRUE;
    }
  return TRUE;
}

TsrRegistration *
tsr_register_session (TsrSession *s, const TsrRegisterParams *p, TsrProgressFunc progress,
                      gpointer progress_data, GCancellable *cancellable, GError **error)
{
  return tsr_register_session_with_hooks (s, p, NULL, NULL, NULL, progress, progress_data,
                                          cancellable, error);
}

TsrRegistration *
tsr_register_session_with_hooks (TsrSession *s, const TsrRegisterParams *p,
                                 TsrReferenceHook reference_hook, TsrFrameHook frame_hook,
                                 gpointer hook_data, TsrProgressFunc progress,
                                 gpointer progress_data, GCancellable *cancellable, GError **error)
{
  TsrRegisterParams defaults;
  if (!p)
    {
      tsr_register_params_init (&defaults);
      p = &defaults;
    }
  guint n = tsr_session_n_frames (s);
  if (n < 2)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                   _("%s: a session needs at least two frames to register (it has %u)"),
                   n ? tsr_session_frame (s, 0)->path : "session", n);
      return NULL;
    }
  {
    /* Registration measures stars and correlates tiles on the luminance (a Bayer mosaic is
     * binned 2 × 2 first): below this there is nothing to measure a shift on. Said plainly
     * instead of "every frame but the reference was gated". */
    int bin = s->cfa != TSR_CFA_NONE ? 2 : 1;
    if (s->width / bin < TSR_REGISTER_MIN_SIDE || s->height / bin < TSR_REGISTER_MIN_SIDE)
      {
        g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_SMALL,
                     bin == 2 ? _("%s: frames of %d × %d are too small to register (Bayer frames need at least %d × %d pixels)")
                              : _("%s: frames of %d × %d are too small to register (at least %d × %d pixels)"),
                     tsr_session_frame (s, 0)->path, s->width, s->height, TSR_REGISTER_MIN_SIDE * bin,
                     TSR_REGISTER_MIN_SIDE * bin);
        return NULL;
      }
  }
  if (p->reference >= (int) n)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("reference frame %d does not exist (the session has frames 0…%u)"), p->reference, n - 1);
      return NULL;
    }
  TsrRegistration *r = g_new0 (TsrRegistration, 1);
  r->ref_count = 1;
  r->session = tsr_session_ref (s);
  r->params = *p;
  r->n_frames = n;
  r->frames = g_new0 (TsrFrameReg, n);

  gboolean starless = FALSE;
  TsrStarList **cached = g_new0 (TsrStarList *, n);
  if (p->reference >= 0)
    r->reference = p->reference;
  else if (!choose_reference (s, p, &r->reference, &starless, cached, progress, progress_data, cancellable, error))
    {
      g_free (cached);
      tsr_registration_unref (r);
      return NULL;
    }

  RegJob job = { .reg = r, .p = &r->params, .frame_hook = frame_hook, .hook_data = hook_data, .cached = cached };
  gboolean ok = load_reference (&job, reference_hook, error);
  if (ok)
    {
      TsrMapOptions opt;
      tsr_map_options_init (&opt, _("Registering"));
      opt.n_threads = p->n_threads;
      opt.memory_budget = p->memory_budget;
      opt.bytes_per_frame_factor = 4.0;
      ok = tsr_frames_map (s, &opt, register_frame, &job, progress, progress_data, cancellable, error);
    }
  if (job.ref_stars)
    tsr_star_list_free (job.ref_stars);
  for (guint i = 0; i < n; i++)
    if (cached[i])
      tsr_star_list_free (cached[i]);
  g_free (cached);
  small_clear (&job.ref_small);
  small_clear (&job.ref_proxy);
  if (!ok)
    {
      tsr_registration_unref (r);
      return NULL;
    }
  tsr_registration_gate (r, &r->params);
  return r;
}

TsrRegistration *
tsr_registration_ref (TsrRegistration *r)
{
  g_atomic_int_inc (&r->ref_count);
  return r;
}

void
tsr_registration_unref (TsrRegistration *r)
{
  if (!r || !g_atomic_int_dec_and_test (&r->ref_count))
    return;
  for (guint i = 0; i < r->n_frames; i++)
    if (r->frames[i].stars)
      tsr_star_list_free (r->frames[i].stars);
  g_free (r->frames);
  tsr_session_unref (r->session);
  g_free (r);
}

void
tsr_registration_drop_star_lists (TsrRegistration *r)
{
  for (guint i = 0; r && i < r->n_frames; i++)
    g_clear_pointer (&r->frames[i].stars, tsr_star_list_free);
}

char *
tsr_registration_to_json (const TsrRegistration *r)
{
  TsrJsonWriter *w = tsr_json_writer_new ();
  tsr_json_begin_object (w);
  tsr_json_key (w, "reference");
  tsr_json_int (w, r->reference);
  tsr_json_key (w, "model");
  tsr_json_string (w, tsr_model_name (r->params.model));
  tsr_json_key (w, "gate");
  tsr_json_begin_object (w);
  tsr_json_key (w, "cc_threshold");
  tsr_json_double (w, r->cc_threshold);
  tsr_json_key (w, "cc_median");
  tsr_json_double (w, r->cc_median);
  tsr_json_key (w, "cc_mad");
  tsr_json_double (w, r->cc_mad);
  tsr_json_key (w, "shift_threshold_px");
  tsr_json_double (w, r->shift_threshold);
  tsr_json_key (w, "reject_scale_min");
  tsr_json_double (w, r->params.reject_scale_min);
  tsr_json_key (w, "reject_scale_max");
  tsr_json_double (w, r->params.reject_scale_max);
  tsr_json_end_object (w);
  tsr_json_key (w, "frames");
  tsr_json_begin_array (w);
  for (guint i = 0; i < r->n_frames; i++)
    {
      const TsrFrameReg *fr = &r->frames[i];
      const TsrFrameInfo *fi = tsr_session_frame (r->session, i);
      tsr_json_begin_object (w);
      tsr_json_key (w, "file");
      tsr_json_string (w, fi->path);
      tsr_json_key (w, "index");
      tsr_json_int (w, i);
      tsr_json_key (w, "date_obs");
      tsr_json_string (w, fi->info.date_obs);
      tsr_json_key (w, "matrix");
      tsr_json_begin_array (w);
      guint rows = r->params.model == TSR_MODEL_HOMOGRAPHY ? 3 : 2;
      for (guint row = 0; row < rows; row++)
        {
          tsr_json_begin_array (w);
          for (guint c = 0; c < 3; c++)
            tsr_json_double (w, fr->transform.m[row * 3 + c]);
          tsr_json_end_array (w);
        }
      tsr_json_end_array (w);
      tsr_json_key (w, "rms_px");
      tsr_json_double (w, fr->rms_px);
      tsr_json_key (w, "stars");
      tsr_json_int (w, fr->n_stars);
      tsr_json_key (w, "matched");
      tsr_json_int (w, fr->n_matched);
      tsr_json_key (w, "cc");
      tsr_json_double (w, fr->cc);
      tsr_json_key (w, "fwhm");
      tsr_json_double (w, fr->fwhm);
      tsr_json_key (w, "roundness");
      tsr_json_double (w, fr->roundness);
      tsr_json_key (w, "background");
      tsr_json_double (w, fr->background);
      tsr_json_key (w, "noise");
      tsr_json_double (w, fr->noise);
      tsr_json_key (w, "shift_px");
      tsr_json_double (w, fr->shift_px);
      tsr_json_key (w, "gated");
      tsr_json_bool (w, fr->gate != 0);
      tsr_json_key (w, "gate_reasons");
      tsr_json_begin_array (w);
      for (guint b = 0; b < TSR_GATE_N_REASONS; b++)
        if (fr->gate & (1u << b))
          tsr_json_string (w, tsr_gate_reason_names[b]);
      tsr_json_end_array (w);
      tsr_json_key (w, "method");
      tsr_json_string (w, fr->method);
      if (fr->phase_peak > 0)
        {
          tsr_json_key (w, "phase_peak");
          tsr_json_double (w, fr->phase_peak);
          tsr_json_key (w, "stars_checked");
          tsr_json_int (w, fr->stars_checked);
          tsr_json_key (w, "stars_confirmed");
          tsr_json_int (w, fr->stars_confirmed);
        }
      tsr_json_end_object (w);
    }
  tsr_json_end_array (w);
  tsr_json_end_object (w);
  return tsr_json_writer_finish (w);
}

typedef struct
{
  TsrRegistration *r;
  const char *dir;
} WriteJob;

static gboolean
write_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
             GCancellable *cancellable, GError **error)
{
  WriteJob *wj = user_data;
  const TsrFrameReg *fr = &wj->r->frames[index];
  TsrImage *out = tsr_warp (img, &fr->transform, img->width, img->height, wj->r->session->cfa,
                            wj->r->params.interp);
  if (!out)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, _("%s: cannot warp the frame"), frame->path);
      return FALSE;
    }
  g_autofree char *hist = g_strdup_printf (
      "Tessera register: model=%s interp=%s method=%s reference=%u matrix=[%.9g %.9g %.9g; %.9g %.9g %.9g; %.9g %.9g %.9g]",
      tsr_model_name (wj->r->params.model), tsr_interp_name (wj->r->params.interp), fr->method,
      wj->r->reference, fr->transform.m[0], fr->transform.m[1], fr->transform.m[2], fr->transform.m[3],
      fr->transform.m[4], fr->transform.m[5], fr->transform.m[6], fr->transform.m[7], fr->transform.m[8]);
  tsr_header_add_history (out->header, hist);
  g_autofree char *name = g_strdup (frame->name);
  if (g_str_has_suffix (name, ".fz") || g_str_has_suffix (name, ".FZ"))
    name[strlen (name) - 3] = 0;
  g_autofree char *path = g_build_filename (wj->dir, name, NULL);
  gboolean ok = tsr_fits_write (path, out, NULL, error);
  tsr_image_unref (out);
  return ok;
}

gboolean
tsr_registration_write_frames (TsrRegistration *r, const char *dir, TsrProgressFunc progress,
                               gpointer progress_data, GCancellable *cancellable, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot create the folder"), dir);
      return FALSE;
    }
  g_autofree char *canon_dir = g_canonicalize_filename (dir, NULL);
  GArray *idx = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < r->n_frames; i++)
    {
      const TsrFrameInfo *fi = tsr_session_frame (r->session, i);
      g_autofree char *fdir = g_path_get_dirname (fi->path);
      g_autofree char *canon = g_canonicalize_filename (fdir, NULL);
      if (g_strcmp0 (canon, canon_dir) == 0)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s: registered frames would overwrite the input frames; choose another folder"), dir);
          g_array_unref (idx);
          return FALSE;
        }
      if (r->frames[i].gate == 0)
        g_array_append_val (idx, i);
    }
  WriteJob wj = { r, dir };
  TsrMapOptions opt;
  tsr_map_options_init (&opt, _("Writing registered frames"));
  opt.indices = (const guint *) idx->data;
  opt.n_indices = idx->len;
  opt.n_threads = r->params.n_threads;
  opt.memory_budget = r->params.memory_budget;
  gboolean ok = tsr_frames_map (r->session, &opt, write_frame, &wj, progress, progress_data, cancellable, error);
  g_array_unref (idx);
  return ok;
}
