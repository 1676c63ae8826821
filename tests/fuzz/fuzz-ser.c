/* fuzz-ser.c — libFuzzer target: the SER video reader (header, mono/Bayer/RGB/BGR planes
 * of 1–16 bits, either byte order, the optional timestamp trailer).
 *
 * The input is a .ser file: opened directly (tsr_ser_open, every frame and timestamp read)
 * and as a frame source. Every path must succeed with consistent, finite frames or fail
 * with a TSR_ERROR message; a header promising more frames than the file holds must be an
 * error, not a read past the end. */
#include "fuzz-common.h"
#include "tessera.h"
#include "tsr-image-reader.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_FRAMES 16   /* frames read per input: enough for the trailer and the last frame */

/* SER samples are 1–16-bit integers: within 0…65535 as well as consistent */
static void
check_frame (TsrImage *img, int w, int h)
{
  gsize n = tsr_image_npix (img) * img->channels;
  for (gsize k = 0; k < n; k++)
    if (img->data[k] < 0.0f || img->data[k] > 65535.0f)
      abort ();
  fuzz_check_image (img, w, h);
}


int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  fuzz_clear (dir);
  char *path = fuzz_write (dir, "capture.ser", data, size);
  GError *e = NULL;

  TsrSer *ser = tsr_ser_open (path, &e);
  if (ser)
    {
      const TsrSerInfo *info = tsr_ser_info (ser);
      if (info->width <= 0 || info->height <= 0 || info->depth < 1 || info->depth > 16)
        abort ();
      guint n = info->n_frames;
      for (guint i = 0; i < n; i++)
        {
          if (i == MAX_FRAMES / 2 && n > MAX_FRAMES)
            i = n - MAX_FRAMES / 2;  /* the first and the last frames */
          TsrImage *f = tsr_ser_read_frame (ser, i, &e);
          if (f)
            {
              check_frame (f, info->width, info->height);
            }
          else
            {
              fuzz_check_error (&e);
            }
          (void) tsr_ser_frame_time (ser, i);
        }
      /* out of range is an error, not a read */
      TsrImage *past = tsr_ser_read_frame (ser, n, &e);
      if (past)
        abort ();
      fuzz_check_error (&e);
      tsr_ser_close (ser);
    }
  else
    {
      fuzz_check_error (&e);
    }

  const char *paths[] = { path, NULL };
  TsrFrameSource *src = tsr_frame_source_open (paths, NULL, &e);
  if (src)
    {
      int w, h, c;
      tsr_frame_source_size (src, &w, &h, &c);
      guint n = tsr_frame_source_n_frames (src);
      for (guint i = 0; i < n && i < 2; i++)
        {
          TsrImage *f = tsr_frame_source_read (src, i, &e);
          if (f)
            {
              check_frame (f, w, h);
            }
          else
            {
              fuzz_check_error (&e);
            }
          char *name = tsr_frame_source_frame_name (src, i);
          g_free (name);
        }
      tsr_frame_source_unref (src);
    }
  else
    {
      fuzz_check_error (&e);
    }
  g_unlink (path);
  g_free (path);
  return 0;
}
