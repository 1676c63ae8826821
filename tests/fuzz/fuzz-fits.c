/* fuzz-fits.c — libFuzzer target: the FITS header and image reader.
 *
 * The input is a file. It is opened as a frame would be: header-only read (the session
 * scan), whole-image read, and a band of rows (the median stacker's read). Every path
 * must either succeed with a consistent image or fail with a TSR_ERROR message. */
#include "fuzz-common.h"
#include "tessera.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  char *path = fuzz_write (dir, "frame.fits", data, size);

  TsrFitsInfo info;
  TsrHeader *h = NULL;
  GError *e = NULL;
  if (tsr_fits_read_info (path, &info, &h, &e))
    {
      /* look-ups on whatever cards were there */
      char *s = tsr_header_get_string (h, "DATE-OBS");
      double d;
      gint64 i;
      tsr_header_get_double (h, "EXPTIME", &d);
      tsr_header_get_int (h, "XBAYROFF", &i);
      g_free (s);
      tsr_header_free (h);
      if (info.width <= 0 || info.height <= 0 || (info.channels != 1 && info.channels != 3))
        abort ();
      tsr_fits_info_clear (&info);
    }
  else
    {
      if (!e || e->domain != TSR_ERROR || !e->message || !*e->message)
        abort ();
      g_clear_error (&e);
    }

  TsrImage *img = tsr_fits_read (path, &e);
  if (img)
    {
      if (img->width <= 0 || img->height <= 0 || !img->data || !img->mask)
        abort ();
      /* masked samples are finite and every sample is finite: no NaN leaks out */
      gsize n = tsr_image_npix (img) * img->channels;
      for (gsize k = 0; k < n; k++)
        if (!(img->data[k] == img->data[k]))
          abort ();
      int h2 = img->height;
      tsr_image_unref (img);
      TsrImage *band = tsr_fits_read_rows (path, h2 / 3, h2 / 3 + 1, &e);
      if (band)
        tsr_image_unref (band);
      else
        g_clear_error (&e);
    }
  else
    {
      if (!e || e->domain != TSR_ERROR)
        abort ();
      g_clear_error (&e);
    }
  g_unlink (path);
  g_free (path);
  return 0;
}
