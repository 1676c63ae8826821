/* tsr-stars-private.h — what tsr-stars.c and tsr-star-fit.c share. */
#pragma once
#include "tsr-stars.h"
#include <math.h>

G_BEGIN_DECLS

#define BETA_MIN 1.5
#define BETA_MAX 10.0
#define BETA_INIT 3.0
#define FIT_MAX_ITER 30
#define PATCH_FWHM 3.0         /* patch radius in FWHM estimates */
#define PATCH_MIN 3.0          /* detection px */
#define PATCH_MAX 40.0         /* detection px */
#define HOT_K 15.0             /* hot pixel: excess over the neighbour median, in sigma */
#define HOT_RATIO 0.15         /* … and the second brightest neighbour rises < this × */
#define FWHM_REJECT_MIN 0.7    /* full-resolution px */
#define FWHM_MINOR_MIN 0.5
#define FWHM_REJECT_MAX 25.0
#define SHIFT_MAX 2.0          /* detection px between sep's barycentre and the fit */
#define SNR_STATS_MIN 20.0
#define SEP_PIXSTACK_FULL 2
#define SEP_DEBLEND_OVERFLOW 7
#define CFA_AT(t, x, y) ((t)[((y) & 1) * 2 + ((x) & 1)])

static const double SUB_ONE[2] = { 0, 0 };

static const double SUB_CELL[8] = { 0, 0, 1, 0, 0, 1, 1, 1 };

enum { P_AMP, P_X, P_Y, P_AXX, P_AXY, P_AYY, P_BETA, P_BG, NP };

typedef struct
{
  guint n, cap;
  float *x, *y, *v;
  float *jac, *res;         /* cap is a multiple of 4: whole vectors in every column */
  int nsub;
  double sub[8];
} Samples;

static inline void
tsr_star_samples_add (Samples *s, double x, double y, double v)
{
  if (s->n == s->cap)
    {
      s->cap = MAX (256u, s->cap * 2);
      s->x = g_renew (float, s->x, s->cap);
      s->y = g_renew (float, s->y, s->cap);
      s->v = g_renew (float, s->v, s->cap);
      g_free (s->jac);
      g_free (s->res);
      s->jac = g_new (float, (gsize) NP * s->cap);
      s->res = g_new (float, s->cap);
    }
  s->x[s->n] = (float) x;
  s->y[s->n] = (float) y;
  s->v[s->n] = (float) v;
  s->n++;
}

gboolean tsr_star_fit_psf (Samples *s, double *p, gboolean *gauss_out, double *chi2_out);
void tsr_star_init_shape (double *p, double fwhm);
gboolean tsr_star_lm_fit (Samples *s, double *p, gboolean gauss, double *chi2_out);
void tsr_star_samples_clear (Samples *s);
/* Test hook: FALSE makes the fits' model pass four samples wide; TRUE (the default) eight wide
 * where the processor has AVX2 (x86-64). Not while other threads fit. */
void tsr_star_fit_vector8 (gboolean on);
void tsr_star_samples_reset (Samples *s, int nsub, const double *sub);
gboolean tsr_star_from_fit_params (const double *p, gboolean gauss, double sigma, double pix_area, TsrStar *out);

G_END_DECLS
