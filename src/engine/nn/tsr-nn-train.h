/* tsr-nn-train.h — training for the network core (issue #15, deep image prior): backward
 * passes of the layers the restoration network uses, batch normalisation in training mode,
 * Glorot-uniform initialisation and the Adam optimiser. Additive to tsr-nn.h: the forward
 * layers there are reused as they are.
 *
 * Conventions: gradients are ACCUMULATED into dw/db/dgamma/dbeta (callers zero them per
 * step); dx outputs are overwritten. Every backward is checked against finite differences
 * of the forward in tests/test-restore.c. */
#pragma once
#include "tsr-nn.h"

G_BEGIN_DECLS

/* Backward of tsr_nn_conv2d (stride 1, any groups, any k, pad) given its input x and the
 * output gradient dy: dx (NULL = not needed, e.g. the first layer) = ∂L/∂x, dw += ∂L/∂W
 * ([cout][cin/groups][k][k]), db += ∂L/∂b (NULL = no bias). */
void tsr_nn_conv2d_backward (const TsrNnConv *c, const TsrNnTensor *x, const TsrNnTensor *dy, TsrNnTensor *dx,
                             float *dw, float *db);

/* Direct (no im2col) forward of a stride-1 convolution, for depthwise and small-channel
 * layers where the im2col + GEMM path of tsr_nn_conv2d moves k² copies of the input for
 * one output channel. Same result as tsr_nn_ref_conv2d (tested). */
void tsr_nn_conv2d_direct (const TsrNnConv *c, const TsrNnTensor *x, TsrNnTensor *y, gboolean fuse_relu);

/* ReLU backward in place: dy *= (x > 0), x the ReLU's input (or its output: same sign). */
void tsr_nn_relu_backward (const TsrNnTensor *x, TsrNnTensor *dy);

/* Batch normalisation in training mode: per channel, mean and biased variance over
 * n·h·w; y = γ (x − μ)/√(σ² + eps) + β. mean/invstd (c floats) are written for the
 * backward. x and y may be the same tensor only when the backward is not needed. */
void tsr_nn_batchnorm_train (const TsrNnTensor *x, const float *gamma, const float *beta, float eps,
                             TsrNnTensor *y, float *mean, float *invstd);
/* Its backward: dx = ∂L/∂x (overwritten), dgamma/dbeta accumulated. */
void tsr_nn_batchnorm_train_backward (const TsrNnTensor *x, const float *gamma, const float *mean,
                                      const float *invstd, const TsrNnTensor *dy, TsrNnTensor *dx, float *dgamma,
                                      float *dbeta);

/* Batch normalisation with given, constant statistics (the whole image's, while training on
 * crops; or inference): y = γ (x − mean)·invstd + β per channel. x and y may be the same. */
void tsr_nn_batchnorm_given (const TsrNnTensor *x, const float *gamma, const float *beta, const float *mean,
                             const float *invstd, TsrNnTensor *y);
/* Its backward (the statistics are constants, not functions of x): dx = γ·invstd·dy
 * (overwritten; dx may be dy), dgamma += Σ dy·(x − mean)·invstd, dbeta += Σ dy. */
void tsr_nn_batchnorm_given_backward (const TsrNnTensor *x, const float *gamma, const float *mean,
                                      const float *invstd, const TsrNnTensor *dy, TsrNnTensor *dx, float *dgamma,
                                      float *dbeta);

/* Backward of tsr_nn_concat: da, db (overwritten) are the channel slices of dy. */
void tsr_nn_concat_backward (const TsrNnTensor *dy, TsrNnTensor *da, TsrNnTensor *db);

/* Glorot (Xavier) uniform: U(−a, a), a = √(6 / (fan_in + fan_out)) — TensorFlow's default. */
void tsr_nn_glorot_uniform (float *w, gsize n, int fan_in, int fan_out, GRand *rng);

/* ---- parameters and Adam (Kingma & Ba 2014) ---- */

/* Allocate value (zeroed), grad, m, v of a training parameter. */
void tsr_nn_param_init (TsrNnParam *p, gsize size);
void tsr_nn_param_clear (TsrNnParam *p);
void tsr_nn_param_zero_grad (TsrNnParam *p);

typedef struct
{
  double lr0;           /* initial learning rate */
  double decay;         /* staircase decay factor (0.95) … */
  guint decay_steps;    /* … every decay_steps steps (1000); 0 = constant */
  double beta1, beta2, eps;
  guint64 t;            /* steps taken */
} TsrNnAdam;

void   tsr_nn_adam_init (TsrNnAdam *a, double lr0, double decay, guint decay_steps);
/* The learning rate of the next step: lr0 · decay^⌊t / decay_steps⌋. */
double tsr_nn_adam_lr (const TsrNnAdam *a);
/* One step on every parameter (bias-corrected moments); gradients are left as they are. */
void   tsr_nn_adam_step (TsrNnAdam *a, TsrNnParam *const *params, guint n_params);

G_END_DECLS
