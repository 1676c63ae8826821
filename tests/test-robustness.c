/* test-robustness.c — the bad-input matrix (issue #7, docs/reliability.md).
 *
 * Every session-reading subcommand of tessera-cli is run on every bad session below; the
 * output-side cases (unwritable folder, output equal to an input, …), the project-file
 * cases, the write-failure cases (injected with RLIMIT_FSIZE, and a real full tmpfs when
 * the test runs as root) and the synth/demo cases follow. For each run:
 *
 *   – a failure is a non-zero exit below 128 (no crash, no sanitizer abort), exactly one
 *     line on stderr containing the name of the offending file or key, and the case's
 *     folders unchanged byte for byte: inputs untouched, an existing output identical, no
 *     new file (no *.part left behind);
 *   – an accepted input (NaN pixels masked, one dead frame gated, …) exits 0, leaves the
 *     inputs untouched and writes a complete, finite result.
 *
 * The matrix is table-driven: a new subcommand is one row of `commands`, a new bad input
 * one row of `cases`. Frames are tiny (64×48) so the whole suite takes seconds.
 */
#include "tsr-test-util.h"

#include <errno.h>
#include <fitsio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define W 64
#define H 48

static char *tmp;
static guint n_runs_fail, n_runs_ok, n_runs_sigint;
static GHashTable *per_command; /* subcommand → runs */

static void
count_run (const char *subcommand)
{
  if (!per_command)
    per_command = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (per_command, subcommand));
  g_hash_table_replace (per_command, g_strdup (subcommand), GUINT_TO_POINTER (n + 1));
}

/* ------------------------------------------------------------------------------------- */
/* Frames                                                                                 */

typedef enum
{
  PIX_STARS,      /* six Gaussian stars on a noisy sky, shifted a little per frame */
  PIX_SOME_NAN,   /* the same with scattered NaN and ±Inf samples */
  PIX_ALL_NAN,
  PIX_ZERO,
  PIX_NOISE       /* sky and noise only: nothing to register on */
} PixKind;

static float *
make_pixels (PixKind kind, int w, int h, int channels, guint seed)
{
  static const double stars[][3] = {
    { 10, 10, 3000 }, { 40, 20, 5000 }, { 25, 35, 2000 }, { 55, 40, 4000 }, { 15, 30, 2500 }, { 50, 8, 3500 }
  };
  GRand *r = g_rand_new_with_seed (seed + 1);
  float *v = g_new (float, (gsize) w * h * channels);
  double dx = 0.4 * (seed % 5), dy = 0.3 * (seed % 3);
  for (int c = 0; c < channels; c++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        {
          double s = 1000 + 10 * (g_rand_double (r) + g_rand_double (r) + g_rand_double (r) - 1.5);
          if (kind != PIX_NOISE)
            for (guint k = 0; k < G_N_ELEMENTS (stars); k++)
              {
                double ex = x - stars[k][0] - dx, ey = y - stars[k][1] - dy;
                s += stars[k][2] / (2 * G_PI * 2.25) * exp (-(ex * ex + ey * ey) / 4.5);
              }
          if (kind == PIX_ZERO)
            s = 0;
          else if (kind == PIX_ALL_NAN)
            s = NAN;
          else if (kind == PIX_SOME_NAN && (x * 7 + y * 3) % 23 == 0)
            s = x % 2 ? NAN : (y % 2 ? INFINITY : -INFINITY);
          v[(gsize) c * w * h + (gsize) y * w + x] = (float) s;
        }
  g_rand_free (r);
  return v;
}

/* A float32 frame with DATE-OBS minute `index`, optionally a Bayer pattern. */
static void
frame (const char *dir, const char *name, PixKind kind, guint index, const char *bayer, int w, int h,
       int channels)
{
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree float *v = make_pixels (kind, w, h, channels, index);
  g_autofree char *date = g_strdup_printf ("DATE-OBS= '2025-04-09T22:%02u:00'", index % 60);
  g_autofree char *pat = bayer ? g_strdup_printf ("BAYERPAT= '%s'", bayer) : NULL;
  const char *cards[] = { date, "EXPTIME =                 10.0", pat, NULL };
  tsr_test_write_fits (path, FLOAT_IMG, w, h, channels, v, cards);
}

/* n good frames f0.fits … with kind for frame `odd` (−1: none). */
static void
session (const char *dir, guint n, int odd, PixKind odd_kind, PixKind kind)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%u.fits", i);
      frame (dir, name, (int) i == odd ? odd_kind : kind, i, NULL, W, H, 1);
    }
}

/* A FITS header (cards padded to 2880) followed by data_len zero bytes. */
static void
raw_fits (const char *path, const char *const *cards, gsize data_len, gboolean with_end)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; cards[i]; i++)
    {
      char c[81];
      g_snprintf (c, sizeof c, "%-80s", cards[i]);
      g_string_append (s, c);
    }
  if (with_end)
    g_string_append_printf (s, "%-80s", "END");
  while (s->len % 2880)
    g_string_append_c (s, ' ');
  gsize hl = s->len;
  g_string_set_size (s, hl + data_len);
  memset (s->str + hl, 0, data_len);
  tsr_test_write_file (path, s->str, s->len);
  g_string_free (s, TRUE);
}

static void
header_only (const char *dir, const char *name, const char *bitpix, const char *naxis, const char *n1,
             const char *n2, const char *n3, gsize data_len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *c1 = g_strdup_printf ("SIMPLE  =                    T");
  g_autofree char *c2 = g_strdup_printf ("BITPIX  = %20s", bitpix);
  g_autofree char *c3 = g_strdup_printf ("NAXIS   = %20s", naxis);
  g_autofree char *c4 = n1 ? g_strdup_printf ("NAXIS1  = %20s", n1) : NULL;
  g_autofree char *c5 = n2 ? g_strdup_printf ("NAXIS2  = %20s", n2) : NULL;
  g_autofree char *c6 = n3 ? g_strdup_printf ("NAXIS3  = %20s", n3) : NULL;
  const char *cards[] = { c1, c2, c3, c4 ? c4 : c5, c4 ? c5 : NULL, c6, NULL };
  if (!c5)
    cards[4] = NULL;
  raw_fits (path, cards, data_len, TRUE);
}

/* Keep the first len bytes of dir/name. */
static void
truncate_to (const char *dir, const char *name, gsize len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gsize have = 0;
  g_autofree char *bytes = tsr_test_read_file (path, &have);
  g_assert_cmpuint (have, >, len);
  tsr_test_write_file (path, bytes, len);
}

/* ------------------------------------------------------------------------------------- */
/* Bad sessions                                                                          */

static void b_missing (const char *d) { g_mkdir_with_parents (d, 0755); }
static void b_empty (const char *d) { g_mkdir_with_parents (d, 0755); }
static void
b_text_only (const char *d)
{
  g_mkdir_with_parents (d, 0755);
  g_autofree char *p = g_build_filename (d, "notes.txt", NULL);
  tsr_test_write_file (p, "seeing 2\"\n", 10);
}
/* frames of the other formats (issue #18) among good FITS frames, not what their names say */
static void
b_not_xisf (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "notes.xisf", NULL);
  tsr_test_write_file (p, "XISF0100 but nothing after it", 29);
}
static void
b_not_raw (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "shot.cr2", NULL);
  tsr_test_write_file (p, "this is a text file, not a camera raw file\n", 43);
}
static void
b_not_tiff (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "scan.tif", NULL);
  tsr_test_write_file (p, "II*\0\x08\0\0\0\x40\0", 10);
}
static void
b_not_fits (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "readme.fits", NULL);
  tsr_test_write_file (p, "this is a text file, not an image\n", 34);
}
static void
b_zero_bytes (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "empty.fits", NULL);
  tsr_test_write_file (p, "", 0);
}
static void
b_png_named_fits (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "photo.fits", NULL);
  static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
  GString *s = g_string_new_len (png, sizeof png - 1);
  while (s->len < 6000)
    g_string_append_c (s, (char) (s->len * 31));
  tsr_test_write_file (p, s->str, s->len);
  g_string_free (s, TRUE);
}
static void b_trunc_header (const char *d) { session (d, 3, -1, 0, PIX_STARS); truncate_to (d, "f1.fits", 1000); }
static void b_trunc_data_start (const char *d) { session (d, 3, -1, 0, PIX_STARS); truncate_to (d, "f1.fits", 2880); }
static void b_trunc_mid (const char *d) { session (d, 3, -1, 0, PIX_STARS); truncate_to (d, "f1.fits", 2880 + W * H * 2); }
static void b_trunc_last_byte (const char *d) { session (d, 3, -1, 0, PIX_STARS); truncate_to (d, "f1.fits", 2880 + W * H * 4 - 1); }
static void
b_unicode_trunc (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  frame (d, "Nacht ä 01.fits", PIX_STARS, 9, NULL, W, H, 1);
  truncate_to (d, "Nacht ä 01.fits", 4000);
}
static void
b_no_end (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *p = g_build_filename (d, "noend.fits", NULL);
  const char *cards[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                          "NAXIS   =                    2", "NAXIS1  =                   64",
                          "NAXIS2  =                   48", NULL };
  raw_fits (p, cards, 2880 * 3, FALSE);
}
static void b_bitpix (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "bitpix24.fits", "24", "2", "64", "48", NULL, 2880 * 4); }
static void b_naxis1 (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "spectrum.fits", "16", "1", "512", NULL, NULL, 2880); }
static void b_naxis4 (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "cube4.fits", "16", "4", "4", "4", "4", 2880); }
static void b_planes2 (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "twoplanes.fits", "16", "3", "64", "48", "2", 2880 * 5); }
static void b_zero_axis (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "zeroaxis.fits", "16", "2", "0", "48", NULL, 0); }
static void b_huge (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "huge.fits", "16", "2", "100000", "100000", NULL, 2880); }
static void b_huge_pixels (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "huge.fits", "-32", "2", "60000", "60000", NULL, 2880); }
static void b_big_claim (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "bigclaim.fits", "16", "2", "20000", "20000", NULL, 2880); }
static void b_no_image (const char *d) { session (d, 3, -1, 0, PIX_STARS); header_only (d, "noimage.fits", "8", "0", NULL, NULL, NULL, 0); }
static void
b_mixed_size (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  frame (d, "odd size.fits", PIX_STARS, 7, NULL, W - 8, H, 1);
}
static void
b_tiny_frames (const char *d)
{
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("tiny%u.fits", i);
      frame (d, name, PIX_STARS, i, NULL, 15, 12, 1);
    }
}
static void
b_tiny_bayer (const char *d)
{
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("tiny%u.fits", i);
      frame (d, name, PIX_STARS, i, "RGGB", 30, 40, 1);
    }
}
static void
b_mixed_rgb (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  frame (d, "colour.fits", PIX_STARS, 7, NULL, W, H, 3);
}
static void
b_mixed_bayer (const char *d)
{
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%u.fits", i);
      frame (d, name, PIX_STARS, i, "GRBG", W, H, 1);
    }
  frame (d, "other pattern.fits", PIX_STARS, 8, "RGGB", W, H, 1);
}
static void b_one_frame (const char *d) { session (d, 1, -1, 0, PIX_STARS); }
static void b_all_nan (const char *d) { session (d, 4, -1, 0, PIX_ALL_NAN); }
static void b_all_zero (const char *d) { session (d, 4, -1, 0, PIX_ZERO); }
static void b_all_gated (const char *d) { session (d, 4, -1, 0, PIX_NOISE); }
static void b_some_nan (const char *d) { session (d, 4, 1, PIX_SOME_NAN, PIX_SOME_NAN); }
static void b_one_nan_frame (const char *d) { session (d, 5, 2, PIX_ALL_NAN, PIX_STARS); }
static void b_one_zero_frame (const char *d) { session (d, 5, 2, PIX_ZERO, PIX_STARS); }
static void
b_bad_date (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
  g_autofree char *path = g_build_filename (d, "baddate.fits", NULL);
  g_autofree float *v = make_pixels (PIX_STARS, W, H, 1, 4);
  const char *cards[] = { "DATE-OBS= 'yesterday night'", "EXPTIME = 'ten'", NULL };
  tsr_test_write_fits (path, FLOAT_IMG, W, H, 1, v, cards);
}
static void
b_list_missing (const char *d)
{
  session (d, 3, -1, 0, PIX_STARS);
}

/* Which commands accept a case (exit 0): a space-separated list of command labels. */
typedef struct
{
  const char *name;
  void (*build) (const char *dir);
  const char *args;      /* session arguments relative to the case folder, '|'-separated */
  const char *fragment;  /* what the one-line error must name */
  const char *ok_for;    /* labels of the commands that accept it (NULL: none) */
} BadSession;

static const BadSession cases[] = {
  { "missing-path", b_missing, "nowhere", "nowhere", NULL },
  { "empty-folder", b_empty, "s", "no frames found", NULL },
  { "no-fits-in-folder", b_text_only, "s", "no frames found", NULL },
  { "text-named-fits", b_not_fits, "s", "readme.fits", NULL },
  { "bad-xisf", b_not_xisf, "s", "notes.xisf", NULL },
  { "text-named-raw", b_not_raw, "s", "shot.cr2", NULL },
  { "truncated-tiff", b_not_tiff, "s", "scan.tif", NULL },
  { "zero-byte-fits", b_zero_bytes, "s", "empty.fits", NULL },
  { "png-named-fits", b_png_named_fits, "s", "photo.fits", NULL },
  { "truncated-in-header", b_trunc_header, "s", "f1.fits", NULL },
  { "truncated-at-data-start", b_trunc_data_start, "s", "f1.fits", NULL },
  { "truncated-mid-data", b_trunc_mid, "s", "f1.fits", NULL },
  { "truncated-last-byte", b_trunc_last_byte, "s", "f1.fits", NULL },
  { "truncated-unicode-name", b_unicode_trunc, "s", "Nacht ä 01.fits", NULL },
  { "header-without-end", b_no_end, "s", "noend.fits", NULL },
  { "bitpix-24", b_bitpix, "s", "bitpix24.fits", NULL },
  { "naxis-1", b_naxis1, "s", "spectrum.fits", NULL },
  { "naxis-4", b_naxis4, "s", "cube4.fits", NULL },
  { "naxis3-2-planes", b_planes2, "s", "twoplanes.fits", NULL },
  { "zero-sized-axis", b_zero_axis, "s", "zeroaxis.fits", NULL },
  { "claims-100000x100000", b_huge, "s", "huge.fits", NULL },
  { "claims-60000x60000-float", b_huge_pixels, "s", "huge.fits", NULL },
  { "claims-20000x20000-small-file", b_big_claim, "s", "bigclaim.fits", NULL },
  { "no-image-hdu", b_no_image, "s", "noimage.fits", NULL },
  { "mixed-sizes", b_mixed_size, "s", "odd size.fits", NULL },
  { "mixed-mono-rgb", b_mixed_rgb, "s", "colour.fits", NULL },
  { "mixed-bayer-patterns", b_mixed_bayer, "s", "other pattern.fits", NULL },
  { "file-list-with-missing-file", b_list_missing, "s/f0.fits|s/gone.fits|s/f1.fits", "gone.fits", NULL },
  /* decisions, see docs/reliability.md */
  { "one-frame", b_one_frame, "s", "f0.fits", "info stack stack-median" },
  { "all-frames-nan", b_all_nan, "s", "s", "info" },
  { "all-frames-zero", b_all_zero, "s", "s", "info stack stack-median" },
  { "every-frame-gated", b_all_gated, "s", "s", "info stack stack-median" },
  /* too small to register: said so with the size (issue #20, class 9) */
  { "frames-15x12", b_tiny_frames, "s", "too small to register (at least 16 × 16", "info stack stack-median" },
  { "bayer-frames-30x40", b_tiny_bayer, "s", "Bayer frames need at least 32 × 32", "info stack stack-median" },
  { "scattered-nan-inf", b_some_nan, "s", NULL, "info stack stack-median register process deconv" },
  { "one-frame-all-nan", b_one_nan_frame, "s", NULL, "info stack stack-median register process deconv" },
  { "one-frame-all-zero", b_one_zero_frame, "s", NULL, "info stack stack-median register process deconv" },
  { "unparsable-date-exptime", b_bad_date, "s", NULL, "info stack stack-median register process deconv" },
};

/* ------------------------------------------------------------------------------------- */
/* Commands                                                                               */

typedef struct
{
  const char *label;
  const char *argv[10];  /* "{S}" = the session arguments, "{O}" = the output path */
  const char *out_ext;   /* the output file's extension, NULL when the command writes none */
} Command;

static const Command commands[] = {
  { "info", { "info", "{S}", NULL }, NULL },
  { "stack", { "stack", "{S}", "-o", "{O}", NULL }, ".fits" },
  { "stack-median", { "stack", "-m", "median", "{S}", "-o", "{O}", NULL }, ".fits" },
  { "register", { "register", "-q", "{S}", "--json", "{O}", NULL }, ".json" },
  { "process", { "process", "{S}", "-o", "{O}", NULL }, ".fits" },
  { "deconv", { "deconv", "{S}", "-o", "{O}", NULL }, ".fits" },
  /* a new session-reading subcommand is one more row here (and a word in the ok_for
   * lists of the cases it accepts) */
};

static const char PRECIOUS[] = "SIMPLE  = precious result of last night: must survive any failed run\n";

/* ------------------------------------------------------------------------------------- */
/* Snapshots: every file under a folder with its size and checksum.                       */

static int
cmp_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
snap_walk (const char *root, const char *rel, GString *out)
{
  g_autofree char *dir = rel ? g_build_filename (root, rel, NULL) : g_strdup (root);
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *n;
  while ((n = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (n));
  g_dir_close (d);
  g_ptr_array_sort (names, cmp_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autofree char *r = rel ? g_build_filename (rel, name, NULL) : g_strdup (name);
      g_autofree char *full = g_build_filename (root, r, NULL);
      if (g_file_test (full, G_FILE_TEST_IS_SYMLINK))
        g_string_append_printf (out, "%s -> link\n", r);
      else if (g_file_test (full, G_FILE_TEST_IS_DIR))
        {
          g_string_append_printf (out, "%s/\n", r);
          snap_walk (root, r, out);
        }
      else
        {
          gsize len = 0;
          g_autofree char *bytes = tsr_test_read_file (full, &len);
          g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) (bytes ? bytes : ""), len);
          g_string_append_printf (out, "%s %" G_GSIZE_FORMAT " %s\n", r, len, sum);
        }
    }
  g_ptr_array_unref (names);
}

static char *
snapshot (const char *root)
{
  GString *s = g_string_new (NULL);
  snap_walk (root, NULL, s);
  return g_string_free (s, FALSE);
}

/* Report a broken expectation and go on with the next case (run with -k to see all). */
#define FAIL_RUN(...) G_STMT_START { g_printerr ("FAIL: " __VA_ARGS__); g_printerr ("\n"); g_test_fail (); } G_STMT_END

static int
count_lines (const char *s)
{
  int n = 0;
  for (; s && *s; s++)
    n += *s == '\n';
  return n;
}

static void
assert_no_part_files (const char *root)
{
  g_autofree char *snap = snapshot (root);
  if (strstr (snap, ".part ") || strstr (snap, ".part\n"))
    g_error ("a temporary file was left behind under %s:\n%s", root, snap);
}

/* The child's resource limit for the injected write failure (−1: none). */
static rlim_t child_fsize = RLIM_INFINITY;
/* The child's address-space limit (RLIM_INFINITY: none). */
static rlim_t child_as = RLIM_INFINITY;

static void
child_setup (gpointer data)
{
  if (child_fsize != RLIM_INFINITY)
    {
      /* writes past the limit fail with EFBIG instead of killing the process */
      signal (SIGXFSZ, SIG_IGN);
      struct rlimit rl = { child_fsize, child_fsize };
      setrlimit (RLIMIT_FSIZE, &rl);
    }
  if (child_as != RLIM_INFINITY)
    {
      struct rlimit rl = { child_as, child_as };
      setrlimit (RLIMIT_AS, &rl);
    }
}

static int
run_cli (GPtrArray *args, char **out, char **err)
{
  const char *cli = g_getenv ("TSR_CLI");
  g_assert_nonnull (cli);
  g_ptr_array_insert (args, 0, (gpointer) cli);
  g_ptr_array_add (args, NULL);
  int status = 0;
  GError *e = NULL;
  gboolean ok = g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_DEFAULT, child_setup, NULL, out, err,
                              &status, &e);
  g_assert_no_error (e);
  g_assert_true (ok);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + (WIFSIGNALED (status) ? WTERMSIG (status) : 0);
}

/* Expand a command row: {S} → session args, {O} → out. */
static GPtrArray *
expand (const char *const *argv, const char *case_dir, const char *sargs, const char *out)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (NULL);
  static GStringChunk *chunk;
  if (!chunk)
    chunk = g_string_chunk_new (4096);
  for (int i = 0; argv[i]; i++)
    {
      if (!strcmp (argv[i], "{S}"))
        {
          g_auto (GStrv) parts = g_strsplit (sargs, "|", -1);
          for (int k = 0; parts[k]; k++)
            {
              g_autofree char *p = g_build_filename (case_dir, parts[k], NULL);
              g_ptr_array_add (a, g_string_chunk_insert (chunk, p));
            }
        }
      else if (!strcmp (argv[i], "{O}"))
        g_ptr_array_add (a, g_string_chunk_insert (chunk, out));
      else
        g_ptr_array_add (a, (gpointer) argv[i]);
    }
  return a;
}

/* Run args, expecting a clean failure naming fragment; every folder in watch unchanged. */
static void
expect_failure (GPtrArray *args, const char *fragment, const char *const *watch)
{
  g_autoptr (GPtrArray) snaps = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; watch[i]; i++)
    g_ptr_array_add (snaps, snapshot (watch[i]));
  g_autofree char *cmdline = NULL;
  {
    g_ptr_array_add (args, NULL);
    cmdline = g_strjoinv (" ", (char **) args->pdata);
    g_ptr_array_remove_index (args, args->len - 1);
  }
  g_autofree char *out = NULL, *err = NULL;
  count_run (args->pdata[0]);
  int rc = run_cli (args, &out, &err);
  n_runs_fail++;
  if (rc == 0 || rc >= 128)
    { FAIL_RUN ("%s: exit status %d (expected a clean failure)\nstderr: %s", cmdline, rc, err); return; }
  if (count_lines (err) != 1)
    { FAIL_RUN ("%s: expected one line on stderr, got:\n%s", cmdline, err); return; }
  gboolean named = fragment == NULL;
  if (fragment)
    {
      /* alternatives separated by '|' */
      g_auto (GStrv) alt = g_strsplit (fragment, "|", -1);
      for (int i = 0; alt[i] && !named; i++)
        named = strstr (err, alt[i]) != NULL;
    }
  if (!named)
    { FAIL_RUN ("%s: the message '%s' does not name '%s'", cmdline, g_strchomp (err), fragment); return; }
  for (int i = 0; watch[i]; i++)
    {
      g_autofree char *after = snapshot (watch[i]);
      if (strcmp (after, snaps->pdata[i]) != 0)
        { FAIL_RUN ("%s: %s changed:\nbefore:\n%s\nafter:\n%s", cmdline, watch[i], (char *) snaps->pdata[i], after); return; }
    }
  g_test_message ("%s → %d: %s", cmdline, rc, g_strchomp (err));
}

/* Run args, expecting success; inputs unchanged; out (when given) a complete result. */
static void
expect_success (GPtrArray *args, const char *inputs, const char *out, const char *out_ext)
{
  g_autofree char *before = snapshot (inputs);
  g_autofree char *o = NULL, *err = NULL;
  count_run (args->pdata[0]);
  int rc = run_cli (args, &o, &err);
  n_runs_ok++;
  if (rc != 0)
    { FAIL_RUN ("%s: exit status %d (expected success)\nstderr: %s", (char *) args->pdata[1], rc, err); return; }
  g_autofree char *after = snapshot (inputs);
  g_assert_cmpstr (after, ==, before);
  if (out && out_ext && !strcmp (out_ext, ".fits"))
    {
      GError *e = NULL;
      g_autoptr (TsrImage) img = tsr_fits_read (out, &e);
      g_assert_no_error (e);
      gsize n = tsr_image_npix (img) * img->channels, finite = 0;
      for (gsize i = 0; i < n; i++)
        finite += isfinite (img->data[i]) != 0;
      g_assert_cmpuint (finite, ==, n);
      g_assert_cmpuint (tsr_image_count_valid (img), >, tsr_image_npix (img) / 2);
    }
  else if (out && out_ext && !strcmp (out_ext, ".json"))
    {
      GError *e = NULL;
      g_autoptr (TsrJson) j = tsr_json_parse_file (out, &e);
      g_assert_no_error (e);
    }
  if (out)
    {
      g_autofree char *dir = g_path_get_dirname (out);
      assert_no_part_files (dir);
    }
}

static gboolean
in_list (const char *label, const char *list)
{
  if (!list)
    return FALSE;
  g_auto (GStrv) v = g_strsplit (list, " ", -1);
  return g_strv_contains ((const char *const *) v, label);
}

typedef struct
{
  const BadSession *bad;
  const Command *cmd;
} MatrixCell;

static char *
case_dir (const BadSession *bad)
{
  g_autofree char *d = g_build_filename (tmp, "cases", bad->name, NULL);
  g_autofree char *s = g_build_filename (d, "s", NULL);
  if (!g_file_test (d, G_FILE_TEST_IS_DIR))
    {
      g_mkdir_with_parents (d, 0755);
      bad->build (s);
    }
  return g_steal_pointer (&d);
}

static void
test_matrix_cell (gconstpointer data)
{
  const MatrixCell *cell = data;
  g_autofree char *cdir = case_dir (cell->bad);
  g_autofree char *odir = g_build_filename (tmp, "out", cell->bad->name, cell->cmd->label, NULL);
  g_mkdir_with_parents (odir, 0755);
  g_autofree char *name = g_strconcat ("result", cell->cmd->out_ext ? cell->cmd->out_ext : "", NULL);
  g_autofree char *out = g_build_filename (odir, name, NULL);
  if (cell->cmd->out_ext)
    tsr_test_write_file (out, PRECIOUS, sizeof PRECIOUS - 1);
  GPtrArray *args = expand (cell->cmd->argv, cdir, cell->bad->args, out);
  if (in_list (cell->cmd->label, cell->bad->ok_for))
    {
      expect_success (args, cdir, cell->cmd->out_ext ? out : NULL, cell->cmd->out_ext);
      /* a dead frame among good ones is gated with a reason, not silently used */
      if (!strcmp (cell->cmd->label, "register") && g_str_has_prefix (cell->bad->name, "one-frame-all-"))
        {
          GError *e = NULL;
          g_autoptr (TsrJson) j = tsr_json_parse_file (out, &e);
          g_assert_no_error (e);
          const TsrJson *frames = tsr_json_get (j, "frames");
          gboolean seen = FALSE;
          for (guint i = 0; i < tsr_json_length (frames); i++)
            {
              const TsrJson *f = tsr_json_index (frames, i);
              const char *file = tsr_json_str (tsr_json_get (f, "file"));
              if (!file || !g_str_has_suffix (file, G_DIR_SEPARATOR_S "f2.fits"))
                continue;
              seen = TRUE;
              g_assert_true (tsr_json_boolean (tsr_json_get (f, "gated"), FALSE));
              g_assert_cmpuint (tsr_json_length (tsr_json_get (f, "gate_reasons")), >=, 1);
            }
          g_assert_true (seen);
        }
    }
  else
    {
      const char *watch[] = { cdir, odir, NULL };
      expect_failure (args, cell->bad->fragment, watch);
    }
  g_ptr_array_unref (args);
}

/* ------------------------------------------------------------------------------------- */
/* Output side                                                                            */

static char *good_session;

static const char *
good (void)
{
  if (!good_session)
    {
      good_session = g_build_filename (tmp, "good", NULL);
      session (good_session, 4, -1, 0, PIX_STARS);
    }
  return good_session;
}

static gboolean
is_root (void)
{
  return geteuid () == 0;
}

static gboolean
sh (const char *cmd)
{
  int status = 0;
  g_autofree char *o = NULL, *e = NULL;
  const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, NULL))
    return FALSE;
  return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

static void
test_output_cases (gconstpointer data)
{
  const Command *cmd = data;
  const char *s = good ();
  g_autofree char *odir = g_build_filename (tmp, "outside", cmd->label, NULL);
  g_mkdir_with_parents (odir, 0755);
  g_autofree char *name = g_strconcat ("result", cmd->out_ext, NULL);
  g_autofree char *existing = g_build_filename (odir, name, NULL);
  tsr_test_write_file (existing, PRECIOUS, sizeof PRECIOUS - 1);
  const char *watch[] = { s, odir, NULL };

  /* output folder missing */
  g_autofree char *missing = g_build_filename (odir, "no-such-folder", name, NULL);
  GPtrArray *a = expand (cmd->argv, s, ".", missing);
  expect_failure (a, "no-such-folder", watch);
  g_ptr_array_unref (a);

  /* output is a folder */
  a = expand (cmd->argv, s, ".", odir);
  expect_failure (a, odir, watch);
  g_ptr_array_unref (a);

  /* output "folder" is a file */
  g_autofree char *under_file = g_build_filename (existing, name, NULL);
  a = expand (cmd->argv, s, ".", under_file);
  expect_failure (a, name, watch);
  g_ptr_array_unref (a);

  /* output equal to an input, spelt directly, through ../, and through a symbolic link */
  g_autofree char *in1 = g_build_filename (s, "f1.fits", NULL);
  g_autofree char *base = g_path_get_basename (s);
  g_autofree char *in1b = g_build_filename (s, "..", base, ".", "f1.fits", NULL);
  g_autofree char *link = g_build_filename (odir, "link.fits", NULL);
  g_unlink (link);
  g_assert_cmpint (symlink (in1, link), ==, 0);
  const char *same[] = { in1, in1b, link };
  for (guint i = 0; i < G_N_ELEMENTS (same); i++)
    {
      a = expand (cmd->argv, s, ".", same[i]);
      expect_failure (a, "overwrite", watch);
      g_ptr_array_unref (a);
    }
  g_unlink (link);

  /* output folder not writable: by permissions (not root), or a read-only mount (root) */
  if (!is_root ())
    {
      g_autofree char *ro = g_build_filename (odir, "ro", NULL);
      g_mkdir (ro, 0755);
      g_autofree char *ro_existing = g_build_filename (ro, name, NULL);
      tsr_test_write_file (ro_existing, PRECIOUS, sizeof PRECIOUS - 1);
      g_chmod (ro, 0555);
      a = expand (cmd->argv, s, ".", ro_existing);
      const char *w2[] = { s, ro, NULL };
      expect_failure (a, name, w2);
      g_ptr_array_unref (a);
      g_chmod (ro, 0755);
    }
  else
    {
      g_autofree char *mnt = g_build_filename (odir, "ro-mount", NULL);
      g_mkdir (mnt, 0755);
      g_autofree char *mount = g_strdup_printf ("mount -t tmpfs -o size=256k tessera-test '%s'", mnt);
      if (sh (mount))
        {
          g_autofree char *ro_existing = g_build_filename (mnt, name, NULL);
          tsr_test_write_file (ro_existing, PRECIOUS, sizeof PRECIOUS - 1);
          g_autofree char *remount = g_strdup_printf ("mount -o remount,ro '%s'", mnt);
          g_assert_true (sh (remount));
          a = expand (cmd->argv, s, ".", ro_existing);
          const char *w2[] = { s, mnt, NULL };
          expect_failure (a, name, w2);
          g_ptr_array_unref (a);
          g_autofree char *umount = g_strdup_printf ("umount '%s'", mnt);
          g_assert_true (sh (umount));
        }
      else
        g_test_message ("read-only tmpfs not available: only the /proc case runs");
      /* a folder nobody can create files in, not even root */
      a = expand (cmd->argv, s, ".", "/proc/tessera-result.fits");
      const char *w3[] = { s, NULL };
      expect_failure (a, "/proc", w3);
      g_ptr_array_unref (a);
    }
}

/* Write failures: the output cannot be completed (injected EFBIG, or a full tmpfs). */
static void
test_write_failure_injected (gconstpointer data)
{
  const Command *cmd = data;
  const char *s = good ();
  g_autofree char *odir = g_build_filename (tmp, "efbig", cmd->label, NULL);
  g_mkdir_with_parents (odir, 0755);
  g_autofree char *name = g_strconcat ("result", cmd->out_ext, NULL);
  g_autofree char *existing = g_build_filename (odir, name, NULL);
  tsr_test_write_file (existing, PRECIOUS, sizeof PRECIOUS - 1);
  const char *watch[] = { s, odir, NULL };
  GPtrArray *a = expand (cmd->argv, s, ".", existing);
  child_fsize = 512;  /* every output file stops at 512 bytes */
  /* the output's name, or a temporary working file that could not be written (deconv) */
  g_autofree char *frag = g_strconcat (name, "|is the temporary folder full", NULL);
  expect_failure (a, frag, watch);
  child_fsize = RLIM_INFINITY;
  g_ptr_array_unref (a);
}

static void
test_write_failure_tmpfs (gconstpointer data)
{
  const Command *cmd = data;
  if (!is_root ())
    {
      g_test_skip ("mounting a small tmpfs needs root; the injected write failure covers this");
      return;
    }
  const char *s = good ();
  g_autofree char *mnt = g_build_filename (tmp, "full", cmd->label, NULL);
  g_mkdir_with_parents (mnt, 0755);
  g_autofree char *mount = g_strdup_printf ("mount -t tmpfs -o size=16k tessera-full '%s'", mnt);
  if (!sh (mount))
    {
      g_test_skip ("cannot mount a tmpfs here");
      return;
    }
  g_autofree char *name = g_strconcat ("result", cmd->out_ext, NULL);
  g_autofree char *existing = g_build_filename (mnt, name, NULL);
  tsr_test_write_file (existing, PRECIOUS, sizeof PRECIOUS - 1);
  /* fill the disk to the last few hundred bytes */
  g_autofree char *filler = g_build_filename (mnt, "filler", NULL);
  g_autofree char *dd = g_strdup_printf ("dd if=/dev/zero of='%s' bs=512 count=64 2>/dev/null; true", filler);
  sh (dd);
  const char *watch[] = { s, mnt, NULL };
  GPtrArray *a = expand (cmd->argv, s, ".", existing);
  expect_failure (a, name, watch);
  g_ptr_array_unref (a);
  g_autofree char *umount = g_strdup_printf ("umount '%s'", mnt);
  g_assert_true (sh (umount));
}

/* Ctrl+C at different moments of a run: the run stops with one line saying so (or was
 * already done), and leaves no partial file; an existing output is untouched. */
static char *sigint_session;

static void
test_sigint (gconstpointer data)
{
  const Command *cmd = data;
  if (!sigint_session)
    {
      sigint_session = g_build_filename (tmp, "sigint-session", NULL);
      TsrSynthParams p;
      tsr_synth_params_init (&p);
      p.n_frames = 8;
      p.width = 256;
      p.height = 192;
      p.n_stars = 150;
      p.seed = 5;
      GError *e = NULL;
      g_autoptr (TsrSynthTruth) t = tsr_synth_write_session (&p, sigint_session, NULL, NULL, NULL, &e);
      g_assert_no_error (e);
    }
  g_autofree char *odir = g_build_filename (tmp, "sigint", cmd->label, NULL);
  g_mkdir_with_parents (odir, 0755);
  g_autofree char *name = g_strconcat ("result", cmd->out_ext, NULL);
  g_autofree char *out = g_build_filename (odir, name, NULL);
  const guint delays_ms[] = { 0, 20, 60, 150, 300, 600 };
  guint stopped = 0, finished = 0;
  for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++)
    {
      tsr_test_write_file (out, PRECIOUS, sizeof PRECIOUS - 1);
      g_autofree char *before = snapshot (odir);
      g_autofree char *before_in = snapshot (sigint_session);
      GPtrArray *a = expand (cmd->argv, sigint_session, ".", out);
      g_ptr_array_insert (a, 0, (gpointer) g_getenv ("TSR_CLI"));
      g_ptr_array_add (a, NULL);
      GPid pid;
      int err_fd = -1;
      GError *e = NULL;
      g_assert_true (g_spawn_async_with_pipes (NULL, (char **) a->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                               &pid, NULL, NULL, &err_fd, &e));
      g_assert_no_error (e);
      g_usleep (delays_ms[i] * 1000);
      /* Ctrl+C, or the terminal closing (SIGHUP): both cancel and clean up */
      int sig = i % 2 ? SIGHUP : SIGINT;
      kill (pid, sig);
      int status = 0;
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      g_spawn_close_pid (pid);
      GString *err = g_string_new (NULL);
      char buf[512];
      ssize_t n;
      while ((n = read (err_fd, buf, sizeof buf)) > 0)
        g_string_append_len (err, buf, n);
      close (err_fd);
      g_autofree char *after = snapshot (odir);
      g_autofree char *after_in = snapshot (sigint_session);
      g_assert_cmpstr (after_in, ==, before_in);
      assert_no_part_files (odir);
      if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        finished++; /* done before the signal: a complete result */
      else
        {
          /* cancelled (one line naming the cancel) or killed before the handler was set */
          if (WIFEXITED (status))
            {
              g_assert_cmpint (WEXITSTATUS (status), <, 128);
              g_assert_cmpint (count_lines (err->str), ==, 1);
              if (!strstr (err->str, "ancel"))
                g_error ("%s after %u ms: '%s' does not say it was cancelled", cmd->label, delays_ms[i], err->str);
              /* … by what (not GIO's bare "Operation was cancelled"), and that nothing is half-written */
              if (!strstr (err->str, sig == SIGINT ? "Ctrl+C" : "SIGHUP") || !strstr (err->str, "half-written"))
                g_error ("%s after %u ms: '%s' does not say which signal stopped it", cmd->label, delays_ms[i],
                         err->str);
            }
          else
            {
              g_assert_cmpint (WTERMSIG (status), ==, sig);
              /* 600 ms in, the handler is long installed: a signal must cancel, not kill */
              if (delays_ms[i] >= 600)
                g_error ("%s: killed by signal %d after %u ms instead of cancelling", cmd->label, sig,
                         delays_ms[i]);
            }
          g_assert_cmpstr (after, ==, before);
          stopped++;
        }
      g_string_free (err, TRUE);
      g_ptr_array_unref (a);
      n_runs_sigint++;
    }
  g_test_message ("%s: %u runs stopped by Ctrl+C, %u finished first", cmd->label, stopped, finished);
  g_assert_cmpuint (stopped, >=, 1);
}

/* The checks added against corrupt tile-compressed files (docs/reliability.md, fuzzing)
 * must accept every valid Rice/GZIP file cfitsio writes: every integer BITPIX, float,
 * edge tiles. HCOMPRESS is refused with a message. */
static void
test_compressed_valid (void)
{
  g_autofree char *dir = g_build_filename (tmp, "fz", NULL);
  g_mkdir_with_parents (dir, 0755);
  const int w = 50, h = 37;
  const struct { int bitpix; int type; long tile[2]; int unused; } cases[] = {
    { BYTE_IMG, RICE_1, { 16, 16 }, 32 }, { SHORT_IMG, RICE_1, { 50, 1 }, 32 },
    { USHORT_IMG, RICE_1, { 7, 5 }, 16 }, { LONG_IMG, RICE_1, { 16, 16 }, 32 },
    { FLOAT_IMG, RICE_1, { 50, 1 }, 32 }, { SHORT_IMG, GZIP_1, { 16, 16 }, 32 },
    { FLOAT_IMG, GZIP_2, { 50, 4 }, 32 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("c%u.fits.fz", i);
      g_autofree char *p = g_build_filename (dir, name, NULL);
      float *v = g_new (float, w * h);
      GRand *r = g_rand_new_with_seed (i);
      for (int k = 0; k < w * h; k++)
        v[k] = (float) ((k % 3 == 0 ? g_rand_int_range (r, 0, 120) : 60 + k % 50) + (i == 4 ? 0.25 : 0));
      g_rand_free (r);
      fitsfile *f = NULL;
      int status = 0;
      fits_create_diskfile (&f, p, &status);
      fits_set_compression_type (f, cases[i].type, &status);
      fits_set_tile_dim (f, 2, (long *) cases[i].tile, &status);
      if (cases[i].bitpix == FLOAT_IMG && cases[i].type != RICE_1)
        fits_set_quantize_level (f, 0.0, &status);  /* lossless GZIP */
      long naxes[2] = { w, h };
      fits_create_img (f, cases[i].bitpix, 2, naxes, &status);
      if (cases[i].bitpix == FLOAT_IMG)
        fits_write_img (f, TFLOAT, 1, w * h, v, &status);
      else
        {
          /* compressed images take only their own data type */
          int bp = cases[i].bitpix;
          gsize sz = bp == BYTE_IMG ? 1 : (bp == LONG_IMG ? 4 : 2);
          guint8 *raw = g_malloc (sz * w * h);
          for (int k = 0; k < w * h; k++)
            {
              if (bp == BYTE_IMG)
                raw[k] = (guint8) v[k];
              else if (bp == LONG_IMG)
                ((gint32 *) raw)[k] = (gint32) v[k];
              else if (bp == USHORT_IMG)
                ((guint16 *) raw)[k] = (guint16) v[k];
              else
                ((gint16 *) raw)[k] = (gint16) v[k];
            }
          int type = bp == BYTE_IMG ? TBYTE : bp == LONG_IMG ? TINT : bp == USHORT_IMG ? TUSHORT : TSHORT;
          fits_write_img (f, type, 1, w * h, raw, &status);
          g_free (raw);
        }
      fits_close_file (f, &status);
      if (status)
        g_error ("case %u: cfitsio status %d", i, status);
      GError *e = NULL;
      g_autoptr (TsrImage) img = tsr_fits_read (p, &e);
      g_assert_no_error (e);
      /* quantised float Rice is lossy by design: within the quantisation step */
      double tol = cases[i].bitpix == FLOAT_IMG && cases[i].type == RICE_1 ? 20.0 : 1e-3;
      for (int k = 0; k < w * h; k++)
        g_assert_cmpfloat_with_epsilon (img->data[k], v[k], tol);
      g_free (v);
    }
  /* HCOMPRESS: refused, named */
  g_autofree char *hp = g_build_filename (dir, "hcomp.fits.fz", NULL);
  fitsfile *f = NULL;
  int status = 0;
  short sv[64 * 64];
  for (int k = 0; k < 64 * 64; k++)
    sv[k] = (short) (k % 100);
  fits_create_diskfile (&f, hp, &status);
  fits_set_compression_type (f, HCOMPRESS_1, &status);
  long naxes[2] = { 64, 64 };
  fits_create_img (f, SHORT_IMG, 2, naxes, &status);
  fits_write_img (f, TSHORT, 1, 64 * 64, sv, &status);
  fits_close_file (f, &status);
  g_assert_cmpint (status, ==, 0);
  GError *e = NULL;
  g_assert_null (tsr_fits_read (hp, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_FORMAT);
  g_assert_nonnull (strstr (e->message, "hcomp.fits.fz"));
  g_assert_nonnull (strstr (e->message, "HCOMPRESS"));
  g_clear_error (&e);
}

/* ------------------------------------------------------------------------------------- */
/* Project files and parameters (process --config / --set)                                */

typedef struct
{
  const char *name;
  const char *text;     /* "%s" is replaced by the good session's folder */
  gssize len;           /* −1: strlen */
  const char *fragment; /* the key or file the message must name ("{P}" = the project file) */
} BadProject;

static const BadProject projects[] = {
  { "garbage", "this is not a project\n{{{\n", -1, "line 1" },
  { "binary", "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 16, "{P}" },
  { "empty", "", -1, "{P}" },
  { "no-version", "[session]\npaths=%s\n", -1, "version" },
  { "newer-version", "[tessera]\nversion=99\n[session]\npaths=%s\n", -1, "version" },
  { "bad-version", "[tessera]\nversion=one\n[session]\npaths=%s\n", -1, "version" },
  { "unknown-key", "[tessera]\nversion=1\n[session]\npaths=%s\n[global]\nalpah=0.5\n", -1, "alpah" },
  { "unknown-group", "[tessera]\nversion=1\n[session]\npaths=%s\n[colour]\nsaturation=2\n", -1, "colour" },
  { "unknown-session-key", "[tessera]\nversion=1\n[session]\npaths=%s\nrecursiv=true\n", -1, "recursiv" },
  { "out-of-range", "[tessera]\nversion=1\n[session]\npaths=%s\n[tiles]\noverlap=7\n", -1, "tiles.overlap" },
  { "negative", "[tessera]\nversion=1\n[session]\npaths=%s\n[reject]\nkappa=-3\n", -1, "reject.kappa" },
  { "not-a-number", "[tessera]\nversion=1\n[session]\npaths=%s\n[global]\nk=fast\n", -1, "global.k" },
  { "nan-value", "[tessera]\nversion=1\n[session]\npaths=%s\n[global]\nk=nan\n", -1, "global.k" },
  { "bad-enum", "[tessera]\nversion=1\n[session]\npaths=%s\n[reject]\nmode=maybe\n", -1, "reject.mode" },
  { "bad-bool", "[tessera]\nversion=1\n[session]\npaths=%s\n[gate]\nkeep_gated=perhaps\n", -1, "gate.keep_gated" },
  { "weights-not-sum-1", "[tessera]\nversion=1\n[session]\npaths=%s\n[global]\nalpha=0.9\nbeta=0.9\n", -1, "alpha" },
  { "session-missing", "[tessera]\nversion=1\n[session]\npaths=/nonexistent/night\n", -1, "/nonexistent/night" },
};

static void
test_project_file (gconstpointer data)
{
  const BadProject *bp = data;
  const char *s = good ();
  g_autofree char *dir = g_build_filename (tmp, "projects", bp->name, NULL);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *proj = g_build_filename (dir, "night.tessera", NULL);
  if (bp->len >= 0)
    tsr_test_write_file (proj, bp->text, bp->len);
  else
    {
      GString *t = g_string_new (bp->text);
      g_autofree char *txt = NULL;
      if (strstr (bp->text, "%s"))
        {
          char *pos = strstr (t->str, "%s");
          gsize at = pos - t->str;
          g_string_erase (t, at, 2);
          g_string_insert (t, at, s);
        }
      tsr_test_write_file (proj, t->str, t->len);
      g_string_free (t, TRUE);
    }
  g_autofree char *out = g_build_filename (dir, "result.fits", NULL);
  tsr_test_write_file (out, PRECIOUS, sizeof PRECIOUS - 1);
  GPtrArray *a = g_ptr_array_new ();
  g_ptr_array_add (a, "process");
  g_ptr_array_add (a, "--config");
  g_ptr_array_add (a, proj);
  g_ptr_array_add (a, "-o");
  g_ptr_array_add (a, out);
  const char *watch[] = { s, dir, NULL };
  expect_failure (a, !strcmp (bp->fragment, "{P}") ? proj : bp->fragment, watch);
  g_ptr_array_unref (a);
}

static void
test_project_as_output (void)
{
  const char *s = good ();
  g_autofree char *dir = g_build_filename (tmp, "projects", "as-output", NULL);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *proj = g_build_filename (dir, "night.tessera", NULL);
  g_autofree char *text = g_strdup_printf ("[tessera]\nversion=1\n[session]\npaths=%s\n", s);
  tsr_test_write_file (proj, text, strlen (text));
  const char *watch[] = { s, dir, NULL };
  const char *opts[] = { "-o", "--mean-stack", "--json" };
  g_autofree char *res = g_build_filename (dir, "r.fits", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (opts); i++)
    {
      GPtrArray *a = g_ptr_array_new ();
      g_ptr_array_add (a, "process");
      g_ptr_array_add (a, "--config");
      g_ptr_array_add (a, proj);
      if (i > 0)
        {
          g_ptr_array_add (a, "-o");
          g_ptr_array_add (a, res);
        }
      g_ptr_array_add (a, (gpointer) opts[i]);
      g_ptr_array_add (a, proj);
      expect_failure (a, "night.tessera", watch);
      g_ptr_array_unref (a);
    }
  /* the report folder must not be the session's own folder */
  GPtrArray *a = g_ptr_array_new ();
  const char *r[] = { "process", s, "-o", res, "--report", s };
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    g_ptr_array_add (a, (gpointer) r[i]);
  expect_failure (a, "f0.fits", watch);
  g_ptr_array_unref (a);
  /* mean stack into an input */
  g_autofree char *in0 = g_build_filename (s, "f0.fits", NULL);
  a = g_ptr_array_new ();
  const char *m[] = { "process", s, "-o", res, "--mean-stack", in0 };
  for (guint i = 0; i < G_N_ELEMENTS (m); i++)
    g_ptr_array_add (a, (gpointer) m[i]);
  expect_failure (a, "overwrite", watch);
  g_ptr_array_unref (a);
}

static void
test_bad_set (void)
{
  const char *s = good ();
  g_autofree char *dir = g_build_filename (tmp, "set", NULL);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *out = g_build_filename (dir, "result.fits", NULL);
  tsr_test_write_file (out, PRECIOUS, sizeof PRECIOUS - 1);
  const char *watch[] = { s, dir, NULL };
  const struct { const char *set; const char *fragment; } sets[] = {
    { "global.alpah=0.5", "global.alpah" }, { "tiles.overlap=2", "tiles.overlap" },
    { "reject.mode=often", "reject.mode" }, { "run.threads=-1", "run.threads" },
    { "global.k", "global.k" }, { "=3", "unknown parameter" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (sets); i++)
    {
      GPtrArray *a = g_ptr_array_new ();
      const char *v[] = { "process", s, "-o", out, "--set", sets[i].set };
      for (guint k = 0; k < G_N_ELEMENTS (v); k++)
        g_ptr_array_add (a, (gpointer) v[k]);
      expect_failure (a, sets[i].fragment, watch);
      g_ptr_array_unref (a);
    }
}

/* ------------------------------------------------------------------------------------- */
/* Commands that write a folder: synth and demo                                          */

static void
test_synth_demo (void)
{
  g_autofree char *dir = g_build_filename (tmp, "gen", NULL);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *file = g_build_filename (dir, "a-file", NULL);
  tsr_test_write_file (file, PRECIOUS, sizeof PRECIOUS - 1);
  g_autofree char *under = g_build_filename (file, "sub", NULL);
  const char *watch[] = { dir, NULL };
  const struct { const char *argv[8]; const char *fragment; } runs[] = {
    { { "synth", file, "--frames", "2", "--width", "32", "--height", "32" }, "a-file" },
    { { "synth", under, "--frames", "2", "--width", "32", "--height", "32" }, "sub" },
    { { "synth", "/proc/tessera-synth", "--frames", "2", "--width", "32", "--height", "32" }, "/proc/tessera-synth" },
    { { "synth", dir, "--frames", "0" }, "--frames" },
    { { "synth", dir, "--width", "5" }, "--width" },
    { { "synth", dir, "--bayer", "XYZW" }, "XYZW" },
    { { "synth", dir, "--frames", "3", "--mirrored", "2", "--noise-only", "2" }, "mirrored" },
    { { "demo", file }, "a-file" },
    { { "demo", under }, "sub" },
    { { "demo", "/proc/tessera-demo" }, "/proc/tessera-demo" },
    { { "demo", dir, "--frames", "1" }, "--frames" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++)
    {
      GPtrArray *a = g_ptr_array_new ();
      for (int k = 0; k < 8 && runs[i].argv[k]; k++)
        g_ptr_array_add (a, (gpointer) runs[i].argv[k]);
      expect_failure (a, runs[i].fragment, watch);
      g_ptr_array_unref (a);
    }
}

/* Class 8 of issue #20: run.memory_mb is planned before a pixel is read. Three 1600 × 1400
 * frames need more than the key's least value (64 MiB): `process` is refused with the MiB
 * needed, and before reading pixels — the frames are all NaN, which a run that read them
 * would report as "every frame gated" instead. Nothing is written. */
static void
test_memory_budget (void)
{
  g_autofree char *dir = g_strdup_printf ("%s/budget", tmp);
  g_mkdir_with_parents (dir, 0755);
  const int w = 1600, h = 1400;
  g_autofree float *v = g_new (float, (gsize) w * h);
  for (gsize k = 0; k < (gsize) w * h; k++)
    v[k] = NAN;
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/f%u.fits", dir, i);
      g_autofree char *date = g_strdup_printf ("DATE-OBS= '2025-04-09T22:%02u:00'", i);
      const char *cards[] = { date, NULL };
      tsr_test_write_fits (name, FLOAT_IMG, w, h, 1, v, cards);
    }
  g_autofree char *out = g_strdup_printf ("%s/budget-out.fits", tmp);
  g_unlink (out);
  const char *argv_[] = { "process", dir, "-o", out, "--set", "run.memory_mb=64", NULL };
  g_autofree char *err = NULL, *sout = NULL;
  int rc = tsr_test_run_cli (argv_, &sout, &err);
  g_assert_cmpint (rc, !=, 0);
  if (!strstr (err, "run.memory_mb = 64") || !strstr (err, "needs at least"))
    g_error ("process under a too small budget: '%s'", err);
  /* refused before a pixel is read: the hot-pixel search (which reads frames, and says so)
   * did not run */
  if (sout && strstr (sout, "cosmetic"))
    g_error ("process under a too small budget read frames first: '%s'", sout);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  /* deconv: refused before its registration and staging pass, with the MiB it needs */
  const char *argv3[] = { "deconv", dir, "-o", out, "--set", "run.memory_mb=64", NULL };
  g_autofree char *err3 = NULL;
  rc = tsr_test_run_cli (argv3, NULL, &err3);
  g_assert_cmpint (rc, !=, 0);
  if (!strstr (err3, "needs at least") || !strstr (err3, "run.memory_mb"))
    g_error ("deconv under a too small budget: '%s'", err3);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  /* with room, the same session gets to the pixels (and is refused for them) */
  const char *argv2[] = { "process", dir, "-o", out, "--set", "run.memory_mb=1024", NULL };
  g_autofree char *err2 = NULL;
  rc = tsr_test_run_cli (argv2, NULL, &err2);
  g_assert_cmpint (rc, !=, 0);
  if (strstr (err2, "run.memory_mb"))
    g_error ("process with 1024 MiB refused for memory: '%s'", err2);
}

/* Issue #19: deconvolution's staged frames are bounded by the run's temporary-disk budget
 * (run.cache_disk_mb). Over it, deconv stops after the first staged frame with the size it
 * needs, writes nothing and leaves no staging folder; within it, the same session runs. */
static void
test_stage_disk (void)
{
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 5;
  sp.width = 192;
  sp.height = 160;
  g_autofree char *dir = g_strdup_printf ("%s/stage-disk", tmp);
  g_autofree char *stage = g_strdup_printf ("%s/stage-tmp", tmp);
  g_mkdir_with_parents (stage, 0755);
  GError *error = NULL;
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);
  g_autofree char *out = g_strdup_printf ("%s/stage-disk.fits", tmp);
  g_autofree char *old_tmpdir = g_strdup (g_getenv ("TMPDIR"));
  g_setenv ("TMPDIR", stage, TRUE);   /* the CLI stages its frames here */
  /* 192 × 160 mono: 14 bytes per pixel staged (18 before the packed positions), 0.41 MiB per
   * frame, 2.1 MiB for five */
  const char *argv1[] = { "deconv", dir, "-o", out, "--set", "run.cache_disk_mb=1", NULL };
  g_autofree char *err1 = NULL;
  int rc = tsr_test_run_cli (argv1, NULL, &err1);
  g_assert_cmpint (rc, !=, 0);
  if (!strstr (err1, "staging the 5 frames needs") || !strstr (err1, "run.cache_disk_mb allows 1.0 MiB"))
    g_error ("deconv over its disk budget: '%s'", err1);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  GDir *d = g_dir_open (stage, 0, NULL);
  g_assert_nonnull (d);
  const char *left = g_dir_read_name (d);
  if (left)
    g_error ("deconv over its disk budget left “%s” in the temporary folder", left);
  g_dir_close (d);
  const char *argv2[] = { "deconv", dir, "-o", out, "--set", "run.cache_disk_mb=64", "--set", "deconv.iterations=2",
                          "--set", "deconv.min_iterations=1", NULL };
  g_autofree char *err2 = NULL;
  rc = tsr_test_run_cli (argv2, NULL, &err2);
  if (old_tmpdir)
    g_setenv ("TMPDIR", old_tmpdir, TRUE);
  else
    g_unsetenv ("TMPDIR");
  if (rc != 0)
    g_error ("deconv within its disk budget failed: '%s'", err2);
  g_assert_true (g_file_test (out, G_FILE_TEST_IS_REGULAR));
}

/* Class 4 of issue #20: float frames with physically absurd samples (±3e38: one hot pixel
 * per frame, and a regular pattern on one colour of Bayer frames) are finite input, but
 * squaring them overflows. They are invalid samples: the result is finite and of the scale
 * of the sky and stars, for the mono and the Bayer session, with stack and process. */
static void
test_absurd_values (void)
{
  const char *bayers[] = { NULL, "RGGB" };
  for (guint b = 0; b < G_N_ELEMENTS (bayers); b++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/absurd-%u", tmp, b);
      for (guint i = 0; i < 4; i++)
        {
          g_autofree float *v = make_pixels (PIX_STARS, W, H, 1, i);
          v[(gsize) (5 + i) * W + 7 + 3 * i] = i % 2 ? 3.0e38f : -3.0e38f;   /* a hot pixel */
          if (bayers[b])
            for (int y = 0; y < H; y += 2)
              for (int x = 1; x < W; x += 34)
                v[(gsize) y * W + x] = 2.9e38f;                             /* a pattern on one site */
          g_mkdir_with_parents (dir, 0755);
          g_autofree char *name = g_strdup_printf ("%s/f%u.fits", dir, i);
          g_autofree char *date = g_strdup_printf ("DATE-OBS= '2025-04-09T22:%02u:00'", i);
          g_autofree char *pat = bayers[b] ? g_strdup_printf ("BAYERPAT= '%s'", bayers[b]) : NULL;
          const char *cards[] = { date, "EXPTIME =                 10.0", pat, NULL };
          tsr_test_write_fits (name, FLOAT_IMG, W, H, 1, v, cards);
        }
      const char *cmds[][6] = { { "stack", dir, "--method", "mean", "-o", NULL },
                                { "process", dir, "-o", NULL, NULL, NULL } };
      for (guint c = 0; c < G_N_ELEMENTS (cmds); c++)
        {
          g_autofree char *out = g_strdup_printf ("%s/out-%u-%u.fits", tmp, b, c);
          const char *argv_[8] = { NULL };
          guint n = 0;
          for (guint k = 0; k < 6 && cmds[c][k]; k++)
            argv_[n++] = cmds[c][k];
          argv_[n++] = out;
          g_autofree char *err = NULL;
          int rc = tsr_test_run_cli (argv_, NULL, &err);
          if (rc != 0)
            g_error ("%s on absurd samples failed: %s", cmds[c][0], err);
          GError *e = NULL;
          g_autoptr (TsrImage) img = tsr_fits_read (out, &e);
          g_assert_no_error (e);
          gsize n_all = tsr_image_npix (img) * img->channels;
          guint read_back_masked = 0;
          for (gsize k = 0; k < n_all; k++)
            {
              if (!isfinite (img->data[k]) || fabsf (img->data[k]) > 1e6f)
                g_error ("%s: sample %" G_GSIZE_FORMAT " is %g", cmds[c][0], k, img->data[k]);
              read_back_masked += !img->mask[k % tsr_image_npix (img)];
            }
          g_assert_cmpuint (read_back_masked, <, n_all / 2);
        }
    }
}

/* Class 5 of issue #20: the outputs of one run are committed together or not at all. An
 * earlier run's result, mean stack, diagnostics and report are in place; a new run fails
 * while writing its report (writes past the size of the result fail, as on a disk that
 * fills up): every earlier output is unchanged and nothing is left behind. A foreign
 * non-empty folder is refused as --report before any work (class 7). */
static void
test_all_or_nothing (void)
{
  const char *s = good ();
  g_autofree char *scratch = g_build_filename (tmp, "commit-scratch", NULL);
  g_autofree char *odir = g_build_filename (tmp, "commit", NULL);
  g_mkdir_with_parents (scratch, 0755);
  g_mkdir_with_parents (odir, 0755);
  g_autofree char *res = g_build_filename (odir, "result.fits", NULL);
  g_autofree char *mean = g_build_filename (odir, "mean.fits", NULL);
  g_autofree char *json = g_build_filename (odir, "diag.json", NULL);
  g_autofree char *rep = g_build_filename (odir, "report", NULL);
  /* a complete earlier run */
  {
    GPtrArray *a = g_ptr_array_new ();
    const char *args[] = { "process", s, "-o", res, "--mean-stack", mean, "--json", json, "--report", rep };
    for (guint i = 0; i < G_N_ELEMENTS (args); i++)
      g_ptr_array_add (a, (gpointer) args[i]);
    g_autofree char *err = NULL;
    g_assert_cmpint (run_cli (a, NULL, &err), ==, 0);
    g_ptr_array_unref (a);
  }
  GStatBuf st;
  g_assert_cmpint (g_stat (res, &st), ==, 0);
  gsize res_size = st.st_size, biggest = 0;
  g_autoptr (GDir) d = g_dir_open (rep, 0, NULL);
  const char *n;
  while ((n = g_dir_read_name (d)))
    {
      g_autofree char *f = g_build_filename (rep, n, NULL);
      if (g_stat (f, &st) == 0)
        biggest = MAX (biggest, (gsize) st.st_size);
    }
  if (biggest <= res_size + 256)
    {
      g_test_skip ("no report file is larger than the result: cannot make only the report fail");
      return;
    }
  const char *watch[] = { s, odir, NULL };
  GPtrArray *a = g_ptr_array_new ();
  const char *args[] = { "process", s, "-o", res, "--mean-stack", mean, "--json", json, "--report", rep };
  for (guint i = 0; i < G_N_ELEMENTS (args); i++)
    g_ptr_array_add (a, (gpointer) args[i]);
  child_fsize = res_size + 256;  /* the result fits, the largest report figure does not */
  expect_failure (a, NULL, watch);
  child_fsize = RLIM_INFINITY;
  g_ptr_array_unref (a);

  /* a foreign folder as --report: refused, untouched */
  g_autofree char *foreign = g_build_filename (tmp, "holiday-photos", NULL);
  g_mkdir_with_parents (foreign, 0755);
  g_autofree char *photo = g_build_filename (foreign, "index.html", NULL);
  tsr_test_write_file (photo, "<html>my page</html>", 20);
  const char *watch2[] = { foreign, NULL };
  GPtrArray *b = g_ptr_array_new ();
  const char *args2[] = { "process", s, "-o", res, "--report", foreign };
  for (guint i = 0; i < G_N_ELEMENTS (args2); i++)
    g_ptr_array_add (b, (gpointer) args2[i]);
  expect_failure (b, "not empty", watch2);
  g_ptr_array_unref (b);
}

/* Class 7 of issue #20: register --write-registered never overwrites files it did not
 * write: a folder of other raw frames with the same names is refused and untouched; its own
 * earlier output folder (it holds registration.json) is replaced as a whole. */
static void
test_registered_folder (void)
{
  const char *s = good ();
  g_autofree char *own = g_build_filename (tmp, "registered", NULL);
  g_autofree char *raw = g_build_filename (tmp, "other-night", NULL);
  for (int run = 0; run < 2; run++)
    {
      GPtrArray *a = g_ptr_array_new ();
      const char *args[] = { "register", "-q", s, "--write-registered", own };
      for (guint i = 0; i < G_N_ELEMENTS (args); i++)
        g_ptr_array_add (a, (gpointer) args[i]);
      g_autofree char *err = NULL;
      int rc = run_cli (a, NULL, &err);
      if (rc != 0)
        g_error ("register --write-registered (run %d): %s", run, err);
      g_ptr_array_unref (a);
      g_autofree char *marker = g_build_filename (own, "registration.json", NULL);
      g_assert_true (g_file_test (marker, G_FILE_TEST_IS_REGULAR));
    }
  session (raw, 2, -1, 0, PIX_NOISE);  /* other frames named f0.fits, f1.fits like the session's */
  const char *watch[] = { raw, s, NULL };
  GPtrArray *b = g_ptr_array_new ();
  const char *args2[] = { "register", "-q", s, "--write-registered", raw };
  for (guint i = 0; i < G_N_ELEMENTS (args2); i++)
    g_ptr_array_add (b, (gpointer) args2[i]);
  expect_failure (b, "not empty", watch);
  g_ptr_array_unref (b);
}

/* A tile-compressed 16-bit frame of w × h (a few MB even at 20000 × 20000: blocks of two
 * levels), for sessions far larger in memory than on disk. */
static void
big_frame_noise (const char *path, long w, long h, int minute, int noise)
{
  fitsfile *f = NULL;
  int st = 0;
  g_autofree char *name = g_strdup_printf ("!%s[compress R]", path);
  fits_create_file (&f, name, &st);
  long naxes[2] = { w, h };
  fits_create_img (f, SHORT_IMG, 2, naxes, &st);
  g_autofree char *date = g_strdup_printf ("2025-01-01T22:%02d:00", minute);
  fits_write_key_str (f, "DATE-OBS", date, "", &st);
  short *row = g_new (short, w);
  for (long y = 0; y < h && !st; y++)
    {
      for (long x = 0; x < w; x++)
        row[x] = (short) (1000 + ((x / 1000 + y / 1000) % 2)
                          + (noise ? (int) (((guint32) (x * 2654435761u) ^ (guint32) (y * 40503u)) >> 28) % noise
                                   : 0));
      fits_write_img (f, TSHORT, y * w + 1, w, row, &st);
    }
  g_free (row);
  fits_close_file (f, &st);
  g_assert_cmpint (st, ==, 0);
}

static void
big_frame (const char *path, long w, long h, int minute)
{
  big_frame_noise (path, w, h, minute, 0);
}

/* Class 3 of issue #20: under a 1 GB address-space limit every command either finishes or
 * exits with one clear line — never a signal — on sessions from tiny to 20000 × 20000. */
static void
test_address_space (void)
{
  if (g_getenv ("ASAN_OPTIONS"))
    {
      g_test_skip ("AddressSanitizer reserves terabytes of address space: no RLIMIT_AS under ./run sanitize");
      return;
    }
  const long sizes[] = { 256, 6500, 20000 };
  const char *cmds[][7] = { { "info", "{S}", NULL }, { "stack", "{S}", "-o", "{O}", NULL },
                            { "stack", "-m", "median", "{S}", "-o", "{O}" }, { "register", "-q", "{S}", NULL },
                            { "process", "{S}", "-o", "{O}", NULL }, { "deconv", "{S}", "-o", "{O}", NULL },
                            { "restore", "{S}", "-o", "{O}", NULL }, { "planetary", "{S}", "-o", "{O}", NULL },
                            { "denoise", "{F}", "-o", "{O}", NULL }, { "denoise", "{N}", "-o", "{O}", NULL },
                            { "wavelets", "{F}", "-o", "{O}", NULL },
                            { "masters", "--darks", "{S}", "--flats", "{S}", "-o", "{M}" },
                            { "process", "{S}", "-o", "{O}", "--darks", "{S}", NULL } };
  for (guint z = 0; z < G_N_ELEMENTS (sizes); z++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/as-%ld", tmp, sizes[z]);
      g_mkdir_with_parents (dir, 0755);
      for (int i = 0; i < 2; i++)
        {
          g_autofree char *p = g_strdup_printf ("%s/f%d.fits.fz", dir, i);
          big_frame (p, sizes[z], sizes[z], i);
        }
      g_autofree char *out = g_strdup_printf ("%s/out-%ld.fits", tmp, sizes[z]);
      g_autofree char *first = g_strdup_printf ("%s/f0.fits.fz", dir);
      /* a frame with noise for the denoiser (a flat one has nothing to remove and is copied) */
      g_autofree char *noisy = g_strdup_printf ("%s/noisy-%ld.fits.fz", tmp, sizes[z]);
      big_frame_noise (noisy, MIN (sizes[z], 6500), MIN (sizes[z], 6500), 0, 5);
      g_autofree char *masters = g_strdup_printf ("%s/masters-%ld", tmp, sizes[z]);
      g_mkdir_with_parents (masters, 0755);
      for (guint c = 0; c < G_N_ELEMENTS (cmds); c++)
        {
          GPtrArray *a = g_ptr_array_new ();
          for (guint k = 0; k < G_N_ELEMENTS (cmds[c]) && cmds[c][k]; k++)
            g_ptr_array_add (a, (gpointer) (!strcmp (cmds[c][k], "{S}")   ? dir
                                            : !strcmp (cmds[c][k], "{O}") ? out
                                            : !strcmp (cmds[c][k], "{F}") ? first
                                            : !strcmp (cmds[c][k], "{M}") ? masters
                                            : !strcmp (cmds[c][k], "{N}") ? noisy
                                                                          : cmds[c][k]));
          g_autofree char *err = NULL;
          child_as = (rlim_t) 1 << 30;
          int rc = run_cli (a, NULL, &err);
          child_as = RLIM_INFINITY;
          g_test_message ("%ld² %s → %d %s", sizes[z], cmds[c][0], rc, err ? g_strchomp (err) : "");
          if (rc >= 128)
            g_error ("%s on %ld × %ld frames under a 1 GB address space: killed by signal %d", cmds[c][0],
                     sizes[z], sizes[z], rc - 128);
          if (rc != 0 && count_lines (err) != 1 && !(err && *err && !strchr (err, '\n')))
            g_error ("%s on %ld × %ld: expected one line, got '%s'", cmds[c][0], sizes[z], sizes[z], err);
          /* (the session-level jobs may gate the two flat generated frames; restore and the
           * planetary path on 256² frames of nearly nothing may refuse, but never by a signal) */
          if (sizes[z] <= 256 && rc != 0 && strcmp (cmds[c][0], "process") && strcmp (cmds[c][0], "deconv")
              && strcmp (cmds[c][0], "masters") /* two frames: a flat master wants three */
              && strcmp (cmds[c][0], "register") && strcmp (cmds[c][0], "restore")
              && strcmp (cmds[c][0], "planetary"))
            g_error ("%s on tiny frames failed: %s", cmds[c][0], err);
          if (sizes[z] >= 20000 && rc == 0)
            g_error ("%s on 20000 × 20000 frames claims success in 1 GB", cmds[c][0]);
          g_ptr_array_unref (a);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("TSR_NO_PROGRESS", "1", TRUE);
  tmp = tsr_test_tmpdir ("robust");

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    for (guint k = 0; k < G_N_ELEMENTS (commands); k++)
      {
        MatrixCell *cell = g_new (MatrixCell, 1);
        cell->bad = &cases[c];
        cell->cmd = &commands[k];
        g_autofree char *path = g_strdup_printf ("/robustness/session/%s/%s", cases[c].name, commands[k].label);
        g_test_add_data_func_full (path, cell, test_matrix_cell, g_free);
      }
  for (guint k = 0; k < G_N_ELEMENTS (commands); k++)
    if (commands[k].out_ext)
      {
        g_autofree char *p1 = g_strdup_printf ("/robustness/output/%s", commands[k].label);
        g_test_add_data_func (p1, &commands[k], test_output_cases);
        g_autofree char *p2 = g_strdup_printf ("/robustness/write-failure/injected/%s", commands[k].label);
        g_test_add_data_func (p2, &commands[k], test_write_failure_injected);
        g_autofree char *p3 = g_strdup_printf ("/robustness/write-failure/tmpfs/%s", commands[k].label);
        g_test_add_data_func (p3, &commands[k], test_write_failure_tmpfs);
        g_autofree char *p4 = g_strdup_printf ("/robustness/sigint/%s", commands[k].label);
        g_test_add_data_func (p4, &commands[k], test_sigint);
      }
  for (guint i = 0; i < G_N_ELEMENTS (projects); i++)
    {
      g_autofree char *p = g_strdup_printf ("/robustness/project/%s", projects[i].name);
      g_test_add_data_func (p, &projects[i], test_project_file);
    }
  g_test_add_func ("/robustness/project/as-output", test_project_as_output);
  g_test_add_func ("/robustness/set", test_bad_set);
  g_test_add_func ("/robustness/compressed-valid", test_compressed_valid);
  g_test_add_func ("/robustness/synth-demo", test_synth_demo);
  g_test_add_func ("/robustness/absurd-values", test_absurd_values);
  g_test_add_func ("/robustness/memory-budget", test_memory_budget);
  g_test_add_func ("/robustness/stage-disk", test_stage_disk);
  g_test_add_func ("/robustness/all-or-nothing", test_all_or_nothing);
  g_test_add_func ("/robustness/registered-folder", test_registered_folder);
  g_test_add_func ("/robustness/address-space", test_address_space);
  int r = g_test_run ();
  /* for the CI log (and the report of issue #7) */
  g_printerr ("# robustness: %u bad-input runs refused cleanly, %u accepted as documented, %u Ctrl+C runs\n",
              n_runs_fail, n_runs_ok, n_runs_sigint);
  if (per_command)
    {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, per_command);
      while (g_hash_table_iter_next (&it, &k, &v))
        g_printerr ("# robustness: %s: %u bad-input runs\n", (char *) k, GPOINTER_TO_UINT (v));
      g_hash_table_unref (per_command);
    }
  tsr_test_rmtree (tmp);
  g_free (tmp);
  g_free (good_session);
  g_free (sigint_session);
  return r;
}
