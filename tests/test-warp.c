/* test-warp.c — warping (mono, RGB, CFA), phase correlation, phase registration and the
 * registration correlation, against analytic images. */
#include <math.h>
#include <string.h>

#include "tsr-test-util.h"

/* ------------------------------------------------------------------------------------ */
/* Analytic test images: sums of plane waves, evaluated exactly at any affine map.      */

typedef struct
{
  int n;
  double *kx, *ky, *ph, *amp;
  double offset;
} Waves;

/* n random plane waves with frequencies in [fmin, fmax] cycles/px, amplitude ∝ 1/f. */
static Waves *
waves_new (guint32 seed, int n, double fmin, double fmax, double offset)
{
  GRand *r = g_rand_new_with_seed (seed);
  Waves *w = g_new0 (Waves, 1);
  w->n = n;
  w->offset = offset;
  w->kx = g_new (double, n);
  w->ky = g_new (double, n);
  w->ph = g_new (double, n);
  w->amp = g_new (double, n);
  for (int i = 0; i < n; i++)
    {
      double f = fmin * pow (fmax / fmin, g_rand_double (r));
      double a = g_rand_double_range (r, 0, 2 * G_PI);
      w->kx[i] = 2 * G_PI * f * cos (a);
      w->ky[i] = 2 * G_PI * f * sin (a);
      w->ph[i] = g_rand_double_range (r, 0, 2 * G_PI);
      w->amp[i] = 0.02 / f / sqrt (n);
    }
  g_rand_free (r);
  return w;
}

static void
waves_free (Waves *w)
{
  g_free (w->kx);
  g_free (w->ky);
  g_free (w->ph);
  g_free (w->amp);
  g_free (w);
}

/* out[y·W + x] = g(map(x, y)) for an affine map (pixel → texture coordinates; NULL =
 * identity). */
static void
waves_render (const Waves *wv, int W, int H, const TsrTransform *map, float *out)
{
  TsrTransform id;
  tsr_transform_identity (&id);
  const double *m = (map ? map : &id)->m;
  double *acc = g_new0 (double, (gsize) W * H);
  double *sx = g_new (double, W), *cx = g_new (double, W);
  for (int i = 0; i < wv->n; i++)
    {
      /* k·(A p + b) + φ = gx x + gy y + c */
      double gx = wv->kx[i] * m[0] + wv->ky[i] * m[3];
      double gy = wv->kx[i] * m[1] + wv->ky[i] * m[4];
      double c = wv->kx[i] * m[2] + wv->ky[i] * m[5] + wv->ph[i];
      for (int x = 0; x < W; x++)
        {
          sx[x] = sin (gx * x);
          cx[x] = cos (gx * x);
        }
      for (int y = 0; y < H; y++)
        {
          double a = wv->amp[i] * cos (gy * y + c), b = wv->amp[i] * sin (gy * y + c);
          double *row = acc + (gsize) y * W;
          for (int x = 0; x < W; x++)
            row[x] += sx[x] * a + cx[x] * b;
        }
    }
  for (gsize k = 0; k < (gsize) W * H; k++)
    out[k] = (float) (acc[k] + wv->offset);
  g_free (acc);
  g_free (sx);
  g_free (cx);
}

static void
shift_transform (TsrTransform *t, double dx, double dy)
{
  tsr_transform_identity (t);
  t->m[2] = dx;
  t->m[5] = dy;
}

/* Similarity of angle th (radians), scale s about the centre of a w × h frame, then a
 * shift (dx, dy). */
static void
centred_similarity (TsrTransform *t, double th, double s, double dx, double dy, int w, int h)
{
  double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1), c = s * cos (th), sn = s * sin (th);
  tsr_transform_similarity (t, th, s, cx - (c * cx - sn * cy) + dx, cy - (sn * cx + c * cy) + dy);
}

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* ------------------------------------------------------------------------------------ */

static void
test_names (void)
{
  TsrInterp i;
  for (int k = TSR_INTERP_LANCZOS3; k <= TSR_INTERP_BILINEAR; k++)
    {
      g_assert_true (tsr_interp_from_name (tsr_interp_name (k), &i));
      g_assert_cmpint (i, ==, k);
    }
  g_assert_cmpstr (tsr_interp_name (TSR_INTERP_LANCZOS3), ==, "lanczos3");
  g_assert_cmpstr (tsr_interp_name (TSR_INTERP_BICUBIC), ==, "bicubic");
  g_assert_cmpstr (tsr_interp_name (TSR_INTERP_BILINEAR), ==, "bilinear");
  g_assert_true (tsr_interp_from_name ("Bicubic", &i));
  g_assert_cmpint (i, ==, TSR_INTERP_BICUBIC);
  g_assert_false (tsr_interp_from_name ("nearest", &i));
  g_assert_false (tsr_interp_from_name (NULL, &i));
}

static void
test_identity (void)
{
  GRand *r = g_rand_new_with_seed (7);
  TsrTransform id;
  tsr_transform_identity (&id);
  for (int ch = 1; ch <= 3; ch += 2)
    for (int cfa = TSR_CFA_NONE; cfa <= TSR_CFA_BGGR; cfa++)
      {
        if (ch == 3 && cfa != TSR_CFA_NONE)
          continue;
        g_autoptr (TsrImage) src = tsr_image_new (97, 64, ch);
        src->cfa = cfa;
        tsr_header_set_string (src->header, "OBJECT", "identity", NULL);
        for (gsize k = 0; k < tsr_image_npix (src) * ch; k++)
          src->data[k] = (float) g_rand_double_range (r, -100, 1000);
        for (int interp = TSR_INTERP_LANCZOS3; interp <= TSR_INTERP_BILINEAR; interp++)
          {
            g_autoptr (TsrImage) out = tsr_warp (src, &id, 97, 64, cfa, interp);
            g_assert_nonnull (out);
            g_assert_cmpint (out->channels, ==, ch);
            g_assert_cmpint (out->cfa, ==, cfa);
            g_assert_true (tsr_header_has (out->header, "OBJECT"));
            g_assert_cmpuint (tsr_image_count_valid (out), ==, tsr_image_npix (src));
            g_assert_cmpmem (out->data, tsr_image_npix (src) * ch * sizeof (float), src->data,
                             tsr_image_npix (src) * ch * sizeof (float));
          }
        /* An integer shift of a mono image is exact too, and an even shift of a mosaic. */
        TsrTransform t;
        shift_transform (&t, cfa ? 2 : 3, cfa ? -4 : -1);
        g_autoptr (TsrImage) out = tsr_warp (src, &t, 97, 64, cfa, TSR_INTERP_LANCZOS3);
        int sx = cfa ? 2 : 3, sy = cfa ? -4 : -1;
        for (int y = 0; y < 64; y++)
          for (int x = 0; x < 97; x++)
            {
              gboolean in = x + sx >= 0 && x + sx < 97 && y + sy >= 0 && y + sy < 64;
              g_assert_cmpint (out->mask[y * 97 + x], ==, in);
              if (in)
                for (int c = 0; c < ch; c++)
                  g_assert_cmpfloat (tsr_image_plane (out, c)[y * 97 + x], ==,
                                     tsr_image_plane (src, c)[(y + sy) * 97 + x + sx]);
            }
      }
  g_rand_free (r);
}

static void
test_shift_accuracy (void)
{
  const int W = 160, H = 128;
  const double dx = 3.3, dy = -1.7;
  Waves *wv = waves_new (11, 150, 0.01, 0.2, 5.0);
  g_autoptr (TsrImage) src = tsr_image_new (W, H, 3);
  for (int c = 0; c < 3; c++)
    waves_render (wv, W, H, NULL, tsr_image_plane (src, c));
  TsrTransform t;
  shift_transform (&t, dx, dy);
  float *truth = g_new (float, W * H);
  waves_render (wv, W, H, &t, truth);
  double rms[3];
  for (int interp = TSR_INTERP_LANCZOS3; interp <= TSR_INTERP_BILINEAR; interp++)
    {
      g_autoptr (TsrImage) out = tsr_warp (src, &t, W, H, TSR_CFA_NONE, interp);
      double ss = 0, ssb = 0;
      gsize n = 0, nb = 0;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            double qx = x + dx, qy = y + dy;
            gboolean expect = qx >= 0 && qx <= W - 1 && qy >= 0 && qy <= H - 1;
            g_assert_cmpint (out->mask[y * W + x], ==, expect);
            if (!expect)
              continue;
            for (int c = 0; c < 3; c++)
              g_assert_cmpfloat (tsr_image_plane (out, c)[y * W + x], ==, out->data[y * W + x]);
            double e = out->data[y * W + x] - truth[y * W + x];
            gboolean interior = qx >= 3 && qx <= W - 4 && qy >= 3 && qy <= H - 4;
            if (interior)
              {
                ss += e * e;
                n++;
              }
            else
              {
                ssb += e * e;
                nb++;
              }
          }
      rms[interp] = sqrt (ss / n);
      double amp_rms = 0;
      for (int k = 0; k < W * H; k++)
        amp_rms += (truth[k] - 5.0) * (truth[k] - 5.0);
      amp_rms = sqrt (amp_rms / (W * H));
      g_test_message ("%s: interior rms error %.2e, border (renormalised) rms %.2e, signal rms %.3f",
                      tsr_interp_name (interp), rms[interp], sqrt (ssb / nb), amp_rms);
      g_assert_cmpfloat (rms[interp], <, 0.1 * amp_rms);
      g_assert_cmpfloat (sqrt (ssb / nb), <, 0.25 * amp_rms);
    }
  g_assert_cmpfloat (rms[TSR_INTERP_LANCZOS3], <, rms[TSR_INTERP_BICUBIC]);
  g_assert_cmpfloat (rms[TSR_INTERP_BICUBIC], <, rms[TSR_INTERP_BILINEAR]);
  g_assert_cmpfloat (rms[TSR_INTERP_LANCZOS3], <, 0.01);

  /* Masked source samples: the output around them is masked (bilinear support) or
   * renormalised, never contaminated. */
  g_autoptr (TsrImage) holed = tsr_image_copy (src);
  holed->mask[60 * W + 80] = 0;
  for (int c = 0; c < 3; c++)
    tsr_image_plane (holed, c)[60 * W + 80] = 1e9f;
  g_autoptr (TsrImage) out = tsr_warp (holed, &t, W, H, TSR_CFA_NONE, TSR_INTERP_LANCZOS3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      if (out->mask[y * W + x])
        g_assert_cmpfloat (fabs (out->data[y * W + x] - truth[y * W + x]), <, 0.5);
  /* (80, 60) is reached from output x = 76.7 → 76 and 77, y = 61.7 → 61 and 62. */
  for (int y = 61; y <= 62; y++)
    for (int x = 76; x <= 77; x++)
      g_assert_cmpint (out->mask[y * W + x], ==, 0);
  g_assert_cmpint (out->mask[60 * W + 76], ==, 1);
  g_free (truth);
  waves_free (wv);
}

static void
blob_centroid (const TsrImage *im, double *cx, double *cy)
{
  double s = 0, sx = 0, sy = 0;
  for (int y = 0; y < im->height; y++)
    for (int x = 0; x < im->width; x++)
      if (im->mask[y * im->width + x])
        {
          double v = im->data[y * im->width + x];
          s += v;
          sx += v * x;
          sy += v * y;
        }
  *cx = sx / s;
  *cy = sy / s;
}

static void
test_centroid (void)
{
  const int W = 200, H = 160;
  const double bx = 100.3, by = 80.7, sig = 2.0;
  g_autoptr (TsrImage) src = tsr_image_new (W, H, 1);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      src->data[y * W + x] = (float) (1000 * exp (-((x - bx) * (x - bx) + (y - by) * (y - by)) / (2 * sig * sig)));
  TsrTransform t, ti;
  centred_similarity (&t, 5.0 * G_PI / 180, 1.0, 7.25, -4.6, W, H);
  g_assert_true (tsr_transform_invert (&t, &ti));
  for (int interp = TSR_INTERP_LANCZOS3; interp <= TSR_INTERP_BILINEAR; interp++)
    {
      g_autoptr (TsrImage) a = tsr_warp (src, &t, W, H, TSR_CFA_NONE, interp);
      g_autoptr (TsrImage) b = tsr_warp (a, &ti, W, H, TSR_CFA_NONE, interp);
      double ax, ay, cx, cy, ex, ey;
      blob_centroid (a, &ax, &ay);
      tsr_transform_apply (&ti, bx, by, &ex, &ey);
      blob_centroid (b, &cx, &cy);
      g_test_message ("%s: forward centroid error %.4f px, round trip %.4f px", tsr_interp_name (interp),
                      hypot (ax - ex, ay - ey), hypot (cx - bx, cy - by));
      g_assert_cmpfloat (hypot (ax - ex, ay - ey), <, 0.01);
      g_assert_cmpfloat (hypot (cx - bx, cy - by), <, 0.01);
    }
}

/* A mosaic of a smooth scene: site (x, y) of colour c holds scale[c]·g(x, y) + add[c]. */
static TsrImage *
mosaic (TsrCfa cfa, int W, int H, const Waves *wv, const double scale[3], const double add[3])
{
  TsrImage *im = tsr_image_new (W, H, 1);
  im->cfa = cfa;
  float *g = g_new (float, W * H);
  if (wv)
    waves_render (wv, W, H, NULL, g);
  else
    memset (g, 0, sizeof (float) * W * H);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        int c = tsr_cfa_color (cfa, x, y);
        im->data[y * W + x] = (float) (scale[c] * g[y * W + x] + add[c]);
      }
  g_free (g);
  return im;
}

static void
test_cfa_red (void)
{
  const int W = 128, H = 96;
  Waves *wv = waves_new (5, 60, 0.01, 0.1, 3.0);
  TsrTransform t;
  centred_similarity (&t, 1.3 * G_PI / 180, 1.0, 10.4, -7.8, W, H);
  const double red[3] = { 1, 0, 0 }, zero[3] = { 0, 0, 0 };
  for (int sc = TSR_CFA_RGGB; sc <= TSR_CFA_BGGR; sc++)
    {
      g_autoptr (TsrImage) src = mosaic (sc, W, H, wv, red, zero);
      for (int oc = TSR_CFA_RGGB; oc <= TSR_CFA_BGGR; oc++)
        for (int interp = TSR_INTERP_LANCZOS3; interp <= TSR_INTERP_BILINEAR; interp++)
          {
            g_autoptr (TsrImage) out = tsr_warp (src, &t, W, H, oc, interp);
            g_assert_cmpint (out->cfa, ==, oc);
            gsize nred = 0;
            for (int y = 0; y < H; y++)
              for (int x = 0; x < W; x++)
                {
                  float v = out->data[y * W + x];
                  if (tsr_cfa_color (oc, x, y) != TSR_RED)
                    g_assert_cmpfloat (v, ==, 0.0f);
                  else if (out->mask[y * W + x] && v > 0.5f)
                    nred++;
                }
            g_assert_cmpuint (nred, >, W * H / 4 * 0.7);
          }
    }
  waves_free (wv);
}

static void
test_cfa_uniform (void)
{
  const int W = 64, H = 48;
  const double one[3] = { 0, 0, 0 }, level[3] = { 100, 200, 50 };
  GRand *r = g_rand_new_with_seed (3);
  TsrTransform t;
  centred_similarity (&t, 1.3 * G_PI / 180, 1.0, 10.4, -7.8, W, H);
  for (int sc = TSR_CFA_RGGB; sc <= TSR_CFA_BGGR; sc++)
    {
      g_autoptr (TsrImage) src = mosaic (sc, W, H, NULL, one, level);
      /* About 1 % of the samples masked, holding garbage that must never be read. */
      for (int k = 0; k < W * H / 100; k++)
        {
          int i = g_rand_int_range (r, 0, W * H);
          src->mask[i] = 0;
          src->data[i] = 1e7f;
        }
      for (int oc = TSR_CFA_RGGB; oc <= TSR_CFA_BGGR; oc++)
        for (int interp = TSR_INTERP_LANCZOS3; interp <= TSR_INTERP_BILINEAR; interp++)
          {
            g_autoptr (TsrImage) out = tsr_warp (src, &t, W, H, oc, interp);
            gsize nvalid = 0;
            for (int y = 0; y < H; y++)
              for (int x = 0; x < W; x++)
                if (out->mask[y * W + x])
                  {
                    nvalid++;
                    g_assert_cmpfloat_with_epsilon (out->data[y * W + x],
                                                    level[tsr_cfa_color (oc, x, y)], 2e-3);
                  }
            g_assert_cmpuint (nvalid, >, W * H / 2);
          }
    }
  g_rand_free (r);
}

/* Green on its quincunx lattice against the average of its two rectangular sub-lattices
 * (emulated by relabelling the mosaic), on a band-limited scene with known truth. */
static void
test_cfa_green_accuracy (void)
{
  const int W = 200, H = 160;
  Waves *wv = waves_new (21, 150, 0.01, 0.12, 5.0);
  const double grey[3] = { 1, 1, 1 }, zero[3] = { 0, 0, 0 };
  g_autoptr (TsrImage) src = mosaic (TSR_CFA_RGGB, W, H, wv, grey, zero);
  TsrTransform t;
  centred_similarity (&t, 1.3 * G_PI / 180, 1.0, 10.4, -7.8, W, H);
  float *truth = g_new (float, W * H);
  waves_render (wv, W, H, &t, truth);
  g_autoptr (TsrImage) q = tsr_warp (src, &t, W, H, TSR_CFA_RGGB, TSR_INTERP_LANCZOS3);
  /* RGGB greens sit at (1,0) and (0,1). Relabelled as GRBG, (1,0) becomes red and (0,1)
   * blue; as GBRG the other way round: each warp interpolates one green sub-lattice. */
  g_autoptr (TsrImage) relab = tsr_image_copy (src);
  relab->cfa = TSR_CFA_GRBG;
  g_autoptr (TsrImage) a = tsr_warp (relab, &t, W, H, TSR_CFA_GRBG, TSR_INTERP_LANCZOS3);
  g_autoptr (TsrImage) b = tsr_warp (relab, &t, W, H, TSR_CFA_GBRG, TSR_INTERP_LANCZOS3);
  double sq = 0, sa = 0;
  gsize n = 0;
  for (int y = 8; y < H - 8; y++)
    for (int x = 8; x < W - 8; x++)
      {
        gsize i = (gsize) y * W + x;
        if (tsr_cfa_color (TSR_CFA_RGGB, x, y) != TSR_GREEN || !q->mask[i] || !a->mask[i] || !b->mask[i])
          continue;
        double eq = q->data[i] - truth[i], ea = 0.5 * (a->data[i] + b->data[i]) - truth[i];
        sq += eq * eq;
        sa += ea * ea;
        n++;
      }
  g_test_message ("green rms error: quincunx %.3e, average of two sub-lattices %.3e (n=%" G_GSIZE_FORMAT ")",
                  sqrt (sq / n), sqrt (sa / n), n);
  g_assert_cmpfloat (sqrt (sq / n), <, sqrt (sa / n));
  g_free (truth);
  waves_free (wv);
}

static void
test_warp_timing (void)
{
  const int W = 1080, H = 1920;
  Waves *wv = waves_new (9, 40, 0.01, 0.2, 500);
  const double c3[3] = { 1, 1, 1 }, z3[3] = { 0, 0, 0 };
  g_autoptr (TsrImage) src = mosaic (TSR_CFA_GRBG, W, H, wv, c3, z3);
  TsrTransform t;
  centred_similarity (&t, 0.7 * G_PI / 180, 1.0, 12.3, -4.7, W, H);
  double best = 1e9;
  for (int rep = 0; rep < 3; rep++)
    {
      double t0 = now_s ();
      g_autoptr (TsrImage) out = tsr_warp (src, &t, W, H, TSR_CFA_GRBG, TSR_INTERP_LANCZOS3);
      best = MIN (best, now_s () - t0);
      g_assert_nonnull (out);
    }
  g_test_message ("1080x1920 CFA Lanczos-3 warp: %.3f s (%u processors)", best, g_get_num_processors ());
  waves_free (wv);
}

/* The RGB Lanczos-3 warp does blocks of 8 output pixels at once where every footprint is
 * clean, and pixel by pixel otherwise. A masked source sample sends its whole block down
 * the per-pixel path, including pixels whose own footprint does not reach it: those must
 * come out exactly as from the block path of the same image without the hole. */
/* tsr_warp_demosaic (band by band, from strips of the demosaic) against the whole frame
 * demosaiced and warped: the same mask everywhere and the same values to float rounding, for
 * both demosaics, a rotation (its skew makes a band reach more source rows), a shift that puts
 * bands outside the frame, a projective map and a bilinear kernel; masked samples included.
 * Output taller than one band (256 rows). */
static void
test_demosaic_bands (void)
{
  const int W = 301, H = 600;
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  g_autoptr (TsrImage) m = tsr_image_new (W, H, 1);
  m->cfa = TSR_CFA_GRBG;
  Waves *wv = waves_new (3, 24, 0.01, 0.45, 1000);
  waves_render (wv, W, H, NULL, m->data);
  waves_free (wv);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      m->data[(gsize) y * W + x] = (float) (m->data[(gsize) y * W + x] * 800 + g_rand_double_range (r, -20, 20)
                                            + (tsr_cfa_color (m->cfa, x, y) == TSR_RED ? 300 : 0));
  for (gsize k = 4321; k < tsr_image_npix (m); k += 7919)
    m->mask[k] = 0;
  TsrTransform ts[6];
  centred_similarity (&ts[0], 3.0 * G_PI / 180, 1.0, 2.3, -1.6, W, H);
  centred_similarity (&ts[1], -0.4 * G_PI / 180, 1.0, 10.5, -270.25, W, H);
  centred_similarity (&ts[2], 1.0 * G_PI / 180, 1.0, -0.7, 5.2, W, H);
  ts[2].m[6] = 2e-5, ts[2].m[7] = -1.5e-5;
  centred_similarity (&ts[3], 0.8 * G_PI / 180, 1.0, 0.3, 0.45, W, H);
  /* turned far (another night, an alt-az field rotation): the bands are split into pieces */
  centred_similarity (&ts[4], 40.0 * G_PI / 180, 1.0, 1.3, -2.2, W, H);
  centred_similarity (&ts[5], 90.0 * G_PI / 180, 1.0, 0.5, 0.25, W, H);
  const TsrInterp interp[6] = { TSR_INTERP_LANCZOS3, TSR_INTERP_LANCZOS3, TSR_INTERP_LANCZOS3, TSR_INTERP_BILINEAR,
                                TSR_INTERP_LANCZOS3, TSR_INTERP_LANCZOS3 };
  for (int method = 0; method < TSR_DEMOSAIC_N; method++)
    for (int t = 0; t < 6; t++)
      {
        g_autoptr (TsrImage) rgb = tsr_demosaic_with (m, method);
        g_autoptr (TsrImage) a = tsr_warp (rgb, &ts[t], W, H, TSR_CFA_NONE, interp[t]);
        g_autoptr (TsrImage) b = tsr_warp_demosaic (m, method, &ts[t], W, H, interp[t]);
        g_assert_nonnull (b);
        g_assert_cmpint (b->channels, ==, 3);
        g_assert_cmpint (b->cfa, ==, TSR_CFA_NONE);
        gsize npix = tsr_image_npix (a), valid = 0, exact = 0;
        double worst = 0;
        for (gsize k = 0; k < npix; k++)
          {
            g_assert_cmpint (a->mask[k], ==, b->mask[k]);
            if (!a->mask[k])
              continue;
            valid++;
            gboolean same = TRUE;
            for (int c = 0; c < 3; c++)
              {
                double d = fabs (a->data[c * npix + k] - b->data[c * npix + k]);
                worst = MAX (worst, d);
                same &= d == 0;
              }
            exact += same;
          }
        g_test_message ("%s, map %d: %" G_GSIZE_FORMAT " valid pixels, %" G_GSIZE_FORMAT " bit-identical, largest "
                        "difference %.3g", tsr_demosaic_method_name (method), t, valid, exact, worst);
        g_assert_cmpuint (valid, >, npix / 4);
        g_assert_cmpfloat (worst, <=, 1e-3);
        g_assert_cmpuint (exact, >=, valid - valid / 1000);
        /* bands of 40 rows: a turned frame's bands reach several times their height of
         * source rows and are split into pieces of columns; the same output */
        {
          g_autoptr (TsrImage) c = tsr_image_new (W, H, 3);
          double lv = tsr_demosaic_rcd_level (m);
          for (int y0 = 0; y0 < H; y0 += 40)
            g_assert_true (tsr_warp_demosaic_band (m, method, lv, &ts[t], c, 0, y0, MIN (H, y0 + 40), interp[t]));
          for (gsize k = 0; k < npix; k++)
            {
              g_assert_cmpint (c->mask[k], ==, a->mask[k]);
              for (int ch = 0; ch < 3 && a->mask[k]; ch++)
                g_assert_cmpfloat (fabs (c->data[ch * npix + k] - a->data[ch * npix + k]), <=, 1e-3);
            }
        }
        /* one band into an image of its own rows (out_y0 = the band's first row), as the
         * accumulation does: the same rows as the whole output */
        const int y0 = 250, y1 = 370;
        int r0, r1;
        tsr_warp_band_source (&ts[t], W, y0, y1, H, &r0, &r1);
        if (r1 - r0 < 2)
          continue;
        g_autoptr (TsrImage) strip = tsr_demosaic_rows (m, method, tsr_demosaic_rcd_level (m), r0, r1);
        g_autoptr (TsrImage) band = tsr_image_new (W, y1 - y0, 3);
        tsr_warp_rows (strip, r0, &ts[t], band, y0, y0, y1, interp[t]);
        gsize bn = tsr_image_npix (band), off = (gsize) y0 * W;
        for (gsize k = 0; k < bn; k++)
          {
            g_assert_cmpint (band->mask[k], ==, b->mask[off + k]);
            for (int c = 0; c < 3; c++)
              g_assert_cmpfloat (band->data[c * bn + k], ==, b->data[c * npix + off + k]);
          }
      }
}

static void
test_rgb_block_path (void)
{
  const int W = 203, H = 121;
  GRand *r = g_rand_new_with_seed (11);
  g_autoptr (TsrImage) src = tsr_image_new (W, H, 3);
  for (gsize k = 0; k < tsr_image_npix (src) * 3; k++)
    src->data[k] = (float) g_rand_double_range (r, -50, 2000);
  g_autoptr (TsrImage) holed = tsr_image_copy (src);
  const int holes[][2] = { { 40, 30 }, { 101, 60 }, { 150, 95 }, { 77, 100 }, { 180, 20 } };
  for (guint i = 0; i < G_N_ELEMENTS (holes); i++)
    holed->mask[holes[i][1] * W + holes[i][0]] = 0;
  TsrTransform t;
  centred_similarity (&t, 0.2 * G_PI / 180, 1.0, 3.3, -1.7, W, H);
  g_autoptr (TsrImage) a = tsr_warp (src, &t, W, H, TSR_CFA_NONE, TSR_INTERP_LANCZOS3);
  g_autoptr (TsrImage) b = tsr_warp (holed, &t, W, H, TSR_CFA_NONE, TSR_INTERP_LANCZOS3);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  gsize npix = tsr_image_npix (a), compared = 0, near_hole = 0, in_hole_blocks = 0;
  guint8 *touched = g_new0 (guint8, npix);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        double qx, qy;
        tsr_transform_apply (&t, x, y, &qx, &qy);
        for (guint i = 0; i < G_N_ELEMENTS (holes); i++)
          if (fabs (qx - holes[i][0]) <= 4.0 && fabs (qy - holes[i][1]) <= 4.0)
            touched[(gsize) y * W + x] = 1;
      }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        gsize k = (gsize) y * W + x;
        if (touched[k])
          {
            near_hole++;
            g_assert_false (b->mask[k] && !a->mask[k]);
            continue;
          }
        /* a pixel of an 8-block that also holds a pixel near a hole */
        int x0 = x - x % 8;
        for (int i = x0; i < MIN (x0 + 8, W); i++)
          if (touched[(gsize) y * W + i])
            {
              in_hole_blocks++;
              break;
            }
        g_assert_cmpint (a->mask[k], ==, b->mask[k]);
        for (int c = 0; c < 3; c++)
          if (a->data[c * npix + k] != b->data[c * npix + k])
            g_error ("pixel (%d, %d) channel %d: %.9g (block path) vs %.9g (per pixel)", x, y, c,
                     a->data[c * npix + k], b->data[c * npix + k]);
        compared++;
      }
  g_test_message ("%" G_GSIZE_FORMAT " pixels equal, %" G_GSIZE_FORMAT " of them in blocks sent pixel by pixel; "
                  "%" G_GSIZE_FORMAT " near a hole", compared, in_hole_blocks, near_hole);
  g_assert_cmpuint (in_hole_blocks, >, 50);
  g_assert_cmpuint (near_hole, >, 100);
  g_free (touched);
  g_rand_free (r);
}

static void
test_phase_correlate (void)
{
  const int sizes[3][2] = { { 384, 300 }, { 256, 256 }, { 501, 333 } };
  Waves *wv = waves_new (17, 300, 0.004, 0.3, 10.0);
  for (int s = 0; s < 3; s++)
    {
      int W = sizes[s][0], H = sizes[s][1];
      float *ref = g_new (float, W * H), *img = g_new (float, W * H);
      waves_render (wv, W, H, NULL, ref);
      TsrTransform t;
      /* img(x + dx, y + dy) = ref(x, y)  ⇔  img(q) = g(q − d) */
      shift_transform (&t, -12.37, 5.81);
      waves_render (wv, W, H, &t, img);
      double dx, dy, pk;
      g_assert_true (tsr_phase_correlate (ref, img, W, H, &dx, &dy, &pk));
      g_test_message ("%dx%d: (%.4f, %.4f) peak %.3f", W, H, dx, dy, pk);
      g_assert_cmpfloat (fabs (dx - 12.37), <, 0.05);
      g_assert_cmpfloat (fabs (dy + 5.81), <, 0.05);
      g_assert_cmpfloat (pk, >, 0.0);
      g_assert_cmpfloat (pk, <=, 1.0);
      /* Identical images: zero shift, peak ≈ 1. */
      g_assert_true (tsr_phase_correlate (ref, ref, W, H, &dx, &dy, &pk));
      g_assert_cmpfloat (fabs (dx), <, 1e-3);
      g_assert_cmpfloat (fabs (dy), <, 1e-3);
      g_assert_cmpfloat (pk, >, 0.99);
      g_free (ref);
      g_free (img);
    }
  waves_free (wv);

  /* Unrelated noise: a low peak (the noise floor documented in docs/warp.md). */
  GRand *r = g_rand_new_with_seed (2);
  const int W = 320, H = 240;
  float *a = g_new (float, W * H), *b = g_new (float, W * H);
  for (int k = 0; k < W * H; k++)
    {
      a[k] = (float) g_rand_double (r);
      b[k] = (float) g_rand_double (r);
    }
  double dx, dy, pk;
  g_assert_true (tsr_phase_correlate (a, b, W, H, &dx, &dy, &pk));
  g_test_message ("noise against noise: peak %.3f", pk);
  g_assert_cmpfloat (pk, <, 0.15);
  g_assert_false (tsr_phase_correlate (a, b, 3, 3, &dx, &dy, &pk));
  g_rand_free (r);
  g_free (a);
  g_free (b);
}

/* ref = g(p), img = g(T⁻¹(q)), so that img(T(p)) = ref(p). */
static void
register_case (int W, int H, const TsrTransform *truth, gboolean rotation_scale, double tol)
{
  Waves *wv = waves_new (23, 300, 0.004, 0.3, 10.0);
  float *ref = g_new (float, W * H), *img = g_new (float, W * H);
  TsrTransform inv, got;
  g_assert_true (tsr_transform_invert (truth, &inv));
  waves_render (wv, W, H, NULL, ref);
  waves_render (wv, W, H, &inv, img);
  double pk, t0 = now_s ();
  g_assert_true (tsr_phase_register (ref, img, W, H, rotation_scale, &got, &pk));
  double dt = now_s () - t0;
  double err = tsr_transform_corner_rms (&got, truth, W, H);
  g_test_message ("%dx%d %s: rot %.4f deg scale %.5f shift (%.3f, %.3f) peak %.3f corner rms %.4f px, %.3f s",
                  W, H, rotation_scale ? "rot+scale" : "translation",
                  tsr_transform_rotation (&got) * 180 / G_PI, tsr_transform_scale (&got), got.m[2],
                  got.m[5], pk, err, dt);
  g_assert_cmpfloat (err, <, tol);
  g_assert_cmpfloat (pk, >, 0.05);
  g_free (ref);
  g_free (img);
  waves_free (wv);
}

static void
test_phase_register (void)
{
  TsrTransform t;
  centred_similarity (&t, 1.5 * G_PI / 180, 1.0, 8.2, -3.4, 512, 384);
  register_case (512, 384, &t, TRUE, 0.1);
  /* A rotation beyond ±90° (the 180° ambiguity) and a scale change. */
  centred_similarity (&t, 178.0 * G_PI / 180, 1.03, -5.5, 4.25, 400, 400);
  register_case (400, 400, &t, TRUE, 0.1);
  /* Translation only. */
  shift_transform (&t, 8.2, -3.4);
  register_case (512, 384, &t, FALSE, 0.05);
  register_case (512, 384, &t, TRUE, 0.1);
  /* Non-power-of-two frame of the lunar size, timed. */
  centred_similarity (&t, -0.8 * G_PI / 180, 1.0, 2.6, 1.3, 1280, 960);
  register_case (1280, 960, &t, TRUE, 0.1);
}

static TsrImage *
read_moon (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  GError *e = NULL;
  TsrImage *im = tsr_fits_read (p, &e);
  g_assert_no_error (e);
  g_assert_nonnull (im);
  return im;
}

static void
test_lunar (void)
{
  g_autofree char *dir = tsr_test_shared_data ("lunar-frames");
  if (!dir)
    {
      g_test_skip ("../shared/data/lunar-frames is absent");
      return;
    }
  g_autoptr (TsrImage) a = read_moon (dir, "moon_001.fits");
  g_autoptr (TsrImage) b = read_moon (dir, "moon_002.fits");
  g_autoptr (TsrImage) c = read_moon (dir, "moon_010.fits");
  const int W = a->width, H = a->height;
  g_assert_cmpint (b->width, ==, W);
  g_assert_cmpint (c->height, ==, H);
  TsrTransform tab, tbc, tac, comp;
  double pab, pbc, pac;
  g_assert_true (tsr_phase_register (a->data, b->data, W, H, TRUE, &tab, &pab));
  g_assert_true (tsr_phase_register (b->data, c->data, W, H, TRUE, &tbc, &pbc));
  g_assert_true (tsr_phase_register (a->data, c->data, W, H, TRUE, &tac, &pac));
  const TsrTransform *ts[3] = { &tab, &tbc, &tac };
  const char *names[3] = { "001->002", "002->010", "001->010" };
  const double pks[3] = { pab, pbc, pac };
  for (int i = 0; i < 3; i++)
    g_test_message ("moon %s: shift (%.3f, %.3f) rot %.4f deg scale %.5f peak %.3f", names[i], ts[i]->m[2],
                    ts[i]->m[5], tsr_transform_rotation (ts[i]) * 180 / G_PI, tsr_transform_scale (ts[i]),
                    pks[i]);
  /* T maps ref → img: 001 → 002 then 002 → 010. */
  tsr_transform_compose (&tbc, &tab, &comp);
  double rms = tsr_transform_corner_rms (&comp, &tac, W, H);
  g_test_message ("moon composed vs direct 001->010: corner rms %.4f px", rms);
  g_assert_cmpfloat (rms, <, 0.2);

  /* Translation-only registration agrees with the full one on this jitter-only data. */
  TsrTransform tr;
  double ptr;
  g_assert_true (tsr_phase_register (a->data, c->data, W, H, FALSE, &tr, &ptr));
  /* Seeing distorts these frames locally by tenths of a pixel, so a whole-frame shift and
   * a similarity fitted to tiles need not agree to better than that; compare them at the
   * frame centre. */
  double fx, fy;
  tsr_transform_apply (&tac, 0.5 * (W - 1), 0.5 * (H - 1), &fx, &fy);
  fx -= 0.5 * (W - 1);
  fy -= 0.5 * (H - 1);
  g_test_message ("moon 001->010 translation only: (%.3f, %.3f) peak %.3f; full model at the centre (%.3f, %.3f)",
                  tr.m[2], tr.m[5], ptr, fx, fy);
  g_assert_cmpfloat (hypot (tr.m[2] - fx, tr.m[5] - fy), <, 0.5);
}

static void
test_correlation (void)
{
  const gsize n = 1000;
  float *a = g_new (float, n), *b = g_new (float, n), *c = g_new (float, n);
  guint8 *ma = g_new (guint8, n), *mb = g_new (guint8, n);
  GRand *r = g_rand_new_with_seed (1);
  for (gsize k = 0; k < n; k++)
    {
      a[k] = (float) g_rand_double_range (r, 0, 100);
      b[k] = -3.0f * a[k] + 7.0f;
      c[k] = (float) g_rand_double_range (r, 0, 100);
      ma[k] = mb[k] = 1;
    }
  g_assert_cmpfloat_with_epsilon (tsr_correlation (a, NULL, a, NULL, n), 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (tsr_correlation (a, NULL, b, NULL, n), -1.0, 1e-9);
  g_assert_cmpfloat (fabs (tsr_correlation (a, NULL, c, NULL, n)), <, 0.15);
  g_assert_true (isnan (tsr_correlation (a, NULL, a, NULL, 15)));
  g_assert_false (isnan (tsr_correlation (a, NULL, a, NULL, 16)));
  /* Masks: where the masks are valid, c is made equal to a; elsewhere it is noise. */
  for (gsize k = 0; k < n; k++)
    {
      ma[k] = k % 3 != 0;
      mb[k] = k % 5 != 0;
      if (ma[k] && mb[k])
        c[k] = 2 * a[k] + 1;
    }
  g_assert_cmpfloat_with_epsilon (tsr_correlation (a, ma, c, mb, n), 1.0, 1e-9);
  g_assert_cmpfloat (tsr_correlation (a, NULL, c, NULL, n), <, 0.9);
  memset (ma, 0, n);
  for (int k = 0; k < 15; k++)
    ma[k * 7] = 1;
  g_assert_true (isnan (tsr_correlation (a, ma, c, NULL, n)));
  g_rand_free (r);
  g_free (a);
  g_free (b);
  g_free (c);
  g_free (ma);
  g_free (mb);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/warp/names", test_names);
  g_test_add_func ("/warp/identity", test_identity);
  g_test_add_func ("/warp/shift-accuracy", test_shift_accuracy);
  g_test_add_func ("/warp/centroid", test_centroid);
  g_test_add_func ("/warp/cfa-red", test_cfa_red);
  g_test_add_func ("/warp/cfa-uniform", test_cfa_uniform);
  g_test_add_func ("/warp/cfa-green-accuracy", test_cfa_green_accuracy);
  g_test_add_func ("/warp/rgb-block-path", test_rgb_block_path);
  g_test_add_func ("/warp/demosaic-bands", test_demosaic_bands);
  g_test_add_func ("/warp/timing", test_warp_timing);
  g_test_add_func ("/warp/phase-correlate", test_phase_correlate);
  g_test_add_func ("/warp/phase-register", test_phase_register);
  g_test_add_func ("/warp/lunar", test_lunar);
  g_test_add_func ("/warp/correlation", test_correlation);
  return g_test_run ();
}
