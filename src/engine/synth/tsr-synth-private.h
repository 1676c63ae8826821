/* tsr-synth-private.h — what the generator's files share: constants, random streams, the
 * extended-source grid, the PSF model and the frame geometry. */
#pragma once
#include "tsr-synth.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-json.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <string.h>

G_BEGIN_DECLS

#define SKY_COLOR_R 1.08
#define SKY_COLOR_G 1.00
#define SKY_COLOR_B 0.92
#define PROFILE_FLOOR 0.01        /* e: a star's window extends until its profile drops below */
#define MAX_STAR_RADIUS 300
#define TRUTH_SHARP_FWHM 1.2

enum
{
  STREAM_STARS = 1,
  STREAM_COND = 2,
  STREAM_EXT = 3,
  STREAM_NOISE = 4,
  STREAM_KINDS = 5
};

typedef enum
{
  EXT_SERSIC,     /* soft-edged elliptical Sérsic-like disc */
  EXT_BLOB        /* axis-aligned Gaussian blob (nebulosity) */
} ExtType;

typedef struct
{
  ExtType type;
  double x, y;          /* sky coordinates */
  double amp;           /* electrons per pixel at the centre (transparency 1) */
  double h;             /* Sérsic scale length (px) */
  double n;             /* Sérsic index */
  double q;             /* axis ratio */
  double angle;         /* major axis angle */
  double sx, sy;        /* blob sigmas */
  double color[3];
} ExtSource;

typedef struct
{
  int x0, y0;           /* sky coordinates of grid sample (0, 0) */
  int w, h;
  int planes;           /* 1 (mono) or 3 (R, G, B) */
  float *data;
} ExtGrid;

struct _TsrSynthPrivate
{
  GMutex lock;
  GArray *ext;          /* ExtSource */
  ExtGrid *grid;        /* built lazily, blurred with grid_fwhm */
  double grid_fwhm;
  gboolean grid_built;
};

/* ---------------------------------------------------------------------------------- */
/* Random numbers                                                                      */

static inline GRand *
stream_new (guint64 seed, guint32 stream, guint32 index)
{
  guint32 s[5] = { (guint32) (seed & 0xffffffffu), (guint32) (seed >> 32), stream, index,
                   0x7e55e7a5u };
  return g_rand_new_with_seed_array (s, G_N_ELEMENTS (s));
}

static inline double
uniform01 (GRand *r)
{
  /* strictly inside (0, 1) */
  return ((double) g_rand_int (r) + 0.5) * (1.0 / 4294967296.0);
}

static inline double
uniform (GRand *r, double a, double b)
{
  return a + (b - a) * uniform01 (r);
}

typedef struct
{
  GRand *r;
  gboolean have;
  double spare;
} Gauss;

static inline double
gauss_next (Gauss *g)
{
  if (g->have)
    {
      g->have = FALSE;
      return g->spare;
    }
  double u1 = uniform01 (g->r), u2 = uniform01 (g->r);
  double rad = sqrt (-2.0 * log (u1));
  double th = 2.0 * G_PI * u2;
  g->spare = rad * sin (th);
  g->have = TRUE;
  return rad * cos (th);
}

static inline double
poisson_small (GRand *r, double lambda)
{
  /* Knuth: count uniforms until their product falls below e^-λ. */
  double limit = exp (-lambda), prod = uniform01 (r);
  int k = 0;
  while (prod > limit && k < 1000)
    {
      k++;
      prod *= uniform01 (r);
    }
  return k;
}

typedef struct
{
  double fwhm;          /* geometric mean of major and minor FWHM */
  double q;             /* minor / major */
  double angle;         /* major axis */
  double a, b;          /* Moffat alpha along the major and minor axes */
  double A, B, C;       /* Q = A dx² + 2B dx dy + C dy² = (u/a)² + (v/b)² */
} Psf;

void tsr_synth_apply_matrix (const double m[6], double x, double y, double *fx, double *fy);
double tsr_synth_centre_x (const TsrSynthParams *p);
double tsr_synth_centre_y (const TsrSynthParams *p);
void tsr_synth_ext_grid_free (ExtGrid *g);
double tsr_synth_gradient_angle (const TsrSynthParams *p, guint i);
void tsr_synth_invert_matrix (const double m[6], double inv[6]);
void tsr_synth_make_matrix (const TsrSynthParams *p, double theta, double dx, double dy, gboolean mirror, double m[6]);
void tsr_synth_psf_compute (const TsrSynthParams *p, double fwhm_centre, double field_psf, double focus, double fx, double fy, Psf *psf);
int tsr_synth_sky_margin (const TsrSynthParams *p);
gboolean tsr_synth_check_params (const TsrSynthParams *p, GError **error);
const ExtGrid * tsr_synth_truth_grid (const TsrSynthTruth *t);

G_END_DECLS
