/* tsr-deconv-private.h — what tsr-deconv.c and tsr-deconv-stage.c share. */
#pragma once
#include "tsr-deconv.h"
#include <math.h>

G_BEGIN_DECLS

#define MIB ((gsize) 1024 * 1024)

typedef struct
{
  gboolean staged;
  char *path;
  int fd;
  double plane[3][3];   /* per latent channel: a + b·x + c·y */
  double rms[3];
  double cplane[3][3];  /* luminance mode: the colours' planes (the colour mean stack) */
  TsrPsf *cpsf[3];      /* luminance mode: the colours' PSFs (demosaiced planes, image grid) */
  double scale;
  double scale0;        /* the star-flux ratio scale (before deconv.fit_scale) */
  double fwhm;
  TsrPsf *psf[3];       /* fine grid */
  TsrPsf *lpsf;         /* deconv.target_fwhm > 0: psf[0] before the division by the target (the
                           data's own PSF: the colour maps' h_L), else NULL */
  guint n_scale_pairs;
  guint64 n_saturated;
  /* Job.resident: the staged native samples, mapped from the staged file or read once with the
   * set-up (Cn planes, the codes, the packed positions; W × H each), or NULL */
  float *ry;
  guint8 *rm;
  guint32 *rtap;
  void *rmap;           /* Job.resident by mapping: the staged file's mapped part (rmap_len bytes), or NULL */
  gsize rmap_len;
  float *rblk_y;        /* Job.resident: where in Job.rblock they go */
  guint8 *rblk_m;
  guint32 *rblk_t;
} DFrame;

typedef struct
{
  const TsrDeconvParams *dp;   /* deconv.* */
  const TsrTbqrParams *tp;     /* registration (register.*, stars.*, gate.*) and the TBQR seed */
  const TsrRunParams *run;     /* run.* */
  TsrSession *s;
  int W, H;             /* reference geometry */
  int Cd;               /* channels of the staged warped data (1 for mosaics) */
  int Cn;               /* channels of the staged native samples (Cd; 1 in luminance mode: L) */
  int C;                /* latent channels */
  TsrCfa cfa;           /* mosaic pattern in reference geometry, or NONE (also when demosaicing) */
  gboolean demosaic;    /* Bayer session, deconv.color = rgb or luminance: every frame demosaiced first */
  gboolean luminance;   /* deconv.color = luminance: one latent, fitted to L = (R + G + B) / 3 */
  int r;
  char *stage_dir;
  gboolean stage_disk_checked;   /* the staging's disk need was checked (first staged frame) */
  guint n_frames;
  DFrame *frames;
  GArray *ref_stars;    /* RefStar sorted by x */
  GMutex lock;
  /* used frames */
  guint nu;
  guint *used;
  /* iteration geometry: rf = PSF radius, M = sampling margin (frame pixels sit up to one
   * native pixel from their reference pixel, plus the bilinear tap), pad = rf + M = the
   * latent's padding; all in fine samples */
  int rf, M, pad, LW, LH, tile, ntx, nty;
  TsrConvPlan *plan;
  int grid_w;        /* the plan's FFT grid: row stride and size (the scatter grids) */
  gsize grid_n;
  float **kcache;       /* nu × C spectra, or NULL */
  TsrHugeBlock kblock;  /* the kcache's spectra */
  TsrHugeBlock rblock;  /* Job.resident: the frames' staged samples (DFrame.ry, rm, rtap) */
  float *x_old, *x_new; /* C × LW × LH: the point the MM step is taken at, and its result */
  float *x_cur;         /* momentum: the last iterate u_k (x_new becomes u_{k+1}) */
  float *g;             /* momentum: the last step u_{k+1} − x_old (read, then overwritten) */
  double ped[3];        /* pedestal per channel: the solver's latent is x + ped ≥ 0 */
  gboolean momentum;
  gboolean fit_scale;   /* deconv.fit_scale: the frames' scales refitted during the solve */
  gboolean scale_fit_now; /* this iteration refits them: the frames' sums are needed */
  gboolean row_reads;     /* TsrDeconvOptions.row_reads */
  gboolean resident;      /* the staged frames held in memory (TsrDeconvResult.resident) */
  gsize max_obs;
  int max_lw, max_lh;
  /* per iteration */
  int n_chunks;         /* frames of one item are split into this many chunks (fixed sum order) */
  gboolean abort;
  GError *error;
  GCancellable *cancellable;
  double delta_param;
  gboolean huber;
  double kappa, relax, gain, accel;
  GArray *gain_pts;     /* photon transfer: (level, variance) pairs of every frame */
  double gain_used;     /* e-/ADU for the Poisson term: deconv.gain, or estimated (0 = none) */
  /* smoothness prior λ‖(I − G) u‖² (split-gradient MM): λ per channel, spectra of G and G∗G */
  double lambda[3];
  float *gspec, *g2spec;
  float *g1, *g21;      /* G = g1 ⊗ g1 (radius gr), G∗G = g21 ⊗ g21 (radius 2 gr) */
  int gr;
  float *lb;            /* C × LW × LH lower bound of the solver's latent u (NULL: 0); a negative
                         * value −m: the annulus means round a source stay ≥ m (annulus_floor) */
  guint16 *satcount;    /* W × H: frames whose pixel there was left out as saturated (under lock) */
} Job;

typedef struct
{
  double x, y, flux;
} RefStar;

static inline double
tsr_deconv_plane_at (const double *p, double x, double y)
{
  return p[0] + p[1] * x + p[2] * y;
}

gboolean tsr_deconv_reference_hook (const TsrImage *ref, const TsrStarList *ref_stars, gpointer data, GError **error);
gboolean tsr_deconv_seed_and_mean (Job *j, gsize budget, guint n_threads, TsrImage **seed_out, TsrImage **mean_out,
                                   TsrProgressFunc progress, gpointer pdata, GCancellable *cancellable, GError **error);
gboolean tsr_deconv_stage_hook (guint index, const TsrImage *img, TsrFrameReg *fr, gpointer data, GCancellable *cancellable, GError **error);
void tsr_deconv_gain_sample (Job *j, const TsrImage *raw, const guint8 *usable);
double tsr_deconv_gain_estimate (const GArray *pts);
gint tsr_deconv_cmp_refstar (gconstpointer a, gconstpointer b);
int tsr_deconv_data_colour (const Job *j, int c);
int tsr_deconv_data_plane (const Job *j, int c);
void tsr_deconv_fit_background (const float *v, const guint8 *mask, int w, int h, TsrCfa cfa, int colour, double out[3], double *rms);
gboolean tsr_deconv_read_at (int fd, void *buf, gsize len, off_t off);
/* 8-neighbour flood fill. The caller marks the seed pixels and pushes them on `stack` (room for
 * W·H entries), `top` of them; each pixel taken off the stack goes to `visit` (may be NULL), and
 * each of its 8 neighbours inside W×H for which `join` returns TRUE is pushed (`join` marks it, so
 * that it is not taken twice). Last in, first out, the neighbours in row order. Used by the floor
 * regions (tsr-deconv.c) and the saturated cores. */
typedef gboolean (*TsrDeconvJoinFunc) (gsize q, gpointer data);
typedef void (*TsrDeconvVisitFunc) (gsize k, gpointer data);
void tsr_deconv_flood8 (int W, int H, guint32 *stack, gsize top, TsrDeconvJoinFunc join, TsrDeconvVisitFunc visit,
                        gpointer data);
/* Saturated star cores (pixels left out as saturated in at least half the frames): centroid
 * and radius of each 8-connected region, reference pixels. */
typedef struct
{
  double x, y, radius;
} TsrDeconvSatCore;
void tsr_deconv_saturated_cores (const Job *j, GArray *cores);
/* The result blended into the seed (native grid) within each core's radius + 2 FWHM, with a
 * 3 px cosine taper: saturated stars are left as the frames recorded them. */
void tsr_deconv_blend_saturated (const GArray *cores, double fwhm, const TsrImage *seed, TsrImage *out);

/* A frame pixel's position in the reference geometry, packed for the iterations: per axis 16
 * bits, the Keys weight index of the fractional part of g = r·(e + ½) − ½ (13 bits, at 1/4096
 * px) and floor(g) + 3 (3 bits; |e| ≤ 1, r ≤ 3). The sample sits at fine index
 * r·(reference pixel) + floor(g) + fraction. */
#define TSR_DECONV_KEYS_N 4096
static inline guint32
tsr_deconv_tap_axis (double e, int r)
{
  double g = r * (e + 0.5) - 0.5, fl = floor (g);
  guint32 k = (guint32) ((g - fl) * TSR_DECONV_KEYS_N + 0.5);
  return k | ((guint32) ((int) fl + 3) << 13);
}

/* For the tests: the per-row kernels of the iterations (the Keys cubic gather of h∗u and its
 * transposed scatter) on nrows rows of ow frame pixels, the portable ones or (avx2) the AVX2 ones
 * (FALSE when this build or CPU has none). cv is vw × vh; pixel (x, y) with taps[y·ow + x] =
 * kx | ox << 13 | ky << 16 | oy << 29 (1 ≤ ox, oy ≤ 4) samples cv at rows y − 1 + oy …, columns
 * x − 1 + ox … with Keys weights of fractions kx, ky / 4096, when mask[y·ow + x] (else acc = 0),
 * and adds a1, a2 times the same weights into grid (s1 then s2, each vw × vh, zeroed first). */
gboolean tsr_deconv_row_kernels_run (gboolean avx2, const float *cv, int vw, int vh, const guint8 *mask,
                                     const guint32 *taps, int ow, int nrows, const float *a1, const float *a2,
                                     float *acc, float *grid);
/* the Huber-clipped weights of one row (the solver's row model, step 2), portable or AVX2 */
gboolean tsr_deconv_huber_row_run (gboolean avx2, int ow, gboolean weighted, float sf, float sped, float rms2,
                                   float ig, float delta, const float *acc, float *d1, float *mo, float *iv);

G_END_DECLS
