/* fuzz-raw.c — libFuzzer target: camera raw through LibRaw (tsr-raw) and TIFF frames with
 * their metadata (ImageDescription cards, TIFF/EP CFA, EXIF) as the deep-sky session reads them.
 *
 * The input is written as frame.dng (LibRaw goes by content, so every raw format it knows is
 * reachable) and as frame.tif. Each is read header-only, whole and as a band of rows; every
 * read must succeed with a consistent, finite image of the size the header said, or fail
 * with a TSR_ERROR message. */
#include "fuzz-common.h"
#include "tessera.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
read_as (const char *dir, const char *name, const uint8_t *data, size_t size)
{
  char *path = fuzz_write (dir, name, data, size);
  GError *e = NULL;
  TsrFitsInfo info;
  int w = 0, h = 0;
  if (tsr_frame_read_info (path, &info, NULL, &e))
    {
      if (info.width <= 0 || info.height <= 0 || (info.channels != 1 && info.channels != 3))
        abort ();
      w = info.width, h = info.height;
      tsr_fits_info_clear (&info);
    }
  else
    fuzz_check_error (&e);
  TsrImage *img = tsr_frame_read (path, &e);
  fuzz_check_read (path, img, &e, w, h, h / 2, tsr_frame_read_rows);
  g_unlink (path);
  g_free (path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  read_as (dir, "frame.dng", data, size);
  read_as (dir, "frame.tif", data, size);
  return 0;
}
