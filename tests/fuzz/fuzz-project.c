/* fuzz-project.c — libFuzzer target: the .tessera project-file parser.
 *
 * The input is a project file. A load either succeeds with parameters (and sky-sample
 * edits) that pass validation and round-trip through tsr_project_save_ext, or fails with a
 * TSR_ERROR naming the file. Each line is also tried as a --set KEY=VALUE assignment. */
#include "fuzz-common.h"
#include "tessera.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  char *path = fuzz_write (dir, "project.tessera", data, size);

  TsrProject p;
  tsr_project_init (&p);
  char **paths = NULL;
  GPtrArray *warnings = g_ptr_array_new_with_free_func (g_free);
  GError *e = NULL;
  TsrSampleEdits se = { 0, NULL, NULL };
  if (tsr_project_load_ext (path, &p, &paths, NULL, NULL, &se, warnings, &e))
    {
      if (!se.add || !se.exclude || (se.width <= 0 && se.add->len + se.exclude->len > 0))
        abort ();
      if (!paths)
        abort ();
      GError *v = NULL;
      if (!tsr_project_validate (&p, &v))
        abort ();
      /* save and load again: same parameters */
      char *again = g_build_filename (dir, "again.tessera", NULL);
      if (tsr_project_save_ext (again, &p, (const char *const *) paths, NULL, NULL, &se, &v))
        {
          TsrProject q;
          tsr_project_init (&q);
          char **paths2 = NULL;
          TsrSampleEdits se2 = { 0, NULL, NULL };
          if (!tsr_project_load_ext (again, &q, &paths2, NULL, NULL, &se2, NULL, &v))
            abort ();
          /* the same edits (an added box left of x = 0 is saved at 0) */
          if (se2.add->len != se.add->len || se2.exclude->len != se.exclude->len
              || (se.add->len + se.exclude->len > 0 && se2.width != se.width))
            abort ();
          for (int l = 0; l < 2; l++)
            for (guint i = 0; i < (l ? se.exclude : se.add)->len; i++)
              {
                const TsrBgPoint *a = &g_array_index (l ? se.exclude : se.add, TsrBgPoint, i);
                const TsrBgPoint *b = &g_array_index (l ? se2.exclude : se2.add, TsrBgPoint, i);
                if (b->y != a->y || b->size != a->size || b->x != (l ? a->x : MAX (a->x, 0.0)))
                  abort ();
              }
          tsr_sample_edits_clear (&se2);
          guint n = tsr_project_n_keys ();
          for (guint i = 0; i < n; i++)
            {
              char *a = tsr_project_get_string (&p, tsr_project_key (i)->key);
              char *b = tsr_project_get_string (&q, tsr_project_key (i)->key);
              if (g_strcmp0 (a, b) != 0)
                abort ();
              g_free (a);
              g_free (b);
            }
          g_strfreev (paths2);
        }
      else
        g_clear_error (&v);
      g_unlink (again);
      g_free (again);
      g_strfreev (paths);
    }
  else
    {
      if (!e || e->domain != TSR_ERROR || !e->message)
        abort ();
      g_clear_error (&e);
    }
  tsr_sample_edits_clear (&se);
  g_ptr_array_unref (warnings);

  /* every line as an assignment */
  char *text = g_strndup ((const char *) data, size);
  char **lines = g_strsplit (text, "\n", 64);
  TsrProject r;
  tsr_project_init (&r);
  for (int i = 0; lines[i]; i++)
    {
      if (!tsr_project_set_assignment (&r, lines[i], &e))
        {
          if (!e)
            abort ();
          g_clear_error (&e);
        }
    }
  g_strfreev (lines);
  g_free (text);
  g_unlink (path);
  g_free (path);
  return 0;
}
