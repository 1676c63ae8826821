/* tsr-synth-write.c — writing a synthetic session: FITS frames in parallel (temporary
 * names, renamed when complete), the truth JSON and the truth image. */
#include "tsr-synth-private.h"

/* ---------------------------------------------------------------------------------- */
/* Writing a session                                                                   */

static GMutex fits_lock;   /* serialises cfitsio when it is not reentrant */

static gboolean
write_frame_fits (const TsrSynthTruth *t, guint index, const float *e, const char *tmp,
                  const char *final, GError **error)
{
  const TsrSynthParams *p = &t->params;
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);
  gsize npix = (gsize) p->width * p->height;
  guint16 *u = g_new (guint16, npix);
  double ig = 1.0 / p->gain;

  for (gsize i = 0; i < npix; i++)
    {
      double adu = floor (e[i] * ig + p->bias + 0.5);
      u[i] = (guint16) CLAMP (adu, 0.0, 65535.0);
    }

  gboolean locked = !fits_is_reentrant ();
  if (locked)
    g_mutex_lock (&fits_lock);

  fitsfile *fp = NULL;
  int status = 0;
  long naxes[2] = { p->width, p->height };
  double tt = p->n_frames > 1 ? (double) index / (p->n_frames - 1) : 0.0;
  double temp = round ((15.0 - 3.0 * tt) * 10.0) / 10.0;
  double exposure = p->exposure, gain = p->gain;
  int zero = 0;

  g_unlink (tmp);
  fits_create_diskfile (&fp, tmp, &status);
  fits_create_img (fp, USHORT_IMG, 2, naxes, &status);
  fits_update_key (fp, TSTRING, "DATE-OBS", (void *) f->date_obs, "UTC start of exposure", &status);
  fits_update_key (fp, TDOUBLE, "EXPTIME", &exposure, "[s] exposure time", &status);
  fits_update_key (fp, TDOUBLE, "GAIN", &gain, "[e-/ADU] gain", &status);
  fits_update_key (fp, TDOUBLE, "CCD-TEMP", &temp, "[C] sensor temperature", &status);
  fits_update_key (fp, TSTRING, "INSTRUME", (void *) "Tessera synth", "synthetic session", &status);
  if (p->cfa != TSR_CFA_NONE)
    {
      fits_update_key (fp, TSTRING, "BAYERPAT", (void *) tsr_cfa_name (p->cfa),
                       "Bayer pattern at the first stored pixel", &status);
      fits_update_key (fp, TINT, "XBAYROFF", &zero, "Bayer X offset", &status);
      fits_update_key (fp, TINT, "YBAYROFF", &zero, "Bayer Y offset", &status);
    }
  fits_write_img (fp, TUSHORT, 1, (LONGLONG) npix, u, &status);
  if (fp != NULL)
    {
      int st2 = 0;
      fits_close_file (fp, status ? &st2 : &status);
    }
  if (locked)
    g_mutex_unlock (&fits_lock);
  g_free (u);

  if (status != 0)
    {
      char msg[FLEN_STATUS] = "";
      fits_get_errstatus (status, msg);
      g_unlink (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                   _("Cannot write “%s”: %s (cfitsio status %d). Check that the folder is "
                     "writable and the disk is not full."), tmp, msg, status);
      return FALSE;
    }
  if (g_rename (tmp, final) != 0)
    {
      int errsv = errno;
      g_unlink (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("Cannot rename “%s” to “%s”: %s"),
                   tmp, final, g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  const TsrSynthTruth *t;
  const char *outdir;
  GCancellable *cancellable;
  TsrProgressFunc progress;
  gpointer progress_data;
  GMutex lock;
  guint done, total;
  gboolean failed;
  GError *error;
  gboolean *written;
} WriteJob;

static void
write_job_progress (WriteJob *job)
{
  /* called with job->lock held */
  job->done++;
  if (job->progress)
    job->progress (_("Generating"), job->done, job->total, job->progress_data);
}

static void
write_frame_task (gpointer data, gpointer user_data)
{
  WriteJob *job = user_data;
  guint index = GPOINTER_TO_UINT (data) - 1;
  const TsrSynthFrame *f = &g_array_index (job->t->frames, TsrSynthFrame, index);
  GError *err = NULL;

  g_mutex_lock (&job->lock);
  gboolean skip = job->failed;
  g_mutex_unlock (&job->lock);
  if (skip || g_cancellable_is_cancelled (job->cancellable))
    return;

  TsrImage *img = tsr_synth_render_frame (job->t, index, TRUE);
  if (img == NULL)
    {
      g_mutex_lock (&job->lock);
      if (!job->failed)
        {
          job->failed = TRUE;
          g_set_error (&job->error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                       _("Not enough memory to render a %d × %d frame"),
                       job->t->params.width, job->t->params.height);
        }
      g_mutex_unlock (&job->lock);
      return;
    }
  g_autofree char *final = g_build_filename (job->outdir, f->file, NULL);
  g_autofree char *tmpname = g_strdup_printf (".%s.part", f->file);
  g_autofree char *tmp = g_build_filename (job->outdir, tmpname, NULL);
  gboolean ok = FALSE;

  if (!g_cancellable_set_error_if_cancelled (job->cancellable, &err))
    ok = write_frame_fits (job->t, index, img->data, tmp, final, &err);
  tsr_image_unref (img);

  g_mutex_lock (&job->lock);
  if (ok)
    {
      job->written[index] = TRUE;
      write_job_progress (job);
    }
  else
    {
      if (!job->failed && err != NULL && !g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          job->failed = TRUE;
          g_propagate_error (&job->error, err);
          err = NULL;
        }
    }
  g_mutex_unlock (&job->lock);
  g_clear_error (&err);
}

static void
json_matrix (TsrJsonWriter *w, const double *m, int n)
{
  tsr_json_begin_array (w);
  for (int i = 0; i < n; i++)
    tsr_json_double (w, m[i]);
  tsr_json_end_array (w);
}

static const char *
kind_name (TsrSynthKind k)
{
  switch (k)
    {
    case TSR_SYNTH_MIRRORED:
      return "mirrored";
    case TSR_SYNTH_NOISE:
      return "noise";
    case TSR_SYNTH_VALID:
    default:
      return "valid";
    }
}

static char *
truth_json (const TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  TsrJsonWriter *w = tsr_json_writer_new ();

  tsr_json_begin_object (w);
  tsr_json_key (w, "generator");
  tsr_json_string (w, "Tessera synth");
  tsr_json_key (w, "params");
  tsr_json_begin_object (w);
#define KI(name) tsr_json_key (w, #name); tsr_json_int (w, (gint64) p->name)
#define KD(name) tsr_json_key (w, #name); tsr_json_double (w, p->name)
  KI (n_frames);
  KI (width);
  KI (height);
  tsr_json_key (w, "cfa");
  tsr_json_string (w, tsr_cfa_name (p->cfa));
  tsr_json_key (w, "seed");
  tsr_json_int (w, (gint64) p->seed);
  KI (n_stars);
  KD (star_flux_min);
  KD (star_flux_max);
  KD (star_power);
  tsr_json_key (w, "extended");
  tsr_json_bool (w, p->extended);
  KD (fwhm_min);
  KD (fwhm_max);
  KD (moffat_beta);
  KD (field_psf);
  KI (n_bursts);
  KD (shift_max);
  KD (rotation_max_deg);
  KD (sky);
  KD (sky_drift);
  KD (gradient);
  KD (transparency_drop);
  KD (read_noise);
  KD (gain);
  KD (bias);
  KI (oversample);
  KI (n_trails);
  KI (n_mirrored);
  KI (n_noise);
  KD (exposure);
#undef KI
#undef KD
  tsr_json_end_object (w);

  tsr_json_key (w, "median_fwhm");
  tsr_json_double (w, tsr_synth_median_fwhm (t));
  tsr_json_key (w, "truth_sharp_fwhm");
  tsr_json_double (w, TRUTH_SHARP_FWHM);

  tsr_json_key (w, "frames");
  tsr_json_begin_array (w);
  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      tsr_json_begin_object (w);
      tsr_json_key (w, "index");
      tsr_json_int (w, f->index);
      tsr_json_key (w, "file");
      tsr_json_string (w, f->file);
      tsr_json_key (w, "kind");
      tsr_json_string (w, kind_name (f->kind));
      tsr_json_key (w, "matrix");
      json_matrix (w, f->matrix, 6);
      tsr_json_key (w, "fwhm");
      tsr_json_double (w, f->fwhm);
      tsr_json_key (w, "focus");
      tsr_json_double (w, f->focus);
      tsr_json_key (w, "fwhm_median");
      tsr_json_double (w, f->fwhm_median);
      tsr_json_key (w, "transparency");
      tsr_json_double (w, f->transparency);
      tsr_json_key (w, "sky");
      tsr_json_double (w, f->sky);
      tsr_json_key (w, "trail");
      if (f->has_trail)
        json_matrix (w, f->trail, 4);
      else
        tsr_json_null (w);
      tsr_json_key (w, "date_obs");
      tsr_json_string (w, f->date_obs);
      tsr_json_end_object (w);
    }
  tsr_json_end_array (w);

  tsr_json_key (w, "stars");
  tsr_json_begin_array (w);
  for (guint i = 0; i < t->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, i);
      tsr_json_begin_object (w);
      tsr_json_key (w, "x");
      tsr_json_double (w, s->x);
      tsr_json_key (w, "y");
      tsr_json_double (w, s->y);
      tsr_json_key (w, "flux");
      tsr_json_double (w, s->flux);
      if (p->cfa != TSR_CFA_NONE)
        {
          tsr_json_key (w, "color");
          json_matrix (w, s->color, 3);
        }
      tsr_json_end_object (w);
    }
  tsr_json_end_array (w);
  tsr_json_end_object (w);
  return tsr_json_writer_finish (w);
}

static gboolean
write_truth_image (const TsrSynthTruth *t, double fwhm, const char *path, GError **error)
{
  g_autoptr (TsrImage) img = tsr_synth_render_truth (t, fwhm);
  if (img == NULL)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("Not enough memory to render the truth image “%s”"), path);
      return FALSE;
    }
  tsr_header_set_string (img->header, "INSTRUME", "Tessera synth", "synthetic session truth");
  tsr_header_set_double (img->header, "FWHM", fwhm, "[px] Moffat FWHM of the truth");
  tsr_header_set_double (img->header, "MOFFBETA", t->params.moffat_beta, "Moffat beta");
  tsr_header_set_string (img->header, "BUNIT", "electron", "transparency 1, no sky");
  if (img->channels == 3)
    tsr_header_set_string (img->header, "CTYPE3", "RGB", "planes: R, G, B");
  return tsr_fits_write (path, img, NULL, error);
}

static void
remove_written (const TsrSynthTruth *t, const char *outdir, const gboolean *written,
                const gboolean *truth_written)
{
  const char *truth_names[2] = { "truth/truth.fits", "truth/truth-sharp.fits" };
  for (guint i = 0; i < 2; i++)
    if (truth_written[i])
      {
        g_autofree char *path = g_build_filename (outdir, truth_names[i], NULL);
        g_unlink (path);
      }
  g_autofree char *tdir = g_build_filename (outdir, "truth", NULL);
  g_rmdir (tdir); /* only when empty */
  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      g_autofree char *tmpname = g_strdup_printf (".%s.part", f->file);
      g_autofree char *tmp = g_build_filename (outdir, tmpname, NULL);
      g_unlink (tmp);
      if (written[i])
        {
          g_autofree char *path = g_build_filename (outdir, f->file, NULL);
          g_unlink (path);
        }
    }
}

TsrSynthTruth *
tsr_synth_write_session (const TsrSynthParams *p, const char *outdir,
                         TsrProgressFunc progress, gpointer progress_data,
                         GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (p != NULL, NULL);
  g_return_val_if_fail (outdir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (!tsr_synth_check_params (p, error))
    return NULL;
  if (g_mkdir_with_parents (outdir, 0755) != 0)
    {
      int errsv = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                   _("Cannot create the folder “%s”: %s"), outdir, g_strerror (errsv));
      return NULL;
    }

  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (p);
  guint n = t->frames->len;
  WriteJob job = { 0 };
  job.t = t;
  job.outdir = outdir;
  job.cancellable = cancellable;
  job.progress = progress;
  job.progress_data = progress_data;
  job.total = n + 2;
  job.written = g_new0 (gboolean, n);
  g_mutex_init (&job.lock);

  if (progress)
    progress (_("Generating"), 0, job.total, progress_data);

  /* the shared extended-source grid, before the workers need it */
  tsr_synth_truth_grid (t);

  guint nthreads = CLAMP (g_get_num_processors (), 1u, 8u);
  nthreads = MIN (nthreads, n);
  GThreadPool *pool = NULL;
  if (nthreads > 1)
    pool = g_thread_pool_new (write_frame_task, &job, (gint) nthreads, TRUE, NULL);
  for (guint i = 0; i < n; i++)
    {
      if (pool != NULL)
        g_thread_pool_push (pool, GUINT_TO_POINTER (i + 1), NULL);
      else
        write_frame_task (GUINT_TO_POINTER (i + 1), &job);
    }
  if (pool != NULL)
    g_thread_pool_free (pool, FALSE, TRUE);

  GError *err = NULL;
  gboolean truth_written[2] = { FALSE, FALSE };
  if (job.failed)
    err = g_steal_pointer (&job.error);
  else
    g_cancellable_set_error_if_cancelled (cancellable, &err);

  if (err == NULL)
    {
      g_autofree char *tdir = g_build_filename (outdir, "truth", NULL);
      g_mkdir_with_parents (tdir, 0755);
      g_autofree char *path = g_build_filename (tdir, "truth.fits", NULL);
      if (write_truth_image (t, tsr_synth_median_fwhm (t), path, &err))
        {
          truth_written[0] = TRUE;
          g_mutex_lock (&job.lock);
          write_job_progress (&job);
          g_mutex_unlock (&job.lock);
        }
    }
  if (err == NULL && !g_cancellable_set_error_if_cancelled (cancellable, &err))
    {
      g_autofree char *path = g_build_filename (outdir, "truth", "truth-sharp.fits", NULL);
      if (write_truth_image (t, TRUTH_SHARP_FWHM, path, &err))
        {
          truth_written[1] = TRUE;
          g_mutex_lock (&job.lock);
          write_job_progress (&job);
          g_mutex_unlock (&job.lock);
        }
    }
  if (err == NULL && !g_cancellable_set_error_if_cancelled (cancellable, &err))
    {
      g_autofree char *text = truth_json (t);
      g_autofree char *path = g_build_filename (outdir, "truth.json", NULL);
      tsr_write_file_atomic (path, text, -1, &err);
    }

  if (err != NULL)
    {
      /* leave no half-written session behind */
      remove_written (t, outdir, job.written, truth_written);
      g_propagate_error (error, err);
      g_free (job.written);
      g_clear_error (&job.error);
      g_mutex_clear (&job.lock);
      return NULL;
    }

  g_free (job.written);
  g_clear_error (&job.error);
  g_mutex_clear (&job.lock);
  return g_steal_pointer (&t);
}
