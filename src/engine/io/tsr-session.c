/* tsr-session.c — scan a folder or a list of files into a time-ordered session. */
#include "tsr-session.h"
#include "tsr-error.h"
#include "tsr-frame-file.h"
#include "tsr-image-reader.h"

#include <glib/gi18n.h>
#include <string.h>
#include <glib/gstdio.h>

gboolean
tsr_is_fits_name (const char *name)
{
  if (!name || name[0] == '.')
    return FALSE;
  g_autofree char *lower = g_ascii_strdown (name, -1);
  return g_str_has_suffix (lower, ".fit") || g_str_has_suffix (lower, ".fits")
         || g_str_has_suffix (lower, ".fts") || g_str_has_suffix (lower, ".fz");
}

static void
frame_info_free (gpointer p)
{
  TsrFrameInfo *fi = p;
  g_free (fi->path);
  g_free (fi->name);
  tsr_fits_info_clear (&fi->info);
  g_free (fi);
}

/* "device:inode" of an existing path (following links), or NULL. */
static char *
file_id (const char *path)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    return NULL;
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64) st.st_dev, (guint64) st.st_ino);
}

/* PNG, JPEG, SER and video files directly in a folder (0 when it is none): a folder of lunar or
 * planetary frames opened as a deep-sky session is told where it is read. (TIFF is a deep-sky
 * frame format here, so it is not counted.) */
static guint
count_captures (const char *dir)
{
  static const char *const stills[] = { ".png", ".jpg", ".jpeg", NULL };
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return 0;
  guint n = 0;
  const char *name;
  while ((name = g_dir_read_name (d)))
    {
      gboolean still = FALSE;
      g_autofree char *lower = g_ascii_strdown (name, -1);
      for (int i = 0; stills[i] && !still; i++)
        still = g_str_has_suffix (lower, stills[i]);
      n += still || tsr_is_ser_name (name) || tsr_is_video_name (name);
    }
  g_dir_close (d);
  return n;
}

/* The FITS files of dir (and, recursive, of its subfolders). Every folder is visited once,
 * however many links lead to it: a link to "." or to a parent cannot loop. */
static void
collect_folder (const char *dir, gboolean recursive, GHashTable *visited, GPtrArray *out, GError **error)
{
  char *id = file_id (dir);
  if (id && !g_hash_table_add (visited, id))
    return; /* already listed */
  g_autoptr (GDir) d = g_dir_open (dir, 0, error);
  if (!d)
    return;
  const char *name;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  for (guint i = 0; i < names->len; i++)
    {
      name = names->pdata[i];
      g_autofree char *full = g_build_filename (dir, name, NULL);
      if (g_file_test (full, G_FILE_TEST_IS_DIR))
        {
          if (recursive && name[0] != '.')
            {
              collect_folder (full, recursive, visited, out, error);
              if (error && *error)
                break;
            }
          continue;
        }
      if (tsr_is_frame_name (name))
        g_ptr_array_add (out, g_steal_pointer (&full));
    }
  g_ptr_array_unref (names);
}

/* SHA-256 of a whole file, or NULL when it cannot be read. */
static char *
content_hash (const char *path)
{
  g_autoptr (GMappedFile) m = g_mapped_file_new (path, FALSE, NULL);
  if (!m)
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) g_mapped_file_get_contents (m),
                                      g_mapped_file_get_length (m));
}

/* Byte-identical copies of one frame (a night copied into two folders): only the first in
 * time order stays. Candidates share size, time stamp (DATE-OBS; frames without one are not
 * compared: that would read every file at scan time) and shape; only they are hashed. */
static void
drop_copies (TsrSession *s)
{
  GPtrArray *f = s->frames;
  for (guint i = 0; i < f->len; i++)
    {
      TsrFrameInfo *a = f->pdata[i];
      if (!(a->info.jd > 0))
        break; /* undated frames sort last */
      g_autofree char *ha = NULL;
      for (guint j = i + 1; j < f->len;)
        {
          TsrFrameInfo *b = f->pdata[j];
          if (b->info.jd != a->info.jd)
            break; /* sorted by time: no later frame matches */
          if (b->file_size == a->file_size && b->info.width == a->info.width && b->info.height == a->info.height)
            {
              if (!ha)
                ha = content_hash (a->path);
              g_autofree char *hb = ha ? content_hash (b->path) : NULL;
              if (hb && g_strcmp0 (ha, hb) == 0)
                {
                  g_ptr_array_add (s->duplicates, g_strdup (b->path));
                  g_ptr_array_remove_index (f, j);
                  continue;
                }
            }
          j++;
        }
    }
}

static int
compare_frames (gconstpointer a, gconstpointer b)
{
  const TsrFrameInfo *fa = *(TsrFrameInfo *const *) a;
  const TsrFrameInfo *fb = *(TsrFrameInfo *const *) b;
  gboolean ha = fa->info.jd > 0, hb = fb->info.jd > 0;
  if (ha != hb)
    return ha ? -1 : 1;
  if (ha && fa->info.jd != fb->info.jd)
    return fa->info.jd < fb->info.jd ? -1 : 1;
  int c = strcmp (fa->name, fb->name);
  return c ? c : strcmp (fa->path, fb->path);
}

TsrSession *
tsr_session_scan (const char *const *paths, const TsrScanOptions *opts,
                  GCancellable *cancellable, GError **error)
{
  TsrScanOptions defaults = { 0 };
  if (!opts)
    opts = &defaults;
  if (!paths || !paths[0])
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY, _("no session given: name a folder or FITS files"));
      return NULL;
    }
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  GHashTable *seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  char *root = NULL;
  guint n_paths = 0;
  for (int i = 0; paths[i]; i++, n_paths++)
    {
      const char *p = paths[i];
      if (!g_file_test (p, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND, _("%s: no such file or folder"), p);
          goto fail;
        }
      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        {
          guint before = files->len;
          GError *e = NULL;
          g_autoptr (GHashTable) visited = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
          collect_folder (p, opts->recursive, visited, files, &e);
          if (e)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot list the folder: %s"), p, e->message);
              g_error_free (e);
              goto fail;
            }
          (void) before;
          if (!root)
            root = g_strdup (p);
        }
      else
        g_ptr_array_add (files, g_strdup (p));
    }
  if (n_paths != 1)
    g_clear_pointer (&root, g_free);

  if (files->len == 0)
    {
      guint captures = n_paths == 1 ? count_captures (paths[0]) : 0;
      if (captures)
        g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                     g_dngettext (GETTEXT_PACKAGE,
                                  "%s: no deep-sky frames found (FITS, XISF, TIFF or camera raw), but %u PNG, JPEG, "
                                  "SER or video file: lunar and planetary captures are read by 'tessera-cli planetary' "
                                  "(or the window)",
                                  "%s: no deep-sky frames found (FITS, XISF, TIFF or camera raw), but %u PNG, JPEG, "
                                  "SER or video files: lunar and planetary captures are read by 'tessera-cli planetary' "
                                  "(or the window)", captures),
                     paths[0], captures);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                     _("%s: no frames found (looked for .fit, .fits, .fts, .fz, .xisf, .tif, .tiff and camera raw files%s)"),
                     paths[0], opts->recursive ? _(" in all subfolders") : "");
      goto fail;
    }

  TsrSession *s = g_new0 (TsrSession, 1);
  s->ref_count = 1;
  s->frames = g_ptr_array_new_with_free_func (frame_info_free);
  s->duplicates = g_ptr_array_new_with_free_func (g_free);
  s->root = root;
  root = NULL;
  for (guint i = 0; i < files->len; i++)
    {
      const char *path = files->pdata[i];
      /* the same file reached twice (listed twice, a symbolic or a hard link) counts once */
      char *canon = file_id (path);
      if (!canon)
        canon = g_canonicalize_filename (path, NULL);
      if (g_hash_table_contains (seen, canon))
        {
          g_free (canon);
          g_ptr_array_add (s->duplicates, g_strdup (path));
          continue;
        }
      g_hash_table_add (seen, canon);
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          tsr_session_unref (s);
          goto fail;
        }
      TsrFrameInfo *fi = g_new0 (TsrFrameInfo, 1);
      fi->path = g_strdup (path);
      fi->name = g_path_get_basename (path);
      if (!tsr_frame_read_info (path, &fi->info, NULL, error))
        {
          frame_info_free (fi);
          tsr_session_unref (s);
          goto fail;
        }
      GStatBuf st;
      if (g_stat (path, &st) == 0)
        fi->file_size = st.st_size;
      g_ptr_array_add (s->frames, fi);
    }
  g_ptr_array_sort (s->frames, compare_frames);
  drop_copies (s);

  /* The session's shape is the most common one, so a single odd file is the one named. */
  guint n = s->frames->len, best = 0, best_count = 0;
  for (guint i = 0; i < n; i++)
    {
      TsrFrameInfo *a = s->frames->pdata[i];
      guint count = 0;
      for (guint j = 0; j < n; j++)
        {
          TsrFrameInfo *b = s->frames->pdata[j];
          count += a->info.width == b->info.width && a->info.height == b->info.height
                   && a->info.channels == b->info.channels;
        }
      if (count > best_count)
        best_count = count, best = i;
    }
  TsrFrameInfo *ref = s->frames->pdata[best];
  s->width = ref->info.width;
  s->height = ref->info.height;
  s->channels = ref->info.channels;
  for (guint i = 0; i < n; i++)
    {
      TsrFrameInfo *fi = s->frames->pdata[i];
      if (fi->info.width != s->width || fi->info.height != s->height || fi->info.channels != s->channels)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("%s: mixed image sizes: this frame is %d×%d×%d but the session's frames "
                         "are %d×%d×%d; remove it or process it separately"),
                       fi->path, fi->info.width, fi->info.height, fi->info.channels, s->width,
                       s->height, s->channels);
          tsr_session_unref (s);
          goto fail;
        }
    }
  /* Same for the Bayer pattern. */
  best_count = 0;
  for (guint i = 0; i < n; i++)
    {
      TsrFrameInfo *a = s->frames->pdata[i];
      guint count = 0;
      for (guint j = 0; j < n; j++)
        count += ((TsrFrameInfo *) s->frames->pdata[j])->info.cfa == a->info.cfa;
      if (count > best_count)
        best_count = count, best = i;
    }
  s->cfa = ((TsrFrameInfo *) s->frames->pdata[best])->info.cfa;
  if (!opts->allow_mixed_patterns)
    for (guint i = 0; i < n; i++)
      {
        TsrFrameInfo *fi = s->frames->pdata[i];
        if (fi->info.cfa != s->cfa)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                         _("%s: mixed Bayer patterns: this frame is %s but the session's frames are %s"),
                         fi->path, tsr_cfa_name (fi->info.cfa), tsr_cfa_name (s->cfa));
            tsr_session_unref (s);
            goto fail;
          }
      }
  g_hash_table_unref (seen);
  return s;

fail:
  g_free (root);
  g_hash_table_unref (seen);
  return NULL;
}

TsrSession *
tsr_session_ref (TsrSession *s)
{
  g_atomic_int_inc (&s->ref_count);
  return s;
}

void
tsr_session_unref (TsrSession *s)
{
  if (!s)
    return;
  if (g_atomic_int_dec_and_test (&s->ref_count))
    {
      tsr_session_set_filter (s, NULL, NULL, NULL, 0, 0, NULL);
      g_ptr_array_unref (s->frames);
      g_ptr_array_unref (s->duplicates);
      g_free (s->root);
      g_free (s);
    }
}

void
tsr_session_set_filter (TsrSession *s, TsrFrameFilterFunc func, gpointer data, GDestroyNotify destroy,
                        int margin_rows, gsize bytes, const char *history)
{
  g_return_if_fail (s != NULL);
  if (s->filter)
    {
      if (s->filter->destroy)
        s->filter->destroy (s->filter->data);
      g_free (s->filter->history);
      g_clear_pointer (&s->filter, g_free);
    }
  if (!func)
    return;
  s->filter = g_new0 (TsrFrameFilter, 1);
  s->filter->func = func;
  s->filter->data = data;
  s->filter->destroy = destroy;
  s->filter->margin_rows = MAX (margin_rows, 0);
  s->filter->bytes = bytes;
  s->filter->history = g_strdup (history);
}

void
tsr_session_add_history (const TsrSession *s, TsrHeader *header)
{
  if (s && s->filter && s->filter->history && header)
    tsr_header_add_history (header, s->filter->history);
}

gsize
tsr_session_filter_bytes (const TsrSession *s)
{
  return s && s->filter ? s->filter->bytes : 0;
}

TsrImage *
tsr_session_read_frame (const TsrSession *s, guint index, GError **error)
{
  g_return_val_if_fail (s != NULL && index < tsr_session_n_frames (s), NULL);
  const TsrFrameInfo *fi = tsr_session_frame (s, index);
  TsrImage *img = tsr_frame_read (fi->path, error);
  if (!img)
    return NULL;
  if (img->width != s->width || img->height != s->height || img->channels != s->channels)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, _("%s: changed size since the session was scanned"),
                   fi->path);
      tsr_image_unref (img);
      return NULL;
    }
  if (s->filter && !s->filter->func (index, fi, img, 0, s->filter->data, error))
    {
      tsr_image_unref (img);
      return NULL;
    }
  tsr_session_add_history (s, img->header);
  return img;
}

TsrImage *
tsr_session_read_rows (const TsrSession *s, guint index, int y0, int y1, GError **error)
{
  g_return_val_if_fail (s != NULL && index < tsr_session_n_frames (s), NULL);
  const TsrFrameInfo *fi = tsr_session_frame (s, index);
  if (!s->filter)
    return tsr_frame_read_rows (fi->path, y0, y1, error);
  int m = s->filter->margin_rows;
  int ya = MAX (0, y0 - m), yb = MIN (s->height, y1 + m);
  if (ya >= yb || y0 < ya || y1 > yb)
    return tsr_frame_read_rows (fi->path, y0, y1, error); /* let the reader report the range */
  TsrImage *band = tsr_frame_read_rows (fi->path, ya, yb, error);
  if (!band)
    return NULL;
  if (band->width != s->width || band->height != yb - ya || band->channels != s->channels)
    return band; /* the caller reports the shape */
  if (!s->filter->func (index, fi, band, ya, s->filter->data, error))
    {
      tsr_image_unref (band);
      return NULL;
    }
  if (ya == y0 && yb == y1)
    return band;
  /* only the rows asked for */
  TsrImage *out = tsr_image_new_uninit (band->width, y1 - y0, band->channels);
  out->cfa = tsr_cfa_shift (band->cfa, 0, (y0 - ya) & 1);
  tsr_header_free (out->header);
  out->header = tsr_header_copy (band->header);
  gsize row = (gsize) band->width, rows = (gsize) (y1 - y0);
  for (int c = 0; c < band->channels; c++)
    memcpy (tsr_image_plane (out, c), tsr_image_plane (band, c) + (gsize) (y0 - ya) * row, rows * row * sizeof (float));
  memcpy (out->mask, band->mask + (gsize) (y0 - ya) * row, rows * row);
  tsr_image_unref (band);
  return out;
}

#ifdef G_OS_UNIX
#include <sys/resource.h>
#include <unistd.h>
#endif
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#include <malloc.h>
#endif

void
tsr_prefer_huge_pages (char **argv)
{
#if defined(__linux__) && defined(__GLIBC__)
  const char *flag = g_getenv ("TESSERA_HUGEPAGES");
  if (!argv || !argv[0] || (flag && !strcmp (flag, "0")))
    return;
  const char *tun = g_getenv ("GLIBC_TUNABLES");
  if (tun && strstr (tun, "glibc.malloc.hugetlb"))
    return;
  const char *pre = g_getenv ("LD_PRELOAD");
  if (pre && strstr (pre, "vgpreload"))
    return;
  int major = 0, minor = 0;
  if (sscanf (gnu_get_libc_version (), "%d.%d", &major, &minor) != 2 || major < 2 || (major == 2 && minor < 35))
    return;
  g_autofree char *thp = NULL;
  if (!g_file_get_contents ("/sys/kernel/mm/transparent_hugepage/enabled", &thp, NULL, NULL)
      || strstr (thp, "[never]"))
    return;
  g_autofree char *val = tun && *tun ? g_strconcat (tun, ":glibc.malloc.hugetlb=1", NULL)
                                     : g_strdup ("glibc.malloc.hugetlb=1");
  g_autofree char *old = g_strdup (tun);
  if (!g_setenv ("GLIBC_TUNABLES", val, TRUE))
    return;
  /* by its own path, so the process keeps its name (ps, top: "tessera-cli", not "exe") */
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  execv (self && g_file_test (self, G_FILE_TEST_IS_EXECUTABLE) ? self : "/proc/self/exe", argv);
  /* still here: carry on with 4 KiB pages, the environment as it was */
  if (old)
    g_setenv ("GLIBC_TUNABLES", old, TRUE);
  else
    g_unsetenv ("GLIBC_TUNABLES");
#endif
}

void
tsr_malloc_setup (void)
{
#ifdef __GLIBC__
  /* Frame-sized buffers (tens of MB) are allocated and freed per frame by every worker:
   * serve them from the heap and keep freed memory for the next frame instead of
   * mapping and unmapping each one (page faults, zeroing and TLB shootdowns across
   * threads cost ~10 % of a process run). Peak memory is unchanged: freed memory is
   * reused, not added to. (FFTW's buffered column passes also take ~0.5 MB per
   * execution: from the heap, not from fresh pages.) */
  mallopt (M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt (M_TRIM_THRESHOLD, 512 * 1024 * 1024);
  /* … and one arena for every thread, so what one worker frees the next frame of another
   * reuses: with an arena per worker each kept its own freed frames and peak RSS exceeded
   * the run.memory_mb plan by ~25 % (1920×1080 Bayer, 2 workers: 493 → 391 MiB at a budget
   * of 380; same CPU time — the workers allocate per frame, not per pixel). */
  mallopt (M_ARENA_MAX, 1);
#endif
}

#ifdef __GLIBC__
static gpointer
malloc_release_thread (gpointer data)
{
  malloc_trim (0);
  return NULL;
}
#endif

void
tsr_malloc_release (void)
{
#ifdef __GLIBC__
  /* with tsr_malloc_setup's thresholds a finished job's freed frame buffers stay in the heap
   * (up to M_TRIM_THRESHOLD): a long-lived process (the window) hands them back when a job
   * ends. malloc_trim walks the whole heap, so it runs off the calling (main) thread. */
  g_thread_unref (g_thread_new ("tsr-trim", malloc_release_thread, NULL));
#endif
}

void
tsr_raise_open_file_limit (void)
{
#ifdef G_OS_UNIX
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
#endif
}
