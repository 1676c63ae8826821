/* tsr-render.h — display stretch (for screens and PNG previews only; never for data). */
#pragma once
#include <cairo.h>
#include <gio/gio.h>
#include "tsr-image.h"

G_BEGIN_DECLS

typedef struct
{
  float black[3];     /* shadows clip per channel (linked: same relative point) */
  float white[3];
  float midtone;      /* midtones transfer balance in (0,1) */
} TsrStretch;

/* Automatic linked stretch: black at median − 2.8·σ, midtones such that the median maps
 * to 0.25 (as the usual "auto-stretch"). A CFA mosaic is shown as luminance. */
void             tsr_stretch_auto (const TsrImage *img, TsrStretch *st);
float            tsr_mtf (float m, float x);
/* Render to a new ARGB32 surface at the image size (scale 1) or downsampled by factor. */
cairo_surface_t *tsr_render_surface (const TsrImage *img, const TsrStretch *st, int downsample);
/* Write a stretched PNG (atomic). */
gboolean         tsr_write_png_preview (const TsrImage *img, const char *path, int max_size, GError **error);

G_END_DECLS
