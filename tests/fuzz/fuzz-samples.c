/* fuzz-samples.c — libFuzzer target: the sky-sample file parser (docs/post.md: "x,y",
 * "x,y,size", "-x,y" a line; blank lines and # comments ignored).
 *
 * The input is a sample file. A parse either succeeds — one edit per line that is neither
 * blank nor a comment, every point finite, sizes 0 or 4…4096, each edit formatted and parsed
 * back to the same point — or fails with TSR_ERROR_INVALID_ARG naming a line of the file and
 * leaving the arrays as they were. The edits then go to the background extraction of a small
 * image: a result or a TSR_ERROR, never a crash. */
#include "fuzz-common.h"
#include "tessera.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint
count_edit_lines (const char *text, guint *n_lines)
{
  char **lines = g_strsplit (text, "\n", -1);
  guint n = 0, i = 0;
  for (; lines[i]; i++)
    {
      char *l = g_strstrip (lines[i]);
      n += *l && *l != '#';
    }
  *n_lines = i;
  g_strfreev (lines);
  return n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = g_strndup ((const char *) data, size);   /* up to the first NUL */
  GArray *add = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  GArray *excl = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  TsrBgPoint sentinel = { 1.5, 2.5, 8 };
  g_array_append_val (add, sentinel);
  g_array_append_val (excl, sentinel);
  GError *e = NULL;
  guint n_lines = 0, n_edits = count_edit_lines (text, &n_lines);
  if (tsr_background_edits_parse (text, add, excl, &e))
    {
      if (e || add->len + excl->len != 2 + n_edits)
        abort ();
      for (int l = 0; l < 2; l++)
        {
          GArray *a = l ? excl : add;
          for (guint i = 1; i < a->len; i++)
            {
              const TsrBgPoint *p = &g_array_index (a, TsrBgPoint, i);
              if (!isfinite (p->x) || !isfinite (p->y) || (p->size != 0 && (p->size < 4 || p->size > 4096)))
                abort ();
              if (l == 1 && p->size != 0)
                abort ();
              char *line = tsr_background_edit_format (p, l == 1);
              TsrBgPoint q;
              gboolean x;
              if (!tsr_background_edit_parse_line (line, &q, &x) || x != (l == 1) || q.y != p->y || q.size != p->size
                  || q.x != (l == 1 ? p->x : MAX (p->x, 0.0)))
                abort ();
              g_free (line);
            }
        }
      /* the engine with these edits (a few at most: each is a box to measure) */
      if (add->len + excl->len <= 66)
        {
          TsrImage *img = tsr_image_new (40, 30, 1);
          float *pl = tsr_image_plane (img, 0);
          for (int k = 0; k < 40 * 30; k++)
            pl[k] = (float) (100 + (k % 40) * 0.5 + (k / 40) * 0.25 + ((k * 7919) % 13));
          TsrPostParams pp;
          tsr_post_params_init (&pp);
          pp.bg_degree = 1;
          pp.bg_grid = 4;
          TsrBackgroundEdits ed = { (const TsrBgPoint *) add->data + 1, add->len - 1,
                                    (const TsrBgPoint *) excl->data + 1, excl->len - 1 };
          GArray *samples = NULL;
          GError *be = NULL;
          TsrImage *out = tsr_background_extract_edited (img, &pp, &ed, NULL, &samples, NULL, NULL, &be);
          if (out)
            {
              if (be || !samples || out->width != 40 || out->height != 30)
                abort ();
              tsr_image_unref (out);
              g_array_unref (samples);
            }
          else if (!be || be->domain != TSR_ERROR || !be->message)
            abort ();
          g_clear_error (&be);
          tsr_image_unref (img);
        }
    }
  else
    {
      if (!e || e->domain != TSR_ERROR || e->code != TSR_ERROR_INVALID_ARG || !e->message)
        abort ();
      /* it names a line of the file, and nothing was appended */
      const char *at = strstr (e->message, "line ");
      guint line = at ? (guint) g_ascii_strtoull (at + 5, NULL, 10) : 0;
      if (line < 1 || line > n_lines || add->len != 1 || excl->len != 1
          || g_array_index (add, TsrBgPoint, 0).x != 1.5)
        abort ();
      g_error_free (e);
    }
  g_array_unref (add);
  g_array_unref (excl);
  g_free (text);
  return 0;
}
