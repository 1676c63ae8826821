/* tsr-video.c — videos through FFmpeg (libavformat, libavcodec, libswscale).
 *
 * Frames are decoded in order and converted by libswscale to GRAY8 / GRAY16 for grey streams,
 * RGB24 / RGB48 otherwise (48 when the source has more than 8 bits per component), then to
 * float planes in the units of the samples (0–255 or 0–65535). Without FFmpeg at build time
 * every entry point reports that clearly. */
#include "tsr-image-reader.h"
#include "tsr-error.h"

#include <math.h>
#include <string.h>

#ifdef TSR_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

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
  return TRUE;
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
