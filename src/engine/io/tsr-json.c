/* tsr-json.c — a small JSON writer and reader, and atomic file writes.
 *
 * Writer: pretty-printed (2-space indentation), commas placed by a small state stack,
 * doubles printed in the shortest form that round-trips (locale-independent), non-finite
 * numbers written as null, strings escaped (control characters as \u00XX).
 *
 * Reader: recursive descent into a node tree.  Objects keep member order; with duplicate
 * keys the first one wins for tsr_json_get().  Nesting is limited, every error reports
 * line and column, and no input (however broken) makes it crash.
 */
#include "tsr-json.h"
#include "tsr-output.h"
#include "tsr-error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <unistd.h>

#define TSR_JSON_MAX_DEPTH 200

/* ------------------------------------------------------------------------------------- */
/* Writer                                                                                 */
/* ------------------------------------------------------------------------------------- */

typedef struct
{
  gboolean is_object;
  guint count;          /* members (keys) or elements written so far */
  gboolean after_key;   /* object: a key was written, its value is due */
} WriterFrame;

struct _TsrJsonWriter
{
  GString *buf;
  GArray *stack;        /* of WriterFrame */
  gboolean root_done;
};

TsrJsonWriter *
tsr_json_writer_new (void)
{
  TsrJsonWriter *w = g_new0 (TsrJsonWriter, 1);
  w->buf = g_string_sized_new (256);
  w->stack = g_array_new (FALSE, TRUE, sizeof (WriterFrame));
  return w;
}

void
tsr_json_writer_free (TsrJsonWriter *w)
{
  if (w == NULL)
    return;
  g_string_free (w->buf, TRUE);
  g_array_unref (w->stack);
  g_free (w);
}

static WriterFrame *
writer_top (TsrJsonWriter *w)
{
  if (w->stack->len == 0)
    return NULL;
  return &g_array_index (w->stack, WriterFrame, w->stack->len - 1);
}

static void
writer_newline (TsrJsonWriter *w, guint depth)
{
  g_string_append_c (w->buf, '\n');
  for (guint i = 0; i < depth; i++)
    g_string_append (w->buf, "  ");
}

/* Called before any value; places the comma and the indentation. Returns FALSE (after a
 * critical) when a value is not allowed here. */
static gboolean
writer_before_value (TsrJsonWriter *w)
{
  WriterFrame *f = writer_top (w);

  if (f == NULL)
    {
      g_return_val_if_fail (!w->root_done, FALSE);
      w->root_done = TRUE;
      return TRUE;
    }
  if (f->is_object)
    {
      g_return_val_if_fail (f->after_key, FALSE);
      f->after_key = FALSE;
      return TRUE;
    }
  if (f->count > 0)
    g_string_append_c (w->buf, ',');
  writer_newline (w, w->stack->len);
  f->count++;
  return TRUE;
}

void
tsr_json_append_quoted (GString *buf, const char *s)
{
  char *fixed = NULL;

  if (!g_utf8_validate (s, -1, NULL))
    s = fixed = g_utf8_make_valid (s, -1);

  g_string_append_c (buf, '"');
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      switch (*p)
        {
        case '"':  g_string_append (buf, "\\\""); break;
        case '\\': g_string_append (buf, "\\\\"); break;
        case '\n': g_string_append (buf, "\\n"); break;
        case '\r': g_string_append (buf, "\\r"); break;
        case '\t': g_string_append (buf, "\\t"); break;
        case '\b': g_string_append (buf, "\\b"); break;
        case '\f': g_string_append (buf, "\\f"); break;
        default:
          if (*p < 0x20)
            g_string_append_printf (buf, "\\u%04x", (unsigned) *p);
          else
            g_string_append_c (buf, (char) *p);
        }
    }
  g_string_append_c (buf, '"');
  g_free (fixed);
}

static void
writer_begin (TsrJsonWriter *w, gboolean is_object)
{
  WriterFrame f = { is_object, 0, FALSE };

  if (!writer_before_value (w))
    return;
  g_string_append_c (w->buf, is_object ? '{' : '[');
  g_array_append_val (w->stack, f);
}

static void
writer_end (TsrJsonWriter *w, gboolean is_object)
{
  WriterFrame *f = writer_top (w);

  g_return_if_fail (f != NULL);
  g_return_if_fail (f->is_object == is_object);
  g_return_if_fail (!f->after_key);

  guint count = f->count;
  g_array_set_size (w->stack, w->stack->len - 1);
  if (count > 0)
    writer_newline (w, w->stack->len);
  g_string_append_c (w->buf, is_object ? '}' : ']');
}

void
tsr_json_begin_object (TsrJsonWriter *w)
{
  g_return_if_fail (w != NULL);
  writer_begin (w, TRUE);
}

void
tsr_json_end_object (TsrJsonWriter *w)
{
  g_return_if_fail (w != NULL);
  writer_end (w, TRUE);
}

void
tsr_json_begin_array (TsrJsonWriter *w)
{
  g_return_if_fail (w != NULL);
  writer_begin (w, FALSE);
}

void
tsr_json_end_array (TsrJsonWriter *w)
{
  g_return_if_fail (w != NULL);
  writer_end (w, FALSE);
}

void
tsr_json_key (TsrJsonWriter *w, const char *key)
{
  g_return_if_fail (w != NULL);
  g_return_if_fail (key != NULL);

  WriterFrame *f = writer_top (w);
  g_return_if_fail (f != NULL && f->is_object);
  g_return_if_fail (!f->after_key);

  if (f->count > 0)
    g_string_append_c (w->buf, ',');
  writer_newline (w, w->stack->len);
  tsr_json_append_quoted (w->buf, key);
  g_string_append (w->buf, ": ");
  f->count++;
  f->after_key = TRUE;
}

void
tsr_json_string (TsrJsonWriter *w, const char *s)
{
  g_return_if_fail (w != NULL);
  if (!writer_before_value (w))
    return;
  if (s == NULL)
    g_string_append (w->buf, "null");
  else
    tsr_json_append_quoted (w->buf, s);
}

/* Shortest "%.Ng" that reads back to exactly v (N = 15 … 17). */
static void
format_double (char out[G_ASCII_DTOSTR_BUF_SIZE], double v)
{
  static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_ascii_formatd (out, G_ASCII_DTOSTR_BUF_SIZE, formats[i], v);
      if (g_ascii_strtod (out, NULL) == v)
        return;
    }
}

void
tsr_json_double (TsrJsonWriter *w, double v)
{
  char tmp[G_ASCII_DTOSTR_BUF_SIZE];

  g_return_if_fail (w != NULL);
  if (!writer_before_value (w))
    return;
  if (!isfinite (v))
    {
      g_string_append (w->buf, "null");
      return;
    }
  format_double (tmp, v);
  g_string_append (w->buf, tmp);
}

void
tsr_json_int (TsrJsonWriter *w, gint64 v)
{
  g_return_if_fail (w != NULL);
  if (!writer_before_value (w))
    return;
  g_string_append_printf (w->buf, "%" G_GINT64_FORMAT, v);
}

void
tsr_json_bool (TsrJsonWriter *w, gboolean v)
{
  g_return_if_fail (w != NULL);
  if (!writer_before_value (w))
    return;
  g_string_append (w->buf, v ? "true" : "false");
}

void
tsr_json_null (TsrJsonWriter *w)
{
  g_return_if_fail (w != NULL);
  if (!writer_before_value (w))
    return;
  g_string_append (w->buf, "null");
}

char *
tsr_json_writer_finish (TsrJsonWriter *w)
{
  g_return_val_if_fail (w != NULL, NULL);

  /* Close whatever is still open so the text is always well-formed. */
  while (w->stack->len > 0)
    {
      WriterFrame *f = writer_top (w);
      if (f->after_key)
        {
          g_string_append (w->buf, "null");
          f->after_key = FALSE;
        }
      writer_end (w, f->is_object);
    }
  if (!w->root_done)
    g_string_append (w->buf, "null");
  g_string_append_c (w->buf, '\n');

  char *text = g_string_free (w->buf, FALSE);
  w->buf = NULL;
  g_array_unref (w->stack);
  g_free (w);
  return text;
}

/* ------------------------------------------------------------------------------------- */
/* Reader                                                                                 */
/* ------------------------------------------------------------------------------------- */

struct _TsrJson
{
  TsrJsonType type;
  char *key;            /* member name when the node is inside an object */
  gboolean b;
  double num;
  char *str;
  GPtrArray *items;     /* array elements or object members (TsrJson *) */
};

typedef struct
{
  const char *start;
  const char *p;
  const char *end;
  int depth;
  GError *error;
} Parser;

static TsrJson *
node_new (TsrJsonType type)
{
  TsrJson *n = g_new0 (TsrJson, 1);
  n->type = type;
  return n;
}

void
tsr_json_free (TsrJson *node)
{
  if (node == NULL)
    return;
  if (node->items != NULL)
    {
      for (guint i = 0; i < node->items->len; i++)
        tsr_json_free (g_ptr_array_index (node->items, i));
      g_ptr_array_free (node->items, TRUE);
    }
  g_free (node->key);
  g_free (node->str);
  g_free (node);
}

static void G_GNUC_PRINTF (2, 3)
parser_fail (Parser *P, const char *fmt, ...)
{
  if (P->error != NULL)
    return;

  int line = 1, col = 1;
  for (const char *q = P->start; q < P->p && q < P->end; q++)
    {
      if (*q == '\n')
        {
          line++;
          col = 1;
        }
      else if (((unsigned char) *q & 0xC0) != 0x80)
        col++;
    }

  va_list ap;
  va_start (ap, fmt);
  char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (&P->error, TSR_ERROR, TSR_ERROR_FORMAT,
               "Invalid JSON at line %d, column %d: %s", line, col, msg);
  g_free (msg);
}

static void
parser_fail_unexpected (Parser *P, const char *what)
{
  if (P->p >= P->end)
    parser_fail (P, "unexpected end of input (expected %s)", what);
  else
    {
      unsigned char c = (unsigned char) *P->p;
      if (c >= 0x21 && c < 0x7f)
        parser_fail (P, "unexpected character ‘%c’ (expected %s)", c, what);
      else
        parser_fail (P, "unexpected byte 0x%02X (expected %s)", c, what);
    }
}

static void
skip_ws (Parser *P)
{
  while (P->p < P->end
         && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
    P->p++;
}

static gboolean
match_literal (Parser *P, const char *lit)
{
  gsize n = strlen (lit);
  if ((gsize) (P->end - P->p) >= n && memcmp (P->p, lit, n) == 0)
    {
      P->p += n;
      return TRUE;
    }
  return FALSE;
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads the 4 hex digits after "\u" (P->p at the first digit). */
static gboolean
read_hex4 (Parser *P, guint *out)
{
  guint v = 0;
  if (P->end - P->p < 4)
    {
      parser_fail (P, "truncated \\u escape (4 hex digits needed)");
      return FALSE;
    }
  for (int i = 0; i < 4; i++)
    {
      int h = hex_value (P->p[i]);
      if (h < 0)
        {
          P->p += i;
          parser_fail (P, "invalid hex digit in \\u escape");
          return FALSE;
        }
      v = (v << 4) | (guint) h;
    }
  P->p += 4;
  *out = v;
  return TRUE;
}

/* P->p at the opening quote. Returns a newly allocated UTF-8 string or NULL. */
static char *
parse_string (Parser *P)
{
  GString *s = g_string_new (NULL);

  P->p++; /* opening quote */
  for (;;)
    {
      const char *run = P->p;
      while (P->p < P->end)
        {
          unsigned char c = (unsigned char) *P->p;
          if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            break;
          P->p++;
        }
      if (P->p > run)
        g_string_append_len (s, run, P->p - run);

      if (P->p >= P->end)
        {
          parser_fail (P, "unterminated string");
          goto fail;
        }

      unsigned char c = (unsigned char) *P->p;
      if (c == '"')
        {
          P->p++;
          return g_string_free (s, FALSE);
        }
      if (c < 0x20)
        {
          parser_fail (P, "control character 0x%02X inside a string (escape it as \\u%04X)",
                       c, c);
          goto fail;
        }
      if (c >= 0x80)
        {
          gunichar u = g_utf8_get_char_validated (P->p, P->end - P->p);
          if (u == (gunichar) -1 || u == (gunichar) -2
              || (u >= 0xD800 && u <= 0xDFFF) || u > 0x10FFFF)
            {
              parser_fail (P, "invalid UTF-8 inside a string");
              goto fail;
            }
          int n = g_unichar_to_utf8 (u, NULL);
          g_string_append_len (s, P->p, n);
          P->p += n;
          continue;
        }

      /* Backslash escape. */
      P->p++;
      if (P->p >= P->end)
        {
          parser_fail (P, "unterminated string (ends in a backslash)");
          goto fail;
        }
      char e = *P->p;
      switch (e)
        {
        case '"':  g_string_append_c (s, '"');  P->p++; break;
        case '\\': g_string_append_c (s, '\\'); P->p++; break;
        case '/':  g_string_append_c (s, '/');  P->p++; break;
        case 'b':  g_string_append_c (s, '\b'); P->p++; break;
        case 'f':  g_string_append_c (s, '\f'); P->p++; break;
        case 'n':  g_string_append_c (s, '\n'); P->p++; break;
        case 'r':  g_string_append_c (s, '\r'); P->p++; break;
        case 't':  g_string_append_c (s, '\t'); P->p++; break;
        case 'u':
          {
            const char *esc = P->p - 1;
            guint u, lo;
            P->p++;
            if (!read_hex4 (P, &u))
              goto fail;
            if (u >= 0xDC00 && u <= 0xDFFF)
              {
                P->p = esc;
                parser_fail (P, "unpaired low surrogate in \\u escape");
                goto fail;
              }
            if (u >= 0xD800 && u <= 0xDBFF)
              {
                if (P->end - P->p < 2 || P->p[0] != '\\' || P->p[1] != 'u')
                  {
                    P->p = esc;
                    parser_fail (P, "high surrogate in \\u escape not followed by a low surrogate");
                    goto fail;
                  }
                P->p += 2;
                if (!read_hex4 (P, &lo))
                  goto fail;
                if (lo < 0xDC00 || lo > 0xDFFF)
                  {
                    P->p = esc;
                    parser_fail (P, "high surrogate in \\u escape not followed by a low surrogate");
                    goto fail;
                  }
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
              }
            if (u == 0)
              {
                P->p = esc;
                parser_fail (P, "\\u0000 (NUL) inside strings is not supported");
                goto fail;
              }
            char utf8[8];
            int n = g_unichar_to_utf8 (u, utf8);
            g_string_append_len (s, utf8, n);
            break;
          }
        default:
          P->p--;
          if ((unsigned char) e >= 0x21 && (unsigned char) e < 0x7f)
            parser_fail (P, "invalid escape ‘\\%c’ in string", e);
          else
            parser_fail (P, "invalid escape in string");
          goto fail;
        }
    }

fail:
  g_string_free (s, TRUE);
  return NULL;
}

static TsrJson *
parse_number (Parser *P)
{
  const char *q = P->p;
  const char *end = P->end;

  if (q < end && *q == '-')
    q++;
  if (q >= end || !g_ascii_isdigit (*q))
    {
      P->p = q;
      parser_fail_unexpected (P, "a digit");
      return NULL;
    }
  if (*q == '0')
    q++;
  else
    while (q < end && g_ascii_isdigit (*q))
      q++;
  if (q < end && *q == '.')
    {
      q++;
      if (q >= end || !g_ascii_isdigit (*q))
        {
          P->p = q;
          parser_fail_unexpected (P, "a digit after the decimal point");
          return NULL;
        }
      while (q < end && g_ascii_isdigit (*q))
        q++;
    }
  if (q < end && (*q == 'e' || *q == 'E'))
    {
      q++;
      if (q < end && (*q == '+' || *q == '-'))
        q++;
      if (q >= end || !g_ascii_isdigit (*q))
        {
          P->p = q;
          parser_fail_unexpected (P, "a digit in the exponent");
          return NULL;
        }
      while (q < end && g_ascii_isdigit (*q))
        q++;
    }

  char *copy = g_strndup (P->p, q - P->p);
  char *endptr = NULL;
  errno = 0;
  double v = g_ascii_strtod (copy, &endptr);
  int err = errno;
  gboolean whole = (endptr != NULL && *endptr == '\0');
  g_free (copy);

  if (!whole)
    {
      parser_fail (P, "invalid number");
      return NULL;
    }
  if (err == ERANGE && !isfinite (v))
    {
      parser_fail (P, "number out of range");
      return NULL;
    }
  P->p = q;
  TsrJson *n = node_new (TSR_JSON_NUMBER);
  n->num = v;
  return n;
}

static TsrJson *parse_value (Parser *P);

static TsrJson *
parse_array (Parser *P)
{
  TsrJson *node = node_new (TSR_JSON_ARRAY);
  node->items = g_ptr_array_new ();

  P->p++; /* '[' */
  skip_ws (P);
  if (P->p < P->end && *P->p == ']')
    {
      P->p++;
      return node;
    }
  for (;;)
    {
      TsrJson *item = parse_value (P);
      if (item == NULL)
        goto fail;
      g_ptr_array_add (node->items, item);
      skip_ws (P);
      if (P->p < P->end && *P->p == ',')
        {
          P->p++;
          continue;
        }
      if (P->p < P->end && *P->p == ']')
        {
          P->p++;
          return node;
        }
      parser_fail_unexpected (P, "‘,’ or ‘]’ in array");
      goto fail;
    }
fail:
  tsr_json_free (node);
  return NULL;
}

static TsrJson *
parse_object (Parser *P)
{
  TsrJson *node = node_new (TSR_JSON_OBJECT);
  node->items = g_ptr_array_new ();

  P->p++; /* '{' */
  skip_ws (P);
  if (P->p < P->end && *P->p == '}')
    {
      P->p++;
      return node;
    }
  for (;;)
    {
      skip_ws (P);
      if (P->p >= P->end || *P->p != '"')
        {
          parser_fail_unexpected (P, "a string as object key");
          goto fail;
        }
      char *key = parse_string (P);
      if (key == NULL)
        goto fail;
      skip_ws (P);
      if (P->p >= P->end || *P->p != ':')
        {
          g_free (key);
          parser_fail_unexpected (P, "‘:’ after object key");
          goto fail;
        }
      P->p++;
      TsrJson *value = parse_value (P);
      if (value == NULL)
        {
          g_free (key);
          goto fail;
        }
      value->key = key;
      g_ptr_array_add (node->items, value);
      skip_ws (P);
      if (P->p < P->end && *P->p == ',')
        {
          P->p++;
          continue;
        }
      if (P->p < P->end && *P->p == '}')
        {
          P->p++;
          return node;
        }
      parser_fail_unexpected (P, "‘,’ or ‘}’ in object");
      goto fail;
    }
fail:
  tsr_json_free (node);
  return NULL;
}

static TsrJson *
parse_value (Parser *P)
{
  skip_ws (P);
  if (P->p >= P->end)
    {
      parser_fail_unexpected (P, "a value");
      return NULL;
    }

  switch (*P->p)
    {
    case '{':
    case '[':
      {
        if (P->depth >= TSR_JSON_MAX_DEPTH)
          {
            parser_fail (P, "nesting deeper than %d levels", TSR_JSON_MAX_DEPTH);
            return NULL;
          }
        P->depth++;
        TsrJson *n = (*P->p == '{') ? parse_object (P) : parse_array (P);
        P->depth--;
        return n;
      }
    case '"':
      {
        char *s = parse_string (P);
        if (s == NULL)
          return NULL;
        TsrJson *n = node_new (TSR_JSON_STRING);
        n->str = s;
        return n;
      }
    case 't':
      if (match_literal (P, "true"))
        {
          TsrJson *n = node_new (TSR_JSON_BOOL);
          n->b = TRUE;
          return n;
        }
      break;
    case 'f':
      if (match_literal (P, "false"))
        return node_new (TSR_JSON_BOOL);
      break;
    case 'n':
      if (match_literal (P, "null"))
        return node_new (TSR_JSON_NULL);
      break;
    default:
      if (*P->p == '-' || g_ascii_isdigit (*P->p))
        return parse_number (P);
      break;
    }
  parser_fail_unexpected (P, "a value");
  return NULL;
}

TsrJson *
tsr_json_parse (const char *text, gssize len, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (text == NULL)
    {
      text = "";
      len = 0;
    }
  if (len < 0)
    len = (gssize) strlen (text);

  Parser P = { text, text, text + len, 0, NULL };

  /* Tolerate a UTF-8 byte order mark. */
  if (len >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
    P.p += 3;

  TsrJson *root = parse_value (&P);
  if (root != NULL)
    {
      skip_ws (&P);
      if (P.p < P.end)
        {
          parser_fail (&P, "unexpected data after the end of the JSON value");
          tsr_json_free (root);
          root = NULL;
        }
    }
  if (root == NULL)
    {
      if (P.error == NULL)
        parser_fail (&P, "parse error");
      g_propagate_error (error, P.error);
    }
  return root;
}

TsrJson *
tsr_json_parse_file (const char *path, GError **error)
{
  char *text = NULL;
  gsize len = 0;
  GError *local = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_get_contents (path, &text, &len, &local))
    {
      int code = g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                 ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO;
      g_set_error (error, TSR_ERROR, code, "Cannot read JSON file “%s”: %s",
                   path, local->message);
      g_error_free (local);
      return NULL;
    }
  TsrJson *root = tsr_json_parse (text, (gssize) len, &local);
  g_free (text);
  if (root == NULL)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, "%s: %s", path, local->message);
      g_error_free (local);
    }
  return root;
}

TsrJsonType
tsr_json_type (const TsrJson *node)
{
  return node != NULL ? node->type : TSR_JSON_NULL;
}

const TsrJson *
tsr_json_get (const TsrJson *node, const char *key)
{
  if (node == NULL || node->type != TSR_JSON_OBJECT || key == NULL)
    return NULL;
  for (guint i = 0; i < node->items->len; i++)
    {
      const TsrJson *m = g_ptr_array_index (node->items, i);
      if (strcmp (m->key, key) == 0)
        return m;
    }
  return NULL;
}

guint
tsr_json_length (const TsrJson *node)
{
  if (node == NULL || (node->type != TSR_JSON_ARRAY && node->type != TSR_JSON_OBJECT))
    return 0;
  return node->items->len;
}

const TsrJson *
tsr_json_index (const TsrJson *node, guint i)
{
  if (node == NULL || (node->type != TSR_JSON_ARRAY && node->type != TSR_JSON_OBJECT)
      || i >= node->items->len)
    return NULL;
  return g_ptr_array_index (node->items, i);
}

double
tsr_json_number (const TsrJson *node, double fallback)
{
  return (node != NULL && node->type == TSR_JSON_NUMBER) ? node->num : fallback;
}

const char *
tsr_json_str (const TsrJson *node)
{
  return (node != NULL && node->type == TSR_JSON_STRING) ? node->str : NULL;
}

gboolean
tsr_json_boolean (const TsrJson *node, gboolean fallback)
{
  return (node != NULL && node->type == TSR_JSON_BOOL) ? node->b : fallback;
}

/* ------------------------------------------------------------------------------------- */
/* Atomic write                                                                           */
/* ------------------------------------------------------------------------------------- */

static void
set_io_error (GError **error, const char *path, const char *what, int errsv)
{
  g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
               "Cannot write “%s” (%s: %s); check that the folder exists, is writable and "
               "has free space",
               path, what, g_strerror (errsv));
}

gboolean
tsr_write_file_atomic (const char *path, const char *data, gssize len, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len <= 0, FALSE);

  if (data == NULL)
    data = "";
  if (len < 0)
    len = (gssize) strlen (data);

  g_autofree char *target = tsr_output_target (path, error);
  if (!target)
    return FALSE;
  char *dir = g_path_get_dirname (target);
  char *base = g_path_get_basename (target);
  char *name = g_strdup_printf (".%s.XXXXXX", base);
  char *tmp = g_build_filename (dir, name, NULL);
  gboolean ok = FALSE;
  int errsv;

  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      set_io_error (error, path, "cannot create a temporary file", errno);
      goto out;
    }

  const char *p = data;
  gsize left = (gsize) len;
  while (left > 0)
    {
      ssize_t n = write (fd, p, left);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          errsv = errno;
          close (fd);
          g_unlink (tmp);
          set_io_error (error, path, "write failed", errsv);
          goto out;
        }
      p += n;
      left -= (gsize) n;
    }
  if (fsync (fd) != 0 && errno != EINVAL && errno != EROFS)
    {
      errsv = errno;
      close (fd);
      g_unlink (tmp);
      set_io_error (error, path, "fsync failed", errsv);
      goto out;
    }
  if (close (fd) != 0)
    {
      errsv = errno;
      g_unlink (tmp);
      set_io_error (error, path, "close failed", errsv);
      goto out;
    }
  if (g_rename (tmp, target) != 0)
    {
      errsv = errno;
      g_unlink (tmp);
      set_io_error (error, path, "rename failed", errsv);
      goto out;
    }

  /* Make the rename durable (best effort). */
  int dfd = open (dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (dfd >= 0)
    {
      (void) fsync (dfd);
      close (dfd);
    }
  ok = TRUE;

out:
  g_free (tmp);
  g_free (name);
  g_free (base);
  g_free (dir);
  return ok;
}
