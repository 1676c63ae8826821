/* tsr-error.c — the engine's GError domain. */
#include "tsr-error.h"

G_DEFINE_QUARK (tsr-error-quark, tsr_error)
