/* tsr-session.h — a list of frames, scanned from a folder or files, sorted by time. */
#pragma once
#include <gio/gio.h>
#include "tsr-fits.h"

G_BEGIN_DECLS

typedef struct
{
  char *path;        /* absolute or as given */
  char *name;        /* basename, for display */
  TsrFitsInfo info;
  gint64 file_size;
} TsrFrameInfo;

typedef struct
{
  gint ref_count;
  GPtrArray *frames;  /* TsrFrameInfo*, sorted by DATE-OBS then file name */
  int width, height, channels;
  TsrCfa cfa;
  char *root;         /* the folder scanned, or NULL for a list of files */
  GPtrArray *duplicates; /* char*: files left out because they are a frame already in the
                            session (reached twice through links, or a byte-identical copy) */
  /* A correction applied to every frame read through tsr_session_read_frame/_rows (the
   * calibration, calib/): NULL when frames are used as stored. */
  struct _TsrFrameFilter *filter;
} TsrSession;

/* A per-frame correction (calibration): img holds rows [y0, y0 + img->height) of frame
 * index (the whole frame when y0 = 0 and the height is the session's), corrected in place.
 * Called from several threads at once. */
typedef gboolean (*TsrFrameFilterFunc) (guint index, const TsrFrameInfo *frame, TsrImage *img, int y0,
                                        gpointer data, GError **error);

typedef struct _TsrFrameFilter
{
  TsrFrameFilterFunc func;
  gpointer data;
  GDestroyNotify destroy;
  int margin_rows;     /* rows above and below a band the filter needs to see (neighbours) */
  gsize bytes;         /* memory the filter holds for the whole job (its master frames) */
  char *history;       /* a FITS HISTORY line saying what the filter did, or NULL */
} TsrFrameFilter;

typedef struct
{
  gboolean recursive;
  gboolean allow_mixed_patterns;   /* default FALSE: mixed Bayer patterns are an error */
} TsrScanOptions;

/* Is this file name one of .fit .fits .fts .fz (case-insensitive, also .fits.fz)? */
gboolean    tsr_is_fits_name (const char *name);

/* Scan paths: each path is a folder (its FITS files) or a file. Errors: a path that does
 * not exist, a file that is not FITS, no frames, mixed sizes or patterns (naming the first
 * odd file). */
TsrSession *tsr_session_scan (const char *const *paths, const TsrScanOptions *opts,
                              GCancellable *cancellable, GError **error);
TsrSession *tsr_session_ref (TsrSession *s);

/* Install (or, with func NULL, remove) the session's frame filter; data is released with
 * destroy when replaced or when the session is freed. */
void        tsr_session_set_filter (TsrSession *s, TsrFrameFilterFunc func, gpointer data,
                                    GDestroyNotify destroy, int margin_rows, gsize bytes,
                                    const char *history);
/* Add the filter's HISTORY line to the header of a product made from the session's frames
 * (nothing without a filter). Whole frames read through the session carry it already. */
void        tsr_session_add_history (const TsrSession *s, TsrHeader *header);
/* Memory held by the filter (0 without one). */
gsize       tsr_session_filter_bytes (const TsrSession *s);
/* Frame index as the jobs see it: read, checked against the session's shape ("changed size
 * since the session was scanned"), and corrected by the filter. */
TsrImage   *tsr_session_read_frame (const TsrSession *s, guint index, GError **error);
/* Rows [y0, y1) of frame index, corrected like tsr_session_read_frame (the filter sees
 * margin_rows more rows on each side where the frame has them). */
TsrImage   *tsr_session_read_rows (const TsrSession *s, guint index, int y0, int y1, GError **error);
void        tsr_session_unref (TsrSession *s);

static inline guint tsr_session_n_frames (const TsrSession *s) { return s->frames->len; }
static inline TsrFrameInfo *tsr_session_frame (const TsrSession *s, guint i)
{ return g_ptr_array_index (s->frames, i); }

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrSession, tsr_session_unref)

/* Raise the soft limit on open files to the hard one (once, at program start): a session is
 * scanned and read one file at a time, but a deconvolution keeps one staged file open per
 * frame, and the usual soft limit of 1024 would refuse a night of 2,000 frames (issue #19). */
void tsr_raise_open_file_limit (void);
/* Run the program again (execv of its own path, same arguments) with glibc's malloc asked
 * for transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), once, first thing in
 * main: the engine's frame-sized buffers live in malloc's heap, and their first-touch page
 * faults at 4 KiB pages cost ~20 % of a process run's CPU (docs/tbqr.md). Returns (doing
 * nothing) when the tunable is already set, when TESSERA_HUGEPAGES=0, when the system has
 * transparent huge pages off ("[never]"), when glibc is older than 2.35 (no such tunable),
 * under valgrind (its allocator; the tool would not follow the exec), or when the exec
 * fails. */
void tsr_prefer_huge_pages (char **argv);

/* glibc's allocator as the command line runs it (called first thing in main): large buffers
 * from the heap, freed memory kept for reuse, one arena. Nothing elsewhere. */
void tsr_malloc_setup (void);
void tsr_malloc_release (void);

G_END_DECLS
