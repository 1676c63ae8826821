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

/* Automatic linked stretch: black at median − 2.8·σ per channel, one range (the widest
 * channel's, black to maximum) and one midtone balance such that the medians map to about
 * 0.25 (as the usual "auto-stretch"); a per-channel scale of the data shows as colour. A
 * CFA mosaic is shown as luminance. */
void             tsr_stretch_auto (const TsrImage *img, TsrStretch *st);
float            tsr_mtf (float m, float x);
/* Render to a new ARGB32 surface at the image size (scale 1) or downsampled by factor. */
cairo_surface_t *tsr_render_surface (const TsrImage *img, const TsrStretch *st, int downsample);
/* As tsr_render_surface, with a midtone balance per channel (midtones: 3 values, or NULL
 * for st->midtone in every channel). */
cairo_surface_t *tsr_render_surface_full (const TsrImage *img, const TsrStretch *st, const float *midtones,
                                          int downsample);
/* The unlinked automatic stretch: every channel its own black, white and midtone balance
 * (its median to the same grey), which neutralises a colour cast of the background. */
void             tsr_stretch_auto_unlinked (const TsrImage *img, TsrStretch *st, float midtones[3]);
/* Histogram of what the display shows (a CFA mosaic as its 2×2 luminance, else each
 * channel): nbins bins over [lo, hi] per channel, counts[c · nbins + b] (3 · nbins entries);
 * samples outside [lo, hi] go to the end bins; returns the number of channels (1 or 3). */
int              tsr_display_histogram (const TsrImage *img, int nbins, double lo, double hi, guint32 *counts);
/* Range of the displayed samples (finite, valid) over every channel. FALSE when none. */
gboolean         tsr_display_range (const TsrImage *img, double *lo, double *hi);
/* Write a stretched PNG (atomic). */
gboolean         tsr_write_png_preview (const TsrImage *img, const char *path, int max_size, GError **error);
/* As tsr_write_png_preview with a given stretch (NULL: the automatic one) — e.g. another
 * image's, where this image's own statistics give a useless stretch (a restored latent whose
 * sky is exact zeros: median and MAD 0, the automatic stretch shows it black). */
gboolean         tsr_write_png_preview_with (const TsrImage *img, const TsrStretch *stretch, const char *path,
                                             int max_size, GError **error);

G_END_DECLS
