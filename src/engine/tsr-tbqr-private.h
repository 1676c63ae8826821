/* tsr-tbqr-private.h — pieces shared by the TBQR source files. */
#pragma once
#include "tsr-tbqr.h"

void tsr_tbqr_fit_planes (const TsrImage *img, double plane[3][3]);
void tsr_robust_z (const double *v, guint n, double *z);
