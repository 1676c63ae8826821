/* tsr-frame-cache.c — the frame cache (tsr-frame-cache.h): frames prepared once during the
 * analysis and read back by both accumulate passes. */
#include "tsr-frame-cache.h"
#include "tsr-tbqr-private.h"

#include <string.h>


struct _TsrFrameCache
{
  int fd;                 /* unlinked temporary file: frame i at offset i·frame_bytes */
  int width, height, channels;
  gboolean demosaic_frames;
  TsrDemosaicMethod demosaic;  /* which demosaic made the cached frames */
  TsrNormMode norm;
  TsrInterp interp;
  gsize frame_bytes;
  guint n_frames;
  gint *stored;           /* per frame, atomic: 1 = written completely to the file,
                             2 = held in memory (ram[i]) */
  /* memory tier: the first frames to arrive, up to ram_budget bytes, are kept as the warped
   * images themselves (no copy into the page cache and back) */
  TsrImage **ram;
  gsize ram_budget, ram_used;
  GMutex lock;
};

#ifdef G_OS_UNIX
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Free bytes for the cache in dir; 0 when dir is memory-backed (tmpfs would hold the
 * cache in RAM and defeat the memory bound). */
static guint64
cache_space (const char *dir)
{
  struct statfs fs;
  if (statfs (dir, &fs) == 0 && (fs.f_type == 0x01021994 /* TMPFS_MAGIC */ || fs.f_type == 0x858458f6 /* RAMFS */))
    return 0;
  struct statvfs v;
  if (statvfs (dir, &v) != 0)
    return 0;
  return (guint64) v.f_bavail * v.f_frsize;
}

TsrFrameCache *
tsr_frame_cache_new (const TsrAnalysis *a, const TsrTbqrParams *p, const TsrRunParams *run, guint n_frames)
{
  if (!run->frame_cache || n_frames == 0)
    return NULL;
  gboolean demosaic = a->cfa != TSR_CFA_NONE && a->channels == 1 && p->color_method == TSR_COLOR_DEMOSAIC_FRAMES;
  int C = demosaic ? 3 : a->channels;
  gsize npix = (gsize) a->width * a->height;
  gsize frame_bytes = npix * C * sizeof (float) + npix;
  guint64 need = (guint64) frame_bytes * n_frames;
  /* the temporary folder, else /var/tmp when that is memory-backed; keep a reserve of
   * 1 GiB and half the free space for everything else */
  /* run.cache_memory_mb of frames in memory: a bound independent of the frame count, so
   * peak memory still does not grow with the session */
  gsize ram_budget = (gsize) (run->cache_memory_mb * 1024 * 1024);
  if (ram_budget < frame_bytes)
    ram_budget = 0;
  int fd = -1;
  const char *dirs[] = { g_get_tmp_dir (), "/var/tmp" };
  for (guint d = 0; d < G_N_ELEMENTS (dirs) && fd < 0 && need > ram_budget; d++)
    {
      guint64 avail = cache_space (dirs[d]);
      if (avail < ((guint64) 1 << 30) || need > (avail - ((guint64) 1 << 30)) / 2)
        continue;
      g_autofree char *tmpl = g_build_filename (dirs[d], "tessera-cache-XXXXXX", NULL);
      fd = g_mkstemp_full (tmpl, O_RDWR, 0600);
      if (fd >= 0)
        g_unlink (tmpl); /* only the descriptor keeps it: freed on close, even on a crash */
    }
  if (fd < 0 && ram_budget == 0)
    return NULL;
  TsrFrameCache *c = g_new0 (TsrFrameCache, 1);
  c->fd = fd;
  c->width = a->width;
  c->height = a->height;
  c->channels = C;
  c->demosaic_frames = demosaic;
  c->demosaic = p->demosaic;
  c->norm = p->norm;
  c->interp = p->reg.interp;
  c->frame_bytes = frame_bytes;
  c->n_frames = n_frames;
  c->stored = g_new0 (gint, n_frames);
  c->ram = g_new0 (TsrImage *, n_frames);
  c->ram_budget = ram_budget;
  g_mutex_init (&c->lock);
  return c;
}

void
tsr_frame_cache_free (TsrFrameCache *c)
{
  if (!c)
    return;
  if (c->fd >= 0)
    close (c->fd);
  for (guint i = 0; i < c->n_frames; i++)
    if (c->ram[i])
      tsr_image_unref (c->ram[i]);
  g_free (c->ram);
  g_mutex_clear (&c->lock);
  g_free (c->stored);
  g_free (c);
}

static gboolean
full_io (int fd, gboolean write_, void *buf, gsize len, guint64 off)
{
  char *b = buf;
  while (len > 0)
    {
      gssize r = write_ ? pwrite (fd, b, MIN (len, (gsize) 1 << 30), (off_t) off)
                        : pread (fd, b, MIN (len, (gsize) 1 << 30), (off_t) off);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      b += r, len -= r, off += r;
    }
  return TRUE;
}

gboolean
tsr_frame_cache_put_frame (TsrFrameCache *c, const TsrAnalysis *a, const TsrTbqrParams *p, const TsrImage *img,
                           guint index, const TsrTransform *T, GError **error)
{
  if (!c || index >= c->n_frames)
    return TRUE;
  g_autoptr (TsrImage) copy = tsr_image_copy (img);
  g_autoptr (TsrImage) warped = tsr_tbqr_prepare_frame (a, p, c->demosaic_frames, FALSE, copy, index, T);
  if (!warped || warped->channels != c->channels)
    return TRUE; /* not cached: accumulate reads and warps this frame itself */
  g_mutex_lock (&c->lock);
  gboolean to_ram = c->ram_used + c->frame_bytes <= c->ram_budget;
  if (to_ram)
    c->ram_used += c->frame_bytes;
  g_mutex_unlock (&c->lock);
  if (to_ram)
    {
      c->ram[index] = g_steal_pointer (&warped);
      g_atomic_int_set (&c->stored[index], 2);
      return TRUE;
    }
  if (c->fd < 0)
    return TRUE; /* memory tier full and no file: accumulate warps this frame itself */
  gsize npix = (gsize) c->width * c->height;
  guint64 off = (guint64) index * c->frame_bytes;
  /* a failed write (disk full) only leaves the frame uncached */
  if (full_io (c->fd, TRUE, warped->data, npix * c->channels * sizeof (float), off)
      && full_io (c->fd, TRUE, warped->mask, npix, off + npix * c->channels * sizeof (float)))
    g_atomic_int_set (&c->stored[index], 1);
  return TRUE;
}

void
tsr_frame_cache_counts (TsrFrameCache *c, guint *in_memory, guint *in_file)
{
  *in_memory = *in_file = 0;
  for (guint i = 0; c && i < c->n_frames; i++)
    {
      gint st = g_atomic_int_get (&c->stored[i]);
      *in_memory += st == 2;
      *in_file += st == 1;
    }
}

static gboolean
cache_serves (const TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames, guint index)
{
  return c && index < c->n_frames && g_atomic_int_get (&c->stored[index]) && c->norm == p->norm
         && c->interp == p->reg.interp && c->demosaic_frames == demosaic_frames
         && (!demosaic_frames || c->demosaic == p->demosaic);
}

const TsrImage *
tsr_frame_cache_peek (TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames, guint index)
{
  if (!cache_serves (c, p, demosaic_frames, index) || g_atomic_int_get (&c->stored[index]) != 2)
    return NULL;
  return c->ram[index];
}

gboolean
tsr_frame_cache_read (TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames, guint index, TsrImage **img)
{
  if (!cache_serves (c, p, demosaic_frames, index))
    return FALSE;
  gsize npix = (gsize) c->width * c->height;
  if (!*img)
    *img = tsr_image_new_uninit (c->width, c->height, c->channels); /* filled below, or unused */
  if (g_atomic_int_get (&c->stored[index]) == 2)
    {
      const TsrImage *m = c->ram[index];
      memcpy ((*img)->data, m->data, npix * c->channels * sizeof (float));
      memcpy ((*img)->mask, m->mask, npix);
      return TRUE;
    }
  guint64 off = (guint64) index * c->frame_bytes;
  /* a failed read: the caller reads the frame instead */
  return full_io (c->fd, FALSE, (*img)->data, npix * c->channels * sizeof (float), off)
         && full_io (c->fd, FALSE, (*img)->mask, npix, off + npix * c->channels * sizeof (float));
}

gsize
tsr_frame_cache_ram_budget (const TsrFrameCache *c)
{
  return c ? c->ram_budget : 0;
}
#else
gsize
tsr_frame_cache_ram_budget (const TsrFrameCache *c)
{
  return 0;
}

void
tsr_frame_cache_counts (TsrFrameCache *c, guint *in_memory, guint *in_file)
{
  *in_memory = *in_file = 0;
}

TsrFrameCache *
tsr_frame_cache_new (const TsrAnalysis *a, const TsrTbqrParams *p, const TsrRunParams *run, guint n_frames)
{
  return NULL;
}

void
tsr_frame_cache_free (TsrFrameCache *c)
{
}

gboolean
tsr_frame_cache_put_frame (TsrFrameCache *c, const TsrAnalysis *a, const TsrTbqrParams *p, const TsrImage *img,
                           guint index, const TsrTransform *T, GError **error)
{
  return TRUE;
}

gboolean
tsr_frame_cache_read (TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames, guint index, TsrImage **img)
{
  return FALSE;
}

const TsrImage *
tsr_frame_cache_peek (TsrFrameCache *c, const TsrTbqrParams *p, gboolean demosaic_frames, guint index)
{
  return NULL;
}
#endif
