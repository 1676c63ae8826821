/* tsr-post-params.c — defaults and key table of the steps on a finished image. */
#include "tsr-post-params.h"

#include <glib/gi18n.h>
#include <string.h>

static const TsrParamSpec specs[] = {
  TSR_KEY_BOOL (TsrPostParams, "post.background", background,
                N_("Subtract a smooth background model (sky gradient) from the result, keeping it linear")),
  TSR_KEY_INT (TsrPostParams, "post.background_degree", bg_degree, 1, 4,
               N_("Polynomial degree of the background model")),
  TSR_KEY_INT (TsrPostParams, "post.background_grid", bg_grid, 4, 64,
               N_("Sky sample boxes along the longer side of the image")),
  TSR_KEY_DOUBLE (TsrPostParams, "post.background_kappa", bg_kappa, 1, 10,
                  N_("A sky sample this many σ away from the model is rejected (stars, nebulosity)")),
  TSR_KEY_BOOL (TsrPostParams, "post.colour", colour,
                N_("Neutralise the background and white-balance the result on its average star")),
  TSR_KEY_DOUBLE (TsrPostParams, "post.colour_min_snr", colour_min_snr, 3, 1000,
                  N_("Stars below this signal-to-noise ratio are not used for the white balance")),
  TSR_KEY_BOOL (TsrPostParams, "cosmetic.session", cosmetic,
                N_("Find hot and cold pixels from the lights themselves (outliers at one sensor position in most frames) and replace them before demosaic")),
  TSR_KEY_DOUBLE (TsrPostParams, "cosmetic.sigma", cosmetic_sigma, 3, 1000,
                  N_("A sample this many noise σ from its same-colour neighbours is an outlier")),
  TSR_KEY_DOUBLE (TsrPostParams, "cosmetic.fraction", cosmetic_fraction, 0.3, 1,
                  N_("A sensor position that is an outlier in at least this fraction of the sampled frames is a hot or cold pixel")),
  TSR_KEY_INT (TsrPostParams, "cosmetic.frames", cosmetic_frames, 3, 200,
               N_("Frames sampled, spread over the session, to find hot and cold pixels")),
};

void
tsr_post_params_init (TsrPostParams *p)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->background = FALSE;
  p->bg_degree = 2;
  p->bg_grid = 16;
  p->bg_kappa = 2.5;
  p->colour = FALSE;
  p->colour_min_snr = 20.0;
  p->cosmetic = TRUE;
  p->cosmetic_sigma = 5.0;
  p->cosmetic_fraction = 0.6;
  p->cosmetic_frames = 12;
}

const TsrParamSpec *
tsr_post_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_post_params_validate (const TsrPostParams *p, GError **error)
{
  return tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error);
}
