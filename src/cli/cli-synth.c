/* tessera-cli synth OUTDIR … — a synthetic session with known truth. */
#include "cli-common.h"

#include <stdio.h>

int
cli_synth (int argc, char **argv)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  int frames = p.n_frames, width = p.width, height = p.height;
  gint64 seed = (gint64) p.seed;
  char *bayer = NULL;
  double shift = p.shift_max, rot = p.rotation_max_deg;
  int mirrored = p.n_mirrored, noise = p.n_noise, trails = p.n_trails;
  GOptionEntry entries[] = {
    { "frames", 'n', 0, G_OPTION_ARG_INT, &frames, N_("Number of frames (default 30)"), "N" },
    { "width", 'W', 0, G_OPTION_ARG_INT, &width, N_("Frame width in pixels"), "W" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &height, N_("Frame height in pixels"), "H" },
    { "bayer", 'b', 0, G_OPTION_ARG_STRING, &bayer, N_("Write raw Bayer mosaics with this pattern"), "RGGB|GRBG|GBRG|BGGR" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, N_("Random seed"), "S" },
    { "shift", 0, 0, G_OPTION_ARG_DOUBLE, &shift, N_("Largest shift in pixels"), "PX" },
    { "rotation", 0, 0, G_OPTION_ARG_DOUBLE, &rot, N_("Largest field rotation in degrees"), "DEG" },
    { "mirrored", 0, 0, G_OPTION_ARG_INT, &mirrored, N_("Number of mirrored (invalid) frames"), "N" },
    { "noise-only", 0, 0, G_OPTION_ARG_INT, &noise, N_("Number of noise-only frames"), "N" },
    { "trails", 0, 0, G_OPTION_ARG_INT, &trails, N_("Number of frames with a satellite trail"), "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("OUTDIR — generate a synthetic session"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (ctx, _("Writes the frames and truth.json into OUTDIR, and the noise-free truth images into OUTDIR/truth/."));
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *bayer_owned = bayer;
  if (argc != 2)
    return cli_fail_msg (_("synth: name exactly one output folder (see --help)"));
  if (frames < 1 || frames > 100000)
    return cli_fail_msg (_("synth: --frames must be in 1…100000, got %d"), frames);
  if (width < 16 || height < 16 || width > 20000 || height > 20000)
    return cli_fail_msg (_("synth: --width/--height must be in 16…20000, got %d×%d"), width, height);
  if (mirrored < 0 || noise < 0 || trails < 0 || mirrored + noise > frames)
    return cli_fail_msg (_("synth: invalid counts of mirrored/noise-only/trail frames"));
  if (!(shift >= 0 && shift <= 1000) || !(rot >= 0 && rot <= 45))
    return cli_fail_msg (_("synth: --shift must be in 0…1000 px and --rotation in 0…45°"));
  p.n_frames = frames;
  p.width = width;
  p.height = height;
  p.seed = (guint64) seed;
  p.shift_max = shift;
  p.rotation_max_deg = rot;
  p.n_mirrored = mirrored;
  p.n_noise = noise;
  p.n_trails = trails;
  if (bayer)
    {
      p.cfa = tsr_cfa_from_name (bayer);
      if (p.cfa == TSR_CFA_NONE)
        return cli_fail_msg (_("synth: --bayer must be RGGB, GRBG, GBRG or BGGR, got '%s'"), bayer);
    }
  GError *error = NULL;
  if (g_mkdir_with_parents (argv[1], 0755) != 0)
    return cli_fail_msg (_("synth: cannot create the folder %s"), argv[1]);
  CliProgress prog;
  cli_progress_init (&prog);
  TsrSynthTruth *t = tsr_synth_write_session (&p, argv[1], cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!t)
    return cli_fail (error);
  printf (_("wrote %u frames of %d×%d (%s) and the truth into %s\n"), p.n_frames, p.width, p.height,
          p.cfa != TSR_CFA_NONE ? tsr_cfa_name (p.cfa) : _("mono"), argv[1]);
  tsr_synth_truth_free (t);
  return 0;
}
