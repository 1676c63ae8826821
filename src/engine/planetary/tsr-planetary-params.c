/* tsr-planetary-params.c — the planetary and wavelet jobs' parameters: defaults and key
 * tables ("planetary.*", "wavelets.*") for --set, projects and the window. */
#include "tsr-planetary.h"
#include "tsr-error.h"
#include "tsr-keys.h"
#include <glib/gi18n.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
tsr_wavelet_params_init (TsrWaveletParams *p)
{
  memset (p, 0, sizeof *p);
  p->n_layers = 5;
  for (int j = 0; j < TSR_WAVELET_MAX_LAYERS; j++)
    p->gains[j] = 1.0;
  p->n_gains = 5;
  p->n_thresholds = 5;
}

void
tsr_planetary_params_init (TsrPlanetaryParams *p)
{
  memset (p, 0, sizeof *p);
  p->align = TSR_PALIGN_AUTO;
  p->local = TRUE;
  p->ap_size = 0;
  p->ap_overlap = 0.5;
  p->search = 6;
  p->ap_min_structure = 3.0;
  p->stack = TSR_PSTACK_BEST_FRACTION;
  p->best_fraction = 0.5;
  p->reference_fraction = 0.25;
  p->quality_sigma = 1.0;
  p->channel_align = TRUE;
  p->rotation = TSR_PROT_AUTO;
  p->rotation_min = 1.0;
  p->sharpen = TSR_PSHARPEN_AUTO;
  p->sharpen_max = 2.0;
  p->n_threads = 0;
}

static const char *const align_names[] = { "auto", "disc", "surface", NULL };
static const char *const stack_names[] = { "best_fraction", "quality_weight", "mean", NULL };
static const char *const interp_names[] = { "lanczos3", "cubic", NULL };
static const char *const rotation_names[] = { "auto", "off", "on", NULL };
static const char *const sharpen_names[] = { "auto", "off", NULL };

#define P TsrPlanetaryParams
static const TsrParamSpec planetary_specs[] = {
  TSR_KEY_ENUM (P, "planetary.align", align, align_names,
                N_("global alignment: auto (disc centroid when a disc is found), disc, surface (phase correlation)")),
  TSR_KEY_BOOL (P, "planetary.local", local, N_("alignment points (local warp field)")),
  TSR_KEY_INT (P, "planetary.ap_size", ap_size, 0, 512, N_("alignment-point box, px (0 = auto)")),
  TSR_KEY_DOUBLE (P, "planetary.ap_overlap", ap_overlap, 0.25, 0.75, N_("fraction of the box shared with the next point")),
  TSR_KEY_INT (P, "planetary.search", search, 1, 64, N_("alignment-point search radius, px")),
  TSR_KEY_DOUBLE (P, "planetary.ap_structure", ap_min_structure, 0, 1e6,
                  N_("minimum structure of an alignment point (gradient energy / noise energy)")),
  TSR_KEY_ENUM (P, "planetary.stack", stack, stack_names, N_("per point: best_fraction, quality_weight or mean")),
  TSR_KEY_DOUBLE (P, "planetary.best_fraction", best_fraction, 0.01, 1,
                  N_("fraction of the frames stacked per alignment point")),
  TSR_KEY_DOUBLE (P, "planetary.reference_fraction", reference_fraction, 0.01, 1,
                  N_("fraction of the best frames averaged into the reference")),
  TSR_KEY_DOUBLE (P, "planetary.quality_sigma", quality_sigma, 0.3, 5, N_("pre-blur of the quality measure, px")),
  TSR_KEY_ENUM (P, "planetary.interp", interp, interp_names,
                N_("resampling kernel of the aligned frames: lanczos3 (keeps fine detail) or cubic (Catmull-Rom)")),
  TSR_KEY_BOOL (P, "planetary.channel_align", channel_align,
                N_("register red and blue to green on the stack (atmospheric dispersion)")),
  TSR_KEY_ENUM (P, "planetary.rotation", rotation, rotation_names,
                N_("rotation and scale in the global alignment (field rotation): auto (surfaces, kept when it "
                   "matters), off, on (discs too)")),
  TSR_KEY_DOUBLE (P, "planetary.rotation_min", rotation_min, 0, 100,
                  N_("auto rotation is kept when it moves a frame corner by more than this, px")),
  TSR_KEY_ENUM (P, "planetary.sharpen", sharpen, sharpen_names,
                N_("wavelet sharpening of the result: auto (gains chosen so the noise stays at or below the "
                   "mean stack's) or off")),
  TSR_KEY_DOUBLE (P, "planetary.sharpen_max", sharpen_max, 0, 10,
                  N_("largest automatic sharpening amount (layer-2 gain = 1 + amount)")),
  TSR_KEY_BOOL (P, "planetary.stream",
                stream, N_("read the frames again for each pass instead of keeping them: memory independent of the frame count")),
  TSR_KEY_INT (P, "planetary.threads", n_threads, 0, 256, N_("worker threads (0 = all CPUs)")),
};
#undef P

#define W TsrWaveletParams
static const TsrParamSpec wavelet_specs[] = {
  TSR_KEY_INT (W, "wavelets.layers", n_layers, 1, TSR_WAVELET_MAX_LAYERS,
               N_("number of wavelet layers (scales 1, 2, 4, … px)")),
  TSR_KEY_BOOL (W, "wavelets.clip_negative", clip_negative, N_("clamp the result at 0")),
};
#undef W

/* the two list keys (comma-separated numbers) beside the table */
static const struct { const char *key, *help; } wavelet_lists[] = {
  { "wavelets.gains", N_("gain per layer, finest first, comma-separated (1 = unchanged)") },
  { "wavelets.thresholds", N_("soft noise threshold per layer in σ of that layer, comma-separated (0 = none)") },
};

const TsrParamSpec *
tsr_planetary_params_specs (guint *n)
{
  return tsr_keys_table (planetary_specs, G_N_ELEMENTS (planetary_specs), n);
}

const TsrParamSpec *
tsr_wavelet_params_specs (guint *n)
{
  return tsr_keys_table (wavelet_specs, G_N_ELEMENTS (wavelet_specs), n);
}

const char *
tsr_wavelet_list_key (guint i, const char **help)
{
  if (i >= G_N_ELEMENTS (wavelet_lists))
    return NULL;
  if (help)
    *help = wavelet_lists[i].help;
  return wavelet_lists[i].key;
}

gboolean
tsr_planetary_params_set (TsrPlanetaryParams *p, const char *key, const char *value, GError **error)
{
  const TsrParamSpec *s = tsr_keys_find (planetary_specs, G_N_ELEMENTS (planetary_specs), key);
  if (!s)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "unknown parameter '%s' (see tessera-cli planetary --help)", key);
      return FALSE;
    }
  return tsr_key_set (s, p, value, error);
}

char *
tsr_planetary_params_get_string (const TsrPlanetaryParams *p, const char *key)
{
  const TsrParamSpec *s = tsr_keys_find (planetary_specs, G_N_ELEMENTS (planetary_specs), key);
  return s ? tsr_key_get_string (s, p) : NULL;
}

static gboolean
parse_list (const char *key, const char *value, double *out, int *count, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);
  int cnt = g_strv_length (parts);
  if (cnt < 1 || cnt > TSR_WAVELET_MAX_LAYERS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: give 1–%d comma-separated numbers, got '%s'", key,
                   TSR_WAVELET_MAX_LAYERS, value);
      return FALSE;
    }
  double tmp[TSR_WAVELET_MAX_LAYERS];
  for (int i = 0; i < cnt; i++)
    {
      g_strstrip (parts[i]);
      char *end = NULL;
      tmp[i] = g_ascii_strtod (parts[i], &end);
      if (end == parts[i] || *end || !isfinite (tmp[i]) || tmp[i] < 0 || tmp[i] > 100)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: '%s' is not a number in [0, 100]", key, parts[i]);
          return FALSE;
        }
    }
  memcpy (out, tmp, cnt * sizeof (double));
  *count = cnt;
  return TRUE;
}

gboolean
tsr_wavelet_params_set (TsrWaveletParams *p, const char *key, const char *value, GError **error)
{
  if (!strcmp (key, "wavelets.gains") || !strcmp (key, "wavelets.thresholds"))
    {
      gboolean g = !strcmp (key, "wavelets.gains");
      if (!parse_list (key, value, g ? p->gains : p->thresholds, g ? &p->n_gains : &p->n_thresholds, error))
        return FALSE;
      if (g && p->n_gains > p->n_layers)
        p->n_layers = p->n_gains;
      if (!g && p->n_thresholds > p->n_layers)
        p->n_layers = p->n_thresholds;
      return TRUE;
    }
  const TsrParamSpec *s = tsr_keys_find (wavelet_specs, G_N_ELEMENTS (wavelet_specs), key);
  if (!s)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "unknown parameter '%s' (see tessera-cli wavelets --help)", key);
      return FALSE;
    }
  return tsr_key_set (s, p, value, error);
}

char *
tsr_wavelet_params_get_string (const TsrWaveletParams *p, const char *key)
{
  if (!strcmp (key, "wavelets.gains") || !strcmp (key, "wavelets.thresholds"))
    {
      gboolean g = !strcmp (key, "wavelets.gains");
      const double *v = g ? p->gains : p->thresholds;
      int cnt = g ? p->n_gains : p->n_thresholds;
      GString *str = g_string_new (NULL);
      for (int i = 0; i < cnt; i++)
        {
          g_autofree char *num = tsr_key_format_number (v[i]);
          g_string_append_printf (str, "%s%s", i ? "," : "", num);
        }
      return g_string_free (str, FALSE);
    }
  const TsrParamSpec *s = tsr_keys_find (wavelet_specs, G_N_ELEMENTS (wavelet_specs), key);
  return s ? tsr_key_get_string (s, p) : NULL;
}
