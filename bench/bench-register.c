/* bench-register — registration time per frame next to the read+decode floor, measured
 * in one run on the same frames. Usage: bench-register [SESSION] (default: a generated
 * 1080×1920 GRBG session of 12 frames in a temporary folder). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>

#include "tessera.h"

static gboolean
touch (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
       GCancellable *cancellable, GError **error)
{
  return TRUE;
}

int
main (int argc, char **argv)
{
  GError *e = NULL;
  g_autofree char *tmp = NULL;
  const char *path = argc > 1 ? argv[1] : NULL;
  if (!path)
    {
      tmp = g_dir_make_tmp ("tessera-bench-XXXXXX", &e);
      TsrSynthParams p;
      tsr_synth_params_init (&p);
      p.n_frames = 12;
      p.width = 1080;
      p.height = 1920;
      p.cfa = TSR_CFA_GRBG;
      p.n_stars = 2000;
      TsrSynthTruth *t = tsr_synth_write_session (&p, tmp, NULL, NULL, NULL, &e);
      if (!t)
        {
          fprintf (stderr, "bench-register: %s\n", e->message);
          return 1;
        }
      tsr_synth_truth_free (t);
      path = tmp;
    }
  const char *paths[] = { path, NULL };
  TsrSession *s = tsr_session_scan (paths, NULL, NULL, &e);
  if (!s)
    {
      fprintf (stderr, "bench-register: %s\n", e->message);
      return 1;
    }
  guint n = tsr_session_n_frames (s);
  TsrMapOptions opt;
  tsr_map_options_init (&opt, "Reading");
  opt.n_threads = 1;
  gint64 t0 = g_get_monotonic_time ();
  tsr_frames_map (s, &opt, touch, NULL, NULL, NULL, NULL, &e);
  double read = (g_get_monotonic_time () - t0) / 1e6 / n;

  TsrRegisterParams rp;
  tsr_register_params_init (&rp);
  rp.n_threads = 1;
  t0 = g_get_monotonic_time ();
  TsrRegistration *r = tsr_register_session (s, &rp, NULL, NULL, NULL, &e);
  double reg = (g_get_monotonic_time () - t0) / 1e6 / n;
  if (!r)
    {
      fprintf (stderr, "bench-register: %s\n", e->message);
      return 1;
    }
  printf ("session: %u frames %dx%d %s (one thread)\n", n, s->width, s->height, tsr_cfa_name (s->cfa));
  printf ("read+decode floor:        %7.1f ms/frame\n", read * 1e3);
  printf ("registration (incl. read, reference choice, stars, matching, CC): %7.1f ms/frame = %.1f × the read floor\n",
          reg * 1e3, reg / read);
  printf ("valid frames: %u of %u\n", tsr_registration_n_valid (r), n);
  tsr_registration_unref (r);
  tsr_session_unref (s);
  if (tmp)
    {
      GDir *d = g_dir_open (tmp, 0, NULL);
      const char *name;
      while (d && (name = g_dir_read_name (d)))
        {
          g_autofree char *f = g_build_filename (tmp, name, NULL);
          if (g_file_test (f, G_FILE_TEST_IS_DIR))
            {
              GDir *d2 = g_dir_open (f, 0, NULL);
              const char *n2;
              while (d2 && (n2 = g_dir_read_name (d2)))
                {
                  g_autofree char *f2 = g_build_filename (f, n2, NULL);
                  g_unlink (f2);
                }
              if (d2)
                g_dir_close (d2);
              g_rmdir (f);
            }
          else
            g_unlink (f);
        }
      if (d)
        g_dir_close (d);
      g_rmdir (tmp);
    }
  return 0;
}
