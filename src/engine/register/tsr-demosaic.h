/* tsr-demosaic.h — turning a CFA mosaic into RGB. */
#pragma once
#include "tsr-image.h"

G_BEGIN_DECLS

/* Demosaic a CFA mosaic once (Malvar–He–Cutler linear 5×5, masked pixels filled from
 * valid neighbours), returning a 3-channel image. */
TsrImage     *tsr_demosaic (const TsrImage *mosaic);

G_END_DECLS
