/* tsr-report.c — the report folder of a TBQR run. */
#include "tsr-report.h"
#include "tsr-error.h"
#include "tsr-json.h"
#include "tsr-render.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

static const struct
{
  const char *stem;
  const char *title;
} figs[TSR_FIG_N] = {
  { "fwhm", N_("Seeing: median star FWHM per frame") },
  { "weights", N_("Global weight G and mean local weight L per frame") },
  { "cc", N_("Registration correlation per frame") },
  { "cc-histogram", N_("Registration correlation histogram and gate threshold") },
  { "funnel", N_("Frame usage") },
  { "quality-map", N_("Mean local quality per tile") },
  { "weight-map", N_("Mean weight per tile") },
  { "neff-map", N_("Effective number of frames per tile") },
  { "validation", N_("Validation against the mean stack") },
};

const char *
tsr_figure_name (TsrFigure f)
{
  return figs[f].stem;
}

const char *
tsr_figure_title (TsrFigure f)
{
  return _(figs[f].title);
}

double
tsr_report_cc_gate (const TsrAnalysis *a, const TsrWeights *w)
{
  return w ? w->cc_threshold : a->reg->cc_threshold;
}

void
tsr_report_draw (cairo_t *cr, double width, double height, TsrFigure fig, gboolean dark,
                 const TsrAnalysis *a, const TsrWeights *w, const TsrReconstruction *r, int frame)
{
  guint n = a->reg->n_frames;
  TsrPlotStyle st = { tsr_figure_title (fig), _("frame"), NULL, dark };
  double *x = g_new (double, MAX (n, 1u));
  gboolean *gated = g_new0 (gboolean, MAX (n, 1u));
  for (guint f = 0; f < n; f++)
    {
      x[f] = f;
      gated[f] = w ? w->gate[f] != 0 : a->reg->frames[f].gate != 0;
    }
  switch (fig)
    {
    case TSR_FIG_FWHM:
    case TSR_FIG_CC:
      {
        double *y = g_new (double, MAX (n, 1u));
        for (guint f = 0; f < n; f++)
          y[f] = fig == TSR_FIG_FWHM ? a->reg->frames[f].fwhm : a->reg->frames[f].cc;
        const double *ys[] = { y };
        const char *names[] = { fig == TSR_FIG_FWHM ? _("FWHM [px]") : _("CC") };
        st.ylabel = names[0];
        tsr_plot_series (cr, width, height, &st, x, ys, names, 1, n, gated);
        g_free (y);
        break;
      }
    case TSR_FIG_WEIGHTS:
      {
        double *g = g_new (double, MAX (n, 1u)), *l = g_new (double, MAX (n, 1u));
        for (guint f = 0; f < n; f++)
          {
            g[f] = w && w->used[f] ? w->g[f] : NAN;
            l[f] = w && w->used[f] ? w->mean_l[f] : NAN;
          }
        const double *ys[] = { g, l };
        const char *names[] = { _("G (global)"), _("mean L (local)") };
        st.ylabel = _("weight");
        tsr_plot_series (cr, width, height, &st, x, ys, names, 2, n, gated);
        g_free (g);
        g_free (l);
        break;
      }
    case TSR_FIG_CC_HIST:
      {
        double *v = g_new (double, MAX (n, 1u));
        for (guint f = 0; f < n; f++)
          v[f] = f == a->reg->reference ? NAN : a->reg->frames[f].cc;
        st.xlabel = _("CC");
        st.ylabel = _("frames");
        /* the threshold of this weighing (the gate.* keys now), else the analysis' */
        double thr = tsr_report_cc_gate (a, w);
        g_autofree char *lab = g_strdup_printf (_("gate %.3f"), thr);
        tsr_plot_histogram (cr, width, height, &st, v, n, 20, thr, lab);
        g_free (v);
        break;
      }
    case TSR_FIG_FUNNEL:
      {
        guint registered = 0, valid = 0;
        for (guint f = 0; f < n; f++)
          {
            registered += a->reg->frames[f].registered;
            valid += (w ? w->gate[f] : a->reg->frames[f].gate) == 0;
          }
        const char *labels[] = { _("scanned"), _("registered"), _("geometrically valid"), _("weighted") };
        guint counts[] = { n, registered, valid, w ? w->n_used : valid };
        tsr_plot_funnel (cr, width, height, &st, labels, counts, 4);
        break;
      }
    case TSR_FIG_QUALITY_MAP:
    case TSR_FIG_WEIGHT_MAP:
    case TSR_FIG_NEFF_MAP:
      {
        guint nt = a->n_tiles;
        float *m = g_new (float, MAX (nt, 1u));
        for (guint t = 0; t < nt; t++)
          {
            double s = 0;
            guint c = 0;
            if (fig == TSR_FIG_NEFF_MAP)
              {
                m[t] = w ? w->n_eff[t] : NAN;
                continue;
              }
            for (guint f = 0; f < n; f++)
              {
                if (!w || !w->used[f] || (frame >= 0 && (int) f != frame))
                  continue;
                gsize k = (gsize) f * nt + t;
                s += fig == TSR_FIG_QUALITY_MAP ? w->q_local[k] : w->w[k];
                c++;
              }
            m[t] = c ? s / c : NAN;
          }
        tsr_plot_map (cr, width, height, &st, m, a->tiles_x, a->tiles_y, NAN, NAN);
        g_free (m);
        break;
      }
    case TSR_FIG_VALIDATION:
      {
        if (!r)
          {
            const char *names[] = { _("no reconstruction yet") };
            const char *vals[] = { "–" }, *lims[] = { "–" };
            gboolean pass[] = { FALSE };
            tsr_plot_table (cr, width, height, &st, names, vals, lims, pass, 1);
            break;
          }
        const TsrValidation *v = &r->validation;
        const char *names[8];
        char *vals[8], *lims[8];
        gboolean pass[8];
        for (guint i = 0; i < v->n_checks; i++)
          {
            names[i] = _(v->checks[i].name);
            vals[i] = g_strdup_printf ("%.4f", v->checks[i].value);
            lims[i] = g_strdup_printf (i == 0 ? "≥ %.3f" : "≤ %.3f", v->checks[i].limit);
            pass[i] = v->checks[i].pass;
          }
        tsr_plot_table (cr, width, height, &st, names, (const char *const *) vals,
                        (const char *const *) lims, pass, v->n_checks);
        for (guint i = 0; i < v->n_checks; i++)
          {
            g_free (vals[i]);
            g_free (lims[i]);
          }
        break;
      }
    default:
      break;
    }
  g_free (x);
  g_free (gated);
}

typedef struct
{
  TsrFigure fig;
  const TsrAnalysis *a;
  const TsrWeights *w;
  const TsrReconstruction *r;
} DrawData;

static void
draw_cb (cairo_t *cr, double width, double height, gpointer data)
{
  DrawData *d = data;
  tsr_report_draw (cr, width, height, d->fig, FALSE, d->a, d->w, d->r, -1);
}

static void
html_escape_append (GString *s, const char *t)
{
  g_autofree char *e = g_markup_escape_text (t, -1);
  g_string_append (s, e);
}

gboolean
tsr_report_write (const char *dir, const TsrAnalysis *a, const TsrWeights *w,
                  const TsrReconstruction *r, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot create the report folder"), dir);
      return FALSE;
    }
  for (int f = 0; f < TSR_FIG_N; f++)
    {
      g_autofree char *name = g_strdup_printf ("%s.png", figs[f].stem);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      DrawData d = { f, a, w, r };
      gboolean map = f == TSR_FIG_QUALITY_MAP || f == TSR_FIG_WEIGHT_MAP || f == TSR_FIG_NEFF_MAP;
      if (!tsr_plot_write_png (path, map ? 700 : 900, map ? 700 : 420, draw_cb, &d, error))
        return FALSE;
    }
  g_autofree char *json = tsr_tbqr_diagnostics_json (a, w, r);
  g_autofree char *jpath = g_build_filename (dir, "diagnostics.json", NULL);
  if (!tsr_write_file_atomic (jpath, json, -1, error))
    return FALSE;
  if (r)
    {
      g_autofree char *p1 = g_build_filename (dir, "result-preview.png", NULL);
      g_autofree char *p2 = g_build_filename (dir, "mean-preview.png", NULL);
      if (!tsr_write_png_preview (r->result, p1, 1200, error) || !tsr_write_png_preview (r->mean, p2, 1200, error))
        return FALSE;
    }
  GString *h = g_string_new ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Tessera report</title>\n"
                             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
                             "img{max-width:100%;border:1px solid #ccc;margin:.5em 0}table{border-collapse:collapse}"
                             "td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}"
                             ".fail{color:#b00}.pass{color:#070}</style></head><body>\n");
  g_string_append (h, "<h1>Tessera — Tile-Based Quality Reconstruction</h1>\n");
  guint valid = tsr_registration_n_valid (a->reg);
  g_string_append_printf (h, "<p>%u frames, reference %u, %u geometrically valid, %u weighted; tile %d px "
                             "(step %d, session FWHM %.2f px)%s.</p>\n",
                          a->reg->n_frames, a->reg->reference, valid, w->n_used, a->tile_size, a->tile_step,
                          a->session_fwhm, w->n_clusters ? "; cluster mode" : "");
  if (r)
    {
      const TsrValidation *v = &r->validation;
      g_string_append_printf (h, "<h2>Validation against the mean stack of the same frames</h2>\n"
                                 "<p>%u matched stars: FWHM %.3f px (mean stack %.3f px, ratio %.3f); "
                                 "per-pixel sky noise ratio %.3f (per pixel: rewards blur); flux ratio %.4f; seam metric %.3f — <b class=\"%s\">%s</b></p>\n",
                              v->n_matched, v->fwhm_result, v->fwhm_mean, v->fwhm_ratio, v->noise_ratio,
                              v->flux_ratio, v->seam, v->pass ? "pass" : "fail", v->pass ? "PASS" : "FAIL");
      static const char *const cname[3] = { "R", "G", "B" };
      g_string_append (h, "<table><tr><th>channel</th><th>noise at 8×8 bins / star flux</th><th>mean stack</th>"
                          "<th>ratio</th></tr>\n");
      for (int c = 0; c < v->n_channels; c++)
        g_string_append_printf (h, "<tr><td>%s</td><td>%.4g</td><td>%.4g</td><td>%.3f</td></tr>\n",
                                v->n_channels == 3 ? cname[c] : "L", v->bin_noise_result[c], v->bin_noise_mean[c],
                                v->bin_noise_ratio[c]);
      g_string_append_printf (h, "</table>\n<p>Point-source SNR of the median matched star (aperture radius = FWHM, "
                                 "noise of the same aperture on the sky): %.1f (mean stack %.1f, ratio %.3f).</p>\n",
                              v->snr_result, v->snr_mean, v->snr_ratio);
      g_string_append (h, "<p><img src=\"result-preview.png\" alt=\"result\"> <img src=\"mean-preview.png\" alt=\"mean stack\"></p>\n");
    }
  for (int f = 0; f < TSR_FIG_N; f++)
    {
      g_string_append (h, "<h3>");
      html_escape_append (h, tsr_figure_title (f));
      g_string_append_printf (h, "</h3>\n<img src=\"%s.png\" alt=\"%s\">\n", figs[f].stem, figs[f].stem);
    }
  g_string_append (h, "<h2>Frames</h2>\n<table><tr><th>#</th><th>file</th><th>method</th><th>FWHM</th>"
                      "<th>CC</th><th>G</th><th>mean L</th><th>scale</th><th>gate</th></tr>\n");
  for (guint f = 0; f < a->reg->n_frames; f++)
    {
      const TsrFrameReg *fr = &a->reg->frames[f];
      g_autofree char *why = tsr_gate_reasons_string (w->gate[f]);
      g_string_append_printf (h, "<tr><td>%u</td><td style=\"text-align:left\">", f);
      html_escape_append (h, tsr_session_frame (a->reg->session, f)->name);
      g_string_append_printf (h, "</td><td>%s</td><td>%.2f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
                                 "<td class=\"%s\">%s</td></tr>\n",
                              fr->method, fr->fwhm, fr->cc, w->g[f], w->mean_l[f], a->frames[f].scale,
                              w->gate[f] ? "fail" : "pass", w->gate[f] ? why : "ok");
    }
  g_string_append (h, "</table>\n<p>Every number is in <a href=\"diagnostics.json\">diagnostics.json</a>.</p></body></html>\n");
  g_autofree char *hpath = g_build_filename (dir, "index.html", NULL);
  gboolean ok = tsr_write_file_atomic (hpath, h->str, h->len, error);
  g_string_free (h, TRUE);
  return ok;
}
