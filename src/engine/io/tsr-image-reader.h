/* tsr-image-reader.h — frames from image sequences and videos, beside FITS.
 *
 * One reader interface (TsrFrameSource) over:
 *   - image sequences: a folder or a list of PNG, JPEG, TIFF or FITS files (8/16-bit, float
 *     TIFF/FITS, mono or RGB), sorted by file name;
 *   - SER videos (the planetary capture format: mono, Bayer or RGB, 8 or 16 bit, optional
 *     per-frame UTC timestamps);
 *   - common videos (AVI, MP4, MKV, MOV, …) through FFmpeg's libavformat/libavcodec when the
 *     engine was built against them and the libraries load at run time (they are opened at
 *     the first video, not linked: tsr_video_supported () loads them and says whether it could).
 * Integer samples become float32 in the units of the file (0–255 for 8-bit, 0–65535 for
 * 16-bit), as the FITS reader does. A Bayer SER frame is a mosaic (cfa set); colour images and
 * videos are 3-channel planar RGB. A bad or truncated file gives a TSR_ERROR naming the file.
 *
 * A source is not thread-safe: read its frames from one thread, preferably in order (a video is
 * decoded sequentially; going backwards re-opens it).
 */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_SOURCE_SEQUENCE = 0,  /* one file per frame (PNG, JPEG, TIFF, FITS) */
  TSR_SOURCE_SER,
  TSR_SOURCE_VIDEO
} TsrSourceKind;

typedef struct _TsrFrameSource TsrFrameSource;

/* Is this file name a still image we read (.png .jpg .jpeg .tif .tiff, case-insensitive)? */
gboolean        tsr_is_image_name (const char *name);
/* .ser */
gboolean        tsr_is_ser_name (const char *name);
/* .avi .mp4 .mkv .mov .m4v .webm .mpg .mpeg .wmv */
gboolean        tsr_is_video_name (const char *name);
/* Was the engine built with FFmpeg? */
gboolean        tsr_video_supported (void);

/* Read one still image (PNG, JPEG, TIFF or FITS, by content). */
TsrImage       *tsr_image_file_read (const char *path, GError **error);

/* libtiff's first error message while a file is open (warnings are dropped). */
typedef struct
{
  char msg[256];
  int n;
} TsrTiffErr;
struct tiff;
/* Open a TIFF for reading with libtiff's messages collected in err instead of printed; NULL
 * with a one-line error naming the file (not found, or not a TIFF) otherwise. */
struct tiff    *tsr_tiff_open_read (const char *path, TsrTiffErr *err, GError **error);

/* Read a TIFF (8/16/32-bit unsigned or 32-bit float, grey or RGB, chunky or planar). */
TsrImage       *tsr_image_tiff_read (const char *path, GError **error);

/* Open paths: one SER or video file, or folders and files of stills (FITS included). A folder
 * holding exactly one SER or video file and no stills opens that file. Every frame of a
 * sequence must have the size and channel count of the first (the odd file is named). */
TsrFrameSource *tsr_frame_source_open (const char *const *paths, GCancellable *cancellable, GError **error);
TsrFrameSource *tsr_frame_source_ref (TsrFrameSource *src);
void            tsr_frame_source_unref (TsrFrameSource *src);

TsrSourceKind   tsr_frame_source_kind (const TsrFrameSource *src);
guint           tsr_frame_source_n_frames (const TsrFrameSource *src);
void            tsr_frame_source_size (const TsrFrameSource *src, int *width, int *height, int *channels);
TsrCfa          tsr_frame_source_cfa (const TsrFrameSource *src);
/* Bits per sample of the input (8, 16, or 32 for float). */
int             tsr_frame_source_depth (const TsrFrameSource *src);
/* The file (SER, video) or the folder / first file of a sequence: for messages. */
const char     *tsr_frame_source_path (const TsrFrameSource *src);
/* Display name of frame i ("name.png", "video.ser#12"). */
char           *tsr_frame_source_frame_name (const TsrFrameSource *src, guint i);
/* The path of frame i of a sequence (NULL for SER and video). */
const char     *tsr_frame_source_frame_path (const TsrFrameSource *src, guint i);
/* UTC timestamp of frame i in seconds since the Unix epoch when the file carries one
 * (SER trailer, video pts relative to 0), else NAN. */
double          tsr_frame_source_time (const TsrFrameSource *src, guint i);

/* Read frame i (0-based); through the filter when one is installed. */
TsrImage       *tsr_frame_source_read (TsrFrameSource *src, guint i, GError **error);

/* A filter every frame goes through as it is read (calibration): it may change the image in
 * place; FALSE with error fails the read. Replaces a previous filter (its destroy is called). */
typedef gboolean (*TsrFrameSourceFilter) (guint index, TsrImage *img, gpointer data, GError **error);
void            tsr_frame_source_set_filter (TsrFrameSource *src, TsrFrameSourceFilter filter, gpointer data,
                                             GDestroyNotify destroy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrFrameSource, tsr_frame_source_unref)

/* SER files (tsr-ser.c). Colour ids as in the SER specification. */
typedef enum
{
  TSR_SER_MONO = 0,
  TSR_SER_BAYER_RGGB = 8,
  TSR_SER_BAYER_GRBG = 9,
  TSR_SER_BAYER_GBRG = 10,
  TSR_SER_BAYER_BGGR = 11,
  TSR_SER_RGB = 100,
  TSR_SER_BGR = 101
} TsrSerColor;

typedef struct
{
  int width, height;
  int depth;            /* bits per sample per plane, 1–16 */
  TsrSerColor color;
  guint n_frames;
  gboolean little_endian;
  gboolean has_timestamps;
  gint64 date_utc;      /* 100 ns ticks since 0001-01-01, 0 when unknown */
  char observer[41], instrument[41], telescope[41];
} TsrSerInfo;

typedef struct _TsrSer TsrSer;
TsrSer         *tsr_ser_open (const char *path, GError **error);
void            tsr_ser_close (TsrSer *ser);
const TsrSerInfo *tsr_ser_info (const TsrSer *ser);
TsrImage       *tsr_ser_read_frame (TsrSer *ser, guint i, GError **error);
/* Seconds since the Unix epoch of frame i, NAN without a timestamp trailer. */
double          tsr_ser_frame_time (const TsrSer *ser, guint i);

/* Write frames (all the same size; 1 channel, or 3 for colour) as a SER file with depth 8 or
 * 16 bits (values rounded and clamped to the range), colour id color (TSR_SER_MONO, a Bayer
 * id for 1-channel mosaics, TSR_SER_RGB for 3 channels), and a timestamp trailer when times
 * (Unix seconds, one per frame) is not NULL. Written to a temporary name and renamed. */
gboolean        tsr_ser_write (const char *path, TsrImage *const *frames, guint n, int depth,
                               TsrSerColor color, const double *times, GError **error);

/* Videos (tsr-video.c) */
typedef struct _TsrVideo TsrVideo;
TsrVideo       *tsr_video_open (const char *path, GError **error);
void            tsr_video_close (TsrVideo *v);
/* Frames counted by decoding the whole stream once at open (exact, also for streams that
 * carry no frame count). */
guint           tsr_video_n_frames (const TsrVideo *v);
void            tsr_video_size (const TsrVideo *v, int *width, int *height, int *channels, int *depth);
TsrImage       *tsr_video_read_frame (TsrVideo *v, guint i, GError **error);
double          tsr_video_frame_time (const TsrVideo *v, guint i);

G_END_DECLS
