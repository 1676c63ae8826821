/* bench-reweigh — how long the window's live re-weighing and preview take.
 *
 * Usage: bench-reweigh [N_FRAMES [REPEATS]]   (default 100 frames, 15 repeats)
 *
 * The weighing touches no pixels: its cost is frames × tiles. A 1080×1920 session is
 * represented by a real analysis of a generated N-frame Bayer session at 270×480 (analysed
 * with the full pipeline: registration, stars, metrics), whose per-frame results are carried
 * over to the tile grid the default parameters give a 1080×1920 frame at the analysed FWHM
 * (each large tile takes the metrics of the small tile at the same relative position). The
 * re-weigh is timed on that state, with clusters off (default below 200 frames) and on.
 *
 * The preview is a weighted mean over a reduced registered cache whose longest side is at
 * most 512 px: a 1080×1920 session caches 270×480 per frame — exactly the size of the
 * generated frames, which are cached at factor 1 — so the preview timing is the real one.
 * Prints median and worst times; no assertions (see DESIGN.md, Benchmarks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
report (const char *what, double *ms, int n)
{
  qsort (ms, n, sizeof *ms, cmp_double);
  printf ("%-44s median %8.2f ms   worst %8.2f ms   (%d runs)\n", what, ms[n / 2], ms[n - 1], n);
}

/* The analysis a would have at width × height with the default tile grid. */
static TsrAnalysis *
scale_analysis (const TsrAnalysis *small, int width, int height)
{
  /* an owning copy (frame cache not shared), whose tile tables are replaced below */
  TsrAnalysis *a = tsr_analysis_copy (small);
  g_free (a->tiles);
  g_free (a->frames);
  g_free (a->tile_metrics);
  a->width = width;
  a->height = height;
  TsrProject def;
  tsr_project_init (&def);
  a->params.tile_min = def.tbqr.tile_min;
  a->tile_size = tsr_tbqr_tile_size (&def.tbqr, small->session_fwhm, width, height);
  int T = a->tile_size;
  int step = MAX (1, (int) lround (T * (1.0 - a->params.tile_overlap)));
  a->tile_step = step;
  a->tiles_x = (width - 1 + step - 1) / step + 1;
  a->tiles_y = (height - 1 + step - 1) / step + 1;
  a->n_tiles = (guint) (a->tiles_x * a->tiles_y);
  a->tiles = g_new0 (TsrTile, a->n_tiles);
  for (int j = 0; j < a->tiles_y; j++)
    for (int i = 0; i < a->tiles_x; i++)
      {
        TsrTile *t = &a->tiles[j * a->tiles_x + i];
        t->cx = MIN (i * step, width - 1);
        t->cy = MIN (j * step, height - 1);
        t->x0 = MAX (0, t->cx - T / 2);
        t->x1 = MIN (width, t->cx + T / 2 + 1);
        t->y0 = MAX (0, t->cy - T / 2);
        t->y1 = MIN (height, t->cy + T / 2 + 1);
      }
  guint n = small->reg->n_frames;
  a->frames = g_memdup2 (small->frames, sizeof (TsrFrameMetrics) * n);
  a->tile_metrics = g_new (TsrTileMetrics, (gsize) n * a->n_tiles);
  for (guint f = 0; f < n; f++)
    for (int j = 0; j < a->tiles_y; j++)
      for (int i = 0; i < a->tiles_x; i++)
        {
          int si = MIN (small->tiles_x - 1, i * small->tiles_x / a->tiles_x);
          int sj = MIN (small->tiles_y - 1, j * small->tiles_y / a->tiles_y);
          a->tile_metrics[(gsize) f * a->n_tiles + j * a->tiles_x + i]
            = small->tile_metrics[(gsize) f * small->n_tiles + sj * small->tiles_x + si];
        }
  return a;
}

int
main (int argc, char **argv)
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 100;
  int repeats = argc > 2 ? MAX (3, atoi (argv[2])) : 15;
  const char *base = g_getenv ("BENCH_DIR");
  g_autofree char *dir = g_strdup_printf ("%s/reweigh-%u", base ? base : g_get_tmp_dir (), n);
  g_autofree char *truth = g_build_filename (dir, "truth.json", NULL);
  GError *e = NULL;
  if (!g_file_test (truth, G_FILE_TEST_EXISTS))
    {
      TsrSynthParams sp;
      tsr_synth_params_init (&sp);
      sp.n_frames = n;
      sp.width = 270;
      sp.height = 480;
      sp.cfa = TSR_CFA_GRBG;
      sp.shift_max = 8;
      TsrSynthTruth *t = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &e);
      if (!t)
        {
          fprintf (stderr, "bench-reweigh: %s\n", e->message);
          return 1;
        }
      tsr_synth_truth_free (t);
    }
  const char *paths[] = { dir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  TsrProject p;
  tsr_project_init (&p);
  p.tbqr.tile_min = 16;
  gint64 t0 = g_get_monotonic_time ();
  TsrAnalysis *small = s ? tsr_tbqr_analyse (s, &p.tbqr, &p.run, NULL, NULL, NULL, &e) : NULL;
  if (!small)
    {
      fprintf (stderr, "bench-reweigh: %s\n", e ? e->message : "analysis failed");
      return 1;
    }
  printf ("analysed %u frames of 270x480 in %.1f s (FWHM %.2f px, %u tiles)\n", small->reg->n_frames,
          (g_get_monotonic_time () - t0) / 1e6, small->session_fwhm, small->n_tiles);

  TsrAnalysis *big = scale_analysis (small, 1080, 1920);
  printf ("1080x1920 state: %u frames x %u tiles (tile %d px, step %d)\n", big->reg->n_frames, big->n_tiles,
          big->tile_size, big->tile_step);

  double *ms = g_new (double, repeats);
  for (int cl = 0; cl < 2; cl++)
    {
      TsrTbqrParams q = big->params;
      q.clusters = cl ? TSR_CLUSTER_ON : TSR_CLUSTER_OFF;
      for (int r = 0; r < repeats; r++)
        {
          q.global_k = 0.3 + 0.1 * r;   /* as a slider drag */
          gint64 a0 = g_get_monotonic_time ();
          TsrWeights *w = tsr_tbqr_weigh (big, &q, &e);
          ms[r] = (g_get_monotonic_time () - a0) / 1e3;
          if (!w)
            {
              fprintf (stderr, "bench-reweigh: %s\n", e->message);
              return 1;
            }
          tsr_weights_unref (w);
        }
      report (cl ? "re-weigh 1080x1920, clusters on" : "re-weigh 1080x1920, clusters off", ms, repeats);
    }

  /* preview: the reduced cache of a 1080×1920 session is 270×480 */
  t0 = g_get_monotonic_time ();
  TsrPreviewCache *cache = tsr_preview_cache_build (small, 512, 0, NULL, NULL, NULL, &e);
  if (!cache)
    {
      fprintf (stderr, "bench-reweigh: %s\n", e->message);
      return 1;
    }
  int pw, ph, pc;
  tsr_preview_cache_size (cache, &pw, &ph, &pc);
  printf ("preview cache %dx%dx%d, %.1f MiB, built in %.2f s (a second read of every frame)\n", pw, ph, pc,
          tsr_preview_cache_bytes (cache) / 1048576.0, (g_get_monotonic_time () - t0) / 1e6);
  for (int r = 0; r < repeats; r++)
    {
      TsrTbqrParams q = small->params;
      q.global_k = 0.3 + 0.1 * r;
      gint64 a0 = g_get_monotonic_time ();
      TsrWeights *w = tsr_tbqr_weigh (small, &q, &e);
      TsrImage *img = w ? tsr_preview_render (cache, w, NULL, &e) : NULL;
      TsrStretch st;
      if (img)
        tsr_stretch_auto (img, &st);
      cairo_surface_t *surf = img ? tsr_render_surface (img, &st, 1) : NULL;
      ms[r] = (g_get_monotonic_time () - a0) / 1e3;
      if (!surf)
        {
          fprintf (stderr, "bench-reweigh: %s\n", e ? e->message : "preview failed");
          return 1;
        }
      cairo_surface_destroy (surf);
      tsr_image_unref (img);
      tsr_weights_unref (w);
    }
  report ("preview update (weigh + mean + stretch)", ms, repeats);
  g_free (ms);
  tsr_preview_cache_unref (cache);
  tsr_analysis_unref (big);
  tsr_analysis_unref (small);
  return 0;
}
