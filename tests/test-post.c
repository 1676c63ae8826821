/* test-post.c — issue #17 part B: background extraction, colour calibration, the
 * demosaic choice and the cosmetic correction from the session. Frames are generated here
 * with known truth (pixel-integrated Gaussian stars, gradients, casts, noise). */
#include "tsr-test-util.h"

#include <math.h>
#include <string.h>

typedef struct
{
  double x, y, flux;
} Star;

/* A pixel-integrated circular Gaussian of total flux added to a plane. */
static void
add_star (float *pl, int w, int h, double x0, double y0, double flux, double sigma)
{
  int r = (int) ceil (6 * sigma) + 1;
  double s2 = sigma * M_SQRT2;
  for (int y = MAX (0, (int) y0 - r); y <= MIN (h - 1, (int) y0 + r); y++)
    {
      double fy = 0.5 * (erf ((y + 0.5 - y0) / s2) - erf ((y - 0.5 - y0) / s2));
      for (int x = MAX (0, (int) x0 - r); x <= MIN (w - 1, (int) x0 + r); x++)
        {
          double fx = 0.5 * (erf ((x + 0.5 - x0) / s2) - erf ((x - 0.5 - x0) / s2));
          pl[(gsize) y * w + x] += (float) (flux * fx * fy);
        }
    }
}

/* Stars at least min_sep apart and margin from the edges, fluxes log-uniform in [f0, f1]. */
static GArray *
random_stars (GRand *rng, int w, int h, guint n, double margin, double min_sep, double f0, double f1)
{
  GArray *a = g_array_new (FALSE, FALSE, sizeof (Star));
  for (guint tries = 0; a->len < n && tries < 100000; tries++)
    {
      Star s = { g_rand_double_range (rng, margin, w - margin), g_rand_double_range (rng, margin, h - margin),
                 f0 * pow (f1 / f0, g_rand_double (rng)) };
      gboolean ok = TRUE;
      for (guint i = 0; i < a->len && ok; i++)
        {
          const Star *t = &g_array_index (a, Star, i);
          ok = hypot (t->x - s.x, t->y - s.y) >= min_sep;
        }
      if (ok)
        g_array_append_val (a, s);
    }
  return a;
}

static double
gauss_noise (GRand *rng)
{
  double u1 = g_rand_double_range (rng, 1e-12, 1.0), u2 = g_rand_double (rng);
  return sqrt (-2 * log (u1)) * cos (2 * M_PI * u2);
}

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* Median of a plane's pixels in [x0,x1)×[y0,y1) that are at least keep_out px from every
 * star and outside the disc (nx, ny, nr) (test-side statistics, no engine code). */
static double
sky_block (const float *pl, int w, int x0, int y0, int x1, int y1, const GArray *stars, double keep_out,
           double nx, double ny, double nr)
{
  g_autofree float *v = g_new (float, (gsize) (x1 - x0) * (y1 - y0));
  gsize n = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      {
        gboolean near = hypot (x - nx, y - ny) < nr;
        for (guint i = 0; i < stars->len && !near; i++)
          {
            const Star *s = &g_array_index (stars, Star, i);
            near = fabs (s->x - x) < keep_out && fabs (s->y - y) < keep_out;
          }
        if (!near)
          v[n++] = pl[(gsize) y * w + x];
      }
  if (n < 50)
    return NAN;
  qsort (v, n, sizeof (float), cmp_float);
  return n & 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Aperture sum within r minus sky · area (test-side photometry). */
static double
aperture_sum (const float *pl, int w, double x0, double y0, double r, double sky)
{
  double s = 0;
  for (int y = (int) floor (y0 - r); y <= (int) ceil (y0 + r); y++)
    for (int x = (int) floor (x0 - r); x <= (int) ceil (x0 + r); x++)
      if ((x - x0) * (x - x0) + (y - y0) * (y - y0) <= r * r)
        s += pl[(gsize) y * w + x] - sky;
  return s;
}

#define BG_W 640
#define BG_H 480
#define BG_SIGMA 5.0
#define NEB_X 470.0
#define NEB_Y 150.0
#define NEB_S 30.0
#define NEB_A 40.0

/* An RGB frame: sky 200/180/150, a different linear + quadratic gradient per channel
 * (peak to peak 60–90 ADU, 12–18 σ), a nebula, 70 stars, Gaussian noise σ = 5. */
static TsrImage *
gradient_frame (GArray **stars_out)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (1707);
  GArray *stars = random_stars (rng, BG_W, BG_H, 70, 25, 22, 1500, 90000);
  TsrImage *img = tsr_image_new (BG_W, BG_H, 3);
  const double base[3] = { 200, 180, 150 }, a[3] = { 30, 20, 10 }, b[3] = { -15, 25, 30 }, q[3] = { 20, 10, 25 };
  for (int c = 0; c < 3; c++)
    {
      float *pl = tsr_image_plane (img, c);
      for (int y = 0; y < BG_H; y++)
        for (int x = 0; x < BG_W; x++)
          {
            double u = (x - BG_W / 2.0) / (BG_W / 2.0), v = (y - BG_H / 2.0) / (BG_H / 2.0);
            double r2 = ((x - NEB_X) * (x - NEB_X) + (y - NEB_Y) * (y - NEB_Y)) / (NEB_S * NEB_S);
            pl[(gsize) y * BG_W + x] = (float) (base[c] + a[c] * u + b[c] * v + q[c] * (u * u + 0.5 * u * v)
                                                + NEB_A * exp (-0.5 * r2) + BG_SIGMA * gauss_noise (rng));
          }
      for (guint i = 0; i < stars->len; i++)
        {
          const Star *s = &g_array_index (stars, Star, i);
          add_star (pl, BG_W, BG_H, s->x, s->y, s->flux, 1.3);
        }
    }
  *stars_out = stars;
  return img;
}

/* peak-to-peak of 8×6 blocks' sky medians (stars and the nebula left out) */
static double
block_range (const TsrImage *img, int c, const GArray *stars)
{
  double lo = INFINITY, hi = -INFINITY;
  for (int by = 0; by < 6; by++)
    for (int bx = 0; bx < 8; bx++)
      {
        double m = sky_block (tsr_image_plane (img, c), BG_W, bx * 80, by * 80, bx * 80 + 80, by * 80 + 80, stars, 10,
                              NEB_X, NEB_Y, 3.5 * NEB_S);
        if (isfinite (m))
          lo = MIN (lo, m), hi = MAX (hi, m);
      }
  return hi - lo;
}

static void
test_background_gradient (void)
{
  GArray *stars;
  g_autoptr (TsrImage) img = gradient_frame (&stars);
  TsrPostParams p;
  tsr_post_params_init (&p);
  TsrBackgroundInfo info;
  g_autoptr (TsrImage) model = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (TsrImage) out = tsr_background_extract (img, &p, &info, &model, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (out);
  g_assert_nonnull (model);
  /* the nebula's boxes are rejected as non-sky */
  g_assert_cmpuint (info.n_used, <, info.n_samples);
  for (int c = 0; c < 3; c++)
    {
      double before = block_range (img, c, stars), after = block_range (out, c, stars);
      g_test_message ("channel %d: large-scale sky peak to peak %.2f → %.3f ADU (σ %.1f); %u of %u samples", c,
                      before, after, BG_SIGMA, info.n_used, info.n_samples);
      g_assert_cmpfloat (before, >, 10 * BG_SIGMA);
      g_assert_cmpfloat (after, <, BG_SIGMA);
      /* linear: out = in − model + pedestal, exactly */
      const float *pi = tsr_image_plane (img, c), *po = tsr_image_plane (out, c), *pm = tsr_image_plane (model, c);
      for (gsize k = 0; k < tsr_image_npix (img); k += 997)
        g_assert_cmpfloat (fabs (po[k] - (pi[k] - pm[k] + info.pedestal[c])), <, 1e-2);
      /* star fluxes with one global sky level (no local annulus): within 1 % of the truth */
      double sky = sky_block (po, BG_W, 0, 0, BG_W, BG_H, stars, 10, NEB_X, NEB_Y, 3.5 * NEB_S);
      double worst = 0;
      guint n = 0;
      for (guint i = 0; i < stars->len; i++)
        {
          const Star *s = &g_array_index (stars, Star, i);
          if (s->flux < 20000 || hypot (s->x - NEB_X, s->y - NEB_Y) < 3.5 * NEB_S)
            continue;
          double f = aperture_sum (po, BG_W, s->x, s->y, 7, sky);
          worst = MAX (worst, fabs (f / s->flux - 1));
          n++;
        }
      g_test_message ("channel %d: %u bright stars, worst flux error %.3f %%", c, n, 100 * worst);
      g_assert_cmpuint (n, >=, 10);
      g_assert_cmpfloat (worst, <, 0.01);
      /* the nebula is kept: its mean over the central disc stays within 10 % */
      double neb = aperture_sum (po, BG_W, NEB_X, NEB_Y, 20, sky), area = 0, truth = 0;
      for (int y = -21; y <= 21; y++)
        for (int x = -21; x <= 21; x++)
          if (x * x + y * y <= 400)
            area++, truth += NEB_A * exp (-0.5 * (x * x + y * y) / (NEB_S * NEB_S));
      for (guint i = 0; i < stars->len; i++)
        {
          const Star *s = &g_array_index (stars, Star, i);
          if (hypot (s->x - NEB_X, s->y - NEB_Y) < 28)
            neb -= s->flux;
        }
      g_test_message ("channel %d: nebula %.0f of %.0f", c, neb, truth);
      g_assert_cmpfloat (fabs (neb / truth - 1), <, 0.1);
    }
  g_assert_true (tsr_header_n_cards (out->header) > 0);
  gboolean hist = FALSE;
  for (guint i = 0; i < tsr_header_n_cards (out->header); i++)
    hist |= strstr (tsr_header_card (out->header, i), "tessera background") != NULL;
  g_assert_true (hist);
  g_array_unref (stars);
}

static void
test_background_errors (void)
{
  TsrPostParams p;
  tsr_post_params_init (&p);
  g_autoptr (TsrImage) mosaic = tsr_image_new (64, 64, 1);
  mosaic->cfa = TSR_CFA_RGGB;
  g_autoptr (GError) error = NULL;
  g_assert_null (tsr_background_extract (mosaic, &p, NULL, NULL, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&error);
  /* almost nothing valid: too few samples for the degree */
  g_autoptr (TsrImage) holes = tsr_image_new (64, 64, 1);
  memset (holes->mask, 0, 64 * 64);
  for (int y = 0; y < 8; y++)
    memset (holes->mask + y * 64, 1, 8);   /* four boxes of 4 px hold data */
  p.bg_degree = 4;
  g_assert_null (tsr_background_extract (holes, &p, NULL, NULL, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_EMPTY);
}

/* A linear sky gradient (no stars, noise σ 20) with a faint blob (5 ADU peak, σ 40 px) that
 * the automatic rejection keeps as sky in a coarse grid (4 × 3 boxes of 160 px): the case a
 * user fixes by excluding the sample on it. */
#define ED_W 640
#define ED_H 480
#define ED_BX 400.0
#define ED_BY 80.0

static double
edit_truth (int x, int y)
{
  return 100.0 + 20.0 * x / ED_W - 12.0 * y / ED_H;
}

static TsrImage *
edit_frame (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (1717);
  TsrImage *img = tsr_image_new (ED_W, ED_H, 1);
  float *pl = tsr_image_plane (img, 0);
  for (int y = 0; y < ED_H; y++)
    for (int x = 0; x < ED_W; x++)
      {
        double r2 = ((x - ED_BX) * (x - ED_BX) + (y - ED_BY) * (y - ED_BY)) / (40.0 * 40.0);
        pl[(gsize) y * ED_W + x] = (float) (edit_truth (x, y) + 5.0 * exp (-0.5 * r2) + 20.0 * gauss_noise (rng));
      }
  return img;
}

/* the model's error at the blob against its mean error (the pedestal is free) */
static double
blob_residual (const TsrImage *model)
{
  const float *pm = tsr_image_plane (model, 0);
  double mean = 0;
  for (int y = 0; y < ED_H; y++)
    for (int x = 0; x < ED_W; x++)
      mean += pm[(gsize) y * ED_W + x] - edit_truth (x, y);
  mean /= (double) ED_W * ED_H;
  int bx = (int) ED_BX, by = (int) ED_BY;
  return pm[(gsize) by * ED_W + bx] - edit_truth (bx, by) - mean;
}

static const TsrBgSample *
sample_at (GArray *a, double x, double y, guint *index)
{
  for (guint i = 0; i < a->len; i++)
    {
      const TsrBgSample *s = &g_array_index (a, TsrBgSample, i);
      if (fabs (x - s->x) <= 0.5 * s->size && fabs (y - s->y) <= 0.5 * s->size)
        {
          if (index)
            *index = i;
          return s;
        }
    }
  return NULL;
}

static void
test_background_edits (void)
{
  g_autoptr (TsrImage) img = edit_frame ();
  TsrPostParams p;
  tsr_post_params_init (&p);
  p.bg_degree = 1;
  p.bg_grid = 4;
  p.bg_kappa = 10;
  g_autoptr (GError) error = NULL;
  TsrBackgroundInfo i0, i1, i2, i3;
  g_autoptr (TsrImage) m0 = NULL, m1 = NULL, m2 = NULL, m3 = NULL;
  g_autoptr (GArray) s0 = NULL, s1 = NULL, s2 = NULL, s3 = NULL;
  g_autoptr (TsrImage) o0 = tsr_background_extract_edited (img, &p, NULL, &i0, &s0, &m0, NULL, &error);
  g_assert_no_error (error);
  /* the automatic choice keeps the sample on the blob */
  const TsrBgSample *on = sample_at (s0, ED_BX, ED_BY, NULL);
  g_assert_nonnull (on);
  g_assert_cmpint (on->state, ==, TSR_BG_SAMPLE_USED);
  g_assert_cmpuint (s0->len, ==, i0.n_samples);
  double r0 = blob_residual (m0);

  /* excluding it: the model under the blob comes down to the true sky */
  TsrBgPoint ex = { ED_BX, ED_BY, 0 };
  TsrBackgroundEdits e1 = { NULL, 0, &ex, 1 };
  g_autoptr (TsrImage) o1 = tsr_background_extract_edited (img, &p, &e1, &i1, &s1, &m1, NULL, &error);
  g_assert_no_error (error);
  double r1 = blob_residual (m1);
  g_test_message ("model error at the blob: %.3f ADU automatic (%u of %u samples) → %.3f ADU with it excluded", r0,
                  i0.n_used, i0.n_samples, r1);
  g_assert_cmpuint (i1.n_excluded, ==, 1);
  g_assert_cmpuint (i1.n_used, ==, i0.n_used - 1);
  g_assert_cmpint (sample_at (s1, ED_BX, ED_BY, NULL)->state, ==, TSR_BG_SAMPLE_EXCLUDED);
  g_assert_cmpfloat (r0, >, 0.1);
  g_assert_cmpfloat (fabs (r1), <, 0.5 * r0);

  /* an added sample in an empty corner is used, reported, and in the HISTORY */
  TsrBgPoint add = { 600, 440, 60 };
  TsrBackgroundEdits e2 = { &add, 1, NULL, 0 };
  g_autoptr (TsrImage) o2 = tsr_background_extract_edited (img, &p, &e2, &i2, &s2, &m2, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (i2.n_added, ==, 1);
  g_assert_cmpuint (i2.n_used, ==, i0.n_used + 1);
  const TsrBgSample *last = &g_array_index (s2, TsrBgSample, s2->len - 1);
  g_assert_cmpint (last->state, ==, TSR_BG_SAMPLE_ADDED);
  g_assert_cmpint (last->size, ==, 60);
  g_assert_cmpfloat (fabs (last->x - 600), <=, 0.5);
  g_test_message ("added sample level %.2f, truth %.2f", last->level, edit_truth (600, 440));
  g_assert_cmpfloat (fabs (last->level - edit_truth (600, 440)), <, 1.5);
  gboolean hist = FALSE;
  for (guint i = 0; i < tsr_header_n_cards (o2->header); i++)
    hist |= strstr (tsr_header_card (o2->header, i), "user samples: 1 added, 0 excluded") != NULL;
  g_assert_true (hist);

  /* an added sample is never rejected: one put on the blob pulls the model up there */
  TsrBgPoint add_blob = { ED_BX, ED_BY, 40 };
  TsrBackgroundEdits e3 = { &add_blob, 1, &ex, 1 };
  g_autoptr (TsrImage) o3 = tsr_background_extract_edited (img, &p, &e3, &i3, &s3, &m3, NULL, &error);
  g_assert_no_error (error);
  double r3 = blob_residual (m3);
  g_test_message ("an added sample on the blob (its own excluded): model error %.3f ADU", r3);
  g_assert_cmpfloat (r3, >, r1 + 0.05);

  /* invalid edits */
  TsrBgPoint out_pt = { -20, 100, 0 };
  TsrBackgroundEdits bad_add = { &out_pt, 1, NULL, 0 }, bad_ex = { NULL, 0, &out_pt, 1 };
  g_assert_null (tsr_background_extract_edited (img, &p, &bad_add, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "outside"));
  g_clear_error (&error);
  g_assert_null (tsr_background_extract_edited (img, &p, &bad_ex, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&error);
  /* every automatic sample but four excluded: too few for a degree-1 model (6) */
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  for (guint i = 4; i < s0->len; i++)
    {
      const TsrBgSample *s = &g_array_index (s0, TsrBgSample, i);
      TsrBgPoint pt = { s->x, s->y, 0 };
      g_array_append_val (all, pt);
    }
  TsrBackgroundEdits few = { NULL, 0, (const TsrBgPoint *) all->data, all->len };
  g_assert_cmpuint (all->len + 4, ==, s0->len);
  g_assert_null (tsr_background_extract_edited (img, &p, &few, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_EMPTY);
  g_assert_nonnull (strstr (error->message, "excluded"));
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* the sample file format */
  g_autoptr (GArray) a = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  g_autoptr (GArray) x = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  g_assert_true (tsr_background_edits_parse ("# sky\n600, 440,30\n\n-400,80\n 12.5,7\n", a, x, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (a->len, ==, 2);
  g_assert_cmpuint (x->len, ==, 1);
  g_assert_cmpint (g_array_index (a, TsrBgPoint, 0).size, ==, 30);
  g_assert_cmpfloat (g_array_index (a, TsrBgPoint, 1).x, ==, 12.5);
  g_assert_cmpfloat (g_array_index (x, TsrBgPoint, 0).y, ==, 80);
  const char *bad[] = { "1,2,3,4\n", "-1,2,30\n", "a,b\n", "5\n", "1,2,2\n", "1,2,\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (tsr_background_edits_parse (bad[i], a, x, &error));
      g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
      g_assert_nonnull (strstr (error->message, "line 1"));
      g_clear_error (&error);
    }
}

static char *write_image (const char *dir, const char *name, const TsrImage *img);

/* The sample file's parser: every malformed line is refused naming its number and text, and
 * nothing of the file is appended (what the arrays held stays); the CLI then writes nothing.
 * Each edit's formatted line parses back to the same point. */
static void
test_sample_file (void)
{
  g_autoptr (GArray) a = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  g_autoptr (GArray) x = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  TsrBgPoint keep = { 7, 8, 0 };
  g_array_append_val (a, keep);
  g_array_append_val (x, keep);
  static const struct
  {
    const char *text;
    guint line;
    const char *shown;
  } bad[] = {
    { "1,2\n-3,4\n5,6,7,8\n", 3, "5,6,7,8" },   /* too many fields */
    { "# c\n\n-1,2,30\n", 3, "-1,2,30" },    /* an exclusion takes no size */
    { "10,10\na,b\n", 2, "a,b" },
    { "5\n", 1, "5" },
    { "1,2\n1,2,2\n", 2, "1,2,2" },           /* size below 4 */
    { "1,2,4097\n", 1, "1,2,4097" },           /* above 4096 */
    { "1,2,10.5\n", 1, "1,2,10.5" },           /* not whole */
    { "1,2,\n", 1, "1,2," },
    { "1,nan\n", 1, "1,nan" },
    { "1,inf\n", 1, "1,inf" },
    { "--\n", 1, "--" },
    { "1;2\n", 1, "1;2" },
    { "1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n13,14\n15,16\n17,18\n19, 20 x\n", 10, "19, 20 x" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GError *error = NULL;
      g_assert_false (tsr_background_edits_parse (bad[i].text, a, x, &error));
      g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
      g_autofree char *want = g_strdup_printf ("line %u:", bad[i].line);
      g_autofree char *quoted = g_strdup_printf ("'%s'", bad[i].shown);
      if (!strstr (error->message, want) || !strstr (error->message, quoted))
        g_error ("%s: %s does not name %s %s", bad[i].text, error->message, want, quoted);
      g_error_free (error);
      /* nothing appended, the earlier content kept */
      g_assert_cmpuint (a->len, ==, 1);
      g_assert_cmpuint (x->len, ==, 1);
      g_assert_cmpfloat (g_array_index (a, TsrBgPoint, 0).x, ==, 7);
    }
  /* a good file appends after what is there */
  GError *error = NULL;
  g_assert_true (tsr_background_edits_parse ("\t 3 , 4 \r\n-5,6\r\n", a, x, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (a->len, ==, 2);
  g_assert_cmpuint (x->len, ==, 2);
  g_assert_cmpfloat (g_array_index (a, TsrBgPoint, 1).y, ==, 4);
  g_assert_cmpfloat (g_array_index (x, TsrBgPoint, 1).x, ==, 5);

  /* formatted edits parse back exactly */
  g_autoptr (GRand) rng = g_rand_new_with_seed (17);
  for (int k = 0; k < 2000; k++)
    {
      TsrBgPoint pt = { g_rand_double_range (rng, -0.5, 9000), g_rand_double_range (rng, -0.5, 9000),
                        k % 3 == 0 ? g_rand_int_range (rng, 4, 4097) : 0 };
      gboolean ex = k % 2 == 0, ex2;
      if (ex)
        pt.size = 0;
      g_autofree char *line = tsr_background_edit_format (&pt, ex);
      TsrBgPoint back;
      g_assert_true (tsr_background_edit_parse_line (line, &back, &ex2));
      g_assert_cmpint (ex2, ==, ex);
      g_assert_cmpfloat (back.x, ==, ex ? pt.x : MAX (pt.x, 0.0));
      g_assert_cmpfloat (back.y, ==, pt.y);
      g_assert_cmpint (back.size, ==, pt.size);
    }

  /* the CLI: a bad file is refused naming the file and the line; no output is written */
  g_autofree char *dir = tsr_test_tmpdir ("post-samples");
  g_autoptr (TsrImage) img = edit_frame ();
  g_autofree char *in = write_image (dir, "in.fits", img);
  g_autofree char *sf = g_build_filename (dir, "bad.txt", NULL), *out = g_build_filename (dir, "out.fits", NULL);
  g_autofree char *model = g_build_filename (dir, "model.fits", NULL);
  g_assert_true (g_file_set_contents (sf, "# edits\n100,100\n-200,200\n300,300,3\n", -1, NULL));
  const char *args[] = { "background", in, "-o", out, "--model", model, "--samples", sf, NULL };
  g_autofree char *so = NULL, *se = NULL;
  g_assert_cmpint (tsr_test_run_cli (args, &so, &se), !=, 0);
  g_assert_nonnull (strstr (se, sf));
  g_assert_nonnull (strstr (se, "line 4"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  tsr_test_rmtree (dir);
}

typedef struct
{
  guint n_measure, n_subtract, last_done, last_total, n_fit;
  gboolean monotonic;
  char last_phase[64];
} ProgressLog;

static void
log_progress (const char *phase, guint done, guint total, gpointer data)
{
  ProgressLog *l = data;
  if (strcmp (phase, l->last_phase) == 0 && done < l->last_done)
    l->monotonic = FALSE;
  if (done > total && total > 0)
    l->monotonic = FALSE;
  g_strlcpy (l->last_phase, phase, sizeof l->last_phase);
  l->last_done = done;
  l->last_total = total;
  l->n_measure += strcmp (phase, "Measuring the sky samples") == 0;
  l->n_fit += strcmp (phase, "Fitting the sky model") == 0;
  l->n_subtract += strcmp (phase, "Subtracting the sky model") == 0;
}

/* The step's progress (the window's bar): the phases in order, each counting up to its total;
 * the same pixels as without a callback. */
static void
test_background_progress (void)
{
  g_autoptr (TsrImage) img = edit_frame ();
  TsrPostParams p;
  tsr_post_params_init (&p);
  g_autoptr (GError) error = NULL;
  ProgressLog log = { .monotonic = TRUE };
  TsrBgPoint add = { 600, 440, 60 };
  TsrBackgroundEdits ed = { &add, 1, NULL, 0 };
  g_autoptr (TsrImage) a = tsr_background_extract_full (img, &p, &ed, NULL, NULL, NULL, log_progress, &log, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (TsrImage) b = tsr_background_extract_edited (img, &p, &ed, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (a->data, tsr_image_npix (a) * sizeof (float), b->data, tsr_image_npix (b) * sizeof (float));
  g_test_message ("progress: %u measuring, %u fitting, %u subtracting reports", log.n_measure, log.n_fit, log.n_subtract);
  g_assert_true (log.monotonic);
  g_assert_cmpuint (log.n_measure, >=, 2);
  g_assert_cmpuint (log.n_fit, ==, 1);
  g_assert_cmpuint (log.n_subtract, >=, ED_H / 64);
  g_assert_cmpstr (log.last_phase, ==, "Subtracting the sky model");
  g_assert_cmpuint (log.last_done, ==, log.last_total);
  g_assert_cmpuint (log.last_total, ==, ED_H);
  /* cancelled: an error, no image */
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  g_assert_null (tsr_background_extract_full (img, &p, NULL, NULL, NULL, NULL, log_progress, &log, c, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

#define COL_W 512
#define COL_H 384

/* RGB frame with a cast: sky 150/100/60, stars R = 1.25 G, B = 0.7 G (±3 % per star). */
static TsrImage *
cast_frame (GArray **stars_out)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (4242);
  GArray *stars = random_stars (rng, COL_W, COL_H, 90, 25, 20, 3000, 60000);
  TsrImage *img = tsr_image_new (COL_W, COL_H, 3);
  const double sky[3] = { 150, 100, 60 }, cast[3] = { 1.25, 1.0, 0.7 };
  for (int c = 0; c < 3; c++)
    {
      float *pl = tsr_image_plane (img, c);
      for (gsize k = 0; k < tsr_image_npix (img); k++)
        pl[k] = (float) (sky[c] + 4.0 * gauss_noise (rng));
    }
  for (guint i = 0; i < stars->len; i++)
    {
      const Star *s = &g_array_index (stars, Star, i);
      for (int c = 0; c < 3; c++)
        add_star (tsr_image_plane (img, c), COL_W, COL_H, s->x, s->y,
                  s->flux * cast[c] * (c == 1 ? 1.0 : 1.0 + 0.03 * gauss_noise (rng)), 1.5);
    }
  *stars_out = stars;
  return img;
}

static void
test_colour_cast (void)
{
  GArray *stars;
  g_autoptr (TsrImage) img = cast_frame (&stars);
  TsrPostParams p;
  tsr_post_params_init (&p);
  TsrColourInfo info;
  g_autoptr (GError) error = NULL;
  g_autoptr (TsrImage) out = tsr_colour_calibrate (img, &p, &info, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (out);
  g_assert_cmpuint (info.n_stars, >=, 20);
  /* the average star, measured here: flux-weighted and median over the bright stars */
  double sky[3], sum[3] = { 0 };
  for (int c = 0; c < 3; c++)
    sky[c] = sky_block (tsr_image_plane (out, c), COL_W, 0, 0, COL_W, COL_H, stars, 10, -1e9, -1e9, 0);
  g_autofree double *rg = g_new (double, stars->len), *bg = g_new (double, stars->len);
  guint n = 0;
  for (guint i = 0; i < stars->len; i++)
    {
      const Star *s = &g_array_index (stars, Star, i);
      if (s->flux < 10000)
        continue;
      double f[3];
      for (int c = 0; c < 3; c++)
        sum[c] += f[c] = aperture_sum (tsr_image_plane (out, c), COL_W, s->x, s->y, 8, sky[c]);
      rg[n] = f[0] / f[1];
      bg[n++] = f[2] / f[1];
    }
  g_assert_cmpuint (n, >=, 15);
  double mrg = 0, mbg = 0;
  for (guint i = 0; i < n; i++)
    mrg += rg[i] / n, mbg += bg[i] / n;
  g_test_message ("before: R/G %.4f B/G %.4f (true 1.25, 0.70); after: summed R/G %.4f B/G %.4f, mean of %u stars "
                  "R/G %.4f B/G %.4f; sky %.2f %.2f %.2f", info.ratio[0], info.ratio[2], sum[0] / sum[1],
                  sum[2] / sum[1], n, mrg, mbg, sky[0], sky[1], sky[2]);
  g_assert_cmpfloat (fabs (info.ratio[0] / 1.25 - 1), <, 0.03);
  g_assert_cmpfloat (fabs (info.ratio[2] / 0.70 - 1), <, 0.03);
  g_assert_cmpfloat (fabs (sum[0] / sum[1] - 1), <, 0.02);
  g_assert_cmpfloat (fabs (sum[2] / sum[1] - 1), <, 0.02);
  g_assert_cmpfloat (fabs (mrg - 1), <, 0.02);
  g_assert_cmpfloat (fabs (mbg - 1), <, 0.02);
  /* neutral background: every channel's sky at the green's, well within the noise */
  g_assert_cmpfloat (fabs (sky[0] - sky[1]), <, 0.5);
  g_assert_cmpfloat (fabs (sky[2] - sky[1]), <, 0.5);
  g_assert_cmpfloat (fabs (sky[1] - 100), <, 0.5);
  gboolean hist = FALSE;
  for (guint i = 0; i < tsr_header_n_cards (out->header); i++)
    hist |= strstr (tsr_header_card (out->header, i), "tessera colour") != NULL;
  g_assert_true (hist);
  g_array_unref (stars);

  /* a monochrome image is refused with a clear error */
  g_autoptr (TsrImage) mono = tsr_image_new (64, 64, 1);
  g_assert_null (tsr_colour_calibrate (mono, &p, NULL, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
}

static char *
write_image (const char *dir, const char *name, const TsrImage *img)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (tsr_fits_write (path, img, NULL, &error));
  g_assert_no_error (error);
  return path;
}

static gboolean
has_history (const char *path, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < tsr_header_n_cards (img->header); i++)
    if (g_str_has_prefix (tsr_header_card (img->header, i), "HISTORY") && strstr (tsr_header_card (img->header, i), what))
      return TRUE;
  return FALSE;
}

static void
test_post_cli (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("post-cli");
  GArray *stars;
  g_autoptr (TsrImage) img = gradient_frame (&stars);
  g_array_unref (stars);
  g_autofree char *in = write_image (dir, "in.fits", img);
  g_autofree char *bg = g_build_filename (dir, "bg.fits", NULL), *model = g_build_filename (dir, "model.fits", NULL);
  g_autofree char *col = g_build_filename (dir, "col.fits", NULL);
  {
    const char *args[] = { "background", in, "-o", bg, "--model", model, "--set", "post.background_degree=3", NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), ==, 0);
    g_assert_nonnull (strstr (so, "degree-3"));
    g_assert_true (has_history (bg, "tessera background: degree-3"));
    g_assert_true (g_file_test (model, G_FILE_TEST_IS_REGULAR));
  }
  {
    const char *args[] = { "colour", bg, "-o", col, NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), ==, 0);
    g_assert_true (has_history (col, "tessera colour"));
    g_assert_true (has_history (col, "tessera background"));
  }
  {
    /* a monochrome input: one line naming the file */
    g_autoptr (TsrImage) mono = tsr_image_new (64, 64, 1);
    g_autofree char *mp = write_image (dir, "mono.fits", mono), *mo = g_build_filename (dir, "x.fits", NULL);
    const char *args[] = { "colour", mp, "-o", mo, NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), !=, 0);
    g_assert_nonnull (strstr (se, mp));
    g_assert_null (strchr (g_strchomp (se), '\n'));
    g_assert_false (g_file_test (mo, G_FILE_TEST_EXISTS));
  }
  {
    /* user samples from a file: in the output line and the FITS HISTORY; a bad file is refused
     * naming the line, a point outside the image naming the point */
    g_autofree char *sf = g_build_filename (dir, "samples.txt", NULL), *bad = g_build_filename (dir, "bad.txt", NULL);
    g_autofree char *outside = g_build_filename (dir, "outside.txt", NULL), *bs = g_build_filename (dir, "bs.fits", NULL);
    g_assert_true (g_file_set_contents (sf, "# my sky\n600,440,40\n-470,150\n", -1, NULL));
    g_assert_true (g_file_set_contents (bad, "600,440\n1;2\n", -1, NULL));
    g_assert_true (g_file_set_contents (outside, "9000,20\n", -1, NULL));
    const char *args[] = { "background", in, "-o", bs, "--samples", sf, NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), ==, 0);
    g_assert_nonnull (strstr (so, "1 added, 1 excluded"));
    g_assert_true (has_history (bs, "user samples: 1 added, 1 excluded"));
    const char *a2[] = { "background", in, "-o", bs, "--samples", bad, NULL };
    g_autofree char *so2 = NULL, *se2 = NULL;
    g_assert_cmpint (tsr_test_run_cli (a2, &so2, &se2), !=, 0);
    g_assert_nonnull (strstr (se2, "line 2"));
    const char *a3[] = { "background", in, "-o", bs, "--samples", outside, NULL };
    g_autofree char *so3 = NULL, *se3 = NULL;
    g_assert_cmpint (tsr_test_run_cli (a3, &so3, &se3), !=, 0);
    g_assert_nonnull (strstr (se3, "outside"));
  }
  {
    /* an unknown key is refused */
    const char *args[] = { "background", in, "-o", col, "--set", "post.nope=1", NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), !=, 0);
    g_assert_nonnull (strstr (se, "post.nope"));
  }
  tsr_test_rmtree (dir);
}

/* A Bayer frame (RGGB) of coloured stars on a flat sky, no noise; truth per channel. */
typedef struct
{
  double x, y, f[3];
} CStar;

static TsrImage *
bayer_stars (GArray **out, double sigma, double sky, double noise, guint seed)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (seed);
  const int w = 320, h = 256;
  g_autoptr (GArray) pos = random_stars (rng, w, h, 40, 20, 24, 20000, 200000);
  GArray *stars = g_array_new (FALSE, FALSE, sizeof (CStar));
  g_autofree float *planes = g_new0 (float, (gsize) 3 * w * h);
  for (guint i = 0; i < pos->len; i++)
    {
      const Star *s = &g_array_index (pos, Star, i);
      /* colours from red (R/G 1.6, B/G 0.4) to blue (R/G 0.5, B/G 1.5) */
      double t = g_rand_double (rng);
      CStar cs = { s->x, s->y, { s->flux * (1.6 - 1.1 * t), s->flux, s->flux * (0.4 + 1.1 * t) } };
      for (int c = 0; c < 3; c++)
        add_star (planes + (gsize) c * w * h, w, h, cs.x, cs.y, cs.f[c], sigma);
      g_array_append_val (stars, cs);
    }
  TsrImage *m = tsr_image_new (w, h, 1);
  m->cfa = TSR_CFA_RGGB;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        int c = tsr_cfa_color (m->cfa, x, y);
        m->data[(gsize) y * w + x] = (float) (sky + planes[(gsize) c * w * h + (gsize) y * w + x]
                                              + noise * gauss_noise (rng));
      }
  *out = stars;
  return m;
}

/* worst |flux/truth − 1| of the stars per channel */
static void
demosaic_flux_error (const TsrImage *rgb, const GArray *stars, double sky, double worst[3])
{
  for (int c = 0; c < 3; c++)
    {
      worst[c] = 0;
      for (guint i = 0; i < stars->len; i++)
        {
          const CStar *s = &g_array_index (stars, CStar, i);
          double f = aperture_sum (tsr_image_plane (rgb, c), rgb->width, s->x, s->y, 7, sky);
          worst[c] = MAX (worst[c], fabs (f / s->f[c] - 1));
        }
    }
}

static double
correlation (const float *a, const float *b, gsize n)
{
  double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
  for (gsize k = 0; k < n; k++)
    ma += a[k] / n, mb += b[k] / n;
  for (gsize k = 0; k < n; k++)
    saa += (a[k] - ma) * (a[k] - ma), sbb += (b[k] - mb) * (b[k] - mb), sab += (a[k] - ma) * (b[k] - mb);
  return sab / sqrt (saa * sbb);
}

/* mean signed flux/truth − 1 of the stars per channel */
static void
demosaic_flux_bias (const TsrImage *rgb, const GArray *stars, double sky, double r, double bias[3])
{
  for (int c = 0; c < 3; c++)
    {
      bias[c] = 0;
      for (guint i = 0; i < stars->len; i++)
        {
          const CStar *s = &g_array_index (stars, CStar, i);
          double f = aperture_sum (tsr_image_plane (rgb, c), rgb->width, s->x, s->y, r, sky);
          bias[c] += (f / s->f[c] - 1) / stars->len;
        }
    }
}

/* tsr_demosaic_rows: any band of rows of a frame's demosaic, made from the strip of rows it
 * depends on, has exactly the values of the whole frame's demosaic — for both demosaics, with
 * noise, bright stars, masked samples (filled from neighbours up to 8 rows away) and bands
 * at the frame's edges, of odd and even start. The banded accumulation rests on it. */
static void
test_demosaic_rows (void)
{
  GArray *st;
  g_autoptr (TsrImage) m = bayer_stars (&st, 0.9, 50, 4, 7);
  g_array_unref (st);
  int w = m->width;
  /* masked samples: a dead column segment, scattered single ones, a masked block */
  for (int y = 60; y < 90; y++)
    m->mask[(gsize) y * w + 101] = 0;
  for (gsize k = 977; k < tsr_image_npix (m); k += 3001)
    m->mask[k] = 0;
  for (int y = 140; y < 146; y++)
    for (int x = 200; x < 206; x++)
      m->mask[(gsize) y * w + x] = 0;
  const int bands[][2] = { { 0, 40 }, { 1, 2 }, { 57, 130 }, { 64, 65 }, { 100, 256 }, { 0, 256 }, { 143, 201 } };
  for (int method = 0; method < TSR_DEMOSAIC_N; method++)
    {
      g_autoptr (TsrImage) full = tsr_demosaic_with (m, method);
      double level = tsr_demosaic_rcd_level (m);
      for (guint b = 0; b < G_N_ELEMENTS (bands); b++)
        {
          int y0 = bands[b][0], y1 = bands[b][1];
          g_autoptr (TsrImage) part = tsr_demosaic_rows (m, method, level, y0, y1);
          g_assert_nonnull (part);
          g_assert_cmpint (part->width, ==, w);
          g_assert_cmpint (part->height, ==, y1 - y0);
          g_assert_cmpint (part->channels, ==, 3);
          gsize n = (gsize) w * (y1 - y0), off = (gsize) y0 * w, differ = 0;
          for (int c = 0; c < 3; c++)
            for (gsize k = 0; k < n; k++)
              differ += tsr_image_plane (part, c)[k] != tsr_image_plane (full, c)[off + k];
          for (gsize k = 0; k < n; k++)
            differ += part->mask[k] != full->mask[off + k];
          if (differ)
            g_test_message ("%s rows %d–%d: %" G_GSIZE_FORMAT " values differ", tsr_demosaic_method_name (method), y0,
                            y1, differ);
          g_assert_cmpuint (differ, ==, 0);
        }
      /* rectangles: odd and even starts, the frame's edges, a single pixel */
      const int rects[][4] = { { 0, 40, 0, 40 }, { 31, 32, 77, 78 }, { 57, 203, 61, 140 }, { 250, 320, 200, 256 },
                               { 1, 319, 1, 255 }, { 199, 210, 139, 150 } };
      for (guint b = 0; b < G_N_ELEMENTS (rects); b++)
        {
          int x0 = rects[b][0], x1 = rects[b][1], y0 = rects[b][2], y1 = rects[b][3];
          g_autoptr (TsrImage) part = tsr_demosaic_rect (m, method, level, x0, x1, y0, y1);
          g_assert_nonnull (part);
          g_assert_cmpint (part->width, ==, x1 - x0);
          g_assert_cmpint (part->height, ==, y1 - y0);
          gsize differ = 0, pn = tsr_image_npix (part), fn = tsr_image_npix (full);
          for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
              {
                gsize k = (gsize) (y - y0) * (x1 - x0) + (x - x0), f = (gsize) y * w + x;
                for (int c = 0; c < 3; c++)
                  differ += part->data[c * pn + k] != full->data[c * fn + f];
                differ += part->mask[k] != full->mask[f];
              }
          if (differ)
            g_test_message ("%s rectangle %d–%d × %d–%d: %" G_GSIZE_FORMAT " values differ",
                            tsr_demosaic_method_name (method), x0, x1, y0, y1, differ);
          g_assert_cmpuint (differ, ==, 0);
        }
    }
}

/* RCD clears only the ring of its scratch planes: with their insides filled with NaN, a huge
 * or a negative value first, every output is the same to the bit (a sweep that read a
 * plane before writing it would show here), on a noisy mosaic with masked samples, odd
 * sizes and the tiny ones that pad by reflections of reflections. */
static void
test_demosaic_rcd_scratch (void)
{
  GArray *st;
  g_autoptr (TsrImage) big = bayer_stars (&st, 0.9, 40, 0, 7);
  g_array_unref (st);
  GRand *r = g_rand_new_with_seed (11);
  for (gsize k = 0; k < tsr_image_npix (big); k++)
    big->data[k] += (float) g_rand_double_range (r, -3, 3);
  for (int i = 0; i < 25; i++)
    big->mask[g_rand_int_range (r, 0, (gint32) tsr_image_npix (big))] = 0;
  g_rand_free (r);
  const int sizes[][2] = { { 0, 0 }, { 3, 2 }, { 9, 11 }, { 31, 17 } };
  const float poison[] = { NAN, 1e30f, -7.0f };
  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++)
    {
      g_autoptr (TsrImage) m = NULL;
      if (t == 0)
        m = tsr_image_ref (big);
      else
        {
          m = tsr_image_new (sizes[t][0], sizes[t][1], 1);
          m->cfa = TSR_CFA_RGGB;
          for (gsize k = 0; k < tsr_image_npix (m); k++)
            m->data[k] = (float) ((k * 37) % 11) - 2;
          m->mask[tsr_image_npix (m) / 2] = 0;
        }
      g_autoptr (TsrImage) clean = tsr_demosaic_rcd (m);
      g_assert_nonnull (clean);
      gboolean finite = TRUE;
      for (gsize k = 0; k < 3 * tsr_image_npix (m); k++)
        finite &= isfinite (clean->data[k]);
      g_assert_true (finite);
      for (guint p = 0; p < G_N_ELEMENTS (poison); p++)
        {
          tsr_demosaic_rcd_poison_scratch (TRUE, poison[p]);
          g_autoptr (TsrImage) dirty = tsr_demosaic_rcd (m);
          g_autoptr (TsrImage) rows = tsr_demosaic_rows (m, TSR_DEMOSAIC_RCD, tsr_demosaic_rcd_level (m), 0, m->height);
          tsr_demosaic_rcd_poison_scratch (FALSE, 0);
          g_assert_cmpmem (dirty->data, 3 * tsr_image_npix (m) * sizeof (float), clean->data,
                           3 * tsr_image_npix (m) * sizeof (float));
          g_assert_cmpmem (rows->data, 3 * tsr_image_npix (m) * sizeof (float), clean->data,
                           3 * tsr_image_npix (m) * sizeof (float));
        }
    }
}

static void
test_demosaic_rcd (void)
{
  /* undersampled stars (FWHM 1.2–2.9 px): the same flux per channel as Malvar–He–Cutler
   * (which conserves it to 0.2 %) in a 10 px aperture, mean over 40 stars; in 5 px apertures
   * RCD reads up to ~2.6 % less, its flux correction (a σ = 1.5 px blur of radius 4) spreads
   * that far (reported). The errors against the truth of both are the point sampling of the
   * 2 px-pitch red and blue lattices, the same for both (issue #17, part C). */
  for (double sg = 0.5; sg <= 1.26; sg += 0.15)
    {
      GArray *st;
      g_autoptr (TsrImage) mm = bayer_stars (&st, sg, 50, 0, 99);
      g_autoptr (TsrImage) a = tsr_demosaic_rcd (mm), b = tsr_demosaic (mm);
      double a5[3], b5[3], a10[3], b10[3];
      demosaic_flux_bias (a, st, 50, 5, a5);
      demosaic_flux_bias (b, st, 50, 5, b5);
      demosaic_flux_bias (a, st, 50, 10, a10);
      demosaic_flux_bias (b, st, 50, 10, b10);
      g_test_message ("FWHM %.2f: mean flux error R G B in 10 px: rcd %+.3f %+.3f %+.3f %%, mhc %+.3f %+.3f %+.3f %%; "
                      "in 5 px: rcd %+.3f %+.3f %+.3f %%, mhc %+.3f %+.3f %+.3f %%", 2.3548 * sg, 100 * a10[0],
                      100 * a10[1], 100 * a10[2], 100 * b10[0], 100 * b10[1], 100 * b10[2], 100 * a5[0], 100 * a5[1],
                      100 * a5[2], 100 * b5[0], 100 * b5[1], 100 * b5[2]);
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (a10[c] - b10[c]), <=, 0.001);
      g_array_unref (st);
    }
  /* flux: FWHM 2.8 px stars of every colour, no noise */
  GArray *stars;
  g_autoptr (TsrImage) m = bayer_stars (&stars, 1.2, 50, 0, 99);
  g_autoptr (TsrImage) rcd = tsr_demosaic_rcd (m), mhc = tsr_demosaic (m);
  double wr[3], wm[3];
  demosaic_flux_error (rcd, stars, 50, wr);
  demosaic_flux_error (mhc, stars, 50, wm);
  g_test_message ("worst star flux error R G B: rcd %.3f %.3f %.3f %%, mhc %.3f %.3f %.3f %%", 100 * wr[0],
                  100 * wr[1], 100 * wr[2], 100 * wm[0], 100 * wm[1], 100 * wm[2]);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (wr[c], <, 0.01);
  /* native samples kept */
  for (int y = 10; y < 20; y++)
    for (int x = 10; x < 20; x++)
      {
        int c = tsr_cfa_color (m->cfa, x, y);
        g_assert_cmpfloat (tsr_image_plane (rcd, c)[y * m->width + x], ==, m->data[y * m->width + x]);
      }
  /* scale invariance: twice the input is twice the output */
  g_autoptr (TsrImage) m2 = tsr_image_copy (m);
  for (gsize k = 0; k < tsr_image_npix (m2); k++)
    m2->data[k] *= 2;
  g_autoptr (TsrImage) rcd2 = tsr_demosaic_rcd (m2);
  for (gsize k = 0; k < 3 * tsr_image_npix (m2); k += 101)
    g_assert_cmpfloat (fabs (rcd2->data[k] - 2 * rcd->data[k]), <=, 1e-4 * fabs (rcd2->data[k]) + 1e-3);
  g_array_unref (stars);

  /* tiny and odd-sized mosaics, masked samples: every output finite, native samples kept,
   * the mask copied */
  const int sizes[][2] = { { 1, 1 }, { 2, 3 }, { 5, 7 }, { 9, 4 }, { 17, 13 } };
  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++)
    {
      g_autoptr (TsrImage) tm = tsr_image_new (sizes[t][0], sizes[t][1], 1);
      tm->cfa = TSR_CFA_GBRG;
      for (gsize k = 0; k < tsr_image_npix (tm); k++)
        tm->data[k] = (float) (k % 7) * 3 - 4;
      tm->mask[0] = 0;
      g_autoptr (TsrImage) tr = tsr_demosaic_rcd (tm);
      g_assert_nonnull (tr);
      g_assert_cmpint (tr->channels, ==, 3);
      g_assert_cmpint (tr->mask[0], ==, 0);
      for (gsize k = 0; k < 3 * tsr_image_npix (tm); k++)
        g_assert_true (isfinite (tr->data[k]));
      for (int y = 0; y < tm->height; y++)
        for (int x = 0; x < tm->width; x++)
          if (x + y > 0)
            g_assert_cmpfloat (tsr_image_plane (tr, tsr_cfa_color (tm->cfa, x, y))[y * tm->width + x], ==,
                               tm->data[y * tm->width + x]);
    }

  /* colour noise: correlation of R and B on a flat noisy sky, per pixel and in 8×8 bins */
  GArray *none;
  g_autoptr (TsrImage) flat = bayer_stars (&none, 1.2, 100, 10, 5);
  g_array_unref (none);
  /* the same noise without stars: a blank Bayer frame */
  g_autoptr (GRand) rng = g_rand_new_with_seed (11);
  for (gsize k = 0; k < tsr_image_npix (flat); k++)
    flat->data[k] = (float) (100 + 10 * gauss_noise (rng));
  g_autoptr (TsrImage) fr = tsr_demosaic_rcd (flat), fm = tsr_demosaic (flat);
  gsize n = tsr_image_npix (flat);
  double cr = correlation (fr->data, fr->data + 2 * n, n), cm = correlation (fm->data, fm->data + 2 * n, n);
  g_test_message ("R–B noise correlation per pixel: rcd %.3f, mhc %.3f", cr, cm);
  g_assert_cmpfloat (cr, <, cm);
}

/* The outlier screen (tsr-cosmetic.c) only skips samples the exact test would not flag: the
 * counts through the screen equal those of the exact test at every sample, on noise with
 * stars, saturated cores, invalid samples and samples placed a hair either side of the
 * threshold (c − median = thr · (1 ± ε)), mono and Bayer steps. A screen tighter than the
 * bound (e.g. at 1.05 thr) misses the samples just above the threshold and fails here. */
static void
test_cosmetic_screen (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (4040);
  const int W = 160, H = 120;
  const double eps[] = { 1e-6, 1e-3, 0.02, 0.1, 0.2 };
  guint flagged_near = 0, compared = 0;
  for (int trial = 0; trial < 12; trial++)
    {
      const int st = trial % 2 ? 2 : 1;
      const float sigma = trial < 6 ? 5.0f : 0.37f, thr = 5.0f * sigma;
      const float level = trial % 3 == 0 ? 100.0f : (trial % 3 == 1 ? 3000.0f : -40.0f);
      g_autofree float *pl = g_new (float, (gsize) W * H);
      g_autofree guint8 *mask = g_new (guint8, (gsize) W * H);
      for (int k = 0; k < W * H; k++)
        {
          pl[k] = level + sigma * (float) gauss_noise (rng);
          mask[k] = g_rand_double (rng) > 0.002;
        }
      /* stars (cores of one or two pixels, the brightest flat-topped as if saturated) */
      for (int i = 0; i < 30; i++)
        {
          double sx = g_rand_double_range (rng, 4, W - 4), sy = g_rand_double_range (rng, 4, H - 4);
          double f = sigma * g_rand_double_range (rng, 5, 2000), wd = g_rand_double_range (rng, 0.5, 2.0);
          for (int y = (int) sy - 6; y <= (int) sy + 6; y++)
            for (int x = (int) sx - 6; x <= (int) sx + 6; x++)
              if (x >= 0 && y >= 0 && x < W && y < H)
                {
                  double r2 = ((x - sx) * (x - sx) + (y - sy) * (y - sy)) / (wd * wd);
                  pl[y * W + x] = MIN (pl[y * W + x] + (float) (f * exp (-0.5 * r2)), level + 400 * sigma);
                }
        }
      /* near-threshold sites on a 12-px lattice: 8 same-colour neighbours with median m exactly
       * (symmetric offsets), the direct neighbours at m, the centre thr·(1 ± ε) above or below */
      for (int y = 6, n = 0; y + 6 < H; y += 12)
        for (int x = 6; x + 6 < W; x += 12, n++)
          {
            float m = level + sigma * (float) gauss_noise (rng);
            static const float off[8] = { -3, -2, -1, -0.5f, 0.5f, 1, 2, 3 };
            static const int nb[8][2] = { { -1, -1 }, { 0, -1 }, { 1, -1 }, { -1, 0 }, { 1, 0 }, { -1, 1 }, { 0, 1 }, { 1, 1 } };
            int perm = g_rand_int_range (rng, 0, 8);
            for (int q = 0; q < 8; q++)
              {
                int o = (y + nb[q][1] * st) * W + x + nb[q][0] * st;
                pl[o] = m + 0.01f * sigma * off[(q + perm) % 8];
                mask[o] = 1;
              }
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                if (st == 2 && (dx || dy))
                  pl[(y + dy) * W + x + dx] = m;
            double e = eps[n % G_N_ELEMENTS (eps)] * ((n / G_N_ELEMENTS (eps)) % 2 ? 1 : -1);
            float sign = (n / (2 * G_N_ELEMENTS (eps))) % 2 ? -1.0f : 1.0f;
            pl[y * W + x] = m + sign * thr * (float) (1.0 + e);
            mask[y * W + x] = 1;
          }
      g_autofree guint8 *h1 = g_new0 (guint8, (gsize) W * H), *c1 = g_new0 (guint8, (gsize) W * H);
      g_autofree guint8 *h2 = g_new0 (guint8, (gsize) W * H), *c2 = g_new0 (guint8, (gsize) W * H);
      tsr_cosmetic_count_plane (pl, mask, W, H, st, thr, TRUE, h1, c1);
      tsr_cosmetic_count_plane (pl, mask, W, H, st, thr, FALSE, h2, c2);
      for (int y = 6; y + 6 < H; y += 12)
        for (int x = 6; x + 6 < W; x += 12)
          flagged_near += h2[y * W + x] + c2[y * W + x];
      for (int k = 0; k < W * H; k++)
        {
          if (h1[k] != h2[k] || c1[k] != c2[k])
            g_error ("trial %d: sample (%d, %d): screened hot %u cold %u, exact hot %u cold %u", trial, k % W, k / W,
                     h1[k], c1[k], h2[k], c2[k]);
          compared++;
        }
    }
  g_test_message ("%u samples compared; %u near-threshold sites flagged by the exact test", compared, flagged_near);
  /* the sites just above the threshold were flagged (so the comparison covered them) */
  g_assert_cmpuint (flagged_near, >=, 60);
}

/* 10 RGGB frames 240×200, sky 100, σ 5, 25 stars drifting 3 px per frame, 24 hot pixels
 * (+8 σ … +200 σ) and 6 cold ones at fixed sensor positions. */
#define CO_W 240
#define CO_H 200
#define CO_N 10

static void
test_cosmetic_session (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("post-cosmetic");
  g_autoptr (GRand) rng = g_rand_new_with_seed (77);
  g_autoptr (GArray) stars = random_stars (rng, CO_W, CO_H, 25, 40, 18, 3000, 150000);
  int hx[30], hy[30];
  for (int i = 0; i < 30; i++)
    {
      hx[i] = g_rand_int_range (rng, 12, CO_W - 12);
      hy[i] = g_rand_int_range (rng, 12, CO_H - 12);
    }
  for (int f = 0; f < CO_N; f++)
    {
      g_autoptr (TsrImage) m = tsr_image_new (CO_W, CO_H, 1);
      m->cfa = TSR_CFA_RGGB;
      for (gsize k = 0; k < tsr_image_npix (m); k++)
        m->data[k] = (float) (100 + 5 * gauss_noise (rng));
      for (guint i = 0; i < stars->len; i++)
        {
          const Star *st = &g_array_index (stars, Star, i);
          add_star (m->data, CO_W, CO_H, st->x + 3.0 * f - 15, st->y + 2.0 * f - 10, st->flux, 1.1);
        }
      for (int i = 0; i < 30; i++)
        m->data[hy[i] * CO_W + hx[i]] = i < 24 ? 100 + 5 * (8 + 8 * i) : 5;
      g_autofree char *name = g_strdup_printf ("f%02d.fits", f);
      g_autofree char *path = write_image (dir, name, m);
    }
  const char *paths[] = { dir, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &error);
  g_assert_no_error (error);
  TsrCosmeticParams cp = { 5.0, 0.6, 12, 0 };
  TsrCosmetic *c = tsr_cosmetic_find (s, &cp, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  const guint8 *map = tsr_cosmetic_map (c);
  guint found = 0;
  for (int i = 0; i < 30; i++)
    found += map[hy[i] * CO_W + hx[i]];
  g_test_message ("%lu hot, %lu cold found; %u of 30 injected", (unsigned long) tsr_cosmetic_n_hot (c),
                  (unsigned long) tsr_cosmetic_n_cold (c), found);
  g_assert_cmpuint (found, ==, 30);
  g_assert_cmpuint (tsr_cosmetic_n_hot (c) + tsr_cosmetic_n_cold (c), <=, 32);
  /* real stars untouched: nothing flagged within 4 px of any star in any frame */
  g_autoptr (TsrImage) raw_first = tsr_session_read_frame (s, 0, &error);
  for (int y = 0; y < CO_H; y++)
    for (int x = 0; x < CO_W; x++)
      {
        if (!map[y * CO_W + x])
          continue;
        gboolean injected = FALSE;
        for (int i = 0; i < 30; i++)
          injected |= hx[i] == x && hy[i] == y;
        if (injected)
          continue;
        for (guint i = 0; i < stars->len; i++)
          for (int f = 0; f < CO_N; f++)
            {
              const Star *st = &g_array_index (stars, Star, i);
              g_assert_cmpfloat (hypot (st->x + 3.0 * f - 15 - x, st->y + 2.0 * f - 10 - y), >, 4);
            }
      }
  /* the result: after correction and demosaic nothing at an injected position stands above
   * 5 σ of its neighbourhood; without it the defects do */
  tsr_cosmetic_attach (c, s);
  g_autoptr (TsrImage) fixed = tsr_session_read_frame (s, 0, &error);
  g_assert_no_error (error);
  g_autoptr (TsrImage) rgb_raw = tsr_demosaic_rcd (raw_first), rgb = tsr_demosaic_rcd (fixed);
  double worst = 0, worst_raw = 0;
  guint n_checked = 0;
  for (int ch = 0; ch < 3; ch++)
    {
      /* the per-pixel σ of the demosaiced plane (its clipped sky spread: neighbouring
       * pixels of a demosaiced plane are correlated, so pixel differences would understate it) */
      double sig;
      tsr_sky_level (tsr_image_plane (rgb, ch), rgb->mask, tsr_image_npix (rgb), &sig);
      for (int i = 0; i < 30; i++)
        {
          /* a defect next to a star of this frame has no flat neighbourhood to compare with */
          gboolean near = FALSE;
          for (guint j = 0; j < stars->len; j++)
            {
              const Star *st = &g_array_index (stars, Star, j);
              near |= hypot (st->x - 15 - hx[i], st->y - 10 - hy[i]) < 10;
            }
          if (near)
            continue;
          n_checked += ch == 0;
        for (int dy = -1; dy <= 1; dy++)
          for (int dx = -1; dx <= 1; dx++)
            {
              int x = hx[i] + dx, y = hy[i] + dy;
              float v[56];   /* the 9×9 square less its central 5×5 */
              int n = 0;
              for (int yy = -4; yy <= 4; yy++)
                for (int xx = -4; xx <= 4; xx++)
                  if (MAX (abs (xx), abs (yy)) >= 3)
                    v[n++] = tsr_image_plane (rgb, ch)[(y + yy) * CO_W + x + xx];
              qsort (v, n, sizeof (float), cmp_float);
              double med = 0.5 * (v[n / 2 - 1] + v[n / 2]);
              double dev = fabs (tsr_image_plane (rgb, ch)[y * CO_W + x] - med) / sig;
              if (dev > 5)
                g_test_message ("defect %d (%d, %d) channel %d: %.1f σ (raw %g fixed %g)", i, x, y, ch, dev,
                                raw_first->data[hy[i] * CO_W + hx[i]], fixed->data[hy[i] * CO_W + hx[i]]);
              worst = MAX (worst, dev);
              worst_raw = MAX (worst_raw, fabs (tsr_image_plane (rgb_raw, ch)[y * CO_W + x] - med) / sig);
            }
        }
    }
  g_test_message ("largest deviation at %u defects from their neighbourhood: %.2f σ corrected, %.1f σ uncorrected",
                  n_checked, worst, worst_raw);
  g_assert_cmpuint (n_checked, >=, 20);
  g_assert_cmpfloat (worst_raw, >, 5);
  g_assert_cmpfloat (worst, <, 5);
  /* star pixels are as read: the first star's core unchanged */
  const Star *st0 = &g_array_index (stars, Star, 0);
  gsize k0 = (gsize) lround (st0->y - 10) * CO_W + lround (st0->x - 15);
  g_assert_cmpfloat (fixed->data[k0], ==, raw_first->data[k0]);
  gboolean hist = FALSE;
  for (guint i = 0; i < tsr_header_n_cards (fixed->header); i++)
    hist |= strstr (tsr_header_card (fixed->header, i), "cosmetic") != NULL;
  g_assert_true (hist);
  tsr_test_rmtree (dir);
}

/* TBQR of a session; the result */
static TsrImage *
tbqr_result (TsrSession *s, TsrAnalysis **a_out)
{
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  TsrAnalysis *a = tsr_tbqr_analyse (s, &p.tbqr, &p.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh (a, &p.tbqr, &e);
  g_assert_no_error (e);
  TsrReconstruction *r = tsr_tbqr_accumulate (a, w, &p.tbqr, &p.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrImage *res = tsr_image_ref (r->result);
  tsr_reconstruction_free (r);
  *a_out = a;
  return res;
}

/* Per hot defect of the map and per frame, its place in the result (the frame's transform
 * inverted): the largest deviation of the 3×3 pixels there from the ring 3–4 px away, in σ of
 * the channel's sky; places within 8 px of a detected star are left out. Returns how many
 * stand above 5 σ and the largest. */
static guint
hot_residues (const TsrImage *res, const TsrAnalysis *a, const guint8 *map, int w, int h, double *worst, guint *n_checked)
{
  gsize n = tsr_image_npix (res);
  g_autoptr (TsrImage) lum = tsr_image_new (res->width, res->height, 1);
  memcpy (lum->mask, res->mask, n);
  for (gsize k = 0; k < n; k++)
    lum->data[k] = (res->data[k] + res->data[n + k] + res->data[2 * n + k]) / 3;
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  sp.detect_sigma = 3;
  g_autoptr (TsrStarList) sl = tsr_stars_detect (lum, &sp, NULL, NULL);
  g_assert_nonnull (sl);
  double sig[3];
  for (int c = 0; c < 3; c++)
    tsr_sky_level (tsr_image_plane (res, c), res->mask, n, &sig[c]);
  guint above = 0;
  *worst = 0;
  *n_checked = 0;
  for (guint f = 0; f < a->reg->n_frames; f++)
    {
      TsrTransform inv;
      if (a->reg->frames[f].gate || !tsr_transform_invert (&a->reg->frames[f].transform, &inv))
        continue;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            if (!map[(gsize) y * w + x])
              continue;
            double xr, yr;
            tsr_transform_apply (&inv, x, y, &xr, &yr);
            int cx = (int) lround (xr), cy = (int) lround (yr);
            if (cx < 6 || cy < 6 || cx >= res->width - 6 || cy >= res->height - 6)
              continue;
            gboolean near = FALSE;
            for (guint i = 0; i < sl->stars->len && !near; i++)
              {
                const TsrStar *st = &g_array_index (sl->stars, TsrStar, i);
                near = hypot (st->x - xr, st->y - yr) < 8;
              }
            if (near)
              continue;
            (*n_checked)++;
            double dev = 0;
            for (int c = 0; c < 3; c++)
              {
                const float *pl = tsr_image_plane (res, c);
                float v[56];
                int m = 0;
                for (int dy = -4; dy <= 4; dy++)
                  for (int dx = -4; dx <= 4; dx++)
                    if (MAX (abs (dx), abs (dy)) >= 3)
                      v[m++] = pl[(gsize) (cy + dy) * res->width + cx + dx];
                qsort (v, m, sizeof (float), cmp_float);
                double med = 0.5 * (v[m / 2 - 1] + v[m / 2]);
                for (int dy = -1; dy <= 1; dy++)
                  for (int dx = -1; dx <= 1; dx++)
                    dev = MAX (dev, (pl[(gsize) (cy + dy) * res->width + cx + dx] - med) / sig[c]);
              }
            above += dev > 5;
            *worst = MAX (*worst, dev);
          }
    }
  return above;
}

static void
test_ngc7023_hot_pixels (void)
{
  g_autofree char *dir = tsr_test_shared_data ("seestar-ngc7023");
  if (!dir)
    {
      g_test_skip ("../shared/data/seestar-ngc7023 is absent: skipped");
      return;
    }
  const char *paths[] = { dir, NULL };
  TsrScanOptions o = { .recursive = TRUE };
  GError *e = NULL;
  g_autoptr (TsrSession) plain = tsr_session_scan (paths, &o, NULL, &e);
  g_assert_no_error (e);
  g_autoptr (TsrSession) fixed = tsr_session_scan (paths, &o, NULL, &e);
  g_assert_no_error (e);
  TsrPostParams pp;
  tsr_post_params_init (&pp);
  TsrCosmeticParams cp = { pp.cosmetic_sigma, pp.cosmetic_fraction, pp.cosmetic_frames, 0 };
  TsrCosmetic *c = tsr_cosmetic_find (fixed, &cp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  int w = fixed->width, h = fixed->height;
  g_autofree guint8 *hot = g_new0 (guint8, (gsize) w * h);
  /* the hot ones (the cold ones leave no bright residue to look for) */
  g_autoptr (TsrImage) f0 = tsr_session_read_frame (plain, 0, &e);
  g_assert_no_error (e);
  guint n_hot = 0;
  for (gsize k = 0; k < (gsize) w * h; k++)
    if (tsr_cosmetic_map (c)[k])
      {
        int x = k % w;
        if (x >= 2 && x < w - 2 && f0->data[k] > f0->data[k + 2] && f0->data[k] > f0->data[k - 2])
          hot[k] = 1, n_hot++;
      }
  g_test_message ("NGC 7023: %lu hot, %lu cold pixels found in %u frames", (unsigned long) tsr_cosmetic_n_hot (c),
                  (unsigned long) tsr_cosmetic_n_cold (c), tsr_session_n_frames (fixed));
  g_assert_cmpuint (n_hot, >=, 20);
  tsr_cosmetic_attach (c, fixed);
  TsrAnalysis *ap = NULL, *af = NULL;
  g_autoptr (TsrImage) rp = tbqr_result (plain, &ap), rf = tbqr_result (fixed, &af);
  double wp, wf;
  guint np, nf;
  guint above_p = hot_residues (rp, ap, hot, w, h, &wp, &np), above_f = hot_residues (rf, af, hot, w, h, &wf, &nf);
  g_test_message ("hot-pixel places in the result above 5 σ of their neighbourhood: %u of %u without the correction "
                  "(worst %.1f σ), %u of %u with it (worst %.2f σ)", above_p, np, wp, above_f, nf, wf);
  g_assert_cmpuint (above_p, >, 0);
  g_assert_cmpuint (above_f, ==, 0);
  tsr_analysis_unref (ap);
  tsr_analysis_unref (af);
}

/* process with the optional steps: both HISTORY lines, the printed summary, and the
 * validation's matched-resolution noise and point-source SNR in the JSON */
static void
test_process_steps (void)
{
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 8;
  sp.width = 480;
  sp.height = 360;
  sp.cfa = TSR_CFA_RGGB;
  sp.n_trails = 0;
  g_autofree char *dir = NULL;
  g_autoptr (TsrSession) s = tsr_test_synth_session (&sp, NULL, "post-process", &dir, NULL);
  g_autofree char *tmp = tsr_test_tmpdir ("post-process-out");
  g_autofree char *out = g_build_filename (tmp, "r.fits", NULL), *json = g_build_filename (tmp, "r.json", NULL);
  g_autofree char *samples = g_build_filename (tmp, "samples.txt", NULL);
  g_assert_true (g_file_set_contents (samples, "-240,180\n20,20,16\n", -1, NULL));
  {
    /* sample edits without the step they edit are refused at once */
    const char *a0[] = { "process", dir, "-o", out, "--bg-samples", samples, NULL };
    g_autofree char *so0 = NULL, *se0 = NULL;
    g_assert_cmpint (tsr_test_run_cli (a0, &so0, &se0), !=, 0);
    g_assert_nonnull (strstr (se0, "post.background=true"));
    g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  }
  const char *args[] = { "process", dir, "-o", out, "--json", json, "--set", "post.background=true", "--set",
                         "post.colour=true", "--set", "post.colour_min_snr=10", "--bg-samples", samples, NULL };
  g_autofree char *so = NULL, *se = NULL;
  int rc = tsr_test_run_cli (args, &so, &se);
  if (rc != 0)
    g_test_message ("%s\n%s", so, se);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (so, "cosmetic correction"));
  g_assert_nonnull (strstr (so, "background: degree-2"));
  g_assert_nonnull (strstr (so, "user samples: 1 added, 1 excluded"));
  g_assert_true (has_history (out, "user samples: 1 added, 1 excluded"));
  g_assert_nonnull (strstr (so, "colour: average of"));
  g_assert_nonnull (strstr (so, "point-source SNR"));
  g_assert_true (has_history (out, "tessera background"));
  g_assert_true (has_history (out, "tessera colour"));
  g_assert_true (has_history (out, "norm.demosaic=rcd"));
  g_autofree char *text = tsr_test_read_file (json, NULL);
  const char *b = strstr (text, "\"noise_bin8_ratio\"");
  g_assert_nonnull (b);
  /* three finite numbers: "[a,b,c]" */
  const char *lb = strchr (b, '['), *rb = strchr (b, ']');
  g_assert_nonnull (lb);
  g_autofree char *arr = g_strndup (lb + 1, rb - lb - 1);
  g_auto (GStrv) parts = g_strsplit (arr, ",", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  for (int c = 0; c < 3; c++)
    {
      double v = g_ascii_strtod (parts[c], NULL);
      g_assert_true (v > 0.5 && v < 1.5);
    }
  const char *snr = strstr (text, "\"snr_result\"");
  g_assert_nonnull (snr);
  g_assert_cmpfloat (g_ascii_strtod (strchr (snr, ':') + 1, NULL), >, 3);
  {
    /* a project's sky-sample edits (the window's [samples]) are used by process, moved to the
     * result's pixels: these were made on a result twice as wide (drizzle.scale 2), so the
     * exclusion at (480.5, 360.5) is (240, 180) here — inside the 480 × 360 result */
    g_autofree char *proj = g_build_filename (tmp, "p.tessera", NULL), *out2 = g_build_filename (tmp, "r2.fits", NULL);
    const char *ptext = "[tessera]\nversion=1\n[post]\nbackground=true\n[samples]\nwidth=960\n"
                        "edits=40.5,40.5,32;-480.5,360.5;\n";
    g_assert_true (g_file_set_contents (proj, ptext, -1, NULL));
    const char *a2[] = { "process", dir, "-o", out2, "--config", proj, NULL };
    g_autofree char *so2 = NULL, *se2 = NULL;
    int rc2 = tsr_test_run_cli (a2, &so2, &se2);
    if (rc2 != 0)
      g_test_message ("%s\n%s", so2, se2);
    g_assert_cmpint (rc2, ==, 0);
    g_assert_nonnull (strstr (so2, "the project's sky samples: 1 added, 1 excluded"));
    g_assert_true (has_history (out2, "user samples: 1 added, 1 excluded"));
  }
  tsr_test_rmtree (tmp);
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/post/background-gradient", test_background_gradient);
  g_test_add_func ("/post/background-errors", test_background_errors);
  g_test_add_func ("/post/background-edits", test_background_edits);
  g_test_add_func ("/post/sample-file", test_sample_file);
  g_test_add_func ("/post/background-progress", test_background_progress);
  g_test_add_func ("/post/colour-cast", test_colour_cast);
  g_test_add_func ("/post/cli", test_post_cli);
  g_test_add_func ("/post/demosaic-rcd", test_demosaic_rcd);
  g_test_add_func ("/post/demosaic-rcd-scratch", test_demosaic_rcd_scratch);
  g_test_add_func ("/post/demosaic-rows", test_demosaic_rows);
  g_test_add_func ("/post/cosmetic-session", test_cosmetic_session);
  g_test_add_func ("/post/cosmetic-screen", test_cosmetic_screen);
  g_test_add_func ("/post/process-steps", test_process_steps);
  g_test_add_func ("/post/data/ngc7023-hot-pixels", test_ngc7023_hot_pixels);
  return g_test_run ();
}
