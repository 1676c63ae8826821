/* bench-denoise — the learned denoiser's speed and memory, the GEMM kernel's GFLOP/s, and
 * the naïve-vs-feathered tiling picture of docs/denoise.md.
 *
 *   bench-denoise [--width W --height H --threads N]   12 Mpx RGB by default
 *   bench-denoise --tiling OUT.png                      noisy | naïve tiles | feathered
 */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tessera.h"

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
peak_mib (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

/* A generated sky (the project's generator, RGB truth) with sky and Poisson+read noise. */
static TsrImage *
noisy_sky (int w, int h, guint64 seed, double a, double sky)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.width = w;
  p.height = h;
  p.seed = seed;
  p.n_frames = 1;
  p.n_mirrored = p.n_noise = p.n_trails = 0;
  p.cfa = TSR_CFA_RGGB;
  TsrSynthTruth *t = tsr_synth_plan (&p);
  TsrImage *img = tsr_synth_render_truth (t, 3.0);
  tsr_synth_truth_free (t);
  GRand *r = g_rand_new_with_seed ((guint32) seed);
  gsize n = (gsize) img->channels * tsr_image_npix (img);
  for (gsize i = 0; i < n; i++)
    {
      double v = a * img->data[i] + sky;
      double u1 = g_rand_double (r), u2 = g_rand_double (r);
      img->data[i] = (float) (v + sqrt (-2.0 * log (1.0 - u1)) * cos (2 * G_PI * u2) * sqrt (v + 9.0));
    }
  g_rand_free (r);
  return img;
}

static double
gemm_gflops_fn (int m, int n, int k, gboolean own)
{
  float *a = g_new (float, (gsize) m * k), *b = g_new (float, (gsize) k * n), *c = g_new (float, (gsize) m * n);
  for (gsize i = 0; i < (gsize) m * k; i++)
    a[i] = (float) (i % 7) * 0.1f;
  for (gsize i = 0; i < (gsize) k * n; i++)
    b[i] = (float) (i % 5) * 0.1f;
  int reps = 0;
  gint64 t0 = g_get_monotonic_time ();
  do
    {
      if (own)
        tsr_nn_own_gemm (m, n, k, a, k, b, n, c, n, NULL, FALSE);
      else
        tsr_nn_gemm (m, n, k, a, k, b, n, c, n, NULL, FALSE);
      reps++;
    }
  while (g_get_monotonic_time () - t0 < 500000);
  double s = (g_get_monotonic_time () - t0) / 1e6;
  g_free (a);
  g_free (b);
  g_free (c);
  return 2.0 * m * n * k * reps / s / 1e9;
}

static void
paint (cairo_t *cr, const TsrImage *img, int x0, double lo, double hi)
{
  int w = img->width, h = img->height;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  unsigned char *d = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  cairo_surface_flush (s);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint32 px = 0;
        for (int c = 0; c < 3; c++)
          {
            double v = (tsr_image_plane (img, img->channels == 3 ? c : 0)[(gsize) y * w + x] - lo) / (hi - lo);
            v = CLAMP (v, 0.0, 1.0);
            px |= (guint32) (255 * sqrt (v)) << (16 - 8 * c);
          }
        *(guint32 *) (d + (gsize) y * stride + 4 * x) = px;
      }
  cairo_surface_mark_dirty (s);
  cairo_set_source_surface (cr, s, x0, 0);
  cairo_paint (cr);
  cairo_surface_destroy (s);
}

static int
tiling_picture (const char *out)
{
  /* faint signal, strong stretch: the regime where seams show */
  g_autoptr (TsrImage) img = noisy_sky (512, 384, 424242, 0.3, 400);
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  p.tile = 128;   /* small tiles: more boundaries in a small picture */
  GError *e = NULL;
  g_autoptr (TsrImage) fe = tsr_denoise_run (img, &p, NULL, NULL, NULL, NULL, &e);
  p.overlap = 0;
  g_autoptr (TsrImage) nv = fe ? tsr_denoise_run (img, &p, NULL, NULL, NULL, NULL, &e) : NULL;
  if (!nv)
    {
      fprintf (stderr, "bench-denoise: %s\n", e->message);
      return 1;
    }
  double bg, sg;
  tsr_denoise_stats (img, 1, &bg, &sg);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 3 * 512 + 20, 384);
  cairo_t *cr = cairo_create (s);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  /* stretch: sky − 1σ … sky + 4σ, square root */
  paint (cr, img, 0, bg - sg, bg + 4 * sg);
  paint (cr, nv, 512 + 10, bg - sg, bg + 4 * sg);
  paint (cr, fe, 2 * 512 + 20, bg - sg, bg + 4 * sg);
  cairo_destroy (cr);
  cairo_status_t st = cairo_surface_write_to_png (s, out);
  cairo_surface_destroy (s);
  if (st != CAIRO_STATUS_SUCCESS)
    {
      fprintf (stderr, "bench-denoise: %s: %s\n", out, cairo_status_to_string (st));
      return 1;
    }
  printf ("wrote %s: noisy | naïve 128 px tiles | overlap 0.25 + Gaussian feathering (sky −1σ…+4σ)\n", out);
  return 0;
}

int
main (int argc, char **argv)
{
  int width = 4240, height = 2832, threads = 0;
  char *tiling = NULL;
  GOptionEntry entries[] = {
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "image width", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "image height", "H" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, "worker threads (0 = one per core)", "N" },
    { "tiling", 0, 0, G_OPTION_ARG_FILENAME, &tiling, "write the naïve-vs-feathered picture", "PNG" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— learned denoiser benchmark");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *e = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &e))
    {
      fprintf (stderr, "bench-denoise: %s\n", e->message);
      return 2;
    }
  if (tiling)
    return tiling_picture (tiling);

  tsr_nn_blas_single_thread ();
  for (int own = 0; own < 2; own++)
    printf ("GEMM %s: %.1f GFLOP/s (16×8192×144: a full-resolution 3×3 layer, one band), %.1f GFLOP/s "
            "(64×4096×576: the bottleneck), one thread\n",
            own ? tsr_nn_own_kernel_name () : tsr_nn_kernel_name (), gemm_gflops_fn (16, 8192, 144, own),
            gemm_gflops_fn (64, 4096, 576, own));
  double m0 = peak_mib ();
  g_autoptr (TsrImage) img = noisy_sky (width, height, 7, 1.0, 400);
  double m1 = peak_mib ();
  printf ("input %d×%d RGB (%.1f Mpx), generated; peak RSS so far %.0f MiB (process start %.0f MiB)\n", width,
          height, width * (double) height / 1e6, m1, m0);
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  p.threads = threads;
  TsrDenoiseStats st;
  double c0 = cpu_seconds ();
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (TsrImage) out = tsr_denoise_run (img, &p, &st, NULL, NULL, NULL, &e);
  double wall = (g_get_monotonic_time () - t0) / 1e6, cpu = cpu_seconds () - c0;
  if (!out)
    {
      fprintf (stderr, "bench-denoise: %s\n", e->message);
      return 1;
    }
  printf ("denoise: %u tiles of %d px, %.0f GFLOP; wall %.1f s (of which the star-aware Wiener refinement %.1f s), "
          "CPU %.1f s (%u threads), %.1f GFLOP/s wall; peak RSS %.0f MiB (%.0f MiB above the input)\n",
          st.n_tiles, p.tile, st.gflop, wall, st.refine_seconds, cpu,
          threads ? (guint) threads : g_get_num_processors (), st.gflop / wall, peak_mib (), peak_mib () - m1);
  return 0;
}
