/* tessera-cli — every engine job, headless. */
#include <locale.h>
#ifdef __GLIBC__
#endif
#include <stdio.h>
#include <string.h>

#include "cli-common.h"
#include "tsr-config.h"

int cli_info (int argc, char **argv);
int cli_synth (int argc, char **argv);
int cli_stack (int argc, char **argv);
int cli_demo (int argc, char **argv);
int cli_register (int argc, char **argv);
int cli_process (int argc, char **argv);
int cli_deconv (int argc, char **argv);
int cli_denoise (int argc, char **argv);
int cli_restore (int argc, char **argv);
int cli_planetary (int argc, char **argv);
int cli_wavelets (int argc, char **argv);
int cli_masters (int argc, char **argv);
int cli_background (int argc, char **argv);
int cli_colour (int argc, char **argv);

typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "info", cli_info, N_("list the frames of a session: time, size, pattern, exposure, median, noise") },
  { "process", cli_process, N_("tile-based quality reconstruction: result, mean stack, report") },
  { "deconv", cli_deconv, N_("multi-frame robust deconvolution (per-frame PSFs, Huber, super-resolution)") },
  { "restore", cli_restore, N_("multi-frame restoration with a deep image prior trained on the session (AstroClearNet)") },
  { "denoise", cli_denoise, N_("learned denoiser (ResUNet on feathered tiles), linear in and out") },
  { "planetary", cli_planetary, N_("lunar/planetary stack: images, SER or video; alignment points, best fraction per point") },
  { "wavelets", cli_wavelets, N_("à trous wavelet sharpening of a linear image (--gains 2,1.5,1,1,1)") },
  { "background", cli_background, N_("subtract a smooth sky background model from a linear image (gradient removal)") },
  { "colour", cli_colour, N_("colour calibration: neutral background, white balance on the average star") },
  { "register", cli_register, N_("register frames to a reference with the validity gate; JSON table") },
  { "masters", cli_masters, N_("build calibration masters (bias, dark, flat, dark-flat) from folders of frames") },
  { "stack", cli_stack, N_("stack already aligned frames (mean, median, sigma, winsor)") },
  { "synth", cli_synth, N_("generate a synthetic session with known truth") },
  { "demo", cli_demo, N_("generate a demo session, process it and write a preview") },
};

static void
usage (FILE *to)
{
  fprintf (to, _("Usage: tessera-cli COMMAND [OPTIONS…]\n\nCommands:\n"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (to, "  %-10s %s\n", commands[i].name, _(commands[i].summary));
  fprintf (to, _("\nRun 'tessera-cli COMMAND --help' for the options of a command.\n"));
}

int
main (int argc, char **argv)
{
  tsr_prefer_huge_pages (argv);
  tsr_malloc_setup ();
  tsr_raise_open_file_limit ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, TSR_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (argc < 2 || !strcmp (argv[1], "--help") || !strcmp (argv[1], "-h") || !strcmp (argv[1], "help"))
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (!strcmp (argv[1], "--version"))
    {
      printf ("tessera-cli %s\n", TSR_VERSION);
      return 0;
    }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (!strcmp (argv[1], commands[i].name))
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, _("tessera-cli: unknown command '%s' (see tessera-cli --help)\n"), argv[1]);
  return 2;
}
