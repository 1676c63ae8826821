/* tsr-calib-params.h — the parameters of the calibration ("calib.*") and their key table. */
#pragma once
#include "tsr-keys.h"

G_BEGIN_DECLS

typedef enum { TSR_CALIB_WINSOR = 0, TSR_CALIB_SIGMA, TSR_CALIB_MEDIAN, TSR_CALIB_MEAN } TsrCalibMethod;

typedef struct
{
  TsrCalibMethod method; /* calib.method: how the frames of a master are combined (winsor) */
  double kappa;          /* calib.kappa: clipping threshold of winsor and sigma (3) */
  double hot_sigma;      /* calib.hot_sigma: a pixel of the master dark this many robust σ above
                            its Bayer site's median is hot (5; 0 = off) */
  double cold_sigma;     /* calib.cold_sigma: … this many below is cold (5; 0 = off) */
  double flat_min;       /* calib.flat_min: samples where the normalised master flat is lower
                            carry no data (0.1) */
  gboolean dark_optimize;/* calib.dark_optimize: scale the dark current per light by the factor
                            that minimises the calibrated light's noise instead of by exposure
                            (FALSE; needs a bias) */
} TsrCalibParams;

void                tsr_calib_params_init (TsrCalibParams *p);
const TsrParamSpec *tsr_calib_params_specs (guint *n);
gboolean            tsr_calib_params_validate (const TsrCalibParams *p, GError **error);

G_END_DECLS
