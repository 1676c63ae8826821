/* test-params.c — the parameter table, parsing, cross-field checks and project files. */
#include "tsr-test-util.h"
#include "tsr-project.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static const char *const sections[] = {
  "register", "stars", "gate", "norm", "global", "tiles", "local", "reject", "drizzle", "cluster",
  "validate", "deconv", "restore", "calib", "post", "cosmetic", "run", NULL
};

static void
assert_error_mentions (GError *e, int code, const char *a, const char *b)
{
  g_assert_nonnull (e);
  g_assert_error (e, TSR_ERROR, code);
  if (a && !strstr (e->message, a))
    g_error ("error message '%s' does not mention '%s'", e->message, a);
  if (b && !strstr (e->message, b))
    g_error ("error message '%s' does not mention '%s'", e->message, b);
}

/* Every key of a and b formats the same. */
static void
assert_params_equal (const TsrProject *a, const TsrProject *b)
{
  guint n;
  n = tsr_project_n_keys ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *va = tsr_project_get_string (a, tsr_project_key (i)->key);
      g_autofree char *vb = tsr_project_get_string (b, tsr_project_key (i)->key);
      if (g_strcmp0 (va, vb) != 0)
        g_error ("%s: %s != %s", tsr_project_key (i)->key, va, vb);
    }
}

static void
test_defaults (void)
{
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  g_assert_true (tsr_project_validate (&p, &e));
  g_assert_no_error (e);
  g_assert_cmpint (p.version, ==, TSR_PARAMS_VERSION);
  g_assert_cmpfloat_with_epsilon (p.tbqr.alpha + p.tbqr.beta + p.tbqr.gamma, 1.0, 1e-12);
  g_assert_cmpfloat (p.run.memory_budget_mb, ==, 2048.0);
  g_assert_cmpint (p.tbqr.reject, ==, TSR_REJECT_SIGMA);
  g_assert_cmpint (p.tbqr.norm, ==, TSR_NORM_ADDITIVE_SCALE);
  g_assert_cmpint (p.tbqr.reg.model, ==, TSR_MODEL_SIMILARITY);
  g_assert_cmpint (p.tbqr.reg.reference, ==, -1);
  g_assert_false (p.tbqr.keep_gated);

  g_autofree char *s = tsr_project_get_string (&p, "register.model");
  g_assert_cmpstr (s, ==, "similarity");
  g_autofree char *r = tsr_project_get_string (&p, "register.reference");
  g_assert_cmpstr (r, ==, "-1");
  g_autofree char *a = tsr_project_get_string (&p, "global.alpha");
  g_assert_cmpstr (a, ==, "0.4");
  g_autofree char *b = tsr_project_get_string (&p, "local.background");
  g_assert_cmpstr (b, ==, "-0.3");
  g_assert_null (tsr_project_get_string (&p, "no.such"));
}

static void
test_spec_table (void)
{
  guint n = tsr_project_n_keys ();
  g_assert_cmpuint (n, >=, 60);
  g_autofree guint8 *owner = g_new0 (guint8, sizeof (TsrProject));
  g_autoptr (GHashTable) keys = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) seen_sections = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < n; i++)
    {
      const TsrParamSpec *s = tsr_project_key (i);
      g_assert_nonnull (s->key);
      g_assert_true (tsr_project_find (s->key) == s);
      g_assert_true (g_hash_table_add (keys, (gpointer) s->key)); /* unique */
      const char *dot = strchr (s->key, '.');
      g_assert_nonnull (dot);
      g_assert_null (strchr (dot + 1, '.'));
      g_autofree char *sec = g_strndup (s->key, dot - s->key);
      g_assert_true (g_strv_contains (sections, sec));
      g_hash_table_add (seen_sections, (gpointer) g_intern_string (sec));
      g_assert_nonnull (s->help);
      g_assert_cmpuint (strlen (s->help), >, 5);
      g_assert_cmpfloat (s->min, <=, s->max);
      if (s->type == TSR_PARAM_ENUM)
        {
          g_assert_nonnull (s->choices);
          g_assert_cmpfloat (s->max, ==, g_strv_length ((char **) s->choices) - 1);
        }
      else
        g_assert_null (s->choices);

      /* No two keys share storage. */
      gsize size = s->type == TSR_PARAM_DOUBLE ? sizeof (double) : sizeof (int);
      TsrProject probe;
      gsize off = (gsize) ((char *) tsr_project_field (&probe, s) - (char *) &probe);
      g_assert_cmpuint (off + size, <=, sizeof (TsrProject));
      for (gsize b = 0; b < size; b++)
        {
          g_assert_cmpuint (owner[off + b], ==, 0);
          owner[off + b] = 1;
        }
    }
  g_assert_cmpuint (g_hash_table_size (seen_sections), ==, g_strv_length ((char **) sections));

  /* The keys the brief names exist with their types. */
  static const struct { const char *key; TsrParamType type; } required[] = {
    { "register.model", TSR_PARAM_ENUM }, { "register.reference", TSR_PARAM_INT },
    { "register.interp", TSR_PARAM_ENUM }, { "register.match_stars", TSR_PARAM_INT },
    { "register.tolerance", TSR_PARAM_DOUBLE }, { "register.min_matched", TSR_PARAM_INT },
    { "register.starless", TSR_PARAM_BOOL }, { "register.cc_size", TSR_PARAM_INT },
    { "stars.sigma", TSR_PARAM_DOUBLE }, { "stars.min_area", TSR_PARAM_INT },
    { "stars.max_stars", TSR_PARAM_INT }, { "stars.luma", TSR_PARAM_ENUM },
    { "gate.cc_min", TSR_PARAM_DOUBLE }, { "gate.cc_mad", TSR_PARAM_DOUBLE },
    { "gate.scale_min", TSR_PARAM_DOUBLE }, { "gate.scale_max", TSR_PARAM_DOUBLE },
    { "gate.shift_min", TSR_PARAM_DOUBLE }, { "gate.shift_mult", TSR_PARAM_DOUBLE },
    { "gate.keep_gated", TSR_PARAM_BOOL }, { "norm.mode", TSR_PARAM_ENUM },
    { "global.alpha", TSR_PARAM_DOUBLE }, { "global.energy", TSR_PARAM_ENUM },
    { "tiles.max", TSR_PARAM_INT }, { "reject.mode", TSR_PARAM_ENUM },
    { "cluster.mode", TSR_PARAM_ENUM }, { "cluster.cap", TSR_PARAM_BOOL },
    { "deconv.sr", TSR_PARAM_INT }, { "run.threads", TSR_PARAM_INT },
    { "run.memory_mb", TSR_PARAM_DOUBLE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    {
      const TsrParamSpec *s = tsr_project_find (required[i].key);
      if (!s)
        g_error ("missing key %s", required[i].key);
      g_assert_cmpint (s->type, ==, required[i].type);
    }
}

/* A value inside the range, different from the current one where possible. */
static char *
other_value (const TsrProject *p, const TsrParamSpec *s, int variant)
{
  g_autofree char *cur = tsr_project_get_string (p, s->key);
  for (int attempt = 0; attempt < 4; attempt++)
    {
      char *v = NULL;
      double f = (double[]) { 0.37, 0.81, 0.0, 1.0 }[(attempt + variant) % 4];
      switch (s->type)
        {
        case TSR_PARAM_DOUBLE:
          {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];
            double x = s->min + f * (s->max - s->min);
            g_ascii_formatd (buf, sizeof buf, "%.6g", x);
            /* %.6g may round past a bound */
            double y = g_ascii_strtod (buf, NULL);
            if (y < s->min || y > s->max)
              continue;
            v = g_strdup (buf);
            break;
          }
        case TSR_PARAM_INT:
          v = g_strdup_printf ("%d", (int) floor (s->min + f * (s->max - s->min)));
          break;
        case TSR_PARAM_BOOL:
          v = g_strdup (strcmp (cur, "true") == 0 ? "false" : "true");
          break;
        case TSR_PARAM_ENUM:
          v = g_strdup (s->choices[(int) floor (f * s->max + 0.5)]);
          break;
        }
      if (strcmp (v, cur) != 0 || attempt == 3)
        return v;
      g_free (v);
    }
  return g_strdup (cur);
}

static void
test_roundtrip_keys (void)
{
  guint n;
  n = tsr_project_n_keys ();
  for (guint i = 0; i < n; i++)
    {
      const TsrParamSpec *s = tsr_project_key (i);
      TsrProject p;
      tsr_project_init (&p);
      g_autofree char *before = tsr_project_get_string (&p, s->key);
      g_autofree char *v = other_value (&p, s, 0);
      GError *e = NULL;
      if (!tsr_project_set (&p, s->key, v, &e))
        g_error ("%s=%s: %s", s->key, v, e->message);
      g_autofree char *got = tsr_project_get_string (&p, s->key);
      g_assert_cmpstr (got, ==, v);
      g_assert_cmpstr (got, !=, before);

      /* Through an assignment with spaces, and the same value back. */
      g_autofree char *assign = g_strdup_printf (" %s = %s ", s->key, before);
      g_assert_true (tsr_project_set_assignment (&p, assign, &e));
      g_assert_no_error (e);
      g_autofree char *back = tsr_project_get_string (&p, s->key);
      g_assert_cmpstr (back, ==, before);

      /* Only this key changed. */
      TsrProject d;
      tsr_project_init (&d);
      assert_params_equal (&p, &d);

      /* Range ends are accepted. */
      if (s->type == TSR_PARAM_DOUBLE || s->type == TSR_PARAM_INT)
        {
          char lo[G_ASCII_DTOSTR_BUF_SIZE], hi[G_ASCII_DTOSTR_BUF_SIZE];
          g_ascii_formatd (lo, sizeof lo, "%.17g", s->min);
          g_ascii_formatd (hi, sizeof hi, "%.17g", s->max);
          g_assert_true (tsr_project_set (&p, s->key, lo, &e));
          g_assert_no_error (e);
          g_assert_true (tsr_project_set (&p, s->key, hi, &e));
          g_assert_no_error (e);
          /* and come back exactly through get_string */
          g_autofree char *hs = tsr_project_get_string (&p, s->key);
          TsrProject q;
          tsr_project_init (&q);
          g_assert_true (tsr_project_set (&q, s->key, hs, &e));
          g_assert_no_error (e);
          g_autofree char *hs2 = tsr_project_get_string (&q, s->key);
          g_assert_cmpstr (hs, ==, hs2);
          if (s->type == TSR_PARAM_DOUBLE)
            g_assert_cmpfloat (*(double *) tsr_project_field (&q, s), ==, s->max);
        }
      if (s->type == TSR_PARAM_ENUM)
        for (guint c = 0; s->choices[c]; c++)
          {
            g_autofree char *up = g_ascii_strup (s->choices[c], -1);
            g_assert_true (tsr_project_set (&p, s->key, up, &e));
            g_assert_no_error (e);
            g_autofree char *name = tsr_project_get_string (&p, s->key);
            g_assert_cmpstr (name, ==, s->choices[c]);
          }
    }
}

static void
test_bool_spellings (void)
{
  TsrProject p;
  tsr_project_init (&p);
  static const char *const yes[] = { "true", "YES", "1", "On", "TRUE" };
  static const char *const no[] = { "false", "No", "0", "OFF" };
  GError *e = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      g_assert_true (tsr_project_set (&p, "gate.keep_gated", yes[i], &e));
      g_assert_no_error (e);
      g_assert_true (p.tbqr.keep_gated);
      g_assert_true (tsr_project_set (&p, "gate.keep_gated", no[0], &e));
      g_assert_false (p.tbqr.keep_gated);
    }
  for (guint i = 0; i < G_N_ELEMENTS (no); i++)
    {
      p.tbqr.reg.starless_fallback = TRUE;
      g_assert_true (tsr_project_set (&p, "register.starless", no[i], &e));
      g_assert_no_error (e);
      g_assert_false (p.tbqr.reg.starless_fallback);
    }
  g_assert_false (tsr_project_set (&p, "register.starless", "maybe", &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "register.starless", "maybe");
  g_clear_error (&e);
}

static void
test_typed_fields (void)
{
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  g_assert_true (tsr_project_set (&p, "register.model", "Homography", &e));
  g_assert_cmpint (p.tbqr.reg.model, ==, TSR_MODEL_HOMOGRAPHY);
  g_assert_true (tsr_project_set (&p, "register.interp", "bilinear", &e));
  g_assert_cmpint (p.tbqr.reg.interp, ==, TSR_INTERP_BILINEAR);
  g_assert_true (tsr_project_set (&p, "stars.luma", "green", &e));
  g_assert_cmpint (p.tbqr.reg.stars.luma, ==, TSR_LUMA_GREEN);
  g_assert_true (tsr_project_set (&p, "register.tolerance", "3.5", &e));
  g_assert_cmpfloat (p.tbqr.reg.match_tolerance_px, ==, 3.5);
  g_assert_true (tsr_project_set (&p, "stars.max_stars", "777", &e));
  g_assert_cmpuint (p.tbqr.reg.stars.max_stars, ==, 777);
  g_assert_true (tsr_project_set (&p, "gate.cc_min", "-0.25", &e));
  g_assert_cmpfloat (p.tbqr.reg.reject_cc_min_abs, ==, -0.25);
  g_assert_true (tsr_project_set (&p, "norm.mode", "divide", &e));
  g_assert_cmpint (p.tbqr.norm, ==, TSR_NORM_DIVIDE_BACKGROUND);
  g_assert_true (tsr_project_set (&p, "reject.mode", "winsor", &e));
  g_assert_cmpint (p.tbqr.reject, ==, TSR_REJECT_WINSOR);
  g_assert_true (tsr_project_set (&p, "cluster.mode", "on", &e));
  g_assert_cmpint (p.tbqr.clusters, ==, TSR_CLUSTER_ON);
  g_assert_true (tsr_project_set (&p, "global.energy", "paper", &e));
  g_assert_cmpint (p.tbqr.energy, ==, TSR_ENERGY_PAPER);
  g_assert_true (tsr_project_set (&p, "run.threads", "4", &e));
  g_assert_cmpuint (p.run.n_threads, ==, 4);
  g_assert_cmpuint (p.tbqr.reg.n_threads, ==, 4);
  g_assert_true (tsr_project_set (&p, "run.memory_mb", "512", &e));
  g_assert_cmpfloat (p.run.memory_budget_mb, ==, 512);
  g_assert_cmpuint (p.tbqr.reg.memory_budget, ==, (gsize) 512 * 1024 * 1024);
  g_assert_true (tsr_project_set (&p, "tiles.overlap", "7.5e-1", &e));
  g_assert_cmpfloat (p.tbqr.tile_overlap, ==, 0.75);
  g_assert_no_error (e);
}

static void
test_bad_values (void)
{
  guint n;
  n = tsr_project_n_keys ();
  for (guint i = 0; i < n; i++)
    {
      const TsrParamSpec *s = tsr_project_key (i);
      TsrProject p, d;
      tsr_project_init (&p);
      tsr_project_init (&d);
      GError *e = NULL;

      static const char *const junk[] = { "", "   ", "abc", "1.5x", "x1", "nan", "inf",
                                          "-inf", "1e999", "0x", "\xff\xfe", "1,5",
                                          "--1", "maybe" };
      for (guint j = 0; j < G_N_ELEMENTS (junk); j++)
        {
          if (s->type == TSR_PARAM_ENUM || s->type == TSR_PARAM_BOOL)
            if (strcmp (junk[j], "1") == 0)
              continue;
          g_assert_false (tsr_project_set (&p, s->key, junk[j], &e));
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, s->key, NULL);
          g_assert_true (g_utf8_validate (e->message, -1, NULL));
          g_clear_error (&e);
        }
      if (s->type == TSR_PARAM_DOUBLE || s->type == TSR_PARAM_INT)
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          double above = s->max + fmax (1.0, fabs (s->max));
          double below = s->min - fmax (1.0, fabs (s->min));
          g_ascii_formatd (buf, sizeof buf, "%.17g", s->type == TSR_PARAM_INT ? floor (above) : above);
          g_assert_false (tsr_project_set (&p, s->key, buf, &e));
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, s->key, "out of range");
          g_autofree char *lo = NULL;
          g_autofree char *hi = NULL;
          {
            char b1[G_ASCII_DTOSTR_BUF_SIZE], b2[G_ASCII_DTOSTR_BUF_SIZE];
            lo = g_strdup (g_ascii_formatd (b1, sizeof b1, "%.15g", s->min));
            hi = g_strdup (g_ascii_formatd (b2, sizeof b2, "%.15g", s->max));
          }
          g_autofree char *range = g_strdup_printf ("(allowed %s … %s)", lo, hi);
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, range, NULL);
          g_clear_error (&e);
          g_ascii_formatd (buf, sizeof buf, "%.17g", s->type == TSR_PARAM_INT ? floor (below) : below);
          g_assert_false (tsr_project_set (&p, s->key, buf, &e));
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, s->key, "out of range");
          g_clear_error (&e);
          g_assert_false (tsr_project_set (&p, s->key, "99999999999999999999999", &e));
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, s->key, NULL);
          g_clear_error (&e);
        }
      if (s->type == TSR_PARAM_INT)
        {
          g_assert_false (tsr_project_set (&p, s->key, "2.5", &e));
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, s->key, "integer");
          g_clear_error (&e);
        }
      if (s->type == TSR_PARAM_ENUM)
        {
          g_assert_false (tsr_project_set (&p, s->key, "nonesuch", &e));
          assert_error_mentions (e, TSR_ERROR_INVALID_ARG, s->key, s->choices[0]);
          g_clear_error (&e);
        }
      /* A failed set changes nothing. */
      assert_params_equal (&p, &d);
    }

  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  g_assert_false (tsr_project_set (&p, "global.alpha", "1.5", &e));
  g_assert_cmpstr (e->message, ==, "global.alpha = 1.5 is out of range (allowed 0 … 1)");
  g_clear_error (&e);
  g_assert_false (tsr_project_set (&p, "global.alpha", NULL, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "global.alpha", NULL);
  g_clear_error (&e);
}

static void
test_unknown_key (void)
{
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  g_assert_false (tsr_project_set (&p, "x.y", "1", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_assert_cmpstr (e->message, ==,
                   "unknown parameter 'x.y' (see tessera-cli process --help or docs/parameters.md)");
  g_clear_error (&e);
  g_assert_null (tsr_project_find ("x.y"));
  g_assert_null (tsr_project_find (NULL));
  g_assert_null (tsr_project_find ("global"));
  g_assert_null (tsr_project_find ("global.alpha.x"));

  g_assert_false (tsr_project_set_assignment (&p, "x.y=3", &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "'x.y'", NULL);
  g_clear_error (&e);
  g_assert_false (tsr_project_set_assignment (&p, "global.alpha", &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "global.alpha", "key=value");
  g_clear_error (&e);
  g_assert_false (tsr_project_set_assignment (&p, "=1", &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&e);
  /* The first '=' splits. */
  g_assert_false (tsr_project_set_assignment (&p, "global.alpha=0.5=1", &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "global.alpha", NULL);
  g_clear_error (&e);
  g_assert_true (tsr_project_set_assignment (&p, "global.alpha=0.5", &e));
  g_assert_no_error (e);
  g_assert_cmpfloat (p.tbqr.alpha, ==, 0.5);
}

static void
test_validate (void)
{
  TsrProject p;
  GError *e = NULL;

  tsr_project_init (&p);
  g_assert_true (tsr_project_set (&p, "global.alpha", "0.5", &e));
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "global.alpha", "1.1");
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "global.beta", "global.gamma");
  g_clear_error (&e);
  g_assert_true (tsr_project_set (&p, "global.beta", "0.2", &e));
  g_assert_true (tsr_project_validate (&p, &e));
  g_assert_no_error (e);
  /* Within 1e-6 */
  p.tbqr.gamma += 5e-7;
  g_assert_true (tsr_project_validate (&p, NULL));
  p.tbqr.gamma += 5e-6;
  g_assert_false (tsr_project_validate (&p, NULL));

  tsr_project_init (&p);
  g_assert_true (tsr_project_set (&p, "tiles.min", "256", &e));
  g_assert_true (tsr_project_validate (&p, &e)); /* max = 0 → automatic */
  g_assert_true (tsr_project_set (&p, "tiles.max", "128", &e));
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "tiles.min", "tiles.max");
  g_clear_error (&e);

  tsr_project_init (&p);
  g_assert_true (tsr_project_set (&p, "cluster.k_min", "40", &e));
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "cluster.k_min", "cluster.k_max");
  g_clear_error (&e);

  tsr_project_init (&p);
  tsr_project_set (&p, "local.fwhm", "0", NULL);
  tsr_project_set (&p, "local.roundness", "0", NULL);
  tsr_project_set (&p, "local.contrast", "0", NULL);
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "local.fwhm", NULL);
  g_clear_error (&e);

  tsr_project_init (&p);
  tsr_project_set (&p, "local.energy", "0", NULL);
  tsr_project_set (&p, "local.background", "0", NULL);
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "local.energy", NULL);
  g_clear_error (&e);

  tsr_project_init (&p);
  tsr_project_set (&p, "local.cap", "0.5", NULL);
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "local.cap", NULL);
  g_clear_error (&e);

  /* Fields written directly by code are range-checked too. */
  tsr_project_init (&p);
  p.tbqr.reg.reject_scale_min = 1.2;
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "gate.scale_min", NULL);
  g_clear_error (&e);
  tsr_project_init (&p);
  p.tbqr.reject = 7;
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "reject.mode", NULL);
  g_clear_error (&e);
  tsr_project_init (&p);
  p.tbqr.tile_overlap = NAN;
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "tiles.overlap", NULL);
  g_clear_error (&e);
  /* restore.blind learns pixel-grid PSFs: not with the sub-pixel latent */
  tsr_project_init (&p);
  p.restore.blind = TRUE;
  p.restore.subpixel = 2;
  g_assert_false (tsr_project_validate (&p, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "restore.subpixel", NULL);
  g_clear_error (&e);
  p.restore.subpixel = 1;
  g_assert_true (tsr_project_validate (&p, NULL));
}

static void
test_history (void)
{
  TsrProject p;
  tsr_project_init (&p);
  tsr_project_set (&p, "reject.mode", "winsor", NULL);
  g_autofree char *h = tsr_project_history (&p);
  g_assert_true (g_str_has_prefix (h, "Tessera params v1: "));
  g_assert_null (strchr (h, '\n'));
  g_assert_nonnull (strstr (h, " reject.mode=winsor"));
  g_assert_nonnull (strstr (h, " global.alpha=0.4"));
  guint n;
  n = tsr_project_n_keys ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *needle = g_strdup_printf (" %s=", tsr_project_key (i)->key);
      g_assert_nonnull (strstr (h, needle));
    }
}

/* Parameters with every key away from its default (and still valid). */
static void
nondefault_params (TsrProject *p)
{
  tsr_project_init (p);
  guint n;
  n = tsr_project_n_keys ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *v = other_value (p, tsr_project_key (i), 1);
      g_assert_true (tsr_project_set (p, tsr_project_key (i)->key, v, NULL));
    }
  /* Restore the cross-field rules. */
  g_assert_true (tsr_project_set (p, "global.alpha", "0.25", NULL));
  g_assert_true (tsr_project_set (p, "global.beta", "0.35", NULL));
  g_assert_true (tsr_project_set (p, "global.gamma", "0.4", NULL));
  g_assert_true (tsr_project_set (p, "tiles.min", "100", NULL));
  g_assert_true (tsr_project_set (p, "tiles.max", "3000", NULL));
  g_assert_true (tsr_project_set (p, "cluster.k_min", "7", NULL));
  g_assert_true (tsr_project_set (p, "cluster.k_max", "50", NULL));
  g_assert_true (tsr_project_set (p, "register.min_matched", "5", NULL));
  g_assert_true (tsr_project_set (p, "local.cap", "8", NULL));
  /* restore.blind learns one PSF per frame: only with restore.psf_regions=1 and
   * restore.subpixel=1 */
  g_assert_true (tsr_project_set (p, "restore.blind", "false", NULL));
  GError *e = NULL;
  if (!tsr_project_validate (p, &e))
    g_error ("nondefault params do not validate: %s", e->message);
}

static char *
write_text (const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename (dir, name, NULL);
  tsr_test_write_file (path, text, strlen (text));
  return path;
}

static void
test_project_roundtrip (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params");
  g_autofree char *path = g_build_filename (dir, "night.tessera", NULL);
  TsrProject p, q;
  nondefault_params (&p);
  const char *const paths[] = { "/data/lights", "/data/odd;name with space", NULL };
  GError *e = NULL;
  g_assert_true (tsr_project_save (path, &p, paths, &e));
  g_assert_no_error (e);

  g_autofree char *text = tsr_test_read_file (path, NULL);
  g_assert_nonnull (strstr (text, "[tessera]\nversion=1\n"));
  g_assert_nonnull (strstr (text, "[session]\npaths="));
  g_assert_nonnull (strstr (text, "[gate]\n"));
  g_assert_nonnull (strstr (text, "[run]\n"));

  tsr_project_init (&q);
  g_auto (GStrv) got = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (tsr_project_load (path, &q, &got, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 0);
  assert_params_equal (&p, &q);
  g_assert_cmpuint (q.tbqr.reg.n_threads, ==, q.run.n_threads);
  g_assert_nonnull (got);
  g_assert_cmpuint (g_strv_length (got), ==, 2);
  g_assert_cmpstr (got[0], ==, paths[0]);
  g_assert_cmpstr (got[1], ==, paths[1]);

  /* Saving again gives the same bytes. */
  g_autofree char *path2 = g_build_filename (dir, "again.tessera", NULL);
  g_assert_true (tsr_project_save (path2, &q, (const char *const *) got, &e));
  g_assert_true (tsr_test_files_equal (path, path2));

  /* No session paths; NULL out-arguments. */
  g_assert_true (tsr_project_save (path, &p, NULL, &e));
  g_auto (GStrv) none = NULL;
  g_assert_true (tsr_project_load (path, &q, &none, NULL, &e));
  g_assert_no_error (e);
  g_assert_nonnull (none);
  g_assert_cmpuint (g_strv_length (none), ==, 0);
  g_assert_true (tsr_project_load (path, &q, NULL, NULL, &e));

  /* Defaults round-trip too, and a sparse file fills in defaults. */
  TsrProject d;
  tsr_project_init (&d);
  g_assert_true (tsr_project_save (path, &d, NULL, &e));
  g_assert_true (tsr_project_load (path, &q, NULL, NULL, &e));
  assert_params_equal (&d, &q);
  g_autofree char *sparse = write_text (dir, "sparse.tessera",
                                        "[tessera]\nversion=1\n[reject]\nkappa=2.5\n");
  g_assert_true (tsr_project_load (sparse, &q, NULL, NULL, &e));
  g_assert_no_error (e);
  g_assert_cmpfloat (q.tbqr.reject_kappa, ==, 2.5);
  g_assert_cmpfloat (q.tbqr.alpha, ==, 0.4);

  /* Values that %.6g would round come back exactly (three thirds still sum to 1). */
  tsr_project_init (&d);
  d.tbqr.alpha = d.tbqr.beta = 1.0 / 3.0;
  d.tbqr.gamma = 1.0 - d.tbqr.alpha - d.tbqr.beta;
  d.tbqr.reg.match_tolerance_px = 1.23456789;
  g_assert_true (tsr_project_save (path, &d, NULL, &e));
  g_assert_true (tsr_project_load (path, &q, NULL, NULL, &e));
  g_assert_no_error (e);
  g_assert_cmpfloat (q.tbqr.alpha, ==, d.tbqr.alpha);
  g_assert_cmpfloat (q.tbqr.gamma, ==, d.tbqr.gamma);
  g_assert_cmpfloat (q.tbqr.reg.match_tolerance_px, ==, 1.23456789);

  /* Saving into a missing folder fails cleanly. */
  g_autofree char *bad = g_build_filename (dir, "no", "such", "x.tessera", NULL);
  g_assert_false (tsr_project_save (bad, &d, NULL, &e));
  g_assert_nonnull (e);
  g_clear_error (&e);

  tsr_test_rmtree (dir);
}

static void
test_project_relative_paths (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params");
  g_autofree char *sub = g_build_filename (dir, "proj", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_autofree char *path = write_text (sub, "p.tessera",
                                      "[tessera]\nversion=1\n"
                                      "[session]\npaths=lights;../darks;/abs/flats;./a/b/;\n"
                                      "recursive=true\n");
  g_auto (GStrv) got = NULL;
  TsrProject p;
  GError *e = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (tsr_project_load (path, &p, &got, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 0);
  g_assert_cmpuint (g_strv_length (got), ==, 4);
  g_autofree char *want0 = g_build_filename (sub, "lights", NULL);
  g_autofree char *want1 = g_build_filename (dir, "darks", NULL);
  g_autofree char *want3 = g_build_filename (sub, "a", "b", NULL);
  g_assert_cmpstr (got[0], ==, want0);
  g_assert_cmpstr (got[1], ==, want1);
  g_assert_cmpstr (got[2], ==, "/abs/flats");
  g_assert_cmpstr (got[3], ==, want3);

  /* A relative project path resolves against the current folder. */
  g_autofree char *cwd = g_get_current_dir ();
  g_assert_cmpint (g_chdir (dir), ==, 0);
  g_auto (GStrv) got2 = NULL;
  gboolean ok = tsr_project_load ("proj/p.tessera", &p, &got2, NULL, &e);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_true (ok);
  g_assert_no_error (e);
  g_assert_cmpstr (got2[0], ==, want0);
  g_assert_cmpstr (got2[1], ==, want1);

  tsr_test_rmtree (dir);
}

static void
test_project_bad_files (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params");
  TsrProject p, before;
  nondefault_params (&p);
  before = p;
  GError *e = NULL;
  g_auto (GStrv) paths = NULL;

  /* Missing file */
  g_autofree char *missing = g_build_filename (dir, "missing.tessera", NULL);
  g_assert_false (tsr_project_load (missing, &p, &paths, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_NOT_FOUND, missing, NULL);
  g_clear_error (&e);
  g_assert_null (paths);

  /* A folder */
  g_assert_false (tsr_project_load (dir, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_FORMAT, dir, NULL);
  g_clear_error (&e);

  /* Garbage text: names the file and the line */
  g_autofree char *garbage = write_text (dir, "garbage.tessera",
                                         "[tessera]\nversion=1\nthis is not a key file\n");
  g_assert_false (tsr_project_load (garbage, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_FORMAT, garbage, "line 3");
  g_clear_error (&e);

  /* Empty file */
  g_autofree char *empty = write_text (dir, "empty.tessera", "");
  g_assert_false (tsr_project_load (empty, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_FORMAT, empty, NULL);
  g_clear_error (&e);

  /* Another key file */
  g_autofree char *other = write_text (dir, "other.ini", "[Desktop Entry]\nName=x\n");
  g_assert_false (tsr_project_load (other, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_FORMAT, other, "[tessera]");
  g_clear_error (&e);

  /* Binary junk */
  g_autofree char *junk = g_build_filename (dir, "junk.tessera", NULL);
  GRand *rand = g_rand_new_with_seed (42);
  for (int round = 0; round < 50; round++)
    {
      guint len = g_rand_int_range (rand, 1, 2000);
      g_autofree guint8 *buf = g_malloc (len);
      for (guint i = 0; i < len; i++)
        buf[i] = (guint8) g_rand_int (rand);
      tsr_test_write_file (junk, buf, len);
      g_assert_false (tsr_project_load (junk, &p, NULL, NULL, &e));
      g_assert_nonnull (e);
      g_assert_true (g_utf8_validate (e->message, -1, NULL));
      g_assert_nonnull (strstr (e->message, junk));
      g_clear_error (&e);
    }

  /* Future version */
  g_autofree char *future = write_text (dir, "future.tessera", "[tessera]\nversion=2\n");
  g_assert_false (tsr_project_load (future, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_FORMAT, future, "newer");
  g_clear_error (&e);
  g_autofree char *badver = write_text (dir, "badver.tessera", "[tessera]\nversion=one\n");
  g_assert_false (tsr_project_load (badver, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_FORMAT, badver, "version");
  g_clear_error (&e);

  /* Out-of-range value: error naming the file, the key and the range */
  g_autofree char *range = write_text (dir, "range.tessera",
                                       "[tessera]\nversion=1\n[global]\nalpha=1.5\n");
  g_assert_false (tsr_project_load (range, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, range, "global.alpha");
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "0 … 1", NULL);
  g_clear_error (&e);

  /* Unparsable value */
  g_autofree char *unp = write_text (dir, "unp.tessera",
                                     "[tessera]\nversion=1\n[tiles]\nmin=big\n");
  g_assert_false (tsr_project_load (unp, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, unp, "tiles.min");
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, "16 … 4096", NULL);
  g_clear_error (&e);

  /* Values fine one by one but not together */
  g_autofree char *sum = write_text (dir, "sum.tessera",
                                     "[tessera]\nversion=1\n[global]\nalpha=0.9\n");
  g_assert_false (tsr_project_load (sum, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_INVALID_ARG, sum, "global.alpha");
  g_clear_error (&e);

  /* Too large */
  g_autofree char *big = g_build_filename (dir, "big.tessera", NULL);
  {
    gsize len = 1024 * 1024 + 100;
    g_autofree char *text = g_malloc (len);
    memset (text, '#', len);
    memcpy (text, "[tessera]\nversion=1\n#", 21);
    text[len - 1] = '\n';
    tsr_test_write_file (big, text, len);
  }
  g_assert_false (tsr_project_load (big, &p, NULL, NULL, &e));
  assert_error_mentions (e, TSR_ERROR_TOO_LARGE, big, NULL);
  g_clear_error (&e);

  /* Nothing failed above changed p. */
  assert_params_equal (&p, &before);

  tsr_test_rmtree (dir);
  g_rand_free (rand);
}

static void
test_project_unknown_keys (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params");
  g_autofree char *path = write_text (dir, "u.tessera",
                                      "# a comment\n[tessera]\nversion=1\ncreator=someone\n"
                                      "[global]\nalpha=0.5\nbeta=0.25\ngamma=0.25\nfoo=1\n"
                                      "[bogus]\nx=1\n[session]\npaths=a\nwhat=1\n");
  TsrProject p;
  GError *e = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (tsr_project_load (path, &p, NULL, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpfloat (p.tbqr.alpha, ==, 0.5);
  g_assert_cmpuint (warnings->len, ==, 4);
  g_autofree char *w_foo = g_strdup_printf ("%s: unknown key [global] foo (ignored)", path);
  gboolean found = FALSE;
  for (guint i = 0; i < warnings->len; i++)
    {
      const char *w = g_ptr_array_index (warnings, i);
      g_assert_nonnull (strstr (w, path));
      found |= strcmp (w, w_foo) == 0;
    }
  g_assert_true (found);
  /* NULL warnings is fine. */
  g_assert_true (tsr_project_load (path, &p, NULL, NULL, &e));
  g_assert_no_error (e);
  tsr_test_rmtree (dir);
}

/* Mutated valid projects never crash; a successful load is always valid. */
static void
test_project_mutations (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params");
  g_autofree char *path = g_build_filename (dir, "m.tessera", NULL);
  TsrProject p;
  nondefault_params (&p);
  const char *const paths[] = { "x", "/y", NULL };
  g_assert_true (tsr_project_save (path, &p, paths, NULL));
  gsize len = 0;
  g_autofree char *orig = tsr_test_read_file (path, &len);
  GRand *rand = g_rand_new_with_seed (7);
  static const char alphabet[] = "[]=;#\\\n 0123456789.-eE\xc3\xa9xyz\0";
  guint n_ok = 0;
  for (int round = 0; round < 400; round++)
    {
      g_autofree char *buf = g_memdup2 (orig, len);
      gsize blen = len;
      int edits = g_rand_int_range (rand, 1, 6);
      for (int k = 0; k < edits; k++)
        {
          gsize at = g_rand_int_range (rand, 0, (gint32) blen);
          switch (g_rand_int_range (rand, 0, 3))
            {
            case 0:
              buf[at] = alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];
              break;
            case 1:
              buf[at] = (char) g_rand_int (rand);
              break;
            default:
              blen = at; /* truncate */
              if (blen == 0)
                blen = 1;
              break;
            }
        }
      tsr_test_write_file (path, buf, blen);
      TsrProject q;
      tsr_project_init (&q);
      GError *e = NULL;
      g_auto (GStrv) got = NULL;
      g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
      if (tsr_project_load (path, &q, &got, warnings, &e))
        {
          g_assert_no_error (e);
          g_assert_true (tsr_project_validate (&q, NULL));
          g_assert_nonnull (got);
          n_ok++;
        }
      else
        {
          g_assert_nonnull (e);
          g_assert_true (g_utf8_validate (e->message, -1, NULL));
          g_assert_null (got);
          g_clear_error (&e);
        }
    }
  g_test_message ("%u of 400 mutated projects loaded", n_ok);
  g_rand_free (rand);
  tsr_test_rmtree (dir);
}

/* A project file written by the parameter code before it was split into one struct per job
 * (tests/data/project-v1.tessera, with its FITS history line) loads to the same values:
 * every key in the file reads back as written, the jobs' structs hold them, and the history
 * line is byte-identical. */
/* A history line without the keys added after tests/data/project-v1.history was written. */
static char *
without_later_keys (const char *line)
{
  static const char *const later[] = { "restore.", "calib.", "drizzle.", "local.psf_size=", "local.feather=",
                                       "post.", "cosmetic.", "norm.demosaic=", "run.cache_disk_mb=", "deconv.flux_anchor=",
                                       "global.per_channel=", "stars.bg_decimate=" };
  g_auto (GStrv) tok = g_strsplit (line, " ", -1);
  GString *hs = g_string_new (NULL);
  for (guint i = 0; tok[i]; i++)
    {
      gboolean keep = TRUE;
      for (guint k = 0; k < G_N_ELEMENTS (later); k++)
        keep &= !g_str_has_prefix (tok[i], later[k]);
      if (keep)
        g_string_append_printf (hs, "%s%s", hs->len ? " " : "", tok[i]);
    }
  return g_string_free (hs, FALSE);
}

static void
test_project_before_split (void)
{
  const char *root = g_getenv ("TSR_SOURCE_ROOT");
  if (!root)
    {
      g_test_skip ("TSR_SOURCE_ROOT not set (run through meson test)");
      return;
    }
  g_autofree char *path = g_build_filename (root, "tests", "data", "project-v1.tessera", NULL);
  g_autofree char *hpath = g_build_filename (root, "tests", "data", "project-v1.history", NULL);
  TsrProject p;
  tsr_project_init (&p);
  g_auto (GStrv) paths = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  GError *e = NULL;
  g_assert_true (tsr_project_load (path, &p, &paths, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 0);
  g_assert_cmpuint (g_strv_length (paths), ==, 2);
  g_assert_cmpstr (paths[0], ==, "/data/session-a");

  /* every key=value of the file, read back through the project */
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &e));
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  guint checked = 0;
  for (guint gi = 0; groups[gi]; gi++)
    {
      if (!strcmp (groups[gi], "tessera") || !strcmp (groups[gi], "session"))
        continue;
      g_auto (GStrv) keys = g_key_file_get_keys (kf, groups[gi], NULL, NULL);
      for (guint k = 0; keys[k]; k++)
        {
          g_autofree char *key = g_strconcat (groups[gi], ".", keys[k], NULL);
          g_autofree char *want = g_key_file_get_value (kf, groups[gi], keys[k], NULL);
          g_autofree char *got = tsr_project_get_string (&p, key);
          g_assert_cmpstr (got, ==, want);
          checked++;
        }
    }
  /* keys added after the file was written load to their defaults: those of issue 12 and those
   * of jobs added later (restore.*, calib.*) */
  static const char *const newer[] = { "deconv.solver", "deconv.stop_rel", "deconv.pedestal", "deconv.mask_saturated",
                                       "deconv.gain_auto", "deconv.smooth", "deconv.smooth_sigma", "deconv.bright_floor",
                                       "deconv.target_fwhm", "deconv.fit_scale", "deconv.faint_floor", "deconv.flux_anchor",
                                       "local.psf_size", "local.feather", "drizzle.mode", "drizzle.scale",
                                       "drizzle.pixfrac", "drizzle.min_frames", "drizzle.min_coverage",
                                       "norm.demosaic", "run.cache_disk_mb", "global.per_channel",
                                       "stars.bg_decimate" };
  TsrProject defaults;
  tsr_project_init (&defaults);
  for (guint i = 0; i < G_N_ELEMENTS (newer); i++)
    {
      g_autofree char *got = tsr_project_get_string (&p, newer[i]);
      g_autofree char *def = tsr_project_get_string (&defaults, newer[i]);
      g_assert_nonnull (got);
      g_assert_cmpstr (got, ==, def);
    }
  guint n_later, n_calib, n_post;
  tsr_restore_params_specs (&n_later);
  tsr_calib_params_specs (&n_calib);
  tsr_post_params_specs (&n_post);
  g_assert_cmpuint (checked + G_N_ELEMENTS (newer), ==, tsr_project_n_keys () - n_later - n_calib - n_post);
  TsrPostParams pdef;
  tsr_post_params_init (&pdef);
  g_assert_true (memcmp (&pdef, &p.post, sizeof pdef) == 0);
  TsrRestoreParams rdef;
  tsr_restore_params_init (&rdef);
  g_assert_true (memcmp (&rdef, &p.restore, sizeof rdef) == 0);
  TsrCalibParams cdef;
  tsr_calib_params_init (&cdef);
  g_assert_true (memcmp (&cdef, &p.calib, sizeof cdef) == 0);
  /* and no calibration inputs */
  {
    TsrProject q;
    char *cal[TSR_CALIB_N_KINDS] = { (char *) "x", (char *) "x", (char *) "x", (char *) "x" };
    g_assert_true (tsr_project_load_full (path, &q, NULL, NULL, cal, NULL, &e));
    for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
      g_assert_null (cal[k]);
  }

  /* the values sit in the jobs' own structs */
  g_assert_cmpint (p.tbqr.reg.model, ==, TSR_MODEL_AFFINE);
  g_assert_cmpfloat (p.tbqr.alpha, ==, 0.5);
  g_assert_cmpint (p.tbqr.reject, ==, TSR_REJECT_WINSOR);
  g_assert_cmpint (p.deconv.iterations, ==, 35);
  g_assert_cmpint (p.deconv.seed, ==, TSR_DECONV_SEED_TBQR);
  g_assert_cmpint (p.deconv.color, ==, TSR_DECONV_COLOR_CFA);
  g_assert_cmpuint (p.run.n_threads, ==, 2);
  g_assert_false (p.run.frame_cache);
  g_assert_cmpuint (p.tbqr.reg.n_threads, ==, 2);          /* derived from run.threads */

  g_autofree char *hist_before = NULL;
  g_assert_true (g_file_get_contents (hpath, &hist_before, NULL, &e));
  g_strchomp (hist_before);
  g_autofree char *hist_all = tsr_project_history (&p);
  /* the same line once the keys of the jobs and of the TBQR keys added later are left out */
  g_autofree char *hist = without_later_keys (hist_all);
  g_assert_cmpstr (hist, ==, hist_before);
  /* the deconvolution's own history names every key it reads, in the same order */
  g_autofree char *dh_all = tsr_deconv_params_history (&p.deconv, &p.tbqr, &p.run);
  g_autofree char *dh = without_later_keys (dh_all);
  g_assert_cmpstr (dh, ==, hist_before);
  /* a TBQR result lists the TBQR and run keys only */
  g_autofree char *th = tsr_tbqr_params_history (&p.tbqr, &p.run);
  g_assert_null (strstr (th, "deconv."));
  g_assert_nonnull (strstr (th, " run.cache=false"));
}


/* [frames] include/exclude (issue #13): written only when there are choices, read back with
 * relative paths against the project's folder, mapped onto a session's frames; a project
 * without the group (project-v1.tessera, written before it existed) loads with none. */
static void
test_project_frames (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params-frames");
  g_autofree char *a = g_build_filename (dir, "a.fits", NULL);
  g_autofree char *b = g_build_filename (dir, "b;c.fits", NULL);
  g_autofree char *proj = g_build_filename (dir, "p.tessera", NULL);
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  char *inc[] = { a, NULL }, *exc[] = { b, NULL };
  TsrFrameChoices c = { inc, exc };
  const char *paths[] = { dir, NULL };
  g_assert_true (tsr_project_save_full (proj, &p, paths, &c, NULL, &e));
  g_assert_no_error (e);
  g_auto (TsrFrameChoices) back = { NULL, NULL };
  g_auto (GStrv) sp = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (tsr_project_load_full (proj, &p, &sp, &back, NULL, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 0);
  g_assert_cmpuint (g_strv_length (back.include), ==, 1);
  g_assert_cmpstr (back.include[0], ==, a);
  g_assert_cmpuint (g_strv_length (back.exclude), ==, 1);
  g_assert_cmpstr (back.exclude[0], ==, b);   /* the ';' in the name survives */
  /* the plain loader reads the group without a warning (and drops it) */
  g_assert_true (tsr_project_load (proj, &p, NULL, warnings, &e));
  g_assert_cmpuint (warnings->len, ==, 0);

  /* relative paths are the project folder's; unknown keys warn */
  const char *text = "[tessera]\nversion=1\n[frames]\nexclude=sub/x.fits;\nwhat=1\n";
  tsr_test_write_file (proj, text, strlen (text));
  tsr_frame_choices_clear (&back);
  g_assert_true (tsr_project_load_full (proj, &p, NULL, &back, NULL, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_autofree char *x = g_build_filename (dir, "sub", "x.fits", NULL);
  g_assert_cmpstr (back.exclude[0], ==, x);
  g_assert_null (back.include);

  /* without choices nothing is written: a file as before */
  g_assert_true (tsr_project_save_full (proj, &p, paths, NULL, NULL, &e));
  gsize len = 0;
  g_autofree char *saved = tsr_test_read_file (proj, &len);
  g_assert_null (strstr (saved, "[frames]"));

  /* an old project loads with no choices */
  const char *root = g_getenv ("TSR_SOURCE_ROOT");
  if (root)
    {
      g_autofree char *v1 = g_build_filename (root, "tests", "data", "project-v1.tessera", NULL);
      TsrFrameChoices old = { NULL, NULL };
      g_assert_true (tsr_project_load_full (v1, &p, NULL, &old, NULL, NULL, &e));
      g_assert_no_error (e);
      g_assert_null (old.include);
      g_assert_null (old.exclude);
    }

  /* onto a session: by canonical path; a path in both lists is excluded */
  TsrSynthParams syp;
  tsr_synth_params_init (&syp);
  syp.n_frames = 3;
  syp.width = 64;
  syp.height = 48;
  syp.n_mirrored = syp.n_noise = syp.n_trails = 0;
  TsrSynthTruth *truth = tsr_synth_write_session (&syp, dir, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  tsr_synth_truth_free (truth);
  TsrScanOptions so = { 0 };
  const char *sess[] = { dir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (sess, &so, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 3);
  g_autofree char *f0 = g_strdup (tsr_session_frame (s, 0)->path);
  g_autofree char *f1 = g_build_filename (dir, ".", tsr_session_frame (s, 1)->name, NULL);
  char *inc2[] = { f0, f1, NULL }, *exc2[] = { f1, x, NULL };
  TsrFrameChoices c2 = { inc2, exc2 };
  guint unmatched = 0;
  g_autofree guint8 *arr = tsr_frame_choices_for_session (&c2, s, &unmatched);
  g_assert_cmpint (arr[0], ==, TSR_FRAME_INCLUDE);
  g_assert_cmpint (arr[1], ==, TSR_FRAME_EXCLUDE);
  g_assert_cmpint (arr[2], ==, TSR_FRAME_AUTO);
  g_assert_cmpuint (unmatched, ==, 1);   /* sub/x.fits */
  tsr_test_rmtree (dir);
}

/* The sky-sample edits ([samples]): saved only when there are any, loaded back exactly
 * (the same doubles), a project without the group loads with none, a bad entry or width is
 * an error naming the file and the entry, unknown keys warn. */
static void
test_project_samples (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("params-samples");
  g_autofree char *proj = g_build_filename (dir, "p.tessera", NULL);
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  const char *paths[] = { dir, NULL };
  g_auto (TsrSampleEdits) in = { 1080, g_array_new (FALSE, FALSE, sizeof (TsrBgPoint)),
                                 g_array_new (FALSE, FALSE, sizeof (TsrBgPoint)) };
  TsrBgPoint a1 = { 12.345678901234567, 1900.5, 0 }, a2 = { 0, 3.25, 64 }, x1 = { -0.25, 77.0000001, 0 };
  g_array_append_val (in.add, a1);
  g_array_append_val (in.add, a2);
  g_array_append_val (in.exclude, x1);
  g_assert_true (tsr_project_save_ext (proj, &p, paths, NULL, NULL, &in, &e));
  g_assert_no_error (e);
  g_auto (TsrSampleEdits) back = { 0, NULL, NULL };
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (tsr_project_load_ext (proj, &p, NULL, NULL, NULL, &back, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 0);
  g_assert_cmpint (back.width, ==, 1080);
  g_assert_cmpuint (back.add->len, ==, 2);
  g_assert_cmpuint (back.exclude->len, ==, 1);
  for (int l = 0; l < 2; l++)
    {
      GArray *w = l ? in.exclude : in.add, *g = l ? back.exclude : back.add;
      for (guint i = 0; i < w->len; i++)
        {
          g_assert_cmpfloat (g_array_index (g, TsrBgPoint, i).x, ==, g_array_index (w, TsrBgPoint, i).x);
          g_assert_cmpfloat (g_array_index (g, TsrBgPoint, i).y, ==, g_array_index (w, TsrBgPoint, i).y);
          g_assert_cmpint (g_array_index (g, TsrBgPoint, i).size, ==, g_array_index (w, TsrBgPoint, i).size);
        }
    }
  /* the plain loader reads the group without a warning */
  g_assert_true (tsr_project_load (proj, &p, NULL, warnings, &e));
  g_assert_cmpuint (warnings->len, ==, 0);

  /* no edits: no group, and loading gives none */
  g_auto (TsrSampleEdits) none = { 1080, g_array_new (FALSE, FALSE, sizeof (TsrBgPoint)), NULL };
  g_assert_true (tsr_project_save_ext (proj, &p, paths, NULL, NULL, &none, &e));
  gsize len = 0;
  g_autofree char *saved = tsr_test_read_file (proj, &len);
  g_assert_null (strstr (saved, "[samples]"));
  g_assert_true (tsr_project_load_ext (proj, &p, NULL, NULL, NULL, &back, warnings, &e));
  g_assert_cmpint (back.width, ==, 0);
  g_assert_cmpuint (back.add->len + back.exclude->len, ==, 0);

  /* errors name the file and the entry; unknown keys warn */
  static const struct
  {
    const char *text, *needle;
  } bad[] = {
    { "[tessera]\nversion=1\n[samples]\nwidth=100\nedits=1,2;3,4,2;\n", "entry 2 '3,4,2'" },
    { "[tessera]\nversion=1\n[samples]\nwidth=100\nedits=-1,2,30;\n", "entry 1 '-1,2,30'" },
    { "[tessera]\nversion=1\n[samples]\nwidth=0\nedits=1,2;\n", "width = '0'" },
    { "[tessera]\nversion=1\n[samples]\nedits=1,2;\n", "width = ''" },
    { "[tessera]\nversion=1\n[samples]\nwidth=12x\nedits=1,2;\n", "width = '12x'" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      tsr_test_write_file (proj, bad[i].text, strlen (bad[i].text));
      g_assert_false (tsr_project_load_ext (proj, &p, NULL, NULL, NULL, &back, NULL, &e));
      g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
      if (!strstr (e->message, bad[i].needle) || !strstr (e->message, proj))
        g_error ("%s: '%s' does not name %s", bad[i].text, e->message, bad[i].needle);
      g_clear_error (&e);
    }
  const char *text = "[tessera]\nversion=1\n[samples]\nwidth=640\nedits=5,6;-7,8;\nzoom=2\n";
  tsr_test_write_file (proj, text, strlen (text));
  g_ptr_array_set_size (warnings, 0);
  g_assert_true (tsr_project_load_ext (proj, &p, NULL, NULL, NULL, &back, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_cmpint (back.width, ==, 640);
  g_assert_cmpfloat (g_array_index (back.exclude, TsrBgPoint, 0).x, ==, 7);
  tsr_test_rmtree (dir);
}

/* The calibration inputs (issue #18) go into [calib] next to calib.*: absolute paths read back
 * as written, relative ones relative to the project file's folder, absent ones stay NULL; the
 * calib.* keys round-trip like every key. */
static void
test_project_calib_paths (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("calib-project");
  g_autofree char *path = g_build_filename (dir, "p.tessera", NULL);
  TsrProject p;
  tsr_project_init (&p);
  GError *e = NULL;
  g_assert_true (tsr_project_set (&p, "calib.kappa", "2.5", &e));
  g_assert_true (tsr_project_set (&p, "calib.method", "median", &e));
  const char *sess[] = { "/data/lights", NULL };
  const char *cal[TSR_CALIB_N_KINDS] = { "/data/bias", "/data/master-dark.fits", NULL, "/data/dark flats" };
  g_assert_true (tsr_project_save_full (path, &p, sess, NULL, cal, &e));
  g_assert_no_error (e);
  TsrProject q;
  g_auto (GStrv) paths = NULL;
  char *got[TSR_CALIB_N_KINDS] = { NULL };
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (tsr_project_load_full (path, &q, &paths, NULL, got, warnings, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (warnings->len, ==, 0);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      g_assert_cmpstr (got[k], ==, cal[k]);
      g_free (got[k]);
    }
  g_assert_cmpfloat (q.calib.kappa, ==, 2.5);
  g_assert_cmpint (q.calib.method, ==, TSR_CALIB_MEDIAN);
  /* the plain loader reads the same file (the paths are simply not asked for) */
  g_assert_true (tsr_project_load (path, &q, NULL, warnings, &e));
  g_assert_cmpuint (warnings->len, ==, 0);
  /* relative paths */
  const char text[] = "[tessera]\nversion=1\n[calib]\nflats=night1/flats\nkappa=4\n";
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_true (tsr_project_load_full (path, &q, NULL, NULL, got, warnings, &e));
  g_autofree char *want = g_build_filename (dir, "night1", "flats", NULL);
  g_autofree char *canon = g_canonicalize_filename (want, NULL);
  g_assert_cmpstr (got[TSR_CALIB_FLAT], ==, canon);
  g_assert_null (got[TSR_CALIB_BIAS]);
  g_assert_cmpfloat (q.calib.kappa, ==, 4);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    g_free (got[k]);
  /* an unknown key in [calib] is reported like any other */
  const char bad[] = "[tessera]\nversion=1\n[calib]\ndarkz=/x\n";
  g_assert_true (g_file_set_contents (path, bad, -1, NULL));
  g_ptr_array_set_size (warnings, 0);
  g_assert_true (tsr_project_load_full (path, &q, NULL, NULL, got, warnings, &e));
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_nonnull (strstr (warnings->pdata[0], "darkz"));
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/params/defaults", test_defaults);
  g_test_add_func ("/params/spec-table", test_spec_table);
  g_test_add_func ("/params/roundtrip-keys", test_roundtrip_keys);
  g_test_add_func ("/params/bool-spellings", test_bool_spellings);
  g_test_add_func ("/params/typed-fields", test_typed_fields);
  g_test_add_func ("/params/bad-values", test_bad_values);
  g_test_add_func ("/params/unknown-key", test_unknown_key);
  g_test_add_func ("/params/validate", test_validate);
  g_test_add_func ("/params/history", test_history);
  g_test_add_func ("/params/project/roundtrip", test_project_roundtrip);
  g_test_add_func ("/params/project/relative-paths", test_project_relative_paths);
  g_test_add_func ("/params/project/bad-files", test_project_bad_files);
  g_test_add_func ("/params/project/unknown-keys", test_project_unknown_keys);
  g_test_add_func ("/params/project/mutations", test_project_mutations);
  g_test_add_func ("/params/project/before-split", test_project_before_split);
  g_test_add_func ("/params/project/frames", test_project_frames);
  g_test_add_func ("/params/project/calib-paths", test_project_calib_paths);
  g_test_add_func ("/params/project/samples", test_project_samples);
  return g_test_run ();
}
