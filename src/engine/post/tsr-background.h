/* tsr-background.h — background extraction: a smooth polynomial sky model fitted to sky
 * samples chosen automatically (stars and nebulosity rejected) and subtracted, the data
 * kept linear (docs/post.md). */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-post-params.h"
#include "tsr-progress.h"

G_BEGIN_DECLS

typedef struct
{
  guint n_samples;     /* sample boxes with enough valid pixels */
  guint n_used;        /* of those, kept as sky after the rejection */
  int degree;
  double pedestal[3];  /* per channel: the model's mean, added back so the sky level stays */
  double range[3];     /* per channel: max − min of the model over the image (the gradient taken out) */
  guint n_added;       /* user-added samples used (never rejected) */
  guint n_excluded;    /* automatic samples the user excluded */
} TsrBackgroundInfo;

/* What became of a sample box (the window draws each in its own colour). */
typedef enum
{
  TSR_BG_SAMPLE_USED,      /* automatic, kept as sky */
  TSR_BG_SAMPLE_REJECTED,  /* automatic, rejected as star field or nebulosity (or dark) */
  TSR_BG_SAMPLE_ADDED,     /* added by the user: always used */
  TSR_BG_SAMPLE_EXCLUDED,  /* automatic, excluded by the user */
} TsrBgSampleState;

/* A sample box: its centre (pixel coordinates, x right, y down, pixel centres at integers),
 * its side in pixels, its state and its sky level (luminance: mean of the channels). */
typedef struct
{
  double x, y;
  int size;
  TsrBgSampleState state;
  double level;
} TsrBgSample;

/* A user edit: a point and, for an added box, its side (0: the automatic boxes' side). */
typedef struct
{
  double x, y;
  int size;
} TsrBgPoint;

/* The user's edits of the automatic sample set: boxes added (used unless they leave the
 * image or hold too little valid data, which is an error) and points whose automatic box
 * is excluded (a point outside the image is an error). */
typedef struct
{
  const TsrBgPoint *add;
  guint n_add;
  const TsrBgPoint *exclude;
  guint n_exclude;
} TsrBackgroundEdits;

/* Parse the sample file format (docs/post.md): one edit a line, "x,y" or "x,y,size" adds a
 * box centred there, "-x,y" excludes the automatic box holding (x, y); blank lines and
 * lines starting with '#' are ignored. Appends to add and exclude (GArrays of TsrBgPoint).
 * A malformed line is an error naming its number, and add and exclude are left as they
 * were (nothing of the text is appended). */
gboolean  tsr_background_edits_parse (const char *text, GArray *add, GArray *exclude, GError **error);
/* One edit of that format (no comment, surrounding blanks allowed): FALSE when malformed. */
gboolean  tsr_background_edit_parse_line (const char *line, TsrBgPoint *pt, gboolean *exclude);
/* The line of one edit, parsed back to the same point (g_free). An added box's x below 0
 * is written as 0 (the format's leading '-' marks an exclusion). */
char     *tsr_background_edit_format (const TsrBgPoint *pt, gboolean exclude);

/* Sky level and noise of a plane: the median of the valid samples after 3σ clipping (stars
 * and hot pixels do not pull it); sigma_out (may be NULL) the clipped robust σ. */
double    tsr_sky_level (const float *plane, const guint8 *mask, gsize n, double *sigma_out);

/* img (1 or 3 channels, not a raw CFA mosaic) minus its background model plus the model's
 * mean per channel: gradients removed, star and nebula fluxes unchanged, still linear. A
 * HISTORY line says what was done. model_out (may be NULL) receives the model. Too few sky
 * samples for the degree is an error. */
TsrImage *tsr_background_extract (const TsrImage *img, const TsrPostParams *p, TsrBackgroundInfo *info,
                                  TsrImage **model_out, GCancellable *cancellable, GError **error);

/* The same with the user's edits (may be NULL); samples_out (may be NULL) receives a GArray
 * of TsrBgSample: every automatic box that holds data, then the added ones. The HISTORY line
 * says how many user samples were added and excluded. */
TsrImage *tsr_background_extract_edited (const TsrImage *img, const TsrPostParams *p, const TsrBackgroundEdits *edits,
                                         TsrBackgroundInfo *info, GArray **samples_out, TsrImage **model_out,
                                         GCancellable *cancellable, GError **error);
/* The same with progress (may be NULL), from the calling thread: "Measuring the sky
 * samples" (boxes done of all), "Fitting the sky model" (0 of 0), "Subtracting the sky
 * model" (rows done of all the channels' rows); the phases are marked for translation, untranslated. */
TsrImage *tsr_background_extract_full (const TsrImage *img, const TsrPostParams *p, const TsrBackgroundEdits *edits,
                                       TsrBackgroundInfo *info, GArray **samples_out, TsrImage **model_out,
                                       TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
                                       GError **error);

G_END_DECLS
