/* tsr-calib.h — calibration frames (issue #18, docs/calibration.md): masters of bias, dark,
 * flat and dark-flat frames, built from folders with rejection or read from master files,
 * checked against the lights before any work, and applied to every light as it is read
 * (a TsrSession frame filter), so registration, TBQR, deconvolution and restoration all see
 * calibrated frames.
 *
 *   calibrated = (L − B − s·(D − B)) / F,   s = t_light / t_dark
 *
 * with D the master dark (bias included), B the master bias, F the master flat normalised to
 * median 1 per Bayer site; without a bias, L − D (s must be 1). Hot and cold pixels of the
 * master dark are replaced by the median of their same-colour neighbours before demosaic. */
#pragma once
#include <gio/gio.h>
#include "tsr-session.h"
#include "tsr-run-params.h"
#include "tsr-progress.h"
#include "tsr-calib-params.h"
#include "tsr-image-reader.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_CALIB_BIAS = 0,
  TSR_CALIB_DARK,
  TSR_CALIB_FLAT,
  TSR_CALIB_DARK_FLAT,
  TSR_CALIB_N_KINDS
} TsrCalibKind;

/* "bias", "dark", "flat", "dark-flat" */
const char *tsr_calib_kind_name (TsrCalibKind k);
/* The file name a master of this kind is written under: "master-bias.fits" … */
const char *tsr_calib_master_file_name (TsrCalibKind k);

typedef struct _TsrCalib TsrCalib;

/* Check the calibration inputs (paths[k]: a folder of frames, a master file, or NULL) among
 * themselves and against the lights (NULL when only masters are built), reading headers only:
 * sizes, channels, Bayer patterns, binning, frame types (IMAGETYP), a file that is not a
 * master, exposures of darks (mixed, or another exposure than the lights' without a bias to
 * scale with), gain. Errors are one line naming the file. The notes the user is told once
 * (dark scaling, flats without dark-flats) are collected here. */
TsrCalib   *tsr_calib_plan (const char *const *paths, const TsrSession *lights, const TsrCalibParams *p,
                            GCancellable *cancellable, GError **error);
/* Is there anything to apply (any path given)? */
gboolean    tsr_calib_is_empty (const TsrCalib *c);
/* Every file the calibration reads (frames of the folders, master files): new array of
 * strings, for refusing an output that would overwrite one. */
GPtrArray  *tsr_calib_input_files (const TsrCalib *c);
/* Lines to show the user once (translated, no trailing newline). */
const GPtrArray *tsr_calib_notes (const TsrCalib *c);

/* Build the masters from their frames (or read the master files), then the hot/cold pixel
 * map from the master dark. */
gboolean    tsr_calib_build (TsrCalib *c, const TsrRunParams *run, TsrProgressFunc progress,
                             gpointer progress_data, GCancellable *cancellable, GError **error);
/* The master of kind k after tsr_calib_build (NULL when not given); its header carries the
 * provenance (IMAGETYP 'Master …', NCOMBINE, CALMETH, EXPTIME, CCD-TEMP when known). */
TsrImage   *tsr_calib_master (const TsrCalib *c, TsrCalibKind k);
/* Number of pixels of the hot/cold map. */
gsize       tsr_calib_n_bad_pixels (const TsrCalib *c);

/* Calibrate rows [y0, y0 + img->height) of a light of this exposure (seconds, NAN unknown) in
 * place. */
gboolean    tsr_calib_apply (const TsrCalib *c, TsrImage *img, int y0, double exposure, GError **error);
/* The dark scale applied to light index of the session c is attached to: the optimised one
 * (calib.dark_optimize) once that light has been read, else NAN. */
double      tsr_calib_dark_scale (const TsrCalib *c, guint index);
/* Install c (built) as the frame filter of the lights: every frame read through the session is
 * calibrated. c is owned by the session afterwards. */
void        tsr_calib_attach (TsrCalib *c, TsrSession *lights);

/* Lunar and planetary frames (io/tsr-image-reader.h): does the planned calibration (built or
 * not) match the frames of src — size, channels, Bayer pattern? FALSE with a one-line error
 * naming the calibration file and the frames. */
gboolean    tsr_calib_check_source (const TsrCalib *c, const TsrFrameSource *src, GError **error);
/* Install c (built) as the filter of src: every frame read is calibrated (the dark unscaled:
 * SER files and videos carry no exposure). c is owned by src afterwards. */
void        tsr_calib_attach_source (TsrCalib *c, TsrFrameSource *src);

void        tsr_calib_free (TsrCalib *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrCalib, tsr_calib_free)

G_END_DECLS
