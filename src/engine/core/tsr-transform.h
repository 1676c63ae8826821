/* tsr-transform.h — planar transforms between pixel grids.
 *
 * A TsrTransform maps a pixel position in the REFERENCE frame to the same sky position in
 * another frame, in 0-based pixel-centre coordinates (x = column, y = row):
 *   [x' y' w']ᵀ = M · [x y 1]ᵀ, position = (x'/w', y'/w'); M is row-major 3×3.
 * Similarity and affine transforms have the last row (0 0 1).
 */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  TSR_MODEL_SIMILARITY = 0,   /* rotation, uniform scale, shift (4 dof) */
  TSR_MODEL_AFFINE,           /* 6 dof */
  TSR_MODEL_HOMOGRAPHY        /* 8 dof */
} TsrModel;

typedef struct
{
  double m[9];
} TsrTransform;

const char *tsr_model_name (TsrModel m);
gboolean    tsr_model_from_name (const char *name, TsrModel *out);

void     tsr_transform_identity (TsrTransform *t);
void     tsr_transform_apply (const TsrTransform *t, double x, double y, double *ox, double *oy);
/* out = a ∘ b (apply b first, then a). out may alias a or b. */
void     tsr_transform_compose (const TsrTransform *a, const TsrTransform *b, TsrTransform *out);
gboolean tsr_transform_invert (const TsrTransform *t, TsrTransform *out);
/* Similarity built from rotation (radians, counter-clockwise in x-right/y-down pixel axes
 * as x' = s(cos θ x − sin θ y) + tx), scale and shift. */
void     tsr_transform_similarity (TsrTransform *t, double theta, double scale, double tx, double ty);
/* Determinant of the linear 2×2 part; < 0 means a reflection. */
double   tsr_transform_det (const TsrTransform *t);
/* Mean linear scale sqrt(|det|) and rotation angle (radians) of the 2×2 part. */
double   tsr_transform_scale (const TsrTransform *t);
double   tsr_transform_rotation (const TsrTransform *t);
/* RMS distance between the images of the four corners of a w×h frame under a and b. */
double   tsr_transform_corner_rms (const TsrTransform *a, const TsrTransform *b, int w, int h);

/* Least-squares fit of model mapping src[i] → dst[i] (n pairs, xy interleaved), weighted
 * when w != NULL. Returns FALSE when degenerate. */
gboolean tsr_transform_fit (TsrModel model, const double *src, const double *dst, const double *w,
                            guint n, TsrTransform *out);

G_END_DECLS
