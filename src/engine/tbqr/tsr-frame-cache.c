/* tsr-frame-cache.c — the frame cache (tsr-frame-cache.h): frames prepared once during the
 * analysis and read back by both accumulate passes. */
#include "tsr-frame-cache.h"
#include "tsr-tbqr-drizzle.h"
#include "tsr-tbqr-private.h"
#include "tsr-tbqr-memory.h"

#include <string.h>


struct _TsrFrameCache
{
  int fd;                 /* unlinked temporary file: frame i at offset slot[i]·frame_bytes */
  int width, height, channels;
  gboolean demosaic_frames;
  TsrDemosaicMethod demosaic;  /* which demosaic made the cached frames */
  TsrNormMode norm;
  TsrInterp interp;
  gsize frame_bytes;
  guint n_frames;
  gint *stored;           /* per frame, atomic: 1 = written completely to the file,
                             2 = held in memory (ram[i]) */
  guint *slot;            /* per frame in the file: its place there, in order of arrival */
  guint disk_slots;       /* frames the file may hold (run.cache_disk_mb, the free space) */
  guint disk_used;        /* of them, taken (a failed write keeps its slot: the file never
                             grows past disk_slots frames) */
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

/* An unlinked file name-XXXXXX in dir (mkstemp's template), −1 when it cannot be made: only
 * the descriptor keeps it, so it is freed on close, even on a crash. */
static int
open_unlinked (const char *dir, const char *name)
{
  g_autofree char *base = g_strconcat (name, "-XXXXXX", NULL);
  g_autofree char *tmpl = g_build_filename (dir, base, NULL);
  int fd = g_mkstemp_full (tmpl, O_RDWR, 0600);
  if (fd >= 0)
    g_unlink (tmpl);
  return fd;
}

int
tsr_temp_file_new (const char *name, guint64 bytes)
{
  const char *dirs[] = { g_get_tmp_dir (), "/var/tmp" };
  for (guint d = 0; d < G_N_ELEMENTS (dirs); d++)
    {
      guint64 avail = cache_space (dirs[d]);
      if (avail < ((guint64) 1 << 30) || (avail - ((guint64) 1 << 30)) / 2 < bytes)
        continue;
      int fd = open_unlinked (dirs[d], name);
      if (fd >= 0)
        return fd;
    }
  return -1;
}

/* Frames the cache file in dir may hold: file_need bytes wanted, at most disk_budget and half
 * the free space above 1 GiB. */
static guint
file_slots (const char *dir, guint64 disk_budget, guint64 file_need, gsize frame_bytes)
{
  if (file_need == 0 || disk_budget < frame_bytes)
    return 0;
  guint64 avail = cache_space (dir);
  if (avail < ((guint64) 1 << 30))
    return 0;
  guint64 cap = MIN (MIN (disk_budget, (avail - ((guint64) 1 << 30)) / 2), file_need);
  return (guint) (cap / frame_bytes);
}

double
tsr_frame_cache_expected_fraction (int width, int height, int channels, TsrCfa cfa, guint n_frames,
                                   const TsrTbqrParams *p, const TsrRunParams *run, gsize cache_ram)
{
  if (!run->frame_cache || n_frames == 0)
    return 0.0;
  gboolean demosaic = cfa != TSR_CFA_NONE && channels == 1 && p->color_method == TSR_COLOR_DEMOSAIC_FRAMES;
  gsize npix = (gsize) width * height;
  gsize frame_bytes = npix * (demosaic ? 3 : channels) * sizeof (float) + npix;
  guint in_ram = cache_ram >= frame_bytes ? (guint) MIN (cache_ram / frame_bytes, n_frames) : 0;
  guint64 file_need = (guint64) (n_frames - in_ram) * frame_bytes;
  guint64 disk_budget = (guint64) (MAX (run->cache_disk_mb, 0.0) * 1024 * 1024);
  guint slots = file_slots (g_get_tmp_dir (), disk_budget, file_need, frame_bytes);
  if (slots == 0)
    slots = file_slots ("/var/tmp", disk_budget, file_need, frame_bytes);
  return (double) (in_ram + slots) / n_frames;
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
  gsize ram_budget = (gsize) (MAX (run->cache_memory_mb, 0.0) * 1024 * 1024); /* the plan resolved −1 */
  if (ram_budget < frame_bytes)
    ram_budget = 0;
  /* the file holds what the memory tier does not, up to run.cache_disk_mb and half the free
   * space above 1 GiB: the frames that arrive later are read and warped again in each pass
   * (so the temporary disk is bounded whatever the session's length; 0 = no file) */
  guint64 disk_budget = (guint64) (MAX (run->cache_disk_mb, 0.0) * 1024 * 1024);
  guint64 file_need = need > ram_budget ? need - (ram_budget / frame_bytes) * (guint64) frame_bytes : 0;
  guint disk_slots = 0;
  int fd = -1;
  const char *dirs[] = { g_get_tmp_dir (), "/var/tmp" };
  for (guint d = 0; d < G_N_ELEMENTS (dirs) && fd < 0; d++)
    {
      if ((disk_slots = file_slots (dirs[d], disk_budget, file_need, frame_bytes)) == 0)
        continue;
      fd = open_unlinked (dirs[d], "tessera-cache");
    }
  if (fd < 0)
    disk_slots = 0;
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
  c->slot = g_new0 (guint, n_frames);
  c->disk_slots = disk_slots;
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
  g_free (c->slot);
  g_free (c);
}

gboolean
tsr_temp_file_io (int fd, gboolean write_, void *buf, gsize len, guint64 off)
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
  gboolean to_file = !to_ram && c->fd >= 0 && c->disk_used < c->disk_slots;
  if (to_ram)
    c->ram_used += c->frame_bytes;
  if (to_file)
    c->slot[index] = c->disk_used++;
  g_mutex_unlock (&c->lock);
  if (to_ram)
    {
      c->ram[index] = g_steal_pointer (&warped);
      g_atomic_int_set (&c->stored[index], 2);
      return TRUE;
    }
  if (!to_file)
    return TRUE; /* memory tier and file full, or no file: accumulate warps this frame itself */
  gsize npix = (gsize) c->width * c->height;
  guint64 off = (guint64) c->slot[index] * c->frame_bytes;
  /* a failed write (disk full) only leaves the frame uncached */
  if (tsr_temp_file_io (c->fd, TRUE, warped->data, npix * c->channels * sizeof (float), off)
      && tsr_temp_file_io (c->fd, TRUE, warped->mask, npix, off + npix * c->channels * sizeof (float)))
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
  guint64 off = (guint64) c->slot[index] * c->frame_bytes;
  /* a failed read: the caller reads the frame instead */
  return tsr_temp_file_io (c->fd, FALSE, (*img)->data, npix * c->channels * sizeof (float), off)
         && tsr_temp_file_io (c->fd, FALSE, (*img)->mask, npix, off + npix * c->channels * sizeof (float));
}

gsize
tsr_frame_cache_ram_budget (const TsrFrameCache *c)
{
  return c ? c->ram_budget : 0;
}

guint64
tsr_frame_cache_disk_budget (const TsrFrameCache *c)
{
  return c ? (guint64) c->disk_slots * c->frame_bytes : 0;
}
#else
int
tsr_temp_file_new (const char *name, guint64 bytes)
{
  return -1;
}

gboolean
tsr_temp_file_io (int fd, gboolean write_, void *buf, gsize len, guint64 off)
{
  return FALSE;
}

guint64
tsr_frame_cache_disk_budget (const TsrFrameCache *c)
{
  return 0;
}

double
tsr_frame_cache_expected_fraction (int width, int height, int channels, TsrCfa cfa, guint n_frames,
                                   const TsrTbqrParams *p, const TsrRunParams *run, gsize cache_ram)
{
  return 0.0;
}

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

guint
tsr_tbqr_eta_plan (TsrSession *s, const TsrTbqrParams *p, const TsrRunParams *run, TsrEtaPhase plan[4])
{
  guint n = tsr_session_n_frames (s);
  if (tsr_tbqr_raw_cells (s->cfa, s->channels, n, p))
    {
      tsr_eta_plan_tbqr_raw (plan, tsr_tbqr_drizzle_expected (s->cfa, s->channels, n, p));
      return 4;
    }
  TsrTbqrMemory mem;
  double f = 0.0;
  /* a budget the plan refuses fails the run before any progress: any plan will do */
  if (run->frame_cache && tsr_tbqr_memory_plan (s->width, s->height, s->channels, s->cfa, n, p, run, &mem, NULL))
    f = tsr_frame_cache_expected_fraction (s->width, s->height, s->channels, s->cfa, n, p, run, mem.cache_ram);
  guint n_plan = tsr_eta_plan_tbqr_mixed (f, plan);
  /* drizzle.mode = auto drizzles a Bayer session of enough frames when their dither allows
   * (known after the registration): count on it until the last pass says otherwise */
  tsr_eta_plan_tbqr_expect_drizzle (plan, tsr_tbqr_drizzle_expected (s->cfa, s->channels, n, p));
  return n_plan;
}
