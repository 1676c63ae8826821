/* tsr-output.c — resolving what an output path names (tsr-output.h). */
#include "tsr-output.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40

static const char *
kind_of (mode_t m)
{
  if (S_ISDIR (m))
    return _("a folder");
  if (S_ISCHR (m) || S_ISBLK (m))
    return _("a device");
  if (S_ISFIFO (m))
    return _("a FIFO");
  if (S_ISSOCK (m))
    return _("a socket");
  return _("not a regular file");
}

char *
tsr_output_target (const char *path, GError **error)
{
  if (!path || !*path)
    {
      g_set_error_literal (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("the output name is empty"));
      return NULL;
    }
  char *p = g_strdup (path);
  for (int hop = 0; hop <= MAX_LINKS; hop++)
    {
      struct stat st;
      if (g_lstat (p, &st) != 0)
        {
          int e = errno;
          if (e == ENOENT)
            return p; /* a new name: the writer reports a missing folder */
          g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s"), path, g_strerror (e));
          g_free (p);
          return NULL;
        }
      if (S_ISREG (st.st_mode))
        return p;
      if (!S_ISLNK (st.st_mode))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s is %s, not a file: name a new file or an existing regular file"), path,
                       kind_of (st.st_mode));
          g_free (p);
          return NULL;
        }
      g_autofree char *link = g_file_read_link (p, NULL);
      if (!link)
        break;
      char *next;
      if (g_path_is_absolute (link))
        next = g_strdup (link);
      else
        {
          g_autofree char *dir = g_path_get_dirname (p);
          next = g_build_filename (dir, link, NULL);
        }
      g_free (p);
      p = next;
    }
  g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
               _("%s is a symbolic link that does not end at a file (a loop?)"), path);
  g_free (p);
  return NULL;
}

/* The canonical form of a target that may not exist yet: its folder resolved, plus its
 * name. */
static char *
canonical (const char *path)
{
  g_autofree char *t = tsr_output_target (path, NULL);
  if (!t)
    return NULL;
  g_autofree char *dir = g_path_get_dirname (t);
  g_autofree char *base = g_path_get_basename (t);
  char buf[PATH_MAX];
  if (!realpath (dir, buf))
    return NULL;
  return g_build_filename (buf, base, NULL);
}

gboolean
tsr_output_same (const char *a, const char *b)
{
  if (!a || !b)
    return FALSE;
  g_autofree char *ca = canonical (a);
  g_autofree char *cb = canonical (b);
  if (ca && cb && g_strcmp0 (ca, cb) == 0)
    return TRUE;
  struct stat sa, sb;
  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int
tsr_output_open_temp (const char *target, const char *path, char **tmp_out, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (target);
  g_autofree char *base = g_path_get_basename (target);
  char *tmp = g_strdup_printf ("%s/.%s.XXXXXX.part", dir, base);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_free (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s"), path, g_strerror (e));
      return -1;
    }
  *tmp_out = tmp;
  return fd;
}

gboolean
tsr_output_close_temp (int fd, const char *tmp, const char *target, const char *path, gboolean ok, int errsv,
                       GError **error)
{
  if (ok && fsync (fd) != 0 && errno != EINVAL)
    {
      errsv = errno;
      ok = FALSE;
    }
  if (close (fd) != 0 && ok)
    {
      errsv = errno;
      ok = FALSE;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s (disk full or folder not writable?)"),
                   path, g_strerror (errsv));
      return FALSE;
    }
  if (g_rename (tmp, target) != 0)
    {
      errsv = errno;
      g_unlink (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot rename the finished file to %s: %s"), path,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

gboolean
tsr_output_write_all (int fd, const void *buf, gsize len)
{
  const guint8 *p = buf;
  while (len > 0)
    {
      gssize w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return FALSE;
      p += w;
      len -= (gsize) w;
    }
  return TRUE;
}
