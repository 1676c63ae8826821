/* tsr-nn.h — a small convolutional-network core: float32 NCHW tensors, the layers the
 * denoiser (and, later, the deep-image-prior restoration) needs, and the .tnnw weight file.
 *
 * Every layer has two implementations: the fast one used by inference (im2col in row bands
 * + OpenBLAS sgemm, or where OpenBLAS is absent our own register-blocked GEMM kernel chosen
 * at run time for AVX-512, AVX2+FMA or plain C) and
 * a plain C reference (tsr_nn_ref_*) of the textbook loop, kept for the tests.
 *
 * Layers write into caller-allocated outputs of the right shape (tsr_nn_conv2d_out_shape …),
 * so a network can keep its buffers between tiles. Nothing here holds global mutable state;
 * the own kernel's choice is a pure function of the CPU.
 *
 * Training (the restoration issue) adds, without changing this API: tsr_nn_conv2d_backward
 * (dX, dW, db from dY), the elementwise backwards, and an Adam state per TsrNnParam — which
 * is why a parameter is a tensor plus optional gradient/moment buffers, not a bare pointer. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  int n, c, h, w;
  float *data;        /* n*c*h*w floats, NCHW; owned when created by tsr_nn_tensor_new */
} TsrNnTensor;

TsrNnTensor *tsr_nn_tensor_new (int n, int c, int h, int w);         /* zeroed */
void         tsr_nn_tensor_free (TsrNnTensor *t);
/* Reshape in place, growing the buffer when needed (contents undefined afterwards). */
void         tsr_nn_tensor_reshape (TsrNnTensor *t, int n, int c, int h, int w);
static inline gsize
tsr_nn_tensor_size (const TsrNnTensor *t)
{
  return (gsize) t->n * t->c * t->h * t->w;
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrNnTensor, tsr_nn_tensor_free)

/* A learnable tensor: value, and (for training) gradient and Adam moments (NULL for
 * inference). */
typedef struct
{
  float *value;
  float *grad;
  float *m, *v;
  gsize size;
} TsrNnParam;

/* 2-D convolution y = W * x + b (cross-correlation, as PyTorch's Conv2d): weights
 * [cout][cin/groups][k][k], bias [cout] (NULL = none). groups == cin == cout is a depthwise
 * convolution, k == 1 a pointwise one. */
typedef struct
{
  int cin, cout, k, stride, pad, groups;
  const float *weight;
  const float *bias;
} TsrNnConv;

/* Transposed convolution (PyTorch's ConvTranspose2d, no output padding, groups 1):
 * weights [cin][cout][k][k], bias [cout]. */
typedef struct
{
  int cin, cout, k, stride, pad;
  const float *weight;
  const float *bias;
} TsrNnConvT;

/* Which GEMM the fast path runs: "openblas" (single-threaded sgemm; the engine
 * parallelises over tiles) when built with OpenBLAS, else the own kernel. */
const char *tsr_nn_kernel_name (void);
/* The own register-blocked kernel, chosen for this CPU: "avx512", "avx2" or "c". */
const char *tsr_nn_own_kernel_name (void);
/* Run OpenBLAS single-threaded (the callers run one GEMM per worker thread). A library-wide
 * setting of OpenBLAS; a no-op without it. */
void        tsr_nn_blas_single_thread (void);

/* Scratch memory a layer may use (im2col bands); grows on demand, one per thread. */
typedef struct
{
  float *buf;
  gsize size;
} TsrNnWork;
void tsr_nn_work_clear (TsrNnWork *w);

void tsr_nn_conv2d_out_shape (const TsrNnConv *c, int h, int w, int *oh, int *ow);
void tsr_nn_conv_t2d_out_shape (const TsrNnConvT *c, int h, int w, int *oh, int *ow);

/* Fast layers. y must have the output shape; x and y must not overlap. fuse_relu applies
 * ReLU to the output (saves a pass). */
void tsr_nn_conv2d (const TsrNnConv *c, const TsrNnTensor *x, TsrNnTensor *y, gboolean fuse_relu, TsrNnWork *work);
void tsr_nn_conv_t2d (const TsrNnConvT *c, const TsrNnTensor *x, TsrNnTensor *y, TsrNnWork *work);
void tsr_nn_relu (TsrNnTensor *x);                                    /* in place */
void tsr_nn_leaky_relu (TsrNnTensor *x, float slope);                 /* in place */
void tsr_nn_add (TsrNnTensor *y, const TsrNnTensor *x);               /* y += x */
/* y = concat(a, b) along channels (same n, h, w). */
void tsr_nn_concat (const TsrNnTensor *a, const TsrNnTensor *b, TsrNnTensor *y);
/* Inference batch norm: y = (x - mean) / sqrt(var + eps) * gamma + beta, in place. */
void tsr_nn_batchnorm (TsrNnTensor *x, const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps);
/* Fold a batch norm that follows conv into its weights and bias: new_w and new_b hold
 * cout*cin/groups*k*k and cout floats. */
void tsr_nn_fold_batchnorm (const TsrNnConv *c, const float *gamma, const float *beta, const float *mean,
                            const float *var, float eps, float *new_w, float *new_b);
void tsr_nn_avgpool2 (const TsrNnTensor *x, TsrNnTensor *y);          /* 2×2, stride 2 */
void tsr_nn_maxpool2 (const TsrNnTensor *x, TsrNnTensor *y);
void tsr_nn_upsample2 (const TsrNnTensor *x, TsrNnTensor *y);         /* nearest, ×2 */

/* Plain C references (textbook loops) for the tests. */
void tsr_nn_ref_conv2d (const TsrNnConv *c, const TsrNnTensor *x, TsrNnTensor *y);
void tsr_nn_ref_conv_t2d (const TsrNnConvT *c, const TsrNnTensor *x, TsrNnTensor *y);

/* The GEMM kernel: C[m×n] (row stride ldc) = A[m×k] (row-major, lda) · B[k×n] (ldb)
 * (+ bias[m] per row when bias, + C when accumulate). Exposed for tests and the bench. */
void tsr_nn_gemm (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                  const float *bias, gboolean accumulate);
void tsr_nn_own_gemm (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                      const float *bias, gboolean accumulate);
void tsr_nn_ref_gemm (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                      const float *bias, gboolean accumulate);

/* ---- weight files (.tnnw) ----
 * little-endian: magic "TSRNNW\r\n", u32 version (1), u32 n_tensors, u32 arch_len, arch;
 * per tensor: u32 name_len, name, u32 dtype (0 float32, 1 float16), u32 ndim, u32 dims[],
 * u64 offset, u64 nbytes, u32 crc32 of the data; then u32 crc32 of the header bytes before
 * it; data at the offsets (64-byte aligned). Written by train/denoise/tnnw.py and
 * tsr_nn_weights_save. */
typedef enum { TSR_NN_F32 = 0, TSR_NN_F16 = 1 } TsrNnDtype;

typedef struct _TsrNnWeights TsrNnWeights;

/* Read and verify a weight file: magic, version, header checksum, every tensor inside the
 * file with its own checksum. Errors (TSR_ERROR_FORMAT / TRUNCATED) name the file and the
 * tensor. float16 tensors are converted to float32. */
TsrNnWeights *tsr_nn_weights_load (const char *path, GError **error);
/* Same from memory; what names the source in messages. */
TsrNnWeights *tsr_nn_weights_load_data (const guint8 *data, gsize size, const char *what, GError **error);
void          tsr_nn_weights_free (TsrNnWeights *w);
const char   *tsr_nn_weights_arch (const TsrNnWeights *w);
guint         tsr_nn_weights_n_tensors (const TsrNnWeights *w);
const char   *tsr_nn_weights_tensor_name (const TsrNnWeights *w, guint i);
/* The tensor called name with exactly this shape, or NULL and an error naming the tensor
 * (missing, or the shape found vs the shape expected). Marks the tensor used. */
const float  *tsr_nn_weights_get (TsrNnWeights *w, const char *name, int ndim, const int *dims, GError **error);
/* Any tensor never fetched with tsr_nn_weights_get is an error naming it (a file for
 * another variant of the network). */
gboolean      tsr_nn_weights_check_all_used (const TsrNnWeights *w, GError **error);
/* Write a weight file (to path.tmp, renamed on success). */
gboolean      tsr_nn_weights_save (const char *path, const char *arch, guint n, const char *const *names,
                                   const int *ndims, const int *const *dims, const float *const *data,
                                   TsrNnDtype dtype, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrNnWeights, tsr_nn_weights_free)

G_END_DECLS
