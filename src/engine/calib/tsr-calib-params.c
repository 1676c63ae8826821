/* tsr-calib-params.c — defaults and key table of the calibration's parameters. */
#include "tsr-calib-params.h"

#include <glib/gi18n.h>
#include <string.h>

G_STATIC_ASSERT (sizeof (TsrCalibMethod) == sizeof (int));

static const char *const method_choices[] = { "winsor", "sigma", "median", "mean", NULL };

static const TsrParamSpec specs[] = {
  TSR_KEY_ENUM (TsrCalibParams, "calib.method", method, method_choices,
                N_("How the frames of a calibration master are combined: winsor, sigma, median or mean")),
  TSR_KEY_DOUBLE (TsrCalibParams, "calib.kappa", kappa, 1, 10,
                  N_("Clipping threshold in σ when the masters are combined (winsor, sigma)")),
  TSR_KEY_DOUBLE (TsrCalibParams, "calib.hot_sigma", hot_sigma, 0, 1000,
                  N_("A pixel of the master dark this many robust σ above its colour's median is hot and replaced by its neighbours (0 = off)")),
  TSR_KEY_DOUBLE (TsrCalibParams, "calib.cold_sigma", cold_sigma, 0, 1000,
                  N_("A pixel of the master dark this many robust σ below its colour's median is cold and replaced by its neighbours (0 = off)")),
  TSR_KEY_DOUBLE (TsrCalibParams, "calib.flat_min", flat_min, 0.001, 0.9,
                  N_("Samples where the normalised master flat is below this value carry no data")),
  TSR_KEY_BOOL (TsrCalibParams, "calib.dark_optimize", dark_optimize,
                N_("Scale the dark current of each light by the factor that minimises its noise instead of by exposure (needs a bias)")),
};

void
tsr_calib_params_init (TsrCalibParams *p)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->method = TSR_CALIB_WINSOR;
  p->kappa = 3.0;
  p->hot_sigma = 5.0;
  p->cold_sigma = 5.0;
  p->flat_min = 0.1;
  p->dark_optimize = FALSE;
}

const TsrParamSpec *
tsr_calib_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_calib_params_validate (const TsrCalibParams *p, GError **error)
{
  return tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error);
}
