/* tsr-nn-grad.c — backward passes of the convolution, ReLU, training-mode batch norm and
 * concatenation, and Glorot initialisation (see tsr-nn-train.h). Plain loops whose inner
 * loop runs along a row, so the compiler vectorises them. */
#include "tsr-nn-train.h"

#include <math.h>
#include <string.h>

void
tsr_nn_conv2d_backward (const TsrNnConv *c, const TsrNnTensor *x, const TsrNnTensor *dy, TsrNnTensor *dx,
                        float *dw, float *db)
{
  g_return_if_fail (c->stride == 1 || c->stride == 0);
  const int g = MAX (1, c->groups), cin_g = c->cin / g, cout_g = c->cout / g, k = c->k, pad = c->pad;
  const int H = x->h, W = x->w, OH = dy->h, OW = dy->w;
  g_return_if_fail (x->c == c->cin && dy->c == c->cout && OH == H + 2 * pad - k + 1 && OW == W + 2 * pad - k + 1);
  const gsize ipix = (gsize) H * W, opix = (gsize) OH * OW;
  if (dx)
    {
      g_return_if_fail (dx->c == x->c && dx->h == H && dx->w == W && dx->n == x->n);
      memset (dx->data, 0, sizeof (float) * tsr_nn_tensor_size (dx));
    }
  for (int n = 0; n < x->n; n++)
    for (int co = 0; co < c->cout; co++)
      {
        const float *gy = dy->data + ((gsize) n * c->cout + co) * opix;
        if (db)
          {
            double s = 0;
            for (gsize i = 0; i < opix; i++)
              s += gy[i];
            db[co] += (float) s;
          }
        int gi = co / cout_g;
        for (int cl = 0; cl < cin_g; cl++)
          {
            int ci = gi * cin_g + cl;
            const float *xi = x->data + ((gsize) n * c->cin + ci) * ipix;
            float *dxi = dx ? dx->data + ((gsize) n * c->cin + ci) * ipix : NULL;
            const float *wk = c->weight + (((gsize) co * cin_g + cl) * k) * k;
            float *dwk = dw + (((gsize) co * cin_g + cl) * k) * k;
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++)
                {
                  /* output (oy, ox) reads input (oy + ky − pad, ox + kx − pad) */
                  int ox0 = MAX (0, pad - kx), ox1 = MIN (OW, W + pad - kx);
                  int oy0 = MAX (0, pad - ky), oy1 = MIN (OH, H + pad - ky);
                  float wv = wk[ky * k + kx];
                  double acc = 0;
                  for (int oy = oy0; oy < oy1; oy++)
                    {
                      const float *gr = gy + (gsize) oy * OW;
                      const float *xr = xi + (gsize) (oy + ky - pad) * W + (kx - pad);
                      float a = 0;
                      for (int ox = ox0; ox < ox1; ox++)
                        a += gr[ox] * xr[ox];
                      acc += a;
                      if (dxi)
                        {
                          float *dr = dxi + (gsize) (oy + ky - pad) * W + (kx - pad);
                          for (int ox = ox0; ox < ox1; ox++)
                            dr[ox] += wv * gr[ox];
                        }
                    }
                  dwk[ky * k + kx] += (float) acc;
                }
          }
      }
}

void
tsr_nn_relu_backward (const TsrNnTensor *x, TsrNnTensor *dy)
{
  gsize n = tsr_nn_tensor_size (dy);
  g_return_if_fail (tsr_nn_tensor_size (x) == n);
  for (gsize i = 0; i < n; i++)
    dy->data[i] = x->data[i] > 0 ? dy->data[i] : 0.0f;
}

void
tsr_nn_batchnorm_train (const TsrNnTensor *x, const float *gamma, const float *beta, float eps, TsrNnTensor *y,
                        float *mean, float *invstd)
{
  gsize pix = (gsize) x->h * x->w;
  double m = (double) x->n * pix;
  for (int c = 0; c < x->c; c++)
    {
      double s = 0, s2 = 0;
      for (int n = 0; n < x->n; n++)
        {
          const float *p = x->data + ((gsize) n * x->c + c) * pix;
          for (gsize i = 0; i < pix; i++)
            s += p[i];
        }
      double mu = s / m;
      for (int n = 0; n < x->n; n++)
        {
          const float *p = x->data + ((gsize) n * x->c + c) * pix;
          for (gsize i = 0; i < pix; i++)
            s2 += ((double) p[i] - mu) * ((double) p[i] - mu);
        }
      double is = 1.0 / sqrt (s2 / m + eps);
      mean[c] = (float) mu;
      invstd[c] = (float) is;
      float sc = (float) (gamma[c] * is), of = (float) (beta[c] - mu * gamma[c] * is);
      for (int n = 0; n < x->n; n++)
        {
          const float *p = x->data + ((gsize) n * x->c + c) * pix;
          float *q = y->data + ((gsize) n * y->c + c) * pix;
          for (gsize i = 0; i < pix; i++)
            q[i] = p[i] * sc + of;
        }
    }
}

void
tsr_nn_batchnorm_given (const TsrNnTensor *x, const float *gamma, const float *beta, const float *mean,
                        const float *invstd, TsrNnTensor *y)
{
  gsize pix = (gsize) x->h * x->w;
  g_return_if_fail (tsr_nn_tensor_size (y) == tsr_nn_tensor_size (x));
  for (int n = 0; n < x->n; n++)
    for (int c = 0; c < x->c; c++)
      {
        float sc = gamma[c] * invstd[c], of = beta[c] - mean[c] * sc;
        const float *p = x->data + ((gsize) n * x->c + c) * pix;
        float *q = y->data + ((gsize) n * x->c + c) * pix;
        for (gsize i = 0; i < pix; i++)
          q[i] = p[i] * sc + of;
      }
}

void
tsr_nn_batchnorm_given_backward (const TsrNnTensor *x, const float *gamma, const float *mean, const float *invstd,
                                 const TsrNnTensor *dy, TsrNnTensor *dx, float *dgamma, float *dbeta)
{
  gsize pix = (gsize) x->h * x->w;
  g_return_if_fail (tsr_nn_tensor_size (dy) == tsr_nn_tensor_size (x));
  g_return_if_fail (tsr_nn_tensor_size (dx) == tsr_nn_tensor_size (x));
  for (int c = 0; c < x->c; c++)
    {
      float mu = mean[c], is = invstd[c], g = gamma[c];
      double sg = 0, sb = 0;
      for (int n = 0; n < x->n; n++)
        {
          const float *p = x->data + ((gsize) n * x->c + c) * pix;
          const float *gy = dy->data + ((gsize) n * x->c + c) * pix;
          float *d = dx->data + ((gsize) n * x->c + c) * pix;
          for (gsize i = 0; i < pix; i++)
            {
              float gi = gy[i];
              sb += gi;
              sg += gi * (p[i] - mu) * is;
              d[i] = gi * g * is;
            }
        }
      if (dgamma)
        dgamma[c] += (float) sg;
      if (dbeta)
        dbeta[c] += (float) sb;
    }
}

void
tsr_nn_batchnorm_train_backward (const TsrNnTensor *x, const float *gamma, const float *mean, const float *invstd,
                                 const TsrNnTensor *dy, TsrNnTensor *dx, float *dgamma, float *dbeta)
{
  gsize pix = (gsize) x->h * x->w;
  double m = (double) x->n * pix;
  for (int c = 0; c < x->c; c++)
    {
      double sdy = 0, sdyx = 0;
      float mu = mean[c], is = invstd[c];
      for (int n = 0; n < x->n; n++)
        {
          const float *p = x->data + ((gsize) n * x->c + c) * pix;
          const float *g = dy->data + ((gsize) n * x->c + c) * pix;
          for (gsize i = 0; i < pix; i++)
            {
              sdy += g[i];
              sdyx += (double) g[i] * ((p[i] - mu) * is);
            }
        }
      if (dgamma)
        dgamma[c] += (float) sdyx;
      if (dbeta)
        dbeta[c] += (float) sdy;
      /* dx = γ·is/m · (m·dy − Σdy − x̂·Σ(dy·x̂)) */
      float a = (float) (gamma[c] * is), mdy = (float) (sdy / m), mdx = (float) (sdyx / m);
      for (int n = 0; n < x->n; n++)
        {
          const float *p = x->data + ((gsize) n * x->c + c) * pix;
          const float *g = dy->data + ((gsize) n * x->c + c) * pix;
          float *d = dx->data + ((gsize) n * x->c + c) * pix;
          for (gsize i = 0; i < pix; i++)
            d[i] = a * (g[i] - mdy - (p[i] - mu) * is * mdx);
        }
    }
}

void
tsr_nn_concat_backward (const TsrNnTensor *dy, TsrNnTensor *da, TsrNnTensor *db)
{
  g_return_if_fail (dy->c == da->c + db->c && dy->h == da->h && dy->w == da->w && da->n == dy->n);
  gsize pix = (gsize) dy->h * dy->w;
  for (int n = 0; n < dy->n; n++)
    {
      memcpy (da->data + (gsize) n * da->c * pix, dy->data + (gsize) n * dy->c * pix, sizeof (float) * da->c * pix);
      memcpy (db->data + (gsize) n * db->c * pix, dy->data + ((gsize) n * dy->c + da->c) * pix,
              sizeof (float) * db->c * pix);
    }
}

void
tsr_nn_glorot_uniform (float *w, gsize n, int fan_in, int fan_out, GRand *rng)
{
  double a = sqrt (6.0 / MAX (1, fan_in + fan_out));
  for (gsize i = 0; i < n; i++)
    w[i] = (float) g_rand_double_range (rng, -a, a);
}

void
tsr_nn_conv2d_direct (const TsrNnConv *c, const TsrNnTensor *x, TsrNnTensor *y, gboolean fuse_relu)
{
  g_return_if_fail (c->stride == 1 || c->stride == 0);
  const int g = MAX (1, c->groups), cin_g = c->cin / g, cout_g = c->cout / g, k = c->k, pad = c->pad;
  const int H = x->h, W = x->w, OH = y->h, OW = y->w;
  g_return_if_fail (x->c == c->cin && y->c == c->cout && OH == H + 2 * pad - k + 1 && OW == W + 2 * pad - k + 1);
  const gsize ipix = (gsize) H * W, opix = (gsize) OH * OW;
  for (int n = 0; n < x->n; n++)
    for (int co = 0; co < c->cout; co++)
      {
        float *yo = y->data + ((gsize) n * c->cout + co) * opix;
        float b = c->bias ? c->bias[co] : 0.0f;
        for (gsize i = 0; i < opix; i++)
          yo[i] = b;
        int gi = co / cout_g;
        for (int cl = 0; cl < cin_g; cl++)
          {
            const float *xi = x->data + ((gsize) n * c->cin + gi * cin_g + cl) * ipix;
            const float *wk = c->weight + (((gsize) co * cin_g + cl) * k) * k;
            for (int ky = 0; ky < k; ky++)
              {
                int oy0 = MAX (0, pad - ky), oy1 = MIN (OH, H + pad - ky);
                for (int oy = oy0; oy < oy1; oy++)
                  {
                    float *yr = yo + (gsize) oy * OW;
                    const float *xr = xi + (gsize) (oy + ky - pad) * W - pad;
                    for (int kx = 0; kx < k; kx++)
                      {
                        float wv = wk[ky * k + kx];
                        int ox0 = MAX (0, pad - kx), ox1 = MIN (OW, W + pad - kx);
                        const float *xs = xr + kx;
                        for (int ox = ox0; ox < ox1; ox++)
                          yr[ox] += wv * xs[ox];
                      }
                  }
              }
          }
        if (fuse_relu)
          for (gsize i = 0; i < opix; i++)
            yo[i] = yo[i] > 0 ? yo[i] : 0.0f;
      }
}
