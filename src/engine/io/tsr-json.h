/* tsr-json.h — a small JSON writer and reader (enough for diagnostics, truth files and
 * tests; no dependency beyond GLib). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct _TsrJsonWriter TsrJsonWriter;

TsrJsonWriter *tsr_json_writer_new (void);
void  tsr_json_begin_object (TsrJsonWriter *w);
void  tsr_json_end_object (TsrJsonWriter *w);
void  tsr_json_begin_array (TsrJsonWriter *w);
void  tsr_json_end_array (TsrJsonWriter *w);
void  tsr_json_key (TsrJsonWriter *w, const char *key);
void  tsr_json_string (TsrJsonWriter *w, const char *s);      /* NULL → null */
void  tsr_json_double (TsrJsonWriter *w, double v);           /* non-finite → null */
void  tsr_json_int (TsrJsonWriter *w, gint64 v);
void  tsr_json_bool (TsrJsonWriter *w, gboolean v);
void  tsr_json_null (TsrJsonWriter *w);
/* s as a quoted JSON string (escaped; invalid UTF-8 repaired) appended to buf, for text built
 * without the writer. */
void  tsr_json_append_quoted (GString *buf, const char *s);
/* Finish and return the text (the writer is freed). */
char *tsr_json_writer_finish (TsrJsonWriter *w);
void  tsr_json_writer_free (TsrJsonWriter *w);

/* Reader: parses into a tree of nodes. */
typedef enum { TSR_JSON_NULL, TSR_JSON_BOOL, TSR_JSON_NUMBER, TSR_JSON_STRING,
               TSR_JSON_ARRAY, TSR_JSON_OBJECT } TsrJsonType;
typedef struct _TsrJson TsrJson;

TsrJson    *tsr_json_parse (const char *text, gssize len, GError **error);
TsrJson    *tsr_json_parse_file (const char *path, GError **error);
void        tsr_json_free (TsrJson *node);
TsrJsonType tsr_json_type (const TsrJson *node);
/* Object member (NULL if absent or node is not an object). */
const TsrJson *tsr_json_get (const TsrJson *node, const char *key);
guint       tsr_json_length (const TsrJson *node);              /* array length */
const TsrJson *tsr_json_index (const TsrJson *node, guint i);   /* array element */
double      tsr_json_number (const TsrJson *node, double fallback);
const char *tsr_json_str (const TsrJson *node);                 /* NULL unless string */
gboolean    tsr_json_boolean (const TsrJson *node, gboolean fallback);

/* Write text to path through a temporary file + rename. */
gboolean    tsr_write_file_atomic (const char *path, const char *data, gssize len, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrJson, tsr_json_free)

G_END_DECLS
