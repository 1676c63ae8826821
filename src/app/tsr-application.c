/* tsr-application.c — the GtkApplication: actions, accelerators, opening folders.
 *
 * `tessera [SESSION-FOLDER | FRAME… | PROJECT.tessera]` opens the session (or the project
 * and its session) and starts the analysis (G_APPLICATION_HANDLES_OPEN). */
#include "tsr-config.h"
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-application.h"
#include "tsr-window.h"
#include "tsr-image-view.h"
#include "tsr-shortcuts.h"
#include "tsr-settings.h"
#include "tsr-project.h"

struct _TsrApplication
{
  GtkApplication parent_instance;
  gboolean run;        /* --run: reconstruct as soon as the analysis is done */
  guint overlays;      /* --overlays */
  int map;             /* --overlays: the map (−1: the window's default) */
  gboolean samples;    /* --overlays samples: the background model's sky samples */
  char **sets;         /* --set KEY=VALUE */
};

G_DEFINE_TYPE (TsrApplication, tsr_application, GTK_TYPE_APPLICATION)

void
tsr_show_about (GtkWindow *parent)
{
  static const char *authors[] = { "The Tessera authors", NULL };
  gtk_show_about_dialog (parent,
                         "program-name", "Tessera",
                         "logo-icon-name", TSR_APP_ID,
                         "version", TSR_VERSION,
                         "comments", _("Tile-based quality reconstruction of deep-sky sessions"),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "authors", authors,
                         "website", "https://github.com/tessera",
                         NULL);
}

static void
quit_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  /* close every window: one whose project changed asks first (and may stay); the
   * application ends with its last window */
  GList *wins = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (data)));
  for (GList *l = wins; l; l = l->next)
    gtk_window_close (GTK_WINDOW (l->data));
  g_list_free (wins);
}

static void
about_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_show_about (gtk_application_get_active_window (GTK_APPLICATION (data)));
}

static const GActionEntry app_entries[] = {
  { .name = "quit", .activate = quit_activated },
  { .name = "about", .activate = about_activated },
};

static void
tsr_application_startup (GApplication *app)
{
  G_APPLICATION_CLASS (tsr_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_entries, G_N_ELEMENTS (app_entries), app);
  guint n;
  const TsrShortcut *sc = tsr_shortcuts (&n);
  for (guint i = 0; i < n; i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), sc[i].action, sc[i].accels);

  /* run from the build tree: the icons are in the source tree, not in an icon theme */
  GdkDisplay *display = gdk_display_get_default ();
  if (display && tsr_settings_running_uninstalled ())
    {
      g_autofree char *icons = g_build_filename (TSR_SOURCE_ROOT, "data", "icons", NULL);
      gtk_icon_theme_add_search_path (gtk_icon_theme_get_for_display (display), icons);
    }
  gtk_window_set_default_icon_name (TSR_APP_ID);
}

static TsrWindow *
get_window (GApplication *app)
{
  TsrApplication *self = TSR_APPLICATION (app);
  GtkWindow *win = gtk_application_get_active_window (GTK_APPLICATION (app));
  if (!win)
    {
      win = GTK_WINDOW (tsr_window_new (GTK_APPLICATION (app)));
      if (self->map >= 0)
        tsr_window_set_map (TSR_WINDOW (win), self->map);
      tsr_window_set_overlays (TSR_WINDOW (win), self->overlays);
      if (self->samples)
        tsr_window_set_sample_overlay (TSR_WINDOW (win), TRUE, FALSE);
      for (guint i = 0; self->sets && self->sets[i]; i++)
        {
          g_auto (GStrv) kv = g_strsplit (self->sets[i], "=", 2);
          GError *error = NULL;
          if (!kv[0] || !kv[1])
            g_printerr (_("tessera: --set wants KEY=VALUE, got '%s'\n"), self->sets[i]);
          else if (!tsr_window_set_param_text (TSR_WINDOW (win), g_strstrip (kv[0]), g_strstrip (kv[1]), &error))
            {
              g_printerr ("tessera: %s\n", error->message);
              g_error_free (error);
            }
        }
    }
  return TSR_WINDOW (win);
}

static int
handle_local_options (GApplication *app, GVariantDict *options)
{
  TsrApplication *self = TSR_APPLICATION (app);
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("tessera %s\n", TSR_VERSION);
      return 0;
    }
  self->run = g_variant_dict_contains (options, "run");
  const char *ov = NULL;
  if (g_variant_dict_lookup (options, "overlays", "&s", &ov))
    {
      g_auto (GStrv) names = g_strsplit (ov, ",", -1);
      for (guint i = 0; names[i]; i++)
        {
          char *n = g_strstrip (names[i]);
          static const char *const map_names[] = { "weights", "quality", "neff", "coverage", "clusters" };
          int map = -1;
          for (guint k = 0; k < G_N_ELEMENTS (map_names); k++)
            if (strcmp (n, map_names[k]) == 0)
              map = (int) k;
          if (map >= 0)
            {
              self->overlays |= TSR_OVERLAY_WEIGHTS;
              self->map = map;
            }
          else if (strcmp (n, "tiles") == 0)
            self->overlays |= TSR_OVERLAY_TILES;
          else if (strcmp (n, "stars") == 0)
            self->overlays |= TSR_OVERLAY_STARS;
          else if (strcmp (n, "samples") == 0)
            self->samples = TRUE;
          else if (*n)
            {
              g_printerr (_("tessera: unknown overlay '%s' (allowed weights, quality, neff, coverage, clusters, tiles, stars, "
                           "samples)\n"), n);
              return 2;
            }
        }
    }
  const char **sets = NULL;
  if (g_variant_dict_lookup (options, "set", "^a&s", &sets))
    {
      /* a wrong --set stops here like a wrong --overlays, instead of a warning on a terminal
       * the user may not see and a window (and --run) with the default value */
      TsrProject check;
      tsr_project_init (&check);
      for (guint i = 0; sets[i]; i++)
        {
          g_auto (GStrv) kv = g_strsplit (sets[i], "=", 2);
          GError *error = NULL;
          if (!kv[0] || !kv[1])
            g_printerr (_("tessera: --set wants KEY=VALUE, got '%s'\n"), sets[i]);
          else if (!tsr_project_set (&check, g_strstrip (kv[0]), g_strstrip (kv[1]), &error))
            {
              g_printerr ("tessera: %s\n", error->message);
              g_error_free (error);
            }
          else
            continue;
          g_free (sets);
          return 2;
        }
      g_strfreev (self->sets);
      self->sets = g_strdupv ((char **) sets);
      g_free (sets);
    }
  return -1;
}

static void
tsr_application_activate (GApplication *app)
{
  gtk_window_present (GTK_WINDOW (get_window (app)));
}

static void
tsr_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  TsrWindow *win = get_window (app);
  gtk_window_present (GTK_WINDOW (win));
  tsr_window_set_autorun (win, TSR_APPLICATION (app)->run);
  if (n_files > 0)
    tsr_window_open_files (win, files, (guint) n_files);
}

static void
tsr_application_finalize (GObject *object)
{
  g_strfreev (TSR_APPLICATION (object)->sets);
  G_OBJECT_CLASS (tsr_application_parent_class)->finalize (object);
}

static void
tsr_application_class_init (TsrApplicationClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tsr_application_finalize;
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);
  app_class->startup = tsr_application_startup;
  app_class->activate = tsr_application_activate;
  app_class->open = tsr_application_open;
  app_class->handle_local_options = handle_local_options;
}

static void
tsr_application_init (TsrApplication *self)
{
  self->map = -1;
  static const GOptionEntry options[] = {
    { "run", 'r', 0, G_OPTION_ARG_NONE, NULL,
      N_("Run the reconstruction as soon as the analysis of the session is done"), NULL },
    { "overlays", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Overlays to show over the image: a comma-separated list of one map (weights, quality, neff, coverage, clusters), tiles, stars, samples (the background's sky samples)"), N_("LIST") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, NULL,
      N_("Set a parameter as the panel does, e.g. --set post.background=true (repeatable)"), N_("KEY=VALUE") },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
    { NULL }
  };
  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[SESSION-FOLDER | FRAME… | PROJECT.tessera]"));
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Open a session (or a project) and analyse it; Run reconstructs it.\n"
                                              "Frames: FITS, XISF, TIFF or camera raw; for the Moon and planets also "
                                              "PNG, JPEG, SER or video."));
}

TsrApplication *
tsr_application_new (void)
{
  return g_object_new (TSR_TYPE_APPLICATION,
                       "application-id", TSR_APP_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN | G_APPLICATION_NON_UNIQUE,
                       NULL);
}
