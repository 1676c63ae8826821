/* tsr-nn-layers.c — tensors, the GEMM kernels and the fast layers (im2col in row bands). */
#include "tsr-nn.h"

#include <math.h>
#include <string.h>
#ifdef TSR_HAVE_OPENBLAS
#include <cblas.h>
#endif

TsrNnTensor *
tsr_nn_tensor_new (int n, int c, int h, int w)
{
  TsrNnTensor *t = g_new0 (TsrNnTensor, 1);
  t->n = n;
  t->c = c;
  t->h = h;
  t->w = w;
  t->data = g_new0 (float, MAX ((gsize) 1, tsr_nn_tensor_size (t)));
  return t;
}

void
tsr_nn_tensor_free (TsrNnTensor *t)
{
  if (!t)
    return;
  g_free (t->data);
  g_free (t);
}

void
tsr_nn_tensor_reshape (TsrNnTensor *t, int n, int c, int h, int w)
{
  gsize old = tsr_nn_tensor_size (t);
  t->n = n;
  t->c = c;
  t->h = h;
  t->w = w;
  if (tsr_nn_tensor_size (t) > old)
    {
      g_free (t->data);
      t->data = g_new (float, tsr_nn_tensor_size (t));
    }
}

void
tsr_nn_work_clear (TsrNnWork *w)
{
  g_clear_pointer (&w->buf, g_free);
  w->size = 0;
}

static float *
work_get (TsrNnWork *w, gsize n)
{
  if (w->size < n)
    {
      g_free (w->buf);
      w->buf = g_new (float, n);
      w->size = n;
    }
  return w->buf;
}

/* ---- GEMM ---------------------------------------------------------------------------- */

void
tsr_nn_ref_gemm (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                 const float *bias, gboolean accumulate)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      {
        double s = accumulate ? c[(gsize) i * ldc + j] : 0.0;
        if (bias)
          s += bias[i];
        for (int p = 0; p < k; p++)
          s += (double) a[(gsize) i * lda + p] * b[(gsize) p * ldb + j];
        c[(gsize) i * ldc + j] = (float) s;
      }
}

/* Columns j0… of C for rows i0 … i0+mr-1, one column at a time (remainders). */
static void
gemm_scalar_block (int i0, int mr, int j0, int j1, int k, const float *a, int lda, const float *b, int ldb,
                   float *c, int ldc, const float *bias, gboolean accumulate)
{
  for (int i = i0; i < i0 + mr; i++)
    for (int j = j0; j < j1; j++)
      {
        float s = accumulate ? c[(gsize) i * ldc + j] : 0.0f;
        if (bias)
          s += bias[i];
        for (int p = 0; p < k; p++)
          s += a[(gsize) i * lda + p] * b[(gsize) p * ldb + j];
        c[(gsize) i * ldc + j] = s;
      }
}

/* A register-blocked kernel: MR rows of C × NV vectors of VW floats, accumulated over k
 * with one broadcast of A and NV loads of B per row and step. Instantiated per ISA. */
#define GEMM_KERNEL(NAME, ATTR, VW, MR, NV)                                                             \
  ATTR static void                                                         \
  NAME (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,        \
        const float *bias, gboolean accumulate)                                                         \
  {                                                                                                     \
    typedef float vf __attribute__ ((vector_size (VW * 4)));                                            \
    const int nr = VW * NV;                                                                             \
    int j0 = 0;                                                                                         \
    for (; j0 + nr <= n; j0 += nr)                                                                      \
      {                                                                                                 \
        int i0 = 0;                                                                                     \
        for (; i0 + MR <= m; i0 += MR)                                                                  \
          {                                                                                             \
            vf acc[MR][NV];                                                                             \
            for (int r = 0; r < MR; r++)                                                                \
              for (int v = 0; v < NV; v++)                                                              \
                {                                                                                       \
                  if (accumulate)                                                                       \
                    memcpy (&acc[r][v], c + (gsize) (i0 + r) * ldc + j0 + v * VW, sizeof (vf));        \
                  else                                                                                  \
                    acc[r][v] = (vf) {0};                                                               \
                  if (bias)                                                                             \
                    acc[r][v] += bias[i0 + r];                                                          \
                }                                                                                       \
            const float *ap = a + (gsize) i0 * lda;                                                     \
            const float *bp = b + j0;                                                                   \
            for (int p = 0; p < k; p++, bp += ldb)                                                      \
              {                                                                                         \
                vf bv[NV];                                                                              \
                for (int v = 0; v < NV; v++)                                                            \
                  memcpy (&bv[v], bp + v * VW, sizeof (vf));                                            \
                for (int r = 0; r < MR; r++)                                                            \
                  {                                                                                     \
                    float av = ap[(gsize) r * lda + p];                                                 \
                    for (int v = 0; v < NV; v++)                                                        \
                      acc[r][v] += av * bv[v];                                                          \
                  }                                                                                     \
              }                                                                                         \
            for (int r = 0; r < MR; r++)                                                                \
              for (int v = 0; v < NV; v++)                                                              \
                memcpy (c + (gsize) (i0 + r) * ldc + j0 + v * VW, &acc[r][v], sizeof (vf));             \
          }                                                                                             \
        for (; i0 < m; i0++)                                                                            \
          {                                                                                             \
            vf acc[NV];                                                                                 \
            for (int v = 0; v < NV; v++)                                                                \
              {                                                                                         \
                if (accumulate)                                                                         \
                  memcpy (&acc[v], c + (gsize) i0 * ldc + j0 + v * VW, sizeof (vf));                    \
                else                                                                                    \
                  acc[v] = (vf) {0};                                                                    \
                if (bias)                                                                               \
                  acc[v] += bias[i0];                                                                   \
              }                                                                                         \
            const float *bp = b + j0;                                                                   \
            for (int p = 0; p < k; p++, bp += ldb)                                                      \
              {                                                                                         \
                float av = a[(gsize) i0 * lda + p];                                                     \
                for (int v = 0; v < NV; v++)                                                            \
                  {                                                                                     \
                    vf bv;                                                                              \
                    memcpy (&bv, bp + v * VW, sizeof (vf));                                             \
                    acc[v] += av * bv;                                                                  \
                  }                                                                                     \
              }                                                                                         \
            for (int v = 0; v < NV; v++)                                                                \
              memcpy (c + (gsize) i0 * ldc + j0 + v * VW, &acc[v], sizeof (vf));                        \
          }                                                                                             \
      }                                                                                                 \
    if (j0 < n)                                                                                         \
      gemm_scalar_block (0, m, j0, n, k, a, lda, b, ldb, c, ldc, bias, accumulate);                     \
  }

#if defined(__x86_64__) && defined(__GNUC__)
GEMM_KERNEL (gemm_avx512, __attribute__ ((target ("avx512f,fma"))), 16, 8, 2)
GEMM_KERNEL (gemm_avx2, __attribute__ ((target ("avx2,fma"))), 8, 4, 3)
#define HAVE_X86_KERNELS 1
#endif
GEMM_KERNEL (gemm_c, , 4, 4, 2)

/* Blocks of k keep the own kernel's B panel (kc × 32 floats) in L1. */
#define GEMM_KC 128

typedef void (*GemmFunc) (int, int, int, const float *, int, const float *, int, float *, int, const float *,
                          gboolean);

static GemmFunc
gemm_pick (const char **name)
{
#ifdef HAVE_X86_KERNELS
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f"))
    {
      *name = "avx512";
      return gemm_avx512;
    }
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    {
      *name = "avx2";
      return gemm_avx2;
    }
#endif
  *name = "c";
  return gemm_c;
}

/* The choice depends on the CPU only: computed once, never changed. */
static GemmFunc
gemm_func (const char **name)
{
  static gsize once = 0;
  static GemmFunc fn;
  static const char *fn_name;
  if (g_once_init_enter (&once))
    {
      fn = gemm_pick (&fn_name);
      g_once_init_leave (&once, 1);
    }
  if (name)
    *name = fn_name;
  return fn;
}

const char *
tsr_nn_kernel_name (void)
{
#ifdef TSR_HAVE_OPENBLAS
  return "openblas";
#else
  const char *name;
  gemm_func (&name);
  return name;
#endif
}

const char *
tsr_nn_own_kernel_name (void)
{
  const char *name;
  gemm_func (&name);
  return name;
}

void
tsr_nn_own_gemm (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                 const float *bias, gboolean accumulate)
{
  GemmFunc fn = gemm_func (NULL);
  for (int p0 = 0; p0 < k; p0 += GEMM_KC)
    fn (m, n, MIN (GEMM_KC, k - p0), a + p0, lda, b + (gsize) p0 * ldb, ldb, c, ldc, p0 == 0 ? bias : NULL,
        accumulate || p0 > 0);
  if (k == 0)
    fn (m, n, 0, a, lda, b, ldb, c, ldc, bias, accumulate);
}

void
tsr_nn_gemm (int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
             const float *bias, gboolean accumulate)
{
#ifdef TSR_HAVE_OPENBLAS
  if (bias && !accumulate)
    {
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
          c[(gsize) i * ldc + j] = bias[i];
      accumulate = TRUE;
    }
  else if (bias)
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++)
        c[(gsize) i * ldc + j] += bias[i];
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f,
               c, ldc);
#else
  tsr_nn_own_gemm (m, n, k, a, lda, b, ldb, c, ldc, bias, accumulate);
#endif
}

/* ---- convolution ---------------------------------------------------------------------- */

void
tsr_nn_conv2d_out_shape (const TsrNnConv *c, int h, int w, int *oh, int *ow)
{
  *oh = (h + 2 * c->pad - c->k) / c->stride + 1;
  *ow = (w + 2 * c->pad - c->k) / c->stride + 1;
}

void
tsr_nn_conv_t2d_out_shape (const TsrNnConvT *c, int h, int w, int *oh, int *ow)
{
  *oh = (h - 1) * c->stride - 2 * c->pad + c->k;
  *ow = (w - 1) * c->stride - 2 * c->pad + c->k;
}

/* im2col of output rows oy0 … oy1-1: col[(ci*k+ky)*k+kx][(oy-oy0)*ow+ox]. */
static void
im2col_band (const float *x, int cin, int h, int w, int k, int stride, int pad, int ow, int oy0, int oy1,
             float *col)
{
  const int np = (oy1 - oy0) * ow;
  for (int ci = 0; ci < cin; ci++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++)
        {
          float *row = col + (gsize) ((ci * k + ky) * k + kx) * np;
          const float *plane = x + (gsize) ci * h * w;
          /* valid ox range: 0 ≤ ox*stride - pad + kx < w */
          int lo = 0, hi = ow;
          while (lo < ow && lo * stride - pad + kx < 0)
            lo++;
          while (hi > lo && (hi - 1) * stride - pad + kx >= w)
            hi--;
          for (int oy = oy0; oy < oy1; oy++)
            {
              float *dst = row + (gsize) (oy - oy0) * ow;
              int iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= h || lo >= hi)
                {
                  memset (dst, 0, sizeof (float) * ow);
                  continue;
                }
              const float *src = plane + (gsize) iy * w;
              for (int ox = 0; ox < lo; ox++)
                dst[ox] = 0.0f;
              if (stride == 1)
                memcpy (dst + lo, src + lo - pad + kx, sizeof (float) * (hi - lo));
              else
                for (int ox = lo; ox < hi; ox++)
                  dst[ox] = src[ox * stride - pad + kx];
              for (int ox = hi; ox < ow; ox++)
                dst[ox] = 0.0f;
            }
        }
}

static void
relu_n (float *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    p[i] = p[i] > 0.0f ? p[i] : 0.0f;
}

void
tsr_nn_conv2d (const TsrNnConv *c, const TsrNnTensor *x, TsrNnTensor *y, gboolean fuse_relu, TsrNnWork *work)
{
  int oh, ow;
  tsr_nn_conv2d_out_shape (c, x->h, x->w, &oh, &ow);
  g_return_if_fail (x->c == c->cin && y->c == c->cout && y->h == oh && y->w == ow && y->n == x->n);
  const int g = MAX (1, c->groups);
  const int cin_g = c->cin / g, cout_g = c->cout / g;
  const int kk = cin_g * c->k * c->k;
  const gsize opix = (gsize) oh * ow;
  const gboolean direct = c->k == 1 && c->stride == 1 && c->pad == 0;
  /* band of output rows whose columns fit in ~1 MiB */
  int band = MAX (1, (int) ((256 * 1024) / ((gsize) kk * ow)));
  band = MIN (band, oh);
  float *col = direct ? NULL : work_get (work, (gsize) kk * band * ow);
  for (int n = 0; n < x->n; n++)
    for (int gi = 0; gi < g; gi++)
      {
        const float *xin = x->data + ((gsize) n * c->cin + (gsize) gi * cin_g) * x->h * x->w;
        float *yout = y->data + ((gsize) n * c->cout + (gsize) gi * cout_g) * opix;
        const float *wg = c->weight + (gsize) gi * cout_g * kk;
        const float *bg = c->bias ? c->bias + gi * cout_g : NULL;
        if (direct)
          tsr_nn_gemm (cout_g, (int) opix, kk, wg, kk, xin, (int) opix, yout, (int) opix, bg, FALSE);
        else
          for (int oy0 = 0; oy0 < oh; oy0 += band)
            {
              int oy1 = MIN (oh, oy0 + band);
              int np = (oy1 - oy0) * ow;
              im2col_band (xin, cin_g, x->h, x->w, c->k, c->stride, c->pad, ow, oy0, oy1, col);
              tsr_nn_gemm (cout_g, np, kk, wg, kk, col, np, yout + (gsize) oy0 * ow, (int) opix, bg, FALSE);
            }
        if (fuse_relu)
          relu_n (yout, (gsize) cout_g * opix);
      }
}

void
tsr_nn_conv_t2d (const TsrNnConvT *c, const TsrNnTensor *x, TsrNnTensor *y, TsrNnWork *work)
{
  int oh, ow;
  tsr_nn_conv_t2d_out_shape (c, x->h, x->w, &oh, &ow);
  g_return_if_fail (x->c == c->cin && y->c == c->cout && y->h == oh && y->w == ow && y->n == x->n);
  const int kk = c->k * c->k;
  const int rows = c->cout * kk;
  const gsize ipix = (gsize) x->h * x->w, opix = (gsize) oh * ow;
  /* A = Wᵀ: [cout*k*k][cin] */
  float *wt = work_get (work, (gsize) rows * c->cin + (gsize) rows * ipix);
  float *col = wt + (gsize) rows * c->cin;
  for (int ci = 0; ci < c->cin; ci++)
    for (int r = 0; r < rows; r++)
      wt[(gsize) r * c->cin + ci] = c->weight[(gsize) ci * rows + r];
  for (int n = 0; n < x->n; n++)
    {
      const float *xin = x->data + (gsize) n * c->cin * ipix;
      float *yout = y->data + (gsize) n * c->cout * opix;
      tsr_nn_gemm (rows, (int) ipix, c->cin, wt, c->cin, xin, (int) ipix, col, (int) ipix, NULL, FALSE);
      for (int co = 0; co < c->cout; co++)
        {
          float b = c->bias ? c->bias[co] : 0.0f;
          float *yp = yout + (gsize) co * opix;
          for (gsize i = 0; i < opix; i++)
            yp[i] = b;
          for (int ky = 0; ky < c->k; ky++)
            for (int kx = 0; kx < c->k; kx++)
              {
                const float *cp = col + (gsize) ((co * c->k + ky) * c->k + kx) * ipix;
                for (int iy = 0; iy < x->h; iy++)
                  {
                    int oy = iy * c->stride - c->pad + ky;
                    if (oy < 0 || oy >= oh)
                      continue;
                    float *yrow = yp + (gsize) oy * ow;
                    const float *crow = cp + (gsize) iy * x->w;
                    if (c->stride == 2 && c->pad == 0)
                      for (int ix = 0; ix < x->w; ix++)
                        yrow[2 * ix + kx] += crow[ix];
                    else
                      for (int ix = 0; ix < x->w; ix++)
                        {
                          int ox = ix * c->stride - c->pad + kx;
                          if (ox >= 0 && ox < ow)
                            yrow[ox] += crow[ix];
                        }
                  }
              }
        }
    }
}

/* ---- elementwise and resampling ------------------------------------------------------ */

void
tsr_nn_relu (TsrNnTensor *x)
{
  relu_n (x->data, tsr_nn_tensor_size (x));
}

void
tsr_nn_leaky_relu (TsrNnTensor *x, float slope)
{
  gsize n = tsr_nn_tensor_size (x);
  for (gsize i = 0; i < n; i++)
    x->data[i] = x->data[i] >= 0.0f ? x->data[i] : slope * x->data[i];
}

void
tsr_nn_add (TsrNnTensor *y, const TsrNnTensor *x)
{
  g_return_if_fail (tsr_nn_tensor_size (x) == tsr_nn_tensor_size (y));
  gsize n = tsr_nn_tensor_size (y);
  for (gsize i = 0; i < n; i++)
    y->data[i] += x->data[i];
}

void
tsr_nn_concat (const TsrNnTensor *a, const TsrNnTensor *b, TsrNnTensor *y)
{
  g_return_if_fail (a->n == b->n && a->h == b->h && a->w == b->w && y->c == a->c + b->c && y->h == a->h
                    && y->w == a->w && y->n == a->n);
  gsize pix = (gsize) a->h * a->w;
  for (int n = 0; n < a->n; n++)
    {
      memcpy (y->data + (gsize) n * y->c * pix, a->data + (gsize) n * a->c * pix, sizeof (float) * a->c * pix);
      memcpy (y->data + ((gsize) n * y->c + a->c) * pix, b->data + (gsize) n * b->c * pix,
              sizeof (float) * b->c * pix);
    }
}

void
tsr_nn_batchnorm (TsrNnTensor *x, const float *gamma, const float *beta, const float *mean, const float *var,
                  float eps)
{
  gsize pix = (gsize) x->h * x->w;
  for (int n = 0; n < x->n; n++)
    for (int c = 0; c < x->c; c++)
      {
        float s = gamma[c] / sqrtf (var[c] + eps), o = beta[c] - mean[c] * s;
        float *p = x->data + ((gsize) n * x->c + c) * pix;
        for (gsize i = 0; i < pix; i++)
          p[i] = p[i] * s + o;
      }
}

void
tsr_nn_fold_batchnorm (const TsrNnConv *c, const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps, float *new_w, float *new_b)
{
  gsize per = (gsize) (c->cin / MAX (1, c->groups)) * c->k * c->k;
  for (int co = 0; co < c->cout; co++)
    {
      float s = gamma[co] / sqrtf (var[co] + eps);
      for (gsize i = 0; i < per; i++)
        new_w[co * per + i] = c->weight[co * per + i] * s;
      new_b[co] = ((c->bias ? c->bias[co] : 0.0f) - mean[co]) * s + beta[co];
    }
}

static void
pool2 (const TsrNnTensor *x, TsrNnTensor *y, gboolean max)
{
  g_return_if_fail (y->n == x->n && y->c == x->c && y->h == x->h / 2 && y->w == x->w / 2);
  for (int p = 0; p < x->n * x->c; p++)
    {
      const float *xp = x->data + (gsize) p * x->h * x->w;
      float *yp = y->data + (gsize) p * y->h * y->w;
      for (int oy = 0; oy < y->h; oy++)
        for (int ox = 0; ox < y->w; ox++)
          {
            const float *q = xp + (gsize) 2 * oy * x->w + 2 * ox;
            float a = q[0], b = q[1], c = q[x->w], d = q[x->w + 1];
            yp[(gsize) oy * y->w + ox] = max ? fmaxf (fmaxf (a, b), fmaxf (c, d)) : 0.25f * (a + b + c + d);
          }
    }
}

void
tsr_nn_avgpool2 (const TsrNnTensor *x, TsrNnTensor *y)
{
  pool2 (x, y, FALSE);
}

void
tsr_nn_maxpool2 (const TsrNnTensor *x, TsrNnTensor *y)
{
  pool2 (x, y, TRUE);
}

void
tsr_nn_upsample2 (const TsrNnTensor *x, TsrNnTensor *y)
{
  g_return_if_fail (y->n == x->n && y->c == x->c && y->h == 2 * x->h && y->w == 2 * x->w);
  for (int p = 0; p < x->n * x->c; p++)
    {
      const float *xp = x->data + (gsize) p * x->h * x->w;
      float *yp = y->data + (gsize) p * y->h * y->w;
      for (int oy = 0; oy < y->h; oy++)
        for (int ox = 0; ox < y->w; ox++)
          yp[(gsize) oy * y->w + ox] = xp[(gsize) (oy / 2) * x->w + ox / 2];
    }
}

/* ---- plain C references ---------------------------------------------------------------- */

void
tsr_nn_ref_conv2d (const TsrNnConv *c, const TsrNnTensor *x, TsrNnTensor *y)
{
  int oh, ow;
  tsr_nn_conv2d_out_shape (c, x->h, x->w, &oh, &ow);
  g_return_if_fail (y->h == oh && y->w == ow && y->c == c->cout);
  const int g = MAX (1, c->groups), cin_g = c->cin / g, cout_g = c->cout / g;
  for (int n = 0; n < x->n; n++)
    for (int co = 0; co < c->cout; co++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
          {
            double s = c->bias ? c->bias[co] : 0.0;
            int gi = co / cout_g;
            for (int ci = 0; ci < cin_g; ci++)
              for (int ky = 0; ky < c->k; ky++)
                for (int kx = 0; kx < c->k; kx++)
                  {
                    int iy = oy * c->stride - c->pad + ky, ix = ox * c->stride - c->pad + kx;
                    if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w)
                      continue;
                    s += (double) c->weight[((gsize) (co * cin_g + ci) * c->k + ky) * c->k + kx]
                         * x->data[(((gsize) n * c->cin + gi * cin_g + ci) * x->h + iy) * x->w + ix];
                  }
            y->data[(((gsize) n * c->cout + co) * oh + oy) * ow + ox] = (float) s;
          }
}

void
tsr_nn_ref_conv_t2d (const TsrNnConvT *c, const TsrNnTensor *x, TsrNnTensor *y)
{
  int oh, ow;
  tsr_nn_conv_t2d_out_shape (c, x->h, x->w, &oh, &ow);
  g_return_if_fail (y->h == oh && y->w == ow && y->c == c->cout);
  for (int n = 0; n < x->n; n++)
    for (int co = 0; co < c->cout; co++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
          {
            double s = c->bias ? c->bias[co] : 0.0;
            for (int ci = 0; ci < c->cin; ci++)
              for (int ky = 0; ky < c->k; ky++)
                for (int kx = 0; kx < c->k; kx++)
                  {
                    int ty = oy + c->pad - ky, tx = ox + c->pad - kx;
                    if (ty < 0 || tx < 0 || ty % c->stride || tx % c->stride)
                      continue;
                    int iy = ty / c->stride, ix = tx / c->stride;
                    if (iy >= x->h || ix >= x->w)
                      continue;
                    s += (double) c->weight[(((gsize) ci * c->cout + co) * c->k + ky) * c->k + kx]
                         * x->data[(((gsize) n * c->cin + ci) * x->h + iy) * x->w + ix];
                  }
            y->data[(((gsize) n * c->cout + co) * oh + oy) * ow + ox] = (float) s;
          }
}

void
tsr_nn_blas_single_thread (void)
{
#ifdef TSR_HAVE_OPENBLAS
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      openblas_set_num_threads (1);
      g_once_init_leave (&once, 1);
    }
#endif
}
