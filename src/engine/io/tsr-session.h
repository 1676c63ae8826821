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
} TsrSession;

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
void        tsr_session_unref (TsrSession *s);

static inline guint tsr_session_n_frames (const TsrSession *s) { return s->frames->len; }
static inline TsrFrameInfo *tsr_session_frame (const TsrSession *s, guint i)
{ return g_ptr_array_index (s->frames, i); }

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrSession, tsr_session_unref)

G_END_DECLS
