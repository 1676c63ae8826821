/* tessera-cli wavelets IN -o OUT --gains 2,1.5,1,1,1 — à trous wavelet sharpening. */
#include "cli-common.h"

#include <stdio.h>

int
cli_wavelets (int argc, char **argv)
{
  char *out = NULL, *gains = NULL, *thresholds = NULL, *preview = NULL;
  int layers = G_MININT; /* not given */
  gboolean clip = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Sharpened image (.fits, .tif or .png)"), N_("OUT") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "gains", 'g', 0, G_OPTION_ARG_STRING, &gains, N_("Gain per layer, finest first (default 1,1,1,1,1)"), N_("G1,G2,…") },
    { "thresholds", 't', 0, G_OPTION_ARG_STRING, &thresholds, N_("Soft noise threshold per layer in σ (default 0)"), N_("T1,T2,…") },
    { "layers", 'n', 0, G_OPTION_ARG_INT, &layers, N_("Number of layers (default 5, or the number of gains)"), N_("N") },
    { "clip-negative", 0, 0, G_OPTION_ARG_NONE, &clip, N_("Clamp the result at 0"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("IN — à trous (B3 spline) wavelet sharpening"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (ctx, _("Layer j holds structures of about 2^(j-1) px. Works on linear data "
                                           "(FITS, TIFF, PNG, JPEG input); unit gains reproduce the input."));
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *gains_o = gains, *thr_o = thresholds, *preview_o = preview;
  if (argc != 2)
    return cli_fail_msg (_("wavelets: name one input image (see --help)"));
  if (!out)
    return cli_fail_msg (_("wavelets: the output file is missing (-o OUT.fits)"));
  if (cli_same_file (argv[1], out))
    return cli_fail_msg (_("wavelets: %s: the output would overwrite the input; choose another name"), out);
  TsrWaveletParams p;
  tsr_wavelet_params_init (&p);
  GError *error = NULL;
  if (!tsr_planetary_image_name_check (out, &error)
      || !cli_preview_check ("wavelets", preview, argv[1], out, NULL, &error))
    return cli_fail (error);
  if (gains && !tsr_wavelet_params_set (&p, "wavelets.gains", gains, &error))
    return cli_fail (error);
  if (thresholds && !tsr_wavelet_params_set (&p, "wavelets.thresholds", thresholds, &error))
    return cli_fail (error);
  if (layers != G_MININT)
    {
      /* fewer layers than gains or thresholds given would drop the last ones silently */
      int listed = MAX (gains ? p.n_gains : 0, thresholds ? p.n_thresholds : 0);
      if (layers >= 1 && layers < listed)
        return cli_fail_msg (_("wavelets: --layers %d is fewer than the %d gains or thresholds given; "
                               "give one value per layer"), layers, listed);
      g_autofree char *v = g_strdup_printf ("%d", layers);
      if (!tsr_wavelet_params_set (&p, "wavelets.layers", v, &error))
        return cli_fail (error);
    }
  p.clip_negative = clip;
  g_autoptr (TsrImage) in = tsr_image_file_read (argv[1], &error);
  if (!in)
    return cli_fail (error);
  g_autoptr (TsrImage) res = tsr_wavelets_apply (in, &p, cli_cancellable (), &error);
  if (!res)
    return cli_fail (error);
  if (!cli_write_result (res, out, TRUE, preview, &error))
    return cli_fail (error);
  /* the gains of the layers used (the default list has 5 even when --layers is 3) */
  GString *gs = g_string_new (NULL);
  for (int j = 0; j < p.n_layers; j++)
    g_string_append_printf (gs, "%s%g", j ? "," : "", j < p.n_gains ? p.gains[j] : 1.0);
  g_autofree char *g = g_string_free (gs, FALSE);
  double n0, n1, s0 = tsr_planetary_sharpness (in, 0, 0, 0, 0, &n0), s1 = tsr_planetary_sharpness (res, 0, 0, 0, 0, &n1);
  printf (_("wavelets: %d layers, gains %s → %s (sharpness %.3g → %.3g, noise σ %.3g → %.3g)\n"), p.n_layers, g, out,
          s0, s1, n0, n1);
  return 0;
}
