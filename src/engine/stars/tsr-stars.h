/* tsr-stars.h — background, star detection (libsep) and per-star PSF fits. */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"

G_BEGIN_DECLS

typedef struct
{
  double x, y;            /* full-resolution pixel-centre coordinates of the fitted centre */
  double flux;            /* background-subtracted integrated flux (fit model integral), ADU */
  double peak;            /* fitted peak above background, ADU */
  double background;      /* local background level, ADU */
  double fwhm;            /* geometric mean of major and minor FWHM, full-resolution px */
  double fwhm_major, fwhm_minor;
  double theta;           /* major-axis angle, radians from +x towards +y */
  double roundness;       /* minor/major in (0,1] */
  double snr;             /* flux / noise of the flux */
  gboolean saturated;     /* some pixel at or above the saturation level */
} TsrStar;

typedef enum
{
  TSR_LUMA_SUPERPIXEL = 0,  /* 2×2 CFA cells averaged: half resolution, exact colour balance */
  TSR_LUMA_GREEN,           /* green sites kept, red/blue sites filled from their green
                               neighbours: full resolution; only green sites are fitted */
  TSR_LUMA_CFA              /* detection as GREEN; the fit uses every site at full
                               resolution, red and blue brought to the green scale by the
                               star's own colour ratios measured in its core */
} TsrLumaMode;

typedef struct
{
  double detect_sigma;     /* detection threshold in background RMS (default 5) */
  int min_area;            /* minimum connected pixels (default 5) */
  guint max_stars;         /* keep the brightest N after fitting (default 1500) */
  double saturation;       /* ADU; 0 = automatic (from the image maximum / data range) */
  TsrLumaMode luma;        /* for CFA frames (default: see docs/registration.md) */
  gboolean fit;            /* PSF fit (default TRUE); FALSE keeps sep's moments only */
  int bg_box;              /* background mesh size in px of the proxy (default 64) */
  gboolean bg_decimate;    /* measure the mesh on a quarter of a large proxy's samples (default TRUE) */
} TsrStarParams;

typedef struct
{
  GArray *stars;            /* TsrStar, brightest first, full-resolution coordinates */
  double fwhm_median;       /* over unsaturated, well-fitted stars (NAN when none) */
  double roundness_median;
  double background;        /* global background (ADU) of the proxy image */
  double background_rms;    /* global background RMS (ADU) */
  guint n_detected;         /* before rejection of hot pixels, cosmics, bad fits */
} TsrStarList;

void         tsr_star_params_init (TsrStarParams *p);

/* Luminance proxy of a frame: for a CFA mosaic the superpixel or green-interpolated image
 * (scale_out = 2 or 1: multiply proxy coordinates by it — and for superpixels add 0.5 — to
 * get full-resolution coordinates); for mono or RGB a copy/mean of the channels. */
TsrImage    *tsr_luminance_proxy (const TsrImage *img, TsrLumaMode mode, int *scale_out);

/* Detect and fit stars. Hot pixels and cosmic-ray hits (sources sharper than any PSF, or a
 * single pixel) are rejected. An image with no stars returns an empty list, not an error. */
TsrStarList *tsr_stars_detect (const TsrImage *img, const TsrStarParams *p,
                               GCancellable *cancellable, GError **error);
void         tsr_star_list_free (TsrStarList *l);

/* Fit an elliptical Moffat (β free in [1.5, 10]) or Gaussian to the patch around (x0, y0)
 * of a plane (least squares, Levenberg–Marquardt). Returns FALSE when the fit fails. */
gboolean     tsr_star_fit (const float *plane, const guint8 *mask, int width, int height,
                           double x0, double y0, double radius, double background,
                           TsrStar *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrStarList, tsr_star_list_free)

G_END_DECLS
