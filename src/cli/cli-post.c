/* tessera-cli background IN -o OUT, tessera-cli colour IN -o OUT — the steps on a finished
 * linear image (docs/post.md). */
#include "cli-common.h"

#include <stdio.h>
#include <string.h>

typedef enum { POST_BACKGROUND, POST_COLOUR } PostStep;

gboolean
cli_bg_samples_load (const char *path, GArray **add, GArray **exclude, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  g_autoptr (GArray) a = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  g_autoptr (GArray) x = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  GError *e = NULL;
  if (!tsr_background_edits_parse (text, a, x, &e))
    {
      g_set_error (error, e->domain, e->code, "%s: %s", path, e->message);
      g_error_free (e);
      return FALSE;
    }
  *add = g_steal_pointer (&a);
  *exclude = g_steal_pointer (&x);
  return TRUE;
}

static char *
post_params_help (const char *prefix)
{
  GString *s = g_string_new (_("Parameters for --set KEY=VALUE:\n"));
  guint n = 0;
  const TsrParamSpec *specs = tsr_post_params_specs (&n);
  TsrPostParams d;
  tsr_post_params_init (&d);
  for (guint i = 0; i < n; i++)
    {
      if (!g_str_has_prefix (specs[i].key, prefix))
        continue;
      g_autofree char *def = tsr_key_get_string (&specs[i], &d);
      g_string_append_printf (s, "  %-26s %s (default %s)\n", specs[i].key, _(specs[i].help), def);
    }
  g_string_append (s, _("\nLinear in, linear out (FITS); the step is written into the FITS HISTORY."));
  return g_string_free (s, FALSE);
}

static int
post_run (int argc, char **argv, PostStep step)
{
  const char *cmd = step == POST_BACKGROUND ? "background" : "colour";
  char *out = NULL, *model = NULL, *samples = NULL, *preview = NULL;
  char **sets = NULL;
  GOptionEntry bg_entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Result (float32 FITS)"), N_("OUT.fits") },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, N_("Also write the background model (float32 FITS)"), N_("FILE") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "samples", 0, 0, G_OPTION_ARG_FILENAME, &samples,
      N_("Edit the sky samples: a file with 'x,y[,size]' (add a box) or '-x,y' (exclude the automatic box there) per line"),
      N_("FILE") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set post.background_degree=3"),
      N_("KEY=VALUE") },
    { NULL }
  };
  GOptionEntry col_entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Result (float32 FITS)"), N_("OUT.fits") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set post.colour_min_snr=30"),
      N_("KEY=VALUE") },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
    step == POST_BACKGROUND ? _("IN.fits — subtract a smooth sky background model (gradient removal)")
                            : _("IN.fits — neutral background and white balance on the average star"));
  g_option_context_add_main_entries (ctx, step == POST_BACKGROUND ? bg_entries : col_entries, GETTEXT_PACKAGE);
  g_autofree char *ph = post_params_help (step == POST_BACKGROUND ? "post.background" : "post.colour");
  g_option_context_set_description (ctx, ph);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *model_o = model, *samples_o = samples, *preview_o = preview;
  g_auto (GStrv) sets_o = sets;
  if (argc != 2)
    return cli_fail_msg (_("%s: name exactly one input image (see --help)"), cmd);
  const char *in_path = argv[1];
  if (!out)
    return cli_fail_msg (_("%s: the output file is missing (-o OUT.fits)"), cmd);
  if (cli_same_file (in_path, out) || g_strcmp0 (in_path, out) == 0
      || (model && (cli_same_file (in_path, model) || g_strcmp0 (in_path, model) == 0)))
    return cli_fail_msg (_("%s: the output would overwrite the input %s; choose another name"), cmd, in_path);
  GError *error = NULL;
  if (model || preview)
    {
      const char *opts[] = { "-o", "--model", "--preview" };
      const char *paths[] = { out, model, preview };
      if (!cli_check_distinct (cmd, 3, opts, paths, &error))
        return cli_fail (error);
    }
  if (!cli_preview_check (cmd, preview, in_path, out, NULL, &error))
    return cli_fail (error);
  TsrPostParams p;
  tsr_post_params_init (&p);
  guint n = 0;
  const TsrParamSpec *specs = tsr_post_params_specs (&n);
  for (int i = 0; sets && sets[i]; i++)
    {
      g_auto (GStrv) kv = g_strsplit (sets[i], "=", 2);
      if (!kv[0] || !kv[1])
        return cli_fail_msg (_("%s: --set wants KEY=VALUE, got '%s'"), cmd, sets[i]);
      const TsrParamSpec *s = tsr_keys_find (specs, n, g_strstrip (kv[0]));
      if (!s)
        {
          tsr_key_unknown_error (&error, kv[0]);
          return cli_fail (error);
        }
      if (!tsr_key_set (s, &p, g_strstrip (kv[1]), &error))
        return cli_fail (error);
    }
  g_autoptr (TsrImage) in = tsr_fits_read (in_path, &error);
  if (!in)
    return cli_fail (error);
  g_autoptr (TsrImage) res = NULL;
  g_autoptr (TsrImage) mod = NULL;
  TsrBackgroundInfo bi;
  TsrColourInfo ci;
  if (step == POST_BACKGROUND)
    {
      g_autoptr (GArray) add = NULL, excl = NULL;
      if (samples && !cli_bg_samples_load (samples, &add, &excl, &error))
        return cli_fail (error);
      TsrBackgroundEdits ed = { add ? (const TsrBgPoint *) add->data : NULL, add ? add->len : 0,
                                excl ? (const TsrBgPoint *) excl->data : NULL, excl ? excl->len : 0 };
      res = tsr_background_extract_edited (in, &p, samples ? &ed : NULL, &bi, NULL, model ? &mod : NULL,
                                           cli_cancellable (), &error);
    }
  else
    res = tsr_colour_calibrate (in, &p, &ci, cli_cancellable (), &error);
  if (!res)
    return cli_fail_msg ("%s: %s: %s", cmd, in_path, error->message);
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  const char *st = tsr_commit_stage_file (commit, out, &error);
  gboolean ok = st && tsr_fits_write (st, res, NULL, &error);
  if (ok && mod)
    {
      const char *sm = tsr_commit_stage_file (commit, model, &error);
      ok = sm && tsr_fits_write (sm, mod, NULL, &error);
    }
  if (ok && preview)
    {
      const char *sp = tsr_commit_stage_file (commit, preview, &error);
      ok = sp && tsr_write_png_preview (res, sp, 1600, &error);
    }
  if (ok)
    ok = tsr_commit_apply (commit, &error);
  if (!ok)
    {
      tsr_commit_explain (commit, error);
      return cli_fail (error);
    }
  if (step == POST_BACKGROUND)
    {
      printf (_("background: degree-%d model on %u of %u sky samples; gradient removed (model range %.4g %.4g %.4g) → %s\n"),
              bi.degree, bi.n_used, bi.n_samples, bi.range[0], in->channels > 1 ? bi.range[1] : 0.0,
              in->channels > 2 ? bi.range[2] : 0.0, out);
      if (samples)
        printf (_("background: user samples: %u added, %u excluded\n"), bi.n_added, bi.n_excluded);
    }
  else
    printf (_("colour: sky %.4g %.4g %.4g → %.4g; average of %u stars R/G %.4f B/G %.4f → scales R %.4f B %.4f → %s\n"),
            ci.sky[0], ci.sky[1], ci.sky[2], ci.sky[1], ci.n_stars, ci.ratio[0], ci.ratio[2], ci.scale[0],
            ci.scale[2], out);
  return 0;
}

int
cli_background (int argc, char **argv)
{
  return post_run (argc, argv, POST_BACKGROUND);
}

int
cli_colour (int argc, char **argv)
{
  return post_run (argc, argv, POST_COLOUR);
}

int
cli_cosmetic_apply (const char *cmd, TsrSession *s, const TsrPostParams *p, guint n_threads)
{
  if (!p->cosmetic || tsr_session_n_frames (s) < 3)
    return 0;
  TsrCosmeticParams cp = { p->cosmetic_sigma, p->cosmetic_fraction, p->cosmetic_frames, n_threads };
  GError *error = NULL;
  TsrCosmetic *c = tsr_cosmetic_find (s, &cp, NULL, NULL, cli_cancellable (), &error);
  if (!c)
    return cli_fail (error);
  printf (_("%s: cosmetic correction: %lu hot and %lu cold pixels found in the lights, replaced before demosaic\n"),
          cmd, (unsigned long) tsr_cosmetic_n_hot (c), (unsigned long) tsr_cosmetic_n_cold (c));
  if (tsr_cosmetic_n_hot (c) + tsr_cosmetic_n_cold (c) == 0)
    {
      tsr_cosmetic_free (c);
      return 0;
    }
  tsr_cosmetic_attach (c, s);
  return 0;
}
