/* tsr-fft.c — the one process-wide lock around FFTW planning (tsr-fft.h). */
#include "tsr-fft.h"

/* The FFTW planner (fftwf_plan_*, fftwf_destroy_plan) is not thread-safe; executing a
 * plan is. Every engine file that plans takes this one lock. */
static GMutex fftw_lock;

void
tsr_fftw_lock (void)
{
  g_mutex_lock (&fftw_lock);
}

void
tsr_fftw_unlock (void)
{
  g_mutex_unlock (&fftw_lock);
}
