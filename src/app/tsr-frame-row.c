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
  double scale, rotation, shift, rms;
  guint stars, matched;
  char *gate;
  char *explanation;
  gboolean used;
  int choice;                 /* TsrFrameChoice */
  gboolean can_include;       /* has a transform: the user may stack it */
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
  PROP_SCALE,
  PROP_ROTATION,
  PROP_SHIFT,
  PROP_RMS,
  PROP_MATCHED,
  PROP_EXPLANATION,
  PROP_CHOICE,
  PROP_CAN_INCLUDE,
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
    case PROP_SCALE: g_value_set_double (value, self->scale); break;
    case PROP_ROTATION: g_value_set_double (value, self->rotation); break;
    case PROP_SHIFT: g_value_set_double (value, self->shift); break;
    case PROP_RMS: g_value_set_double (value, self->rms); break;
    case PROP_MATCHED: g_value_set_uint (value, self->matched); break;
    case PROP_EXPLANATION: g_value_set_string (value, self->explanation); break;
    case PROP_CHOICE: g_value_set_int (value, self->choice); break;
    case PROP_CAN_INCLUDE: g_value_set_boolean (value, self->can_include); break;
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
  g_free (self->explanation);
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
  props[PROP_SCALE] = dprop ("scale");
  props[PROP_ROTATION] = dprop ("rotation");
  props[PROP_SHIFT] = dprop ("shift");
  props[PROP_RMS] = dprop ("rms");
  props[PROP_MATCHED] = g_param_spec_uint ("matched", NULL, NULL, 0, G_MAXUINT, 0, f);
  props[PROP_EXPLANATION] = g_param_spec_string ("explanation", NULL, NULL, NULL, f);
  props[PROP_CHOICE] = g_param_spec_int ("choice", NULL, NULL, 0, 2, 0, f);
  props[PROP_CAN_INCLUDE] = g_param_spec_boolean ("can-include", NULL, NULL, FALSE, f);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
tsr_frame_row_init (TsrFrameRow *self)
{
  self->fwhm = self->roundness = self->background = self->noise = NAN;
  self->cc = self->g = self->mean_w = NAN;
  self->scale = self->rotation = self->shift = self->rms = NAN;
  self->gate = g_strdup ("");
  self->explanation = g_strdup ("");
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

static void
set_uint (TsrFrameRow *self, guint *field, guint v, int prop)
{
  if (*field == v)
    return;
  *field = v;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
set_string (TsrFrameRow *self, char **field, char *v, int prop)
{
  if (g_strcmp0 (*field, v) == 0)
    {
      g_free (v);
      return;
    }
  g_free (*field);
  *field = v;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
set_bool (TsrFrameRow *self, gboolean *field, gboolean v, int prop)
{
  if (*field == v)
    return;
  *field = v;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

/* The gate reasons in words, for the Gate column ("low CC, shifted"). */
char *
tsr_frame_row_gate_words (guint gate)
{
  const char *words[] = { C_("gate", "mirrored"), C_("gate", "scale"), C_("gate", "low CC"),
                          C_("gate", "shifted"), C_("gate", "not registered"), C_("gate", "stars do not match") };
  G_STATIC_ASSERT (G_N_ELEMENTS (words) == TSR_GATE_N_REASONS);
  GString *s = g_string_new (NULL);
  for (guint b = 0; b < G_N_ELEMENTS (words); b++)
    if (gate & (1u << b))
      {
        if (s->len)
          g_string_append (s, ", ");
        g_string_append (s, words[b]);
      }
  return g_string_free (s, FALSE);
}

char *
tsr_frame_row_explain (const TsrAnalysis *a, const TsrWeights *w, guint f)
{
  g_return_val_if_fail (a && f < a->reg->n_frames, NULL);
  const TsrFrameReg *fr = &a->reg->frames[f];
  const TsrRegistration *reg = a->reg;
  GString *s = g_string_new (NULL);
  guint gate = w && f < w->n_frames ? w->gate[f] : fr->gate;
  const TsrRegisterParams *p = w ? &w->gate_params : &reg->params;
  double cc_thr = w ? w->cc_threshold : reg->cc_threshold;
  double cc_med = w ? w->cc_median : reg->cc_median, cc_mad = w ? w->cc_mad : reg->cc_mad;
  double shift_thr = w ? w->shift_threshold : reg->shift_threshold;
  gboolean confirmed = fr->registered && g_strcmp0 (fr->method, "stars") == 0 && fr->n_matched >= 2 * p->min_matched;
  gboolean tight = confirmed && isfinite (fr->rms_px) && fr->rms_px <= p->match_tolerance_px;
  int choice = w && w->choice && f < w->n_frames ? w->choice[f] : TSR_FRAME_AUTO;

  if (f == reg->reference)
    g_string_append (s, _("The reference frame: every other frame is registered to it."));
  else if (!fr->registered)
    g_string_append (s, _("Not registered: star matching and the phase correlation both failed, so the frame has no "
                          "transform and cannot be stacked."));
  else
    {
      gboolean used = w && f < w->n_frames && w->used[f];
      g_string_append (s, !gate ? _("Valid:") : used ? _("Gated, but stacked (gate.keep_gated or by hand):")
                                                     : _("Gated (left out of the stack):"));
      /* each rule: the measured value beside its threshold */
      if (gate & TSR_GATE_REFLECTION)
        g_string_append_printf (s, "\n• ✗ %s", _("mirrored: the transform flips the image (determinant < 0)"));
      double sc = tsr_transform_scale (&fr->transform);
      g_string_append_printf (s, "\n• %s ", (gate & TSR_GATE_SCALE) ? "✗" : "✓");
      g_string_append_printf (s, _("scale %.4f, allowed %.3f … %.3f (gate.scale_min, gate.scale_max)"), sc,
                              p->reject_scale_min, p->reject_scale_max);
      g_string_append_printf (s, "\n• %s ", (gate & TSR_GATE_CC) ? "✗" : "✓");
      g_string_append_printf (s, _("registration correlation CC %.3f, threshold %.3f = max(gate.cc_min %.2f, median %.3f − "
                                   "max(gate.cc_mad %.1f × 1.4826 × MAD %.4f, gate.cc_margin %.3f))"),
                              fr->cc, cc_thr, p->reject_cc_min_abs, cc_med, p->reject_cc_mad_multiplier, cc_mad,
                              p->reject_cc_margin_min);
      if (!(fr->cc >= cc_thr))
        {
          if (p->reject_cc_trust_stars && tight)
            g_string_append_printf (s, "\n  %s", _("below the threshold, but confirmed by its stars (gate.trust_stars): "
                                                   "not gated"));
          else if (p->reject_cc_trust_stars)
            g_string_append_printf (s, _("\n  not lifted by gate.trust_stars: needs ≥ %u matched stars "
                                         "(2 × register.min_matched) within register.tolerance %.2f px"),
                                    2 * p->min_matched, p->match_tolerance_px);
          else
            g_string_append_printf (s, "\n  %s", _("gate.trust_stars is off: matched stars do not lift it"));
        }
      if (g_strcmp0 (fr->method, "phase") == 0 && fr->stars_checked >= 3)
        {
          g_string_append_printf (s, "\n• %s ", (gate & TSR_GATE_UNCONFIRMED) ? "✗" : "✓");
          g_string_append_printf (s, _("%u of %u stars land on the reference's under the phase correlation's "
                                       "transform (needs half, at least 2)"),
                                  fr->stars_confirmed, fr->stars_checked);
        }
      g_string_append_printf (s, "\n• %s ", (gate & TSR_GATE_SHIFT) ? "✗" : "✓");
      g_string_append_printf (s, _("shift %.1f px from the session's median, threshold %.1f px = max(gate.shift_min %.0f, "
                                   "gate.shift_mult %.1f × median shift)"),
                              fr->shift_px, shift_thr, p->reject_shift_px_min, p->reject_shift_median_multiplier);
      if (fr->shift_px > shift_thr && confirmed)
        g_string_append_printf (s, "\n  %s", _("a confirmed pointing jump (enough matched stars): not gated"));
      g_string_append_printf (s, _("\n• rotation %.2f°, %u of %u stars matched, residual RMS %.3f px (%s)"),
                              tsr_transform_rotation (&fr->transform) * 180 / G_PI, fr->n_matched, fr->n_stars,
                              fr->rms_px, fr->method);
      if (gate && w && !w->used[f] && choice == TSR_FRAME_AUTO)
        g_string_append_printf (s, "\n%s", _("Tick “Use” to stack it anyway."));
    }
  if (choice == TSR_FRAME_EXCLUDE)
    g_string_append_printf (s, "\n%s", _("Excluded by hand: not stacked whatever the gate says."));
  else if (choice == TSR_FRAME_INCLUDE)
    g_string_append_printf (s, "\n%s", _("Included by hand: stacked although the gate would leave it out."));
  return g_string_free (s, FALSE);
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
  set_uint (self, &self->stars, fr->n_stars, PROP_STARS);
  set_uint (self, &self->matched, fr->n_matched, PROP_MATCHED);
  set_double (self, &self->scale, fr->registered ? tsr_transform_scale (&fr->transform) : NAN, PROP_SCALE);
  set_double (self, &self->rotation, fr->registered ? tsr_transform_rotation (&fr->transform) * 180 / G_PI : NAN,
              PROP_ROTATION);
  set_double (self, &self->shift, fr->shift_px, PROP_SHIFT);
  set_double (self, &self->rms, fr->rms_px, PROP_RMS);
  double g = NAN, mw = NAN;
  gboolean used = FALSE;
  int choice = TSR_FRAME_AUTO;
  guint gate = fr->gate;
  if (w && f < w->n_frames)
    {
      used = w->used[f];
      gate = w->gate[f];
      choice = w->choice ? w->choice[f] : TSR_FRAME_AUTO;
      g = used ? w->g[f] : 0.0;
      double s = 0;
      for (guint t = 0; t < w->n_tiles; t++)
        s += w->w[(gsize) f * w->n_tiles + t];
      mw = w->n_tiles ? s / w->n_tiles : NAN;
    }
  set_double (self, &self->g, g, PROP_G);
  set_double (self, &self->mean_w, mw, PROP_MEAN_W);
  set_bool (self, &self->used, used, PROP_USED);
  set_bool (self, &self->can_include, fr->registered && !(gate & TSR_GATE_FAILED), PROP_CAN_INCLUDE);
  if (self->choice != choice)
    {
      self->choice = choice;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CHOICE]);
    }
  char *words;
  if (choice == TSR_FRAME_EXCLUDE)
    words = g_strdup (C_("gate", "excluded by hand"));
  else if (gate && choice == TSR_FRAME_INCLUDE)
    {
      g_autofree char *why = tsr_frame_row_gate_words (gate);
      words = g_strdup_printf (C_("gate", "%s — included by hand"), why);
    }
  else if (gate)
    words = tsr_frame_row_gate_words (gate);
  else if (f == a->reg->reference)
    words = g_strdup (_("reference"));
  else
    words = g_strdup ("");
  set_string (self, &self->gate, words, PROP_GATE);
  set_string (self, &self->explanation, tsr_frame_row_explain (a, w, f), PROP_EXPLANATION);
  g_object_thaw_notify (G_OBJECT (self));
}

int
tsr_frame_row_get_choice (TsrFrameRow *row)
{
  return row->choice;
}

gboolean
tsr_frame_row_get_used (TsrFrameRow *row)
{
  return row->used;
}

const char *
tsr_frame_row_get_explanation (TsrFrameRow *row)
{
  return row->explanation;
}

const char *
tsr_frame_row_get_gate (TsrFrameRow *row)
{
  return row->gate;
}
