/* tsr-synth.h — synthetic sessions with known truth, shared by tests, benchmarks and
 * the demo. */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-progress.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_SYNTH_VALID = 0,
  TSR_SYNTH_MIRRORED,   /* geometrically invalid: reflected field */
  TSR_SYNTH_NOISE       /* noise only: no stars, no structure */
} TsrSynthKind;

typedef struct
{
  guint n_frames;        /* default 30 */
  int width, height;     /* default 640 × 480 */
  TsrCfa cfa;            /* TSR_CFA_NONE = mono */
  guint64 seed;          /* default 1 */
  guint n_stars;         /* 0 (default): density-based, 2000 per Mpx of sky incl. margin
                            (a Seestar field: ~4500 per 1080×1920 frame, most faint) */
  double star_flux_min;  /* electrons; default 300 */
  double star_flux_max;  /* default 4e5 */
  double star_power;     /* N(>F) ∝ F^-power; default 1.0 */
  gboolean extended;     /* discs and faint nebulosity; default TRUE */
  double fwhm_min, fwhm_max;   /* seeing range in px (default 2.0 – 4.5) */
  double moffat_beta;          /* default 3.0 */
  double field_psf;            /* FWHM growth to the corners (fraction, default 0.2) */
  double focus_blur;           /* focus drift on a tilted sensor: FWHM (px) of the defocus
                                  blur where the field is furthest from focus, added in
                                  quadrature to the seeing (default 0 = off). The best-focus
                                  line sweeps across the field over the night, so each region
                                  has its own best frames. */
  double colour_fwhm[3];       /* Bayer / RGB: each colour's FWHM relative to the seeing (R, G, B;
                                  0 or 1 = the same PSF for all, the default). Real optics: on the
                                  Seestar M94 frames red is ~1.3× green */
  guint n_bursts;              /* seeing bursts (default 2) */
  double shift_max;            /* px (default 20) */
  double rotation_max_deg;     /* default 1.0 */
  double sky;                  /* sky level in electrons per pixel (default 400) */
  double sky_drift;            /* relative drift over the night (default 0.3) */
  double gradient;             /* relative gradient across the field (default 0.15) */
  double transparency_drop;    /* deepest transparency loss (default 0.3) */
  double read_noise;           /* electrons (default 3) */
  double gain;                 /* electrons per ADU (default 1.0) */
  double bias;                 /* ADU offset (default 500) */
  guint oversample;            /* PSF samples per pixel axis (1 = point sampled) */
  guint n_trails;              /* frames with a satellite trail (default 1) */
  guint n_mirrored;            /* default 1 */
  guint n_noise;               /* default 1 */
  double exposure;             /* seconds, written to EXPTIME (default 10) */
} TsrSynthParams;

void tsr_synth_params_init (TsrSynthParams *p);

typedef struct
{
  guint index;
  TsrSynthKind kind;
  double matrix[6];     /* sky (x,y) → frame: x' = m0 x + m1 y + m2; y' = m3 x + m4 y + m5 */
  double fwhm;          /* seeing FWHM at the field centre, px (before defocus) */
  double focus;         /* focus state in [−1, 1] (only with focus_blur > 0) */
  double fwhm_median;   /* median FWHM (geometric mean of the axes) at the positions of the
                           stars whose centre falls in this frame; NAN for NOISE frames */
  double transparency;  /* multiplies star and extended fluxes */
  double sky;           /* mean sky level, electrons */
  gboolean has_trail;
  double trail[4];      /* x0 y0 x1 y1 in frame coordinates */
  char *file;           /* basename written */
  char *date_obs;
} TsrSynthFrame;

/* What "flux" means. A mono frame renders a star so that the sum of its rendered values
 * over its window (radius ≥ 4·FWHM, larger for bright stars until the profile falls below
 * ~0.01 e) is exactly flux · transparency electrons. A CFA session renders the same
 * full-resolution star three times, plane c carrying flux · transparency · color[c] (colour
 * mean 1, so the mean of the three planes is the mono star), and each mosaic site samples
 * the plane of its own colour: the sites of colour c of a mosaic hold about
 * flux · transparency · color[c] · (1/4 for R and B, 1/2 for G). The RGB truth.fits of a CFA
 * session holds the three full planes, its mono truth.fits the mono star. Extended sources
 * and the sky follow the same rule (per-colour responses, mean 1). */
typedef struct
{
  double x, y;          /* sky coordinates (== frame coordinates under the identity) */
  double flux;          /* electrons at transparency 1 per full plane, see above */
  double color[3];      /* relative R,G,B response, mean 1 */
} TsrSynthStar;

typedef struct _TsrSynthPrivate TsrSynthPrivate;

typedef struct
{
  TsrSynthParams params;
  GArray *frames;       /* TsrSynthFrame */
  GArray *stars;        /* TsrSynthStar (callers may edit them before rendering) */
  /*< private >*/
  TsrSynthPrivate *priv; /* cached extended-source sky grid (built on first render) */
} TsrSynthTruth;

void tsr_synth_truth_free (TsrSynthTruth *t);

/* Render one frame in electrons (no noise, no bias) into a new float image; for a CFA
 * session the image is the mosaic. Used by the writer and by tests. */
TsrImage *tsr_synth_render_frame (const TsrSynthTruth *t, guint index, gboolean with_noise);

/* Build the truth (positions, per-frame conditions) without rendering. */
TsrSynthTruth *tsr_synth_plan (const TsrSynthParams *p);

/* The PSF of frame index at frame position (fx, fy): FWHM (geometric mean of the major
 * and minor axes, px), axis ratio minor/major (≤ 1) and the angle of the major axis
 * (radians from +x toward +y; radial from the frame centre). Any output may be NULL. */
void tsr_synth_psf_at (const TsrSynthTruth *t, guint index, double fx, double fy,
                       double *fwhm, double *axis_ratio, double *angle);

/* The median seeing FWHM over the frames that have stars (valid and mirrored). */
double tsr_synth_median_fwhm (const TsrSynthTruth *t);

/* Noise-free truth in sky coordinates (identity transform): stars and extended sources at
 * transparency 1, no sky, Moffat PSF of this FWHM everywhere (no field variation). Mono
 * for a mono session, 3-channel RGB for a CFA session. */
TsrImage *tsr_synth_render_truth (const TsrSynthTruth *t, double fwhm);

/* Write frames (16-bit, BZERO 32768, BAYERPAT when CFA, DATE-OBS, EXPTIME…) named
 * synth_0001.fits …, truth.json, truth/truth.fits (noise-free, no sky, median seeing, sky
 * coordinates) and truth/truth-sharp.fits (same, FWHM 1.2 px) into outdir (created). */
TsrSynthTruth *tsr_synth_write_session (const TsrSynthParams *p, const char *outdir,
                                        TsrProgressFunc progress, gpointer progress_data,
                                        GCancellable *cancellable, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrSynthTruth, tsr_synth_truth_free)

G_END_DECLS
