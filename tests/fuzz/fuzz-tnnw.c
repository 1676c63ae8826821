/* fuzz-tnnw.c — libFuzzer target: the .tnnw network weight reader and the denoiser's
 * network built from what it read.
 *
 * The input is the bytes of a weight file (tsr_nn_weights_load_data reads memory, as the
 * built-in weights are read). It must either load or fail with a TSR_ERROR message. The
 * fuzz build defines FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, under which the reader
 * still computes but does not enforce the CRC-32 checks, so mutated headers reach the
 * parser behind them. A file that loads is handed to the denoiser's network builder;
 * when that accepts it (a resunet-v1 with every tensor of the right shape) and the net is
 * small, one forward pass runs on an 8×8 tile (ASan/UBSan watch the layers). */
#include "fuzz-common.h"
#include "tessera.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_error (GError *e)
{
  if (!e || e->domain != TSR_ERROR || !e->message || !*e->message)
    abort ();
  g_error_free (e);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *e = NULL;
  TsrNnWeights *w = tsr_nn_weights_load_data (data, size, "fuzz.tnnw", &e);
  if (!w)
    {
      check_error (e);
      return 0;
    }
  if (e)
    abort ();
  /* every tensor has a name; names can be looked up */
  guint n = tsr_nn_weights_n_tensors (w);
  for (guint i = 0; i < n; i++)
    if (!tsr_nn_weights_tensor_name (w, i) || !tsr_nn_weights_arch (w))
      abort ();
  TsrDenoiseNet *net = tsr_denoise_net_new_from_weights (w, &e);
  if (!net)
    {
      check_error (e);
      tsr_nn_weights_free (w); /* the builder leaves w to the caller on failure */
      return 0;
    }
  /* a net this big would make each input take seconds: the builder accepts it, enough */
  if (tsr_denoise_net_base (net) <= 4)
    {
      TsrNnTensor *x = tsr_nn_tensor_new (1, 3, 8, 8);
      TsrNnTensor *y = tsr_nn_tensor_new (1, 3, 8, 8);
      for (gsize i = 0; i < tsr_nn_tensor_size (x); i++)
        x->data[i] = (float) ((i * 37) % 11) * 0.1f - 0.5f;
      TsrDenoiseNetState *st = tsr_denoise_net_state_new ();
      tsr_denoise_net_forward (net, st, x, y);
      tsr_denoise_net_state_free (st);
      tsr_nn_tensor_free (x);
      tsr_nn_tensor_free (y);
    }
  tsr_denoise_net_free (net);
  return 0;
}
