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

static void
check_image (TsrImage *img)
{
  if (img->width <= 0 || img->height <= 0 || !img->data || (img->channels != 1 && img->channels != 3))
    abort ();
  gsize n = tsr_image_npix (img) * img->channels;
  for (gsize k = 0; k < n; k++)
    if (!(img->data[k] == img->data[k]))
      abort ();
}

static void
check_error (GError *e)
{
  if (!e || e->domain != TSR_ERROR || !e->message || !*e->message)
    abort ();
}

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
      check_image (img);
      tsr_image_unref (img);
    }
  else
    {
      check_error (e);
      g_clear_error (&e);
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
          check_image (f);
          if (f->width != w || f->height != h || f->channels != c)
            abort ();
          tsr_image_unref (f);
        }
      else
        {
          check_error (e);
          g_clear_error (&e);
        }
      tsr_frame_source_unref (src);
    }
  else
    {
      check_error (e);
      g_clear_error (&e);
    }
  g_unlink (path);
  g_free (path);
  return 0;
}
