/* tsr-keys.h — the key tables of job parameters: one TsrParamSpec per key, its offset into
 * the job's own params struct (TsrTbqrParams, TsrDeconvParams, TsrRunParams, …), its range
 * and help. Parsing, printing and range checks here are shared by every job; the project
 * (tsr-project.h) composes the jobs' tables for --set, the .tessera file and the window. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* Version of the key space (project files, FITS HISTORY lines). */
#define TSR_PARAMS_VERSION 1

typedef enum { TSR_PARAM_DOUBLE, TSR_PARAM_INT, TSR_PARAM_BOOL, TSR_PARAM_ENUM } TsrParamType;

typedef struct
{
  const char *key;             /* "global.alpha" */
  TsrParamType type;
  gsize offset;                /* into the job's params struct */
  double min, max;             /* allowed range (numbers) */
  const char *const *choices;  /* enum names, NULL-terminated */
  const char *help;            /* one line, translatable (N_) */
} TsrParamSpec;

/* Table entries: the offset of field in struct T, with a compile-time check that the field
 * has the size the entry's type expects (a negative array size fails to compile). Enum, int
 * and boolean fields are read and written through an int *. */
#define TSR_KEY_FIELD(T, field, ctype) \
  (G_STRUCT_OFFSET (T, field) + 0 * sizeof (char[sizeof (((T *) 0)->field) == sizeof (ctype) ? 1 : -1]))
#define TSR_KEY_DOUBLE(T, k, f, lo, hi, h) { k, TSR_PARAM_DOUBLE, TSR_KEY_FIELD (T, f, double), lo, hi, NULL, h }
#define TSR_KEY_INT(T, k, f, lo, hi, h)    { k, TSR_PARAM_INT, TSR_KEY_FIELD (T, f, int), lo, hi, NULL, h }
#define TSR_KEY_BOOL(T, k, f, h)           { k, TSR_PARAM_BOOL, TSR_KEY_FIELD (T, f, int), 0, 1, NULL, h }
#define TSR_KEY_ENUM(T, k, f, c, h) \
  { k, TSR_PARAM_ENUM, TSR_KEY_FIELD (T, f, int), 0, G_N_ELEMENTS (c) - 2, c, h }

/* specs, with *n (when n is not NULL) set to n_specs: the body of every job's _specs (). */
const TsrParamSpec *tsr_keys_table (const TsrParamSpec *specs, guint n_specs, guint *n);
const TsrParamSpec *tsr_keys_find (const TsrParamSpec *specs, guint n, const char *key);
/* Parse value for s into the struct at params. Errors name the key and the allowed range. */
gboolean tsr_key_set (const TsrParamSpec *s, gpointer params, const char *value, GError **error);
/* The value of s in the struct at params, as it reads back exactly. */
char    *tsr_key_get_string (const TsrParamSpec *s, gconstpointer params);
/* The address of s's field in the struct at params. */
gpointer tsr_key_field (gpointer params, const TsrParamSpec *s);
/* Every field of the table in its range (a struct filled in by code rather than by set). */
gboolean tsr_keys_check_ranges (const TsrParamSpec *specs, guint n, gconstpointer params, GError **error);
/* " key=value" for every key of the table (FITS HISTORY). */
void     tsr_keys_history_append (GString *out, const TsrParamSpec *specs, guint n, gconstpointer params);
/* "lo … hi", "true, false" or the enum names */
char    *tsr_key_range_string (const TsrParamSpec *s);
/* "unknown parameter 'key' …" */
void     tsr_key_unknown_error (GError **error, const char *key);
/* %.6g when that reads back as the same double, else the shortest precision that does. */
char    *tsr_key_format_number (double v);

G_END_DECLS
