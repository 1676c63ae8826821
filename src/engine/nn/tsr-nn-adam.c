/* tsr-nn-adam.c — training parameters and the Adam optimiser with a staircase learning
 * rate decay (see tsr-nn-train.h). */
#include "tsr-nn-train.h"

#include <math.h>
#include <string.h>

void
tsr_nn_param_init (TsrNnParam *p, gsize size)
{
  p->size = size;
  p->value = g_new0 (float, MAX (size, 1));
  p->grad = g_new0 (float, MAX (size, 1));
  p->m = g_new0 (float, MAX (size, 1));
  p->v = g_new0 (float, MAX (size, 1));
}

void
tsr_nn_param_clear (TsrNnParam *p)
{
  g_clear_pointer (&p->value, g_free);
  g_clear_pointer (&p->grad, g_free);
  g_clear_pointer (&p->m, g_free);
  g_clear_pointer (&p->v, g_free);
  p->size = 0;
}

void
tsr_nn_param_zero_grad (TsrNnParam *p)
{
  memset (p->grad, 0, sizeof (float) * p->size);
}

void
tsr_nn_adam_init (TsrNnAdam *a, double lr0, double decay, guint decay_steps)
{
  a->lr0 = lr0;
  a->decay = decay;
  a->decay_steps = decay_steps;
  a->beta1 = 0.9;
  a->beta2 = 0.999;
  a->eps = 1e-7;   /* TensorFlow's default */
  a->t = 0;
}

double
tsr_nn_adam_lr (const TsrNnAdam *a)
{
  if (a->decay_steps == 0)
    return a->lr0;
  return a->lr0 * pow (a->decay, (double) (a->t / a->decay_steps));
}

void
tsr_nn_adam_step (TsrNnAdam *a, TsrNnParam *const *params, guint n_params)
{
  double lr = tsr_nn_adam_lr (a);
  a->t++;
  double c1 = 1.0 - pow (a->beta1, (double) a->t), c2 = 1.0 - pow (a->beta2, (double) a->t);
  float b1 = (float) a->beta1, b2 = (float) a->beta2;
  float step = (float) (lr * sqrt (c2) / c1), eps = (float) (a->eps * sqrt (c2));
  for (guint k = 0; k < n_params; k++)
    {
      TsrNnParam *p = params[k];
      for (gsize i = 0; i < p->size; i++)
        {
          float g = p->grad[i];
          p->m[i] = b1 * p->m[i] + (1 - b1) * g;
          p->v[i] = b2 * p->v[i] + (1 - b2) * g * g;
          p->value[i] -= step * p->m[i] / (sqrtf (p->v[i]) + eps);
        }
    }
}
