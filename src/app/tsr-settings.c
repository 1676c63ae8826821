/* tsr-settings.c — see tsr-settings.h.
 *
 * Uninstalled (the executable lies under the build root), the schema compiled into
 * BUILD/data by the build is preferred over an installed one (which may be older); the
 * installed schemas stay reachable as the parent source. */
#include "tsr-config.h"
#include <string.h>
#include "tsr-settings.h"

#ifndef TSR_BUILD_ROOT
#define TSR_BUILD_ROOT ""
#endif

gboolean
tsr_settings_running_uninstalled (void)
{
  static int cached = -1;
  if (cached < 0)
    {
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
      g_autofree char *root = g_canonicalize_filename (TSR_BUILD_ROOT, NULL);
      cached = exe && *TSR_BUILD_ROOT && g_str_has_prefix (exe, root)
               && exe[strlen (root)] == G_DIR_SEPARATOR;
    }
  return cached;
}

GSettings *
tsr_settings_new (void)
{
  GSettingsSchemaSource *parent = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;
  if (tsr_settings_running_uninstalled ())
    {
      g_autofree char *dir = g_build_filename (TSR_BUILD_ROOT, "data", NULL);
      g_autofree char *compiled = g_build_filename (dir, "gschemas.compiled", NULL);
      if (g_file_test (compiled, G_FILE_TEST_EXISTS))
        {
          GError *error = NULL;
          GSettingsSchemaSource *src = g_settings_schema_source_new_from_directory (dir, parent, FALSE, &error);
          if (src)
            {
              schema = g_settings_schema_source_lookup (src, TSR_APP_ID, TRUE);
              g_settings_schema_source_unref (src);
            }
          else
            {
              g_debug ("cannot read %s: %s", compiled, error->message);
              g_error_free (error);
            }
        }
    }
  if (!schema && parent)
    schema = g_settings_schema_source_lookup (parent, TSR_APP_ID, TRUE);
  if (!schema)
    {
      static gsize warned = 0;
      if (g_once_init_enter (&warned))
        {
          g_message ("GSettings schema %s not found: settings will not be remembered "
                     "(install Tessera, or run it from its build folder)", TSR_APP_ID);
          g_once_init_leave (&warned, 1);
        }
      return NULL;
    }
  return g_settings_new_full (schema, NULL, NULL);
}
