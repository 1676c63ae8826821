/* tsr-synth-render.c — rendering frames and the truth image of a planned session: stars
 * (Moffat PSFs varying over the field and the night), extended sources on the sky grid,
 * background and gradient, trails, Poisson and read noise. */
#include "tsr-synth-private.h"

/* ---------------------------------------------------------------------------------- */
/* Extended sources on the sky grid                                                    */

static void
blur_plane (float *data, int w, int h, double fwhm)
{
  double sigma = fwhm / 2.354820045;
  if (!(sigma > 0.05))
    return;
  int rad = (int) ceil (4.0 * sigma);
  int klen = 2 * rad + 1;
  float *k = g_new (float, klen);
  double sum = 0;
  for (int i = -rad; i <= rad; i++)
    sum += k[i + rad] = (float) exp (-0.5 * i * i / (sigma * sigma));
  for (int i = 0; i < klen; i++)
    k[i] = (float) (k[i] / sum);

  int n = MAX (w, h);
  float *line = g_new (float, n + 2 * rad);
  float *outl = g_new (float, n);

  for (int y = 0; y < h; y++)
    {
      float *row = data + (gsize) y * w;
      for (int i = 0; i < w + 2 * rad; i++)
        line[i] = row[CLAMP (i - rad, 0, w - 1)];
      for (int x = 0; x < w; x++)
        {
          float acc = 0;
          for (int j = 0; j < klen; j++)
            acc += k[j] * line[x + j];
          outl[x] = acc;
        }
      memcpy (row, outl, w * sizeof (float));
    }
  /* columns: process in blocks of rows for cache friendliness */
  float *tmp = g_new (float, (gsize) w * h);
  for (int y = 0; y < h; y++)
    {
      float *o = tmp + (gsize) y * w;
      memset (o, 0, w * sizeof (float));
      for (int j = 0; j < klen; j++)
        {
          int yy = CLAMP (y + j - rad, 0, h - 1);
          const float *src = data + (gsize) yy * w;
          float kj = k[j];
          for (int x = 0; x < w; x++)
            o[x] += kj * src[x];
        }
    }
  memcpy (data, tmp, (gsize) w * h * sizeof (float));
  g_free (tmp);
  g_free (line);
  g_free (outl);
  g_free (k);
}

static ExtGrid *
ext_grid_build (const TsrSynthParams *p, GArray *ext, double blur_fwhm)
{
  if (!p->extended || ext == NULL || ext->len == 0)
    return NULL;

  int m = tsr_synth_sky_margin (p) + 2;
  ExtGrid *g = g_new0 (ExtGrid, 1);
  g->x0 = -m;
  g->y0 = -m;
  g->w = p->width + 2 * m;
  g->h = p->height + 2 * m;
  g->planes = p->cfa != TSR_CFA_NONE ? 3 : 1;
  gsize np = (gsize) g->w * g->h;
  g->data = g_new0 (float, np * g->planes);
  float *lum = g_new (float, np);

  for (guint i = 0; i < ext->len; i++)
    {
      const ExtSource *e = &g_array_index (ext, ExtSource, i);
      int bx0, bx1, by0, by1;

      memset (lum, 0, np * sizeof (float));
      if (e->type == EXT_SERSIC)
        {
          double rad = e->h * MIN (15.0, pow (9.2, e->n) + 2.0);
          rad = MAX (rad, 8.0 * e->h);
          bx0 = (int) floor (e->x - rad) - g->x0;
          bx1 = (int) ceil (e->x + rad) - g->x0;
          by0 = (int) floor (e->y - rad) - g->y0;
          by1 = (int) ceil (e->y + rad) - g->y0;
          bx0 = MAX (bx0, 0);
          by0 = MAX (by0, 0);
          bx1 = MIN (bx1, g->w - 1);
          by1 = MIN (by1, g->h - 1);
          double c = cos (e->angle), s = sin (e->angle), iq = 1.0 / e->q, in = 1.0 / e->n;
          double ih = 1.0 / e->h, edge = 6.0;
          for (int y = by0; y <= by1; y++)
            {
              double dy = y + g->y0 - e->y;
              float *o = lum + (gsize) y * g->w;
              for (int x = bx0; x <= bx1; x++)
                {
                  double dx = x + g->x0 - e->x;
                  double u = dx * c + dy * s, v = (-dx * s + dy * c) * iq;
                  double rr = sqrt (u * u + v * v) * ih;
                  double val = exp (-(rr > 0 ? exp (log (rr) * in) : 0.0));
                  val /= 1.0 + exp ((rr - edge) * 1.5);     /* soft edge */
                  o[x] = (float) (e->amp * val);
                }
            }
        }
      else
        {
          double rx = 4.0 * e->sx, ry = 4.0 * e->sy;
          bx0 = MAX (0, (int) floor (e->x - rx) - g->x0);
          bx1 = MIN (g->w - 1, (int) ceil (e->x + rx) - g->x0);
          by0 = MAX (0, (int) floor (e->y - ry) - g->y0);
          by1 = MIN (g->h - 1, (int) ceil (e->y + ry) - g->y0);
          if (bx0 > bx1 || by0 > by1)
            continue;
          float *ex = g_new (float, bx1 - bx0 + 1);
          for (int x = bx0; x <= bx1; x++)
            {
              double dx = (x + g->x0 - e->x) / e->sx;
              ex[x - bx0] = (float) exp (-0.5 * dx * dx);
            }
          for (int y = by0; y <= by1; y++)
            {
              double dy = (y + g->y0 - e->y) / e->sy;
              float ey = (float) (e->amp * exp (-0.5 * dy * dy));
              float *o = lum + (gsize) y * g->w;
              for (int x = bx0; x <= bx1; x++)
                o[x] = ey * ex[x - bx0];
            }
          g_free (ex);
        }
      if (bx0 > bx1 || by0 > by1)
        continue;
      for (int c = 0; c < g->planes; c++)
        {
          float f = g->planes == 3 ? (float) e->color[c] : 1.0f;
          float *pl = g->data + (gsize) c * np;
          for (int y = by0; y <= by1; y++)
            {
              gsize off = (gsize) y * g->w;
              for (int x = bx0; x <= bx1; x++)
                pl[off + x] += f * lum[off + x];
            }
        }
    }
  g_free (lum);

  for (int c = 0; c < g->planes; c++)
    blur_plane (g->data + (gsize) c * np, g->w, g->h, blur_fwhm);
  return g;
}

/* The grid blurred with the session's median seeing, built once and cached. */
const ExtGrid *
tsr_synth_truth_grid (const TsrSynthTruth *t)
{
  TsrSynthPrivate *priv = t->priv;
  if (priv == NULL)
    return NULL;
  g_mutex_lock (&priv->lock);
  if (!priv->grid_built)
    {
      priv->grid_fwhm = tsr_synth_median_fwhm (t);
      priv->grid = ext_grid_build (&t->params, priv->ext, priv->grid_fwhm);
      priv->grid_built = TRUE;
    }
  g_mutex_unlock (&priv->lock);
  return priv->grid;
}

static inline float
grid_sample (const ExtGrid *g, int plane, double sx, double sy)
{
  double gx = sx - g->x0, gy = sy - g->y0;
  if (!(gx >= 0 && gy >= 0 && gx < g->w - 1 && gy < g->h - 1))
    return 0.0f;
  int ix = (int) gx, iy = (int) gy;
  float fx = (float) (gx - ix), fy = (float) (gy - iy);
  const float *q = g->data + (gsize) plane * g->w * g->h + (gsize) iy * g->w + ix;
  return (1 - fy) * ((1 - fx) * q[0] + fx * q[1]) + fy * ((1 - fx) * q[g->w] + fx * q[g->w + 1]);
}

/* ---------------------------------------------------------------------------------- */
/* Rendering                                                                           */

typedef struct
{
  const TsrSynthParams *p;
  int width, height;
  gboolean rgb;          /* three full planes (truth) instead of one mono/mosaic plane */
  TsrCfa cfa;            /* mosaic pattern when !rgb */
  double m[6];
  double fwhm;
  double field_psf;
  double focus;         /* focus state of the frame (NAN = no defocus) */
  double transparency;
  double sky, gradient, grad_angle;
  gboolean stars;
  const ExtGrid *ext;
  gboolean has_trail;
  double trail[4];
  double trail_peak;
  guint oversample;
} Spec;

typedef struct
{
  double *buf;
  gsize n;
} Scratch;

static inline double
moffat_eval (double q, double beta, int ibeta)
{
  if (ibeta > 0)
    {
      double v = 1.0 / (1.0 + q), r = v;
      for (int k = 1; k < ibeta; k++)
        r *= v;
      return r;
    }
  return exp (-beta * log1p (q));
}

/* only: the colour rendered (its plane, or its sites of a mosaic) at that colour's own FWHM
 * (TsrSynthParams.colour_fwhm); -1: every colour with one PSF */
static void
render_star_colour (const Spec *sp, const TsrSynthStar *st, float *out, Scratch *sc, int only)
{
  const TsrSynthParams *p = sp->p;
  double fx, fy;
  tsr_synth_apply_matrix (sp->m, st->x, st->y, &fx, &fy);

  Psf psf;
  double kf = only >= 0 && p->colour_fwhm[only] > 0 ? p->colour_fwhm[only] : 1.0;
  tsr_synth_psf_compute (p, sp->fwhm * kf, sp->field_psf, sp->focus, fx, fy, &psf);

  double cmax = 1.0;
  if (sp->rgb || sp->cfa != TSR_CFA_NONE)
    cmax = MAX (st->color[0], MAX (st->color[1], st->color[2]));
  double total = st->flux * sp->transparency;
  double beta = p->moffat_beta;
  double peak = total * cmax * (beta - 1.0) / (G_PI * psf.a * psf.b);
  double rad = 4.0 * psf.fwhm / sqrt (psf.q);
  if (peak > PROFILE_FLOOR)
    {
      double rc = psf.a * sqrt (MAX (0.0, pow (peak / PROFILE_FLOOR, 1.0 / beta) - 1.0));
      rad = MAX (rad, rc);
    }
  rad = MIN (rad, (double) MAX_STAR_RADIUS);

  int x0 = (int) floor (fx - rad), x1 = (int) ceil (fx + rad);
  int y0 = (int) floor (fy - rad), y1 = (int) ceil (fy + rad);
  if (x1 < 0 || y1 < 0 || x0 >= sp->width || y0 >= sp->height)
    return;
  int ww = x1 - x0 + 1, wh = y1 - y0 + 1;
  gsize nn = (gsize) ww * wh;
  if (nn > sc->n)
    {
      sc->buf = g_renew (double, sc->buf, nn);
      sc->n = nn;
    }

  int ibeta = (fabs (beta - round (beta)) < 1e-12 && beta <= 12) ? (int) round (beta) : 0;
  guint os = MAX (sp->oversample, 1u);
  double inv_os2 = 1.0 / (os * os);
  double sum = 0.0;
  double *b = sc->buf;
  double rad2 = rad * rad;

  for (int j = 0; j < wh; j++)
    {
      double dy0 = y0 + j - fy;
      for (int i = 0; i < ww; i++)
        {
          double dx0 = x0 + i - fx;
          double v = 0.0;
          if (dx0 * dx0 + dy0 * dy0 > rad2 + 2.0 * rad + 2.0)
            {
              b[(gsize) j * ww + i] = 0.0;
              continue;
            }
          if (os == 1)
            {
              double q = psf.A * dx0 * dx0 + 2 * psf.B * dx0 * dy0 + psf.C * dy0 * dy0;
              v = moffat_eval (q, beta, ibeta);
            }
          else
            {
              for (guint sy = 0; sy < os; sy++)
                {
                  double dy = dy0 + (sy + 0.5) / os - 0.5;
                  for (guint sx = 0; sx < os; sx++)
                    {
                      double dx = dx0 + (sx + 0.5) / os - 0.5;
                      double q = psf.A * dx * dx + 2 * psf.B * dx * dy + psf.C * dy * dy;
                      v += moffat_eval (q, beta, ibeta);
                    }
                }
              v *= inv_os2;
            }
          b[(gsize) j * ww + i] = v;
          sum += v;
        }
    }
  if (!(sum > 0))
    return;
  double scale = total / sum;
  gsize npix = (gsize) sp->width * sp->height;

  int ja = MAX (0, -y0), jb = MIN (wh - 1, sp->height - 1 - y0);
  int ia = MAX (0, -x0), ib = MIN (ww - 1, sp->width - 1 - x0);
  for (int j = ja; j <= jb; j++)
    {
      int y = y0 + j;
      const double *src = b + (gsize) j * ww;
      if (sp->rgb)
        {
          for (int c = 0; c < 3; c++)
            {
              if (only >= 0 && c != only)
                continue;
              float *row = out + c * npix + (gsize) y * sp->width + x0;
              double f = scale * st->color[c];
              for (int i = ia; i <= ib; i++)
                row[i] += (float) (f * src[i]);
            }
        }
      else if (sp->cfa != TSR_CFA_NONE)
        {
          float *row = out + (gsize) y * sp->width + x0;
          int ce = tsr_cfa_color (sp->cfa, 0, y), co = tsr_cfa_color (sp->cfa, 1, y);
          double fe = only >= 0 && ce != only ? 0.0 : scale * st->color[ce];
          double fo = only >= 0 && co != only ? 0.0 : scale * st->color[co];
          for (int i = ia; i <= ib; i++)
            row[i] += (float) ((((x0 + i) & 1) ? fo : fe) * src[i]);
        }
      else
        {
          float *row = out + (gsize) y * sp->width + x0;
          for (int i = ia; i <= ib; i++)
            row[i] += (float) (scale * src[i]);
        }
    }
}

static void
render_star (const Spec *sp, const TsrSynthStar *st, float *out, Scratch *sc)
{
  const double *k = sp->p->colour_fwhm;
  gboolean per_colour = FALSE;
  for (int c = 0; c < 3; c++)
    if (k[c] > 0 && k[c] != 1.0)
      per_colour = TRUE;
  if (per_colour && (sp->rgb || sp->cfa != TSR_CFA_NONE))
    for (int c = 0; c < 3; c++)
      render_star_colour (sp, st, out, sc, c);
  else
    render_star_colour (sp, st, out, sc, -1);
}

static void
render_background (const Spec *sp, float *out)
{
  const TsrSynthParams *p = sp->p;
  int w = sp->width, h = sp->height;
  gsize npix = (gsize) w * h;
  double inv[6];
  tsr_synth_invert_matrix (sp->m, inv);
  double cx = tsr_synth_centre_x (p), cy = tsr_synth_centre_y (p);
  double ca = cos (sp->grad_angle), sa = sin (sp->grad_angle);
  double ext_len = fabs (w * ca) + fabs (h * sa);
  double gk = ext_len > 0 ? sp->gradient / ext_len : 0.0;
  const double skycol[3] = { SKY_COLOR_R, SKY_COLOR_G, SKY_COLOR_B };
  const ExtGrid *g = sp->ext;
  float tr = (float) sp->transparency;
  int nplanes = sp->rgb ? 3 : 1;

  for (int c = 0; c < nplanes; c++)
    for (int y = 0; y < h; y++)
      {
        float *row = out + c * npix + (gsize) y * w;
        /* sky: linear along the row */
        double s0 = sp->sky * (1.0 + gk * ((0 - cx) * ca + (y - cy) * sa));
        double ds = sp->sky * gk * ca;
        int ce, co;
        if (sp->rgb)
          ce = co = c;
        else if (sp->cfa != TSR_CFA_NONE)
          {
            ce = tsr_cfa_color (sp->cfa, 0, y);
            co = tsr_cfa_color (sp->cfa, 1, y);
          }
        else
          ce = co = -1;
        double ke = ce >= 0 ? skycol[ce] : 1.0, ko = co >= 0 ? skycol[co] : 1.0;
        int pe = g != NULL && g->planes == 3 ? MAX (ce, 0) : 0;
        int po = g != NULL && g->planes == 3 ? MAX (co, 0) : 0;

        double sx = inv[1] * y + inv[2], sy = inv[4] * y + inv[5];
        for (int x = 0; x < w; x++)
          {
            gboolean odd = x & 1;
            double v = (s0 + ds * x) * (odd ? ko : ke);
            if (g != NULL)
              v += tr * grid_sample (g, odd ? po : pe, sx + inv[0] * x, sy + inv[3] * x);
            row[x] = (float) v;
          }
      }
}

static void
render_trail (const Spec *sp, float *out)
{
  int w = sp->width, h = sp->height;
  double x0 = sp->trail[0], y0 = sp->trail[1], x1 = sp->trail[2], y1 = sp->trail[3];
  double len = hypot (x1 - x0, y1 - y0);
  if (!(len > 0))
    return;
  double nx = -(y1 - y0) / len, ny = (x1 - x0) / len;   /* unit normal */
  double sigma = 2.0 / 2.354820045;                     /* FWHM 2 px */
  double cut = 5.0 * sigma;
  double k = -0.5 / (sigma * sigma);

  for (int y = 0; y < h; y++)
    {
      float *row = out + (gsize) y * w;
      double d0 = (0 - x0) * nx + (y - y0) * ny;
      for (int x = 0; x < w; x++)
        {
          double d = d0 + nx * x;
          if (fabs (d) < cut)
            row[x] += (float) (sp->trail_peak * exp (k * d * d));
        }
    }
}

static void
add_noise (const TsrSynthParams *p, guint index, float *data, gsize n)
{
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_NOISE, index);
  Gauss g = { r, FALSE, 0 };
  double rn = p->read_noise, rn2 = rn * rn;

  for (gsize i = 0; i < n; i++)
    {
      double lam = data[i] > 0 ? data[i] : 0.0;
      double v;
      if (lam < 30.0)
        {
          v = poisson_small (r, lam);
          if (rn > 0)
            v += rn * gauss_next (&g);
        }
      else
        v = lam + sqrt (lam + rn2) * gauss_next (&g);
      data[i] = (float) v;
    }
}

static void
render_spec (const Spec *sp, const GArray *stars, float *out)
{
  render_background (sp, out);
  if (sp->stars && stars != NULL)
    {
      Scratch sc = { NULL, 0 };
      for (guint i = 0; i < stars->len; i++)
        render_star (sp, &g_array_index (stars, TsrSynthStar, i), out, &sc);
      g_free (sc.buf);
    }
  if (sp->has_trail)
    render_trail (sp, out);
}

static double
trail_peak (const TsrSynthTruth *t, guint index)
{
  g_autoptr (GRand) r = stream_new (t->params.seed, STREAM_KINDS, 0x74726c00u + index);
  return MAX (8.0 * t->params.sky, 2000.0) * uniform (r, 1.0, 2.5);
}

static void
frame_spec (const TsrSynthTruth *t, guint index, Spec *sp)
{
  const TsrSynthParams *p = &t->params;
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);

  memset (sp, 0, sizeof *sp);
  sp->p = p;
  sp->width = p->width;
  sp->height = p->height;
  sp->rgb = FALSE;
  sp->cfa = p->cfa;
  memcpy (sp->m, f->matrix, sizeof sp->m);
  sp->fwhm = f->fwhm;
  sp->field_psf = p->field_psf;
  sp->focus = f->focus;
  sp->transparency = f->transparency;
  sp->sky = f->sky;
  sp->gradient = p->gradient;
  sp->grad_angle = tsr_synth_gradient_angle (p, index);
  sp->stars = f->kind != TSR_SYNTH_NOISE;
  sp->ext = f->kind != TSR_SYNTH_NOISE ? tsr_synth_truth_grid (t) : NULL;
  sp->has_trail = f->has_trail;
  memcpy (sp->trail, f->trail, sizeof sp->trail);
  sp->trail_peak = trail_peak (t, index);
  sp->oversample = MAX (p->oversample, 1u);
}

TsrImage *
tsr_synth_render_frame (const TsrSynthTruth *t, guint index, gboolean with_noise)
{
  g_return_val_if_fail (t != NULL, NULL);
  g_return_val_if_fail (index < t->frames->len, NULL);

  Spec sp;
  frame_spec (t, index, &sp);
  TsrImage *img = tsr_image_new (t->params.width, t->params.height, 1);
  if (img == NULL)
    return NULL;
  img->cfa = t->params.cfa;
  render_spec (&sp, t->stars, img->data);
  if (with_noise)
    add_noise (&t->params, index, img->data, tsr_image_npix (img));
  return img;
}

TsrImage *
tsr_synth_render_truth (const TsrSynthTruth *t, double fwhm)
{
  g_return_val_if_fail (t != NULL, NULL);
  g_return_val_if_fail (fwhm > 0, NULL);

  const TsrSynthParams *p = &t->params;
  Spec sp = { 0 };
  ExtGrid *own = NULL;
  double med = tsr_synth_median_fwhm (t);

  sp.p = p;
  sp.width = p->width;
  sp.height = p->height;
  sp.rgb = p->cfa != TSR_CFA_NONE;
  sp.cfa = TSR_CFA_NONE;
  tsr_synth_make_matrix (p, 0, 0, 0, FALSE, sp.m);
  sp.fwhm = fwhm;
  sp.field_psf = 0;
  sp.focus = NAN;      /* no defocus in the truth */
  sp.transparency = 1.0;
  sp.sky = 0;
  sp.stars = TRUE;
  sp.oversample = MAX (p->oversample, 1u);
  if (fabs (fwhm - med) < 1e-12)
    sp.ext = tsr_synth_truth_grid (t);
  else if (t->priv != NULL)
    sp.ext = own = ext_grid_build (p, t->priv->ext, fwhm);

  TsrImage *img = tsr_image_new (p->width, p->height, sp.rgb ? 3 : 1);
  if (img != NULL)
    render_spec (&sp, t->stars, img->data);
  tsr_synth_ext_grid_free (own);
  return img;
}
