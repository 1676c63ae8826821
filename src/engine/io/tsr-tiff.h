/* tsr-tiff.h — baseline TIFF export of linear images (mono or RGB), written atomically.
 *
 * Two sample formats:
 *   TSR_TIFF_UINT16  — 16-bit unsigned, a linear scaling of the data: DN = (v − offset) · scale,
 *                      with offset = min(0, smallest valid value) and scale chosen so the largest
 *                      valid value becomes 65535 (the scaling is written into ImageDescription,
 *                      so the physical values can be recovered);
 *   TSR_TIFF_FLOAT32 — 32-bit IEEE float (SampleFormat = 3), the values as they are.
 * Samples outside the validity mask are written as 0. Little-endian, uncompressed, chunky
 * (interleaved RGB), strips of about 64 KiB, memory row 0 as the top row (as the PNG
 * previews). The file is written to a ".part" temporary next to path, flushed to disk and
 * renamed, so an existing file is never half-overwritten. */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_TIFF_UINT16 = 0,
  TSR_TIFF_FLOAT32
} TsrTiffFormat;

gboolean tsr_tiff_write (const char *path, const TsrImage *img, TsrTiffFormat format, GError **error);

/* The linear scaling TSR_TIFF_UINT16 applies to img: DN = (v − *offset) · *scale. */
void     tsr_tiff_uint16_scaling (const TsrImage *img, double *offset, double *scale);

G_END_DECLS
