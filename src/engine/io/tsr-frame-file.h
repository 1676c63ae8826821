/* tsr-frame-file.h — one reader interface over the deep-sky frame formats: FITS (tsr-fits),
 * XISF (tsr-xisf), TIFF (8/16/32-bit integer or 32-bit float, libtiff) and camera raw
 * (tsr-raw, LibRaw). The session scanner, the calibration and the jobs read frames through
 * these, so a session of TIFF, XISF or raw lights is a session like one of FITS frames: the
 * same TsrFitsInfo (size, pattern, date, exposure, gain, temperature from the format's
 * metadata turned into FITS keywords), the same header object, the same bad-input promises. */
#pragma once
#include <gio/gio.h>
#include "tsr-fits.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_FRAME_FITS = 0,
  TSR_FRAME_XISF,
  TSR_FRAME_TIFF,
  TSR_FRAME_RAW
} TsrFrameFormat;

/* A file name the session scanner lists from a folder: FITS, XISF, TIFF or camera raw. */
gboolean       tsr_is_frame_name (const char *name);
/* The format of path: by name (.xisf, .tif/.tiff, raw extensions, FITS names), else by its
 * first bytes, else FITS (whose reader then says what is wrong). */
TsrFrameFormat tsr_frame_format (const char *path);
const char    *tsr_frame_format_name (TsrFrameFormat f);

gboolean       tsr_frame_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error);
TsrImage      *tsr_frame_read (const char *path, GError **error);
TsrImage      *tsr_frame_read_rows (const char *path, int y0, int y1, GError **error);

/* TIFF frames (tsr-frame-file.c): ImageDescription lines that are FITS cards become header
 * cards; a CFA TIFF (TIFF/EP CFAPattern) or BAYERPAT in the description gives the pattern;
 * the EXIF exposure time and DateTimeOriginal (or DateTime) give EXPTIME and DATE-OBS. */
gboolean       tsr_tiff_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error);

G_END_DECLS
