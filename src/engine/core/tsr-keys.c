/* tsr-keys.c — parameter keys ("section.name") of any job: parsing a value into the job's own
 * params struct through its key table, printing it back exactly, range checks and the
 * history line. Every job (tbqr, deconv, run, and those added later) owns a table of
 * TsrParamSpec whose offsets point into its own struct; the project (project/) composes
 * the tables. See docs/parameters.md. */
#include "tsr-keys.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <math.h>
#include <string.h>

G_STATIC_ASSERT (sizeof (gboolean) == sizeof (int));
G_STATIC_ASSERT (sizeof (guint) == sizeof (int));

/* %.6g when that reads back as the same double, else the shortest precision that does, so
 * a project file restores exactly what was set (three thirds must still sum to 1). */
char *
tsr_key_format_number (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (v == 0)
    v = 0; /* no "-0" */
  for (int prec = 6; prec <= 17; prec++)
    {
      char fmt[8];
      g_snprintf (fmt, sizeof fmt, "%%.%dg", prec);
      g_ascii_formatd (buf, sizeof buf, fmt, v);
      if (!isfinite (v) || g_ascii_strtod (buf, NULL) == v)
        break;
    }
  return g_strdup (buf);
}

/* Range ends read plainly ("1000000", not "1e+06"). */
static char *
format_bound (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (v == 0)
    v = 0;
  g_ascii_formatd (buf, sizeof buf, "%.15g", v);
  return g_strdup (buf);
}

char *
tsr_key_range_string (const TsrParamSpec *s)
{
  if (s->type == TSR_PARAM_BOOL)
    return g_strdup ("true, false");
  if (s->type == TSR_PARAM_ENUM)
    return g_strjoinv (", ", (char **) s->choices);
  g_autofree char *lo = format_bound (s->min);
  g_autofree char *hi = format_bound (s->max);
  return g_strdup_printf ("%s … %s", lo, hi);
}

static double *
double_field (gconstpointer p, const TsrParamSpec *s)
{
  return (double *) ((char *) p + s->offset);
}

static int *
int_field (gconstpointer p, const TsrParamSpec *s)
{
  return (int *) ((char *) p + s->offset);
}

gpointer
tsr_key_field (gpointer params, const TsrParamSpec *s)
{
  return (char *) params + s->offset;
}

const TsrParamSpec *
tsr_keys_table (const TsrParamSpec *specs, guint n_specs, guint *n)
{
  if (n)
    *n = n_specs;
  return specs;
}

const TsrParamSpec *
tsr_keys_find (const TsrParamSpec *specs, guint n, const char *key)
{
  if (!key)
    return NULL;
  for (guint i = 0; i < n; i++)
    if (strcmp (specs[i].key, key) == 0)
      return &specs[i];
  return NULL;
}

void
tsr_keys_history_append (GString *out, const TsrParamSpec *specs, guint n, gconstpointer p)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *v = tsr_key_get_string (&specs[i], p);
      g_string_append_printf (out, " %s=%s", specs[i].key, v);
    }
}

static gboolean
parse_bool (const char *v, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "1", "on", NULL };
  static const char *const no[] = { "false", "no", "0", "off", NULL };
  for (guint i = 0; yes[i]; i++)
    if (g_ascii_strcasecmp (v, yes[i]) == 0)
      {
        *out = TRUE;
        return TRUE;
      }
  for (guint i = 0; no[i]; i++)
    if (g_ascii_strcasecmp (v, no[i]) == 0)
      {
        *out = FALSE;
        return TRUE;
      }
  return FALSE;
}

gboolean
tsr_key_set (const TsrParamSpec *s, gpointer p, const char *value, GError **error)
{
  g_autofree char *v = g_strstrip (g_strdup (value ? value : ""));
  /* Keep messages readable whatever the input was. */
  g_autofree char *shown = g_utf8_make_valid (v, -1);
  if (g_utf8_strlen (shown, -1) > 40)
    {
      char *cut = g_utf8_substring (shown, 0, 40);
      g_free (shown);
      shown = g_strconcat (cut, "…", NULL);
      g_free (cut);
    }
  g_autofree char *range = tsr_key_range_string (s);

  switch (s->type)
    {
    case TSR_PARAM_DOUBLE:
      {
        char *end = NULL;
        errno = 0;
        double d = *v ? g_ascii_strtod (v, &end) : NAN;
        if (!*v || end == v || *end != '\0' || !isfinite (d))
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = '%s' is not a finite number (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        if (d < s->min || d > s->max)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = %s is out of range (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        *double_field (p, s) = d;
        break;
      }
    case TSR_PARAM_INT:
      {
        char *end = NULL;
        errno = 0;
        gint64 i = *v ? g_ascii_strtoll (v, &end, 10) : 0;
        if (!*v || end == v || *end != '\0')
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = '%s' is not an integer (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        if (errno == ERANGE || (double) i < s->min || (double) i > s->max)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = %s is out of range (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        *int_field (p, s) = (int) i;
        break;
      }
    case TSR_PARAM_BOOL:
      {
        gboolean b;
        if (!parse_bool (v, &b))
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = '%s' is not a boolean (allowed true/false, yes/no, on/off, 1/0)"),
                         s->key, shown);
            return FALSE;
          }
        *int_field (p, s) = b ? TRUE : FALSE;
        break;
      }
    case TSR_PARAM_ENUM:
      {
        for (int i = 0; s->choices[i]; i++)
          if (g_ascii_strcasecmp (v, s->choices[i]) == 0)
            {
              *int_field (p, s) = i;
              return TRUE;
            }
        g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                     _("%s = '%s' is not one of the allowed values (allowed %s)"), s->key, shown,
                     range);
        return FALSE;
      }
    default:
      g_assert_not_reached ();
    }
  return TRUE;
}

void
tsr_key_unknown_error (GError **error, const char *key)
{
  g_autofree char *shown = g_utf8_make_valid (key ? key : "", -1);
  g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
               _("unknown parameter '%s' (see tessera-cli process --help or docs/parameters.md)"),
               shown);
}

char *
tsr_key_get_string (const TsrParamSpec *s, gconstpointer p)
{
  switch (s->type)
    {
    case TSR_PARAM_DOUBLE:
      return tsr_key_format_number (*double_field (p, s));
    case TSR_PARAM_INT:
      if (s->min >= 0)
        return g_strdup_printf ("%u", (guint) *int_field (p, s));
      return g_strdup_printf ("%d", *int_field (p, s));
    case TSR_PARAM_BOOL:
      return g_strdup (*int_field (p, s) ? "true" : "false");
    case TSR_PARAM_ENUM:
      {
        int v = *int_field (p, s);
        guint n = g_strv_length ((char **) s->choices);
        if (v >= 0 && (guint) v < n)
          return g_strdup (s->choices[v]);
        return g_strdup_printf ("%d", v);
      }
    default:
      g_assert_not_reached ();
    }
  return NULL;
}

gboolean
tsr_keys_check_ranges (const TsrParamSpec *specs, guint n, gconstpointer p, GError **error)
{
  for (guint i = 0; i < n; i++)
    {
      const TsrParamSpec *s = &specs[i];
      gboolean ok = TRUE;
      switch (s->type)
        {
        case TSR_PARAM_DOUBLE:
          {
            double d = *double_field (p, s);
            ok = isfinite (d) && d >= s->min && d <= s->max;
            break;
          }
        case TSR_PARAM_INT:
          {
            double d = s->min >= 0 ? (double) (guint) *int_field (p, s) : (double) *int_field (p, s);
            ok = d >= s->min && d <= s->max;
            break;
          }
        case TSR_PARAM_BOOL:
          ok = TRUE; /* any non-zero is true */
          break;
        case TSR_PARAM_ENUM:
          {
            int v = *int_field (p, s);
            ok = v >= 0 && v <= (int) s->max;
            break;
          }
        default:
          g_assert_not_reached ();
        }
      if (!ok)
        {
          g_autofree char *value = tsr_key_get_string (s, p);
          g_autofree char *range = tsr_key_range_string (s);
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s = %s is out of range (allowed %s)"), s->key, value, range);
          return FALSE;
        }
    }
  return TRUE;
}
