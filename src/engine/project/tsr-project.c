/* tsr-project.c — the project: the parameter sets of every job (TBQR, deconvolution,
 * resources, and those added later) composed into one object with one key space, the
 * .tessera project file and the presets. Each job owns its struct and key table
 * (tsr-tbqr-params.c, tsr-deconv-params.c, tsr-run-params.c); this file only composes them.
 * See docs/parameters.md and docs/architecture.md. */
#include "tsr-project.h"
#include "tsr-error.h"
#include "tsr-json.h"
#include "tsr-tbqr.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define PROJECT_MAX_BYTES (1024 * 1024)
#define MIB ((gsize) 1024 * 1024)

/* The jobs in the order of the project file, the history line and docs/parameters.md. */
typedef struct
{
  const TsrParamSpec *(*specs) (guint *n);
  gsize offset;                 /* of the job's struct in TsrProject */
} Job;

static const Job jobs[] = {
  { tsr_tbqr_params_specs, G_STRUCT_OFFSET (TsrProject, tbqr) },
  { tsr_deconv_params_specs, G_STRUCT_OFFSET (TsrProject, deconv) },
  { tsr_restore_params_specs, G_STRUCT_OFFSET (TsrProject, restore) },
  { tsr_calib_params_specs, G_STRUCT_OFFSET (TsrProject, calib) },
  { tsr_post_params_specs, G_STRUCT_OFFSET (TsrProject, post) },
  { tsr_run_params_specs, G_STRUCT_OFFSET (TsrProject, run) },
};

static const char *const sections[] = {
  "register", "stars", "gate", "norm", "global", "tiles", "local", "reject", "drizzle", "cluster",
  "validate", "deconv", "restore", "calib", "post", "cosmetic", "run", NULL
};

/* Derived fields that mirror a key: the registration's own resources follow run.*. */
static void
sync_derived (TsrProject *p)
{
  p->tbqr.reg.n_threads = p->run.n_threads;
  p->tbqr.reg.memory_budget = (gsize) (p->run.memory_budget_mb * (double) MIB);
}

void
tsr_project_init (TsrProject *p)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  p->version = TSR_PARAMS_VERSION;
  tsr_tbqr_params_init (&p->tbqr);
  tsr_deconv_params_init (&p->deconv);
  tsr_restore_params_init (&p->restore);
  tsr_calib_params_init (&p->calib);
  tsr_post_params_init (&p->post);
  tsr_run_params_init (&p->run);
  sync_derived (p);
}

guint
tsr_project_n_keys (void)
{
  guint total = 0;
  for (guint j = 0; j < G_N_ELEMENTS (jobs); j++)
    {
      guint n;
      jobs[j].specs (&n);
      total += n;
    }
  return total;
}

/* The job whose table holds spec s (by address), or NULL. */
static const Job *
job_of (const TsrParamSpec *s)
{
  for (guint j = 0; j < G_N_ELEMENTS (jobs); j++)
    {
      guint n;
      const TsrParamSpec *t = jobs[j].specs (&n);
      if (s >= t && s < t + n)
        return &jobs[j];
    }
  return NULL;
}

const TsrParamSpec *
tsr_project_key (guint i)
{
  for (guint j = 0; j < G_N_ELEMENTS (jobs); j++)
    {
      guint n;
      const TsrParamSpec *t = jobs[j].specs (&n);
      if (i < n)
        return &t[i];
      i -= n;
    }
  return NULL;
}

const TsrParamSpec *
tsr_project_find (const char *key)
{
  for (guint j = 0; key && j < G_N_ELEMENTS (jobs); j++)
    {
      guint n;
      const TsrParamSpec *t = jobs[j].specs (&n);
      const TsrParamSpec *s = tsr_keys_find (t, n, key);
      if (s)
        return s;
    }
  return NULL;
}

/* The struct of the job that owns s inside p (what s's offset is relative to). */
static gpointer
job_base (const TsrProject *p, const TsrParamSpec *s)
{
  const Job *job = job_of (s);
  g_return_val_if_fail (p != NULL && job != NULL, NULL);
  return (char *) p + job->offset;
}

gpointer
tsr_project_field (TsrProject *p, const TsrParamSpec *s)
{
  return tsr_key_field (job_base (p, s), s);
}

gboolean
tsr_project_set (TsrProject *p, const char *key, const char *value, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autofree char *k = g_strstrip (g_strdup (key ? key : ""));
  const TsrParamSpec *s = tsr_project_find (k);
  if (!s)
    {
      tsr_key_unknown_error (error, k);
      return FALSE;
    }
  if (!tsr_key_set (s, job_base (p, s), value, error))
    return FALSE;
  sync_derived (p);
  return TRUE;
}

gboolean
tsr_project_set_assignment (TsrProject *p, const char *assignment, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const char *eq = assignment ? strchr (assignment, '=') : NULL;
  if (!eq)
    {
      g_autofree char *shown = g_utf8_make_valid (assignment ? assignment : "", -1);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("'%s' is not a parameter assignment: write key=value, e.g. global.alpha=0.4"),
                   shown);
      return FALSE;
    }
  g_autofree char *key = g_strndup (assignment, (gsize) (eq - assignment));
  return tsr_project_set (p, key, eq + 1, error);
}

char *
tsr_project_get_string (const TsrProject *p, const char *key)
{
  g_return_val_if_fail (p != NULL, NULL);
  const TsrParamSpec *s = tsr_project_find (key);
  if (!s)
    return NULL;
  return tsr_key_get_string (s, job_base (p, s));
}

gboolean
tsr_project_validate (const TsrProject *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (p->version != TSR_PARAMS_VERSION)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("parameter set version %d is not supported (this Tessera uses version %d)"),
                   p->version, TSR_PARAMS_VERSION);
      return FALSE;
    }
  return tsr_tbqr_params_validate (&p->tbqr, error) && tsr_deconv_params_validate (&p->deconv, error)
         && tsr_restore_params_validate (&p->restore, error) && tsr_calib_params_validate (&p->calib, error)
         && tsr_post_params_validate (&p->post, error)
         && tsr_run_params_validate (&p->run, error);
}

char *
tsr_project_history (const TsrProject *p)
{
  g_return_val_if_fail (p != NULL, NULL);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "Tessera params v%d:", TSR_PARAMS_VERSION);
  for (guint j = 0; j < G_N_ELEMENTS (jobs); j++)
    {
      guint n;
      const TsrParamSpec *t = jobs[j].specs (&n);
      tsr_keys_history_append (s, t, n, (const char *) p + jobs[j].offset);
    }
  return g_string_free (s, FALSE);
}

/* ---------------------------------------------------------------------------------------
 * Project files
 */

static gboolean
is_section (const char *group)
{
  for (guint i = 0; sections[i]; i++)
    if (strcmp (sections[i], group) == 0)
      return TRUE;
  return FALSE;
}

/* The project file's [calib] keys of the calibration inputs, by TsrCalibKind. */
static const char *const calib_path_keys[TSR_CALIB_N_KINDS] = { "bias", "darks", "flats", "dark_flats" };

gboolean
tsr_project_save (const char *path, const TsrProject *p, const char *const *session_paths,
                  GError **error)
{
  return tsr_project_save_full (path, p, session_paths, NULL, NULL, error);
}

void
tsr_frame_choices_clear (TsrFrameChoices *c)
{
  if (!c)
    return;
  g_clear_pointer (&c->include, g_strfreev);
  g_clear_pointer (&c->exclude, g_strfreev);
}

void
tsr_sample_edits_clear (TsrSampleEdits *e)
{
  if (!e)
    return;
  g_clear_pointer (&e->add, g_array_unref);
  g_clear_pointer (&e->exclude, g_array_unref);
  e->width = 0;
}

void
tsr_sample_edits_rescale (TsrSampleEdits *e, int width)
{
  g_return_if_fail (e != NULL);
  if (e->width <= 0 || width <= 0 || width == e->width)
    return;
  double f = (double) width / e->width;
  GArray *lists[2] = { e->add, e->exclude };
  for (int l = 0; l < 2; l++)
    for (guint i = 0; lists[l] && i < lists[l]->len; i++)
      {
        TsrBgPoint *p = &g_array_index (lists[l], TsrBgPoint, i);
        p->x = (p->x + 0.5) * f - 0.5;
        p->y = (p->y + 0.5) * f - 0.5;
        if (p->size > 0)
          p->size = MAX (4, (int) lround (p->size * f));
      }
  e->width = width;
}

gboolean
tsr_project_save_full (const char *path, const TsrProject *p, const char *const *session_paths,
                       const TsrFrameChoices *frames, const char *const calib_paths[TSR_CALIB_N_KINDS],
                       GError **error)
{
  return tsr_project_save_ext (path, p, session_paths, frames, calib_paths, NULL, error);
}

gboolean
tsr_project_save_ext (const char *path, const TsrProject *p, const char *const *session_paths,
                      const TsrFrameChoices *frames, const char *const calib_paths[TSR_CALIB_N_KINDS],
                      const TsrSampleEdits *samples, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_key_file_set_integer (kf, "tessera", "version", TSR_PARAMS_VERSION);
  static const char *const none[] = { NULL };
  const char *const *paths = session_paths ? session_paths : none;
  g_key_file_set_string_list (kf, "session", "paths", paths, g_strv_length ((char **) paths));

  for (guint i = 0; i < tsr_project_n_keys (); i++)
    {
      const TsrParamSpec *s = tsr_project_key (i);
      const char *dot = strchr (s->key, '.');
      g_autofree char *group = g_strndup (s->key, (gsize) (dot - s->key));
      g_autofree char *v = tsr_key_get_string (s, job_base (p, s));
      g_key_file_set_value (kf, group, dot + 1, v);
    }
  /* frame choices: only when there are any, so a project without them reads as before */
  if (frames && frames->include && frames->include[0])
    g_key_file_set_string_list (kf, "frames", "include", (const char *const *) frames->include,
                                g_strv_length (frames->include));
  if (frames && frames->exclude && frames->exclude[0])
    g_key_file_set_string_list (kf, "frames", "exclude", (const char *const *) frames->exclude,
                                g_strv_length (frames->exclude));
  for (guint k = 0; calib_paths && k < TSR_CALIB_N_KINDS; k++)
    if (calib_paths[k] && *calib_paths[k])
      g_key_file_set_string (kf, "calib", calib_path_keys[k], calib_paths[k]);
  /* sky-sample edits: only when there are any */
  guint n_edits = samples ? (samples->add ? samples->add->len : 0) + (samples->exclude ? samples->exclude->len : 0) : 0;
  if (n_edits > 0 && samples->width > 0)
    {
      g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
      for (int l = 0; l < 2; l++)
        {
          GArray *a = l ? samples->exclude : samples->add;
          for (guint i = 0; a && i < a->len; i++)
            g_ptr_array_add (lines, tsr_background_edit_format (&g_array_index (a, TsrBgPoint, i), l == 1));
        }
      g_key_file_set_integer (kf, "samples", "width", samples->width);
      g_key_file_set_string_list (kf, "samples", "edits", (const char *const *) lines->pdata, lines->len);
    }

  gsize len = 0;
  g_autofree char *data = g_key_file_to_data (kf, &len, NULL);
  g_autofree char *text = g_strconcat ("# Tessera project (see docs/parameters.md)\n", data, NULL);
  return tsr_write_file_atomic (path, text, -1, error);
}

/* The 1-based number of the first line GKeyFile cannot parse (0 if none found). */
static guint
first_bad_line (const char *data)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *l = g_strstrip (lines[i]);
      if (*l == '\0' || *l == '#')
        continue;
      if (*l == '[')
        {
          gsize n = strlen (l);
          if (n >= 2 && l[n - 1] == ']')
            continue;
          return i + 1;
        }
      if (!strchr (l, '=') || *l == '=')
        return i + 1;
    }
  return 0;
}

static char *
line_excerpt (const char *data, guint line)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  if (line == 0 || line > g_strv_length (lines))
    return NULL;
  char *l = g_strstrip (lines[line - 1]);
  if (g_utf8_strlen (l, -1) > 60)
    {
      g_autofree char *cut = g_utf8_substring (l, 0, 60);
      return g_strconcat (cut, "…", NULL);
    }
  return g_strdup (l);
}

static gboolean
read_project_text (const char *path, char **data_out, gsize *len_out, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int e = errno;
      if (e == ENOENT || e == ENOTDIR)
        g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND,
                     _("%s: no such project file"), path);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot read the project file: %s"),
                     path, g_strerror (e));
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: is a folder, not a Tessera project file"), path);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: is not a regular file, not a Tessera project file"), path);
      return FALSE;
    }
  if (st.st_size > PROJECT_MAX_BYTES)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("%s: %.1f MiB is too large for a Tessera project file (at most 1 MiB)"),
                   path, (double) st.st_size / (double) MIB);
      return FALSE;
    }

  GError *e = NULL;
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, &e))
    {
      gboolean missing = g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      g_set_error (error, TSR_ERROR, missing ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO,
                   _("%s: cannot read the project file: %s"), path, e->message);
      g_error_free (e);
      return FALSE;
    }
  if (len > PROJECT_MAX_BYTES)
    {
      g_free (data);
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("%s: too large for a Tessera project file (at most 1 MiB)"), path);
      return FALSE;
    }
  if (memchr (data, '\0', len) != NULL || !g_utf8_validate (data, (gssize) len, NULL))
    {
      g_free (data);
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: not a Tessera project file (binary data or not UTF-8 text)"), path);
      return FALSE;
    }
  *data_out = data;
  *len_out = len;
  return TRUE;
}

static void
add_warning (GPtrArray *warnings, char *msg)
{
  if (warnings)
    g_ptr_array_add (warnings, msg);
  else
    g_free (msg);
}

static gboolean
load_session_group (GKeyFile *kf, const char *path, char ***session_paths,
                    GPtrArray *warnings, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, "session", NULL, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *base = g_path_get_dirname (path);
  g_autofree char *absbase = g_canonicalize_filename (base, NULL);

  for (guint i = 0; keys && keys[i]; i++)
    {
      if (strcmp (keys[i], "paths") == 0)
        {
          GError *e = NULL;
          gsize n = 0;
          g_auto (GStrv) list = g_key_file_get_string_list (kf, "session", "paths", &n, &e);
          if (!list)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                           _("%s: [session] paths cannot be read: %s"), path, e->message);
              g_error_free (e);
              g_ptr_array_free (out, TRUE);
              return FALSE;
            }
          for (gsize j = 0; j < n; j++)
            {
              const char *sp = list[j];
              if (!sp || *sp == '\0')
                continue;
              g_ptr_array_add (out, g_canonicalize_filename (sp, absbase));
            }
        }
      else if (strcmp (keys[i], "recursive") == 0)
        {
          /* Known (scan sub-folders); read by the front ends, not part of TsrProject. */
        }
      else
        add_warning (warnings, g_strdup_printf (_("%s: unknown key [session] %s (ignored)"),
                                                path, keys[i]));
    }
  g_ptr_array_add (out, NULL);
  char **strv = (char **) g_ptr_array_free (out, FALSE);
  if (session_paths)
    *session_paths = strv;
  else
    g_strfreev (strv);
  return TRUE;
}

/* [frames] include=… exclude=…: lists of frame paths, relative ones against the project's
 * folder. */
static gboolean
load_frames_group (GKeyFile *kf, const char *path, TsrFrameChoices *out, GPtrArray *warnings, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, "frames", NULL, NULL);
  g_autofree char *base = g_path_get_dirname (path);
  g_autofree char *absbase = g_canonicalize_filename (base, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    {
      gboolean inc = strcmp (keys[i], "include") == 0;
      if (!inc && strcmp (keys[i], "exclude") != 0)
        {
          add_warning (warnings, g_strdup_printf (_("%s: unknown key [frames] %s (ignored)"), path, keys[i]));
          continue;
        }
      GError *e = NULL;
      gsize n = 0;
      g_auto (GStrv) list = g_key_file_get_string_list (kf, "frames", keys[i], &n, &e);
      if (!list)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: [frames] %s cannot be read: %s"), path, keys[i],
                       e->message);
          g_error_free (e);
          return FALSE;
        }
      GPtrArray *v = g_ptr_array_new ();
      for (gsize j = 0; j < n; j++)
        if (list[j] && *list[j])
          g_ptr_array_add (v, g_canonicalize_filename (list[j], absbase));
      g_ptr_array_add (v, NULL);
      char ***slot = inc ? &out->include : &out->exclude;
      g_strfreev (*slot);
      *slot = (char **) g_ptr_array_free (v, FALSE);
    }
  return TRUE;
}

static gboolean
path_in (char **list, const char *canonical)
{
  for (guint i = 0; list && list[i]; i++)
    if (strcmp (list[i], canonical) == 0)
      return TRUE;
  return FALSE;
}

guint8 *
tsr_frame_choices_for_session (const TsrFrameChoices *c, TsrSession *s, guint *n_unmatched)
{
  g_return_val_if_fail (s != NULL, NULL);
  guint n = tsr_session_n_frames (s);
  guint8 *out = g_new0 (guint8, MAX (n, 1u));
  char **canon = g_new0 (char *, n + 1);
  char **lists[2] = { NULL, NULL };   /* include, exclude: canonical */
  for (int l = 0; c && l < 2; l++)
    {
      char **src = l ? c->exclude : c->include;
      lists[l] = g_new0 (char *, (src ? g_strv_length (src) : 0) + 1);
      for (guint i = 0; src && src[i]; i++)
        lists[l][i] = g_canonicalize_filename (src[i], NULL);
    }
  for (guint f = 0; f < n; f++)
    {
      canon[f] = g_canonicalize_filename (tsr_session_frame (s, f)->path, NULL);
      if (path_in (lists[1], canon[f]))
        out[f] = TSR_FRAME_EXCLUDE;
      else if (path_in (lists[0], canon[f]))
        out[f] = TSR_FRAME_INCLUDE;
    }
  guint unmatched = 0;
  for (int l = 0; l < 2; l++)
    for (char **q = lists[l]; q && *q; q++)
      if (!path_in (canon, *q))
        unmatched++;
  g_strfreev (lists[0]);
  g_strfreev (lists[1]);
  g_strfreev (canon);
  if (n_unmatched)
    *n_unmatched = unmatched;
  return out;
}

gboolean
tsr_project_load (const char *path, TsrProject *p, char ***session_paths,
                  GPtrArray *warnings, GError **error)
{
  return tsr_project_load_full (path, p, session_paths, NULL, NULL, warnings, error);
}

/* [samples] width=W edits=…: the sky-sample edits (tsr_background_edit_parse_line). */
static gboolean
load_samples_group (GKeyFile *kf, const char *path, TsrSampleEdits *out, GPtrArray *warnings, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, "samples", NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (strcmp (keys[i], "width") != 0 && strcmp (keys[i], "edits") != 0)
      add_warning (warnings, g_strdup_printf (_("%s: unknown key [samples] %s (ignored)"), path, keys[i]));
  g_autofree char *ws = g_key_file_get_value (kf, "samples", "width", NULL);
  gsize n = 0;
  g_auto (GStrv) list = g_key_file_get_string_list (kf, "samples", "edits", &n, NULL);
  if (!list || n == 0)
    return TRUE;   /* no edits */
  char *end = NULL;
  gint64 w = ws ? g_ascii_strtoll (g_strstrip (ws), &end, 10) : 0;
  if (!ws || !*ws || *end != '\0' || w < 1 || w > 1000000)
    {
      g_autofree char *shown = ws ? g_utf8_make_valid (ws, -1) : g_strdup ("");
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: [samples] width = '%s' is not the width of the result the samples are in (1 or more "
                     "pixels)"), path, shown);
      return FALSE;
    }
  GArray *add = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint)), *excl = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  for (gsize i = 0; i < n; i++)
    {
      TsrBgPoint pt;
      gboolean x;
      if (!*g_strstrip (list[i]))
        continue;
      if (!tsr_background_edit_parse_line (list[i], &pt, &x))
        {
          g_autofree char *shown = g_utf8_make_valid (list[i], MIN (strlen (list[i]), 80));
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: [samples] edits entry %u '%s' is not 'x,y', 'x,y,size' (size 4 to 4096 px) or '-x,y'"),
                       path, (guint) i + 1, shown);
          g_array_unref (add);
          g_array_unref (excl);
          return FALSE;
        }
      g_array_append_val (x ? excl : add, pt);
    }
  tsr_sample_edits_clear (out);
  out->width = (int) w;
  out->add = add;
  out->exclude = excl;
  return TRUE;
}

gboolean
tsr_project_load_full (const char *path, TsrProject *p, char ***session_paths, TsrFrameChoices *frames,
                       char *calib_paths[TSR_CALIB_N_KINDS], GPtrArray *warnings, GError **error)
{
  return tsr_project_load_ext (path, p, session_paths, frames, calib_paths, NULL, warnings, error);
}

gboolean
tsr_project_load_ext (const char *path, TsrProject *p, char ***session_paths, TsrFrameChoices *frames,
                      char *calib_paths[TSR_CALIB_N_KINDS], TsrSampleEdits *samples, GPtrArray *warnings,
                      GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (session_paths)
    *session_paths = NULL;

  g_autofree char *data = NULL;
  gsize len = 0;
  if (!read_project_text (path, &data, &len, error))
    return FALSE;

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  GError *e = NULL;
  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &e))
    {
      guint line = first_bad_line (data);
      g_autofree char *excerpt = line_excerpt (data, line);
      if (line > 0 && excerpt)
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: not a Tessera project file: line %u “%s” is not a [group], a "
                       "key=value pair or a # comment"), path, line, excerpt);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: not a Tessera project file: %s"), path, e->message);
      g_error_free (e);
      return FALSE;
    }

  if (!g_key_file_has_key (kf, "tessera", "version", NULL))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: not a Tessera project file (no [tessera] version=…)"), path);
      return FALSE;
    }
  {
    g_autofree char *vs = g_key_file_get_value (kf, "tessera", "version", NULL);
    g_autofree char *v = g_strstrip (g_strdup (vs ? vs : ""));
    char *end = NULL;
    gint64 version = *v ? g_ascii_strtoll (v, &end, 10) : -1;
    if (!*v || *end != '\0' || version < 1)
      {
        g_autofree char *shown = g_utf8_make_valid (v, -1);
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: [tessera] version = '%s' is not a project file version"), path, shown);
        return FALSE;
      }
    if (version > TSR_PARAMS_VERSION)
      {
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: written by a newer Tessera (project version %" G_GINT64_FORMAT
                       "); this version reads version %d: update Tessera"),
                     path, version, TSR_PARAMS_VERSION);
        return FALSE;
      }
  }

  TsrProject tmp;
  tsr_project_init (&tmp);
  g_auto (GStrv) paths = NULL;
  g_auto (TsrFrameChoices) choices = { NULL, NULL };
  g_auto (TsrSampleEdits) edits = { 0, NULL, NULL };
  g_autoptr (GPtrArray) cpaths = g_ptr_array_new_full (TSR_CALIB_N_KINDS, g_free);
  g_ptr_array_set_size (cpaths, TSR_CALIB_N_KINDS);
  g_autofree char *pdir = g_path_get_dirname (path);
  g_autofree char *abspdir = g_canonicalize_filename (pdir, NULL);

  gsize n_groups = 0;
  g_auto (GStrv) groups = g_key_file_get_groups (kf, &n_groups);
  for (gsize gi = 0; gi < n_groups; gi++)
    {
      const char *group = groups[gi];
      g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);

      if (strcmp (group, "tessera") == 0)
        {
          for (guint i = 0; keys && keys[i]; i++)
            if (strcmp (keys[i], "version") != 0)
              add_warning (warnings, g_strdup_printf (_("%s: unknown key [%s] %s (ignored)"),
                                                      path, group, keys[i]));
          continue;
        }
      if (strcmp (group, "session") == 0)
        {
          g_strfreev (paths);
          paths = NULL;
          if (!load_session_group (kf, path, &paths, warnings, error))
            return FALSE;
          continue;
        }
      if (strcmp (group, "frames") == 0)
        {
          if (!load_frames_group (kf, path, &choices, warnings, error))
            return FALSE;
          continue;
        }
      if (strcmp (group, "samples") == 0)
        {
          if (!load_samples_group (kf, path, &edits, warnings, error))
            return FALSE;
          continue;
        }
      if (!is_section (group))
        {
          add_warning (warnings, g_strdup_printf (_("%s: unknown group [%s] (ignored)"),
                                                  path, group));
          continue;
        }
      for (guint i = 0; keys && keys[i]; i++)
        {
          int ck = -1;
          for (int k = 0; strcmp (group, "calib") == 0 && k < TSR_CALIB_N_KINDS; k++)
            if (strcmp (keys[i], calib_path_keys[k]) == 0)
              ck = k;
          if (ck >= 0)
            {
              /* a calibration input: a folder or master file, relative to the project */
              g_autofree char *v = g_key_file_get_string (kf, group, keys[i], NULL);
              g_clear_pointer (&cpaths->pdata[ck], g_free);
              if (v && *g_strstrip (v))
                cpaths->pdata[ck] = g_canonicalize_filename (v, abspdir);
              continue;
            }
          g_autofree char *key = g_strconcat (group, ".", keys[i], NULL);
          const TsrParamSpec *s = tsr_project_find (key);
          if (!s)
            {
              add_warning (warnings, g_strdup_printf (_("%s: unknown key [%s] %s (ignored)"),
                                                      path, group, keys[i]));
              continue;
            }
          g_autofree char *value = g_key_file_get_string (kf, group, keys[i], &e);
          if (!value || e)
            {
              if (!e)
                g_set_error_literal (&e, TSR_ERROR, TSR_ERROR_FORMAT, _("unreadable value"));
              g_autofree char *range = tsr_key_range_string (s);
              g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                           _("%s: %s cannot be read (%s; allowed %s)"), path, s->key,
                           e->message, range);
              g_clear_error (&e);
              return FALSE;
            }
          if (!tsr_key_set (s, job_base (&tmp, s), value, &e))
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: %s", path, e->message);
              g_clear_error (&e);
              return FALSE;
            }
        }
    }
  sync_derived (&tmp);

  if (!tsr_project_validate (&tmp, &e))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: %s", path, e->message);
      g_clear_error (&e);
      return FALSE;
    }

  *p = tmp;
  if (frames)
    {
      tsr_frame_choices_clear (frames);
      *frames = choices;
      choices.include = choices.exclude = NULL;
    }
  for (guint k = 0; calib_paths && k < TSR_CALIB_N_KINDS; k++)
    calib_paths[k] = g_steal_pointer (&cpaths->pdata[k]);
  if (samples)
    {
      tsr_sample_edits_clear (samples);
      *samples = edits;
      if (!samples->add)
        samples->add = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
      if (!samples->exclude)
        samples->exclude = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
      edits.add = edits.exclude = NULL;
    }
  if (session_paths)
    {
      if (!paths)
        paths = g_new0 (char *, 1);
      *session_paths = g_steal_pointer (&paths);
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * Presets
 */

typedef struct
{
  const char *name;
  const char *label;
  const char *const *set;   /* key=value over the defaults */
} Preset;

/* Smart telescopes: many short, undersampled Bayer frames on an alt-az mount (field
 * rotation, so similarity); interpolated green keeps more star positions than 2×2
 * superpixels at 2–3 px FWHM; with hundreds of frames the weighting can be more selective
 * and rejection tighter (satellites, planes), and clustering pays. */
static const char *const preset_seestar[] = {
  "register.model=similarity", "stars.luma=green", "global.k=0.8", "local.k=0.8",
  "reject.mode=sigma", "reject.kappa=2.5", "cluster.mode=auto", NULL
};
/* DSLR / mirrorless: tens of long Bayer exposures; lens distortion and an equatorial mount
 * (affine), too few frames for clusters or tight sigma clipping (winsorized instead), gentler
 * weights so no frame's signal is thrown away. */
static const char *const preset_dslr[] = {
  "register.model=affine", "stars.luma=superpixel", "global.k=0.5", "local.k=0.6",
  "reject.mode=winsor", "reject.kappa=3", "cluster.mode=off", NULL
};
/* Monochrome cameras: full-resolution stars, so the local quality leans on FWHM; fine
 * tiles are affordable. */
static const char *const preset_mono[] = {
  "register.model=similarity", "local.fwhm=0.7", "local.roundness=0.15", "local.contrast=0.15",
  "tiles.s=24", "reject.mode=sigma", "reject.kappa=3", NULL
};
static const char *const preset_default[] = { NULL };

static const Preset presets[] = {
  { "default", N_("Defaults"), preset_default },
  { "seestar", N_("Seestar / Dwarf"), preset_seestar },
  { "dslr", N_("DSLR"), preset_dslr },
  { "mono", N_("Monochrome camera"), preset_mono },
};

const char *const *
tsr_project_preset_names (void)
{
  static const char *const names[] = { "default", "seestar", "dslr", "mono", NULL };
  G_STATIC_ASSERT (G_N_ELEMENTS (names) == G_N_ELEMENTS (presets) + 1);
  return names;
}

static const Preset *
find_preset (const char *name)
{
  for (guint i = 0; name && i < G_N_ELEMENTS (presets); i++)
    if (g_ascii_strcasecmp (presets[i].name, name) == 0)
      return &presets[i];
  return NULL;
}

const char *
tsr_project_preset_label (const char *name)
{
  const Preset *pr = find_preset (name);
  return pr ? _(pr->label) : NULL;
}

gboolean
tsr_project_apply_preset (TsrProject *p, const char *name, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const Preset *pr = find_preset (name);
  if (!pr)
    {
      g_autofree char *shown = g_utf8_make_valid (name ? name : "", -1);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("unknown preset '%s' (allowed default, seestar, dslr, mono)"), shown);
      return FALSE;
    }
  TsrProject tmp;
  tsr_project_init (&tmp);
  tmp.run = p->run;
  sync_derived (&tmp);
  for (guint i = 0; pr->set[i]; i++)
    if (!tsr_project_set_assignment (&tmp, pr->set[i], error))
      return FALSE;
  *p = tmp;
  return TRUE;
}
