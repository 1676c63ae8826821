/* tsr-fits.h — FITS input and output through cfitsio. */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"

G_BEGIN_DECLS

/* What a header-only read tells about a frame. */
typedef struct
{
  int width, height, channels;
  int bitpix;
  TsrCfa cfa;            /* resolved to memory order (BAYERPAT, X/YBAYROFF, ROWORDER) */
  char *date_obs;        /* as written, or NULL */
  double jd;             /* DATE-OBS as Julian date, or 0 when absent/unparsable */
  double exposure;       /* seconds (EXPTIME or EXPOSURE), NAN when absent */
  double gain;           /* GAIN, NAN when absent */
  double temperature;    /* CCD-TEMP / SET-TEMP / TEMPERAT, NAN when absent */
  gboolean compressed;
} TsrFitsInfo;

void tsr_fits_info_clear (TsrFitsInfo *info);

/* Largest image we accept: anything claiming more is refused before allocating. */
#define TSR_FITS_MAX_AXIS 65536
#define TSR_FITS_MAX_PIXELS ((gint64) 400 * 1000 * 1000)

/* Read the header of the first image HDU (primary or, for .fz, the first extension). */
gboolean  tsr_fits_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error);

/* Read the first image HDU as float32 (BZERO/BSCALE applied). Non-finite and BLANK
 * samples are masked out and set to 0. */
TsrImage *tsr_fits_read (const char *path, GError **error);

/* Read rows [y0, y1) of every channel into a new image of height y1 − y0. */
TsrImage *tsr_fits_read_rows (const char *path, int y0, int y1, GError **error);

/* Write img as float32 FITS. The header keeps img->header's cards except structural ones
 * and those listed in drop_keys (NULL-terminated, may be NULL); BAYERPAT and its offsets
 * are written from img->cfa. DATE, CREATOR are set. Written to a temporary file in the
 * target folder and renamed over path only when complete. */
gboolean  tsr_fits_write (const char *path, const TsrImage *img, const char *const *drop_keys, GError **error);

/* The frame info a header implies (pattern, date, exposure, gain, temperature), for a
 * width × height × channels image: shared by the readers of other formats, which turn their
 * metadata into FITS keywords first. */
void      tsr_fits_info_from_header (TsrFitsInfo *info, int width, int height, int channels, int bitpix,
                                     const TsrHeader *h);
/* Refuse keywords that would make the frame silently wrong (a BAYERPAT that is no pattern). */
gboolean  tsr_fits_check_keywords (const char *path, const TsrHeader *h, GError **error);

/* Is cfitsio thread-safe in this build? */
gboolean  tsr_fits_reentrant (void);

/* Parse an ISO-8601 DATE-OBS (with or without 'Z', fractional seconds) to a Julian date. */
gboolean  tsr_parse_date_obs (const char *s, double *jd);

G_END_DECLS
