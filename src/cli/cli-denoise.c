/* tessera-cli denoise IN.fits -o OUT.fits [--strength S] — the learned denoiser. */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static char *
denoise_params_help (void)
{
  GString *s = g_string_new (_("Parameters for --set KEY=VALUE:\n"));
  guint n = 0;
  const TsrParamSpec *specs = tsr_denoise_params_specs (&n);
  TsrDenoiseParams d;
  tsr_denoise_params_init (&d);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *def = tsr_denoise_params_get_string (&d, specs[i].key);
      g_string_append_printf (s, "  %-22s %s (default %s)\n", specs[i].key, _(specs[i].help), def);
    }
  g_string_append (s, _("\nLinear in, linear out: the output keeps the input's units, sky level and star fluxes. "
                        "Works on stacked mono or RGB images (not on raw Bayer mosaics)."));
  return g_string_free (s, FALSE);
}

int
cli_denoise (int argc, char **argv)
{
  char *out = NULL, *weights = NULL, *preview = NULL;
  char **sets = NULL;
  double strength = -INFINITY; /* -INFINITY / G_MININT: not given (anything else given is checked) */
  int threads = G_MININT;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Denoised image (float32 FITS)"), N_("OUT.fits") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "strength", 0, 0, G_OPTION_ARG_DOUBLE, &strength, N_("Blend with the input, 0…1 (default 1)"), "S" },
    { "weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, N_("Network weight file (default: built in)"), N_("FILE") },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, N_("Worker threads (default: one per core)"), "N" },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set denoise.overlap=0.3"),
      N_("KEY=VALUE") },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("IN.fits — learned denoiser (ResUNet, feathered tiles)"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_autofree char *ph = denoise_params_help ();
  g_option_context_set_description (ctx, ph);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *weights_o = weights, *preview_o = preview;
  g_auto (GStrv) sets_o = sets;
  if (argc != 2)
    return cli_fail_msg (_("denoise: name exactly one input image (see --help)"));
  const char *in_path = argv[1];
  if (!out)
    return cli_fail_msg (_("denoise: the output file is missing (-o OUT.fits)"));
  if (cli_same_file (in_path, out) || g_strcmp0 (in_path, out) == 0)
    return cli_fail_msg (_("denoise: %s: the output would overwrite the input; choose another name"), out);

  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  GError *error = NULL;
  for (int i = 0; sets && sets[i]; i++)
    {
      g_auto (GStrv) kv = g_strsplit (sets[i], "=", 2);
      if (!kv[0] || !kv[1])
        {
          tsr_denoise_params_clear (&p);
          return cli_fail_msg (_("denoise: --set wants KEY=VALUE, got '%s'"), sets[i]);
        }
      if (!tsr_denoise_params_set (&p, g_strstrip (kv[0]), g_strstrip (kv[1]), &error))
        {
          tsr_denoise_params_clear (&p);
          return cli_fail (error);
        }
    }
  if (strength != -INFINITY)
    {
      if (!(strength >= 0.0 && strength <= 1.0))
        {
          tsr_denoise_params_clear (&p);
          return cli_fail_msg (_("denoise: --strength must be in 0…1, got %g"), strength);
        }
      p.strength = strength;
    }
  if (threads != G_MININT)
    {
      if (threads < 0 || threads > 1024)
        {
          tsr_denoise_params_clear (&p);
          return cli_fail_msg (_("denoise: --threads must be in 0…1024 (0 = one per core), got %d"), threads);
        }
      p.threads = threads;
    }
  if (weights)
    {
      g_free (p.weights);
      p.weights = g_strdup (weights);
    }
  if (!cli_check_image_name ("denoise", "-o", out, &error) || !cli_check_output (out, NULL, &error)
      || !cli_preview_check ("denoise", preview, in_path, out, NULL, &error))
    {
      tsr_denoise_params_clear (&p);
      return cli_fail (error);
    }
  g_autoptr (TsrImage) img = cli_read_linear (in_path, &error);
  if (!img)
    {
      tsr_denoise_params_clear (&p);
      return cli_fail (error);
    }
  CliProgress prog;
  cli_progress_init (&prog);
  TsrDenoiseStats st;
  g_autoptr (TsrImage) res = tsr_denoise_run (img, &p, &st, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!res)
    {
      tsr_denoise_params_clear (&p);
      g_prefix_error (&error, "%s: ", in_path);
      return cli_fail (error);
    }
  if (!cli_write_result (res, out, FALSE, preview, &error))
    {
      tsr_denoise_params_clear (&p);
      return cli_fail (error);
    }
  printf (_("denoised %d×%d %s (%u tiles of %d px, overlap %.2f, strength %.2f) in %.1f s, %.1f GFLOP/s → %s\n"),
          img->width, img->height, img->channels == 3 ? "RGB" : _("mono"), st.n_tiles, p.tile, p.overlap,
          p.strength, st.seconds, st.seconds > 0 ? st.gflop / st.seconds : 0.0, out);
  tsr_denoise_params_clear (&p);
  return 0;
}
