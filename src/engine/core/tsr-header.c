/* tsr-header.c — FITS header cards kept for pass-through. */
#include "tsr-header.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct _TsrHeader
{
  GPtrArray *cards; /* char*, each ≤ 80 columns, no trailing blanks */
};

TsrHeader *
tsr_header_new (void)
{
  TsrHeader *h = g_new0 (TsrHeader, 1);
  h->cards = g_ptr_array_new_with_free_func (g_free);
  return h;
}

TsrHeader *
tsr_header_copy (const TsrHeader *h)
{
  TsrHeader *c = tsr_header_new ();
  for (guint i = 0; i < h->cards->len; i++)
    g_ptr_array_add (c->cards, g_strdup (h->cards->pdata[i]));
  return c;
}

void
tsr_header_free (TsrHeader *h)
{
  if (!h)
    return;
  g_ptr_array_unref (h->cards);
  g_free (h);
}

void
tsr_header_add_card (TsrHeader *h, const char *card)
{
  char *c = g_strndup (card, 80);
  g_strchomp (c);
  g_ptr_array_add (h->cards, c);
}

guint
tsr_header_n_cards (const TsrHeader *h)
{
  return h->cards->len;
}

const char *
tsr_header_card (const TsrHeader *h, guint i)
{
  return i < h->cards->len ? h->cards->pdata[i] : NULL;
}

char *
tsr_header_card_keyword (const char *card)
{
  if (g_ascii_strncasecmp (card, "HIERARCH ", 9) == 0)
    {
      const char *eq = strchr (card, '=');
      char *k = eq ? g_strndup (card, eq - card) : g_strdup (card);
      g_strstrip (k);
      char *up = g_ascii_strup (k, -1);
      g_free (k);
      return up;
    }
  char *k = g_strndup (card, 8);
  g_strchomp (k);
  char *up = g_ascii_strup (k, -1);
  g_free (k);
  return up;
}

static gboolean
key_matches (const char *card, const char *key)
{
  g_autofree char *k = tsr_header_card_keyword (card);
  if (g_ascii_strcasecmp (k, key) == 0)
    return TRUE;
  /* Allow "HIERARCH X" to be looked up as "X". */
  if (g_str_has_prefix (k, "HIERARCH ") && g_ascii_strcasecmp (k + 9, key) == 0)
    return TRUE;
  return FALSE;
}

static const char *
find_card (const TsrHeader *h, const char *key)
{
  for (guint i = 0; i < h->cards->len; i++)
    if (key_matches (h->cards->pdata[i], key))
      return h->cards->pdata[i];
  return NULL;
}

gboolean
tsr_header_has (const TsrHeader *h, const char *key)
{
  return find_card (h, key) != NULL;
}

/* Value part of a card: after "= " for value cards, unquoted for strings, without
 * the trailing "/ comment". Returns NULL for cards without a value. */
static char *
card_value (const char *card)
{
  const char *p;
  if (g_ascii_strncasecmp (card, "HIERARCH ", 9) == 0)
    {
      p = strchr (card, '=');
      if (!p)
        return NULL;
      p++;
    }
  else
    {
      if (strlen (card) < 10 || card[8] != '=')
        return NULL;
      p = card + 9;
    }
  while (*p == ' ')
    p++;
  if (*p == '\'')
    {
      GString *s = g_string_new (NULL);
      p++;
      while (*p)
        {
          if (*p == '\'')
            {
              if (p[1] == '\'')
                {
                  g_string_append_c (s, '\'');
                  p += 2;
                  continue;
                }
              break;
            }
          g_string_append_c (s, *p++);
        }
      g_strchomp (s->str);
      return g_string_free (s, FALSE);
    }
  const char *slash = strchr (p, '/');
  char *v = slash ? g_strndup (p, slash - p) : g_strdup (p);
  g_strstrip (v);
  if (!*v)
    {
      g_free (v);
      return NULL;
    }
  return v;
}

char *
tsr_header_get_string (const TsrHeader *h, const char *key)
{
  const char *c = find_card (h, key);
  return c ? card_value (c) : NULL;
}

gboolean
tsr_header_get_double (const TsrHeader *h, const char *key, double *out)
{
  g_autofree char *v = tsr_header_get_string (h, key);
  if (!v)
    return FALSE;
  /* FITS allows D exponents. */
  for (char *p = v; *p; p++)
    if (*p == 'D' || *p == 'd')
      *p = 'E';
  char *end = NULL;
  double d = g_ascii_strtod (v, &end);
  if (end == v || !isfinite (d))
    return FALSE;
  while (*end == ' ')
    end++;
  if (*end)
    return FALSE;
  *out = d;
  return TRUE;
}

gboolean
tsr_header_get_int (const TsrHeader *h, const char *key, gint64 *out)
{
  double d;
  if (!tsr_header_get_double (h, key, &d) || d != floor (d) || fabs (d) > 9e15)
    return FALSE;
  *out = (gint64) d;
  return TRUE;
}

void
tsr_header_remove (TsrHeader *h, const char *key)
{
  for (guint i = h->cards->len; i-- > 0;)
    if (key_matches (h->cards->pdata[i], key))
      g_ptr_array_remove_index (h->cards, i);
}

static void
set_card (TsrHeader *h, const char *key, const char *value_text, const char *comment)
{
  char card[81];
  if (strlen (key) <= 8)
    {
      if (comment && *comment)
        g_snprintf (card, sizeof card, "%-8.8s= %20s / %s", key, value_text, comment);
      else
        g_snprintf (card, sizeof card, "%-8.8s= %20s", key, value_text);
    }
  else
    {
      if (comment && *comment)
        g_snprintf (card, sizeof card, "HIERARCH %s = %s / %s", key, value_text, comment);
      else
        g_snprintf (card, sizeof card, "HIERARCH %s = %s", key, value_text);
    }
  for (guint i = 0; i < h->cards->len; i++)
    if (key_matches (h->cards->pdata[i], key))
      {
        g_free (h->cards->pdata[i]);
        h->cards->pdata[i] = g_strchomp (g_strdup (card));
        /* remove later duplicates */
        for (guint j = h->cards->len; j-- > i + 1;)
          if (key_matches (h->cards->pdata[j], key))
            g_ptr_array_remove_index (h->cards, j);
        return;
      }
  tsr_header_add_card (h, card);
}

void
tsr_header_set_string (TsrHeader *h, const char *key, const char *value, const char *comment)
{
  GString *q = g_string_new ("'");
  for (const char *p = value; *p && q->len < 68; p++)
    {
      if (*p == '\'')
        g_string_append (q, "''");
      else if ((guchar) *p >= 32 && (guchar) *p < 127)
        g_string_append_c (q, *p);
      else
        g_string_append_c (q, '?');
    }
  while (q->len < 9)
    g_string_append_c (q, ' ');
  g_string_append_c (q, '\'');
  /* strings are left-aligned in FITS */
  char card[81];
  if (strlen (key) <= 8)
    {
      if (comment && *comment)
        g_snprintf (card, sizeof card, "%-8.8s= %-20s / %s", key, q->str, comment);
      else
        g_snprintf (card, sizeof card, "%-8.8s= %s", key, q->str);
      tsr_header_remove (h, key);
      tsr_header_add_card (h, card);
    }
  else
    set_card (h, key, q->str, comment);
  g_string_free (q, TRUE);
}

void
tsr_header_set_double (TsrHeader *h, const char *key, double value, const char *comment)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (!isfinite (value))
    {
      tsr_header_remove (h, key);
      return;
    }
  g_ascii_formatd (buf, sizeof buf, "%.10G", value);
  if (!strchr (buf, '.') && !strchr (buf, 'E'))
    g_strlcat (buf, ".", sizeof buf);
  set_card (h, key, buf, comment);
}

void
tsr_header_set_int (TsrHeader *h, const char *key, gint64 value, const char *comment)
{
  char buf[32];
  g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, value);
  set_card (h, key, buf, comment);
}

void
tsr_header_set_bool (TsrHeader *h, const char *key, gboolean value, const char *comment)
{
  set_card (h, key, value ? "T" : "F", comment);
}

void
tsr_header_add_history (TsrHeader *h, const char *text)
{
  const gsize width = 72;
  gsize len = strlen (text);
  for (gsize off = 0; off < len || off == 0; off += width)
    {
      char card[81];
      g_snprintf (card, sizeof card, "HISTORY %.*s", (int) MIN (width, len - off), text + off);
      for (char *p = card; *p; p++)
        if ((guchar) *p < 32 || (guchar) *p > 126)
          *p = '?';
      tsr_header_add_card (h, card);
      if (len == 0)
        break;
    }
}
