/* tsr-fits.c — FITS input and output through cfitsio.
 *
 * Conventions (see docs/conventions.md): memory row 0 is the first row stored in the
 * file; x = NAXIS1 index, y = NAXIS2 index. BAYERPAT (with XBAYROFF/YBAYROFF) is read as
 * stated for the image read top-down: without ROWORDER or with ROWORDER = 'TOP-DOWN' that
 * is the file order (checked on Seestar frames), with ROWORDER = 'BOTTOM-UP' the pattern
 * starts at the last stored row. TsrImage.cfa is always the pattern at memory (0,0).
 */
#include "tsr-fits.h"
#include "tsr-output.h"
#include "tsr-error.h"
#include "tsr-config.h"

#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static GMutex fits_lock;

gboolean
tsr_fits_reentrant (void)
{
  return fits_is_reentrant () != 0;
}

#define LOCK()   G_STMT_START { if (!fits_is_reentrant ()) g_mutex_lock (&fits_lock); } G_STMT_END
#define UNLOCK() G_STMT_START { if (!fits_is_reentrant ()) g_mutex_unlock (&fits_lock); } G_STMT_END

static char *
basename_of (const char *path)
{
  return g_path_get_basename (path);
}

/* "not a FITS file", and what it is instead when the first bytes say so: a PNG/JPEG frame or a
 * SER video given to a deep-sky command is a lunar/planetary capture, read by that path. */
static void
set_not_fits (GError **error, const char *base, const char *head, size_t n)
{
  const guint8 *u = (const guint8 *) head;
  const char *kind = NULL;
  if (n >= 8 && memcmp (head, "\x89PNG\r\n\x1a\n", 8) == 0)
    kind = _("a PNG image");
  else if (n >= 3 && u[0] == 0xFF && u[1] == 0xD8 && u[2] == 0xFF)
    kind = _("a JPEG image");
  else if (n >= 14 && memcmp (head, "LUCAM-RECORDER", 14) == 0)
    kind = _("a SER video");
  if (kind)
    g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                 _("%s: not a FITS file but %s; lunar and planetary captures are read by "
                   "'tessera-cli planetary' (or the window)"), base, kind);
  else
    g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: not a FITS file"), base);
}

static void
set_fits_error (GError **error, int code, const char *path, const char *what, int status)
{
  char text[FLEN_STATUS] = "";
  fits_get_errstatus (status, text);
  fits_clear_errmsg ();
  g_autofree char *base = basename_of (path);
  g_set_error (error, TSR_ERROR, code, "%s: %s (cfitsio: %s)", base, what, text);
}

void
tsr_fits_info_clear (TsrFitsInfo *info)
{
  g_clear_pointer (&info->date_obs, g_free);
}

gboolean
tsr_parse_date_obs (const char *s, double *jd)
{
  if (!s || !*s)
    return FALSE;
  g_autofree char *t = g_strstrip (g_strdup (s));
  /* Date only → midnight. */
  if (strlen (t) == 10)
    {
      char *tmp = g_strconcat (t, "T00:00:00", NULL);
      g_free (t);
      t = tmp;
    }
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (t, utc);
  if (!dt)
    return FALSE;
  *jd = g_date_time_to_unix (dt) / 86400.0 + 2440587.5
        + g_date_time_get_microsecond (dt) / 86400e6;
  return TRUE;
}

/* Keywords describing the HDU's structure or encoding: never passed through. */
static gboolean
is_structural (const char *key)
{
  static const char *const exact[] = {
    "SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "TFIELDS", "BZERO",
    "BSCALE", "BLANK", "END", "CHECKSUM", "DATASUM", "EXTNAME", "THEAP", NULL
  };
  for (int i = 0; exact[i]; i++)
    if (strcmp (key, exact[i]) == 0)
      return TRUE;
  if (g_str_has_prefix (key, "NAXIS") || g_str_has_prefix (key, "TTYPE")
      || g_str_has_prefix (key, "TFORM") || g_str_has_prefix (key, "TUNIT"))
    return TRUE;
  /* tile-compression keywords */
  static const char *const zkeys[] = {
    "ZIMAGE", "ZCMPTYPE", "ZBITPIX", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "ZQUANTIZ",
    "ZDITHER0", "ZSIMPLE", "ZEXTEND", "ZBLOCKED", "ZTENSION", "ZPCOUNT", "ZGCOUNT",
    "ZHECKSUM", "ZDATASUM", "ZMASKCMP", "ZBLANK", "ZSCALE", "ZZERO", NULL
  };
  for (int i = 0; zkeys[i]; i++)
    if (g_str_has_prefix (key, zkeys[i]))
      return TRUE;
  return FALSE;
}

typedef struct
{
  fitsfile *f;
  int bitpix;
  int naxis;
  long naxes[3];
  gboolean compressed;
} OpenFits;

/* Value of a raw header card ("KEY     = value / comment"), unquoted and trimmed. */
static void
card_value (const char *card, char *out, gsize out_len)
{
  char buf[81];
  gsize n = 0;
  if (strlen (card) < 10)
    {
      *out = 0;
      return;
    }
  const char *v = card + 10;
  while (*v == ' ')
    v++;
  if (*v == '\'')
    {
      for (v++; *v && n < sizeof buf - 1; v++)
        {
          if (*v == '\'' && v[1] == '\'')
            v++;
          else if (*v == '\'')
            break;
          buf[n++] = *v;
        }
    }
  else
    for (; *v && *v != '/' && n < sizeof buf - 1; v++)
      buf[n++] = *v;
  buf[n] = 0;
  g_strstrip (buf);
  g_strlcpy (out, buf, out_len);
}

static gboolean
card_int (const char *card, gint64 *out)
{
  char v[81];
  card_value (card, v, sizeof v);
  char *end = NULL;
  if (!*v)
    return FALSE;
  *out = g_ascii_strtoll (v, &end, 10);
  return *end == 0;
}

/* A FITS number: [+-]digits[.digits][(E|D)[+-]digits], or .digits. */
static gboolean
is_fits_number (const char *v)
{
  const char *p = v;
  if (*p == '+' || *p == '-')
    p++;
  gboolean digits = FALSE;
  while (g_ascii_isdigit (*p))
    p++, digits = TRUE;
  if (*p == '.')
    for (p++; g_ascii_isdigit (*p); p++)
      digits = TRUE;
  if (!digits)
    return FALSE;
  if (*p == 'E' || *p == 'e' || *p == 'D' || *p == 'd')
    {
      p++;
      if (*p == '+' || *p == '-')
        p++;
      if (!g_ascii_isdigit (*p))
        return FALSE;
      while (g_ascii_isdigit (*p))
        p++;
    }
  return *p == 0;
}

/* cfitsio divides by the tile sizes and block parameters of a tile-compressed image while
 * it opens the file, before any of our checks can run: a zero there is a SIGFPE (found by
 * the fuzzer). So the headers are walked here first, and a compressed HDU whose ZNAXISn,
 * ZTILEn, ZBITPIX or RICE/compression parameters are not sane is refused. Only headers are
 * read; the walk stops at anything that is not a plain FITS header (cfitsio reports it). */
static gboolean
prevalidate_compressed (const char *path, gint64 file_size, GError **error)
{
  FILE *fp = fopen (path, "rb");
  if (!fp)
    return TRUE;
  gboolean ok = TRUE;
  gint64 pos = 0;
  g_autofree char *base = basename_of (path);
  for (int hdu = 0; hdu < 64 && ok && pos + 2880 <= file_size; hdu++)
    {
      gint64 bitpix = 0, naxis = 0, naxes[1000 / 8] = { 0 }, pcount = 0, gcount = 1;
      gboolean zimage = FALSE, ended = FALSE;
      GPtrArray *zcards = g_ptr_array_new_with_free_func (g_free);
      char block[2880];
      for (int b = 0; b < 2000 && !ended; b++)
        {
          if (fseeko (fp, pos, SEEK_SET) != 0 || fread (block, 1, 2880, fp) != 2880)
            {
              ended = TRUE;
              pos = file_size; /* stop: truncated header, cfitsio says so */
              break;
            }
          pos += 2880;
          for (int c = 0; c < 36; c++)
            {
              char card[81];
              memcpy (card, block + 80 * c, 80);
              card[80] = 0;
              for (int i = 0; i < 80; i++)
                if (card[i] == 0)
                  card[i] = ' '; /* binary garbage: keep the card 80 columns long */
              if (hdu + b + c == 0 && strncmp (card, "SIMPLE  ", 8) != 0)
                {
                  fclose (fp);
                  g_ptr_array_unref (zcards);
                  return TRUE; /* not FITS: open_image's caller reports it */
                }
              if (b == 0 && c == 0 && hdu > 0 && strncmp (card, "XTENSION", 8) != 0)
                {
                  ended = TRUE;
                  pos = file_size;
                  break;
                }
              /* FITS headers are ASCII text (0x20–0x7E). cfitsio copies keyword values
               * with fixed-size string functions and aborts on binary garbage in a
               * card (fuzzer: fortify abort in ffgtbp on a TTYPE1 value of 0xFF bytes),
               * so such a header is refused before cfitsio parses it. */
              for (int i = 0; i < 80; i++)
                {
                  guchar ch = (guchar) block[80 * c + i];
                  if (ch < 0x20 || ch > 0x7e)
                    {
                      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                                   _("%s: invalid FITS header: card %d of header %d holds a non-text byte "
                                     "(0x%02X in column %d; FITS headers are ASCII)"),
                                   base, b * 36 + c + 1, hdu + 1, ch, i + 1);
                      fclose (fp);
                      g_ptr_array_unref (zcards);
                      return FALSE;
                    }
                }
              gint64 v = 0;
              if (strncmp (card, "END     ", 8) == 0 || strcmp (card, "END") == 0)
                {
                  ended = TRUE;
                  break;
                }
              if (strncmp (card, "BITPIX  = ", 10) == 0)
                card_int (card, &bitpix);
              else if (strncmp (card, "NAXIS   = ", 10) == 0)
                card_int (card, &naxis);
              else if (strncmp (card, "NAXIS", 5) == 0 && g_ascii_isdigit (card[5]) && card[8] == '=')
                {
                  int k = atoi (card + 5);
                  if (k >= 1 && k < (int) G_N_ELEMENTS (naxes) && card_int (card, &v))
                    naxes[k] = v;
                }
              else if (strncmp (card, "PCOUNT  = ", 10) == 0)
                card_int (card, &pcount);
              else if (strncmp (card, "GCOUNT  = ", 10) == 0)
                card_int (card, &gcount);
              else if (strncmp (card, "ZIMAGE", 6) == 0 && (card[6] == ' ' || card[6] == '='))
                {
                  /* cfitsio also reads "ZIMAGE      =  T" (a free-format value indicator):
                   * any ZIMAGE card makes the HDU a candidate and its Z cards are checked */
                  zimage = TRUE;
                  g_ptr_array_add (zcards, g_strdup (card));
                }
              else if (card[0] == 'Z')
                g_ptr_array_add (zcards, g_strdup (card));
            }
        }
      if (zimage)
        {
          char names[10][81] = { { 0 } };
          for (guint i = 0; i < zcards->len && ok; i++)
            {
              const char *card = zcards->pdata[i];
              /* the keyword name as cfitsio reads it: up to the first space or '=' */
              char key[9];
              int kl = 0;
              while (kl < 8 && card[kl] != ' ' && card[kl] != '=')
                kl++;
              memcpy (key, card, kl);
              key[kl] = 0;
              int eq = kl;
              while (eq < 80 && card[eq] == ' ')
                eq++;
              gint64 v = 0;
              gboolean is_int = card_int (card, &v);
              const char *what = NULL;
              /* cfitsio reads these as numbers while it opens the HDU, and its own error
               * path for a malformed number overflows a buffer (fuzzer: fortify abort in
               * ffc2j): anything but a plain number is refused here first */
              gboolean numeric = !strcmp (key, "ZBITPIX") || g_str_has_prefix (key, "ZNAXIS")
                                 || g_str_has_prefix (key, "ZTILE") || g_str_has_prefix (key, "ZVAL")
                                 || !strcmp (key, "ZDITHER0") || !strcmp (key, "ZBLANK")
                                 || !strcmp (key, "ZSCALE") || !strcmp (key, "ZZERO");
              char raw[81];
              card_value (card, raw, sizeof raw);
              /* a numeric keyword without the "= " value indicator (fuzzer: "ZTILE2 " followed
               * by garbage, read by cfitsio as ZTILE2 with no value: the same abort) */
              /* fpack writes every Z keyword in the fixed format ("= " in columns 9–10);
               * cfitsio also accepts a free-format '=' and then mis-parses garbage values
               * (fuzzer: "ZIMAGE      =  T", "ZTILE2 " + garbage): refused here */
              if (card[eq] == '=' && eq != 8)
                what = key;
              else if (!strcmp (key, "ZIMAGE"))
                {
                  char zv[81];
                  card_value (card, zv, sizeof zv);
                  if (strcmp (zv, "T") != 0 && strcmp (zv, "F") != 0)
                    what = key;
                }
              else if (numeric && (card[8] != '=' || card[9] != ' '
                              || card[10 + strspn (card + 10, " ")] == '\''
                              || !is_fits_number (raw)))
                what = key;
              else if (!strcmp (key, "ZBITPIX"))
                {
                  if (!is_int || (v != 8 && v != 16 && v != 32 && v != 64 && v != -32 && v != -64))
                    what = "ZBITPIX";
                }
              else if (!strcmp (key, "ZNAXIS"))
                {
                  if (!is_int || v < 1 || v > 3)
                    what = "ZNAXIS";
                }
              else if ((g_str_has_prefix (key, "ZNAXIS") || g_str_has_prefix (key, "ZTILE"))
                       && g_ascii_isdigit (key[strlen (key) - 1]))
                {
                  if (!is_int || v < 1 || v > TSR_FITS_MAX_AXIS)
                    what = key;
                }
              else if (g_str_has_prefix (key, "ZNAME") && g_ascii_isdigit (key[5]))
                {
                  int k = atoi (key + 5);
                  if (k >= 1 && k < 10)
                    card_value (card, names[k], sizeof names[k]);
                }
              if (what)
                {
                  char val[81];
                  card_value (card, val, sizeof val);
                  g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                               _("%s: damaged compressed image: %s = '%s' is not valid"), base, what, val);
                  ok = FALSE;
                }
            }
          /* ZVALn paired with ZNAMEn: block size and bytes per pixel must be non-zero */
          for (guint i = 0; i < zcards->len && ok; i++)
            {
              const char *card = zcards->pdata[i];
              if (strncmp (card, "ZVAL", 4) != 0 || !g_ascii_isdigit (card[4]))
                continue;
              int k = atoi (card + 4);
              gint64 v = 0;
              gboolean is_int = card_int (card, &v);
              if (k >= 1 && k < 10 && (!g_ascii_strcasecmp (names[k], "BLOCKSIZE") || !g_ascii_strcasecmp (names[k], "BYTEPIX"))
                  && (!is_int || v < 1 || v > 64))
                {
                  g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                               _("%s: damaged compressed image: %s = %" G_GINT64_FORMAT " is not valid"), base,
                               names[k], v);
                  ok = FALSE;
                }
            }
        }
      g_ptr_array_unref (zcards);
      if (!ended)
        break;
      /* skip the data: |BITPIX|/8 · GCOUNT · (PCOUNT + NAXIS1 · … · NAXISn), in blocks */
      gint64 n = naxis > 0 ? 1 : 0;
      for (int k = 1; k <= naxis && k < (int) G_N_ELEMENTS (naxes); k++)
        {
          if (naxes[k] < 0 || (naxes[k] > 0 && n > G_MAXINT64 / 16 / naxes[k]))
            {
              n = -1;
              break;
            }
          n *= naxes[k];
        }
      if (pcount < 0)
        {
          g_autofree char *base = basename_of (path);
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: damaged header: PCOUNT = %lld is negative"), base, (long long) pcount);
          ok = FALSE;
          break;
        }
      if (n < 0 || n > file_size || pcount > file_size || gcount < 0 || gcount > 1 << 20
          || (bitpix != 8 && bitpix != 16 && bitpix != 32 && bitpix != 64 && bitpix != -32 && bitpix != -64))
        break;
      if (pcount + n > 0 && gcount > file_size / (pcount + n))
        break;
      /* every factor is bounded by the file size, so this cannot overflow */
      gint64 bytes = (gint64) (ABS (bitpix) / 8) * gcount * (pcount + n);
      if (bytes > file_size)
        break;
      pos += (bytes + 2879) / 2880 * 2880;
    }
  fclose (fp);
  return ok;
}

/* A tile-compressed image must not make cfitsio allocate more than the file can hold:
 * every compressed tile (a variable-length array: offset and length in the heap) must lie
 * inside the file, and the tiles themselves must be image-sized. Found by the fuzzer: a
 * corrupt descriptor in a 9 kB .fz file asked cfitsio for a 3.5 GB buffer. */
static gboolean
check_compressed (OpenFits *of, const char *path, gint64 file_size, GError **error)
{
  int status = 0, ncols = 0;
  long long nrows = 0;
  g_autofree char *base = basename_of (path);
  for (int k = 1; k <= 3; k++)
    {
      char key[16];
      long long tile = 1;
      g_snprintf (key, sizeof key, "ZTILE%d", k);
      status = 0;
      if (fits_read_key (of->f, TLONGLONG, key, &tile, NULL, &status) == 0
          && (tile <= 0 || tile > TSR_FITS_MAX_AXIS))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: %s = %lld is not a valid tile size"), base, key,
                       tile);
          return FALSE;
        }
    }
  status = 0;
  fits_get_num_cols (of->f, &ncols, &status);
  fits_get_num_rowsll (of->f, &nrows, &status);
  if (status)
    {
      fits_clear_errmsg ();
      return TRUE; /* not a table underneath: cfitsio reports its own error on read */
    }
  for (int col = 1; col <= ncols; col++)
    {
      int type = 0;
      long long repeat = 0, width = 0;
      if (fits_get_coltypell (of->f, col, &type, &repeat, &width, &status) || type >= 0)
        {
          status = 0;
          continue; /* fixed-size column: inside the table, checked by cfitsio */
        }
      int elem = 8;
      switch (-type)
        {
        case TBIT: case TBYTE: case TSBYTE: case TLOGICAL: case TSTRING: elem = 1; break;
        case TSHORT: case TUSHORT: elem = 2; break;
        case TINT: case TUINT: case TLONG: case TULONG: case TFLOAT: elem = 4; break;
        default: elem = 8; break;
        }
      for (long long row = 1; row <= nrows; row++)
        {
          long long len = 0, offset = 0;
          if (fits_read_descriptll (of->f, col, row, &len, &offset, &status))
            {
              set_fits_error (error, TSR_ERROR_TRUNCATED, path, _("damaged compressed image"), status);
              return FALSE;
            }
          if (len < 0 || offset < 0 || len > file_size / elem || offset > file_size
              || offset + len * elem > file_size)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                           _("%s: damaged compressed image: tile %lld claims %lld bytes, the file holds %lld"),
                           base, row, len * elem, (long long) file_size);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* Open path and move to the first image HDU with NAXIS ≥ 2. Validates the shape and,
 * for uncompressed data, that the file is long enough. Caller holds LOCK. */
static gboolean
open_image (const char *path, OpenFits *of, GError **error)
{
  int status = 0;
  memset (of, 0, sizeof *of);

  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND, _("%s: no such file"), path);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: not a regular file"), path);
      return FALSE;
    }
  {
    /* what the file is, before asking cfitsio: unreadable, or gzip-compressed as a whole */
    FILE *fp = fopen (path, "rb");
    if (!fp)
      {
        int e = errno;
        g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot read the file: %s"), path, g_strerror (e));
        return FALSE;
      }
    guint8 magic[2] = { 0, 0 };
    size_t got = fread (magic, 1, 2, fp);
    fclose (fp);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
      {
        g_autofree char *base = basename_of (path);
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: the whole file is gzip-compressed; decompress it (gunzip) first, or "
                       "tile-compress it with fpack (.fz), which Tessera reads directly"),
                     base);
        return FALSE;
      }
  }
  if (st.st_size < 2880)
    {
      g_autofree char *base = basename_of (path);
      FILE *fp = fopen (path, "rb");
      char head[17] = "";
      size_t n = 0;
      if (fp)
        {
          n = fread (head, 1, 16, fp);
          head[n] = 0;
          fclose (fp);
        }
      if (strncmp (head, "SIMPLE  ", 8) == 0)
        g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                     _("%s: truncated FITS file (%lld bytes, a header alone needs 2880)"),
                     base, (long long) st.st_size);
      else
        set_not_fits (error, base, head, n);
      return FALSE;
    }

  if (!prevalidate_compressed (path, st.st_size, error))
    return FALSE;

  if (fits_open_diskfile (&of->f, path, READONLY, &status))
    {
      g_autofree char *base = basename_of (path);
      char text[FLEN_STATUS] = "";
      fits_get_errstatus (status, text);
      fits_clear_errmsg ();
      /* A file that starts like FITS but cannot be parsed is damaged, not foreign. */
      FILE *fp = fopen (path, "rb");
      char head[17] = "";
      size_t n = 0;
      if (fp)
        {
          n = fread (head, 1, 16, fp);
          head[n] = 0;
          fclose (fp);
        }
      if (strncmp (head, "SIMPLE  ", 8) == 0 && status != END_OF_FILE && status != READ_ERROR)
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: invalid FITS header (cfitsio: %s)"), base, text);
      else if (strncmp (head, "SIMPLE  ", 8) == 0)
        g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                     _("%s: damaged or truncated FITS header (cfitsio: %s)"), base, text);
      else
        set_not_fits (error, base, head, n);
      of->f = NULL;
      return FALSE;
    }

  int nhdu = 0;
  fits_get_num_hdus (of->f, &nhdu, &status);
  gboolean found = FALSE;
  int first_naxis = -1;
  for (int i = 1; i <= MAX (nhdu, 1) && !found; i++)
    {
      int type = 0;
      status = 0;
      if (fits_movabs_hdu (of->f, i, &type, &status))
        break;
      if (type != IMAGE_HDU)
        continue;
      int naxis = 0;
      if (fits_get_img_dim (of->f, &naxis, &status))
        break;
      if (first_naxis < 0)
        first_naxis = naxis;
      if (naxis < 2)
        continue;
      if (naxis > 3)
        {
          g_autofree char *base = basename_of (path);
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: NAXIS = %d is not supported (2-D mono or 3-D RGB only)"), base, naxis);
          goto fail;
        }
      long long axes[3] = { 0, 0, 1 };
      if (fits_get_img_paramll (of->f, 3, &of->bitpix, &of->naxis, axes, &status))
        break;
      for (int a = 0; a < 3; a++)
        {
          if (a < naxis && (axes[a] <= 0 || axes[a] > TSR_FITS_MAX_AXIS))
            {
              g_autofree char *base = basename_of (path);
              g_set_error (error, TSR_ERROR, axes[a] <= 0 ? TSR_ERROR_FORMAT : TSR_ERROR_TOO_LARGE,
                           _("%s: NAXIS%d = %lld is outside 1…%d"), base, a + 1, axes[a],
                           TSR_FITS_MAX_AXIS);
              goto fail;
            }
          of->naxes[a] = (long) axes[a];
        }
      if (naxis == 3 && axes[2] != 1 && axes[2] != 3)
        {
          g_autofree char *base = basename_of (path);
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: NAXIS3 = %lld planes (only 1 or 3 are supported)"), base, axes[2]);
          goto fail;
        }
      gint64 npix = (gint64) axes[0] * axes[1] * axes[2];
      if (npix > TSR_FITS_MAX_PIXELS)
        {
          g_autofree char *base = basename_of (path);
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                       _("%s: %lld × %lld × %lld pixels is larger than this program accepts"),
                       base, axes[0], axes[1], axes[2]);
          goto fail;
        }
      switch (of->bitpix)
        {
        case BYTE_IMG: case SHORT_IMG: case LONG_IMG: case LONGLONG_IMG:
        case FLOAT_IMG: case DOUBLE_IMG:
          break;
        default:
          {
            g_autofree char *base = basename_of (path);
            g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: BITPIX = %d is not supported"),
                         base, of->bitpix);
            goto fail;
          }
        }
      of->compressed = fits_is_compressed_image (of->f, &status);
      if (of->compressed && !check_compressed (of, path, st.st_size, error))
        goto fail;
      if (!of->compressed)
        {
          LONGLONG headstart = 0, datastart = 0, dataend = 0;
          fits_get_hduaddrll (of->f, &headstart, &datastart, &dataend, &status);
          gint64 need = datastart + npix * (ABS (of->bitpix) / 8);
          if (status == 0 && need > (gint64) st.st_size)
            {
              g_autofree char *base = basename_of (path);
              g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                           _("%s: truncated: the header announces %lld bytes of pixels, the file "
                             "holds only %lld"),
                           base, (long long) (need - datastart),
                           (long long) MAX (0, (gint64) st.st_size - datastart));
              goto fail;
            }
        }
      found = TRUE;
    }
  if (!found)
    {
      if (status)
        set_fits_error (error, TSR_ERROR_FORMAT, path, _("cannot read the image header"), status);
      else
        {
          g_autofree char *base = basename_of (path);
          if (first_naxis == 1)
            g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                         _("%s: NAXIS = 1 is a spectrum or table, not an image"), base);
          else
            g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: holds no image"), base);
        }
      goto fail;
    }
  {
    /* BSCALE = 0 (or not finite) would make every pixel the same value */
    double bscale = 1.0;
    int st = 0;
    if (fits_read_key (of->f, TDOUBLE, "BSCALE", &bscale, NULL, &st) == 0 && !(isfinite (bscale) && bscale != 0))
      {
        g_autofree char *base = basename_of (path);
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: BSCALE = %g would make every pixel the same value; the header is damaged"), base,
                     bscale);
        goto fail;
      }
    fits_clear_errmsg ();
  }
  return TRUE;

fail:
  status = 0;
  if (of->f)
    fits_close_file (of->f, &status);
  fits_clear_errmsg ();
  of->f = NULL;
  return FALSE;
}

static void
close_image (OpenFits *of)
{
  int status = 0;
  if (of->f)
    fits_close_file (of->f, &status);
  of->f = NULL;
  fits_clear_errmsg ();
}

static TsrHeader *
read_header (OpenFits *of)
{
  int status = 0, nkeys = 0;
  TsrHeader *h = tsr_header_new ();
  fits_get_hdrspace (of->f, &nkeys, NULL, &status);
  for (int k = 1; k <= nkeys && status == 0; k++)
    {
      char card[FLEN_CARD] = "";
      if (fits_read_record (of->f, k, card, &status))
        break;
      g_autofree char *key = tsr_header_card_keyword (card);
      if (is_structural (key))
        continue;
      tsr_header_add_card (h, card);
    }
  fits_clear_errmsg ();
  return h;
}

/* Pattern at memory origin from the header's Bayer keywords. */
static TsrCfa
resolve_cfa (const TsrHeader *h, int height)
{
  g_autofree char *pat = tsr_header_get_string (h, "BAYERPAT");
  if (!pat)
    pat = tsr_header_get_string (h, "CFA-PAT");
  TsrCfa cfa = tsr_cfa_from_name (pat);
  if (cfa == TSR_CFA_NONE)
    return cfa;
  gint64 xo = 0, yo = 0;
  tsr_header_get_int (h, "XBAYROFF", &xo);
  tsr_header_get_int (h, "YBAYROFF", &yo);
  cfa = tsr_cfa_shift (cfa, (int) (xo & 1), (int) (yo & 1));
  g_autofree char *ro = tsr_header_get_string (h, "ROWORDER");
  if (ro && g_ascii_strcasecmp (ro, "BOTTOM-UP") == 0)
    cfa = tsr_cfa_shift (cfa, 0, (height - 1) & 1);
  return cfa;
}

static double
header_double (const TsrHeader *h, const char *const *keys)
{
  for (int i = 0; keys[i]; i++)
    {
      double d;
      if (tsr_header_get_double (h, keys[i], &d))
        return d;
    }
  return NAN;
}

/* Keywords that would make the frame silently wrong: a Bayer pattern that is none of the
 * four (the frame would turn monochrome). BSCALE = 0 is refused in open_image. */
gboolean
tsr_fits_check_keywords (const char *path, const TsrHeader *h, GError **error)
{
  static const char *const pat_keys[] = { "BAYERPAT", "CFA-PAT" };
  for (guint k = 0; k < G_N_ELEMENTS (pat_keys); k++)
    {
      g_autofree char *pat = tsr_header_get_string (h, pat_keys[k]);
      if (!pat)
        continue;
      g_autofree char *up = g_strstrip (g_ascii_strup (pat, -1));
      if (tsr_cfa_from_name (up) == TSR_CFA_NONE && strcmp (up, "NONE") != 0 && strcmp (up, "MONO") != 0)
        {
          g_autofree char *base = basename_of (path);
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: %s = '%s' is not a Bayer pattern (RGGB, GRBG, GBRG or BGGR; NONE for "
                         "monochrome): fix or remove the keyword"),
                       base, pat_keys[k], pat);
          return FALSE;
        }
    }
  return TRUE;
}

void
tsr_fits_info_from_header (TsrFitsInfo *info, int width, int height, int channels, int bitpix,
                           const TsrHeader *h)
{
  memset (info, 0, sizeof *info);
  info->width = width;
  info->height = height;
  info->channels = channels;
  info->bitpix = bitpix;
  info->cfa = info->channels == 1 ? resolve_cfa (h, info->height) : TSR_CFA_NONE;
  info->date_obs = tsr_header_get_string (h, "DATE-OBS");
  if (info->date_obs)
    {
      /* DATE-OBS without a time, TIME-OBS separately (older writers). */
      g_autofree char *tobs = tsr_header_get_string (h, "TIME-OBS");
      if (strlen (info->date_obs) == 10 && tobs)
        {
          char *full = g_strconcat (info->date_obs, "T", tobs, NULL);
          g_free (info->date_obs);
          info->date_obs = full;
        }
      if (!tsr_parse_date_obs (info->date_obs, &info->jd))
        info->jd = 0;
    }
  static const char *const exp_keys[] = { "EXPTIME", "EXPOSURE", "EXP_TIME", NULL };
  static const char *const gain_keys[] = { "GAIN", "EGAIN", NULL };
  static const char *const temp_keys[] = { "CCD-TEMP", "CCD_TEMP", "TEMPERAT", "SET-TEMP", NULL };
  info->exposure = header_double (h, exp_keys);
  info->gain = header_double (h, gain_keys);
  info->temperature = header_double (h, temp_keys);
}

static void
fill_info (TsrFitsInfo *info, const OpenFits *of, const TsrHeader *h)
{
  tsr_fits_info_from_header (info, (int) of->naxes[0], (int) of->naxes[1],
                             of->naxis == 3 ? (int) of->naxes[2] : 1, of->bitpix, h);
  info->compressed = of->compressed;
}

gboolean
tsr_fits_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error)
{
  OpenFits of;
  LOCK ();
  if (!open_image (path, &of, error))
    {
      UNLOCK ();
      return FALSE;
    }
  TsrHeader *h = read_header (&of);
  close_image (&of);
  UNLOCK ();
  if (!tsr_fits_check_keywords (path, h, error))
    {
      tsr_header_free (h);
      return FALSE;
    }
  fill_info (info, &of, h);
  if (header_out)
    *header_out = h;
  else
    tsr_header_free (h);
  return TRUE;
}

/* Walk one Rice-coded tile (the bit layout of cfitsio's fits_rdecomp*) and say whether
 * decoding nx pixels stays inside its clen bytes. cfitsio's decoder checks the end of the
 * stream only after each block, so a corrupt tile makes it read far past its buffer
 * (found by the fuzzer: SIGSEGV in fits_rdecomp_short); this walk consumes exactly the
 * bytes the decoder would, with a bound check before each one. */
static gboolean
rice_tile_ok (const guint8 *c, gint64 clen, gint64 nx, int nblock, int bytepix)
{
  int fsbits, fsmax, bbits;
  switch (bytepix)
    {
    case 1: fsbits = 3; fsmax = 6; bbits = 8; break;
    case 2: fsbits = 4; fsmax = 14; bbits = 16; break;
    case 4: fsbits = 5; fsmax = 25; bbits = 32; break;
    default: return FALSE;
    }
  if (nblock <= 0 || clen < bytepix + 1)
    return FALSE;
  const guint8 *end = c + clen;
  c += bytepix;
  guint64 b = *c++;
  int nbits = 8;
#define NEXT_BYTE(dst) G_STMT_START { if (c >= end) return FALSE; (dst) = *c++; } G_STMT_END
  for (gint64 i = 0; i < nx;)
    {
      nbits -= fsbits;
      while (nbits < 0)
        {
          guint64 byte;
          NEXT_BYTE (byte);
          b = (b << 8) | byte;
          nbits += 8;
        }
      int fs = (int) (b >> nbits) - 1;
      b &= ((guint64) 1 << nbits) - 1;
      gint64 imax = MIN (i + nblock, nx);
      if (fs < 0)
        i = imax;
      else if (fs == fsmax)
        {
          for (; i < imax; i++)
            {
              int k = bbits - nbits;
              for (k -= 8; k >= 0; k -= 8)
                NEXT_BYTE (b);
              if (nbits > 0)
                {
                  NEXT_BYTE (b);
                  b &= ((guint64) 1 << nbits) - 1;
                }
              else
                b = 0;
            }
        }
      else
        {
          for (; i < imax; i++)
            {
              while (b == 0)
                {
                  nbits += 8;
                  NEXT_BYTE (b);
                }
              int len = g_bit_storage ((gulong) b); /* bits needed for b (b < 256 here) */
              int nzero = nbits - len;
              nbits -= nzero + 1;
              if (nbits < 0)
                return FALSE;
              b ^= (guint64) 1 << nbits;
              nbits -= fs;
              while (nbits < 0)
                {
                  guint64 byte;
                  NEXT_BYTE (byte);
                  b = (b << 8) | byte;
                  nbits += 8;
                }
              b &= ((guint64) 1 << nbits) - 1;
            }
        }
    }
#undef NEXT_BYTE
  return TRUE;
}

/* Inflate one GZIP tile into nowhere and say whether it is a complete stream of at most
 * cap bytes. cfitsio grows its output buffer without limit while inflating (found by the
 * fuzzer: a 9 kB file drove it to petabyte allocations and a 30 s loop). */
static gboolean
gzip_tile_ok (const guint8 *c, gint64 clen, gint64 cap)
{
  z_stream z;
  memset (&z, 0, sizeof z);
  if (clen <= 0 || clen > G_MAXUINT32 || inflateInit2 (&z, 15 + 32) != Z_OK) /* zlib or gzip wrapper */
    return FALSE;
  guint8 out[16384];
  gint64 total = 0;
  int r = Z_OK;
  z.next_in = (Bytef *) c;
  z.avail_in = (uInt) clen;
  while (r == Z_OK)
    {
      z.next_out = out;
      z.avail_out = sizeof out;
      r = inflate (&z, Z_NO_FLUSH);
      total += (gint64) (sizeof out - z.avail_out);
      if (total > cap)
        break;
    }
  inflateEnd (&z);
  return r == Z_STREAM_END && total <= cap;
}

/* Before cfitsio decodes a tile-compressed image: refuse the decoders that are not
 * hardened (HCOMPRESS, PLIO) and check every Rice tile with rice_tile_ok. Caller holds
 * LOCK; the HDU is the compressed image. */
static gboolean
verify_compressed_tiles (OpenFits *of, const char *path, GError **error)
{
  int status = 0;
  g_autofree char *base = basename_of (path);
  /* The parameters exactly as cfitsio parsed them when it opened the HDU (FITSfile is
   * public in fitsio.h): its decoder will use these, whatever the header repeats. */
  const FITSfile *F = of->f->Fptr;
  switch (F->compress_type)
    {
    case GZIP_1: case GZIP_2: case NOCOMPRESS: case RICE_1:
      break; /* raw (NOCOMPRESS) tiles are bounded by check_compressed */
    default:
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: %s-compressed images are not supported (convert with funpack, or fpack with Rice)"), base,
                   F->compress_type == HCOMPRESS_1 ? "HCOMPRESS" : F->compress_type == PLIO_1 ? "PLIO"
                   : F->compress_type == BZIP2_1 ? "BZIP2" : "unknown");
      return FALSE;
    }
  int ndim = F->zndim;
  if (ndim < 1 || ndim > MAX_COMPRESS_DIM)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: damaged compressed image (ZNAXIS = %d)"), base, ndim);
      return FALSE;
    }
  long long nt[MAX_COMPRESS_DIM];
  for (int k = 0; k < ndim; k++)
    {
      if (F->tilesize[k] <= 0 || F->znaxis[k] <= 0)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: damaged compressed image (tile or axis %d is empty)"),
                       base, k + 1);
          return FALSE;
        }
      nt[k] = (F->znaxis[k] + F->tilesize[k] - 1) / F->tilesize[k];
    }
  int bytepix = F->rice_bytepix == 1 || F->rice_bytepix == 2 ? F->rice_bytepix : 4; /* else: the int decoder */
  int col = 0, gzcol = 0, st2 = 0;
  if (fits_get_colnum (of->f, CASEINSEN, "COMPRESSED_DATA", &col, &status))
    {
      fits_clear_errmsg ();
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: damaged compressed image (no COMPRESSED_DATA)"), base);
      return FALSE;
    }
  /* tiles that could not be Rice-coded are stored gzipped in their own column */
  if (fits_get_colnum (of->f, CASEINSEN, "GZIP_COMPRESSED_DATA", &gzcol, &st2))
    gzcol = 0;
  fits_clear_errmsg ();
  long long nrows = 0;
  fits_get_num_rowsll (of->f, &nrows, &status);
  for (long long row = 1; row <= nrows && status == 0; row++)
    {
      /* pixels in this tile, as cfitsio counts them (edge tiles are smaller) */
      long long t = row - 1, nx = 1;
      for (int k = 0; k < ndim; k++)
        {
          long long idx = t % nt[k];
          t /= nt[k];
          nx *= MIN ((long long) F->tilesize[k], F->znaxis[k] - idx * F->tilesize[k]);
        }
      for (int pass = 0; pass < 2 && status == 0; pass++)
        {
          int c = pass == 0 ? col : gzcol;
          gboolean gzip = pass == 1 || F->compress_type == GZIP_1 || F->compress_type == GZIP_2;
          if (c == 0 || (pass == 0 && F->compress_type == NOCOMPRESS))
            continue;
          long long len = 0, offset = 0;
          fits_read_descriptll (of->f, c, row, &len, &offset, &status);
          if (status || len == 0)
            continue; /* empty: the tile is in another column */
          g_autofree guint8 *buf = g_try_malloc (len);
          if (!buf || nx <= 0)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: damaged compressed image (tile %lld)"), base, row);
              return FALSE;
            }
          int anynul = 0;
          if (fits_read_col (of->f, TBYTE, c, row, 1, len, NULL, buf, &anynul, &status))
            break;
          gboolean ok = gzip ? gzip_tile_ok (buf, len, nx * 8) : rice_tile_ok (buf, len, nx, F->rice_blocksize, bytepix);
          if (!ok)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                           _("%s: damaged compressed image: tile %lld does not decode to its %lld pixels"), base, row,
                           nx);
              return FALSE;
            }
        }
    }
  if (status)
    {
      set_fits_error (error, TSR_ERROR_TRUNCATED, path, _("damaged compressed image"), status);
      return FALSE;
    }
  return TRUE;
}

/* DATASUM / CHECKSUM (the FITS checksum convention), verified when the HDU carries them.
 * A DATASUM that does not match means the pixels are damaged (a bit flip on a card or in a
 * transfer): refused. A CHECKSUM that does not match while DATASUM does means only the header
 * changed after writing — software that adds a keyword without updating CHECKSUM is common —
 * so the pixels are read. Without DATASUM a CHECKSUM mismatch cannot tell header from pixels
 * and is refused. Costs one extra pass over the data unit (from the page cache). */
static gboolean
verify_checksums (OpenFits *of, const char *path, GError **error)
{
  int status = 0;
  char card[FLEN_CARD];
  gboolean has_datasum = fits_read_card (of->f, "DATASUM", card, &status) == 0;
  status = 0;
  gboolean has_checksum = fits_read_card (of->f, "CHECKSUM", card, &status) == 0;
  status = 0;
  fits_clear_errmsg ();
  if (!has_datasum && !has_checksum)
    return TRUE;
  int dataok = 0, hduok = 0;
  if (fits_verify_chksum (of->f, &dataok, &hduok, &status))
    {
      set_fits_error (error, TSR_ERROR_TRUNCATED, path, _("cannot read the data to verify DATASUM"), status);
      return FALSE;
    }
  g_autofree char *base = basename_of (path);
  if (has_datasum && dataok == -1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: the pixels do not match the file's DATASUM checksum: the data is damaged"), base);
      return FALSE;
    }
  if (!has_datasum && hduok == -1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: the file does not match its CHECKSUM (and has no DATASUM to tell whether the "
                     "pixels or only the header changed): the file is damaged"),
                   base);
      return FALSE;
    }
  return TRUE;
}

/* TRUE when every sample is finite and within TSR_SAMPLE_MAX (a reduction the compiler
 * vectorises: 0.3 ms for a 1080×1920 plane). */
static gboolean
samples_sane (const float *p, gsize n)
{
  int bad = 0;
  for (gsize i = 0; i < n; i++)
    bad |= !(fabsf (p[i]) <= TSR_SAMPLE_MAX);
  return !bad;
}

/* Function multiversioning (x86-64 with glibc): an AVX2 clone picked at load time */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_FITS_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_FITS_CLONES
#define TSR_FITS_CLONES
#endif

/* 16-bit integer samples to float with an integer offset: exactly cfitsio's conversion for
 * BSCALE = 1 (the sum of two integers below 2^24 is a float exactly) */
static TSR_FITS_CLONES void
short_to_float (const gint16 *restrict src, float *restrict dst, gsize n, gint32 zero)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = (float) ((gint32) src[i] + zero);
}

/* An uncompressed 16-bit image whose samples are integers plus an integer offset (BSCALE 1,
 * BZERO an integer: 32768 for the unsigned frames every camera and smart telescope writes)
 * and has no BLANK value: *zero the offset. Such images are read as raw integers and
 * converted here (cfitsio's scaled conversion to float, fffi2r4, was ~3 % of a Seestar run's
 * CPU; the raw read is a copy and a byte swap). */
static gboolean
plain_short_image (const OpenFits *of, gint32 *zero)
{
  if (of->compressed || of->bitpix != SHORT_IMG)
    return FALSE;
  int status = 0;
  double bscale = 1.0, bzero = 0.0;
  long blank = 0;
  fits_read_key_dbl (of->f, "BSCALE", &bscale, NULL, &status);
  if (status == KEY_NO_EXIST)
    status = 0, bscale = 1.0;
  fits_read_key_dbl (of->f, "BZERO", &bzero, NULL, &status);
  if (status == KEY_NO_EXIST)
    status = 0, bzero = 0.0;
  if (status)
    return FALSE;
  fits_read_key_lng (of->f, "BLANK", &blank, NULL, &status);
  /* (the missing keywords' messages off cfitsio's stack, as after every expected failure) */
  fits_clear_errmsg ();
  if (status != KEY_NO_EXIST)
    return FALSE;
  if (bscale != 1.0 || bzero != rint (bzero) || fabs (bzero) > 8388608.0)
    return FALSE;
  *zero = (gint32) bzero;
  return TRUE;
}

static TsrImage *
read_rows (const char *path, int y0, int y1, gboolean whole, GError **error)
{
  OpenFits of;
  int status = 0;
  LOCK ();
  if (!open_image (path, &of, error))
    {
      UNLOCK ();
      return NULL;
    }
  if ((of.compressed && !verify_compressed_tiles (&of, path, error)) || (whole && !verify_checksums (&of, path, error)))
    {
      close_image (&of);
      UNLOCK ();
      return NULL;
    }
  int w = (int) of.naxes[0], h = (int) of.naxes[1];
  int channels = of.naxis == 3 ? (int) of.naxes[2] : 1;
  if (whole)
    {
      y0 = 0;
      y1 = h;
    }
  if (y0 < 0 || y1 > h || y0 >= y1)
    {
      close_image (&of);
      UNLOCK ();
      g_autofree char *base = basename_of (path);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s: rows %d…%d requested from an image of height %d"), base, y0, y1, h);
      return NULL;
    }
  /* not cleared: cfitsio writes every sample of the rows (or the read fails and the image is
   * dropped); 8 MB cleared per 1080 × 1920 read for nothing (and, where cfitsio is not
   * reentrant, under the lock that serialises the workers' reads) */
  TsrImage *img = tsr_image_new_uninit (w, y1 - y0, channels);
  if (!img)
    {
      close_image (&of);
      UNLOCK ();
      g_autofree char *base = basename_of (path);
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: not enough memory for %d × %d × %d"),
                   base, w, h, channels);
      return NULL;
    }
  memset (img->mask, 1, tsr_image_npix (img));
  tsr_header_free (img->header);
  img->header = read_header (&of);
  if (!tsr_fits_check_keywords (path, img->header, error))
    {
      close_image (&of);
      UNLOCK ();
      tsr_image_unref (img);
      return NULL;
    }
  TsrFitsInfo info;
  fill_info (&info, &of, img->header);
  img->cfa = tsr_cfa_shift (info.cfa, 0, y0 & 1);
  tsr_fits_info_clear (&info);

  float nulval = NAN;
  int anynul = 0;
  int equiv = 0, est = 0;
  fits_get_img_equivtype (of.f, &equiv, &est);
  if (est == 0 && equiv == ULONGLONG_IMG)
    {
      /* Unsigned 64-bit (BITPIX = 64, BZERO = 2^63): cfitsio's float conversion goes through
       * a double sum with 2^63 and loses everything below ~2^10. Read the integers exactly,
       * a row at a time, and round each to float once. */
      guint64 *row = g_try_new (guint64, w);
      if (!row)
        status = MEMORY_ALLOCATION;
      for (int c = 0; c < channels && status == 0; c++)
        for (int y = y0; y < y1 && status == 0; y++)
          {
            long fpix[3] = { 1, y + 1, c + 1 };
            long lpix[3] = { w, y + 1, c + 1 };
            long inc[3] = { 1, 1, 1 };
            unsigned long long unul = 0;
            fits_read_subset (of.f, TULONGLONG, fpix, lpix, inc, &unul, row, &anynul, &status);
            float *dst = tsr_image_plane (img, c) + (gsize) (y - y0) * w;
            for (int x = 0; x < w; x++)
              dst[x] = (float) row[x];
          }
      g_free (row);
    }
  else
    {
      gint32 zero = 0;
      gint16 *raw = NULL;
      if (plain_short_image (&of, &zero) && (raw = g_try_new (gint16, (gsize) w * (y1 - y0))))
        fits_set_bscale (of.f, 1.0, 0.0, &status);
      for (int c = 0; c < channels && status == 0; c++)
        {
          long fpix[3] = { 1, y0 + 1, c + 1 };
          long lpix[3] = { w, y1, c + 1 };
          long inc[3] = { 1, 1, 1 };
          if (raw)
            {
              fits_read_subset (of.f, TSHORT, fpix, lpix, inc, NULL, raw, &anynul, &status);
              if (status == 0)
                short_to_float (raw, tsr_image_plane (img, c), (gsize) w * (y1 - y0), zero);
            }
          else
            fits_read_subset (of.f, TFLOAT, fpix, lpix, inc, &nulval, tsr_image_plane (img, c), &anynul,
                              &status);
        }
      g_free (raw);
    }
  if (status)
    {
      set_fits_error (error, TSR_ERROR_TRUNCATED, path, _("cannot read the pixels; the file is damaged or truncated"), status);
      close_image (&of);
      UNLOCK ();
      tsr_image_unref (img);
      return NULL;
    }
  close_image (&of);
  UNLOCK ();

  gsize npix = tsr_image_npix (img);
  for (int c = 0; c < channels; c++)
    {
      float *p = tsr_image_plane (img, c);
      /* a plane without a bad sample (nearly every frame) costs one vectorised scan; the
       * masking loop with its stores is not vectorised (1.7 ms per 1080×1920 plane) */
      if (samples_sane (p, npix))
        continue;
      for (gsize i = 0; i < npix; i++)
        if (!(fabsf (p[i]) <= TSR_SAMPLE_MAX)) /* NaN, ±inf and physically absurd values */
          {
            p[i] = 0.0f;
            img->mask[i] = 0;
          }
    }
  /* A masked sample in one colour plane masks the pixel in all of them. */
  if (channels > 1)
    for (int c = 0; c < channels; c++)
      {
        float *p = tsr_image_plane (img, c);
        for (gsize i = 0; i < npix; i++)
          if (!img->mask[i])
            p[i] = 0.0f;
      }
  return img;
}

TsrImage *
tsr_fits_read (const char *path, GError **error)
{
  return read_rows (path, 0, 0, TRUE, error);
}

TsrImage *
tsr_fits_read_rows (const char *path, int y0, int y1, GError **error)
{
  return read_rows (path, y0, y1, FALSE, error);
}

static gboolean
in_list (const char *key, const char *const *list)
{
  if (!list)
    return FALSE;
  for (int i = 0; list[i]; i++)
    if (g_ascii_strcasecmp (key, list[i]) == 0)
      return TRUE;
  return FALSE;
}

gboolean
tsr_fits_write (const char *path, const TsrImage *img, const char *const *drop_keys, GError **error)
{
  g_autofree char *target = tsr_output_target (path, error);
  if (!target)
    return FALSE;
  g_autofree char *dir = g_path_get_dirname (target);
  g_autofree char *base = g_path_get_basename (target);
  g_autofree char *tmpl = g_strdup_printf ("%s/.%s.XXXXXX.part", dir, base);
  int fd = g_mkstemp_full (tmpl, O_RDWR, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s"), path, g_strerror (e));
      return FALSE;
    }
  close (fd);
  g_unlink (tmpl);

  int status = 0;
  fitsfile *f = NULL;
  LOCK ();
  if (fits_create_diskfile (&f, tmpl, &status))
    {
      UNLOCK ();
      set_fits_error (error, TSR_ERROR_IO, path, _("cannot create the output file"), status);
      g_unlink (tmpl);
      return FALSE;
    }
  long naxes[3] = { img->width, img->height, img->channels };
  fits_create_img (f, FLOAT_IMG, img->channels == 1 ? 2 : 3, naxes, &status);

  g_autofree char *roworder = tsr_header_get_string (img->header, "ROWORDER");
  gboolean bottom_up = roworder && g_ascii_strcasecmp (roworder, "BOTTOM-UP") == 0;
  guint n = tsr_header_n_cards (img->header);
  for (guint i = 0; i < n && status == 0; i++)
    {
      const char *card = tsr_header_card (img->header, i);
      g_autofree char *key = tsr_header_card_keyword (card);
      if (is_structural (key) || in_list (key, drop_keys))
        continue;
      if (!strcmp (key, "BAYERPAT") || !strcmp (key, "CFA-PAT") || !strcmp (key, "XBAYROFF")
          || !strcmp (key, "YBAYROFF") || !strcmp (key, "DATE") || !strcmp (key, "CREATOR"))
        continue;
      char buf[FLEN_CARD];
      g_strlcpy (buf, card, sizeof buf);
      fits_write_record (f, buf, &status);
    }
  if (img->cfa != TSR_CFA_NONE && img->channels == 1)
    {
      TsrCfa stated = bottom_up ? tsr_cfa_shift (img->cfa, 0, (img->height - 1) & 1) : img->cfa;
      char pat[8];
      g_strlcpy (pat, tsr_cfa_name (stated), sizeof pat);
      int zero = 0;
      fits_update_key (f, TSTRING, "BAYERPAT", pat, "Bayer pattern of the mosaic", &status);
      fits_update_key (f, TINT, "XBAYROFF", &zero, "Bayer pattern x offset", &status);
      fits_update_key (f, TINT, "YBAYROFF", &zero, "Bayer pattern y offset", &status);
    }
  char creator[64];
  g_snprintf (creator, sizeof creator, "Tessera %s", TSR_VERSION);
  fits_update_key (f, TSTRING, "CREATOR", creator, "software that wrote this file", &status);
  fits_write_date (f, &status);
  gsize total = tsr_image_npix (img) * img->channels;
  fits_write_img (f, TFLOAT, 1, (LONGLONG) total, img->data, &status);
  /* DATASUM and CHECKSUM, so a damaged copy of a result is recognised (by Tessera and by any
   * FITS reader that verifies them) */
  fits_write_chksum (f, &status);
  int close_status = 0;
  fits_close_file (f, &close_status);
  UNLOCK ();
  if (status || close_status)
    {
      set_fits_error (error, TSR_ERROR_IO, path, _("writing failed (disk full or folder not writable?)"),
                      status ? status : close_status);
      g_unlink (tmpl);
      return FALSE;
    }
  /* Make the bytes durable before the rename makes them visible. */
  fd = g_open (tmpl, O_RDONLY, 0);
  if (fd >= 0)
    {
      int r = fsync (fd);
      int e = errno;
      close (fd);
      if (r != 0 && e != EINVAL)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot write %s: %s"), path, g_strerror (e));
          g_unlink (tmpl);
          return FALSE;
        }
    }
  if (g_rename (tmpl, target) != 0)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("cannot rename the finished file to %s: %s"), path,
                   g_strerror (e));
      g_unlink (tmpl);
      return FALSE;
    }
  return TRUE;
}
