/* tsr-window-stretch.c — the display stretch of the image view (issue #13, problem 5): a
 * histogram of the displayed image with its black, midtone and white points, automatic
 * (linked: one midtone balance for every channel, as the window always showed; unlinked:
 * each channel its own) or manual (black, white in data units, the midtone balance), for
 * whatever the view shows — frames, preview, result, mean, deconvolved, denoised, restored.
 * Display only: the data stays linear, exports are untouched.
 *
 * Every show or stretch change starts a worker (the newest request wins, stale results are
 * dropped) that measures the histogram and, for a stretch other than the automatic linked one
 * the other jobs render with, renders the shown image (and the compare image of a split view)
 * again; the view swaps the surfaces when they arrive. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-stretch-bar.h"
#include "tsr-histogram.h"

#define HIST_BINS 512

typedef struct
{
  guint gen;
  TsrImage *img, *cmp;
  gboolean manual, unlinked;
  double black, mid, white;
} StretchJob;

typedef struct
{
  guint32 *counts;
  int nch;
  double lo, hi;          /* the histogram's range */
  double full_lo, full_hi;/* the data's */
  TsrStretch st;
  float mids[3];
  cairo_surface_t *surface, *cmp_surface;   /* NULL: the automatic linked rendering */
} StretchOut;

static void
stretch_job_free (gpointer data)
{
  StretchJob *j = data;
  g_clear_pointer (&j->img, tsr_image_unref);
  g_clear_pointer (&j->cmp, tsr_image_unref);
  g_free (j);
}

static void
stretch_out_free (gpointer data)
{
  StretchOut *o = data;
  g_free (o->counts);
  g_clear_pointer (&o->surface, cairo_surface_destroy);
  g_clear_pointer (&o->cmp_surface, cairo_surface_destroy);
  g_free (o);
}

/* The stretch a job's settings give for img (and the per-channel midtones). */
static void
stretch_for (const StretchJob *j, const TsrImage *img, TsrStretch *st, float mids[3])
{
  if (j->manual)
    {
      /* the points are the lowest channel's; every other channel keeps the offset of its
       * background from the automatic stretch, so the sky stays neutral */
      TsrStretch a;
      tsr_stretch_auto (img, &a);
      float amin = MIN (a.black[0], MIN (a.black[1], a.black[2]));
      for (int c = 0; c < 3; c++)
        {
          float d = a.black[c] - amin;
          st->black[c] = (float) j->black + d;
          st->white[c] = (float) j->white + d;
          mids[c] = (float) j->mid;
        }
      st->midtone = (float) j->mid;
    }
  else if (j->unlinked)
    tsr_stretch_auto_unlinked (img, st, mids);
  else
    {
      tsr_stretch_auto (img, st);
      mids[0] = mids[1] = mids[2] = st->midtone;
    }
}

static void
stretch_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  StretchJob *j = task_data;
  StretchOut *o = g_new0 (StretchOut, 1);
  double lo, hi;
  if (!tsr_display_range (j->img, &lo, &hi))
    lo = 0, hi = 1;
  o->full_lo = lo;
  o->full_hi = hi;
  stretch_for (j, j->img, &o->st, o->mids);
  /* the histogram's range: the bulk of the samples (0.05 … 99.95 %, from a fine first
   * pass over the whole range: a few saturated stars must not squeeze the sky into one bin),
   * widened to the black points and the values shown as mid grey */
  {
    const int nc = 16384;
    guint32 *coarse = g_new (guint32, 3 * nc);
    int nch = tsr_display_histogram (j->img, nc, lo, hi, coarse);
    guint64 total = 0, acc = 0;
    for (int c = 0; c < nch; c++)
      for (int b = 0; b < nc; b++)
        total += coarse[(gsize) c * nc + b];
    int b_lo = 0, b_hi = nc - 1;
    gboolean got_lo = FALSE;
    for (int b = 0; b < nc && total > 0; b++)
      {
        for (int c = 0; c < nch; c++)
          acc += coarse[(gsize) c * nc + b];
        if (!got_lo && acc > 0.0005 * total)
          b_lo = b, got_lo = TRUE;
        if (acc >= 0.9995 * total)
          {
            b_hi = b;
            break;
          }
      }
    g_free (coarse);
    double bw = (hi - lo) / nc;
    double rlo = lo + b_lo * bw, rhi = lo + (b_hi + 1) * bw;
    for (int c = 0; c < 3; c++)
      {
        double b = o->st.black[c], gw = b + o->mids[c] * (o->st.white[c] - b);
        rlo = MIN (rlo, b);
        rhi = MAX (rhi, MIN (gw + (gw - b), hi));
        if (j->manual)
          rhi = MAX (rhi, MIN (o->st.white[c], hi));
      }
    rlo = MAX (rlo, lo);
    if (!(rhi > rlo))
      rlo = lo, rhi = hi;
    o->lo = rlo;
    o->hi = rhi;
  }
  o->counts = g_new (guint32, 3 * HIST_BINS);
  o->nch = tsr_display_histogram (j->img, HIST_BINS, o->lo, o->hi, o->counts);
  if (j->manual || j->unlinked)
    {
      o->surface = tsr_render_surface_full (j->img, &o->st, o->mids, 1);
      if (j->cmp)
        {
          TsrStretch cst;
          float cm[3];
          if (j->manual)
            cst = o->st, memcpy (cm, o->mids, sizeof cm);
          else
            stretch_for (j, j->cmp, &cst, cm);
          o->cmp_surface = tsr_render_surface_full (j->cmp, &cst, cm, 1);
        }
    }
  g_task_return_pointer (task, o, stretch_out_free);
}

static void start_stretch (TsrWindow *self);

static void
set_spins (TsrWindow *self)
{
  self->stretch_updating++;
  double lo = self->data_lo, hi = self->data_hi;
  if (!(hi > lo))
    lo = 0, hi = 1;
  double span = hi - lo;
  int digits = CLAMP ((int) ceil (-log10 (span / 1000.0)), 0, 6);
  for (int k = 0; k < 2; k++)
    {
      GtkSpinButton *sb = GTK_SPIN_BUTTON (k == 0 ? self->stretch_black : self->stretch_white);
      gtk_spin_button_set_range (sb, lo - span, hi + span);
      gtk_spin_button_set_increments (sb, span / 1000.0, span / 50.0);
      gtk_spin_button_set_digits (sb, digits);
    }
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (self->stretch_black), self->stretch_manual_v[0]);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (self->stretch_mid), self->stretch_manual_v[1]);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (self->stretch_white), self->stretch_manual_v[2]);
  self->stretch_updating--;
}

static void
stretch_done (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  StretchJob *j = g_task_get_task_data (task);
  StretchOut *o = g_task_propagate_pointer (task, NULL);
  self->stretch_running = FALSE;
  if (self->disposed || j->gen != self->stretch_gen)
    {
      if (o)
        stretch_out_free (o);
      if (!self->disposed && self->stretch_pending)
        start_stretch (self);
      return;
    }
  if (!o)
    return;
  g_free (self->hist);
  self->hist = g_steal_pointer (&o->counts);
  self->hist_nch = o->nch;
  self->hist_lo = o->lo;
  self->hist_hi = o->hi;
  self->data_lo = o->full_lo;
  self->data_hi = o->full_hi;
  self->stretch_now = o->st;
  memcpy (self->stretch_mids, o->mids, sizeof self->stretch_mids);
  tsr_histogram_set_data (TSR_HISTOGRAM (self->histogram), self->hist, HIST_BINS, self->hist_nch, o->lo, o->hi);
  tsr_histogram_set_points (TSR_HISTOGRAM (self->histogram), o->st.black, o->st.white, o->mids);
  if (!self->stretch_manual)
    {
      /* the manual controls start from what the automatic stretch shows */
      self->stretch_manual_v[0] = MIN (o->st.black[0], MIN (o->st.black[1], o->st.black[2]));
      self->stretch_manual_v[1] = (o->mids[0] + o->mids[1] + o->mids[2]) / 3;
      self->stretch_manual_v[2] = MAX (o->st.white[0], MAX (o->st.white[1], o->st.white[2]));
    }
  set_spins (self);
  g_clear_pointer (&self->stretch_surface, cairo_surface_destroy);
  g_clear_pointer (&self->stretch_cmp_surface, cairo_surface_destroy);
  self->stretch_surface = g_steal_pointer (&o->surface);
  self->stretch_cmp_surface = g_steal_pointer (&o->cmp_surface);
  self->stretch_done_key = self->stretch_key;
  if (self->stretch_surface)
    tsr_image_view_replace_surfaces (self->view, j->img, self->stretch_surface, self->stretch_cmp_surface);
  stretch_out_free (o);
}

static void
start_stretch (TsrWindow *self)
{
  if (self->stretch_running || !self->stretch_img)
    return;
  self->stretch_pending = FALSE;
  self->stretch_running = TRUE;
  StretchJob *j = g_new0 (StretchJob, 1);
  j->gen = self->stretch_gen;
  j->img = tsr_image_ref (self->stretch_img);
  j->cmp = self->stretch_cmp ? tsr_image_ref (self->stretch_cmp) : NULL;
  j->manual = self->stretch_manual;
  j->unlinked = self->stretch_unlinked;
  j->black = self->stretch_manual_v[0];
  j->mid = self->stretch_manual_v[1];
  j->white = self->stretch_manual_v[2];
  GTask *task = g_task_new (self, NULL, stretch_done, NULL);
  g_task_set_task_data (task, j, stretch_job_free);
  g_task_set_name (task, "tessera-stretch");
  g_task_run_in_thread (task, stretch_thread);
  g_object_unref (task);
}

static void
request_stretch (TsrWindow *self)
{
  self->stretch_gen++;
  self->stretch_pending = TRUE;
  start_stretch (self);
}

void
tsr_window_stretch_shown (TsrWindow *self, TsrImage *img, TsrImage *cmp)
{
  gboolean same = img == self->stretch_img && cmp == self->stretch_cmp;
  if (same && self->stretch_done_key == self->stretch_key && !self->stretch_pending && !self->stretch_running)
    {
      /* nothing changed: the surfaces of the last stretch stay valid */
      if (self->stretch_surface)
        tsr_image_view_replace_surfaces (self->view, img, self->stretch_surface, self->stretch_cmp_surface);
      return;
    }
  if (img)
    tsr_image_ref (img);
  if (cmp)
    tsr_image_ref (cmp);
  g_clear_pointer (&self->stretch_img, tsr_image_unref);
  g_clear_pointer (&self->stretch_cmp, tsr_image_unref);
  self->stretch_img = img;
  self->stretch_cmp = cmp;
  if (!img)
    {
      self->stretch_gen++;
      self->stretch_pending = FALSE;
      tsr_histogram_set_data (TSR_HISTOGRAM (self->histogram), NULL, 0, 1, 0, 1);
      return;
    }
  request_stretch (self);
}

static void
stretch_changed (TsrWindow *self)
{
  self->stretch_key++;
  gtk_widget_set_sensitive (self->stretch_linked, !self->stretch_manual);
  if (self->stretch_img)
    {
      if (!self->stretch_manual && !self->stretch_unlinked)
        /* back to the rendering every job made: show it at once */
        tsr_window_show_current (self);
      request_stretch (self);
    }
}

static void
on_auto_toggled (GtkToggleButton *b, TsrWindow *self)
{
  if (self->stretch_updating)
    return;
  self->stretch_manual = !gtk_toggle_button_get_active (b);
  stretch_changed (self);
}

static void
on_linked_toggled (GtkToggleButton *b, TsrWindow *self)
{
  if (self->stretch_updating)
    return;
  self->stretch_unlinked = !gtk_toggle_button_get_active (b);
  stretch_changed (self);
}

static void
on_point_changed (GtkSpinButton *sb, TsrWindow *self)
{
  if (self->stretch_updating)
    return;
  self->stretch_manual_v[0] = gtk_spin_button_get_value (GTK_SPIN_BUTTON (self->stretch_black));
  self->stretch_manual_v[1] = gtk_spin_button_get_value (GTK_SPIN_BUTTON (self->stretch_mid));
  self->stretch_manual_v[2] = gtk_spin_button_get_value (GTK_SPIN_BUTTON (self->stretch_white));
  /* editing a point is the manual stretch */
  self->stretch_updating++;
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->stretch_auto), FALSE);
  self->stretch_updating--;
  self->stretch_manual = TRUE;
  stretch_changed (self);
}

void
tsr_window_stretch_init (TsrWindow *self)
{
  self->stretch_manual_v[1] = 0.5;
  /* the widgets come from the template (ui/tsr-stretch-bar.ui, placed by ui/tsr-window.ui);
   * their behaviour is here */
  TsrStretchBar *bar = TSR_STRETCH_BAR (self->stretch_bar);
  self->histogram = tsr_stretch_bar_get_histogram (bar);
  self->stretch_auto = tsr_stretch_bar_get_auto (bar);
  self->stretch_linked = tsr_stretch_bar_get_linked (bar);
  self->stretch_black = tsr_stretch_bar_get_point (bar, 0);
  self->stretch_mid = tsr_stretch_bar_get_point (bar, 1);
  self->stretch_white = tsr_stretch_bar_get_point (bar, 2);
  g_signal_connect (self->stretch_auto, "toggled", G_CALLBACK (on_auto_toggled), self);
  g_signal_connect (self->stretch_linked, "toggled", G_CALLBACK (on_linked_toggled), self);
  GtkWidget *spins[] = { self->stretch_black, self->stretch_mid, self->stretch_white };
  for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
    g_signal_connect (spins[i], "value-changed", G_CALLBACK (on_point_changed), self);
}

void
tsr_window_stretch_dispose (TsrWindow *self)
{
  self->stretch_gen++;
  g_clear_pointer (&self->stretch_img, tsr_image_unref);
  g_clear_pointer (&self->stretch_cmp, tsr_image_unref);
  g_clear_pointer (&self->stretch_surface, cairo_surface_destroy);
  g_clear_pointer (&self->stretch_cmp_surface, cairo_surface_destroy);
  g_clear_pointer (&self->hist, g_free);
}

gboolean
tsr_window_stretch_busy (TsrWindow *self)
{
  return self->stretch_running || self->stretch_pending;
}

/* ---------------------------------------------------------------- public (tests) */

void
tsr_window_set_stretch (TsrWindow *self, gboolean manual, gboolean linked, double black, double mid, double white)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  self->stretch_updating++;
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->stretch_auto), !manual);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->stretch_linked), linked);
  self->stretch_updating--;
  self->stretch_manual = manual;
  self->stretch_unlinked = !linked;
  if (manual)
    {
      self->stretch_manual_v[0] = black;
      self->stretch_manual_v[1] = CLAMP (mid, 0.001, 0.999);
      self->stretch_manual_v[2] = white;
      set_spins (self);
    }
  stretch_changed (self);
}

const guint32 *
tsr_window_get_histogram (TsrWindow *self, int *nbins, int *nch, double *lo, double *hi)
{
  if (nbins)
    *nbins = HIST_BINS;
  if (nch)
    *nch = self->hist_nch;
  if (lo)
    *lo = self->hist_lo;
  if (hi)
    *hi = self->hist_hi;
  return self->hist;
}

void
tsr_window_get_stretch (TsrWindow *self, TsrStretch *st, float midtones[3])
{
  if (st)
    *st = self->stretch_now;
  if (midtones)
    memcpy (midtones, self->stretch_mids, sizeof self->stretch_mids);
}
