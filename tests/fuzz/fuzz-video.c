/* fuzz-video.c — libFuzzer target: the video reader (FFmpeg's libavformat/libavcodec under
 * our wrapper: probing, frame counting by a full decode at open, seeking back by re-opening,
 * conversion of every pixel format to float planes).
 *
 * What is fuzzed is our wrapper's handling of whatever the demuxer and decoder return (odd
 * sizes, a stream that ends early, frames of changing size or format); FFmpeg itself is not
 * instrumented. Without FFmpeg in the build the open must fail with a clear error. */
#include "fuzz-common.h"
#include "tessera.h"
#include "tsr-image-reader.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  fuzz_clear (dir);
  char *path = fuzz_write (dir, "clip.mkv", data, size);
  GError *e = NULL;

  TsrVideo *v = tsr_video_open (path, &e);
  if (v)
    {
      int w, h, c, depth;
      tsr_video_size (v, &w, &h, &c, &depth);
      guint n = tsr_video_n_frames (v);
      if (w <= 0 || h <= 0 || (c != 1 && c != 3) || n == 0)
        abort ();
      /* the last frame, then the first (a seek back re-opens the file), then the second */
      guint order[3] = { n - 1, 0, n > 1 ? 1 : 0 };
      for (int k = 0; k < 3; k++)
        {
          TsrImage *f = tsr_video_read_frame (v, order[k], &e);
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
          (void) tsr_video_frame_time (v, order[k]);
        }
      TsrImage *past = tsr_video_read_frame (v, n, &e);
      if (past)
        abort ();
      fuzz_check_error (&e);
      tsr_video_close (v);
    }
  else
    {
      fuzz_check_error (&e);
    }
  g_unlink (path);
  g_free (path);
  return 0;
}
