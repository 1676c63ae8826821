/* fuzz-calib.c — libFuzzer target: calibration masters (issue #18) as the user brings them.
 *
 * Byte 0 of the input chooses the kind (bias, dark, flat, dark-flat: byte % 4), the rest is a
 * master file given in place of a folder. It is planned against a fixed session of two 32 × 32
 * RGGB lights of 30 s (written once), built (the hot/cold map from a dark, the per-site flat
 * normalisation) and applied to a light read through the session. Every step must succeed
 * with a consistent image without NaN, or fail with a TSR_ERROR message. A dark-flat is given
 * with a generated flat folder (a dark-flat alone is refused before the file is read). */
#include "fuzz-common.h"
#include "tessera.h"
#include "tsr-calib.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define SIDE 32

static void
write_frame (const char *path, float level, const char *imagetyp, double exptime)
{
  TsrImage *img = tsr_image_new (SIDE, SIDE, 1);
  img->cfa = tsr_cfa_from_name ("RGGB");
  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++)
      img->data[y * SIDE + x] = level + (float) ((x * 13 + y * 7) % 11) + (x == 16 && y == 16 ? 400.f : 0.f);
  tsr_header_set_string (img->header, "IMAGETYP", imagetyp, NULL);
  tsr_header_set_string (img->header, "BAYERPAT", "RGGB", NULL);
  tsr_header_set_double (img->header, "EXPTIME", exptime, NULL);
  tsr_header_set_string (img->header, "DATE-OBS", "2026-12-01T20:00:00", NULL);
  GError *e = NULL;
  if (!tsr_fits_write (path, img, NULL, &e))
    abort ();
  tsr_image_unref (img);
}

/* The lights and a flat folder, written once into their own folders beside the work folder. */
static const char *
fixture (const char **flats)
{
  static char *root, *lights, *flat_dir; /* kept for the whole run */
  if (!lights)
    {
      root = fuzz_mkdtemp ("tessera-fuzz-calib");
      lights = g_build_filename (root, "lights", NULL);
      flat_dir = g_build_filename (root, "flats", NULL);
      g_mkdir (lights, 0755);
      g_mkdir (flat_dir, 0755);
      for (int k = 0; k < 2; k++)
        {
          char *p = g_strdup_printf ("%s/light%d.fits", lights, k);
          write_frame (p, 1200.f + 10.f * k, "Light Frame", 30.0);
          g_free (p);
          p = g_strdup_printf ("%s/flat%d.fits", flat_dir, k);
          write_frame (p, 20000.f + 5.f * k, "Flat Field", 1.0);
          g_free (p);
        }
      char *p = g_strdup_printf ("%s/flat2.fits", flat_dir);
      write_frame (p, 20010.f, "Flat Field", 1.0);
      g_free (p);
    }
  *flats = flat_dir;
  return lights;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *flats;
  const char *lights_dir = fixture (&flats);
  const char *dir = fuzz_workdir ();
  fuzz_clear (dir);
  TsrCalibKind kind = (TsrCalibKind) (data[0] % TSR_CALIB_N_KINDS);
  char *master = fuzz_write (dir, "master.fits", data + 1, size - 1);

  GError *e = NULL;
  const char *lp[] = { lights_dir, NULL };
  TsrSession *lights = tsr_session_scan (lp, NULL, NULL, &e);
  if (!lights)
    abort (); /* the fixture is ours: a broken harness */
  const char *paths[TSR_CALIB_N_KINDS] = { NULL };
  paths[kind] = master;
  if (kind == TSR_CALIB_DARK_FLAT)
    paths[TSR_CALIB_FLAT] = flats;

  TsrCalib *c = tsr_calib_plan (paths, lights, NULL, NULL, &e);
  if (!c)
    fuzz_check_error (&e);
  else if (!tsr_calib_build (c, NULL, NULL, NULL, NULL, &e))
    {
      fuzz_check_error (&e);
      tsr_calib_free (c);
    }
  else
    {
      TsrImage *m = tsr_calib_master (c, kind);
      if (!m || m->width != SIDE || m->height != SIDE)
        abort (); /* a master that passed the plan matches the lights */
      tsr_calib_attach (c, lights);
      TsrImage *img = tsr_session_read_frame (lights, 1, &e);
      if (img)
        fuzz_check_image (img, SIDE, SIDE);
      else
        fuzz_check_error (&e);
    }
  tsr_session_unref (lights);
  g_unlink (master);
  g_free (master);
  return 0;
}
