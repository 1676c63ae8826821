/* tsr-frame-row.c — one row of the frame table. */
#include "tsr-config.h"
#include <math.h>
#include <glib/gi18n.h>
#include "tsr-frame-row.h"

struct _TsrFrameRow
{
  GObject parent_instance;
  guint index;
  char *name;
  char *path;
  double fwhm, roundness, background, noise, cc, g, mean_w;
  guint stars;
  char *gate;
  gboolean used;
};

enum
{
  PROP_0,
  PROP_INDEX,
  PROP_NAME,
  PROP_FWHM,
  PROP_ROUNDNESS,
  PROP_STARS,
  PROP_BACKGROUND,
  PROP_NOISE,
  PROP_CC,
  PROP_G,
  PROP_MEAN_W,
  PROP_GATE,
  PROP_USED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (TsrFrameRow, tsr_frame_row, G_TYPE_OBJECT)

static void
tsr_frame_row_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TsrFrameRow *self = TSR_FRAME_ROW (object);
  switch (prop_id)
    {
    case PROP_INDEX: g_value_set_uint (value, self->index); break;
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_FWHM: g_value_set_double (value, self->fwhm); break;
    case PROP_ROUNDNESS: g_value_set_double (value, self->roundness); break;
    case PROP_STARS: g_value_set_uint (value, self->stars); break;
    case PROP_BACKGROUND: g_value_set_double (value, self->background); break;
    case PROP_NOISE: g_value_set_double (value, self->noise); break;
    case PROP_CC: g_value_set_double (value, self->cc); break;
    case PROP_G: g_value_set_double (value, self->g); break;
    case PROP_MEAN_W: g_value_set_double (value, self->mean_w); break;
    case PROP_GATE: g_value_set_string (value, self->gate); break;
    case PROP_USED: g_value_set_boolean (value, self->used); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tsr_frame_row_finalize (GObject *object)
{
  TsrFrameRow *self = TSR_FRAME_ROW (object);
  g_free (self->name);
  g_free (self->path);
  g_free (self->gate);
  G_OBJECT_CLASS (tsr_frame_row_parent_class)->finalize (object);
}

static GParamSpec *
dprop (const char *name)
{
  return g_param_spec_double (name, NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0.0,
                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
}

static void
tsr_frame_row_class_init (TsrFrameRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->get_property = tsr_frame_row_get_property;
  object_class->finalize = tsr_frame_row_finalize;

  GParamFlags f = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  props[PROP_INDEX] = g_param_spec_uint ("index", NULL, NULL, 0, G_MAXUINT, 0, f);
  props[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, f);
  props[PROP_FWHM] = dprop ("fwhm");
  props[PROP_ROUNDNESS] = dprop ("roundness");
  props[PROP_STARS] = g_param_spec_uint ("stars", NULL, NULL, 0, G_MAXUINT, 0, f);
  props[PROP_BACKGROUND] = dprop ("background");
  props[PROP_NOISE] = dprop ("noise");
  props[PROP_CC] = dprop ("cc");
  props[PROP_G] = dprop ("g");
  props[PROP_MEAN_W] = dprop ("mean-w");
  props[PROP_GATE] = g_param_spec_string ("gate", NULL, NULL, NULL, f);
  props[PROP_USED] = g_param_spec_boolean ("used", NULL, NULL, FALSE, f);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
tsr_frame_row_init (TsrFrameRow *self)
{
  self->fwhm = self->roundness = self->background = self->noise = NAN;
  self->cc = self->g = self->mean_w = NAN;
  self->gate = g_strdup ("");
}

TsrFrameRow *
tsr_frame_row_new (guint index, const char *name, const char *path)
{
  TsrFrameRow *self = g_object_new (TSR_TYPE_FRAME_ROW, NULL);
  self->index = index;
  self->name = g_strdup (name);
  self->path = g_strdup (path);
  return self;
}

guint
tsr_frame_row_get_index (TsrFrameRow *row)
{
  return row->index;
}

const char *
tsr_frame_row_get_path (TsrFrameRow *row)
{
  return row->path;
}

static void
set_double (TsrFrameRow *self, double *field, double v, int prop)
{
  if (*field == v || (isnan (*field) && isnan (v)))
    return;
  *field = v;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

void
tsr_frame_row_update (TsrFrameRow *self, const TsrAnalysis *a, const TsrWeights *w)
{
  g_return_if_fail (a && self->index < a->reg->n_frames);
  const TsrFrameReg *fr = &a->reg->frames[self->index];
  guint f = self->index;

  g_object_freeze_notify (G_OBJECT (self));
  set_double (self, &self->fwhm, fr->fwhm, PROP_FWHM);
  set_double (self, &self->roundness, fr->roundness, PROP_ROUNDNESS);
  set_double (self, &self->background, fr->background, PROP_BACKGROUND);
  set_double (self, &self->noise, fr->noise, PROP_NOISE);
  set_double (self, &self->cc, fr->cc, PROP_CC);
  if (self->stars != fr->n_stars)
    {
      self->stars = fr->n_stars;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STARS]);
    }
  double g = NAN, mw = NAN;
  gboolean used = FALSE;
  if (w && f < w->n_frames)
    {
      used = w->used[f];
      g = used ? w->g[f] : 0.0;
      double s = 0;
      for (guint t = 0; t < w->n_tiles; t++)
        s += w->w[(gsize) f * w->n_tiles + t];
      mw = w->n_tiles ? s / w->n_tiles : NAN;
    }
  set_double (self, &self->g, g, PROP_G);
  set_double (self, &self->mean_w, mw, PROP_MEAN_W);
  if (self->used != used)
    {
      self->used = used;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_USED]);
    }
  g_autofree char *gate = NULL;
  if (fr->gate)
    gate = tsr_gate_reasons_string (fr->gate);
  else if (f == a->reg->reference)
    gate = g_strdup (_("reference"));
  else
    gate = g_strdup ("");
  if (g_strcmp0 (gate, self->gate) != 0)
    {
      g_free (self->gate);
      self->gate = g_steal_pointer (&gate);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_GATE]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}
