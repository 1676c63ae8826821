/* tsr-video.c — videos through FFmpeg (libavformat, libavcodec, libswscale).
 *
 * Frames are decoded in order and converted by libswscale to GRAY8 / GRAY16 for grey streams,
 * RGB24 / RGB48 otherwise (48 when the source has more than 8 bits per component), then to
 * float planes in the units of the samples (0–255 or 0–65535). Without FFmpeg at build time
 * every entry point reports that clearly. */
#include "tsr-image-reader.h"
#include "tsr-error.h"

#include <glib/gi18n.h>

#include <math.h>
#include <string.h>

#ifdef TSR_HAVE_FFMPEG
#include <dlfcn.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/* FFmpeg loaded when the first video is opened, not at start-up: the engine is compiled
 * against FFmpeg's headers but not linked with its libraries (136 shared libraries, ~28 MB
 * resident, ~30 ms of start-up for every run of FITS frames). The libraries are the ones of
 * the headers' major versions (libavformat.so.59 … on Debian 12); the functions below are
 * looked up once, under a GOnce, and called through the table: the code that follows calls
 * them by their own names (the macros after the table). */
#define TSR_FF_FUNCS(X)                                                                          \
  X (avformat, avformat_open_input) X (avformat, avformat_find_stream_info)                      \
  X (avformat, avformat_close_input) X (avformat, av_find_best_stream) X (avformat, av_read_frame) \
  X (avcodec, avcodec_alloc_context3) X (avcodec, avcodec_free_context) X (avcodec, avcodec_open2) \
  X (avcodec, avcodec_parameters_to_context) X (avcodec, avcodec_send_packet)                    \
  X (avcodec, avcodec_receive_frame) X (avcodec, av_packet_alloc) X (avcodec, av_packet_free)    \
  X (avcodec, av_packet_unref) X (avutil, av_frame_alloc) X (avutil, av_frame_free)              \
  X (avutil, av_frame_unref) X (avutil, av_get_pix_fmt_name) X (avutil, av_pix_fmt_desc_get)     \
  X (avutil, av_log_set_level) X (avutil, av_strerror) X (swscale, sws_getCachedContext)         \
  X (swscale, sws_freeContext) X (swscale, sws_scale)

static struct
{
#define TSR_FF_MEMBER(lib, fn) __typeof__ (&fn) fn;
  TSR_FF_FUNCS (TSR_FF_MEMBER)
#undef TSR_FF_MEMBER
  char *error;   /* why loading failed, NULL when loaded */
} ff;

#define TSR_FF_SONAME(lib, MAJOR) "lib" #lib ".so." G_STRINGIFY (MAJOR)
static const char *const ff_sonames[] = {
  TSR_FF_SONAME (avutil, LIBAVUTIL_VERSION_MAJOR), TSR_FF_SONAME (swscale, LIBSWSCALE_VERSION_MAJOR),
  TSR_FF_SONAME (avcodec, LIBAVCODEC_VERSION_MAJOR), TSR_FF_SONAME (avformat, LIBAVFORMAT_VERSION_MAJOR),
};

static gpointer
ff_load_once (gpointer unused)
{
  void *h[4];   /* avutil, swscale, avcodec, avformat: each after what it needs */
  for (int i = 0; i < 4; i++)
    if (!(h[i] = dlopen (ff_sonames[i], RTLD_NOW | RTLD_LOCAL)))
      {
        const char *why = dlerror ();
        ff.error = g_strdup_printf (_("FFmpeg's %s cannot be loaded (%s); videos need FFmpeg's libraries "
                                      "(apt-get install libavformat59 libavcodec59 libswscale6)"),
                                    ff_sonames[i], why ? why : "?");
        return NULL;
      }
  void *avutil = h[0], *swscale = h[1], *avcodec = h[2], *avformat = h[3];
#define TSR_FF_LOOKUP(lib, fn)                                                                            \
  if (!ff.error && !(*(void **) &ff.fn = dlsym (lib, #fn)))                                               \
    ff.error = g_strdup_printf (_("FFmpeg's %s has no %s; videos cannot be read"), "lib" #lib, #fn);
  TSR_FF_FUNCS (TSR_FF_LOOKUP)
#undef TSR_FF_LOOKUP
  return NULL;
}

/* FFmpeg's functions ready (loaded on the first call); FALSE with the reason otherwise. */
static gboolean
ff_load (GError **error)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, ff_load_once, NULL);
  if (ff.error)
    {
      g_set_error_literal (error, TSR_ERROR, TSR_ERROR_FORMAT, ff.error);
      return FALSE;
    }
  return TRUE;
}

#define avformat_open_input ff.avformat_open_input
#define avformat_find_stream_info ff.avformat_find_stream_info
#define avformat_close_input ff.avformat_close_input
#define av_find_best_stream ff.av_find_best_stream
#define av_read_frame ff.av_read_frame
#define avcodec_alloc_context3 ff.avcodec_alloc_context3
#define avcodec_free_context ff.avcodec_free_context
#define avcodec_open2 ff.avcodec_open2
#define avcodec_parameters_to_context ff.avcodec_parameters_to_context
#define avcodec_send_packet ff.avcodec_send_packet
#define avcodec_receive_frame ff.avcodec_receive_frame
#define av_packet_alloc ff.av_packet_alloc
#define av_packet_free ff.av_packet_free
#define av_packet_unref ff.av_packet_unref
#define av_frame_alloc ff.av_frame_alloc
#define av_frame_free ff.av_frame_free
#define av_frame_unref ff.av_frame_unref
#define av_get_pix_fmt_name ff.av_get_pix_fmt_name
#define av_pix_fmt_desc_get ff.av_pix_fmt_desc_get
#define av_log_set_level ff.av_log_set_level
#define av_strerror ff.av_strerror
#define sws_getCachedContext ff.sws_getCachedContext
#define sws_freeContext ff.sws_freeContext
#define sws_scale ff.sws_scale

struct _TsrVideo
{
  char *path;
  AVFormatContext *fmt;
  AVCodecContext *dec;
  struct SwsContext *sws;
  AVPacket *pkt;
  AVFrame *frame;
  int stream;
  int width, height, channels, depth;
  enum AVPixelFormat out_fmt;
  guint n_frames;
  guint next;           /* index of the next frame the decoder will deliver */
  gboolean flushing, eof;
  double *times;        /* per frame pts in seconds (filled as decoded), NAN unknown */
};

gboolean
tsr_video_supported (void)
{
  return ff_load (NULL);
}

static void
video_close_stream (TsrVideo *v)
{
  if (v->dec)
    avcodec_free_context (&v->dec);
  if (v->fmt)
    avformat_close_input (&v->fmt);
  if (v->sws)
    {
      sws_freeContext (v->sws);
      v->sws = NULL;
    }
  v->next = 0;
  v->flushing = v->eof = FALSE;
}

void
tsr_video_close (TsrVideo *v)
{
  if (!v)
    return;
  video_close_stream (v);
  av_packet_free (&v->pkt);
  av_frame_free (&v->frame);
  g_free (v->times);
  g_free (v->path);
  g_free (v);
}

static gboolean
av_fail (GError **error, int code, const char *path, const char *what, int averr)
{
  char buf[AV_ERROR_MAX_STRING_SIZE] = "";
  av_strerror (averr, buf, sizeof buf);
  g_set_error (error, TSR_ERROR, code, "%s: %s (%s)", path, what, buf);
  return FALSE;
}

static gboolean
video_open_stream (TsrVideo *v, GError **error)
{
  int r = avformat_open_input (&v->fmt, v->path, NULL, NULL);
  if (r < 0)
    return av_fail (error, TSR_ERROR_FORMAT, v->path, "cannot open as a video", r);
  r = avformat_find_stream_info (v->fmt, NULL);
  if (r < 0)
    return av_fail (error, TSR_ERROR_FORMAT, v->path, "cannot read the stream information", r);
  const AVCodec *codec = NULL;
  v->stream = av_find_best_stream (v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (v->stream < 0 || !codec)
    return av_fail (error, TSR_ERROR_FORMAT, v->path, "no decodable video stream", v->stream);
  v->dec = avcodec_alloc_context3 (codec);
  avcodec_parameters_to_context (v->dec, v->fmt->streams[v->stream]->codecpar);
  v->dec->thread_count = 1;
  r = avcodec_open2 (v->dec, codec, NULL);
  if (r < 0)
    return av_fail (error, TSR_ERROR_FORMAT, v->path, "cannot open the video decoder", r);
  if (v->dec->width <= 0 || v->dec->height <= 0 || v->dec->width > 65536 || v->dec->height > 65536)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, "%s: video frame size %d × %d is out of range", v->path,
                   v->dec->width, v->dec->height);
      return FALSE;
    }
  v->next = 0;
  return TRUE;
}

TsrVideo *
tsr_video_open (const char *path, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND, "%s: no such file", path);
      return NULL;
    }
  if (!ff_load (error))
    {
      g_prefix_error (error, "%s: ", path); /* the file the user asked for, then why */
      return NULL;
    }
  av_log_set_level (AV_LOG_QUIET);
  TsrVideo *v = g_new0 (TsrVideo, 1);
  v->path = g_strdup (path);
  v->pkt = av_packet_alloc ();
  v->frame = av_frame_alloc ();
  if (!video_open_stream (v, error))
    {
      tsr_video_close (v);
      return NULL;
    }
  /* count the frames: one packet per frame of the video stream (demuxing only) */
  guint n = 0;
  int r;
  while ((r = av_read_frame (v->fmt, v->pkt)) >= 0)
    {
      if (v->pkt->stream_index == v->stream)
        n++;
      av_packet_unref (v->pkt);
    }
  if (r != AVERROR_EOF)
    {
      av_fail (error, TSR_ERROR_TRUNCATED, path, "damaged or truncated video", r);
      tsr_video_close (v);
      return NULL;
    }
  if (n == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY, "%s: the video holds no frames", path);
      tsr_video_close (v);
      return NULL;
    }
  v->n_frames = n;
  v->times = g_new (double, n);
  for (guint i = 0; i < n; i++)
    v->times[i] = NAN;
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get (v->dec->pix_fmt);
  gboolean grey = d && d->nb_components <= 2 && !(d->flags & AV_PIX_FMT_FLAG_PAL);
  int bits = d ? d->comp[0].depth : 8;
  v->width = v->dec->width;
  v->height = v->dec->height;
  v->channels = grey ? 1 : 3;
  v->depth = bits > 8 ? 16 : 8;
  v->out_fmt = grey ? (bits > 8 ? AV_PIX_FMT_GRAY16LE : AV_PIX_FMT_GRAY8)
                    : (bits > 8 ? AV_PIX_FMT_RGB48LE : AV_PIX_FMT_RGB24);
  /* rewind by re-opening (seeking is not exact for every container) */
  video_close_stream (v);
  if (!video_open_stream (v, error))
    {
      tsr_video_close (v);
      return NULL;
    }
  return v;
}

guint
tsr_video_n_frames (const TsrVideo *v)
{
  return v->n_frames;
}

void
tsr_video_size (const TsrVideo *v, int *width, int *height, int *channels, int *depth)
{
  if (width) *width = v->width;
  if (height) *height = v->height;
  if (channels) *channels = v->channels;
  if (depth) *depth = v->depth;
}

double
tsr_video_frame_time (const TsrVideo *v, guint i)
{
  return i < v->n_frames ? v->times[i] : NAN;
}

/* Decode the next frame into v->frame. FALSE at the end of the stream (no error) or on error. */
static gboolean
video_decode_next (TsrVideo *v, GError **error)
{
  for (;;)
    {
      int r = avcodec_receive_frame (v->dec, v->frame);
      if (r == 0)
        return TRUE;
      if (r == AVERROR_EOF)
        {
          v->eof = TRUE;
          return FALSE;
        }
      if (r != AVERROR (EAGAIN))
        return av_fail (error, TSR_ERROR_FORMAT, v->path, "cannot decode a frame", r);
      if (v->flushing)
        {
          v->eof = TRUE;
          return FALSE;
        }
      r = av_read_frame (v->fmt, v->pkt);
      if (r == AVERROR_EOF)
        {
          v->flushing = TRUE;
          avcodec_send_packet (v->dec, NULL);
          continue;
        }
      if (r < 0)
        return av_fail (error, TSR_ERROR_TRUNCATED, v->path, "damaged or truncated video", r);
      if (v->pkt->stream_index == v->stream)
        {
          r = avcodec_send_packet (v->dec, v->pkt);
          av_packet_unref (v->pkt);
          if (r < 0 && r != AVERROR (EAGAIN))
            return av_fail (error, TSR_ERROR_FORMAT, v->path, "cannot decode a packet", r);
        }
      else
        av_packet_unref (v->pkt);
    }
}

TsrImage *
tsr_video_read_frame (TsrVideo *v, guint i, GError **error)
{
  if (i >= v->n_frames)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: frame %u does not exist (%u frames)", v->path,
                   i + 1, v->n_frames);
      return NULL;
    }
  if (i < v->next)
    {
      video_close_stream (v);
      if (!video_open_stream (v, error))
        return NULL;
    }
  for (;;)
    {
      GError *e = NULL;
      if (v->eof || !video_decode_next (v, &e))
        {
          if (e)
            g_propagate_error (error, e);
          else
            g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                         "%s: the video ends before frame %u (decoded %u of %u counted)", v->path, i + 1, v->next,
                         v->n_frames);
          return NULL;
        }
      guint idx = v->next++;
      AVStream *st = v->fmt->streams[v->stream];
      if (v->frame->best_effort_timestamp != AV_NOPTS_VALUE && idx < v->n_frames)
        v->times[idx] = v->frame->best_effort_timestamp * av_q2d (st->time_base);
      if (idx == i)
        break;
      av_frame_unref (v->frame);
    }
  if (v->frame->width != v->width || v->frame->height != v->height)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, "%s: frame %u is %d × %d, the video %d × %d", v->path, i + 1,
                   v->frame->width, v->frame->height, v->width, v->height);
      av_frame_unref (v->frame);
      return NULL;
    }
  v->sws = sws_getCachedContext (v->sws, v->width, v->height, v->frame->format, v->width, v->height, v->out_fmt,
                                 SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
  if (!v->sws)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, "%s: cannot convert pixel format %s", v->path,
                   av_get_pix_fmt_name (v->frame->format));
      av_frame_unref (v->frame);
      return NULL;
    }
  int bps = v->depth / 8;
  int linesize = v->width * v->channels * bps;
  guint8 *buf = g_malloc ((gsize) linesize * v->height);
  guint8 *dst[4] = { buf, NULL, NULL, NULL };
  int dls[4] = { linesize, 0, 0, 0 };
  sws_scale (v->sws, (const guint8 *const *) v->frame->data, v->frame->linesize, 0, v->height, dst, dls);
  av_frame_unref (v->frame);
  TsrImage *img = tsr_image_new_uninit (v->width, v->height, v->channels);
  memset (img->mask, 1, tsr_image_npix (img));
  gsize npix = tsr_image_npix (img);
  for (int y = 0; y < v->height; y++)
    for (int x = 0; x < v->width; x++)
      for (int c = 0; c < v->channels; c++)
        {
          const guint8 *s = buf + (gsize) y * linesize + ((gsize) x * v->channels + c) * bps;
          img->data[(gsize) c * npix + (gsize) y * v->width + x] = bps == 1 ? s[0] : (float) (s[0] | (s[1] << 8));
        }
  g_free (buf);
  tsr_header_set_int (img->header, "VIDFRAME", i + 1, "frame index in the video");
  return img;
}

#else /* !TSR_HAVE_FFMPEG */

struct _TsrVideo
{
  int unused;
};

gboolean
tsr_video_supported (void)
{
  return FALSE;
}

TsrVideo *
tsr_video_open (const char *path, GError **error)
{
  g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
               "%s: this build of Tessera reads no videos (built without FFmpeg: install libavformat-dev, "
               "libavcodec-dev, libswscale-dev and rebuild, or convert the video to SER or images)", path);
  return NULL;
}

void tsr_video_close (TsrVideo *v) { g_free (v); }
guint tsr_video_n_frames (const TsrVideo *v) { return 0; }
void tsr_video_size (const TsrVideo *v, int *w, int *h, int *c, int *d) { }
double tsr_video_frame_time (const TsrVideo *v, guint i) { return NAN; }
TsrImage *
tsr_video_read_frame (TsrVideo *v, guint i, GError **error)
{
  g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, "built without FFmpeg");
  return NULL;
}

#endif
