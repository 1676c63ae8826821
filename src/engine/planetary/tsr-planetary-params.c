/* tsr-planetary-params.c — the planetary and wavelet jobs' parameters: defaults and key
 * tables ("planetary.*", "wavelets.*") for --set, projects and the window. */
#include "tsr-planetary.h"
#include "tsr-error.h"
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
  p->n_threads = 0;
}

static const char *const align_names[] = { "auto", "disc", "surface", NULL };
static const char *const stack_names[] = { "best_fraction", "quality_weight", "mean", NULL };

#define PO(f) G_STRUCT_OFFSET (TsrPlanetaryParams, f)
static const TsrPKeySpec planetary_specs[] = {
  { "planetary.align", TSR_PKEY_ENUM, PO (align), 0, 0, align_names, 0, 0,
    N_("global alignment: auto (disc centroid when a disc is found), disc, surface (phase correlation)") },
  { "planetary.local", TSR_PKEY_BOOL, PO (local), 0, 1, NULL, 0, 0, N_("alignment points (local warp field)") },
  { "planetary.ap_size", TSR_PKEY_INT, PO (ap_size), 0, 512, NULL, 0, 0, N_("alignment-point box, px (0 = auto)") },
  { "planetary.ap_overlap", TSR_PKEY_DOUBLE, PO (ap_overlap), 0.25, 0.75, NULL, 0, 0,
    N_("fraction of the box shared with the next point") },
  { "planetary.search", TSR_PKEY_INT, PO (search), 1, 64, NULL, 0, 0, N_("alignment-point search radius, px") },
  { "planetary.ap_structure", TSR_PKEY_DOUBLE, PO (ap_min_structure), 0, 1e6, NULL, 0, 0,
    N_("minimum structure of an alignment point (gradient energy / noise energy)") },
  { "planetary.stack", TSR_PKEY_ENUM, PO (stack), 0, 0, stack_names, 0, 0,
    N_("per point: best_fraction, quality_weight or mean") },
  { "planetary.best_fraction", TSR_PKEY_DOUBLE, PO (best_fraction), 0.01, 1, NULL, 0, 0,
    N_("fraction of the frames stacked per alignment point") },
  { "planetary.reference_fraction", TSR_PKEY_DOUBLE, PO (reference_fraction), 0.01, 1, NULL, 0, 0,
    N_("fraction of the best frames averaged into the reference") },
  { "planetary.quality_sigma", TSR_PKEY_DOUBLE, PO (quality_sigma), 0.3, 5, NULL, 0, 0,
    N_("pre-blur of the quality measure, px") },
  { "planetary.threads", TSR_PKEY_INT, PO (n_threads), 0, 256, NULL, 0, 0, N_("worker threads (0 = all CPUs)") },
};
#undef PO

#define WO(f) G_STRUCT_OFFSET (TsrWaveletParams, f)
static const TsrPKeySpec wavelet_specs[] = {
  { "wavelets.layers", TSR_PKEY_INT, WO (n_layers), 1, TSR_WAVELET_MAX_LAYERS, NULL, 0, 0,
    N_("number of wavelet layers (scales 1, 2, 4, … px)") },
  { "wavelets.gains", TSR_PKEY_LIST, WO (gains), 0, 100, NULL, TSR_WAVELET_MAX_LAYERS, WO (n_gains),
    N_("gain per layer, finest first, comma-separated (1 = unchanged)") },
  { "wavelets.thresholds", TSR_PKEY_LIST, WO (thresholds), 0, 100, NULL, TSR_WAVELET_MAX_LAYERS, WO (n_thresholds),
    N_("soft noise threshold per layer in σ of that layer, comma-separated (0 = none)") },
  { "wavelets.clip_negative", TSR_PKEY_BOOL, WO (clip_negative), 0, 1, NULL, 0, 0, N_("clamp the result at 0") },
};
#undef WO

const TsrPKeySpec *
tsr_planetary_params_specs (guint *n)
{
  *n = G_N_ELEMENTS (planetary_specs);
  return planetary_specs;
}

const TsrPKeySpec *
tsr_wavelet_params_specs (guint *n)
{
  *n = G_N_ELEMENTS (wavelet_specs);
  return wavelet_specs;
}

static const TsrPKeySpec *
find_spec (const TsrPKeySpec *specs, guint n, const char *key)
{
  for (guint i = 0; i < n; i++)
    if (!strcmp (specs[i].key, key))
      return &specs[i];
  return NULL;
}

static gboolean
parse_double (const char *s, double *out)
{
  char *end = NULL;
  double v = g_ascii_strtod (s, &end);
  if (end == s || !isfinite (v))
    return FALSE;
  while (*end == ' ')
    end++;
  if (*end)
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
set_generic (const TsrPKeySpec *specs, guint n, void *base, const char *key, const char *value, GError **error)
{
  const TsrPKeySpec *s = find_spec (specs, n, key);
  if (!s)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "unknown parameter '%s'", key);
      return FALSE;
    }
  guint8 *b = base;
  switch (s->type)
    {
    case TSR_PKEY_INT:
    case TSR_PKEY_DOUBLE:
      {
        double v;
        if (!parse_double (value, &v) || v < s->min || v > s->max || (s->type == TSR_PKEY_INT && v != floor (v)))
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: '%s' is not %s in [%g, %g]", key, value,
                         s->type == TSR_PKEY_INT ? "an integer" : "a number", s->min, s->max);
            return FALSE;
          }
        if (s->type == TSR_PKEY_INT)
          *(int *) (b + s->offset) = (int) v;
        else
          *(double *) (b + s->offset) = v;
        return TRUE;
      }
    case TSR_PKEY_BOOL:
      {
        gboolean v;
        if (!g_ascii_strcasecmp (value, "true") || !strcmp (value, "1") || !g_ascii_strcasecmp (value, "yes"))
          v = TRUE;
        else if (!g_ascii_strcasecmp (value, "false") || !strcmp (value, "0") || !g_ascii_strcasecmp (value, "no"))
          v = FALSE;
        else
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: '%s' is not true or false", key, value);
            return FALSE;
          }
        *(gboolean *) (b + s->offset) = v;
        return TRUE;
      }
    case TSR_PKEY_ENUM:
      for (int i = 0; s->names[i]; i++)
        if (!strcmp (s->names[i], value))
          {
            *(int *) (b + s->offset) = i;
            return TRUE;
          }
      {
        g_autofree char *all = g_strjoinv (", ", (char **) s->names);
        g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: '%s' is not one of %s", key, value, all);
      }
      return FALSE;
    case TSR_PKEY_LIST:
      {
        g_auto (GStrv) parts = g_strsplit (value, ",", -1);
        int cnt = g_strv_length (parts);
        if (cnt < 1 || cnt > s->list_len)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: give 1–%d comma-separated numbers, got '%s'",
                         key, s->list_len, value);
            return FALSE;
          }
        double tmp[TSR_WAVELET_MAX_LAYERS];
        for (int i = 0; i < cnt; i++)
          {
            g_strstrip (parts[i]);
            if (!parse_double (parts[i], &tmp[i]) || tmp[i] < s->min || tmp[i] > s->max)
              {
                g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: '%s' is not a number in [%g, %g]", key,
                             parts[i], s->min, s->max);
                return FALSE;
              }
          }
        memcpy (b + s->offset, tmp, cnt * sizeof (double));
        *(int *) (b + s->count_offset) = cnt;
        return TRUE;
      }
    }
  return FALSE;
}

static char *
get_generic (const TsrPKeySpec *specs, guint n, const void *base, const char *key)
{
  const TsrPKeySpec *s = find_spec (specs, n, key);
  if (!s)
    return NULL;
  const guint8 *b = base;
  switch (s->type)
    {
    case TSR_PKEY_INT:
      return g_strdup_printf ("%d", *(const int *) (b + s->offset));
    case TSR_PKEY_DOUBLE:
      return g_strdup_printf ("%g", *(const double *) (b + s->offset));
    case TSR_PKEY_BOOL:
      return g_strdup (*(const gboolean *) (b + s->offset) ? "true" : "false");
    case TSR_PKEY_ENUM:
      return g_strdup (s->names[*(const int *) (b + s->offset)]);
    case TSR_PKEY_LIST:
      {
        GString *str = g_string_new (NULL);
        const double *v = (const double *) (b + s->offset);
        int cnt = *(const int *) (b + s->count_offset);
        for (int i = 0; i < cnt; i++)
          g_string_append_printf (str, "%s%g", i ? "," : "", v[i]);
        return g_string_free (str, FALSE);
      }
    }
  return NULL;
}

gboolean
tsr_planetary_params_set (TsrPlanetaryParams *p, const char *key, const char *value, GError **error)
{
  return set_generic (planetary_specs, G_N_ELEMENTS (planetary_specs), p, key, value, error);
}

char *
tsr_planetary_params_get_string (const TsrPlanetaryParams *p, const char *key)
{
  return get_generic (planetary_specs, G_N_ELEMENTS (planetary_specs), p, key);
}

gboolean
tsr_wavelet_params_set (TsrWaveletParams *p, const char *key, const char *value, GError **error)
{
  if (!set_generic (wavelet_specs, G_N_ELEMENTS (wavelet_specs), p, key, value, error))
    return FALSE;
  if ((p->n_gains > p->n_layers && !strcmp (key, "wavelets.gains"))
      || (p->n_thresholds > p->n_layers && !strcmp (key, "wavelets.thresholds")))
    p->n_layers = MAX (p->n_gains, p->n_thresholds);
  return TRUE;
}

char *
tsr_wavelet_params_get_string (const TsrWaveletParams *p, const char *key)
{
  return get_generic (wavelet_specs, G_N_ELEMENTS (wavelet_specs), p, key);
}
