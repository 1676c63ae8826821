/* test-planetary.c — issue #16: readers (PNG/TIFF/JPEG stills, SER, video), wavelets, starless
 * detection, the planetary job on a generated session with truth, parameters. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/resource.h>
#include "tsr-test-util.h"

#ifdef TSR_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#endif

/* ------------------------------------------------------------------ helpers */

static TsrImage *
quantised_frame (const TsrPlanetSynthParams *p, const TsrImage *truth, guint i, float scale, float vmax)
{
  TsrImage *f = tsr_planet_synth_frame (p, truth, i, NULL, NULL);
  gsize n = tsr_image_npix (f) * f->channels;
  for (gsize k = 0; k < n; k++)
    f->data[k] = CLAMP (roundf (f->data[k] * scale), 0, vmax);
  return f;
}

static TsrImage *
to_rgb (const TsrImage *mono)
{
  TsrImage *c = tsr_image_new (mono->width, mono->height, 3);
  gsize np = tsr_image_npix (mono);
  for (int ch = 0; ch < 3; ch++)
    for (gsize i = 0; i < np; i++)
      tsr_image_plane (c, ch)[i] = CLAMP (roundf (mono->data[i] * (0.8f + 0.2f * ch)), 0, 255);
  return c;
}

static void
write_png (const char *path, const TsrImage *img, int depth)
{
  FILE *fp = g_fopen (path, "wb");
  g_assert_nonnull (fp);
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  g_assert_false (setjmp (png_jmpbuf (png)));
  png_init_io (png, fp);
  int ch = img->channels;
  png_set_IHDR (png, info, img->width, img->height, depth, ch == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  int bps = depth / 8;
  guint8 *row = g_malloc ((gsize) img->width * ch * bps);
  gsize np = tsr_image_npix (img);
  for (int y = 0; y < img->height; y++)
    {
      for (int x = 0; x < img->width; x++)
        for (int c = 0; c < ch; c++)
          {
            guint v = (guint) img->data[c * np + (gsize) y * img->width + x];
            guint8 *d = row + ((gsize) x * ch + c) * bps;
            if (bps == 1)
              d[0] = v;
            else
              {
                d[0] = v >> 8; /* PNG is big-endian */
                d[1] = v & 0xff;
              }
          }
      png_write_row (png, row);
    }
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  fclose (fp);
  g_free (row);
}

static void
assert_images_equal (const TsrImage *a, const TsrImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpint (a->channels, ==, b->channels);
  gsize n = tsr_image_npix (a) * a->channels;
  for (gsize i = 0; i < n; i++)
    if (a->data[i] != b->data[i])
      g_error ("sample %" G_GSIZE_FORMAT " differs: %g vs %g", i, a->data[i], b->data[i]);
}

static void
small_params (TsrPlanetSynthParams *p)
{
  tsr_planet_synth_params_init (p);
  p->n_frames = 6;
  p->width = 96;
  p->height = 80;
  p->disc_radius = 30;
}

/* ------------------------------------------------------------------ readers */

static void
test_png_sequence_and_ser (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-ser");
  TsrPlanetSynthParams p;
  small_params (&p);
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  for (int depth = 8; depth <= 16; depth += 8)
    for (int rgb = 0; rgb <= (depth == 8); rgb++)
      {
        g_autofree char *sub = g_strdup_printf ("%s/seq%d%s", dir, depth, rgb ? "rgb" : "");
        g_mkdir_with_parents (sub, 0755);
        TsrImage *frames[6];
        for (guint i = 0; i < p.n_frames; i++)
          {
            TsrImage *q = quantised_frame (&p, truth, i, depth == 8 ? 1.0f : 250.0f, depth == 8 ? 255 : 65535);
            if (rgb)
              {
                TsrImage *c = to_rgb (q);
                tsr_image_unref (q);
                q = c;
              }
            g_autofree char *path = g_strdup_printf ("%s/f%02u.png", sub, i + 1);
            write_png (path, q, depth);
            frames[i] = q;
          }
        /* the sequence reads back exactly */
        const char *paths[] = { sub, NULL };
        g_autoptr (GError) e = NULL;
        g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, &e);
        g_assert_no_error (e);
        g_assert_cmpint (tsr_frame_source_kind (src), ==, TSR_SOURCE_SEQUENCE);
        g_assert_cmpuint (tsr_frame_source_n_frames (src), ==, p.n_frames);
        g_assert_cmpint (tsr_frame_source_depth (src), ==, depth);
        TsrImage *read[6];
        for (guint i = 0; i < p.n_frames; i++)
          {
            read[i] = tsr_frame_source_read (src, i, &e);
            g_assert_no_error (e);
            assert_images_equal (read[i], frames[i]);
          }
        /* a SER written from the decoded PNGs decodes to the same frames, timestamps kept */
        g_autofree char *ser = g_strdup_printf ("%s/clip%d%s.ser", dir, depth, rgb ? "rgb" : "");
        double times[6];
        for (guint i = 0; i < p.n_frames; i++)
          times[i] = 1.7e9 + 0.01 * i;
        g_assert_true (tsr_ser_write (ser, read, p.n_frames, depth, rgb ? TSR_SER_RGB : TSR_SER_MONO, times, &e));
        g_assert_no_error (e);
        g_autofree char *part = g_strdup_printf ("%s.part", ser);
        g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
        const char *sp[] = { ser, NULL };
        g_autoptr (TsrFrameSource) s2 = tsr_frame_source_open (sp, NULL, &e);
        g_assert_no_error (e);
        g_assert_cmpint (tsr_frame_source_kind (s2), ==, TSR_SOURCE_SER);
        g_assert_cmpuint (tsr_frame_source_n_frames (s2), ==, p.n_frames);
        for (guint i = 0; i < p.n_frames; i++)
          {
            g_autoptr (TsrImage) f = tsr_frame_source_read (s2, i, &e);
            g_assert_no_error (e);
            assert_images_equal (f, frames[i]);
            g_assert_cmpfloat (fabs (tsr_frame_source_time (s2, i) - times[i]), <, 1e-6);
          }
        /* out of order reads work too */
        g_autoptr (TsrImage) again = tsr_frame_source_read (s2, 1, &e);
        assert_images_equal (again, frames[1]);
        for (guint i = 0; i < p.n_frames; i++)
          {
            tsr_image_unref (frames[i]);
            tsr_image_unref (read[i]);
          }
      }
  tsr_test_rmtree (dir);
}

static void
test_ser_bayer (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-bayer");
  g_autofree char *ser = g_build_filename (dir, "b.ser", NULL);
  TsrImage *f = tsr_image_new (16, 12, 1);
  for (gsize i = 0; i < tsr_image_npix (f); i++)
    f->data[i] = (float) (i * 37 % 4096);
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_ser_write (ser, &f, 1, 16, TSR_SER_BAYER_GRBG, NULL, &e));
  const char *sp[] = { ser, NULL };
  g_autoptr (TsrFrameSource) s = tsr_frame_source_open (sp, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpint (tsr_frame_source_cfa (s), ==, TSR_CFA_GRBG);
  g_assert_true (isnan (tsr_frame_source_time (s, 0)));
  g_autoptr (TsrImage) r = tsr_frame_source_read (s, 0, &e);
  assert_images_equal (r, f);
  g_assert_cmpint (r->cfa, ==, TSR_CFA_GRBG);
  tsr_image_unref (f);
  tsr_test_rmtree (dir);
}

/* A greyscale baseline JPEG of q (values 0..255) at quality 100. */
static void
write_jpeg_gray (const char *path, const TsrImage *q)
{
  FILE *fp = g_fopen (path, "wb");
  g_assert_nonnull (fp);
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr jerr;
  ci.err = jpeg_std_error (&jerr);
  jpeg_create_compress (&ci);
  jpeg_stdio_dest (&ci, fp);
  ci.image_width = q->width;
  ci.image_height = q->height;
  ci.input_components = 1;
  ci.in_color_space = JCS_GRAYSCALE;
  jpeg_set_defaults (&ci);
  jpeg_set_quality (&ci, 100, TRUE);
  jpeg_start_compress (&ci, TRUE);
  guint8 *row = g_malloc (q->width);
  while (ci.next_scanline < ci.image_height)
    {
      for (int x = 0; x < q->width; x++)
        row[x] = (guint8) q->data[(gsize) ci.next_scanline * q->width + x];
      JSAMPROW rp = row;
      jpeg_write_scanlines (&ci, &rp, 1);
    }
  jpeg_finish_compress (&ci);
  jpeg_destroy_compress (&ci);
  fclose (fp);
  g_free (row);
}

static void
test_bad_files (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-bad");
  TsrImage *f = tsr_image_new (40, 30, 1);
  for (gsize i = 0; i < tsr_image_npix (f); i++)
    f->data[i] = (i * 2654435761u >> 7) % 251;
  g_autofree char *ser = g_build_filename (dir, "t.ser", NULL);
  TsrImage *fr[3] = { f, f, f };
  g_assert_true (tsr_ser_write (ser, fr, 3, 8, TSR_SER_MONO, NULL, NULL));
  g_autofree char *png = g_build_filename (dir, "t.png", NULL);
  write_png (png, f, 8);
  tsr_image_unref (f);
  /* cut both files short */
  struct { const char *path; gsize keep; int code; } cases[] = {
    { ser, 178 + 40 * 30 * 2 + 100, TSR_ERROR_TRUNCATED },
    { ser, 100, TSR_ERROR_TRUNCATED },
    { png, 600, -1 },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      gsize len = 0;
      g_autofree char *data = tsr_test_read_file (cases[c].path, &len);
      g_autofree char *cut = g_strdup_printf ("%s/cut%u%s", dir, c, strrchr (cases[c].path, '.'));
      tsr_test_write_file (cut, data, MIN (len, cases[c].keep));
      const char *paths[] = { cut, NULL };
      g_autoptr (GError) e = NULL;
      g_autoptr (TsrFrameSource) s = tsr_frame_source_open (paths, NULL, &e);
      if (s)
        {
          g_autoptr (TsrImage) img = tsr_frame_source_read (s, 0, &e);
          if (img) g_error ("case %u: read succeeded", c);
        }
      g_assert_nonnull (e);
      g_assert_error (e, TSR_ERROR, (cases[c].code >= 0 ? cases[c].code : e->code));
      g_assert_nonnull (strstr (e->message, cut));
      g_assert_null (strchr (e->message, '\n'));
    }
  /* a JPEG whose header declares 20000 × 20000 pixels in a file of a few kB: refused as
   * truncated before a 1.6 GB buffer is asked for (the fuzzer's out-of-memory case) */
  {
    TsrImage *g = tsr_image_new (64, 48, 1);
    for (gsize i = 0; i < tsr_image_npix (g); i++)
      g->data[i] = (i * 2654435761u >> 9) % 251;
    g_autofree char *big = g_build_filename (dir, "big.jpg", NULL);
    write_jpeg_gray (big, g);
    tsr_image_unref (g);
    gsize len = 0;
    g_autofree guint8 *data = (guint8 *) tsr_test_read_file (big, &len);
    gsize sof = 0;
    for (gsize i = 2; i + 9 < len && !sof; i++)
      if (data[i] == 0xff && data[i + 1] == 0xc0)
        sof = i;
    g_assert_cmpuint (sof, >, 0);
    g_assert_cmpuint ((data[sof + 5] << 8) | data[sof + 6], ==, 48); /* height */
    data[sof + 5] = data[sof + 7] = 20000 >> 8;
    data[sof + 6] = data[sof + 8] = 20000 & 0xff;
    tsr_test_write_file (big, (const char *) data, len);
    g_autoptr (GError) eb = NULL;
    g_assert_null (tsr_image_file_read (big, &eb));
    g_assert_error (eb, TSR_ERROR, TSR_ERROR_TRUNCATED);
    g_assert_nonnull (strstr (eb->message, "20000 × 20000 pixels, more than"));
    g_assert_nonnull (strstr (eb->message, big));
  }
  /* not an image at all */
  g_autofree char *txt = g_build_filename (dir, "x.jpg", NULL);
  tsr_test_write_file (txt, "hello", 5);
  g_autoptr (GError) e = NULL;
  g_assert_null (tsr_image_file_read (txt, &e));
  g_assert_nonnull (strstr (e->message, txt));
  tsr_test_rmtree (dir);
}

static void
test_tiff_jpeg (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-tif");
  TsrPlanetSynthParams p;
  small_params (&p);
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  g_autoptr (TsrImage) q = quantised_frame (&p, truth, 0, 1.0f, 255);
  g_autoptr (TsrImage) c = to_rgb (q);
  g_autofree char *t32 = g_build_filename (dir, "a.tif", NULL);
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_tiff_write (t32, c, TSR_TIFF_FLOAT32, &e));
  g_autoptr (TsrImage) r = tsr_image_file_read (t32, &e);
  g_assert_no_error (e);
  assert_images_equal (r, c);
  /* JPEG (lossy, quality 100): close to the source */
  g_autofree char *jpg = g_build_filename (dir, "a.jpg", NULL);
  write_jpeg_gray (jpg, q);
  g_autoptr (TsrImage) j = tsr_image_file_read (jpg, &e);
  g_assert_no_error (e);
  double maxd = 0;
  for (gsize i = 0; i < tsr_image_npix (q); i++)
    maxd = MAX (maxd, fabs (j->data[i] - q->data[i]));
  g_assert_cmpfloat (maxd, <=, 3);
  tsr_test_rmtree (dir);
}

#ifdef TSR_HAVE_FFMPEG
/* Encode frames losslessly (FFV1, gray8 or 16) into a Matroska file. FALSE when the encoder
 * or muxer is missing. */
static gboolean
write_ffv1 (const char *path, TsrImage *const *frames, guint n, gboolean sixteen)
{
  const AVCodec *codec = avcodec_find_encoder (AV_CODEC_ID_FFV1);
  if (!codec)
    return FALSE;
  AVFormatContext *fmt = NULL;
  if (avformat_alloc_output_context2 (&fmt, NULL, "matroska", path) < 0 || !fmt)
    return FALSE;
  AVStream *st = avformat_new_stream (fmt, NULL);
  AVCodecContext *enc = avcodec_alloc_context3 (codec);
  enc->width = frames[0]->width;
  enc->height = frames[0]->height;
  enc->pix_fmt = sixteen ? AV_PIX_FMT_GRAY16LE : AV_PIX_FMT_GRAY8;
  enc->time_base = (AVRational) { 1, 25 };
  enc->framerate = (AVRational) { 25, 1 };
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER)
    enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  g_assert_cmpint (avcodec_open2 (enc, codec, NULL), >=, 0);
  avcodec_parameters_from_context (st->codecpar, enc);
  st->time_base = enc->time_base;
  g_assert_cmpint (avio_open (&fmt->pb, path, AVIO_FLAG_WRITE), >=, 0);
  g_assert_cmpint (avformat_write_header (fmt, NULL), >=, 0);
  AVFrame *fr = av_frame_alloc ();
  fr->format = enc->pix_fmt;
  fr->width = enc->width;
  fr->height = enc->height;
  av_frame_get_buffer (fr, 0);
  AVPacket *pkt = av_packet_alloc ();
  for (guint i = 0; i <= n; i++)
    {
      if (i < n)
        {
          av_frame_make_writable (fr);
          for (int y = 0; y < enc->height; y++)
            for (int x = 0; x < enc->width; x++)
              {
                guint v = (guint) frames[i]->data[(gsize) y * enc->width + x];
                if (sixteen)
                  {
                    fr->data[0][y * fr->linesize[0] + 2 * x] = v & 0xff;
                    fr->data[0][y * fr->linesize[0] + 2 * x + 1] = v >> 8;
                  }
                else
                  fr->data[0][y * fr->linesize[0] + x] = v;
              }
          fr->pts = i;
        }
      avcodec_send_frame (enc, i < n ? fr : NULL);
      while (avcodec_receive_packet (enc, pkt) == 0)
        {
          av_packet_rescale_ts (pkt, enc->time_base, st->time_base);
          pkt->stream_index = st->index;
          av_interleaved_write_frame (fmt, pkt);
        }
    }
  av_write_trailer (fmt);
  avio_closep (&fmt->pb);
  av_packet_free (&pkt);
  av_frame_free (&fr);
  avcodec_free_context (&enc);
  avformat_free_context (fmt);
  return TRUE;
}
#endif

static void
test_video (void)
{
#ifndef TSR_HAVE_FFMPEG
  g_assert_false (tsr_video_supported ());
  g_test_skip ("built without FFmpeg: video decoding not tested");
#else
  g_assert_true (tsr_video_supported ());
  g_autofree char *dir = tsr_test_tmpdir ("pl-video");
  TsrPlanetSynthParams p;
  small_params (&p);
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  for (int sixteen = 0; sixteen <= 1; sixteen++)
    {
      TsrImage *frames[6];
      g_autofree char *seqdir = g_strdup_printf ("%s/png%d", dir, sixteen);
      g_mkdir_with_parents (seqdir, 0755);
      for (guint i = 0; i < p.n_frames; i++)
        {
          g_autoptr (TsrImage) q = quantised_frame (&p, truth, i, sixteen ? 250.f : 1.f, sixteen ? 65535 : 255);
          g_autofree char *path = g_strdup_printf ("%s/f%u.png", seqdir, i);
          write_png (path, q, sixteen ? 16 : 8);
          frames[i] = tsr_image_file_read (path, NULL);
          g_assert_nonnull (frames[i]);
        }
      g_autofree char *mkv = g_strdup_printf ("%s/clip%d.mkv", dir, sixteen);
      if (!write_ffv1 (mkv, frames, p.n_frames, sixteen))
        {
          for (guint i = 0; i < p.n_frames; i++)
            tsr_image_unref (frames[i]);
          g_test_skip ("FFV1 encoder or Matroska muxer unavailable: video not tested");
          tsr_test_rmtree (dir);
          return;
        }
      const char *paths[] = { mkv, NULL };
      g_autoptr (GError) e = NULL;
      g_autoptr (TsrFrameSource) s = tsr_frame_source_open (paths, NULL, &e);
      g_assert_no_error (e);
      g_assert_cmpint (tsr_frame_source_kind (s), ==, TSR_SOURCE_VIDEO);
      g_assert_cmpuint (tsr_frame_source_n_frames (s), ==, p.n_frames);
      for (guint i = 0; i < p.n_frames; i++)
        {
          g_autoptr (TsrImage) f = tsr_frame_source_read (s, i, &e);
          g_assert_no_error (e);
          assert_images_equal (f, frames[i]);
        }
      /* backwards: re-opens */
      g_autoptr (TsrImage) f2 = tsr_frame_source_read (s, 2, &e);
      g_assert_no_error (e);
      assert_images_equal (f2, frames[2]);
      /* a truncated video: a clear error naming the file, at open or at a read */
      gsize len;
      g_autofree char *data = tsr_test_read_file (mkv, &len);
      g_autofree char *cut = g_strdup_printf ("%s/cut%d.mkv", dir, sixteen);
      tsr_test_write_file (cut, data, len / 3);
      const char *cp[] = { cut, NULL };
      g_autoptr (GError) e2 = NULL;
      g_autoptr (TsrFrameSource) sc = tsr_frame_source_open (cp, NULL, &e2);
      gboolean failed = sc == NULL;
      for (guint i = 0; sc && i < p.n_frames && !failed; i++)
        {
          g_autoptr (TsrImage) fi = tsr_frame_source_read (sc, i, &e2);
          failed = fi == NULL;
        }
      if (!failed && sc)
        g_assert_cmpuint (tsr_frame_source_n_frames (sc), <, p.n_frames);
      else
        g_assert_nonnull (strstr (e2->message, cut));
      for (guint i = 0; i < p.n_frames; i++)
        tsr_image_unref (frames[i]);
    }
  tsr_test_rmtree (dir);
#endif
}

/* ------------------------------------------------------------------ wavelets */

static double
energy (const float *a, const float *b, gsize n)
{
  double s = 0;
  for (gsize i = 0; i < n; i++)
    {
      double d = a[i] - (b ? b[i] : 0);
      s += d * d;
    }
  return s;
}

static void
test_wavelets (void)
{
  TsrPlanetSynthParams p;
  tsr_planet_synth_params_init (&p);
  p.width = 200;
  p.height = 160;
  p.disc_radius = 60;
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  g_autoptr (TsrImage) img = tsr_planet_synth_frame (&p, truth, 0, NULL, NULL);
  gsize np = tsr_image_npix (img);
  TsrWaveletParams wp;
  tsr_wavelet_params_init (&wp);
  g_autoptr (GError) e = NULL;
  /* unit gains: the input to float precision */
  g_autoptr (TsrImage) same = tsr_wavelets_apply (img, &wp, NULL, &e);
  g_assert_no_error (e);
  double peak = 0;
  for (gsize i = 0; i < np; i++)
    peak = MAX (peak, fabs (img->data[i]));
  for (gsize i = 0; i < np; i++)
    g_assert_cmpfloat (fabs (same->data[i] - img->data[i]), <=, 4 * FLT_EPSILON * peak);
  /* layers sum to the plane */
  float *layers[6];
  for (int j = 0; j < 6; j++)
    layers[j] = g_new (float, np);
  tsr_wavelet_decompose (img->data, img->width, img->height, 5, layers);
  /* each layer's energy scales by its gain: out − in = (g − 1)·layer_j exactly */
  double e_layer[5];
  for (int j = 0; j < 5; j++)
    {
      e_layer[j] = energy (layers[j], NULL, np);
      g_assert_cmpfloat (e_layer[j], >, 0);
      TsrWaveletParams g1;
      tsr_wavelet_params_init (&g1);
      double gain = 1.5 + 0.5 * j;
      g1.gains[j] = gain;
      g_autoptr (TsrImage) out = tsr_wavelets_apply (img, &g1, NULL, &e);
      g_assert_no_error (e);
      /* the layer's contribution to the output: layer + (out − in) = gain · layer */
      float *contrib = g_new (float, np);
      for (gsize i = 0; i < np; i++)
        contrib[i] = layers[j][i] + (out->data[i] - img->data[i]);
      double ratio = energy (contrib, NULL, np) / e_layer[j];
      g_assert_cmpfloat (fabs (ratio - gain * gain), <, 1e-3 * gain * gain);
      g_free (contrib);
    }
  /* the noise sits in the finest layer: its energy per pixel is the largest relative to the
   * noise-free truth's */
  float *tl[6];
  for (int j = 0; j < 6; j++)
    tl[j] = g_new (float, np);
  tsr_wavelet_decompose (truth->data, img->width, img->height, 5, tl);
  g_assert_cmpfloat (e_layer[0] / energy (tl[0], NULL, np), >, e_layer[3] / energy (tl[3], NULL, np));
  /* a soft threshold of 3 σ on layer 1 removes most of the noise there */
  TsrWaveletParams th;
  tsr_wavelet_params_init (&th);
  g_assert_true (tsr_wavelet_params_set (&th, "wavelets.thresholds", "3", &e));
  g_autoptr (TsrImage) den = tsr_wavelets_apply (img, &th, NULL, &e);
  g_assert_cmpfloat (energy (den->data, truth->data, np), <, energy (img->data, truth->data, np));
  for (int j = 0; j < 6; j++)
    {
      g_free (layers[j]);
      g_free (tl[j]);
    }
}

static void
test_params (void)
{
  TsrPlanetaryParams p;
  tsr_planetary_params_init (&p);
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_planetary_params_set (&p, "planetary.best_fraction", "0.3", &e));
  g_assert_cmpfloat (p.best_fraction, ==, 0.3);
  g_assert_true (tsr_planetary_params_set (&p, "planetary.stack", "quality_weight", &e));
  g_assert_cmpint (p.stack, ==, TSR_PSTACK_QUALITY_WEIGHT);
  g_autofree char *s = tsr_planetary_params_get_string (&p, "planetary.stack");
  g_assert_cmpstr (s, ==, "quality_weight");
  g_assert_false (tsr_planetary_params_set (&p, "planetary.best_fraction", "1.5", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&e);
  g_assert_false (tsr_planetary_params_set (&p, "planetary.nope", "1", &e));
  g_assert_nonnull (strstr (e->message, "planetary.nope"));
  g_clear_error (&e);
  TsrWaveletParams w;
  tsr_wavelet_params_init (&w);
  g_assert_true (tsr_wavelet_params_set (&w, "wavelets.gains", "2,1.5,1,1,1,1", &e));
  g_assert_cmpint (w.n_layers, ==, 6);
  g_autofree char *g = tsr_wavelet_params_get_string (&w, "wavelets.gains");
  g_assert_cmpstr (g, ==, "2,1.5,1,1,1,1");
  g_assert_false (tsr_wavelet_params_set (&w, "wavelets.gains", "2,x", &e));
}

/* ------------------------------------------------------------------ detection and the job */

static void
test_starless (void)
{
  TsrPlanetSynthParams p;
  tsr_planet_synth_params_init (&p);
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  g_autoptr (TsrImage) f = tsr_planet_synth_frame (&p, truth, 0, NULL, NULL);
  TsrStarlessInfo info;
  tsr_starless_detect (f, &info);
  g_assert_true (info.starless);
  g_assert_false (info.surface);
  g_assert_cmpfloat (fabs (info.disc_r - p.disc_radius), <, 0.25 * p.disc_radius);
  /* a deep-sky frame of the project's generator is not starless */
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.width = 320;
  sp.height = 240;
  sp.n_frames = 1;
  sp.n_mirrored = sp.n_noise = sp.n_trails = 0;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
  g_autoptr (TsrImage) ds = tsr_synth_render_frame (t, 0, TRUE);
  tsr_starless_detect (ds, &info);
  g_assert_false (info.starless);
  g_assert_cmpuint (info.n_compact, >=, 25);
}

static double
rms_to_truth (const TsrImage *img, const TsrImage *truth, double R)
{
  /* register img to the truth by phase correlation, compare inside 0.85 R */
  double dx, dy, peak;
  int w = img->width, h = img->height;
  g_assert_true (tsr_phase_correlate (truth->data, img->data, w, h, &dx, &dy, &peak));
  TsrTransform t;
  tsr_transform_identity (&t);
  t.m[2] = dx;
  t.m[5] = dy;
  g_autoptr (TsrImage) al = tsr_warp (img, &t, w, h, TSR_CFA_NONE, TSR_INTERP_BICUBIC);
  double s = 0;
  gsize n = 0;
  double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        if (hypot (x - cx, y - cy) > 0.85 * R || !al->mask[i])
          continue;
        double d = al->data[i] - truth->data[i];
        s += d * d;
        n++;
      }
  return sqrt (s / n);
}

/* a progress callback that cancels at the alignment's second report */
static void
cancel_on_aligning (const char *phase, guint done, guint total, gpointer data)
{
  if (!strcmp (phase, "Aligning") && done > 0)
    g_cancellable_cancel (data);
}

static void
test_synthetic_session (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-synth");
  TsrPlanetSynthParams p;
  tsr_planet_synth_params_init (&p);
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  TsrImage **frames = g_new (TsrImage *, p.n_frames);
  for (guint i = 0; i < p.n_frames; i++)
    frames[i] = quantised_frame (&p, truth, i, 250.f, 65535);
  g_autofree char *ser = g_build_filename (dir, "planet.ser", NULL);
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_ser_write (ser, frames, p.n_frames, 16, TSR_SER_MONO, NULL, &e));
  for (guint i = 0; i < p.n_frames; i++)
    tsr_image_unref (frames[i]);
  g_free (frames);
  g_autoptr (TsrImage) truth_dn = tsr_image_copy (truth);
  for (gsize i = 0; i < tsr_image_npix (truth_dn); i++)
    truth_dn->data[i] *= 250.f;
  const char *paths[] = { ser, NULL };
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, &e);
  g_assert_no_error (e);
  TsrPlanetaryParams pp;
  tsr_planetary_params_init (&pp);
  g_autoptr (TsrPlanetaryResult) r = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_true (r->disc);
  g_assert_cmpfloat (r->residual_rms, <, 0.1);
  guint active = 0;
  for (guint k = 0; k < r->n_aps; k++)
    active += r->ap_active[k];
  g_assert_cmpuint (active, >, 4);
  double e_local = rms_to_truth (r->result, truth_dn, p.disc_radius);
  double e_mean = rms_to_truth (r->mean, truth_dn, p.disc_radius);
  double e_best = rms_to_truth (r->best_frame, truth_dn, p.disc_radius);
  g_test_message ("RMS to truth: local-point stack %.2f, global mean %.2f, best frame %.2f (DN); "
                  "local shifts %.2f px RMS", e_local, e_mean, e_best, r->local_shift_rms);
  g_assert_cmpfloat (e_local, <, e_mean);
  /* the same without alignment points (global shifts, the same best-fraction selection) is
   * worse than with them */
  pp.local = FALSE;
  g_autoptr (TsrPlanetaryResult) r2 = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  double e_nolocal = rms_to_truth (r2->result, truth_dn, p.disc_radius);
  g_test_message ("without alignment points: %.2f", e_nolocal);
  g_assert_cmpfloat (e_local, <, e_nolocal);
  /* streaming (the frames read again for each pass) gives the same stack with two luminance
   * planes held instead of one per frame */
  g_assert_cmpuint (r->lum_planes_peak, ==, r->n_frames);
  pp.local = TRUE;
  pp.stream = TRUE;
  g_autoptr (TsrPlanetaryResult) r3 = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (r3->lum_planes_peak, <=, 2);
  g_assert_cmpmem (r3->result->data, tsr_image_npix (r3->result) * sizeof (float), r->result->data,
                   tsr_image_npix (r->result) * sizeof (float));
  g_assert_cmpmem (r3->mean->data, tsr_image_npix (r3->mean) * sizeof (float), r->mean->data,
                   tsr_image_npix (r->mean) * sizeof (float));
  g_assert_cmpmem (r3->shift_x, r->n_frames * sizeof (double), r->shift_x, r->n_frames * sizeof (double));
  /* one thread gives the same bits as two (the alignment passes split the frames over the
   * threads, the stack its rows) */
  pp.stream = FALSE;
  pp.n_threads = 1;
  g_autoptr (TsrPlanetaryResult) r4 = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpmem (r4->result->data, tsr_image_npix (r4->result) * sizeof (float), r->result->data,
                   tsr_image_npix (r->result) * sizeof (float));
  g_assert_cmpmem (r4->mean->data, tsr_image_npix (r4->mean) * sizeof (float), r->mean->data,
                   tsr_image_npix (r->mean) * sizeof (float));
  g_assert_cmpmem (r4->shift_x, r->n_frames * sizeof (double), r->shift_x, r->n_frames * sizeof (double));
  g_assert_cmpmem (r4->shift_y, r->n_frames * sizeof (double), r->shift_y, r->n_frames * sizeof (double));
  /* cancelled while the frames are aligned in two threads: the cancel's own error, no result */
  pp.n_threads = 2;
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autoptr (TsrPlanetaryResult) r5 = tsr_planetary_run (src, &pp, cancel_on_aligning, cancel, cancel, &e);
  g_assert_null (r5);
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
  /* tsr_planetary_align_frame is the stack's own resampling: the mean of the globally aligned
   * frames it gives is the job's mean, and the local field brings each frame closer to the
   * truth than its global shift alone (the generated distortion is 1.2 px RMS) */
  g_autoptr (TsrImage) acc = tsr_image_new (r->width, r->height, 1);
  g_autofree guint32 *cnt = g_new0 (guint32, tsr_image_npix (acc));
  double e_glob = 0, e_loc = 0;
  for (guint f = 0; f < r->n_frames; f++)
    {
      g_autoptr (TsrImage) fr = tsr_frame_source_read (src, f, &e);
      g_assert_no_error (e);
      g_autoptr (TsrImage) g = tsr_planetary_align_frame (r, fr, f, FALSE);
      g_autoptr (TsrImage) l = tsr_planetary_align_frame (r, fr, f, TRUE);
      for (gsize i = 0; i < tsr_image_npix (acc); i++)
        if (g->mask[i])
          {
            acc->data[i] += g->data[i];
            cnt[i]++;
          }
      e_glob += rms_to_truth (g, truth_dn, p.disc_radius) / r->n_frames;
      e_loc += rms_to_truth (l, truth_dn, p.disc_radius) / r->n_frames;
    }
  double dmax = 0;
  for (gsize i = 0; i < tsr_image_npix (acc); i++)
    if (cnt[i] && r->mean->mask[i])
      dmax = MAX (dmax, fabs (acc->data[i] / cnt[i] - r->mean->data[i]));
  g_test_message ("aligned frames: RMS to truth %.1f with the local field, %.1f with the global shift; mean "
                  "rebuilt to %.2g DN", e_loc, e_glob, dmax);
  g_assert_cmpfloat (dmax, <, 0.1); /* DN of ~50000: float rounding of the sums */
  g_assert_cmpfloat (e_loc, <, 0.9 * e_glob);
  tsr_test_rmtree (dir);
}

/* 4-DOF global alignment: a generated lunar-like surface (Gaussian craters and ridges over the
 * whole frame, evaluated analytically at every frame's rotated, scaled and shifted coordinates,
 * so the frames carry no interpolation error) turning by up to ±1.5° (field rotation) with a
 * 0.3 % scale breathing and 3 px jitter (and again over ±15°): the rotation of each frame relative to the others is
 * recovered within 0.05°, the scale within 0.05 %; and the mean stack with the rotation is as
 * sharp as the truth (within 5 %) and sharper than with translation alone. planetary.rotation=auto keeps it; on frames that
 * do not turn, auto leaves the translation-only alignment. */
typedef struct
{
  double x, y, s, a;
} Blob;

static double
surface_at (const Blob *b, guint nb, double x, double y)
{
  double v = 120;
  for (guint k = 0; k < nb; k++)
    {
      double dx = x - b[k].x, dy = y - b[k].y, r2 = (dx * dx + dy * dy) / (2 * b[k].s * b[k].s);
      if (r2 < 12)
        v += b[k].a * exp (-r2);
    }
  return v;
}

static TsrImage *
surface_frame (const Blob *b, guint nb, int w, int h, double theta, double scale, double tx, double ty, double noise,
               GRand *rng)
{
  /* frame(c + A u + t) = scene(c + u): the scene as seen turned by theta */
  TsrImage *f = tsr_image_new (w, h, 1);
  double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1), c = cos (theta) / scale, s = sin (theta) / scale;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double X = x - cx - tx, Y = y - cy - ty;
        double u = c * X + s * Y, v = -s * X + c * Y;
        double n = noise * sqrt (-2 * log (g_rand_double_range (rng, 1e-12, 1))) * cos (2 * G_PI * g_rand_double (rng));
        f->data[(gsize) y * w + x] = (float) (surface_at (b, nb, cx + u, cy + v) + n);
      }
  return f;
}

static void
rotation_case (double spread_deg)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-rot");
  const int w = 240, h = 200;
  const guint n = 10, nb = 500;
  g_autoptr (GRand) rng = g_rand_new_with_seed (16);
  Blob *b = g_new (Blob, nb);
  for (guint k = 0; k < nb; k++)
    {
      b[k].x = g_rand_double_range (rng, -60, w + 60);
      b[k].y = g_rand_double_range (rng, -60, h + 60);
      b[k].s = g_rand_double_range (rng, 1.5, 7);
      b[k].a = g_rand_double_range (rng, -60, 80);
    }
  double theta[10], scale[10];
  TsrImage *frames[10], *still[10];
  for (guint i = 0; i < n; i++)
    {
      theta[i] = spread_deg * (-1.0 + 2.0 * i / (n - 1)) * G_PI / 180;
      scale[i] = 1 + 0.003 * sin (1.3 * i);
      double tx = g_rand_double_range (rng, -3, 3), ty = g_rand_double_range (rng, -3, 3);
      frames[i] = surface_frame (b, nb, w, h, theta[i], scale[i], tx, ty, 2.0, rng);
      still[i] = surface_frame (b, nb, w, h, 0, 1, tx, ty, 2.0, rng);
    }
  g_autoptr (TsrImage) truth = surface_frame (b, nb, w, h, 0, 1, 0, 0, 0, rng);
  g_autofree char *ser = g_build_filename (dir, "turning.ser", NULL);
  g_autofree char *ser2 = g_build_filename (dir, "still.ser", NULL);
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_ser_write (ser, frames, n, 16, TSR_SER_MONO, NULL, &e));
  g_assert_true (tsr_ser_write (ser2, still, n, 16, TSR_SER_MONO, NULL, &e));
  for (guint i = 0; i < n; i++)
    {
      tsr_image_unref (frames[i]);
      tsr_image_unref (still[i]);
    }
  const char *paths[] = { ser, NULL };
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, &e);
  g_assert_no_error (e);
  TsrPlanetaryParams pp;
  tsr_planetary_params_init (&pp);
  pp.local = FALSE;
  pp.sharpen = TSR_PSHARPEN_OFF;
  pp.stack = TSR_PSTACK_MEAN;
  pp.align = TSR_PALIGN_SURFACE; /* what the starless detection says of a real Moon; these blobs read as a disc */
  g_autoptr (TsrPlanetaryResult) r = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_false (r->disc);
  g_assert_true (r->rotated); /* auto: a surface, and the corners move by pixels */
  /* relative to the frames' mean (the output geometry is the mean orientation) */
  double mt = 0, mr = 0, ms = 0, mts = 0;
  double sc[10], th[10];
  for (guint i = 0; i < n; i++)
    {
      th[i] = tsr_planetary_frame_rotation (r, i, &sc[i]);
      mt += theta[i] / n;
      mr += th[i] / n;
      ms += sc[i] / n;
      mts += scale[i] / n;
    }
  double err = 0, serr = 0;
  for (guint i = 0; i < n; i++)
    {
      err = MAX (err, fabs ((th[i] - mr) - (theta[i] - mt)) * 180 / G_PI);
      serr = MAX (serr, fabs (sc[i] / ms - scale[i] / mts));
    }
  g_test_message ("rotation: ±%g° recovered to %.4f° (largest error), scale to %.5f; largest rotation %.3f°",
                  spread_deg, err, serr, r->rotation_max_deg);
  g_assert_cmpfloat (err, <, 0.05);
  g_assert_cmpfloat (serr, <, 5e-4);
  /* the mean with the rotation against translation only (sharpness away from the edges) */
  pp.rotation = TSR_PROT_OFF;
  g_autoptr (TsrPlanetaryResult) r0 = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_false (r0->rotated);
  double s1, s0;
  double q1 = tsr_planetary_sharpness (r->mean, 16, 16, w - 16, h - 16, &s1);
  double q0 = tsr_planetary_sharpness (r0->mean, 16, 16, w - 16, h - 16, &s0);
  double qt = tsr_planetary_sharpness (truth, 16, 16, w - 16, h - 16, NULL);
  g_test_message ("mean stack sharpness: 4-DOF %.3f, translation only %.3f, truth %.3f", q1, q0, qt);
  g_assert_cmpfloat (q1, >, 1.1 * q0);
  g_assert_cmpfloat (q1, >, 0.95 * qt);
  /* frames that do not turn: auto finds nothing worth keeping */
  const char *p2[] = { ser2, NULL };
  g_autoptr (TsrFrameSource) src2 = tsr_frame_source_open (p2, NULL, &e);
  g_assert_no_error (e);
  pp.rotation = TSR_PROT_AUTO;
  g_autoptr (TsrPlanetaryResult) r2 = tsr_planetary_run (src2, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_false (r2->rotated);
  g_free (b);
  tsr_test_rmtree (dir);
}

static void
test_rotation (void)
{
  rotation_case (1.5);
  /* up to 30° between frames: beyond one start's basin, found by the coarse scan of starts */
  rotation_case (15);
}

/* Calibration frames on the planetary path: frames of a generated planet recorded through a
 * vignetting flat (0.65 at the corners) with a dark of offset 500 DN and hot pixels, as a SER;
 * FITS darks (a folder) and a master flat calibrate them: the stack is much closer to the
 * truth than without; masters of another size are refused in one line naming the file. */
static void
test_calibration (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-calib");
  TsrPlanetSynthParams p;
  tsr_planet_synth_params_init (&p);
  p.n_frames = 10;
  p.width = p.height = 128;
  p.disc_radius = 40;
  p.jitter = 3;
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  const int w = p.width, h = p.height;
  const gsize np = (gsize) w * h;
  float *flat = g_new (float, np), *dark = g_new (float, np);
  g_autoptr (GRand) rng = g_rand_new_with_seed (18);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double r2 = (pow (x - 0.5 * w, 2) + pow (y - 0.5 * h, 2)) / (0.5 * w * 0.5 * w);
        flat[(gsize) y * w + x] = (float) (1 - 0.175 * r2);
        dark[(gsize) y * w + x] = 500 + (g_rand_int_range (rng, 0, 100) == 0 ? 5000 : 0);
      }
  /* the master flat is normalised to median 1: the calibrated frames are the clean frames × that
   * median */
  float *fs = g_memdup2 (flat, np * sizeof (float));
  float fmed = tsr_median_inplace (fs, np);
  g_free (fs);
  TsrImage *frames[10], *clean[10];
  for (guint i = 0; i < p.n_frames; i++)
    {
      frames[i] = tsr_planet_synth_frame (&p, truth, i, NULL, NULL);
      clean[i] = tsr_image_copy (frames[i]);
      for (gsize k = 0; k < np; k++)
        {
          frames[i]->data[k] = CLAMP (roundf (frames[i]->data[k] * 250.f * flat[k] + dark[k]), 0, 65535);
          clean[i]->data[k] = CLAMP (roundf (clean[i]->data[k] * 250.f * fmed), 0, 65535);
        }
    }
  g_autofree char *ser = g_build_filename (dir, "planet.ser", NULL);
  g_autofree char *ser_clean = g_build_filename (dir, "clean.ser", NULL);
  g_autoptr (GError) err = NULL;
  g_assert_true (tsr_ser_write (ser, frames, p.n_frames, 16, TSR_SER_MONO, NULL, &err));
  g_assert_true (tsr_ser_write (ser_clean, clean, p.n_frames, 16, TSR_SER_MONO, NULL, &err));
  for (guint i = 0; i < p.n_frames; i++)
    {
      tsr_image_unref (frames[i]);
      tsr_image_unref (clean[i]);
    }
  g_autofree char *darks = g_build_filename (dir, "darks", NULL);
  g_mkdir_with_parents (darks, 0755);
  const char *dark_cards[] = { "IMAGETYP= 'Dark Frame'", NULL };
  float *dn = g_new (float, np);
  for (int i = 0; i < 5; i++)
    {
      for (gsize k = 0; k < np; k++)
        dn[k] = dark[k] + (float) g_rand_double_range (rng, -2, 2);
      g_autofree char *path = g_strdup_printf ("%s/dark_%d.fits", darks, i);
      tsr_test_write_fits (path, -32, w, h, 1, dn, dark_cards);
    }
  const char *flat_cards[] = { "IMAGETYP= 'Master Flat'", NULL };
  g_autofree char *mflat = g_build_filename (dir, "master-flat.fits", NULL);
  tsr_test_write_fits (mflat, -32, w, h, 1, flat, flat_cards);
  g_autofree char *small = g_build_filename (dir, "small-flat.fits", NULL);
  tsr_test_write_fits (small, -32, 64, 64, 1, flat, flat_cards);
  g_autofree char *out_c = g_build_filename (dir, "cal.fits", NULL);
  g_autofree char *out_u = g_build_filename (dir, "raw.fits", NULL);
  char *o = NULL, *e = NULL;
  const char *a1[] = { "planetary", ser, "-o", out_c, "--darks", darks, "--flats", mflat,
                       "--set", "planetary.sharpen=off", NULL };
  int rc = tsr_test_run_cli (a1, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (o, "calibrated"));
  g_free (o);
  g_free (e);
  const char *a2[] = { "planetary", ser, "-o", out_u, "--set", "planetary.sharpen=off", NULL };
  rc = tsr_test_run_cli (a2, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_free (o);
  g_free (e);
  g_autofree char *out_k = g_build_filename (dir, "clean.fits", NULL);
  const char *a2b[] = { "planetary", ser_clean, "-o", out_k, "--set", "planetary.sharpen=off", NULL };
  rc = tsr_test_run_cli (a2b, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_free (o);
  g_free (e);
  g_autoptr (TsrImage) cal = tsr_fits_read (out_c, NULL);
  g_autoptr (TsrImage) raw = tsr_fits_read (out_u, NULL);
  g_autoptr (TsrImage) ref = tsr_fits_read (out_k, NULL);
  g_assert_nonnull (cal);
  g_assert_nonnull (raw);
  g_assert_nonnull (ref);
  double ec = rms_to_truth (cal, ref, p.disc_radius), eu = rms_to_truth (raw, ref, p.disc_radius);
  g_test_message ("planetary stack RMS to the stack of the clean frames: calibrated %.0f DN, uncalibrated %.0f DN "
                  "(of ~%.0f)", ec, eu, 250 * p.peak * fmed);
  g_assert_cmpfloat (ec, <, 0.1 * eu);
  /* process routes a SER to the planetary path and calibrates it too */
  const char *a3[] = { "process", ser, "-o", out_c, "--darks", darks, "--flats", mflat, NULL };
  rc = tsr_test_run_cli (a3, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (o, "calibrated"));
  g_free (o);
  g_free (e);
  /* a master of another size: one line naming it */
  const char *a4[] = { "planetary", ser, "-o", out_c, "--flats", small, NULL };
  rc = tsr_test_run_cli (a4, &o, &e);
  g_assert_cmpint (rc, !=, 0);
  g_assert_nonnull (strstr (e, small));
  g_assert_true (strchr (e, '\n') == e + strlen (e) - 1);
  g_free (o);
  g_free (e);
  g_free (flat);
  g_free (dark);
  g_free (dn);
  tsr_test_rmtree (dir);
}

/* The resampling kernel: a 4-px period shifted by half a pixel keeps its amplitude through
 * Lanczos-3 (≥ 98 %), Catmull-Rom loses more than 10 % of it (the stacks would be blurred by
 * the kernel); a whole-pixel shift is exact with either. */
static void
test_kernel (void)
{
  const int w = 64, h = 64;
  g_autoptr (TsrImage) img = tsr_image_new (w, h, 1);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      img->data[(gsize) y * w + x] = 100 + 50 * (float) cos (2 * G_PI * x / 4.0);
  double sx = 0.5, sy = 0;
  TsrPlanetaryResult r = { .n_frames = 1, .width = w, .height = h, .channels = 1, .shift_x = &sx, .shift_y = &sy };
  double amp[2];
  for (int k = 0; k < 2; k++)
    {
      r.interp = k == 0 ? TSR_PINTERP_LANCZOS3 : TSR_PINTERP_CUBIC;
      sx = 0.5;
      g_autoptr (TsrImage) o = tsr_planetary_align_frame (&r, img, 0, TRUE);
      /* amplitude on a middle row by projection on the shifted cosine */
      double a = 0;
      for (int x = 8; x < 56; x++)
        a += (o->data[32 * w + x] - 100) * cos (2 * G_PI * (x + 0.5) / 4.0) * 2 / 48;
      amp[k] = a / 50;
      sx = 2;
      g_autoptr (TsrImage) o2 = tsr_planetary_align_frame (&r, img, 0, TRUE);
      for (int x = 8; x < 56; x++)
        g_assert_cmpfloat (fabs (o2->data[32 * w + x] - img->data[32 * w + x + 2]), <, 1e-3);
      g_assert_false (o2->mask[32 * w + w - 1]);
      g_assert_true (o2->mask[32 * w + w - 3]);
    }
  g_test_message ("half-pixel shift of a 4-px period: Lanczos-3 keeps %.3f, Catmull-Rom %.3f", amp[0], amp[1]);
  g_assert_cmpfloat (amp[0], >=, 0.98);
  g_assert_cmpfloat (amp[0], <=, 1.03);
  g_assert_cmpfloat (amp[1], <, 0.9);
}

/* Atmospheric dispersion: red and blue copies of a textured disc moved by known sub-pixel and
 * several-pixel shifts are found to 0.02 px, and the job moves them back onto green. */
static void
test_dispersion (void)
{
  TsrPlanetSynthParams p;
  tsr_planet_synth_params_init (&p);
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  int w = truth->width, h = truth->height;
  gsize np = (gsize) w * h;
  const double kx[3] = { 0.4, 0, -0.7 }, ky[3] = { 2.6, 0, -3.3 };
  g_autoptr (TsrImage) rgb = tsr_image_new (w, h, 3);
  for (int c = 0; c < 3; c++)
    {
      TsrTransform t;
      tsr_transform_identity (&t);
      t.m[2] = -kx[c];
      t.m[5] = -ky[c];
      g_autoptr (TsrImage) sh = tsr_warp (truth, &t, w, h, TSR_CFA_NONE, TSR_INTERP_LANCZOS3);
      /* channel c at x + k ≈ green at x; different brightness per channel */
      for (gsize i = 0; i < np; i++)
        tsr_image_plane (rgb, c)[i] = (0.6f + 0.3f * c) * (sh->mask[i] ? sh->data[i] : 0.f);
    }
  double dx[3], dy[3];
  g_assert_true (tsr_planetary_channel_offsets (rgb, dx, dy));
  g_test_message ("dispersion: red (%.3f, %.3f) for (%.1f, %.1f), blue (%.3f, %.3f) for (%.1f, %.1f)", dx[0], dy[0],
                  kx[0], ky[0], dx[2], dy[2], kx[2], ky[2]);
  for (int c = 0; c < 3; c += 2)
    {
      g_assert_cmpfloat (fabs (dx[c] - kx[c]), <, 0.02);
      g_assert_cmpfloat (fabs (dy[c] - ky[c]), <, 0.02);
    }
  g_assert_cmpfloat (dx[1], ==, 0);
  /* the job on frames with this dispersion returns channels on top of each other */
  g_autofree char *dir = tsr_test_tmpdir ("pl-disp");
  p.n_frames = 8;
  TsrImage **frames = g_new (TsrImage *, p.n_frames);
  for (guint i = 0; i < p.n_frames; i++)
    {
      g_autoptr (TsrImage) m = tsr_planet_synth_frame (&p, truth, i, NULL, NULL);
      frames[i] = tsr_image_new (w, h, 3);
      for (int c = 0; c < 3; c++)
        {
          TsrTransform t;
          tsr_transform_identity (&t);
          t.m[2] = -kx[c];
          t.m[5] = -ky[c];
          g_autoptr (TsrImage) sh = tsr_warp (m, &t, w, h, TSR_CFA_NONE, TSR_INTERP_LANCZOS3);
          for (gsize q = 0; q < np; q++)
            tsr_image_plane (frames[i], c)[q] = CLAMP (roundf ((0.6f + 0.3f * c) * 150 * (sh->mask[q] ? sh->data[q] : 0)), 0, 65535);
        }
    }
  g_autofree char *ser = g_build_filename (dir, "rgb.ser", NULL);
  g_autoptr (GError) e = NULL;
  g_assert_true (tsr_ser_write (ser, frames, p.n_frames, 16, TSR_SER_RGB, NULL, &e));
  for (guint i = 0; i < p.n_frames; i++)
    tsr_image_unref (frames[i]);
  g_free (frames);
  const char *paths[] = { ser, NULL };
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, &e);
  g_assert_no_error (e);
  TsrPlanetaryParams pp;
  tsr_planetary_params_init (&pp);
  g_autoptr (TsrPlanetaryResult) r = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_true (r->channels_aligned);
  g_test_message ("job: red (%.3f, %.3f), blue (%.3f, %.3f)", r->channel_dx[0], r->channel_dy[0], r->channel_dx[2],
                  r->channel_dy[2]);
  /* on the seeing-blurred stack the estimate is ~1.5 % long (0.05 px of 3.3) */
  g_assert_cmpfloat (fabs (r->channel_dx[0] - kx[0]), <, 0.08);
  g_assert_cmpfloat (fabs (r->channel_dy[0] - ky[0]), <, 0.08);
  g_assert_cmpfloat (fabs (r->channel_dx[2] - kx[2]), <, 0.08);
  g_assert_cmpfloat (fabs (r->channel_dy[2] - ky[2]), <, 0.08);
  double ax[3], ay[3];
  g_assert_true (tsr_planetary_channel_offsets (r->result, ax, ay));
  g_assert_cmpfloat (hypot (ax[0], ay[0]), <, 0.03);
  g_assert_cmpfloat (hypot (ax[2], ay[2]), <, 0.03);
  g_assert_true (tsr_planetary_channel_offsets (r->mean, ax, ay));
  g_assert_cmpfloat (hypot (ax[2], ay[2]), <, 0.05);
  /* switched off: the channels stay where they were */
  pp.channel_align = FALSE;
  g_autoptr (TsrPlanetaryResult) r2 = tsr_planetary_run (src, &pp, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_false (r2->channels_aligned);
  g_assert_true (tsr_planetary_channel_offsets (r2->result, ax, ay));
  g_assert_cmpfloat (fabs (ay[2] - ky[2]), <, 0.08);
  tsr_test_rmtree (dir);
}

/* the subcommands: planetary on a PNG folder, process routing it, wavelets, bad input */
static void
test_cli (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("pl-cli");
  g_autofree char *seq = g_build_filename (dir, "frames", NULL);
  g_mkdir_with_parents (seq, 0755);
  TsrPlanetSynthParams p;
  tsr_planet_synth_params_init (&p);
  p.n_frames = 8;
  p.width = p.height = 128;
  p.disc_radius = 40;
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (&p);
  for (guint i = 0; i < p.n_frames; i++)
    {
      g_autoptr (TsrImage) q = quantised_frame (&p, truth, i, 1.f, 255);
      /* non-ASCII and a quote in the names: the JSON frame table must stay JSON */
      g_autofree char *path = g_strdup_printf ("%s/f%02u \"\xc3\xa4\".png", seq, i);
      write_png (path, q, 8);
    }
  g_autofree char *out = g_build_filename (dir, "out.fits", NULL);
  g_autofree char *mean = g_build_filename (dir, "mean.fits", NULL);
  g_autofree char *json = g_build_filename (dir, "p.json", NULL);
  char *o = NULL, *e = NULL;
  const char *a1[] = { "planetary", seq, "-o", out, "--mean-stack", mean, "--json", json, "--wavelets", "1.5,1.2", NULL };
  int rc = tsr_test_run_cli (a1, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (o, "disc alignment"));
  g_autoptr (TsrImage) res = tsr_fits_read (out, NULL);
  g_assert_nonnull (res);
  g_assert_true (g_file_test (mean, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (json, G_FILE_TEST_EXISTS));
  GError *je = NULL;
  g_autoptr (TsrJson) jt = tsr_json_parse_file (json, &je);
  g_assert_no_error (je);
  const TsrJson *table = tsr_json_get (jt, "frame_table");
  g_assert_cmpuint (tsr_json_length (table), ==, p.n_frames);
  g_assert_cmpstr (tsr_json_str (tsr_json_get (tsr_json_index (table, 0), "frame")), ==, "f00 \"\xc3\xa4\".png");
  g_free (o);
  g_free (e);
  /* an output of an unknown type is refused before the run: -o is not written first and the
   * run then failed on --mean-stack */
  g_autofree char *out_b = g_build_filename (dir, "out-b.fits", NULL);
  g_autofree char *mean_b = g_build_filename (dir, "mean-b.jpg", NULL);
  const char *ab[] = { "planetary", seq, "-o", out_b, "--mean-stack", mean_b, NULL };
  rc = tsr_test_run_cli (ab, &o, &e);
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (e, "mean-b.jpg: unknown output type"));
  g_assert_null (strstr (o, "planetary:"));
  g_assert_false (g_file_test (out_b, G_FILE_TEST_EXISTS));
  g_free (o);
  g_free (e);
  /* an output that is a folder, or a device, is refused before the run too */
  g_autofree char *folder_png = g_build_filename (dir, "folder.png", NULL);
  g_mkdir_with_parents (folder_png, 0755);
  const char *af[] = { "planetary", seq, "-o", folder_png, NULL };
  rc = tsr_test_run_cli (af, &o, &e);
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (e, "is a folder"));
  g_assert_null (strstr (o, "planetary:"));
  g_free (o);
  g_free (e);
  /* a bad --wavelets value is named as --wavelets, not as a --set the user did not give */
  const char *aw[] = { "planetary", seq, "-o", out_b, "--wavelets", "1,x", NULL };
  rc = tsr_test_run_cli (aw, &o, &e);
  g_assert_cmpint (rc, !=, 0);
  g_assert_nonnull (strstr (e, "--wavelets 1,x"));
  g_assert_null (strstr (e, "--set"));
  g_free (o);
  g_free (e);
  /* process routes the PNG folder to the planetary path, --deep-sky refuses it as before */
  g_autofree char *out2 = g_build_filename (dir, "out2.fits", NULL);
  g_autofree char *samples = g_build_filename (dir, "samples.txt", NULL);
  tsr_test_write_file (samples, "10,10\n", 6);
  const char *a2[] = { "process", seq, "-o", out2, "--bg-samples", samples, NULL };
  rc = tsr_test_run_cli (a2, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (o, "planetary path"));
  /* an option the planetary path does not use is said to be ignored */
  g_assert_nonnull (strstr (e, "--bg-samples is ignored"));
  g_assert_true (g_file_test (out2, G_FILE_TEST_EXISTS));
  g_free (o);
  g_free (e);
  const char *a3[] = { "process", seq, "-o", out2, "--deep-sky", NULL };
  rc = tsr_test_run_cli (a3, &o, &e);
  g_assert_cmpint (rc, !=, 0);
  g_free (o);
  g_free (e);
  /* wavelets: unit gains give the input back; a bad file gives one line naming it */
  g_autofree char *w1 = g_build_filename (dir, "w1.fits", NULL);
  const char *a4[] = { "wavelets", out, "-o", w1, "--gains", "1,1,1,1,1", NULL };
  rc = tsr_test_run_cli (a4, &o, &e);
  g_assert_cmpint (rc, ==, 0);
  g_autoptr (TsrImage) back = tsr_fits_read (w1, NULL);
  for (gsize i = 0; i < tsr_image_npix (res); i++)
    g_assert_cmpfloat (fabs (back->data[i] - res->data[i]), <=, 1e-5 * (1 + fabs (res->data[i])));
  g_free (o);
  g_free (e);
  /* all outputs or none: the mean stack cannot be written (each file stops at 20 kB: the
   * 128² PNG fits, the float FITS does not) — the -o file that was written first is not put
   * in place of the existing one, nothing staged is left, and the message names the mean */
  {
    g_autofree char *od = g_build_filename (dir, "commit", NULL);
    g_mkdir_with_parents (od, 0755);
    g_autofree char *po = g_build_filename (od, "out.png", NULL);
    g_autofree char *pm = g_build_filename (od, "mean.fits", NULL);
    tsr_test_write_file (po, "old", 3);
    const char *ac[] = { "planetary", seq, "-o", po, "--mean-stack", pm, NULL };
    struct rlimit was;
    getrlimit (RLIMIT_FSIZE, &was);
    struct rlimit lim = { 20000, was.rlim_max };
    void (*xfsz) (int) = signal (SIGXFSZ, SIG_IGN);   /* EFBIG instead of a signal; inherited */
    setrlimit (RLIMIT_FSIZE, &lim);
    rc = tsr_test_run_cli (ac, &o, &e);
    setrlimit (RLIMIT_FSIZE, &was);
    signal (SIGXFSZ, xfsz);
    g_test_message ("planetary with files limited to 20 kB: rc %d, %s", rc, e);
    g_assert_cmpint (rc, ==, 1);
    g_assert_nonnull (strstr (e, "mean.fits"));
    g_assert_null (strstr (e, ".tessera-"));
    gsize len = 0;
    g_autofree char *kept = tsr_test_read_file (po, &len);
    g_assert_cmpuint (len, ==, 3);
    g_assert_cmpint (memcmp (kept, "old", 3), ==, 0);
    g_autoptr (GDir) d = g_dir_open (od, 0, NULL);
    guint n = 0;
    for (const char *f; (f = g_dir_read_name (d));)
      n++;
    g_assert_cmpuint (n, ==, 1);
    g_free (o);
    g_free (e);
  }
  g_autofree char *bad = g_build_filename (dir, "bad.png", NULL);
  tsr_test_write_file (bad, "\x89PNG\r\n\x1a\n\0\0", 10);
  const char *a5[] = { "wavelets", bad, "-o", w1, NULL };
  rc = tsr_test_run_cli (a5, &o, &e);
  g_assert_cmpint (rc, !=, 0);
  g_assert_nonnull (strstr (e, bad));
  g_assert_nonnull (strchr (e, '\n'));
  g_assert_true (strchr (e, '\n') == e + strlen (e) - 1);
  g_free (o);
  g_free (e);
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/planetary/png-sequence-ser", test_png_sequence_and_ser);
  g_test_add_func ("/planetary/ser-bayer", test_ser_bayer);
  g_test_add_func ("/planetary/bad-files", test_bad_files);
  g_test_add_func ("/planetary/tiff-jpeg", test_tiff_jpeg);
  g_test_add_func ("/planetary/video", test_video);
  g_test_add_func ("/planetary/wavelets", test_wavelets);
  g_test_add_func ("/planetary/params", test_params);
  g_test_add_func ("/planetary/starless", test_starless);
  g_test_add_func ("/planetary/synthetic-session", test_synthetic_session);
  g_test_add_func ("/planetary/kernel", test_kernel);
  g_test_add_func ("/planetary/rotation", test_rotation);
  g_test_add_func ("/planetary/calibration", test_calibration);
  g_test_add_func ("/planetary/dispersion", test_dispersion);
  g_test_add_func ("/planetary/cli", test_cli);
  return g_test_run ();
}
