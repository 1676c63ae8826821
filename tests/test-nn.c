/* test-nn.c — the network core: every fast layer against its plain C reference, the weight
 * file (round trip, and the errors that name the tensor), the denoiser's C forward against
 * PyTorch's on exported tensors. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tessera.h"
#include "tsr-test-util.h"

static void
fill_random (float *p, gsize n, GRand *r)
{
  for (gsize i = 0; i < n; i++)
    p[i] = (float) g_rand_double_range (r, -1.0, 1.0);
}

/* max |a - b| / max(|b|, floor) over the arrays */
static double
max_rel_diff (const float *a, const float *b, gsize n)
{
  double md = 0, mb = 0;
  for (gsize i = 0; i < n; i++)
    {
      md = MAX (md, fabs ((double) a[i] - b[i]));
      mb = MAX (mb, fabs ((double) b[i]));
    }
  return md / MAX (mb, 1e-6);
}

static void
test_gemm (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (1);
  const int shapes[][3] = { { 16, 1024, 144 }, { 3, 77, 9 }, { 9, 33, 5 }, { 64, 96, 576 }, { 1, 1, 1 }, { 17, 49, 31 } };
  g_test_message ("GEMM: %s; own kernel: %s", tsr_nn_kernel_name (), tsr_nn_own_kernel_name ());
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int accumulate = 0; accumulate < 2; accumulate++)
      {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        g_autofree float *a = g_new (float, m * k), *b = g_new (float, k * n), *bias = g_new (float, m);
        g_autofree float *c1 = g_new (float, m * n), *c2 = g_new (float, m * n), *c3 = g_new (float, m * n);
        fill_random (a, m * k, r);
        fill_random (b, k * n, r);
        fill_random (bias, m, r);
        fill_random (c1, m * n, r);
        memcpy (c2, c1, sizeof (float) * m * n);
        memcpy (c3, c1, sizeof (float) * m * n);
        tsr_nn_gemm (m, n, k, a, k, b, n, c1, n, bias, accumulate);
        tsr_nn_ref_gemm (m, n, k, a, k, b, n, c2, n, bias, accumulate);
        tsr_nn_own_gemm (m, n, k, a, k, b, n, c3, n, bias, accumulate);
        g_assert_cmpfloat (max_rel_diff (c1, c2, m * n), <, 1e-5);
        g_assert_cmpfloat (max_rel_diff (c3, c2, m * n), <, 1e-5);
      }
}

static void
check_conv (int cin, int cout, int k, int stride, int pad, int groups, int h, int w, GRand *r)
{
  TsrNnConv c = { cin, cout, k, stride, pad, groups, NULL, NULL };
  g_autofree float *wt = g_new (float, (gsize) cout * (cin / groups) * k * k);
  g_autofree float *bias = g_new (float, cout);
  fill_random (wt, (gsize) cout * (cin / groups) * k * k, r);
  fill_random (bias, cout, r);
  c.weight = wt;
  c.bias = bias;
  int oh, ow;
  tsr_nn_conv2d_out_shape (&c, h, w, &oh, &ow);
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (2, cin, h, w);
  g_autoptr (TsrNnTensor) y1 = tsr_nn_tensor_new (2, cout, oh, ow);
  g_autoptr (TsrNnTensor) y2 = tsr_nn_tensor_new (2, cout, oh, ow);
  fill_random (x->data, tsr_nn_tensor_size (x), r);
  TsrNnWork work = { 0 };
  for (int relu = 0; relu < 2; relu++)
    {
      tsr_nn_conv2d (&c, x, y1, relu, &work);
      tsr_nn_ref_conv2d (&c, x, y2);
      if (relu)
        tsr_nn_relu (y2);
      double d = max_rel_diff (y1->data, y2->data, tsr_nn_tensor_size (y1));
      if (d >= 1e-5)
        g_error ("conv cin %d cout %d k %d stride %d pad %d groups %d %dx%d: rel diff %g", cin, cout, k, stride,
                 pad, groups, h, w, d);
    }
  tsr_nn_work_clear (&work);
}

static void
test_conv2d (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (2);
  check_conv (3, 16, 3, 1, 1, 1, 32, 40, r);     /* the head */
  check_conv (16, 32, 3, 2, 1, 1, 32, 40, r);    /* strided downsampling */
  check_conv (32, 16, 1, 1, 0, 1, 20, 24, r);    /* pointwise */
  check_conv (8, 8, 3, 1, 1, 8, 17, 19, r);      /* depthwise */
  check_conv (8, 12, 3, 1, 1, 4, 15, 13, r);     /* grouped */
  check_conv (5, 7, 5, 1, 2, 1, 11, 9, r);       /* 5×5 */
  check_conv (4, 6, 3, 2, 0, 1, 9, 10, r);       /* no padding, odd size */
  check_conv (2, 3, 7, 3, 3, 1, 23, 21, r);      /* big kernel, stride 3 */
  check_conv (64, 64, 3, 1, 1, 1, 16, 16, r);    /* the bottleneck */
}

static void
test_conv2d_known (void)
{
  /* a 3×3 kernel on a single impulse reproduces the kernel flipped about the impulse
   * (cross-correlation), plus the bias; zero padding outside */
  float w[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, b = 0.5f;
  TsrNnConv c = { 1, 1, 3, 1, 1, 1, w, &b };
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (1, 1, 5, 5);
  g_autoptr (TsrNnTensor) y = tsr_nn_tensor_new (1, 1, 5, 5);
  x->data[2 * 5 + 2] = 1.0f;
  TsrNnWork work = { 0 };
  tsr_nn_conv2d (&c, x, y, FALSE, &work);
  tsr_nn_work_clear (&work);
  for (int dy = -1; dy <= 1; dy++)
    for (int dx = -1; dx <= 1; dx++)
      g_assert_cmpfloat_with_epsilon (y->data[(2 + dy) * 5 + 2 + dx], w[(1 - dy) * 3 + (1 - dx)] + 0.5f, 1e-6);
  g_assert_cmpfloat_with_epsilon (y->data[0], 0.5f, 1e-6);
}

static void
check_convt (int cin, int cout, int k, int stride, int pad, int h, int w, GRand *r)
{
  TsrNnConvT c = { cin, cout, k, stride, pad, NULL, NULL };
  g_autofree float *wt = g_new (float, (gsize) cin * cout * k * k);
  g_autofree float *bias = g_new (float, cout);
  fill_random (wt, (gsize) cin * cout * k * k, r);
  fill_random (bias, cout, r);
  c.weight = wt;
  c.bias = bias;
  int oh, ow;
  tsr_nn_conv_t2d_out_shape (&c, h, w, &oh, &ow);
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (2, cin, h, w);
  g_autoptr (TsrNnTensor) y1 = tsr_nn_tensor_new (2, cout, oh, ow);
  g_autoptr (TsrNnTensor) y2 = tsr_nn_tensor_new (2, cout, oh, ow);
  fill_random (x->data, tsr_nn_tensor_size (x), r);
  TsrNnWork work = { 0 };
  tsr_nn_conv_t2d (&c, x, y1, &work);
  tsr_nn_work_clear (&work);
  tsr_nn_ref_conv_t2d (&c, x, y2);
  g_assert_cmpfloat (max_rel_diff (y1->data, y2->data, tsr_nn_tensor_size (y1)), <, 1e-5);
}

static void
test_conv_t2d (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (3);
  check_convt (64, 32, 2, 2, 0, 8, 10, r);   /* the decoder's upsampling */
  check_convt (5, 3, 3, 2, 1, 7, 6, r);      /* overlapping taps, padding */
  check_convt (4, 4, 4, 2, 1, 5, 5, r);
  /* known value: k = stride = 2 places each input's 2×2 kernel block */
  float w[4] = { 1, 2, 3, 4 }, b = 0;
  TsrNnConvT c = { 1, 1, 2, 2, 0, w, &b };
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (1, 1, 1, 2);
  g_autoptr (TsrNnTensor) y = tsr_nn_tensor_new (1, 1, 2, 4);
  x->data[0] = 1;
  x->data[1] = 10;
  TsrNnWork work = { 0 };
  tsr_nn_conv_t2d (&c, x, y, &work);
  tsr_nn_work_clear (&work);
  const float want[8] = { 1, 2, 10, 20, 3, 4, 30, 40 };
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat_with_epsilon (y->data[i], want[i], 1e-6);
}

static void
test_elementwise (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (4);
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (1, 2, 4, 6);
  fill_random (x->data, tsr_nn_tensor_size (x), r);
  /* pooling and upsampling against direct definitions */
  g_autoptr (TsrNnTensor) a = tsr_nn_tensor_new (1, 2, 2, 3);
  g_autoptr (TsrNnTensor) m = tsr_nn_tensor_new (1, 2, 2, 3);
  g_autoptr (TsrNnTensor) u = tsr_nn_tensor_new (1, 2, 4, 6);
  tsr_nn_avgpool2 (x, a);
  tsr_nn_maxpool2 (x, m);
  tsr_nn_upsample2 (a, u);
  for (int c = 0; c < 2; c++)
    for (int y = 0; y < 2; y++)
      for (int xx = 0; xx < 3; xx++)
        {
          const float *p = x->data + c * 24 + 2 * y * 6 + 2 * xx;
          float s = p[0] + p[1] + p[6] + p[7];
          float mx = MAX (MAX (p[0], p[1]), MAX (p[6], p[7]));
          g_assert_cmpfloat_with_epsilon (a->data[c * 6 + y * 3 + xx], s / 4, 1e-6);
          g_assert_cmpfloat (m->data[c * 6 + y * 3 + xx], ==, mx);
          g_assert_cmpfloat (u->data[c * 24 + (2 * y + 1) * 6 + 2 * xx + 1], ==, a->data[c * 6 + y * 3 + xx]);
        }
  /* concat keeps both inputs in order */
  g_autoptr (TsrNnTensor) cat = tsr_nn_tensor_new (1, 4, 4, 6);
  tsr_nn_concat (x, u, cat);
  g_assert_cmpmem (cat->data, 48 * sizeof (float), x->data, 48 * sizeof (float));
  g_assert_cmpmem (cat->data + 48, 48 * sizeof (float), u->data, 48 * sizeof (float));
  /* leaky relu */
  g_autoptr (TsrNnTensor) l = tsr_nn_tensor_new (1, 1, 1, 2);
  l->data[0] = -2;
  l->data[1] = 3;
  tsr_nn_leaky_relu (l, 0.1f);
  g_assert_cmpfloat_with_epsilon (l->data[0], -0.2f, 1e-7);
  g_assert_cmpfloat (l->data[1], ==, 3);
}

static void
test_batchnorm_fold (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  const int cin = 4, cout = 6;
  float w[6 * 4 * 9], b[6], gamma[6], beta[6], mean[6], var[6], fw[6 * 4 * 9], fb[6];
  fill_random (w, G_N_ELEMENTS (w), r);
  fill_random (b, 6, r);
  fill_random (gamma, 6, r);
  fill_random (beta, 6, r);
  fill_random (mean, 6, r);
  for (int i = 0; i < 6; i++)
    var[i] = (float) g_rand_double_range (r, 0.1, 2.0);
  TsrNnConv c = { cin, cout, 3, 1, 1, 1, w, b };
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (1, cin, 9, 8);
  g_autoptr (TsrNnTensor) y1 = tsr_nn_tensor_new (1, cout, 9, 8);
  g_autoptr (TsrNnTensor) y2 = tsr_nn_tensor_new (1, cout, 9, 8);
  fill_random (x->data, tsr_nn_tensor_size (x), r);
  tsr_nn_ref_conv2d (&c, x, y1);
  tsr_nn_batchnorm (y1, gamma, beta, mean, var, 1e-5f);
  tsr_nn_fold_batchnorm (&c, gamma, beta, mean, var, 1e-5f, fw, fb);
  TsrNnConv f = { cin, cout, 3, 1, 1, 1, fw, fb };
  TsrNnWork work = { 0 };
  tsr_nn_conv2d (&f, x, y2, FALSE, &work);
  tsr_nn_work_clear (&work);
  g_assert_cmpfloat (max_rel_diff (y2->data, y1->data, tsr_nn_tensor_size (y1)), <, 1e-5);
}

/* ---- weight files ---- */

static char *
write_sample_weights (const char *dir, TsrNnDtype dtype)
{
  static float a[6] = { 1, -2, 3.5f, 0.25f, -0.125f, 65504 }, b[3] = { 7, 8, 9 };
  const char *names[] = { "layer.weight", "layer.bias" };
  const int d0[] = { 2, 3 }, d1[] = { 3 };
  const int *dims[] = { d0, d1 };
  const int ndims[] = { 2, 1 };
  const float *data[] = { a, b };
  char *path = g_build_filename (dir, dtype == TSR_NN_F16 ? "w16.tnnw" : "w.tnnw", NULL);
  GError *e = NULL;
  g_assert_true (tsr_nn_weights_save (path, "test-arch;x=1", 2, names, ndims, dims, data, dtype, &e));
  g_assert_no_error (e);
  return path;
}

static void
test_weights_roundtrip (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("nn-weights");
  for (int dt = 0; dt < 2; dt++)
    {
      g_autofree char *path = write_sample_weights (dir, dt);
      GError *e = NULL;
      g_autoptr (TsrNnWeights) w = tsr_nn_weights_load (path, &e);
      g_assert_no_error (e);
      g_assert_cmpstr (tsr_nn_weights_arch (w), ==, "test-arch;x=1");
      g_assert_cmpuint (tsr_nn_weights_n_tensors (w), ==, 2);
      const int d0[] = { 2, 3 }, d1[] = { 3 };
      const float *a = tsr_nn_weights_get (w, "layer.weight", 2, d0, &e);
      g_assert_no_error (e);
      /* every sample value is exact in float16 too */
      const float want[6] = { 1, -2, 3.5f, 0.25f, -0.125f, 65504 };
      for (int i = 0; i < 6; i++)
        g_assert_cmpfloat (a[i], ==, want[i]);
      /* an unused tensor is an error naming it */
      g_assert_false (tsr_nn_weights_check_all_used (w, &e));
      g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
      g_assert_nonnull (strstr (e->message, "'layer.bias'"));
      g_clear_error (&e);
      const float *b = tsr_nn_weights_get (w, "layer.bias", 1, d1, &e);
      g_assert_nonnull (b);
      g_assert_cmpfloat (b[2], ==, 9);
      g_assert_true (tsr_nn_weights_check_all_used (w, &e));
      /* wrong shape and missing names */
      const int bad[] = { 3, 2 };
      g_assert_null (tsr_nn_weights_get (w, "layer.weight", 2, bad, &e));
      g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
      g_assert_nonnull (strstr (e->message, "'layer.weight'"));
      g_assert_nonnull (strstr (e->message, "[2×3]"));
      g_assert_nonnull (strstr (e->message, "[3×2]"));
      g_clear_error (&e);
      g_assert_null (tsr_nn_weights_get (w, "layer.scale", 1, d1, &e));
      g_assert_nonnull (strstr (e->message, "'layer.scale' is missing"));
      g_clear_error (&e);
    }
  tsr_test_rmtree (dir);
}

static void
test_weights_corrupt (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("nn-corrupt");
  g_autofree char *path = write_sample_weights (dir, TSR_NN_F32);
  gsize len;
  g_autofree char *buf = tsr_test_read_file (path, &len);
  GError *e = NULL;
  /* truncated inside the last tensor's data: the error names that tensor */
  g_assert_null (tsr_nn_weights_load_data ((guint8 *) buf, len - 4, "w.tnnw", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_TRUNCATED);
  g_assert_nonnull (strstr (e->message, "'layer.bias'"));
  g_clear_error (&e);
  /* truncated inside the header */
  g_assert_null (tsr_nn_weights_load_data ((guint8 *) buf, 30, "w.tnnw", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_TRUNCATED);
  g_clear_error (&e);
  /* every shorter prefix of the file is refused; from the first tensor's name on, the
   * error names the tensor whose entry or data is cut. Layout (train/denoise/tnnw.py):
   * magic 8, version/n/arch_len 12, "test-arch;x=1" 13 → 33; entry "layer.weight":
   * name ends at 49, entry at 85; "layer.bias": name ends at 99, entry at 131; header CRC
   * → 135; data of layer.weight at 192…216, of layer.bias at 256…268. */
  g_assert_cmpuint (len, ==, 268);
  for (gsize cut = 0; cut < len; cut++)
    {
      g_assert_null (tsr_nn_weights_load_data ((guint8 *) buf, cut, "w.tnnw", &e));
      g_assert_nonnull (e);
      g_assert_true (e->domain == TSR_ERROR);
      g_assert_true (e->code == (cut < 8 ? TSR_ERROR_FORMAT : TSR_ERROR_TRUNCATED));
      const char *want = NULL;
      if ((cut >= 49 && cut < 85) || (cut >= 135 && cut < 216))
        want = "'layer.weight'";
      else if ((cut >= 99 && cut < 131) || cut >= 216)
        want = "'layer.bias'";
      if (want && !strstr (e->message, want))
        g_error ("cut at %" G_GSIZE_FORMAT " bytes: '%s' does not name %s", cut, e->message, want);
      g_clear_error (&e);
    }
  /* one flipped bit in the first tensor's data */
  g_autofree char *c = g_memdup2 (buf, len);
  c[len - 64 - 1] ^= 0x10;   /* layer.weight's data precedes layer.bias's 64-byte slot */
  g_assert_null (tsr_nn_weights_load_data ((guint8 *) c, len, "w.tnnw", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
  g_assert_nonnull (strstr (e->message, "tensor 'layer.weight': checksum mismatch"));
  g_clear_error (&e);
  /* one flipped bit in the header (a dimension) */
  memcpy (c, buf, len);
  c[8 + 12 + 13 + 4 + 12 + 8] ^= 0x01;
  g_assert_null (tsr_nn_weights_load_data ((guint8 *) c, len, "w.tnnw", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
  g_clear_error (&e);
  /* not a weight file at all */
  g_assert_null (tsr_nn_weights_load_data ((const guint8 *) "SIMPLE  =     T", 15, "x.fits", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
  g_assert_nonnull (strstr (e->message, "x.fits"));
  g_clear_error (&e);
  /* a file for another network is refused by the denoiser, naming the architecture */
  g_assert_null (tsr_denoise_net_load (path, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
  g_assert_nonnull (strstr (e->message, "test-arch"));
  g_clear_error (&e);
  g_assert_null (tsr_nn_weights_load ("/nonexistent/w.tnnw", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_NOT_FOUND);
  g_clear_error (&e);
  tsr_test_rmtree (dir);
}

/* The shipped weights with one tensor missing or reshaped: the denoiser names it. */
static void
test_weights_mismatched_net (void)
{
  GError *e = NULL;
  g_autofree char *src = g_build_filename (tsr_test_source_root (), "data", "denoise", "resunet-v1.tnnw", NULL);
  g_autoptr (TsrNnWeights) w = tsr_nn_weights_load (src, &e);
  g_assert_no_error (e);
  guint n = tsr_nn_weights_n_tensors (w);
  g_autofree char *dir = tsr_test_tmpdir ("nn-mismatch");
  g_autofree char *path = g_build_filename (dir, "m.tnnw", NULL);
  /* rewrite every tensor but "dec2.conv1.bias", and "up1.weight" with a wrong shape */
  GPtrArray *names = g_ptr_array_new ();
  g_autofree int *ndims = g_new (int, n);
  g_autofree const int **dims = g_new (const int *, n);
  g_autofree const float **data = g_new (const float *, n);
  static const int d1[1] = { 1 };
  static float one[1] = { 1 };
  guint k = 0;
  for (guint i = 0; i < n; i++)
    {
      const char *name = tsr_nn_weights_tensor_name (w, i);
      if (strcmp (name, "dec2.conv1.bias") == 0)
        continue;
      g_ptr_array_add (names, (gpointer) name);
      ndims[k] = 1;
      dims[k] = d1;
      data[k] = one;
      k++;
    }
  /* all shapes [1]: the first tensor the net asks for ("head.weight") has the wrong shape */
  g_assert_true (tsr_nn_weights_save (path, tsr_nn_weights_arch (w), k, (const char *const *) names->pdata, ndims,
                                      dims, data, TSR_NN_F32, &e));
  g_ptr_array_free (names, TRUE);
  g_assert_null (tsr_denoise_net_load (path, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
  g_assert_nonnull (strstr (e->message, "'head.weight' has shape [1]"));
  g_clear_error (&e);
  tsr_test_rmtree (dir);
}

/* ---- parity with PyTorch ---- */

static void
test_parity (void)
{
  GError *e = NULL;
  g_autofree char *vec = g_build_filename (tsr_test_source_root (), "tests", "data", "denoise-parity.tnnw", NULL);
  g_autofree char *wpath = g_build_filename (tsr_test_source_root (), "data", "denoise", "resunet-v1.tnnw", NULL);
  g_autoptr (TsrNnWeights) v = tsr_nn_weights_load (vec, &e);
  g_assert_no_error (e);
  g_autoptr (TsrDenoiseNet) net = tsr_denoise_net_load (wpath, &e);
  g_assert_no_error (e);
  /* the built-in weights are the committed file */
  g_autoptr (TsrDenoiseNet) builtin = tsr_denoise_net_load (NULL, &e);
  g_assert_no_error (e);
  const int d[4] = { 1, 3, 64, 64 };
  const float *in = tsr_nn_weights_get (v, "input", 4, d, &e);
  g_assert_no_error (e);
  const float *want = tsr_nn_weights_get (v, "output", 4, d, &e);
  g_assert_no_error (e);
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (1, 3, 64, 64);
  g_autoptr (TsrNnTensor) y = tsr_nn_tensor_new (1, 3, 64, 64);
  g_autoptr (TsrNnTensor) yr = tsr_nn_tensor_new (1, 3, 64, 64);
  g_autoptr (TsrNnTensor) yb = tsr_nn_tensor_new (1, 3, 64, 64);
  memcpy (x->data, in, sizeof (float) * 3 * 64 * 64);
  TsrDenoiseNetState *st = tsr_denoise_net_state_new ();
  tsr_denoise_net_forward (net, st, x, y);
  tsr_denoise_net_forward (builtin, st, x, yb);
  tsr_denoise_net_state_free (st);
  tsr_denoise_net_forward_ref (net, x, yr);
  double df = max_rel_diff (y->data, want, 3 * 64 * 64), dr = max_rel_diff (yr->data, want, 3 * 64 * 64);
  g_test_message ("C fast vs PyTorch: %.2g, C reference vs PyTorch: %.2g (max |diff| / max |value|)", df, dr);
  g_assert_cmpfloat (df, <, 1e-4);
  g_assert_cmpfloat (dr, <, 1e-4);
  g_assert_cmpmem (y->data, sizeof (float) * 3 * 64 * 64, yb->data, sizeof (float) * 3 * 64 * 64);
  /* and the network does something: the output is not the input */
  g_assert_cmpfloat (max_rel_diff (y->data, in, 3 * 64 * 64), >, 1e-2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nn/gemm", test_gemm);
  g_test_add_func ("/nn/conv2d", test_conv2d);
  g_test_add_func ("/nn/conv2d-known", test_conv2d_known);
  g_test_add_func ("/nn/conv-transpose", test_conv_t2d);
  g_test_add_func ("/nn/elementwise", test_elementwise);
  g_test_add_func ("/nn/batchnorm-fold", test_batchnorm_fold);
  g_test_add_func ("/nn/weights/roundtrip", test_weights_roundtrip);
  g_test_add_func ("/nn/weights/corrupt", test_weights_corrupt);
  g_test_add_func ("/nn/weights/mismatched-net", test_weights_mismatched_net);
  g_test_add_func ("/nn/parity-pytorch", test_parity);
  return g_test_run ();
}
