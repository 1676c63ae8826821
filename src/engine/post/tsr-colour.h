/* tsr-colour.h — colour calibration without a catalogue: background neutralisation and a
 * white balance that makes the average star neutral (docs/post.md). */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-post-params.h"

G_BEGIN_DECLS

typedef struct
{
  guint n_stars;       /* stars whose colour was measured */
  double sky[3];       /* sky level per channel before (clipped median) */
  double ratio[3];     /* the average star's channel / green before (median over the stars) */
  double scale[3];     /* factor applied per channel (green 1) */
} TsrColourInfo;

/* out_c = (in_c − sky_c) · scale_c + sky_G for an RGB image: every channel's sky becomes
 * the green sky (neutral background) and the median star colour R/G, B/G becomes 1 (stars
 * from the star detector on the luminance, unsaturated, SNR ≥ post.colour_min_snr, aperture
 * fluxes over a local sky annulus). Linear. A HISTORY line says what was done. */
TsrImage *tsr_colour_calibrate (const TsrImage *img, const TsrPostParams *p, TsrColourInfo *info,
                                GCancellable *cancellable, GError **error);

/* Aperture flux of channel c at (x, y): the sum within radius r minus the median of the
 * annulus r + 2 … r + 6 times the aperture's area. FALSE when the aperture or most of the
 * annulus leaves the image or the valid data. */
gboolean  tsr_aperture_flux (const TsrImage *img, int c, double x, double y, double r, double *flux);

G_END_DECLS
