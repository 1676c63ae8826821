/* tsr-image-reader.c — stills (PNG through libpng, JPEG through libjpeg, TIFF through libtiff,
 * FITS through tsr-fits) and the one frame-source interface over sequences, SER and videos. */
#include "tsr-image-reader.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-session.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <jpeglib.h>
#include <tiffio.h>

/* ---------------------------------------------------------------- names */

static gboolean
has_suffix_ci (const char *name, const char *const *suffixes)
{
  g_autofree char *low = g_ascii_strdown (name, -1);
  for (guint i = 0; suffixes[i]; i++)
    if (g_str_has_suffix (low, suffixes[i]))
      return TRUE;
  return FALSE;
}

gboolean
tsr_is_image_name (const char *name)
{
  static const char *const s[] = { ".png", ".jpg", ".jpeg", ".tif", ".tiff", NULL };
  return has_suffix_ci (name, s);
}

gboolean
tsr_is_ser_name (const char *name)
{
  static const char *const s[] = { ".ser", NULL };
  return has_suffix_ci (name, s);
}

gboolean
tsr_is_video_name (const char *name)
{
  static const char *const s[] = { ".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", NULL };
  return has_suffix_ci (name, s);
}

/* ---------------------------------------------------------------- decoded size */

/* Decoded pixels per byte of file no real PNG, JPEG or TIFF exceeds (deflate stops near
 * 1032:1 on bytes, i.e. ~8,000 one-bit pixels per byte; baseline JPEG needs two Huffman bits
 * per 8×8 block and component, ~256 pixels per byte), plus a margin for headers. A header
 * that declares more than this describes data the file cannot hold — refused before the
 * buffer is allocated, so a 20-byte file cannot ask for gigabytes. */
#define TSR_STILL_MAX_PIXELS_PER_BYTE 8192
#define TSR_STILL_PIXEL_SLACK (1024 * 1024)

static gint64
file_bytes (FILE *fp, const char *path)
{
  GStatBuf st;
  if (fp && fstat (fileno (fp), &st) == 0)
    return st.st_size;
  if (!fp && g_stat (path, &st) == 0)
    return st.st_size;
  return -1;
}

/* The image a still decodes into, after checking that the declared size is in range and that
 * the file could hold it; a clear error (size out of range, truncated, or not enough memory)
 * otherwise. */
static TsrImage *
still_alloc (const char *path, FILE *fp, const char *fmt, guint64 w, guint64 h, int channels, GError **error)
{
  if (w == 0 || h == 0 || w > 65536 || h > 65536 || w * h > (guint64) 400 * 1000 * 1000)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, "%s: %s size %" G_GUINT64_FORMAT " × %" G_GUINT64_FORMAT
                   " is out of range", path, fmt, w, h);
      return NULL;
    }
  gint64 bytes = file_bytes (fp, path);
  if (bytes >= 0 && w * h > (guint64) bytes * TSR_STILL_MAX_PIXELS_PER_BYTE + TSR_STILL_PIXEL_SLACK)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   "%s: bad or truncated %s file (its header declares %" G_GUINT64_FORMAT " × %" G_GUINT64_FORMAT
                   " pixels, more than %" G_GINT64_FORMAT " bytes can hold)", path, fmt, w, h, bytes);
      return NULL;
    }
  TsrImage *img = tsr_image_new_uninit ((int) w, (int) h, channels);
  if (!img)
    {
      g_autofree char *what = g_strdup_printf ("the %s image %s", fmt, path);
      tsr_set_memory_error (error, w * h * (channels * sizeof (float) + 1), what);
    }
  return img;
}

/* ---------------------------------------------------------------- PNG */

typedef struct
{
  char msg[256];
} PngErr;

static void
png_err_cb (png_structp png, png_const_charp msg)
{
  PngErr *e = png_get_error_ptr (png);
  g_strlcpy (e->msg, msg, sizeof e->msg);
  png_longjmp (png, 1);
}

static void
png_warn_cb (png_structp png, png_const_charp msg)
{
}

static TsrImage *
read_png (const char *path, FILE *fp, GError **error)
{
  PngErr err = { "" };
  png_structp png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &err, png_err_cb, png_warn_cb);
  png_infop info = png_create_info_struct (png);
  TsrImage *volatile img = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp (png_jmpbuf (png)))
    {
      g_set_error (error, TSR_ERROR, strstr (err.msg, "EOF") || strstr (err.msg, "end") ? TSR_ERROR_TRUNCATED
                                                                                     : TSR_ERROR_FORMAT,
                   "%s: bad or truncated PNG file (%s)", path, err.msg);
      if (img)
        tsr_image_unref (img);
      if (rows)
        g_free (rows[0]); /* the pixel buffer (rows point into it) */
      g_free (rows);
      png_destroy_read_struct (&png, &info, NULL);
      return NULL;
    }
  png_init_io (png, fp);
  png_read_info (png, info);
  png_uint_32 w, h;
  int depth, ctype;
  png_get_IHDR (png, info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
  /* check the size (and that the file could hold it) before any buffer is allocated */
  img = still_alloc (path, fp, "PNG", w, h, ctype & PNG_COLOR_MASK_COLOR ? 3 : 1, error);
  if (!img)
    {
      png_destroy_read_struct (&png, &info, NULL);
      return NULL;
    }
  if (ctype == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb (png);
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
    png_set_expand_gray_1_2_4_to_8 (png);
  if (png_get_valid (png, info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha (png);
  if (depth == 16)
    png_set_swap (png); /* little-endian samples in memory */
  png_set_strip_alpha (png);
  png_read_update_info (png, info);
  int ch = png_get_channels (png, info);
  int bd = png_get_bit_depth (png, info);
  int channels = ch >= 3 ? 3 : 1;
  g_assert (channels == img->channels);
  gsize rowbytes = png_get_rowbytes (png, info);
  guint8 *buf = g_try_malloc (rowbytes * h);
  if (!buf)
    {
      tsr_set_memory_error (error, rowbytes * h, "a PNG row buffer");
      tsr_image_unref (img);
      png_destroy_read_struct (&png, &info, NULL);
      return NULL;
    }
  rows = g_new (png_bytep, h);
  for (png_uint_32 y = 0; y < h; y++)
    rows[y] = buf + y * rowbytes;
  /* on a longjmp from png_read_image buf leaks once: keep it reachable through rows[0] */
  png_read_image (png, rows);
  png_read_end (png, NULL);
  gsize npix = (gsize) w * h;
  memset (img->mask, 1, npix);
  for (png_uint_32 y = 0; y < h; y++)
    for (png_uint_32 x = 0; x < w; x++)
      for (int c = 0; c < channels; c++)
        {
          const guint8 *s = rows[y] + ((gsize) x * ch + c) * (bd == 16 ? 2 : 1);
          img->data[(gsize) c * npix + (gsize) y * w + x] = bd == 16 ? (float) (s[0] | (s[1] << 8)) : s[0];
        }
  g_free (rows);
  g_free (buf);
  png_destroy_read_struct (&png, &info, NULL);
  return img;
}

/* ---------------------------------------------------------------- JPEG */

typedef struct
{
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
  int warnings;
} JpegErr;

static void
jpeg_exit_cb (j_common_ptr cinfo)
{
  JpegErr *e = (JpegErr *) cinfo->err;
  (*cinfo->err->format_message) (cinfo, e->msg);
  longjmp (e->jb, 1);
}

static void
jpeg_emit_cb (j_common_ptr cinfo, int level)
{
  JpegErr *e = (JpegErr *) cinfo->err;
  if (level < 0)
    {
      /* a corrupt-data warning (e.g. premature end of data): treat as an error */
      if (e->warnings++ == 0)
        (*cinfo->err->format_message) (cinfo, e->msg);
    }
}

static TsrImage *
read_jpeg (const char *path, FILE *fp, GError **error)
{
  struct jpeg_decompress_struct cinfo;
  JpegErr err;
  memset (&err, 0, sizeof err);
  cinfo.err = jpeg_std_error (&err.pub);
  err.pub.error_exit = jpeg_exit_cb;
  err.pub.emit_message = jpeg_emit_cb;
  TsrImage *volatile img = NULL;
  guint8 *volatile row = NULL;
  if (setjmp (err.jb))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, "%s: bad or truncated JPEG file (%s)", path, err.msg);
      jpeg_destroy_decompress (&cinfo);
      if (img)
        tsr_image_unref (img);
      g_free (row);
      return NULL;
    }
  jpeg_create_decompress (&cinfo);
  jpeg_stdio_src (&cinfo, fp);
  jpeg_read_header (&cinfo, TRUE);
  if (cinfo.jpeg_color_space != JCS_GRAYSCALE)
    cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress (&cinfo);
  int w = cinfo.output_width, h = cinfo.output_height, ch = cinfo.output_components;
  int channels = ch >= 3 ? 3 : 1;
  img = still_alloc (path, fp, "JPEG", w, h, channels, error);
  if (!img)
    {
      jpeg_destroy_decompress (&cinfo);
      return NULL;
    }
  gsize npix = (gsize) w * h;
  memset (img->mask, 1, npix);
  row = g_malloc ((gsize) w * ch);
  while ((int) cinfo.output_scanline < h)
    {
      int y = cinfo.output_scanline;
      JSAMPROW r = row;
      jpeg_read_scanlines (&cinfo, &r, 1);
      for (int x = 0; x < w; x++)
        for (int c = 0; c < channels; c++)
          img->data[(gsize) c * npix + (gsize) y * w + x] = row[x * ch + c];
    }
  jpeg_finish_decompress (&cinfo);
  jpeg_destroy_decompress (&cinfo);
  g_free (row);
  if (err.warnings)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED, "%s: bad or truncated JPEG file (%s)", path, err.msg);
      tsr_image_unref (img);
      return NULL;
    }
  return img;
}

/* ---------------------------------------------------------------- TIFF */

static int
tiff_err_cb (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
  TsrTiffErr *e = user;
  if (e && e->n++ == 0)
    g_vsnprintf (e->msg, sizeof e->msg, fmt, ap);
  return 1;
}

static int
tiff_warn_cb (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
  return 1;
}

TIFF *
tsr_tiff_open_read (const char *path, TsrTiffErr *err, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND, _("%s: cannot open: %s"), path, g_strerror (ENOENT));
      return NULL;
    }
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc ();
  TIFFOpenOptionsSetErrorHandlerExtR (opts, tiff_err_cb, err);
  TIFFOpenOptionsSetWarningHandlerExtR (opts, tiff_warn_cb, NULL);
  TIFF *tif = TIFFOpenExt (path, "r", opts);
  TIFFOpenOptionsFree (opts);
  if (!tif)
    g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: bad TIFF file (%s)"), path,
                 err->msg[0] ? err->msg : _("not a TIFF file"));
  return tif;
}

TsrImage *
tsr_image_tiff_read (const char *path, GError **error)
{
  TsrTiffErr err = { "", 0 };
  TIFF *tif = tsr_tiff_open_read (path, &err, error);
  if (!tif)
    return NULL;
  guint32 w = 0, h = 0;
  guint16 spp = 1, bps = 8, fmt = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG, photo = PHOTOMETRIC_MINISBLACK;
  TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted (tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLEFORMAT, &fmt);
  TIFFGetFieldDefaulted (tif, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted (tif, TIFFTAG_PHOTOMETRIC, &photo);
  TsrImage *img = NULL;
  if (w == 0 || h == 0 || w > 65536 || h > 65536 || (guint64) w * h > (guint64) 400 * 1000 * 1000)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, "%s: TIFF size %u × %u is out of range", path, w, h);
      goto out;
    }
  gboolean ok_fmt = (fmt == SAMPLEFORMAT_UINT && (bps == 8 || bps == 16 || bps == 32))
                    || (fmt == SAMPLEFORMAT_IEEEFP && bps == 32);
  if (!ok_fmt || spp < 1 || spp > 4 || photo == PHOTOMETRIC_PALETTE || photo == PHOTOMETRIC_YCBCR)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   "%s: unsupported TIFF layout (%u samples of %u bits, format %u, photometric %u): 8/16/32-bit "
                   "unsigned or 32-bit float grey or RGB are read",
                   path, spp, bps, fmt, photo);
      goto out;
    }
  int channels = spp >= 3 ? 3 : 1;
  gsize npix = (gsize) w * h;
  img = still_alloc (path, NULL, "TIFF", w, h, channels, error);
  if (!img)
    goto out;
  memset (img->mask, 1, npix);
  tmsize_t sl = TIFFScanlineSize (tif);
  guint8 *buf = g_malloc (sl);
  int bytes = bps / 8;
  int nsep = planar == PLANARCONFIG_SEPARATE ? channels : 1;
  for (int s = 0; s < nsep; s++)
    for (guint32 y = 0; y < h; y++)
      {
        if (TIFFReadScanline (tif, buf, y, s) < 0)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED, "%s: bad or truncated TIFF file at row %u (%s)",
                         path, y, err.msg[0] ? err.msg : "read error");
            g_clear_pointer (&img, tsr_image_unref);
            g_free (buf);
            goto out;
          }
        for (guint32 x = 0; x < w; x++)
          for (int c = 0; c < (nsep == 1 ? channels : 1); c++)
            {
              int plane = nsep == 1 ? c : s;
              gsize k = nsep == 1 ? (gsize) x * spp + c : x;
              const guint8 *p = buf + k * bytes;
              float v;
              if (bps == 8)
                v = p[0];
              else if (bps == 16)
                {
                  guint16 u;
                  memcpy (&u, p, 2);
                  v = u;
                }
              else if (fmt == SAMPLEFORMAT_UINT)
                {
                  guint32 u;
                  memcpy (&u, p, 4);
                  v = (float) u;
                }
              else
                {
                  memcpy (&v, p, 4);
                }
              gsize o = (gsize) plane * npix + (gsize) y * w + x;
              img->data[o] = isfinite (v) ? v : 0.f;
              if (!isfinite (v))
                img->mask[(gsize) y * w + x] = 0;
            }
      }
  g_free (buf);
  if (photo == PHOTOMETRIC_MINISWHITE && channels == 1 && fmt == SAMPLEFORMAT_UINT)
    {
      float mx = bps == 8 ? 255.f : bps == 16 ? 65535.f : 4294967295.f;
      for (gsize p = 0; p < npix; p++)
        img->data[p] = mx - img->data[p];
    }
out:
  TIFFClose (tif);
  return img;
}

/* ---------------------------------------------------------------- stills */

TsrImage *
tsr_image_file_read (const char *path, GError **error)
{
  FILE *fp = g_fopen (path, "rb");
  if (!fp)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, e == ENOENT ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO, "%s: cannot open: %s", path,
                   g_strerror (e));
      return NULL;
    }
  guint8 magic[8] = { 0 };
  size_t n = fread (magic, 1, sizeof magic, fp);
  rewind (fp);
  TsrImage *img = NULL;
  if (n >= 8 && png_sig_cmp (magic, 0, 8) == 0)
    img = read_png (path, fp, error);
  else if (n >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff)
    img = read_jpeg (path, fp, error);
  else if (n >= 4 && ((magic[0] == 'I' && magic[1] == 'I') || (magic[0] == 'M' && magic[1] == 'M')))
    {
      fclose (fp);
      return tsr_image_tiff_read (path, error);
    }
  else if (n >= 6 && memcmp (magic, "SIMPLE", 6) == 0)
    {
      fclose (fp);
      return tsr_fits_read (path, error);
    }
  else
    g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                 n == 0 ? "%s: empty file (not an image)" : "%s: not a PNG, JPEG, TIFF or FITS image", path);
  fclose (fp);
  return img;
}

/* ---------------------------------------------------------------- frame sources */

struct _TsrFrameSource
{
  gint ref_count;
  TsrSourceKind kind;
  char *path;
  GPtrArray *files;     /* sequence: char* paths */
  TsrSer *ser;
  TsrVideo *video;
  int width, height, channels, depth;
  TsrCfa cfa;
  guint n_frames;
  TsrFrameSourceFilter filter;
  gpointer filter_data;
  GDestroyNotify filter_destroy;
};

void
tsr_frame_source_set_filter (TsrFrameSource *src, TsrFrameSourceFilter filter, gpointer data, GDestroyNotify destroy)
{
  if (src->filter_destroy)
    src->filter_destroy (src->filter_data);
  src->filter = filter;
  src->filter_data = data;
  src->filter_destroy = destroy;
}

TsrFrameSource *
tsr_frame_source_ref (TsrFrameSource *src)
{
  g_atomic_int_inc (&src->ref_count);
  return src;
}

void
tsr_frame_source_unref (TsrFrameSource *src)
{
  if (!src || !g_atomic_int_dec_and_test (&src->ref_count))
    return;
  tsr_frame_source_set_filter (src, NULL, NULL, NULL);
  g_free (src->path);
  if (src->files)
    g_ptr_array_unref (src->files);
  tsr_ser_close (src->ser);
  if (src->video)
    tsr_video_close (src->video);
  g_free (src);
}

static gboolean
is_still_name (const char *name)
{
  return tsr_is_image_name (name) || tsr_is_fits_name (name);
}

static int
cmp_paths (gconstpointer a, gconstpointer b)
{
  const char *pa = *(const char *const *) a, *pb = *(const char *const *) b;
  g_autofree char *ka = g_utf8_collate_key_for_filename (pa, -1);
  g_autofree char *kb = g_utf8_collate_key_for_filename (pb, -1);
  return strcmp (ka, kb);
}

TsrFrameSource *
tsr_frame_source_open (const char *const *paths, GCancellable *cancellable, GError **error)
{
  if (!paths || !paths[0])
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY, "no input named (a folder of images, image files, a SER or a video)");
      return NULL;
    }
  g_autoptr (GPtrArray) stills = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) movies = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; paths[i]; i++)
    {
      const char *p = paths[i];
      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        {
          GError *e = NULL;
          GDir *d = g_dir_open (p, 0, &e);
          if (!d)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: cannot list the folder: %s", p, e->message);
              g_error_free (e);
              return NULL;
            }
          const char *name;
          g_autoptr (GPtrArray) here = g_ptr_array_new ();
          while ((name = g_dir_read_name (d)))
            {
              if (name[0] == '.')
                continue;
              char *full = g_build_filename (p, name, NULL);
              if (!g_file_test (full, G_FILE_TEST_IS_REGULAR))
                g_free (full);
              else if (is_still_name (name))
                g_ptr_array_add (here, full);
              else if (tsr_is_ser_name (name) || tsr_is_video_name (name))
                g_ptr_array_add (movies, full);
              else
                g_free (full);
            }
          g_dir_close (d);
          g_ptr_array_sort (here, cmp_paths);
          for (guint k = 0; k < here->len; k++)
            g_ptr_array_add (stills, here->pdata[k]);
        }
      else if (!g_file_test (p, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND, "%s: no such file or folder", p);
          return NULL;
        }
      else if (tsr_is_ser_name (p) || tsr_is_video_name (p))
        g_ptr_array_add (movies, g_strdup (p));
      else
        g_ptr_array_add (stills, g_strdup (p));
    }
  if (movies->len > 0 && (stills->len > 0 || movies->len > 1))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   "%s: name one video or SER file, or still images, not a mix (%u videos, %u images given)",
                   (const char *) movies->pdata[0], movies->len, stills->len);
      return NULL;
    }
  TsrFrameSource *src = g_new0 (TsrFrameSource, 1);
  src->ref_count = 1;
  src->path = g_strdup (paths[1] ? paths[0] : paths[0]);
  if (movies->len == 1)
    {
      const char *m = movies->pdata[0];
      g_free (src->path);
      src->path = g_strdup (m);
      if (tsr_is_ser_name (m))
        {
          src->kind = TSR_SOURCE_SER;
          src->ser = tsr_ser_open (m, error);
          if (!src->ser)
            {
              tsr_frame_source_unref (src);
              return NULL;
            }
          const TsrSerInfo *in = tsr_ser_info (src->ser);
          src->width = in->width;
          src->height = in->height;
          src->channels = (in->color == TSR_SER_RGB || in->color == TSR_SER_BGR) ? 3 : 1;
          src->depth = in->depth > 8 ? 16 : 8;
          src->n_frames = in->n_frames;
          TsrImage *probe = tsr_ser_read_frame (src->ser, 0, error);
          if (!probe)
            {
              tsr_frame_source_unref (src);
              return NULL;
            }
          src->cfa = probe->cfa;
          tsr_image_unref (probe);
        }
      else
        {
          src->kind = TSR_SOURCE_VIDEO;
          src->video = tsr_video_open (m, error);
          if (!src->video)
            {
              tsr_frame_source_unref (src);
              return NULL;
            }
          tsr_video_size (src->video, &src->width, &src->height, &src->channels, &src->depth);
          src->n_frames = tsr_video_n_frames (src->video);
        }
      return src;
    }
  if (stills->len == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                   "%s: no frames found (PNG, JPEG, TIFF, FITS images, a SER file or a video)", paths[0]);
      tsr_frame_source_unref (src);
      return NULL;
    }
  src->kind = TSR_SOURCE_SEQUENCE;
  src->files = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < stills->len; k++)
    g_ptr_array_add (src->files, g_strdup (stills->pdata[k]));
  src->n_frames = stills->len;
  /* the first frame fixes the shape; the others are checked when read */
  TsrImage *first = tsr_image_file_read (stills->pdata[0], error);
  if (!first)
    {
      tsr_frame_source_unref (src);
      return NULL;
    }
  src->width = first->width;
  src->height = first->height;
  src->channels = first->channels;
  src->cfa = first->cfa;
  src->depth = 16;
  {
    /* depth from the values: ≤ 255 integers → 8 */
    gboolean int8 = TRUE;
    gsize n = tsr_image_npix (first) * first->channels;
    for (gsize p = 0; p < n && int8; p += 97)
      int8 = first->data[p] >= 0 && first->data[p] <= 255 && first->data[p] == floorf (first->data[p]);
    src->depth = int8 ? 8 : 16;
  }
  tsr_image_unref (first);
  return src;
}

TsrSourceKind tsr_frame_source_kind (const TsrFrameSource *src) { return src->kind; }
guint tsr_frame_source_n_frames (const TsrFrameSource *src) { return src->n_frames; }
TsrCfa tsr_frame_source_cfa (const TsrFrameSource *src) { return src->cfa; }
int tsr_frame_source_depth (const TsrFrameSource *src) { return src->depth; }
const char *tsr_frame_source_path (const TsrFrameSource *src) { return src->path; }

void
tsr_frame_source_size (const TsrFrameSource *src, int *width, int *height, int *channels)
{
  if (width) *width = src->width;
  if (height) *height = src->height;
  if (channels) *channels = src->channels;
}

const char *
tsr_frame_source_frame_path (const TsrFrameSource *src, guint i)
{
  return src->kind == TSR_SOURCE_SEQUENCE && i < src->n_frames ? src->files->pdata[i] : NULL;
}

char *
tsr_frame_source_frame_name (const TsrFrameSource *src, guint i)
{
  if (src->kind == TSR_SOURCE_SEQUENCE)
    return g_path_get_basename (src->files->pdata[i]);
  g_autofree char *b = g_path_get_basename (src->path);
  return g_strdup_printf ("%s#%u", b, i + 1);
}

double
tsr_frame_source_time (const TsrFrameSource *src, guint i)
{
  if (src->kind == TSR_SOURCE_SER)
    return tsr_ser_frame_time (src->ser, i);
  if (src->kind == TSR_SOURCE_VIDEO)
    return tsr_video_frame_time (src->video, i);
  return NAN;
}

static TsrImage *frame_source_read_raw (TsrFrameSource *src, guint i, GError **error);

TsrImage *
tsr_frame_source_read (TsrFrameSource *src, guint i, GError **error)
{
  TsrImage *img = frame_source_read_raw (src, i, error);
  if (img && src->filter && !src->filter (i, img, src->filter_data, error))
    g_clear_pointer (&img, tsr_image_unref);
  return img;
}

static TsrImage *
frame_source_read_raw (TsrFrameSource *src, guint i, GError **error)
{
  if (i >= src->n_frames)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: frame %u does not exist (%u frames)", src->path,
                   i + 1, src->n_frames);
      return NULL;
    }
  if (src->kind == TSR_SOURCE_SER)
    return tsr_ser_read_frame (src->ser, i, error);
  if (src->kind == TSR_SOURCE_VIDEO)
    return tsr_video_read_frame (src->video, i, error);
  const char *p = src->files->pdata[i];
  TsrImage *img = tsr_image_file_read (p, error);
  if (img && (img->width != src->width || img->height != src->height || img->channels != src->channels))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                   "%s: frame is %d × %d × %d, the session's first frame %d × %d × %d (mixed sizes)", p, img->width,
                   img->height, img->channels, src->width, src->height, src->channels);
      g_clear_pointer (&img, tsr_image_unref);
    }
  return img;
}
