/* tsr-maps.c — quality maps over the tile grid (see tsr-maps.h). */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-maps.h"

const char *
tsr_map_kind_name (TsrMapKind kind)
{
  switch (kind)
    {
    case TSR_MAP_WEIGHT: return _("Weight");
    case TSR_MAP_QUALITY: return _("Local quality");
    case TSR_MAP_NEFF: return _("Effective frames");
    case TSR_MAP_COVERAGE: return _("Coverage");
    case TSR_MAP_CLUSTERS: return _("Clusters");
    default: return "";
    }
}

static int
compare_float (gconstpointer a, gconstpointer b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* The q-quantile (0 … 1) of the finite values of v (sorted in place; NAN when none). */
static double
quantile (GArray *v, double q)
{
  if (v->len == 0)
    return NAN;
  g_array_sort (v, compare_float);
  return g_array_index (v, float, (guint) floor (q * (v->len - 1)));
}

void
tsr_map_tile_cell (const TsrAnalysis *a, guint t, double *x0, double *y0, double *x1, double *y1)
{
  const TsrTile *tile = &a->tiles[t];
  if (a->tiles_x > 0 && a->tiles_y > 0 && (guint) (a->tiles_x * a->tiles_y) == a->n_tiles)
    {
      int i = (int) t % a->tiles_x, j = (int) t / a->tiles_x;
      *x0 = i == 0 ? 0 : (a->tiles[t - 1].cx + tile->cx) / 2.0;
      *x1 = i == a->tiles_x - 1 ? a->width : (tile->cx + a->tiles[t + 1].cx) / 2.0;
      *y0 = j == 0 ? 0 : (a->tiles[t - a->tiles_x].cy + tile->cy) / 2.0;
      *y1 = j == a->tiles_y - 1 ? a->height : (tile->cy + a->tiles[t + a->tiles_x].cy) / 2.0;
      return;
    }
  double h = a->tile_step / 2.0;
  *x0 = MAX (tile->cx - h, 0);
  *x1 = MIN (tile->cx + h, a->width);
  *y0 = MAX (tile->cy - h, 0);
  *y1 = MIN (tile->cy + h, a->height);
}

gboolean
tsr_map_frame_covers (const TsrAnalysis *a, guint f, guint t)
{
  if (!a || !a->reg || f >= a->reg->n_frames || t >= a->n_tiles)
    return FALSE;
  const TsrFrameReg *fr = &a->reg->frames[f];
  if (!fr->registered)
    return FALSE;
  double x, y;
  tsr_transform_apply (&fr->transform, a->tiles[t].cx, a->tiles[t].cy, &x, &y);
  return x >= -0.5 && y >= -0.5 && x < a->width - 0.5 && y < a->height - 0.5;
}

TsrMap *
tsr_map_compute (const TsrAnalysis *a, const TsrWeights *w, TsrMapKind kind, int frame)
{
  if (!a || !w || w->n_tiles != a->n_tiles || w->n_tiles == 0 || kind >= TSR_MAP_N_KINDS)
    return NULL;
  guint nt = w->n_tiles, n = w->n_frames;
  gboolean one = frame >= 0 && (guint) frame < n;
  TsrMap *m = g_new0 (TsrMap, 1);
  m->kind = kind;
  m->n_tiles = nt;
  m->v = g_new (float, nt);
  for (guint t = 0; t < nt; t++)
    m->v[t] = NAN;
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (float));

  switch (kind)
    {
    case TSR_MAP_WEIGHT:
    case TSR_MAP_QUALITY:
      {
        const float *src = kind == TSR_MAP_WEIGHT ? w->w : w->q_local;
        for (guint t = 0; t < nt; t++)
          {
            double s = 0;
            guint c = 0;
            for (guint f = 0; f < n; f++)
              {
                float x = src[(gsize) f * nt + t];
                if (!w->used[f] || !isfinite (x))
                  continue;
                /* the colour scale spans every used frame, so frames compare */
                g_array_append_val (all, x);
                s += x;
                c++;
              }
            if (one)
              {
                float x = src[(gsize) frame * nt + t];
                m->v[t] = w->used[frame] && isfinite (x) ? x : NAN;
              }
            else
              m->v[t] = c ? s / c : NAN;
          }
        if (kind == TSR_MAP_WEIGHT)
          {
            /* logarithmic from the 2nd to the 98th percentile of W (W spans orders of
             * magnitude; a linear scale leaves most tiles dark) */
            m->log_scale = TRUE;
            m->hi = quantile (all, 0.98);
            m->lo = MAX (quantile (all, 0.02), m->hi * 1e-3);
          }
        else
          {
            /* centred on 0 (the session's median quality), ± the 98th percentile of |Q| */
            for (guint i = 0; i < all->len; i++)
              g_array_index (all, float, i) = fabsf (g_array_index (all, float, i));
            double q = quantile (all, 0.98);
            m->diverging = TRUE;
            m->hi = isfinite (q) && q > 1e-6 ? q : 1;
            m->lo = -m->hi;
          }
        if (one)
          m->title = g_strdup_printf (kind == TSR_MAP_WEIGHT ? _("Weight W of frame %d") : _("Local quality Q of frame %d"),
                                      frame);
        else
          m->title = g_strdup_printf (kind == TSR_MAP_WEIGHT ? _("Weight W, mean of %u used frames")
                                                             : _("Local quality Q, mean of %u used frames"),
                                      w->n_used);
        break;
      }
    case TSR_MAP_NEFF:
      for (guint t = 0; t < nt; t++)
        m->v[t] = w->n_eff[t];
      m->lo = 0;
      m->hi = MAX (w->n_used, 1);
      m->title = g_strdup_printf (_("Effective frames N_eff = (Σw)²/Σw² of %u used"), w->n_used);
      break;
    case TSR_MAP_COVERAGE:
      for (guint t = 0; t < nt; t++)
        {
          guint c = 0;
          for (guint f = 0; f < n; f++)
            c += w->used[f] && tsr_map_frame_covers (a, f, t);
          m->v[t] = c;
        }
      m->lo = 0;
      m->hi = MAX (w->n_used, 1);
      m->title = g_strdup_printf (_("Coverage: used frames over the tile, of %u"), w->n_used);
      break;
    case TSR_MAP_CLUSTERS:
      m->n_classes = w->n_clusters;
      if (w->n_clusters <= 0)
        {
          m->title = g_strdup (_("Clusters"));
          m->note = g_strdup_printf (_("Clusters are off (cluster.mode, or fewer than cluster.auto_min = %d frames)"),
                                     a->params.cluster_auto_min);
          break;
        }
      {
        g_autofree double *share = g_new (double, w->n_clusters);
        for (guint t = 0; t < nt; t++)
          {
            memset (share, 0, sizeof (double) * w->n_clusters);
            for (guint f = 0; f < n; f++)
              if (w->used[f] && w->cluster[f] >= 0 && w->cluster[f] < w->n_clusters)
                share[w->cluster[f]] += w->w[(gsize) f * nt + t];
            int best = -1;
            for (int k = 0; k < w->n_clusters; k++)
              if (share[k] > 0 && (best < 0 || share[k] > share[best]))
                best = k;
            m->v[t] = best >= 0 ? best : NAN;
          }
      }
      m->class_frames = g_new0 (int, w->n_clusters);
      for (guint f = 0; f < n; f++)
        if (w->used[f] && w->cluster[f] >= 0 && w->cluster[f] < w->n_clusters)
          m->class_frames[w->cluster[f]]++;
      m->lo = 0;
      m->hi = MAX (w->n_clusters - 1, 1);
      m->title = g_strdup_printf (_("Cluster with the largest weight per tile (%d clusters; frames in each in brackets)"),
                                  w->n_clusters);
      break;
    default:
      break;
    }
  m->v_min = INFINITY;
  m->v_max = -INFINITY;
  for (guint t = 0; t < nt; t++)
    if (isfinite (m->v[t]))
      {
        m->v_min = MIN (m->v_min, m->v[t]);
        m->v_max = MAX (m->v_max, m->v[t]);
      }
  if (!isfinite (m->lo) || !isfinite (m->hi) || !(m->hi > m->lo))
    {
      /* degenerate scale (one value): span what there is */
      m->lo = isfinite (m->v_min) ? m->v_min : 0;
      m->hi = isfinite (m->v_max) && m->v_max > m->lo ? m->v_max : m->lo + 1;
      if (m->log_scale && !(m->lo > 0))
        m->log_scale = FALSE;
    }
  return m;
}

void
tsr_map_free (TsrMap *m)
{
  if (!m)
    return;
  g_free (m->v);
  g_free (m->class_frames);
  g_free (m->title);
  g_free (m->note);
  g_free (m);
}

void
tsr_map_class_color (int k, double *r, double *g, double *b)
{
  /* twelve well-separated hues (a qualitative palette), repeated */
  static const guint8 pal[12][3] = {
    { 230, 25, 75 },  { 60, 180, 75 },  { 255, 225, 25 }, { 0, 130, 200 },  { 245, 130, 48 }, { 145, 30, 180 },
    { 70, 240, 240 }, { 240, 50, 230 }, { 210, 245, 60 }, { 250, 190, 212 }, { 0, 128, 128 }, { 170, 110, 40 },
  };
  const guint8 *c = pal[((k % 12) + 12) % 12];
  *r = c[0] / 255.0;
  *g = c[1] / 255.0;
  *b = c[2] / 255.0;
}

/* blue (−1) – light grey (0) – red (+1) */
static void
diverging (double t, double *r, double *g, double *b)
{
  t = CLAMP (t, -1, 1);
  const double lo[3] = { 0.23, 0.30, 0.75 }, mid[3] = { 0.87, 0.87, 0.87 }, hi[3] = { 0.71, 0.02, 0.15 };
  const double *e = t < 0 ? lo : hi;
  double u = fabs (t);
  *r = mid[0] + u * (e[0] - mid[0]);
  *g = mid[1] + u * (e[1] - mid[1]);
  *b = mid[2] + u * (e[2] - mid[2]);
}

gboolean
tsr_map_color (const TsrMap *m, double v, double *r, double *g, double *b)
{
  if (!m || !isfinite (v))
    return FALSE;
  if (m->kind == TSR_MAP_CLUSTERS)
    {
      tsr_map_class_color ((int) lround (v), r, g, b);
      return TRUE;
    }
  if (m->diverging)
    {
      diverging (v / m->hi, r, g, b);
      return TRUE;
    }
  double t;
  if (m->log_scale)
    {
      if (!(v > 0))
        return FALSE;
      t = log (v / m->lo) / log (m->hi / m->lo);
    }
  else
    t = (v - m->lo) / (m->hi - m->lo);
  tsr_colormap_viridis (CLAMP (t, 0, 1), r, g, b);
  return TRUE;
}
