/* tsr-planetary.h — lunar and planetary sessions (issue #16; docs/planetary.md).
 *
 *   frames (image sequence, SER, video: io/tsr-image-reader.h)
 *     → starless detection (tsr_starless_detect)
 *     → global alignment (disc centroid + phase correlation, or phase correlation of the
 *       surface), reference = mean of the best globally aligned frames
 *     → alignment points (AP) on a grid: per point and frame a shift by correlation in a
 *       search window, blended into one smooth warp field per frame (Hann partition of unity)
 *     → per point quality (noise-debiased gradient energy), best fraction per point, weights
 *       blended smoothly → the stack; the plain mean of the globally aligned frames as baseline
 *     → wavelet sharpening (à trous B3 spline, tsr_wavelets_apply).
 * Each job has its own params struct with an init function and a key table
 * ("planetary.*", "wavelets.*").
 */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-progress.h"
#include "tsr-keys.h"
#include "tsr-image-reader.h"

G_BEGIN_DECLS

/* Key tables: core/tsr-keys.h (TsrParamSpec), as every job's. */

/* ------------------------------------------------------------------ wavelets */

#define TSR_WAVELET_MAX_LAYERS 8

typedef struct
{
  int n_layers;                                /* wavelets.layers (5), 1–8 */
  double gains[TSR_WAVELET_MAX_LAYERS];        /* wavelets.gains (1,…): layer 1 = finest (1 px) */
  int n_gains;
  double thresholds[TSR_WAVELET_MAX_LAYERS];   /* wavelets.thresholds (0,…): soft threshold per
                                                  layer in units of that layer's noise σ */
  int n_thresholds;
  gboolean clip_negative;                      /* wavelets.clip_negative: clamp the result at 0 (FALSE) */
} TsrWaveletParams;

void                tsr_wavelet_params_init (TsrWaveletParams *p);
/* wavelets.layers, wavelets.clip_negative; the list keys wavelets.gains and
 * wavelets.thresholds (comma-separated numbers) are named by tsr_wavelet_list_key (0, 1, …;
 * NULL past the end) and set/read by the functions below like the others. */
const TsrParamSpec *tsr_wavelet_params_specs (guint *n);
const char         *tsr_wavelet_list_key (guint i, const char **help);
gboolean            tsr_wavelet_params_set (TsrWaveletParams *p, const char *key, const char *value, GError **error);
char               *tsr_wavelet_params_get_string (const TsrWaveletParams *p, const char *key);

/* À trous decomposition of one plane (B3 spline 1 4 6 4 1 / 16, holes 2^j, mirrored edges):
 * layers[j] (j < n) = c_j − c_{j+1}, layers[n] = c_n (residual), each w·h floats allocated by
 * the caller. Σ layers = plane up to float rounding. */
void      tsr_wavelet_decompose (const float *plane, int w, int h, int n, float **layers);
/* The noise σ of layer j of a unit-σ white noise image (for thresholds in σ units). */
double    tsr_wavelet_noise_factor (int j);

/* Sharpen img: out = residual + Σ_j gain_j · shrink(layer_j, threshold_j · σ_j), σ_j = the
 * image noise (tsr_plane_noise) × the layer's noise factor; every channel alike; the mask is
 * kept. Unit gains and zero thresholds reproduce img to float precision. */
TsrImage *tsr_wavelets_apply (const TsrImage *img, const TsrWaveletParams *p, GCancellable *cancellable,
                              GError **error);

/* ------------------------------------------------------------------ starless detection */

typedef struct
{
  gboolean starless;        /* an extended disc or surface dominates: the planetary path */
  gboolean surface;         /* the bright region touches most of the frame (Moon, Sun) */
  double extended_fraction; /* area of the largest bright connected region / frame area */
  double bright_fraction;   /* area above the threshold / frame area */
  guint n_compact;          /* small bright blobs (point-source candidates) */
  double disc_x, disc_y, disc_r;  /* centroid and equivalent radius of the largest region, px */
} TsrStarlessInfo;

/* Decide from one frame (luminance of a colour frame; a mosaic is binned 2×2 first). */
void      tsr_starless_detect (const TsrImage *img, TsrStarlessInfo *info);
/* From the frames of paths (at most 3 read, spread over the session); FALSE with error when
 * nothing can be read. */
gboolean  tsr_starless_detect_paths (const char *const *paths, TsrStarlessInfo *info, GError **error);

/* ------------------------------------------------------------------ the planetary job */

typedef enum { TSR_PALIGN_AUTO = 0, TSR_PALIGN_DISC, TSR_PALIGN_SURFACE } TsrPlanetaryAlign;
typedef enum { TSR_PSTACK_BEST_FRACTION = 0, TSR_PSTACK_QUALITY_WEIGHT, TSR_PSTACK_MEAN } TsrPlanetaryStack;
typedef enum { TSR_PINTERP_LANCZOS3 = 0, TSR_PINTERP_CUBIC } TsrPlanetaryInterp;
typedef enum { TSR_PROT_AUTO = 0, TSR_PROT_OFF, TSR_PROT_ON } TsrPlanetaryRotation;
typedef enum { TSR_PSHARPEN_AUTO = 0, TSR_PSHARPEN_OFF } TsrPlanetarySharpen;

typedef struct
{
  TsrPlanetaryAlign align;  /* planetary.align: auto | disc | surface */
  gboolean local;           /* planetary.local: alignment points (TRUE); FALSE = global shifts only */
  int ap_size;              /* planetary.ap_size: AP box side, px (0 = auto: ~min(W,H)/12, 24–96) */
  double ap_overlap;        /* planetary.ap_overlap: fraction of ap_size shared by neighbours (0.5) */
  int search;               /* planetary.search: AP search radius after global alignment, px (6) */
  double ap_min_structure;  /* planetary.ap_structure: an AP needs debiased gradient energy ≥ this ×
                               the noise's (3); flatter APs keep the global shift */
  TsrPlanetaryStack stack;  /* planetary.stack: best_fraction | quality_weight | mean */
  double best_fraction;     /* planetary.best_fraction: per AP (0.5) */
  double reference_fraction;/* planetary.reference_fraction: best frames in the reference (0.25) */
  double quality_sigma;     /* planetary.quality_sigma: Gaussian pre-blur of the quality measure, px (1.0) */
  gboolean drizzle_free_mean; /* reserved: FALSE */
  TsrPlanetaryInterp interp;/* planetary.interp: lanczos3 | cubic, the kernel that resamples the frames */
  gboolean stream;          /* planetary.stream: read the frames again for each pass instead of
                               keeping their luminance: memory independent of the frame count (FALSE;
                               on by itself when the planes would take more than 2 GiB) */
  gboolean channel_align;   /* planetary.channel_align: register red and blue to green on the stack
                               (atmospheric dispersion) (TRUE) */
  TsrPlanetaryRotation rotation; /* planetary.rotation: auto | off | on — rotation and scale in the
                               global alignment (4 DOF: shift, rotation, scale; field rotation of an
                               alt-az mount). auto: fitted on surfaces and kept when it moves a frame
                               corner by more than rotation_min px; on: also for discs */
  double rotation_min;      /* planetary.rotation_min: px at the frame corner (1) */
  TsrPlanetarySharpen sharpen; /* planetary.sharpen: auto | off — wavelet sharpening of the stack
                               with gains chosen so the noise stays at or below the plain mean's */
  double sharpen_max;       /* planetary.sharpen_max: largest sharpening amount (2) */
  guint n_threads;          /* planetary.threads: 0 = all CPUs */
} TsrPlanetaryParams;

void                tsr_planetary_params_init (TsrPlanetaryParams *p);
const TsrParamSpec *tsr_planetary_params_specs (guint *n);
gboolean            tsr_planetary_params_set (TsrPlanetaryParams *p, const char *key, const char *value,
                                              GError **error);
char               *tsr_planetary_params_get_string (const TsrPlanetaryParams *p, const char *key);

typedef struct
{
  guint n_frames;
  int width, height, channels;
  gboolean disc;            /* aligned by the disc centroid */
  guint reference_frame;    /* best single frame (global quality) */
  double *shift_x, *shift_y;/* global shift per frame: frame(x + sx, y + sy) ≈ reference(x, y) */
  double *rot_a, *rot_b;    /* 4-DOF global alignment (NULL when translation only): with u = x − cx,
                               v = y − cy about the frame centre, frame(cx + a u − b v + sx,
                               cy + b u + a v + sy) ≈ reference(x, y); a = s cos θ, b = s sin θ */
  gboolean rotated;         /* rot_a/rot_b are used */
  double rotation_max_deg;  /* largest |θ| over the frames, degrees */
  double *quality;          /* global quality per frame: noise-debiased gradient energy × 1e4 / level² */
  /* alignment points */
  guint n_aps;
  double *ap_x, *ap_y;      /* centres, px */
  gboolean *ap_active;      /* enough structure to be measured */
  float *ap_dx, *ap_dy;     /* n_aps × n_frames local shifts after global alignment */
  float *ap_quality;        /* n_aps × n_frames */
  int ap_size;
  TsrPlanetaryInterp interp;/* the kernel the frames were resampled with */
  guint lum_planes_peak;    /* most luminance planes held at once (n kept, 2 streaming) */
  gboolean channels_aligned;/* red and blue were moved onto green by (channel_dx, channel_dy) */
  double channel_dx[3], channel_dy[3]; /* channel c sampled at x + (dx, dy); green 0 */
  double local_shift_rms;   /* RMS of the active APs' local shifts, px */
  double residual_rms;      /* re-registration of the globally aligned frames to the mean: RMS, px */
  TsrImage *result;         /* local-quality stack (channels of the input; mosaics debayered) */
  TsrImage *mean;           /* plain mean of the globally aligned frames (baseline) */
  TsrImage *best_frame;     /* the best single frame, globally aligned */
  TsrImage *sharpened;      /* result after the automatic wavelet sharpening (planetary.sharpen=auto),
                               else NULL */
  TsrWaveletParams sharpen; /* the gains and thresholds it used */
  double sharpen_amount;    /* the amount chosen (0 = thresholds only) */
  double sharpen_noise_limit; /* the noise σ it had to stay under (the mean's) */
} TsrPlanetaryResult;

/* Rotation (radians) and scale of frame f in r (0 and 1 without the 4-DOF alignment). */
double    tsr_planetary_frame_rotation (const TsrPlanetaryResult *r, guint f, double *scale);

/* Automatic sharpening: the gains 1 + amount·(0, 1, 0.4, 0.1, 0) with thresholds (2, 0.5) σ on
 * layers 1–2, amount the largest in [0, amount_max] that leaves the luminance noise σ
 * (tsr_planetary_sharpness) at or below noise_limit (bisection). Fills params and amount_out;
 * returns the sharpened image. */
TsrImage *tsr_wavelets_auto (const TsrImage *img, double noise_limit, double amount_max, TsrWaveletParams *params,
                             double *amount_out, GCancellable *cancellable, GError **error);

void      tsr_planetary_result_free (TsrPlanetaryResult *r);

TsrPlanetaryResult *tsr_planetary_run (TsrFrameSource *src, const TsrPlanetaryParams *p,
                                       TsrProgressFunc progress, gpointer progress_data,
                                       GCancellable *cancellable, GError **error);

/* Frame f of the run r aligned as the stack saw it: resampled (r->interp) at its global shift
 * plus, when local, its alignment-point displacement field, and red and blue moved by the
 * dispersion correction when the stack had one; a mosaic is demosaiced first. The
 * mask is 0 where the sample falls outside the frame. frame: the frame as read from the
 * source of r. */
TsrImage *tsr_planetary_align_frame (const TsrPlanetaryResult *r, const TsrImage *frame, guint f, gboolean local);

/* Atmospheric dispersion of a colour image: the shift (dx[c], dy[c]) with channel c at
 * x + (dx, dy) ≈ green at x, c = 0 (red) and 2 (blue), each channel scaled to its own range,
 * by phase correlation refined by Lucas–Kanade; dx[1] = dy[1] = 0. FALSE when a channel holds
 * too little structure to be registered. */
gboolean  tsr_planetary_channel_offsets (const TsrImage *img, double *dx, double *dy);

/* JSON summary of a run (frames, shifts, qualities, APs, residuals). */
char     *tsr_planetary_result_json (const TsrPlanetaryResult *r, const TsrFrameSource *src);

/* Sharpness for comparisons: noise-debiased gradient energy (tsr_gradient_energy at 1 px
 * blur, the image's own noise taken out) of the luminance inside the box (x0,y0,x1,y1) (whole
 * image when x1 <= x0), × 1e4 / (mean level)²; and the noise σ (tsr_plane_noise) of that
 * luminance. */
double    tsr_planetary_sharpness (const TsrImage *img, int x0, int y0, int x1, int y1, double *noise_out);
/* Noise-debiased gradient energy E = mean |∇ G_s * I|² − k σ² (k: the noise gain of the
 * filter), σ: the noise of the plane. */
double    tsr_gradient_energy (const float *plane, int w, int h, int x0, int y0, int x1, int y1, double blur_sigma,
                               double noise_sigma);

/* ------------------------------------------------------------------ generator with truth */

typedef struct
{
  guint n_frames;           /* 40 */
  int width, height;        /* 256 × 256 */
  double disc_radius;       /* 80 px */
  double jitter;            /* global jitter σ, px (4) */
  double seeing_min, seeing_max; /* Gaussian blur σ range, px (0.6 – 2.2) */
  double distortion;        /* RMS of the smooth local displacement field, px (1.2) */
  double distortion_scale;  /* correlation length of the displacement and of the local seeing, px (40) */
  double local_seeing;      /* relative variation of the seeing across the frame (0.5) */
  double noise;             /* Gaussian noise σ in units of the disc brightness (0.02) */
  double peak;              /* disc brightness (200) */
  guint64 seed;
} TsrPlanetSynthParams;

void      tsr_planet_synth_params_init (TsrPlanetSynthParams *p);
/* The undistorted, unblurred scene (mono). */
TsrImage *tsr_planet_synth_truth (const TsrPlanetSynthParams *p);
/* Frame i: truth displaced by jitter + the frame's smooth distortion, blurred by the frame's
 * spatially varying seeing, plus noise. shift_out (may be NULL): the frame's global jitter. */
TsrImage *tsr_planet_synth_frame (const TsrPlanetSynthParams *p, const TsrImage *truth, guint i, double *shift_x,
                                  double *shift_y);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrPlanetaryResult, tsr_planetary_result_free)

G_END_DECLS

G_BEGIN_DECLS
/* Write a linear-stretch 8-bit PNG (black at the 0.01 % and white at the 99.99 % point of the
 * valid samples, linked over the channels; planetary images are viewed linearly, the deep-sky
 * auto-stretch would flatten a disc). Atomic: temporary name, then rename. */
gboolean  tsr_planetary_write_png (const TsrImage *img, const char *path, GError **error);
/* Write img by the extension of path: .fit/.fits/.fts → float32 FITS, .tif/.tiff → float32
 * TIFF, .png → tsr_planetary_write_png. */
/* FALSE (error names the file) unless path ends in a type tsr_planetary_write_image writes:
 * commands check their outputs with it before a run instead of after. */
gboolean  tsr_planetary_image_name_check (const char *path, GError **error);
gboolean  tsr_planetary_write_image (const TsrImage *img, const char *path, GError **error);
/* The same, written to path in the type final_name's extension names (a staged output of a
 * TsrCommit, whose hidden name has no extension of its own). */
gboolean  tsr_planetary_write_image_as (const TsrImage *img, const char *path, const char *final_name,
                                        GError **error);
G_END_DECLS
