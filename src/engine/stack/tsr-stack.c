/* tsr-stack.c — plain stackers for frames that are already aligned.
 *
 * MEAN streams through the map-over-frames driver: each frame is added, under a lock,
 * into one of a few accumulator slots (double sums per channel and a valid-sample count
 * per pixel); the slots are merged at the end. Memory: frames in flight plus the slots.
 *
 * MEDIAN, SIGMA and WINSOR need every sample of a pixel at once: the image is processed in
 * row bands sized so that the bands of all frames fit the memory budget; each band of
 * each frame is read with tsr_fits_read_rows and the rows of the band are combined by a
 * few threads. Masked (invalid) samples never enter a combination.
 */
#include "tsr-stack.h"
#include "tsr-frame-file.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n-lib.h>

#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-frames.h"
#include "tsr-stats.h"

#define DEFAULT_BUDGET ((gsize) 1 << 30)
#define MAX_MEAN_SLOTS 4
#define MAX_BAND_THREADS 16
#define WINSOR_MAX_INNER 50

void
tsr_stack_params_init (TsrStackParams *p)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->method = TSR_STACK_MEAN;
  p->kappa_low = 3.0;
  p->kappa_high = 3.0;
  p->max_iterations = 5;
  p->min_keep_fraction = 0.3;
  p->memory_budget = 0;
  p->n_threads = 0;
}

static const char *const method_names[] = { "mean", "median", "sigma", "winsor" };

const char *
tsr_stack_method_name (TsrStackMethod m)
{
  if ((guint) m < G_N_ELEMENTS (method_names))
    return method_names[m];
  return "unknown";
}

gboolean
tsr_stack_method_from_name (const char *name, TsrStackMethod *out)
{
  if (name == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (method_names); i++)
    if (g_ascii_strcasecmp (name, method_names[i]) == 0)
      {
        if (out)
          *out = (TsrStackMethod) i;
        return TRUE;
      }
  return FALSE;
}

/* ------------------------------------------------------------------------------------ */
/* Per-pixel kernels                                                                    */

static double
mean_of (const float *v, gsize n)
{
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += v[i];
  return s / (double) n;
}

/* Sample standard deviation (n − 1); 0 for fewer than two samples. */
static double
std_of (const float *v, gsize n)
{
  if (n < 2)
    return 0.0;
  double mean = mean_of (v, n);
  double ss = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      double d = v[i] - mean;
      ss += d * d;
    }
  return sqrt (ss / (double) (n - 1));
}

/* Standard deviation (n − 1) of v clamped to [lo, hi], without modifying v. */
static double
std_clamped (const float *v, gsize n, double lo, double hi)
{
  if (n < 2)
    return 0.0;
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += CLAMP ((double) v[i], lo, hi);
  double mean = s / (double) n;
  double ss = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      double d = CLAMP ((double) v[i], lo, hi) - mean;
      ss += d * d;
    }
  return sqrt (ss / (double) (n - 1));
}

static gsize
min_keep_count (const TsrStackParams *p, gsize n)
{
  double f = p ? p->min_keep_fraction : 0.3;
  if (!(f >= 0.0))
    f = 0.0;
  if (f > 1.0)
    f = 1.0;
  /* The small epsilon keeps 0.3 × 10 from becoming 4 through rounding. */
  double k = ceil (f * (double) n - 1e-9);
  gsize keep = k < 1.0 ? 1 : (gsize) k;
  return MIN (keep, n);
}

static inline void
swapf (float *a, float *b)
{
  float t = *a;
  *a = *b;
  *b = t;
}

/* Reorder v so that v[0 .. k) are the k values closest to c. */
static void
select_closest (float *v, gsize n, gsize k, float c)
{
  gsize lo = 0, hi = n;

  if (k == 0 || k >= n)
    return;
  while (hi - lo > 1)
    {
      gsize mid = lo + (hi - lo) / 2;
      float pd = fabsf (v[mid] - c);
      swapf (&v[mid], &v[hi - 1]);
      gsize store = lo;
      for (gsize i = lo; i < hi - 1; i++)
        if (fabsf (v[i] - c) < pd)
          swapf (&v[i], &v[store++]);
      swapf (&v[store], &v[hi - 1]);
      /* v[lo .. store) < pd ≤ v[store + 1 .. hi), v[store] = pivot */
      if (store == k || store + 1 == k)
        return;
      if (k < store)
        hi = store;
      else
        lo = store + 1;
    }
}

/* Keep (move to the front) the samples within [lo, hi]; returns their count. */
static gsize
keep_within (float *v, gsize m, double lo, double hi)
{
  gsize k = 0;
  for (gsize i = 0; i < m; i++)
    if ((double) v[i] >= lo && (double) v[i] <= hi)
      swapf (&v[i], &v[k++]);
  return k;
}

/* Iterative clipping shared by SIGMA and WINSOR. */
static double
combine_clipped (gboolean winsor, const TsrStackParams *p, float *v, gsize n)
{
  gsize keep_min = min_keep_count (p, n);
  gsize m = n;
  int iters = p ? p->max_iterations : 5;
  double kl = p ? p->kappa_low : 3.0;
  double kh = p ? p->kappa_high : 3.0;

  for (int it = 0; it < iters; it++)
    {
      float med = tsr_median_inplace (v, m);
      double sd = std_of (v, m);
      if (!(sd > 0.0))
        break;

      if (winsor)
        {
          /* Robust sigma: winsorize at median ± 1.5σ until σ settles (1.134 corrects
           * the winsorized standard deviation back to a Gaussian σ). */
          for (int w = 0; w < WINSOR_MAX_INNER; w++)
            {
              double s0 = sd;
              sd = 1.134 * std_clamped (v, m, med - 1.5 * s0, med + 1.5 * s0);
              if (fabs (sd - s0) <= s0 * 5e-4)
                break;
            }
          if (!(sd > 0.0))
            break;
        }

      gsize k = keep_within (v, m, med - kl * sd, med + kh * sd);
      if (k == m)
        break;
      if (k < keep_min)
        {
          select_closest (v, m, keep_min, med);
          m = keep_min;
          break;
        }
      m = k;
    }

  return mean_of (v, m);
}

gboolean
tsr_stack_combine (TsrStackMethod method, const TsrStackParams *p,
                   float *values, gsize n, float *out)
{
  if (n == 0)
    return FALSE;

  float r;
  switch (method)
    {
    case TSR_STACK_MEDIAN:
      r = tsr_median_inplace (values, n);
      break;
    case TSR_STACK_SIGMA:
      r = (float) combine_clipped (FALSE, p, values, n);
      break;
    case TSR_STACK_WINSOR:
      r = (float) combine_clipped (TRUE, p, values, n);
      break;
    case TSR_STACK_MEAN:
    default:
      r = (float) mean_of (values, n);
      break;
    }
  if (out)
    *out = r;
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* Shared helpers                                                                       */

static gboolean
check_shape (const TsrSession *s, const TsrFrameInfo *frame, const TsrImage *img,
             int expect_height, GError **error)
{
  if (img->width == s->width && img->height == expect_height && img->channels == s->channels)
    return TRUE;
  g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
               _("%s: the frame is %d×%d with %d channel(s) but the session's frames are "
                 "%d×%d with %d; remove it from the session"),
               frame->path, img->width, img->height, img->channels,
               s->width, s->height, s->channels);
  return FALSE;
}

static char *
format_double (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  return g_strdup (g_ascii_formatd (buf, sizeof buf, "%g", v));
}

/* ------------------------------------------------------------------------------------ */
/* MEAN: streaming                                                                      */

typedef struct
{
  GMutex lock;
  double *sum;      /* channels × npix */
  guint32 *count;   /* npix */
} MeanSlot;

typedef struct
{
  TsrSession *session;
  gsize npix;
  int channels;
  guint n_slots;
  MeanSlot *slots;
} MeanJob;

static gboolean
mean_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
            GCancellable *cancellable, GError **error)
{
  MeanJob *job = user_data;

  if (img == NULL)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                   _("%s: no pixels were read for this frame"), frame->path);
      return FALSE;
    }
  if (!check_shape (job->session, frame, img, job->session->height, error))
    return FALSE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  /* Take any free slot; if all are busy, wait for one. */
  MeanSlot *slot = NULL;
  for (guint k = 0; k < job->n_slots && slot == NULL; k++)
    {
      MeanSlot *cand = &job->slots[(index + k) % job->n_slots];
      if (g_mutex_trylock (&cand->lock))
        slot = cand;
    }
  if (slot == NULL)
    {
      slot = &job->slots[index % job->n_slots];
      g_mutex_lock (&slot->lock);
    }

  if (slot->sum == NULL)
    {
      slot->sum = g_try_new0 (double, job->npix * job->channels);
      slot->count = g_try_new0 (guint32, job->npix);
      if (slot->sum == NULL || slot->count == NULL)
        {
          g_clear_pointer (&slot->sum, g_free);
          g_clear_pointer (&slot->count, g_free);
          g_mutex_unlock (&slot->lock);
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                       _("Not enough memory for the stack accumulator (%" G_GSIZE_FORMAT
                         " pixels); lower the number of threads"), job->npix);
          return FALSE;
        }
    }

  const guint8 *mask = img->mask;
  for (int c = 0; c < job->channels; c++)
    {
      const float *src = tsr_image_plane (img, c);
      double *dst = slot->sum + (gsize) c * job->npix;
      for (gsize i = 0; i < job->npix; i++)
        if (mask[i])
          dst[i] += src[i];
    }
  for (gsize i = 0; i < job->npix; i++)
    slot->count[i] += mask[i] ? 1 : 0;

  g_mutex_unlock (&slot->lock);
  return TRUE;
}

static gboolean
stack_mean (TsrSession *s, const TsrStackParams *p, gsize budget, TsrImage *out,
            TsrProgressFunc progress, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  TsrMapOptions opt;
  tsr_map_options_init (&opt, _("Stacking"));
  opt.n_threads = p->n_threads;
  opt.memory_budget = budget;
  opt.read_pixels = TRUE;

  MeanJob job = { 0 };
  job.session = s;
  job.npix = tsr_image_npix (out);
  job.channels = out->channels;

  /* A few accumulator slots so that parallel readers rarely wait for each other, but
   * never more than half the budget on accumulators. */
  gsize slot_bytes = job.npix * (sizeof (double) * job.channels + sizeof (guint32));
  guint n_slots = MIN (tsr_frames_parallelism (s, &opt), MAX_MEAN_SLOTS);
  gsize by_budget = slot_bytes > 0 ? (budget / 2) / slot_bytes : 1;
  n_slots = (guint) MAX (1, MIN ((gsize) n_slots, by_budget));

  job.n_slots = n_slots;
  job.slots = g_new0 (MeanSlot, n_slots);
  for (guint i = 0; i < n_slots; i++)
    g_mutex_init (&job.slots[i].lock);

  gboolean ok = tsr_frames_map (s, &opt, mean_frame, &job, progress, progress_data,
                                cancellable, error);

  if (ok)
    {
      for (gsize i = 0; i < job.npix; i++)
        {
          guint64 cnt = 0;
          for (guint k = 0; k < n_slots; k++)
            if (job.slots[k].count)
              cnt += job.slots[k].count[i];
          out->mask[i] = cnt > 0;
          for (int c = 0; c < job.channels; c++)
            {
              double sum = 0.0;
              for (guint k = 0; k < n_slots; k++)
                if (job.slots[k].sum)
                  sum += job.slots[k].sum[(gsize) c * job.npix + i];
              tsr_image_plane (out, c)[i] = cnt > 0 ? (float) (sum / (double) cnt) : 0.0f;
            }
        }
    }

  for (guint i = 0; i < n_slots; i++)
    {
      g_free (job.slots[i].sum);
      g_free (job.slots[i].count);
      g_mutex_clear (&job.slots[i].lock);
    }
  g_free (job.slots);
  return ok;
}

/* ------------------------------------------------------------------------------------ */
/* MEDIAN / SIGMA / WINSOR: row bands                                                   */

typedef struct
{
  TsrStackMethod method;
  const TsrStackParams *params;
  guint n_frames;
  TsrImage **bands;   /* n_frames band images of rows × width */
  int rows;
  int y0;
  TsrImage *out;
  gint next_row;      /* atomic */
} BandJob;

static void
band_work (BandJob *job)
{
  int width = job->out->width;
  int channels = job->out->channels;
  gsize out_npix = tsr_image_npix (job->out);
  gsize band_npix = (gsize) job->rows * width;
  float *buf = g_new (float, MAX (job->n_frames, 1));

  for (;;)
    {
      int r = g_atomic_int_add (&job->next_row, 1);
      if (r >= job->rows)
        break;
      for (int x = 0; x < width; x++)
        {
          gsize bi = (gsize) r * width + x;
          gsize oi = (gsize) (job->y0 + r) * width + x;
          gboolean any = FALSE;
          for (int c = 0; c < channels; c++)
            {
              gsize m = 0;
              for (guint f = 0; f < job->n_frames; f++)
                {
                  const TsrImage *b = job->bands[f];
                  if (b->mask[bi])
                    buf[m++] = b->data[(gsize) c * band_npix + bi];
                }
              float v = 0.0f;
              if (tsr_stack_combine (job->method, job->params, buf, m, &v))
                any = TRUE;
              else
                v = 0.0f;
              job->out->data[(gsize) c * out_npix + oi] = v;
            }
          job->out->mask[oi] = any ? 1 : 0;
        }
    }
  g_free (buf);
}

static gpointer
band_thread (gpointer data)
{
  band_work (data);
  return NULL;
}

static gboolean
stack_banded (TsrSession *s, const TsrStackParams *p, gsize budget, TsrImage *out,
              TsrProgressFunc progress, gpointer progress_data,
              GCancellable *cancellable, GError **error)
{
  guint nf = tsr_session_n_frames (s);
  int width = out->width, height = out->height, channels = out->channels;

  /* Every frame's band (float samples plus the mask byte) must fit the budget. */
  gsize row_bytes = (gsize) nf * width * (sizeof (float) * channels + 1);
  gsize rows_fit = row_bytes > 0 ? budget / row_bytes : (gsize) height;
  int band_rows = (int) CLAMP (rows_fit, 1, (gsize) height);
  int n_bands = (height + band_rows - 1) / band_rows;
  guint total = (guint) MIN ((guint64) n_bands * nf, G_MAXUINT);

  guint n_threads = p->n_threads ? p->n_threads : g_get_num_processors ();
  n_threads = CLAMP (n_threads, 1, MAX_BAND_THREADS);

  TsrImage **bands = g_new0 (TsrImage *, nf);
  GThread **threads = g_new0 (GThread *, n_threads);
  gboolean ok = TRUE;

  for (int b = 0; b < n_bands && ok; b++)
    {
      int y0 = b * band_rows;
      int y1 = MIN (height, y0 + band_rows);

      for (guint f = 0; f < nf; f++)
        {
          const TsrFrameInfo *frame = tsr_session_frame (s, f);
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            {
              ok = FALSE;
              break;
            }
          bands[f] = tsr_session_read_rows (s, f, y0, y1, error);
          if (bands[f] == NULL || !check_shape (s, frame, bands[f], y1 - y0, error))
            {
              ok = FALSE;
              break;
            }
          if (progress)
            progress (_("Stacking"), (guint) MIN ((guint64) b * nf + f + 1, total), total,
                      progress_data);
        }

      if (ok)
        {
          BandJob job = {
            .method = p->method,
            .params = p,
            .n_frames = nf,
            .bands = bands,
            .rows = y1 - y0,
            .y0 = y0,
            .out = out,
            .next_row = 0,
          };
          guint nt = MIN (n_threads, (guint) job.rows);
          for (guint t = 1; t < nt; t++)
            threads[t] = g_thread_new ("tsr-stack", band_thread, &job);
          band_work (&job);
          for (guint t = 1; t < nt; t++)
            g_thread_join (threads[t]);
        }

      for (guint f = 0; f < nf; f++)
        g_clear_pointer (&bands[f], tsr_image_unref);
    }

  g_free (threads);
  g_free (bands);
  return ok;
}

/* ------------------------------------------------------------------------------------ */

static gboolean
check_params (const TsrStackParams *p, GError **error)
{
  if ((guint) p->method > TSR_STACK_WINSOR)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("Unknown stacking method %d; use mean, median, sigma or winsor"),
                   (int) p->method);
      return FALSE;
    }
  if (p->method == TSR_STACK_SIGMA || p->method == TSR_STACK_WINSOR)
    {
      if (!(p->kappa_low > 0.0) || !(p->kappa_high > 0.0)
          || !isfinite (p->kappa_low) || !isfinite (p->kappa_high))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("Clipping kappa must be a positive number (got low %g, high %g)"),
                       p->kappa_low, p->kappa_high);
          return FALSE;
        }
      if (p->max_iterations < 0)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("The number of clipping iterations cannot be negative (got %d)"),
                       p->max_iterations);
          return FALSE;
        }
      if (!(p->min_keep_fraction >= 0.0 && p->min_keep_fraction <= 1.0))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("The minimum kept fraction must lie between 0 and 1 (got %g)"),
                       p->min_keep_fraction);
          return FALSE;
        }
    }
  return TRUE;
}

TsrImage *
tsr_stack_session (TsrSession *s, const TsrStackParams *p,
                   TsrProgressFunc progress, gpointer progress_data,
                   GCancellable *cancellable, GError **error)
{
  TsrStackParams defaults;

  g_return_val_if_fail (s != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (p == NULL)
    {
      tsr_stack_params_init (&defaults);
      p = &defaults;
    }
  if (!check_params (p, error))
    return NULL;

  guint nf = tsr_session_n_frames (s);
  if (nf == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                   _("There are no frames to stack; add FITS frames to the session"));
      return NULL;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  const TsrFrameInfo *first = tsr_session_frame (s, 0);
  TsrFitsInfo info = { 0 };
  TsrHeader *header = NULL;
  if (!tsr_frame_read_info (first->path, &info, &header, error))
    return NULL;
  tsr_fits_info_clear (&info);

  gsize budget = p->memory_budget ? p->memory_budget : DEFAULT_BUDGET;

  TsrImage *out = tsr_image_new_checked (s->width, s->height, s->channels, _("the stacked image"), error);
  if (!out)
    {
      tsr_header_free (header);
      return NULL;
    }
  out->cfa = s->cfa;
  if (header != NULL)
    {
      tsr_header_free (out->header);
      out->header = header;
    }
  /* The stack is float32: integer scaling of the input does not apply. */
  tsr_header_remove (out->header, "BZERO");
  tsr_header_remove (out->header, "BSCALE");
  tsr_header_remove (out->header, "BLANK");

  gboolean ok;
  if (p->method == TSR_STACK_MEAN)
    ok = stack_mean (s, p, budget, out, progress, progress_data, cancellable, error);
  else
    ok = stack_banded (s, p, budget, out, progress, progress_data, cancellable, error);

  if (!ok)
    {
      tsr_image_unref (out);
      return NULL;
    }

  tsr_header_set_int (out->header, "NCOMBINE", nf, "number of frames stacked");
  g_autofree char *kl = format_double (p->kappa_low);
  g_autofree char *kh = format_double (p->kappa_high);
  g_autofree char *mk = format_double (p->min_keep_fraction);
  g_autofree char *hist = g_strdup_printf ("Tessera stack: method=%s kappa_low=%s "
                                           "kappa_high=%s iterations=%d min_keep=%s",
                                           tsr_stack_method_name (p->method), kl, kh,
                                           p->max_iterations, mk);
  tsr_session_add_history (s, out->header);
  tsr_header_add_history (out->header, hist);
  return out;
}
