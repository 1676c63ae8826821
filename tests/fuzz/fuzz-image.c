/* fuzz-image.c — libFuzzer target: the still-image readers beside FITS (PNG through
 * libpng, JPEG through libjpeg, TIFF through libtiff; chosen by content).
 *
 * The input is a file, read as one still (tsr_image_file_read) and opened as a one-file
 * sequence (tsr_frame_source_open + read), as the planetary path does. Either path must
 * succeed with a consistent, finite image or fail with a TSR_ERROR message. */
#include "fuzz-common.h"
#include "tessera.h"
#include "tsr-image-reader.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);



int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  fuzz_clear (dir);
  /* the name says PNG; the readers must go by content */
  char *path = fuzz_write (dir, "still.png", data, size);
  GError *e = NULL;

  TsrImage *img = tsr_image_file_read (path, &e);
  if (img)
    {
      fuzz_check_image (img, 0, 0);
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
      if (tsr_frame_source_n_frames (src) != 1 || w <= 0 || h <= 0)
        abort ();
      TsrImage *f = tsr_frame_source_read (src, 0, &e);
      if (f)
        {
          if (f->channels != c)
            abort ();
          fuzz_check_image (f, w, h);
        }
      else
        {
          fuzz_check_error (&e);
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
