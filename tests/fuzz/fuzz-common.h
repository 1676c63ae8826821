/* fuzz-common.h — shared helpers of the libFuzzer targets: the engine reads files by
 * path, so each input is written to a private temporary folder first. */
#pragma once
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "tsr-error.h"
#include "tsr-image.h"

/* A new private folder NAME-XXXXXX under $TSR_FUZZ_TMPDIR (or the temporary folder); abort
 * on failure. */
static inline char *
fuzz_mkdtemp (const char *name)
{
  const char *base = g_getenv ("TSR_FUZZ_TMPDIR");
  char *leaf = g_strconcat (name, "-XXXXXX", NULL);
  char *tmpl = g_build_filename (base ? base : g_get_tmp_dir (), leaf, NULL);
  g_free (leaf);
  char *dir = g_mkdtemp (tmpl);
  if (!dir)
    abort ();
  return dir;
}

static inline const char *
fuzz_workdir (void)
{
  static char *dir;
  if (!dir)
    dir = fuzz_mkdtemp ("tessera-fuzz");
  return dir;
}

/* Write len bytes to dir/name; abort on failure (a broken harness, not a finding). */
static inline char *
fuzz_write (const char *dir, const char *name, const uint8_t *data, size_t len)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *e = NULL;
  if (!g_file_set_contents (path, (const char *) data, (gssize) len, &e))
    abort ();
  return path;
}

/* Remove every plain file of dir (not recursive: the targets write flat folders). */
static inline void
fuzz_clear (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return;
  const char *n;
  while ((n = g_dir_read_name (d)))
    {
      char *p = g_build_filename (dir, n, NULL);
      g_unlink (p);
      g_free (p);
    }
  g_dir_close (d);
}

/* A failed read must say why: a TSR_ERROR with a message. Clears *e. */
static inline void
fuzz_check_error (GError **e)
{
  if (!*e || (*e)->domain != TSR_ERROR || !(*e)->message || !*(*e)->message)
    abort ();
  g_clear_error (e);
}

/* A successful read is a consistent image: 1 or 3 channels, the expected size (width ≤ 0:
 * any), every sample finite. Unrefs img. */
static inline void
fuzz_check_image (TsrImage *img, int width, int height)
{
  if (img->width <= 0 || img->height <= 0 || !img->data || (img->channels != 1 && img->channels != 3))
    abort ();
  if (width > 0 && (img->width != width || img->height != height))
    abort ();
  gsize n = tsr_image_npix (img) * img->channels;
  for (gsize k = 0; k < n; k++)
    if (!(img->data[k] == img->data[k]))
      abort ();
  tsr_image_unref (img);
}

/* The result of a whole-image read of path (img, or NULL with *e set) that the header said
 * is w × h (w = 0: the header read failed): a consistent image, then the band of row y of
 * the same file through rows(), each checked; or a TSR_ERROR. Unrefs img. */
typedef TsrImage *(*FuzzRowsReader) (const char *path, int y0, int y1, GError **error);

static inline void
fuzz_check_read (const char *path, TsrImage *img, GError **e, int w, int h, int y, FuzzRowsReader rows)
{
  if (!img)
    {
      fuzz_check_error (e);
      return;
    }
  if (w == 0)
    abort (); /* the pixels read where the header did not */
  fuzz_check_image (img, w, h);
  TsrImage *band = rows (path, y, y + 1, e);
  if (band)
    fuzz_check_image (band, w, 1);
  else
    fuzz_check_error (e);
}
