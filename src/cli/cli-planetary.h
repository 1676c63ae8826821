/* cli-planetary.h — the planetary subcommands, and the hook 'process' uses to route
 * starless sessions. */
#pragma once
#include "cli-common.h"

/* Should 'process' send these inputs to the planetary path? TRUE for SER/video files and
 * folders or files of PNG/JPEG/TIFF stills (the deep-sky path reads FITS only), and for FITS
 * sessions that tsr_starless_detect_paths finds starless. why_out: one line for the user. */
gboolean cli_planetary_detect (int argc, char **argv, char **why_out);
/* Run the planetary job on argv[1..] and write out (and mean_out, json when not NULL);
 * sets: "planetary.*" and "wavelets.*" assignments. Returns the exit status. */
int      cli_planetary_run (const char *command, int argc, char **argv, const char *out, const char *mean_out,
                            const char *json, char **sets);
