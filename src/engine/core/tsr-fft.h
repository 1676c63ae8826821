/* tsr-fft.h — FFTW helpers shared by every engine file that plans FFTs. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* The one process-wide lock around FFTW planning: fftwf_plan_* and fftwf_destroy_plan are
 * not thread-safe (executing a plan is). Every engine file that plans FFTs takes it. */
void        tsr_fftw_lock (void);
void        tsr_fftw_unlock (void);

G_END_DECLS
