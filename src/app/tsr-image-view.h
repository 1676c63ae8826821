/* tsr-image-view.h — the image view: a display-stretched frame or result on a
 * GtkDrawingArea, fit-to-window, scroll to zoom, drag to pan, pixel readout, and overlays
 * (per-tile weights of the selected frame, STAR/STRUCTURE tile grid, detected stars). */
#pragma once
#include <gtk/gtk.h>
#include "tessera.h"
#include "tsr-maps.h"

G_BEGIN_DECLS

#define TSR_TYPE_IMAGE_VIEW (tsr_image_view_get_type ())
G_DECLARE_FINAL_TYPE (TsrImageView, tsr_image_view, TSR, IMAGE_VIEW, GtkDrawingArea)

typedef enum
{
  TSR_OVERLAY_WEIGHTS = 1 << 0,   /* the map (tsr_image_view_set_map) */
  TSR_OVERLAY_TILES   = 1 << 1,
  TSR_OVERLAY_STARS   = 1 << 2
} TsrOverlay;

GtkWidget *tsr_image_view_new (void);

/* Show img (NULL clears) through surface, a display rendering of img from
 * tsr_render_surface (may be smaller than img: it is scaled up). geometry_frame is the
 * frame whose pixel grid img is in, or −1 for the reference geometry (results). Keeps the
 * zoom when the size is unchanged. */
void       tsr_image_view_set_image (TsrImageView *self, TsrImage *img, cairo_surface_t *surface,
                                     int geometry_frame);
/* As above, for an img whose pixels are scale × scale pixels of its geometry (a reduced
 * preview shown over full-resolution overlays). */
void       tsr_image_view_set_image_scaled (TsrImageView *self, TsrImage *img, cairo_surface_t *surface,
                                            int geometry_frame, double scale);
/* Analysis and weights for the overlays (either may be NULL). */
void       tsr_image_view_set_analysis (TsrImageView *self, TsrAnalysis *a, TsrWeights *w);
/* The frame whose weights the weight overlay shows (−1: mean over used frames). */
void       tsr_image_view_set_selected_frame (TsrImageView *self, int frame);
void       tsr_image_view_set_overlays (TsrImageView *self, TsrOverlay overlays);
void       tsr_image_view_zoom_fit (TsrImageView *self);
/* Split compare (before/after, result/mean): right of a vertical divider the view shows
 * surface, a rendering of an image in the same geometry as the shown one, with the same
 * zoom and pan; labels name the two sides. Dragging the divider moves it. NULL clears. */
void       tsr_image_view_set_compare (TsrImageView *self, cairo_surface_t *surface,
                                       const char *left_label, const char *right_label);
gboolean   tsr_image_view_has_compare (TsrImageView *self);
/* Divider position as a fraction of the width (0 … 1; default 0.5). */
void       tsr_image_view_set_split (TsrImageView *self, double fraction);
double     tsr_image_view_get_split (TsrImageView *self);
/* Alignment points of a planetary session, in the reference geometry (copied; n = 0 clears):
 * centres, active flags (active: outlined cell of side cell px; inactive: a grey cross).
 * Drawn over images of the reference geometry (geometry_frame −1) while visible. */
void       tsr_image_view_set_points (TsrImageView *self, guint n, const double *x, const double *y,
                                      const gboolean *active, double cell);
void       tsr_image_view_set_points_visible (TsrImageView *self, gboolean visible);
/* The number of points drawn now (0 when hidden or no image is shown). */
guint      tsr_image_view_get_n_points_drawn (TsrImageView *self);
/* Sky samples of the background extraction (copied; n = 0 clears), in the pixels of the
 * image shown: boxes drawn in one colour per state with a legend, while visible. */
void       tsr_image_view_set_samples (TsrImageView *self, const TsrBgSample *samples, guint n);
void       tsr_image_view_set_samples_visible (TsrImageView *self, gboolean visible);
/* The number of sample boxes drawn now (0 when hidden or no image is shown). */
guint      tsr_image_view_get_n_samples_drawn (TsrImageView *self);
/* Pick mode: a single click on the image emits "pick" (double x, double y: the pixel of the
 * image shown, may lie outside it; gboolean secondary: the right button or Shift) instead of
 * only taking the focus; a primary-button drag that starts on a sample box (one drawn)
 * shows the box following the pointer and emits "move-sample" (double x0, y0: where the
 * press was; x1, y1: where the release was; image pixels) at the release. A press that moves
 * less than 4 screen pixels is a click; a drag that starts off the boxes pans. */
void       tsr_image_view_set_pick_mode (TsrImageView *self, gboolean on);
/* What the pointer gestures do for a press at widget (x0, y0) with button (1 primary, 3
 * secondary) and Shift, moved to (x1, y1) and released there (tests drive the pick mode
 * with it; outside pick mode it does nothing). */
void       tsr_image_view_pointer_press_release (TsrImageView *self, double x0, double y0, double x1, double y1,
                                                 guint button, gboolean shift);
/* Widget point (wx, wy) in the pixels of the image shown. */
gboolean   tsr_image_view_widget_to_image (TsrImageView *self, double wx, double wy, double *ix, double *iy);
/* The image shown (NULL: none). */
TsrImage  *tsr_image_view_get_image (TsrImageView *self);
/* Draw what the view draws at size w × h on cr (tests: where the image and the overlays
 * land). */
void       tsr_image_view_render (TsrImageView *self, cairo_t *cr, int w, int h);
/* Swap the display surfaces of the image shown (a new stretch of the same pixels); nothing
 * when img is not the one shown. compare replaces the split view's surface when there is
 * one (NULL keeps it). */
gboolean   tsr_image_view_replace_surfaces (TsrImageView *self, const TsrImage *img, cairo_surface_t *surface,
                                            cairo_surface_t *compare);
cairo_surface_t *tsr_image_view_get_surface (TsrImageView *self);
/* The text for the pixel under the pointer ("readout" property). */
const char *tsr_image_view_get_readout (TsrImageView *self);

/* The map the TSR_OVERLAY_WEIGHTS overlay draws, with its colour bar and legend (default
 * TSR_MAP_WEIGHT); recomputed with every new weighing and frame selection. */
void       tsr_image_view_set_map (TsrImageView *self, TsrMapKind kind);
TsrMapKind tsr_image_view_get_map_kind (TsrImageView *self);
/* The map drawn now (NULL while the map overlay is off or there are no weights). */
const TsrMap *tsr_image_view_get_map (TsrImageView *self);
/* Keyboard zoom and pan (also + − 0 1 and the arrows while the view has the focus): zoom by
 * factor about the centre, one geometry pixel per screen pixel, pan by a fraction of the
 * view's width and height. */
void       tsr_image_view_zoom_by (TsrImageView *self, double factor);
void       tsr_image_view_zoom_one (TsrImageView *self);
void       tsr_image_view_pan (TsrImageView *self, double fx, double fy);
void       tsr_image_view_get_view (TsrImageView *self, double *zoom, double *ox, double *oy);
/* Where image point (ix, iy) of the displayed geometry lands in the widget. */
gboolean   tsr_image_view_image_to_widget (TsrImageView *self, double ix, double iy, double *wx, double *wy);

G_END_DECLS
