/* tsr-restore-params.c — defaults and key table of the restoration's parameters. */
#include "tsr-restore-params.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <string.h>

G_STATIC_ASSERT (sizeof (TsrRestoreStop) == sizeof (int));
G_STATIC_ASSERT (TSR_RESTORE_STOP_FIXED == 1);

static const char *const stop_choices[] = { "heldout", "fixed", NULL };

static const TsrParamSpec specs[] = {
  TSR_KEY_INT (TsrRestoreParams, "restore.branches", branches, 1, 4,
               N_("Parallel depthwise convolutions of the encoder (kernels 3, 5, 9, 15: the first n)")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.lr", lr, 1e-6, 1,
                  N_("Initial Adam learning rate of the restoration network")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.decay", decay, 0.1, 1,
                  N_("Learning-rate decay factor, applied every restore.decay_steps steps")),
  TSR_KEY_INT (TsrRestoreParams, "restore.decay_steps", decay_steps, 1, 1000000,
               N_("Steps between learning-rate decays")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.delta", delta, 0.1, 1000,
                  N_("Huber threshold of the restoration loss, in units of the pixel noise")),
  TSR_KEY_INT (TsrRestoreParams, "restore.max_steps", max_steps, 1, 1000000,
               N_("Largest number of training steps (the fixed count when restore.stop = fixed)")),
  TSR_KEY_INT (TsrRestoreParams, "restore.min_steps", min_steps, 1, 1000000,
               N_("Training steps always taken before the held-out stop may end the training")),
  TSR_KEY_INT (TsrRestoreParams, "restore.patience", patience, 1, 1000000,
               N_("Stop after this many steps without a new minimum of the held-out loss")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.min_delta", min_delta, 0, 0.5,
                  N_("Stop when the held-out minimum fell by less than this fraction over the last restore.patience steps (0 = only at a true minimum)")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.holdout", holdout, 0.001, 0.5,
                  N_("Fraction of pixels held out of the loss and the input to decide when to stop")),
  TSR_KEY_ENUM (TsrRestoreParams, "restore.stop", stop, stop_choices,
                N_("When training stops: heldout = at the minimum of the held-out loss; fixed = restore.max_steps")),
  TSR_KEY_INT (TsrRestoreParams, "restore.crop", crop, 32, 8192,
               N_("Side in pixels of the random crop trained on at each step (the whole image when smaller)")),
  TSR_KEY_BOOL (TsrRestoreParams, "restore.background", background,
                N_("Learn a background plane per frame, so the non-negative latent keeps faint signal")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.sparsity", sparsity, 0, 10,
                  N_("Weight of the L1 prior on the latent image (pushes a sky pedestal and its noise into the background planes; 0 = none)")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.sparsity_snr", sparsity_snr, 0, 100,
                  N_("The L1 prior acts only where the mean stack, smoothed by the seeing, is below this signal-to-noise ratio, so sources keep their flux (0 = everywhere)")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.psf_span", psf_span, 1, 4,
                  N_("Radius of the Moffat PSF used for a frame with too few stars, as a multiple of four standard deviations of the seeing")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.diffuse", diffuse, 0, 1000,
                  N_("Node spacing, in FWHMs, of a smooth map added to the latent that keeps faint diffuse light and lets the background dip below the fitted planes (0 = none)")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.chroma", chroma, 0, 100,
                  N_("Colour sessions: width, in FWHMs, of the window in which the mean stack's colour ratios are carried onto the restored luminance (0 = a luminance result)")),
  TSR_KEY_INT (TsrRestoreParams, "restore.psf_regions", psf_regions, 1, 3,
               N_("Field-varying PSF: each frame's PSF in a grid of this many cells per side (from the cell's own stars, else the frame's PSF scaled by a model of the field fitted to all frames' stars), interpolated between the cells' centres (1 = one PSF per frame)")),
  TSR_KEY_INT (TsrRestoreParams, "restore.subpixel", subpixel, 1, 2,
               N_("Sub-pixel latent: the restored image is drawn on a grid this many times finer than the pixels (2: four phases per pixel, each decoded by the PSF shifted by a quarter pixel, summed back onto the pixels), so a star between pixel centres keeps its flux (1 = the pixel grid)")),
  TSR_KEY_BOOL (TsrRestoreParams, "restore.blind", blind,
                N_("Learn each frame's PSF along with the image, starting from the measured one (blind restoration)")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.blind_lr", blind_lr, 0, 10,
                  N_("Blind restoration: learning rate of the PSFs as a fraction of the network's; they are learnt after restore.min_steps steps")),
  TSR_KEY_BOOL (TsrRestoreParams, "restore.mask_saturated", mask_saturated,
                N_("Count saturated pixels (and their neighbours) in the restoration's loss only as lower bounds, not as data")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.gain", gain, 0, 1e6,
                  N_("Gain in electrons per ADU for the Poisson part of the pixel noise; 0 = background RMS only")),
  TSR_KEY_INT (TsrRestoreParams, "restore.seed", seed, 0, 2147483647,
               N_("Random seed of the initialisation, the crops and the held-out pixels")),
  TSR_KEY_DOUBLE (TsrRestoreParams, "restore.memory_mb", memory_mb, 32, 1048576,
                  N_("Memory budget of the restoration in MiB (frames are kept in memory)")),
};

void
tsr_restore_params_init (TsrRestoreParams *p)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  p->branches = 3;
  p->lr = 0.002;
  p->decay = 0.95;
  p->decay_steps = 1000;
  p->delta = 2.0;
  p->max_steps = 2000;
  p->min_steps = 100;
  p->patience = 200;
  p->min_delta = 0.001;
  p->holdout = 0.05;
  p->stop = TSR_RESTORE_STOP_HELDOUT;
  p->crop = 192;
  p->background = TRUE;
  p->sparsity = 0.3;
  p->sparsity_snr = 2.0;
  p->psf_span = 2.0;
  p->diffuse = 20.0;
  p->chroma = 1.0;
  p->psf_regions = 1;
  p->subpixel = 1;
  p->blind = FALSE;
  p->blind_lr = 0.03;
  p->mask_saturated = TRUE;
  p->gain = 0.0;
  p->seed = 1;
  p->memory_mb = 2048.0;
}

const TsrParamSpec *
tsr_restore_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_restore_params_validate (const TsrRestoreParams *p, GError **error)
{
  if (!tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error))
    return FALSE;
  if (p->blind && p->psf_regions > 1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("restore.blind learns one PSF per frame: set restore.psf_regions=1 with it"));
      return FALSE;
    }
  if (p->blind && p->subpixel > 1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("restore.blind learns one PSF per frame on the pixel grid: set restore.subpixel=1 with it"));
      return FALSE;
    }
  return TRUE;
}

char *
tsr_restore_params_history (const TsrRestoreParams *p, const TsrTbqrParams *tp, const TsrRunParams *run)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "Tessera params v%d:", TSR_PARAMS_VERSION);
  guint n;
  const TsrParamSpec *t = tsr_tbqr_params_specs (&n);
  tsr_keys_history_append (s, t, n, tp);
  tsr_keys_history_append (s, specs, G_N_ELEMENTS (specs), p);
  t = tsr_run_params_specs (&n);
  tsr_keys_history_append (s, t, n, run);
  return g_string_free (s, FALSE);
}
