/* tsr-commit.c — outputs committed together (tsr-commit.h). */
#include "tsr-commit.h"
#include "tsr-error.h"
#include "tsr-output.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>

typedef struct
{
  char *staged;
  char *final;
  gboolean dir;
} Item;

struct _TsrCommit
{
  GArray *items; /* Item */
};

static void
remove_tree (const char *path)
{
  GStatBuf st;
  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      GDir *d = g_dir_open (path, 0, NULL);
      const char *n;
      while (d && (n = g_dir_read_name (d)))
        {
          g_autofree char *child = g_build_filename (path, n, NULL);
          remove_tree (child);
        }
      if (d)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static void
item_clear (gpointer p)
{
  Item *it = p;
  if (it->staged)
    remove_tree (it->staged);
  g_free (it->staged);
  g_free (it->final);
}

TsrCommit *
tsr_commit_new (void)
{
  TsrCommit *c = g_new0 (TsrCommit, 1);
  c->items = g_array_new (FALSE, TRUE, sizeof (Item));
  g_array_set_clear_func (c->items, item_clear);
  return c;
}

void
tsr_commit_free (TsrCommit *c)
{
  if (!c)
    return;
  g_array_unref (c->items);
  g_free (c);
}

/* A fresh hidden name beside final: ".NAME.tessera-XXXXXX". */
static char *
staging_name (const char *final, gboolean dir, GError **error)
{
  g_autofree char *folder = g_path_get_dirname (final);
  g_autofree char *base = g_path_get_basename (final);
  g_autofree char *tmpl = g_strdup_printf (".%s.tessera-XXXXXX", base);
  g_autofree char *path = g_build_filename (folder, tmpl, NULL);
  if (dir)
    {
      g_mkdir_with_parents (folder, 0755); /* an output folder may be new, with its parents */
      if (!g_mkdtemp_full (path, 0755))
        {
          int e = errno;
          g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s"), final, g_strerror (e));
          return NULL;
        }
      return g_steal_pointer (&path);
    }
  int fd = g_mkstemp (path);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s"), final, g_strerror (e));
      return NULL;
    }
  close (fd);
  return g_steal_pointer (&path);
}

const char *
tsr_commit_stage_file (TsrCommit *c, const char *final, GError **error)
{
  g_autofree char *target = tsr_output_target (final, error);
  if (!target)
    return NULL;
  char *staged = staging_name (target, FALSE, error);
  if (!staged)
    return NULL;
  Item it = { staged, g_steal_pointer (&target), FALSE };
  g_array_append_val (c->items, it);
  return staged;
}

gboolean
tsr_output_dir_check (const char *final_dir, const char *marker, GError **error)
{
  if (!final_dir || !*final_dir)
    {
      g_set_error_literal (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("the output folder name is empty"));
      return FALSE;
    }
  GStatBuf st;
  if (g_stat (final_dir, &st) == 0)
    {
      if (!S_ISDIR (st.st_mode))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: is a file, expected a folder"), final_dir);
          return FALSE;
        }
      g_autoptr (GDir) d = g_dir_open (final_dir, 0, NULL);
      gboolean empty = d && !g_dir_read_name (d);
      g_autofree char *m = g_build_filename (final_dir, marker, NULL);
      if (!empty && !g_file_test (m, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s: the folder is not empty and is no earlier output of Tessera (no %s in it); "
                         "name a new or empty folder"),
                       final_dir, marker);
          return FALSE;
        }
    }
  return TRUE;
}

const char *
tsr_commit_stage_dir (TsrCommit *c, const char *final_dir, const char *marker, GError **error)
{
  if (!tsr_output_dir_check (final_dir, marker, error))
    return NULL;
  char *staged = staging_name (final_dir, TRUE, error);
  if (!staged)
    return NULL;
  Item it = { staged, g_strdup (final_dir), TRUE };
  g_array_append_val (c->items, it);
  return staged;
}

void
tsr_commit_explain (TsrCommit *c, GError *error)
{
  if (!c || !error)
    return;
  for (guint i = 0; i < c->items->len; i++)
    {
      Item *it = &g_array_index (c->items, Item, i);
      if (!it->staged)
        continue;
      /* the whole staged path, or its file name alone (the FITS writer names files by it) */
      g_autofree char *sb = g_path_get_basename (it->staged), *fb = g_path_get_basename (it->final);
      const char *from[2] = { it->staged, sb }, *to[2] = { it->final, fb };
      for (int k = 0; k < 2; k++)
        if (strstr (error->message, from[k]))
          {
            g_auto (GStrv) parts = g_strsplit (error->message, from[k], -1);
            char *m = g_strjoinv (to[k], parts);
            g_free (error->message);
            error->message = m;
          }
    }
}

gboolean
tsr_commit_apply (TsrCommit *c, GError **error)
{
  for (guint i = 0; i < c->items->len; i++)
    {
      Item *it = &g_array_index (c->items, Item, i);
      g_autofree char *old = NULL;
      if (it->dir && g_file_test (it->final, G_FILE_TEST_EXISTS))
        {
          /* the earlier report steps aside, the new one takes its name, then it goes */
          old = staging_name (it->final, FALSE, error);
          if (!old)
            return FALSE;
          g_unlink (old);
          if (g_rename (it->final, old) != 0)
            {
              int e = errno;
              g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot replace %s: %s"), it->final, g_strerror (e));
              return FALSE;
            }
        }
      if (g_rename (it->staged, it->final) != 0)
        {
          int e = errno;
          if (old)
            g_rename (old, it->final);
          g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot rename the finished output to %s: %s"), it->final,
                       g_strerror (e));
          return FALSE;
        }
      g_clear_pointer (&it->staged, g_free);
      if (old)
        remove_tree (old);
    }
  return TRUE;
}
