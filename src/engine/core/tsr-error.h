/* tsr-error.h — the engine's GError domain. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define TSR_ERROR (tsr_error_quark ())
GQuark tsr_error_quark (void);

typedef enum
{
  TSR_ERROR_FAILED,       /* anything else */
  TSR_ERROR_NOT_FOUND,    /* missing file or folder */
  TSR_ERROR_FORMAT,       /* not FITS, unsupported BITPIX/NAXIS, corrupt */
  TSR_ERROR_TRUNCATED,    /* file shorter than its header claims */
  TSR_ERROR_TOO_LARGE,    /* absurd dimensions */
  TSR_ERROR_MISMATCH,     /* mixed sizes or Bayer patterns in one session */
  TSR_ERROR_EMPTY,        /* no frames, or too few to do the job */
  TSR_ERROR_IO,           /* cannot write, rename, create folder */
  TSR_ERROR_INVALID_ARG,  /* bad parameter value / key */
  TSR_ERROR_NO_VALID,     /* every frame gated / no usable data */
  TSR_ERROR_CANCELLED,    /* not used: cancellation reports G_IO_ERROR_CANCELLED */
  TSR_ERROR_TOO_SMALL     /* frames too small for the job (e.g. below TSR_REGISTER_MIN_SIDE) */
} TsrErrorCode;

/* Memory the process may still use: the smaller of what the system has available
 * (MemAvailable) and what the address-space limit leaves (RLIMIT_AS); G_MAXUINT64 when
 * neither is known. */
guint64 tsr_memory_available (void);
/* A TSR_ERROR_TOO_LARGE error: "needs N GiB for <what>, M GiB available; lower …". */
void    tsr_set_memory_error (GError **error, guint64 bytes, const char *what);
/* g_try_malloc, or NULL with tsr_set_memory_error (for allocations of image size). */
gpointer tsr_try_alloc (gsize bytes, const char *what, GError **error);

G_END_DECLS
