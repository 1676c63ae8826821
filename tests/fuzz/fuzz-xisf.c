/* fuzz-xisf.c — libFuzzer target: the XISF reader (header through GMarkup, zlib and LZ4
 * blocks, byte shuffle, sub-blocks, inline data).
 *
 * The input is a file, opened as a frame is: header-only read (the session scan), whole-image
 * read, and a band of rows (the stacker's read). Every path must succeed with a consistent,
 * finite image of the size the header said, or fail with a TSR_ERROR message. */
#include "fuzz-common.h"
#include "tessera.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  char *path = fuzz_write (dir, "frame.xisf", data, size);
  GError *e = NULL;
  TsrFitsInfo info;
  TsrHeader *h = NULL;
  int w = 0, hgt = 0;
  if (tsr_frame_read_info (path, &info, &h, &e))
    {
      if (info.width <= 0 || info.height <= 0 || (info.channels != 1 && info.channels != 3))
        abort ();
      w = info.width, hgt = info.height;
      tsr_header_free (h);
      tsr_fits_info_clear (&info);
    }
  else
    fuzz_check_error (&e);

  TsrImage *img = tsr_xisf_read (path, &e);
  if (img && w != 0 && img->channels != info.channels)
    abort (); /* the header's channel count is not what was read */
  fuzz_check_read (path, img, &e, w, hgt, hgt / 3, tsr_xisf_read_rows);
  g_unlink (path);
  g_free (path);
  return 0;
}
