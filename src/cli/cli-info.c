/* tessera-cli info SESSION… — a table of the session's frames. */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>

typedef struct
{
  float *median;
  float *noise;
} InfoStats;

static gboolean
measure_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
               GCancellable *cancellable, GError **error)
{
  InfoStats *st = user_data;
  float med = 0, mad = 0;
  tsr_plane_median_mad (img->data, img->mask, tsr_image_npix (img), 1 << 20, &med, &mad);
  st->median[index] = med;
  st->noise[index] = tsr_plane_noise (img->data, img->mask, img->width, img->height,
                                      img->cfa != TSR_CFA_NONE ? 2 : 1);
  return TRUE;
}

static void
cell (char *buf, gsize size, const char *fmt, double v)
{
  if (isfinite (v))
    g_snprintf (buf, size, fmt, v);
  else
    g_strlcpy (buf, "-", size);
}

/* The text columns of the table, padded by characters (printf's %-46s pads by bytes: a name
 * with ä or a translated heading shifted the rest of its row), wide enough for a DATE-OBS
 * with microseconds (Seestar: 26 characters); a longer cell pushes its row, never cut. */
static void
text_columns (const char *num, const char *file, const char *time, const char *size, const char *pattern)
{
  const char *cells[] = { num, file, time, size, pattern };
  static const int widths[] = { 4, 46, 26, 11, 7 };
  for (guint c = 0; c < G_N_ELEMENTS (cells); c++)
    {
      fputs (c ? "  " : "", stdout);
      fputs (cells[c], stdout);
      for (glong k = g_utf8_strlen (cells[c], -1); k < widths[c]; k++)
        putchar (' ');
    }
}

int
cli_info (int argc, char **argv)
{
  gboolean recursive = FALSE, headers_only = FALSE;
  GOptionEntry entries[] = {
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, N_("Include subfolders"), NULL },
    { "headers-only", 0, 0, G_OPTION_ARG_NONE, &headers_only, N_("Do not read pixels (no median/noise)"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("SESSION… — list the frames of a session"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (ctx, _("SESSION is a folder of frames (FITS, XISF, TIFF or camera raw) or a list of files."));
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  if (argc < 2)
    return cli_fail_msg (_("info: name a session folder or FITS files (see --help)"));

  GError *error = NULL;
  g_autoptr (TsrSession) s = cli_scan (argc, argv, recursive, &error);
  if (!s)
    return cli_fail (error);
  guint n = tsr_session_n_frames (s);
  InfoStats st = { g_new0 (float, n), g_new0 (float, n) };
  for (guint i = 0; i < n; i++)
    st.median[i] = st.noise[i] = NAN;
  if (!headers_only)
    {
      CliProgress prog;
      cli_progress_init (&prog);
      TsrMapOptions opt;
      tsr_map_options_init (&opt, _("Reading"));
      gboolean ok = tsr_frames_map (s, &opt, measure_frame, &st, cli_progress_cb, &prog,
                                    cli_cancellable (), &error);
      cli_progress_end (&prog);
      if (!ok)
        {
          g_free (st.median);
          g_free (st.noise);
          return cli_fail (error);
        }
    }
  text_columns ("#", _("file"), _("time (DATE-OBS)"), _("size"), _("pattern"));
  printf ("  %8s  %9s  %8s\n", _("exp [s]"), _("median"), _("noise"));
  for (guint i = 0; i < n; i++)
    {
      TsrFrameInfo *fi = tsr_session_frame (s, i);
      char size[32];
      g_snprintf (size, sizeof size, "%dx%d%s", fi->info.width, fi->info.height,
                  fi->info.channels == 3 ? "x3" : "");
      /* unknown (no EXPTIME, --headers-only): "-" as for a missing DATE-OBS, not "nan" */
      char exp[32], med[32], noise[32];
      cell (exp, sizeof exp, "%.2f", fi->info.exposure);
      cell (med, sizeof med, "%.1f", st.median[i]);
      cell (noise, sizeof noise, "%.2f", st.noise[i]);
      char num[16];
      g_snprintf (num, sizeof num, "%u", i + 1);
      text_columns (num, fi->name, fi->info.date_obs ? fi->info.date_obs : "-", size, tsr_cfa_name (fi->info.cfa));
      printf ("  %8s  %9s  %8s\n", exp, med, noise);
    }
  printf (_("%u frames, %d×%d, %s\n"), n, s->width, s->height,
          s->cfa != TSR_CFA_NONE ? tsr_cfa_name (s->cfa) : (s->channels == 3 ? "RGB" : _("mono")));
  g_free (st.median);
  g_free (st.noise);
  return 0;
}
