/* tsr-window-planetary.h — lunar and planetary sessions in the window (issue #16;
 * docs/window.md, docs/planetary.md).
 *
 * Opening a starless session (lunar, planetary FITS frames) or non-FITS input (PNG, JPEG,
 * TIFF sequences, a SER file, a video) runs the planetary job (tsr_planetary_run) instead of
 * the deep-sky analysis; the menu's "Process as Deep Sky" / "Process as Planetary" re-open
 * the session the other way. Results: the stack (sharpened live by the wavelet panel), the
 * mean of the globally aligned frames and the best frame; the alignment-point grid as an
 * overlay; a per-frame quality plot; the best-fraction and other planetary.* controls, which
 * re-run the stack. */
#pragma once
#include "tsr-window.h"

G_BEGIN_DECLS

/* What the Show drop-down offers for a planetary session (in its order). */
typedef enum
{
  TSR_PLANETARY_SHOW_STACK = 0,  /* the local-quality stack, through the wavelet panel */
  TSR_PLANETARY_SHOW_MEAN,       /* plain mean of the globally aligned frames */
  TSR_PLANETARY_SHOW_BEST        /* the best single frame, globally aligned */
} TsrPlanetaryShow;

typedef enum
{
  TSR_PROCESS_AUTO = 0,          /* by the input: non-FITS or starless → planetary */
  TSR_PROCESS_DEEP_SKY,
  TSR_PROCESS_PLANETARY
} TsrProcessAs;

/* The open session is planetary (its result is shown). */
gboolean    tsr_window_is_planetary (TsrWindow *self);
/* Why the session was routed to the planetary path (NULL for deep sky). */
const char *tsr_window_get_planetary_reason (TsrWindow *self);
const TsrPlanetaryResult *tsr_window_get_planetary_result (TsrWindow *self);
/* The stack as sharpened by the wavelet panel: the stack itself at unit gains and zero
 * thresholds. */
const TsrImage *tsr_window_get_planetary_sharpened (TsrWindow *self);
void        tsr_window_set_planetary_show (TsrWindow *self, TsrPlanetaryShow show);
TsrPlanetaryShow tsr_window_get_planetary_show (TsrWindow *self);
/* Set planetary.KEY through its control (as if the user changed it: the stack is run again
 * once the value rests). FALSE for a key without a control or out of range. */
gboolean    tsr_window_set_planetary_param (TsrWindow *self, const char *key, double value);
/* Wavelet layer (0 = finest) gain and noise threshold (σ of the layer) through the sliders. */
gboolean    tsr_window_set_wavelet_gain (TsrWindow *self, guint layer, double gain);
gboolean    tsr_window_set_wavelet_threshold (TsrWindow *self, guint layer, double threshold);
/* The alignment-point overlay toggle. */
void        tsr_window_set_ap_overlay (TsrWindow *self, gboolean on);
gboolean    tsr_window_get_ap_overlay (TsrWindow *self);
/* Open the current session again as deep sky or planetary (the menu items). FALSE when
 * there is no session or that way cannot read it (deep sky reads FITS only). */
gboolean    tsr_window_process_as (TsrWindow *self, TsrProcessAs how);

G_END_DECLS
