/* tsr-raw.h — camera raw frames (CR2, CR3 where LibRaw supports it, NEF, ARW, DNG, …) through
 * LibRaw, as the deep-sky path needs them: the raw CFA samples of the visible area with the
 * camera's black level subtracted (per colour and per position where the file has a black
 * pattern), one plane with its Bayer pattern, no demosaic, no white balance, no scaling — the
 * samples stay linear in ADU (negative after black subtraction where read noise puts them
 * there). EXPTIME from the shutter time, DATE-OBS from the camera clock, ISOSPEED, CCD-TEMP
 * where the maker notes carry a sensor temperature. Sensors without a 2×2 Bayer pattern
 * (X-Trans, Foveon) and demosaiced (linear) DNGs are refused. A missing, truncated or
 * unsupported file gives one TSR_ERROR line naming it. */
#pragma once
#include <gio/gio.h>
#include "tsr-fits.h"

G_BEGIN_DECLS

/* .cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .dng .raf .orf .rw2 .pef .srw .3fr .iiq .erf .kdc .mrw */
gboolean  tsr_is_raw_name (const char *name);
gboolean  tsr_raw_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error);
TsrImage *tsr_raw_read (const char *path, GError **error);
/* Rows [y0, y1): the frame is decoded whole and cropped (raw codecs are not row-addressable). */
TsrImage *tsr_raw_read_rows (const char *path, int y0, int y1, GError **error);

G_END_DECLS
