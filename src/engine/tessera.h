/* tessera.h — the engine's public interface (libtessera). */
#pragma once
#include "tsr-error.h"
#include "tsr-header.h"
#include "tsr-image.h"
#include "tsr-fits.h"
#include "tsr-session.h"
#include "tsr-progress.h"
#include "tsr-frames.h"
#include "tsr-stats.h"
#include "tsr-stack.h"
#include "tsr-synth.h"
#include "tsr-json.h"
#include "tsr-render.h"
