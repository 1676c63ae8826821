/* tsr-register.h — registration of a session to a reference frame, with the geometric
 * validity gate (TBQR v3.2.2 §3.4). See docs/registration.md. */
#pragma once
#include <gio/gio.h>
#include "tsr-session.h"
#include "tsr-progress.h"
#include "tsr-stars.h"
#include "tsr-transform.h"
#include "tsr-warp.h"

G_BEGIN_DECLS

/* Smallest side, in pixels of the luminance registration works on (a Bayer mosaic is binned
 * 2 × 2 first), that tsr_register_session accepts. */
#define TSR_REGISTER_MIN_SIDE 16

typedef enum
{
  TSR_GATE_REFLECTION = 1 << 0,   /* det < 0 */
  TSR_GATE_SCALE      = 1 << 1,   /* scale outside [reject_scale_min, reject_scale_max] */
  TSR_GATE_CC         = 1 << 2,   /* CC below max(cc_min_abs, median − k·MAD) */
  TSR_GATE_SHIFT      = 1 << 3,   /* shift outlier */
  TSR_GATE_FAILED     = 1 << 4,   /* matching failed on every path */
  TSR_GATE_UNCONFIRMED = 1 << 5   /* phase path: the frame's own stars do not land on the
                                     reference's under the transform (see stars_checked) */
} TsrGateReason;

/* Number of TsrGateReason bits, and their names in bit order ("reflection", …). */
#define TSR_GATE_N_REASONS 6
extern const char *const tsr_gate_reason_names[TSR_GATE_N_REASONS];

typedef struct
{
  TsrModel model;                 /* default similarity */
  int reference;                  /* −1 = automatic */
  TsrStarParams stars;
  TsrInterp interp;               /* for --write-registered; default Lanczos-3 */
  guint match_stars;              /* brightest stars used for triangle matching (default 30) */
  double match_tolerance_px;      /* RANSAC inlier radius, full-res px (default 2.0) */
  guint min_matched;              /* fewer inliers = star matching failed (default 6) */
  gboolean starless_fallback;     /* phase correlation when stars fail (default TRUE) */
  double min_phase_peak;          /* phase-correlation peak below which it failed (0.2) */
  int cc_size;                    /* longest side of the CC images (default 512) */
  /* validity gate */
  double reject_scale_min;        /* 0.92 */
  double reject_scale_max;        /* 1.08 */
  double reject_cc_min_abs;       /* 0.35 */
  double reject_cc_mad_multiplier;/* 4 */
  double reject_cc_margin_min;    /* the MAD term is never tighter than this (0.05) */
  gboolean reject_cc_trust_stars; /* no CC gate for a registration confirmed by ≥ 2·min_matched
                                     star inliers within match_tolerance_px (TRUE) */
  double reject_shift_px_min;     /* 25 */
  double reject_shift_median_multiplier; /* 3 */
  guint n_threads;                /* 0 = all CPUs */
  gsize memory_budget;            /* 0 = 2 GiB */
  gboolean drop_star_lists;       /* free each frame's star list (not the reference's) once the
                                     frame hook has run, keeping the counts and medians: for a
                                     caller that never reads them again (`process`); a long
                                     session's lists are its largest per-frame memory (FALSE) */
} TsrRegisterParams;

typedef struct
{
  guint index;
  gboolean registered;            /* a transform was found */
  const char *method;             /* "reference", "stars", "phase" or "none" */
  TsrTransform transform;         /* reference pixel → this frame's pixel */
  double rms_px;                  /* RMS of star inliers (on the phase path: of the stars that
                                     refined it, NAN when they did not) */
  guint n_stars;
  guint n_matched;
  double cc;                      /* registration correlation (NAN when not registered) */
  double phase_peak;              /* phase path only */
  /* Phase path only: the reference's stars that the transform puts inside this frame and
   * that this frame's star list could show (stars_checked: min of the two counts, 0 when
   * either side has fewer than 3 stars or the session is registered as a bright extended
   * object), and how many of them land within 2 × match_tolerance_px of one of this frame's
   * stars (stars_confirmed, also in n_matched). Gated as TSR_GATE_UNCONFIRMED when fewer
   * than half (or fewer than 2) do; when enough do they refine the transform. */
  guint stars_checked, stars_confirmed;
  double fwhm, roundness;         /* medians over the frame's stars (NAN when none) */
  double background, noise;       /* ADU */
  double shift_px;                /* |translation at the frame centre − session median| */
  guint gate;                     /* TsrGateReason bits; 0 = valid */
  TsrStarList *stars;
} TsrFrameReg;


typedef struct
{
  gint ref_count;
  TsrSession *session;
  TsrRegisterParams params;
  guint reference;
  guint n_frames;
  TsrFrameReg *frames;
  double cc_threshold;            /* thresholds the gate used */
  double shift_threshold;
  double cc_median, cc_mad;
} TsrRegistration;


void             tsr_register_params_init (TsrRegisterParams *p);

/* Hooks that let a later phase measure a frame during the registration pass, so every
 * frame is read once: reference_hook runs once with the reference frame before the pass;
 * frame_hook runs for every frame (from worker threads) after it was registered, with the
 * frame as read. Either may be NULL. */
typedef gboolean (*TsrReferenceHook) (const TsrImage *ref, const TsrStarList *ref_stars,
                                      gpointer data, GError **error);
typedef gboolean (*TsrFrameHook) (guint index, const TsrImage *img, TsrFrameReg *fr,
                                  gpointer data, GCancellable *cancellable, GError **error);

TsrRegistration *tsr_register_session_with_hooks (TsrSession *s, const TsrRegisterParams *p,
                                                  TsrReferenceHook reference_hook,
                                                  TsrFrameHook frame_hook, gpointer hook_data,
                                                  TsrProgressFunc progress, gpointer progress_data,
                                                  GCancellable *cancellable, GError **error);
TsrRegistration *tsr_register_session (TsrSession *s, const TsrRegisterParams *p,
                                       TsrProgressFunc progress, gpointer progress_data,
                                       GCancellable *cancellable, GError **error);
TsrRegistration *tsr_registration_ref (TsrRegistration *r);
void             tsr_registration_unref (TsrRegistration *r);
/* Free every frame's star list (frames[i].stars = NULL), keeping the counts and medians: a
 * long session's lists (up to stars.max_stars per frame) are the largest per-frame memory
 * of a run, and after the analysis only the window's star overlay reads them (issue #19). */
void             tsr_registration_drop_star_lists (TsrRegistration *r);

/* Re-apply the validity gate with other thresholds (no pixels touched). */
void             tsr_registration_gate (TsrRegistration *r, const TsrRegisterParams *p);
/* Comma-separated names of the gate reasons ("reflection,cc"); "" when valid. */
char            *tsr_gate_reasons_string (guint gate);
guint            tsr_registration_n_valid (const TsrRegistration *r);

/* The CLI contract: {"reference": i, "frames": [{"file", "index", "date_obs", "matrix",
 * "rms_px", "stars", "matched", "cc", "fwhm", "roundness", "gated", "gate_reasons",
 * "method"}…]} plus the gate thresholds. */
char            *tsr_registration_to_json (const TsrRegistration *r);

/* Warp every non-gated frame into the reference geometry and write it into dir with its
 * own file name (float32 FITS, HISTORY with the transform). */
gboolean         tsr_registration_write_frames (TsrRegistration *r, const char *dir,
                                                TsrProgressFunc progress, gpointer progress_data,
                                                GCancellable *cancellable, GError **error);

/* Match two star lists: T maps ref positions to img positions. Returns FALSE when fewer
 * than min_matched inliers. n_matched and rms are the final inlier count and RMS. A
 * reflected match is returned (det < 0) rather than refused. */
gboolean         tsr_match_stars (const TsrStarList *ref, const TsrStarList *img, TsrModel model,
                                  guint match_stars, double tolerance, guint min_matched,
                                  TsrTransform *T, guint *n_matched, double *rms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrRegistration, tsr_registration_unref)

/* The file a folder of registered frames holds (the registration table): such a folder may be
 * replaced by a new one (tessera-cli register --write-registered). */
#define TSR_REGISTERED_MARKER "registration.json"

G_END_DECLS
