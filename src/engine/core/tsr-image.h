/* tsr-image.h — reference-counted float32 planar images with a validity mask.
 *
 * Coordinates: x = column (FITS NAXIS1 index), y = row (NAXIS2 index), both 0-based,
 * pixel centres at integer positions; memory row 0 is the first row stored in the file.
 * Pixel (x, y) of channel c lives at data[c * width * height + y * width + x].
 */
#pragma once
#include <glib.h>
#include "tsr-header.h"

G_BEGIN_DECLS

/* Samples of larger magnitude are invalid (masked on read, like NaN): no detector or
 * calibrated frame produces them — they come from uninitialised memory, a wrong BZERO or a
 * damaged file — and squaring them in float (the rejection statistics) would overflow. */
#define TSR_SAMPLE_MAX 1e15f

/* Bayer pattern named by the colours of the 2×2 cell whose top-left sample is at the
 * image origin (0,0) in memory order: e.g. GRBG → (0,0)=G (1,0)=R (0,1)=B (1,1)=G. */
typedef enum
{
  TSR_CFA_NONE = 0,
  TSR_CFA_RGGB,
  TSR_CFA_GRBG,
  TSR_CFA_GBRG,
  TSR_CFA_BGGR
} TsrCfa;

enum { TSR_RED = 0, TSR_GREEN = 1, TSR_BLUE = 2 };

const char *tsr_cfa_name (TsrCfa cfa);                 /* "RGGB" …, "none" */
TsrCfa      tsr_cfa_from_name (const char *name);      /* TSR_CFA_NONE if unknown */
/* Colour (TSR_RED/GREEN/BLUE) of the sample at (x, y) for this pattern. */
int         tsr_cfa_color (TsrCfa cfa, int x, int y);
/* The pattern seen by an image whose origin is at (dx, dy) of an image with pattern cfa. */
TsrCfa      tsr_cfa_shift (TsrCfa cfa, int dx, int dy);

typedef struct _TsrImage TsrImage;
struct _TsrImage
{
  /*< private >*/
  gint ref_count;
  /*< public, read-only shape >*/
  int width;
  int height;
  int channels;      /* 1 or 3 */
  float *data;       /* channels planes of width*height floats */
  guint8 *mask;      /* width*height, 1 = valid sample, 0 = no data; always allocated */
  TsrCfa cfa;        /* pattern at memory origin; TSR_CFA_NONE for mono or debayered */
  TsrHeader *header; /* never NULL */
};

TsrImage *tsr_image_new (int width, int height, int channels);  /* zeroed, mask all valid */
/* Same shape, data and mask left uninitialised: for outputs whose every sample and mask
 * byte the caller writes (saves zeroing, and the first write faults the pages in). */
/* tsr_image_new, or NULL with a TSR_ERROR_TOO_LARGE error saying how much memory `what`
 * needs and how much there is. */
TsrImage *tsr_image_new_checked (int width, int height, int channels, const char *what, GError **error);
TsrImage *tsr_image_new_uninit (int width, int height, int channels);
/* An image around data (width × height × channels floats from g_malloc, owned by the image
 * from now on; not cleared), the mask allocated and not set. NULL (data not taken) without
 * memory for the mask. */
TsrImage *tsr_image_new_take (int width, int height, int channels, float *data);
TsrImage *tsr_image_new_like (const TsrImage *like);             /* same shape & cfa, zero data, copy of header */
TsrImage *tsr_image_copy (const TsrImage *img);
TsrImage *tsr_image_ref (TsrImage *img);
void      tsr_image_unref (TsrImage *img);

/* Index i reflected into [0, n) about the first and last sample (… 2 1 | 0 1 2 … n−1 | n−2 …;
 * period 2(n − 1), so an even offset keeps a Bayer phase): the edge rule of the demosaics,
 * the à-trous wavelets and the denoiser's tiles. */
static inline int
tsr_reflect_index (int i, int n)
{
  if (n == 1)
    return 0;
  int period = 2 * (n - 1);
  i %= period;
  if (i < 0)
    i += period;
  return i < n ? i : period - i;
}

static inline float *
tsr_image_plane (const TsrImage *img, int c)
{
  return img->data + (gsize) c * img->width * img->height;
}

static inline gsize
tsr_image_npix (const TsrImage *img)
{
  return (gsize) img->width * img->height;
}

/* Number of valid samples in the mask. */
gsize tsr_image_count_valid (const TsrImage *img);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrImage, tsr_image_unref)

G_END_DECLS
