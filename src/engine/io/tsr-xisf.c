/* tsr-xisf.c — XISF 1.0 input: the XML header through GMarkup, zlib and LZ4 (liblz4) for
 * compressed blocks. See tsr-xisf.h for what is read. */
#include "tsr-xisf.h"
#include "tsr-error.h"
#include "tsr-output.h"
#include "tsr-config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <lz4.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define XISF_SIGNATURE "XISF0100"
/* A header larger than this is not an image's metadata (PixInsight writes a few KiB). */
#define XISF_MAX_HEADER (16 * 1024 * 1024)
/* The most bytes a codec's output can reach per byte of input: deflate stops near 1032:1,
 * an LZ4 block near 255:1 (one length byte per 255 bytes of match); plus slack for tiny
 * blocks. A header declaring more describes data the block cannot hold. */
#define XISF_ZLIB_MAX_RATIO 1040
#define XISF_LZ4_MAX_RATIO 256
#define XISF_RATIO_SLACK 4096

gboolean
tsr_is_xisf_name (const char *name)
{
  if (!name || name[0] == '.')
    return FALSE;
  g_autofree char *lower = g_ascii_strdown (name, -1);
  return g_str_has_suffix (lower, ".xisf");
}

typedef enum { FMT_U8, FMT_U16, FMT_U32, FMT_F32, FMT_F64 } SampleFormat;
typedef enum { CODEC_NONE, CODEC_ZLIB, CODEC_LZ4 } Codec;

typedef struct
{
  const char *path;
  /* parser state */
  int depth;
  gboolean in_image, image_done, in_inline;
  GString *inline_text;
  /* the first <Image> */
  gboolean have_image;
  guint64 width, height, n_channels; /* n_channels: stored, alpha included */
  int nominal;                       /* 1 Gray, 3 RGB */
  SampleFormat fmt;
  int bytes;                         /* per sample */
  gboolean big_endian, interleaved;
  gboolean attached, inline_data;
  char *inline_encoding;             /* "base64" or "hex" */
  guint64 pos, size;                 /* attachment */
  Codec codec;
  guint64 usize;                     /* uncompressed size, codec != NONE */
  int shuffle;                       /* item size, 0: not shuffled */
  GArray *subblocks;                 /* guint64 pairs (compressed, uncompressed) */
  char *checksum_alg, *checksum_hex;
  TsrHeader *header;
  /* properties and attributes kept until the end, written as keywords the FITS cards lack */
  char *image_type, *cfa_pattern, *time_start;
  double exposure, temperature, gain, xbin, ybin;
} Xisf;

static void
xisf_clear (Xisf *x)
{
  if (x->inline_text)
    g_string_free (x->inline_text, TRUE);
  g_free (x->inline_encoding);
  if (x->subblocks)
    g_array_unref (x->subblocks);
  g_free (x->checksum_alg);
  g_free (x->checksum_hex);
  tsr_header_free (x->header);
  g_free (x->image_type);
  g_free (x->cfa_pattern);
  g_free (x->time_start);
}

static const char *
attr (const char **names, const char **values, const char *key)
{
  for (int i = 0; names[i]; i++)
    if (strcmp (names[i], key) == 0)
      return values[i];
  return NULL;
}

static gboolean
parse_u64 (const char *s, guint64 *out)
{
  if (!s || !g_ascii_isdigit (*s))
    return FALSE;
  char *end = NULL;
  errno = 0;
  guint64 v = g_ascii_strtoull (s, &end, 10);
  if (errno || end == s)
    return FALSE;
  *out = v;
  return *end == '\0';
}

/* "a:b:c" into at most n unsigned numbers; the count parsed or −1 on a bad field. */
static int
parse_u64_list (const char *s, char sep, guint64 *out, int n)
{
  g_auto (GStrv) parts = g_strsplit (s, (char[]) { sep, 0 }, -1);
  int k = 0;
  for (; parts[k]; k++)
    if (k >= n || !parse_u64 (g_strstrip (parts[k]), &out[k]))
      return -1;
  return k;
}

static void
set_format_error (GError **error, const char *path, const char *what)
{
  g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: bad XISF file: %s"), path, what);
}

static gboolean
parse_image_attrs (Xisf *x, const char **names, const char **values, GError **error)
{
  const char *geometry = attr (names, values, "geometry");
  const char *sample = attr (names, values, "sampleFormat");
  const char *location = attr (names, values, "location");
  if (!geometry || !sample || !location)
    {
      set_format_error (error, x->path, _("the image lacks geometry, sampleFormat or location"));
      return FALSE;
    }
  guint64 g[4];
  int ng = parse_u64_list (geometry, ':', g, 4);
  if (ng != 3 || g[0] == 0 || g[1] == 0 || g[2] == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: unsupported XISF image geometry '%s' (width:height:channels of a 2-D image are read)"),
                   x->path, geometry);
      return FALSE;
    }
  x->width = g[0];
  x->height = g[1];
  x->n_channels = g[2];
  if (x->width > TSR_FITS_MAX_AXIS || x->height > TSR_FITS_MAX_AXIS
      || x->width * x->height > (guint64) TSR_FITS_MAX_PIXELS || x->n_channels > 64)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: XISF image geometry '%s' is out of range"),
                   x->path, geometry);
      return FALSE;
    }
  static const struct { const char *name; SampleFormat fmt; int bytes; } formats[] = {
    { "UInt8", FMT_U8, 1 }, { "UInt16", FMT_U16, 2 }, { "UInt32", FMT_U32, 4 },
    { "Float32", FMT_F32, 4 }, { "Float64", FMT_F64, 8 },
  };
  x->bytes = 0;
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    if (strcmp (sample, formats[i].name) == 0)
      x->fmt = formats[i].fmt, x->bytes = formats[i].bytes;
  if (!x->bytes)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: unsupported XISF sample format '%s' (UInt8, UInt16, UInt32, Float32 and Float64 are read)"),
                   x->path, sample);
      return FALSE;
    }
  const char *cs = attr (names, values, "colorSpace");
  x->nominal = cs && strcmp (cs, "RGB") == 0 ? 3 : 1;
  if (cs && strcmp (cs, "RGB") != 0 && strcmp (cs, "Gray") != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: unsupported XISF colour space '%s' (Gray and RGB are read)"), x->path, cs);
      return FALSE;
    }
  if (x->n_channels < (guint64) x->nominal)
    {
      set_format_error (error, x->path, _("fewer channels than its colour space needs"));
      return FALSE;
    }
  const char *bo = attr (names, values, "byteOrder");
  x->big_endian = bo && strcmp (bo, "big") == 0;
  const char *ps = attr (names, values, "pixelStorage");
  x->interleaved = ps && strcmp (ps, "Normal") == 0;

  /* location */
  if (g_str_has_prefix (location, "attachment:"))
    {
      guint64 l[2];
      if (parse_u64_list (location + 11, ':', l, 2) != 2)
        {
          set_format_error (error, x->path, _("malformed attachment location"));
          return FALSE;
        }
      x->attached = TRUE;
      x->pos = l[0];
      x->size = l[1];
    }
  else if (g_str_has_prefix (location, "inline:"))
    {
      x->inline_data = TRUE;
      x->inline_encoding = g_strdup (location + 7);
      if (strcmp (x->inline_encoding, "base64") != 0 && strcmp (x->inline_encoding, "hex") != 0)
        {
          set_format_error (error, x->path, _("unknown inline encoding"));
          return FALSE;
        }
    }
  else
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: unsupported XISF data location '%s' (attached or inline data are read)"), x->path,
                   location);
      return FALSE;
    }

  /* compression: codec:uncompressed-size[:item-size] */
  const char *comp = attr (names, values, "compression");
  if (comp && *comp)
    {
      g_auto (GStrv) parts = g_strsplit (comp, ":", -1);
      guint n = g_strv_length (parts);
      const char *codec = parts[0];
      gboolean sh = g_str_has_suffix (codec, "+sh");
      g_autofree char *base = g_strndup (codec, strlen (codec) - (sh ? 3 : 0));
      if (strcmp (base, "zlib") == 0)
        x->codec = CODEC_ZLIB;
      else if (strcmp (base, "lz4") == 0 || strcmp (base, "lz4hc") == 0)
        x->codec = CODEC_LZ4;
      else
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: unsupported XISF compression '%s' (zlib, lz4 and lz4hc are read)"), x->path, codec);
          return FALSE;
        }
      guint64 item = 0;
      if (n != (sh ? 3u : 2u) || !parse_u64 (parts[1], &x->usize) || (sh && (!parse_u64 (parts[2], &item) || item == 0 || item > 16)))
        {
          set_format_error (error, x->path, _("malformed compression attribute"));
          return FALSE;
        }
      x->shuffle = sh ? (int) item : 0;
      const char *sub = attr (names, values, "subblocks");
      if (sub && *sub)
        {
          x->subblocks = g_array_new (FALSE, FALSE, sizeof (guint64));
          g_auto (GStrv) blocks = g_strsplit (sub, ":", -1);
          for (int i = 0; blocks[i]; i++)
            {
              guint64 cu[2];
              if (parse_u64_list (blocks[i], ',', cu, 2) != 2 || i > 1 << 20)
                {
                  set_format_error (error, x->path, _("malformed subblocks attribute"));
                  return FALSE;
                }
              g_array_append_vals (x->subblocks, cu, 2);
            }
        }
    }

  /* checksum: algorithm:hex */
  const char *ck = attr (names, values, "checksum");
  if (ck && *ck)
    {
      const char *colon = strchr (ck, ':');
      if (!colon)
        {
          set_format_error (error, x->path, _("malformed checksum attribute"));
          return FALSE;
        }
      x->checksum_alg = g_ascii_strdown (ck, colon - ck);
      x->checksum_hex = g_ascii_strdown (colon + 1, -1);
    }
  const char *it = attr (names, values, "imageType");
  if (it)
    x->image_type = g_strdup (it);
  return TRUE;
}

static double
parse_double (const char *s)
{
  if (!s)
    return NAN;
  char *end = NULL;
  double d = g_ascii_strtod (s, &end);
  return end != s && isfinite (d) ? d : NAN;
}

/* One FITS card from a <FITSKeyword name value comment>: the value is written as in FITS
 * (quoted strings stay quoted). */
static void
add_keyword (TsrHeader *h, const char *name, const char *value, const char *comment)
{
  if (!name || !*name)
    return;
  g_autofree char *key = g_ascii_strup (name, -1);
  for (char *p = key; *p; p++)
    if ((guchar) *p < 32 || (guchar) *p > 126)
      *p = '_';
  g_autofree char *card = NULL;
  gboolean commentary = strcmp (key, "COMMENT") == 0 || strcmp (key, "HISTORY") == 0 || !value || !*value;
  if (commentary)
    card = g_strdup_printf ("%-8.8s %s", key, comment && *comment ? comment : (value ? value : ""));
  else if (strlen (key) > 8)
    card = g_strdup_printf ("HIERARCH %s = %s", key, value);
  else if (comment && *comment)
    card = g_strdup_printf ("%-8s= %20s / %s", key, value, comment);
  else
    card = g_strdup_printf ("%-8s= %20s", key, value);
  for (char *p = card; *p; p++)
    if ((guchar) *p < 32 || (guchar) *p > 126)
      *p = '?';
  tsr_header_add_card (h, card);
}

static void
start_element (GMarkupParseContext *ctx, const char *element, const char **names, const char **values,
               gpointer data, GError **error)
{
  Xisf *x = data;
  x->depth++;
  if (x->depth == 1)
    {
      if (strcmp (element, "xisf") != 0)
        set_format_error (error, x->path, _("the header's root element is not <xisf>"));
      return;
    }
  if (x->depth == 2 && strcmp (element, "Image") == 0 && !x->have_image)
    {
      x->have_image = x->in_image = TRUE;
      if (parse_image_attrs (x, names, values, error) && x->inline_data)
        {
          x->in_inline = TRUE;
          x->inline_text = g_string_new (NULL);
        }
      return;
    }
  if (x->depth != 3 || !x->in_image)
    return;
  if (strcmp (element, "FITSKeyword") == 0)
    add_keyword (x->header, attr (names, values, "name"), attr (names, values, "value"),
                 attr (names, values, "comment"));
  else if (strcmp (element, "Property") == 0)
    {
      const char *id = attr (names, values, "id"), *v = attr (names, values, "value");
      if (!id || !v)
        return;
      if (strcmp (id, "Instrument:ExposureTime") == 0)
        x->exposure = parse_double (v);
      else if (strcmp (id, "Instrument:Sensor:Temperature") == 0)
        x->temperature = parse_double (v);
      else if (strcmp (id, "Instrument:Camera:Gain") == 0)
        x->gain = parse_double (v);
      else if (strcmp (id, "Instrument:Camera:XBinning") == 0)
        x->xbin = parse_double (v);
      else if (strcmp (id, "Instrument:Camera:YBinning") == 0)
        x->ybin = parse_double (v);
      else if (strcmp (id, "Observation:Time:Start") == 0 && !x->time_start)
        x->time_start = g_strdup (v);
    }
  else if (strcmp (element, "ColorFilterArray") == 0)
    {
      const char *pat = attr (names, values, "pattern");
      const char *w = attr (names, values, "width"), *h = attr (names, values, "height");
      if (pat && w && h && strcmp (w, "2") == 0 && strcmp (h, "2") == 0 && strlen (pat) == 4 && !x->cfa_pattern)
        x->cfa_pattern = g_strdup (pat);
    }
}

static void
end_element (GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
  Xisf *x = data;
  if (x->depth == 2 && x->in_image)
    {
      x->in_image = FALSE;
      x->in_inline = FALSE;
    }
  x->depth--;
}

static void
text (GMarkupParseContext *ctx, const char *t, gsize len, gpointer data, GError **error)
{
  Xisf *x = data;
  if (x->in_inline && x->depth == 2)
    {
      if (x->inline_text->len + len > XISF_MAX_HEADER)
        {
          set_format_error (error, x->path, _("inline data too large"));
          return;
        }
      g_string_append_len (x->inline_text, t, len);
    }
}

/* Keywords the rest of Tessera reads, from properties and attributes, where the FITS cards
 * of the image do not already say them. */
static void
add_derived_keywords (Xisf *x)
{
  TsrHeader *h = x->header;
  if (x->image_type && !tsr_header_has (h, "IMAGETYP"))
    tsr_header_set_string (h, "IMAGETYP", x->image_type, "XISF imageType");
  if (isfinite (x->exposure) && !tsr_header_has (h, "EXPTIME") && !tsr_header_has (h, "EXPOSURE"))
    tsr_header_set_double (h, "EXPTIME", x->exposure, "[s] XISF Instrument:ExposureTime");
  if (isfinite (x->temperature) && !tsr_header_has (h, "CCD-TEMP"))
    tsr_header_set_double (h, "CCD-TEMP", x->temperature, "[C] XISF Instrument:Sensor:Temperature");
  if (isfinite (x->gain) && !tsr_header_has (h, "GAIN"))
    tsr_header_set_double (h, "GAIN", x->gain, "XISF Instrument:Camera:Gain");
  if (isfinite (x->xbin) && !tsr_header_has (h, "XBINNING"))
    tsr_header_set_int (h, "XBINNING", (gint64) x->xbin, "XISF Instrument:Camera:XBinning");
  if (isfinite (x->ybin) && !tsr_header_has (h, "YBINNING"))
    tsr_header_set_int (h, "YBINNING", (gint64) x->ybin, "XISF Instrument:Camera:YBinning");
  if (x->time_start && !tsr_header_has (h, "DATE-OBS"))
    {
      /* a TimePoint: ISO 8601 with an optional zone; DATE-OBS is UTC without one */
      g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (x->time_start, g_time_zone_new_utc ());
      if (dt)
        {
          g_autoptr (GDateTime) utc = g_date_time_to_utc (dt);
          g_autofree char *s = g_date_time_format (utc, "%Y-%m-%dT%H:%M:%S");
          g_autofree char *full = g_strdup_printf ("%s.%03d", s, g_date_time_get_microsecond (utc) / 1000);
          tsr_header_set_string (h, "DATE-OBS", full, "UTC, XISF Observation:Time:Start");
        }
    }
  if (x->nominal == 1 && x->cfa_pattern && !tsr_header_has (h, "BAYERPAT") && !tsr_header_has (h, "CFA-PAT")
      && tsr_cfa_from_name (x->cfa_pattern) != TSR_CFA_NONE)
    tsr_header_set_string (h, "BAYERPAT", x->cfa_pattern, "XISF ColorFilterArray");
}

static gint64
stream_size (FILE *fp)
{
  GStatBuf st;
  return fstat (fileno (fp), &st) == 0 ? st.st_size : -1;
}

/* Open path and parse its header; fp is left open. */
static gboolean
open_xisf (const char *path, Xisf *x, FILE **fp_out, gint64 *file_size, GError **error)
{
  memset (x, 0, sizeof *x);
  x->path = path;
  x->exposure = x->temperature = x->gain = x->xbin = x->ybin = NAN;
  x->header = tsr_header_new ();
  FILE *fp = g_fopen (path, "rb");
  if (!fp)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, e == ENOENT ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO, _("%s: cannot open: %s"),
                   path, g_strerror (e));
      return FALSE;
    }
  *file_size = stream_size (fp);
  guint8 pre[16];
  size_t n = fread (pre, 1, sizeof pre, fp);
  if (n < 8 || memcmp (pre, XISF_SIGNATURE, 8) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   n == 0 ? _("%s: empty file (not an XISF image)") : _("%s: not an XISF file (no XISF0100 signature)"),
                   path);
      fclose (fp);
      return FALSE;
    }
  if (n < 16)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED, _("%s: truncated XISF file (the header is incomplete)"), path);
      fclose (fp);
      return FALSE;
    }
  guint32 hlen = pre[8] | (guint32) pre[9] << 8 | (guint32) pre[10] << 16 | (guint32) pre[11] << 24;
  if (hlen == 0 || hlen > XISF_MAX_HEADER || (gint64) hlen + 16 > *file_size)
    {
      g_set_error (error, TSR_ERROR, hlen == 0 || hlen > XISF_MAX_HEADER ? TSR_ERROR_FORMAT : TSR_ERROR_TRUNCATED,
                   _("%s: truncated XISF file (the header is incomplete)"), path);
      fclose (fp);
      return FALSE;
    }
  g_autofree char *xml = g_malloc (hlen + 1);
  if (fread (xml, 1, hlen, fp) != hlen)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED, _("%s: truncated XISF file (the header is incomplete)"), path);
      fclose (fp);
      return FALSE;
    }
  xml[hlen] = 0;
  /* the header may be padded with zeros */
  gsize len = strlen (xml);
  static const GMarkupParser parser = { start_element, end_element, text, NULL, NULL };
  GMarkupParseContext *ctx = g_markup_parse_context_new (&parser, 0, x, NULL);
  GError *e = NULL;
  gboolean ok = g_markup_parse_context_parse (ctx, xml, len, &e) && g_markup_parse_context_end_parse (ctx, &e);
  g_markup_parse_context_free (ctx);
  if (!ok)
    {
      if (e->domain == TSR_ERROR)
        g_propagate_error (error, e);
      else
        {
          g_autofree char *first = g_strdup (e->message);
          char *nl = strchr (first, '\n');
          if (nl)
            *nl = 0;
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: bad XISF header (%s)"), path, first);
          g_error_free (e);
        }
      fclose (fp);
      return FALSE;
    }
  if (!x->have_image)
    {
      set_format_error (error, path, _("no <Image> element"));
      fclose (fp);
      return FALSE;
    }
  if (x->attached && (x->pos > (guint64) *file_size || x->size > (guint64) *file_size - x->pos))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   _("%s: truncated XISF file (the image data at %llu + %llu bytes lie past its end, %llu bytes)"),
                   path, (unsigned long long) x->pos, (unsigned long long) x->size,
                   (unsigned long long) *file_size);
      fclose (fp);
      return FALSE;
    }
  add_derived_keywords (x);
  if (!tsr_fits_check_keywords (path, x->header, error))
    {
      fclose (fp);
      return FALSE;
    }
  *fp_out = fp;
  return TRUE;
}

gboolean
tsr_xisf_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error)
{
  Xisf x;
  FILE *fp = NULL;
  gint64 fsize;
  if (!open_xisf (path, &x, &fp, &fsize, error))
    {
      xisf_clear (&x);
      return FALSE;
    }
  fclose (fp);
  int bitpix = x.fmt == FMT_U8 ? 8 : x.fmt == FMT_U16 ? 16 : x.fmt == FMT_U32 ? 32 : x.fmt == FMT_F32 ? -32 : -64;
  tsr_fits_info_from_header (info, (int) x.width, (int) x.height, x.nominal, bitpix, x.header);
  info->compressed = x.codec != CODEC_NONE;
  if (header_out)
    *header_out = g_steal_pointer (&x.header);
  xisf_clear (&x);
  return TRUE;
}

static void
set_truncated (GError **error, const char *path, const char *what)
{
  g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED, _("%s: damaged XISF image data (%s)"), path, what);
}

/* The stored block (compressed or not) as it is in the file. */
static guint8 *
read_block (Xisf *x, FILE *fp, gsize *len, GError **error)
{
  if (x->inline_data)
    {
      g_strstrip (x->inline_text->str);
      x->inline_text->len = strlen (x->inline_text->str);
      if (strcmp (x->inline_encoding, "base64") == 0)
        {
          if (x->inline_text->len == 0)
            {
              set_truncated (error, x->path, _("empty inline data"));
              return NULL;
            }
          return g_base64_decode (x->inline_text->str, len);
        }
      gsize n = x->inline_text->len / 2;
      guint8 *b = g_malloc (n + 1);
      for (gsize i = 0; i < n; i++)
        {
          int hi = g_ascii_xdigit_value (x->inline_text->str[2 * i]);
          int lo = g_ascii_xdigit_value (x->inline_text->str[2 * i + 1]);
          if (hi < 0 || lo < 0)
            {
              g_free (b);
              set_truncated (error, x->path, _("bad hex digit in inline data"));
              return NULL;
            }
          b[i] = (guint8) (hi << 4 | lo);
        }
      *len = n;
      return b;
    }
  guint8 *b = tsr_try_alloc (MAX (x->size, 1), x->path, error);
  if (!b)
    return NULL;
  if (fseeko (fp, (off_t) x->pos, SEEK_SET) != 0 || fread (b, 1, x->size, fp) != x->size)
    {
      g_free (b);
      set_truncated (error, x->path, _("cannot read the attached block"));
      return NULL;
    }
  *len = x->size;
  return b;
}

static gboolean
verify_checksum (Xisf *x, const guint8 *block, gsize len, GError **error)
{
  if (!x->checksum_alg)
    return TRUE;
  GChecksumType t;
  if (strcmp (x->checksum_alg, "sha1") == 0 || strcmp (x->checksum_alg, "sha-1") == 0)
    t = G_CHECKSUM_SHA1;
  else if (strcmp (x->checksum_alg, "sha256") == 0 || strcmp (x->checksum_alg, "sha-256") == 0)
    t = G_CHECKSUM_SHA256;
  else if (strcmp (x->checksum_alg, "sha512") == 0 || strcmp (x->checksum_alg, "sha-512") == 0)
    t = G_CHECKSUM_SHA512;
  else
    return TRUE; /* SHA-3 and others: not verified */
  g_autofree char *sum = g_compute_checksum_for_data (t, block, len);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  if (strcmp (sum, x->checksum_hex) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   _("%s: damaged XISF file: the image data do not match their %s checksum"), x->path,
                   x->checksum_alg);
      return FALSE;
    }
#endif
  return TRUE;
}

/* Decompress block into a buffer of exactly x->usize bytes, then undo the byte shuffle. */
static guint8 *
decompress (Xisf *x, const guint8 *block, gsize len, GError **error)
{
  guint64 ratio = x->codec == CODEC_ZLIB ? XISF_ZLIB_MAX_RATIO : XISF_LZ4_MAX_RATIO;
  if (x->usize > (guint64) len * ratio + XISF_RATIO_SLACK)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   _("%s: damaged XISF file: %llu bytes declared from a block of %llu bytes"), x->path,
                   (unsigned long long) x->usize, (unsigned long long) len);
      return NULL;
    }
  /* sub-blocks: consecutive (compressed, uncompressed) pairs; one block without them */
  guint64 one[2] = { len, x->usize };
  const guint64 *sb = x->subblocks ? (const guint64 *) x->subblocks->data : one;
  guint nsb = x->subblocks ? x->subblocks->len / 2 : 1;
  guint64 csum = 0, usum = 0;
  gboolean bad = FALSE;
  for (guint i = 0; i < nsb && !bad; i++)
    {
      bad = sb[2 * i] > len || sb[2 * i + 1] > x->usize || (x->codec == CODEC_LZ4 && sb[2 * i + 1] > G_MAXINT);
      csum += sb[2 * i];
      usum += sb[2 * i + 1];
    }
  if (bad || csum != len || usum != x->usize)
    {
      set_truncated (error, x->path, _("the sub-blocks do not add up to the block"));
      return NULL;
    }
  guint8 *out = tsr_try_alloc (MAX (x->usize, 1), x->path, error);
  if (!out)
    return NULL;
  guint64 ci = 0, ui = 0;
  for (guint i = 0; i < nsb; i++)
    {
      guint64 c = sb[2 * i], u = sb[2 * i + 1];
      gboolean ok;
      if (x->codec == CODEC_ZLIB)
        {
          uLongf dl = (uLongf) u;
          ok = uncompress (out + ui, &dl, block + ci, (uLong) c) == Z_OK && dl == u;
        }
      else
        ok = LZ4_decompress_safe ((const char *) block + ci, (char *) out + ui, (int) c, (int) u) == (int) u;
      if (!ok)
        {
          g_free (out);
          set_truncated (error, x->path,
                         x->codec == CODEC_ZLIB ? _("the zlib stream does not decompress")
                                                : _("the LZ4 block does not decompress"));
          return NULL;
        }
      ci += c;
      ui += u;
    }
  if (x->shuffle > 1)
    {
      gsize item = (gsize) x->shuffle, n = x->usize / item;
      guint8 *un = tsr_try_alloc (MAX (x->usize, 1), x->path, error);
      if (!un)
        {
          g_free (out);
          return NULL;
        }
      /* shuffled: byte j of every item, for j = 0 … item − 1, then the tail as it is */
      for (gsize j = 0; j < item; j++)
        {
          const guint8 *s = out + j * n;
          for (gsize i = 0; i < n; i++)
            un[i * item + j] = s[i];
        }
      memcpy (un + n * item, out + n * item, x->usize - n * item);
      g_free (out);
      out = un;
    }
  return out;
}

static inline float
sample_at (const Xisf *x, const guint8 *p)
{
  guint8 b[8];
  if (x->big_endian && x->bytes > 1)
    for (int i = 0; i < x->bytes; i++)
      b[i] = p[x->bytes - 1 - i];
  else
    memcpy (b, p, x->bytes);
  switch (x->fmt)
    {
    case FMT_U8:
      return b[0];
    case FMT_U16:
      return (float) (b[0] | b[1] << 8);
    case FMT_U32:
      return (float) ((guint32) b[0] | (guint32) b[1] << 8 | (guint32) b[2] << 16 | (guint32) b[3] << 24);
    case FMT_F32:
      {
        guint32 u = (guint32) b[0] | (guint32) b[1] << 8 | (guint32) b[2] << 16 | (guint32) b[3] << 24;
        float f;
        memcpy (&f, &u, 4);
        return f;
      }
    default:
      {
        guint64 u = 0;
        for (int i = 7; i >= 0; i--)
          u = u << 8 | b[i];
        double d;
        memcpy (&d, &u, 8);
        return (float) d;
      }
    }
}

/* Rows [y0, y1) of the nominal channels from data, which holds rows [d0, …) of every stored
 * channel (planar: channel planes of the full height when whole, else the band) */
static void
convert (const Xisf *x, const guint8 *data, gsize plane_rows, int y0, int y1, int d0, TsrImage *img)
{
  gsize w = x->width, S = x->bytes, C = x->n_channels;
  gsize npix = tsr_image_npix (img);
  for (int c = 0; c < x->nominal; c++)
    {
      float *dst = tsr_image_plane (img, c);
      for (int y = y0; y < y1; y++)
        for (gsize xx = 0; xx < w; xx++)
          {
            gsize k = x->interleaved ? (((gsize) (y - d0) * w + xx) * C + c) * S
                                     : (((gsize) c * plane_rows + (gsize) (y - d0)) * w + xx) * S;
            float v = sample_at (x, data + k);
            gsize o = (gsize) (y - y0) * w + xx;
            if (fabsf (v) <= TSR_SAMPLE_MAX)
              dst[o] = v;
            else
              {
                dst[o] = 0.f;
                img->mask[o] = 0;
              }
          }
    }
  if (x->nominal > 1)
    for (int c = 0; c < x->nominal; c++)
      {
        float *p = tsr_image_plane (img, c);
        for (gsize i = 0; i < npix; i++)
          if (!img->mask[i])
            p[i] = 0.f;
      }
}

static TsrImage *
new_image (const Xisf *x, int y0, int y1, GError **error)
{
  TsrImage *img = tsr_image_new_checked ((int) x->width, y1 - y0, x->nominal, x->path, error);
  if (!img)
    return NULL;
  tsr_header_free (img->header);
  img->header = tsr_header_copy (x->header);
  TsrFitsInfo info;
  tsr_fits_info_from_header (&info, (int) x->width, (int) x->height, x->nominal, 0, x->header);
  img->cfa = tsr_cfa_shift (info.cfa, 0, y0 & 1);
  tsr_fits_info_clear (&info);
  return img;
}

static TsrImage *
read_xisf (const char *path, int y0, int y1, gboolean whole, GError **error)
{
  Xisf x;
  FILE *fp = NULL;
  gint64 fsize;
  TsrImage *img = NULL;
  guint8 *block = NULL, *raw = NULL;
  if (!open_xisf (path, &x, &fp, &fsize, error))
    goto out;
  int H = (int) x.height;
  if (whole)
    y0 = 0, y1 = H;
  if (y0 < 0 || y1 > H || y0 >= y1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: rows %d…%d requested from an image of height %d"),
                   path, y0, y1, H);
      goto out;
    }
  guint64 expected = x.width * x.height * x.n_channels * (guint64) x.bytes;
  if (x.codec != CODEC_NONE && x.usize != expected)
    {
      set_truncated (error, path, _("the uncompressed size does not match the geometry"));
      goto out;
    }
  if (x.codec == CODEC_NONE && x.attached && x.size < expected)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                   _("%s: damaged XISF file: the image needs %llu bytes, its block holds %llu"), path,
                   (unsigned long long) expected, (unsigned long long) x.size);
      goto out;
    }
  if (!whole && x.codec == CODEC_NONE && x.attached && !x.interleaved)
    {
      /* a band of an uncompressed planar block: only its rows */
      gsize row = (gsize) x.width * x.bytes, rows = (gsize) (y1 - y0);
      raw = tsr_try_alloc (row * rows * x.nominal, path, error);
      if (!raw || !(img = new_image (&x, y0, y1, error)))
        goto fail;
      for (int c = 0; c < x.nominal; c++)
        {
          guint64 off = x.pos + ((guint64) c * x.height + (guint64) y0) * row;
          if (fseeko (fp, (off_t) off, SEEK_SET) != 0 || fread (raw + (gsize) c * row * rows, 1, row * rows, fp) != row * rows)
            {
              set_truncated (error, path, _("cannot read the attached block"));
              goto fail;
            }
        }
      convert (&x, raw, rows, y0, y1, y0, img);
      goto out;
    }
  gsize len = 0;
  block = read_block (&x, fp, &len, error);
  if (!block)
    goto fail;
  if (whole && !verify_checksum (&x, block, len, error))
    goto fail;
  if (x.codec != CODEC_NONE)
    {
      raw = decompress (&x, block, len, error);
      if (!raw)
        goto fail;
    }
  else if (len < expected)
    {
      set_truncated (error, path, _("the inline data are shorter than the image"));
      goto fail;
    }
  if (!(img = new_image (&x, y0, y1, error)))
    goto fail;
  convert (&x, raw ? raw : block, x.height, y0, y1, 0, img);
  goto out;
fail:
  g_clear_pointer (&img, tsr_image_unref);
out:
  g_free (block);
  g_free (raw);
  if (fp)
    fclose (fp);
  xisf_clear (&x);
  return img;
}

TsrImage *
tsr_xisf_read (const char *path, GError **error)
{
  return read_xisf (path, 0, 0, TRUE, error);
}

TsrImage *
tsr_xisf_read_rows (const char *path, int y0, int y1, GError **error)
{
  return read_xisf (path, y0, y1, FALSE, error);
}

/* ==================================================================================== */
/* Output                                                                               */

#define XISF_BLOCK_ALIGN 4096

/* Split a FITS card into the value and comment of its <FITSKeyword> (value as FITS writes
 * it: a string keeps its quotes). Commentary cards (HISTORY, COMMENT, no "= ") have their
 * text as the comment and an empty value. */
static void
card_value_comment (const char *card, char **value, char **comment)
{
  *value = NULL;
  *comment = NULL;
  gsize len = strlen (card);
  if (len < 10 || card[8] != '=' || card[9] != ' ')
    {
      *value = g_strdup ("");
      *comment = g_strstrip (g_strdup (len > 8 ? card + 8 : ""));
      return;
    }
  const char *r = card + 10;
  while (*r == ' ')
    r++;
  const char *end = r;
  if (*r == '\'')
    {
      /* a quoted string; '' is a quote inside it */
      end = r + 1;
      while (*end && !(end[0] == '\'' && end[1] != '\''))
        end += end[0] == '\'' ? 2 : 1;
      if (*end)
        end++;
    }
  else
    while (*end && *end != '/')
      end++;
  *value = g_strstrip (g_strndup (r, (gsize) (end - r)));
  const char *slash = strchr (end, '/');
  *comment = g_strstrip (g_strdup (slash ? slash + 1 : ""));
}

static gboolean
keyword_structural (const char *key)
{
  static const char *const exact[] = { "SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BZERO",
                                       "BSCALE", "BLANK", "END", "CHECKSUM", "DATASUM", NULL };
  for (int i = 0; exact[i]; i++)
    if (strcmp (key, exact[i]) == 0)
      return TRUE;
  return g_str_has_prefix (key, "NAXIS");
}

static char *
xisf_header_xml (const TsrImage *img, double lo, double hi, guint64 position, guint64 size)
{
  GString *x = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<xisf version=\"1.0\" xmlns=\"http://www.pixinsight.com/xisf\" "
                             "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                             "xsi:schemaLocation=\"http://www.pixinsight.com/xisf "
                             "http://pixinsight.com/xisf/xisf-1.0.xsd\">\n");
  char blo[G_ASCII_DTOSTR_BUF_SIZE], bhi[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (blo, sizeof blo, "%.9g", lo);
  g_ascii_formatd (bhi, sizeof bhi, "%.9g", hi);
  g_string_append_printf (x,
                          "<Image geometry=\"%d:%d:%d\" sampleFormat=\"Float32\" bounds=\"%s:%s\" "
                          "colorSpace=\"%s\" pixelStorage=\"Planar\" byteOrder=\"little\" "
                          "location=\"attachment:%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT "\">\n",
                          img->width, img->height, img->channels, blo, bhi, img->channels == 3 ? "RGB" : "Gray",
                          position, size);
  if (img->channels == 1 && img->cfa != TSR_CFA_NONE)
    g_string_append_printf (x, "<ColorFilterArray pattern=\"%s\" width=\"2\" height=\"2\"/>\n",
                            tsr_cfa_name (img->cfa));
  guint n = img->header ? tsr_header_n_cards (img->header) : 0;
  for (guint i = 0; i < n; i++)
    {
      const char *card = tsr_header_card (img->header, i);
      g_autofree char *key = tsr_header_card_keyword (card);
      if (!key || !*key || keyword_structural (key))
        continue;
      if (!strcmp (key, "BAYERPAT") || !strcmp (key, "CFA-PAT") || !strcmp (key, "XBAYROFF")
          || !strcmp (key, "YBAYROFF") || !strcmp (key, "CREATOR"))
        continue;
      g_autofree char *value = NULL, *comment = NULL;
      card_value_comment (card, &value, &comment);
      g_autofree char *ek = g_markup_escape_text (key, -1);
      g_autofree char *ev = g_markup_escape_text (value, -1);
      g_autofree char *ec = g_markup_escape_text (comment, -1);
      g_string_append_printf (x, "<FITSKeyword name=\"%s\" value=\"%s\" comment=\"%s\"/>\n", ek, ev, ec);
    }
  g_string_append_printf (x, "<FITSKeyword name=\"CREATOR\" value=\"'Tessera %s'\" comment=\"software that wrote this file\"/>\n",
                          TSR_VERSION);
  g_string_append (x, "</Image>\n<Metadata>\n");
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *iso = g_date_time_format_iso8601 (now);
  g_string_append_printf (x, "<Property id=\"XISF:CreationTime\" type=\"TimePoint\" value=\"%s\"/>\n", iso);
  g_string_append_printf (x, "<Property id=\"XISF:CreatorApplication\" type=\"String\">Tessera %s</Property>\n",
                          TSR_VERSION);
  g_string_append (x, "</Metadata>\n</xisf>\n");
  return g_string_free (x, FALSE);
}

gboolean
tsr_xisf_write (const char *path, const TsrImage *img, GError **error)
{
  g_return_val_if_fail (path != NULL && img != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autofree char *target = tsr_output_target (path, error);
  if (!target)
    return FALSE;
  if (img->channels != 1 && img->channels != 3)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s: XISF export needs a mono or RGB image (this one has %d channels)"), path, img->channels);
      return FALSE;
    }
  const gsize npix = tsr_image_npix (img);
  const guint64 size = (guint64) npix * img->channels * sizeof (float);
  /* bounds: the valid samples' range (a constant image gets a unit interval) */
  double lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < img->channels; c++)
    {
      const float *pl = img->data + (gsize) c * npix;
      for (gsize i = 0; i < npix; i++)
        if (img->mask[i] && isfinite (pl[i]))
          {
            lo = MIN (lo, pl[i]);
            hi = MAX (hi, pl[i]);
          }
    }
  if (!(hi >= lo))
    lo = 0, hi = 1;
  if (!(hi > lo))
    hi = lo + 1;
  /* the block's position depends on the header's length, which depends on the position's
   * digits: grow until the header fits in front of the block */
  guint64 position = XISF_BLOCK_ALIGN;
  g_autofree char *xml = NULL;
  for (;;)
    {
      g_free (xml);
      xml = xisf_header_xml (img, lo, hi, position, size);
      guint64 need = 16 + strlen (xml);
      if (need <= position)
        break;
      position = (need + XISF_BLOCK_ALIGN - 1) / XISF_BLOCK_ALIGN * XISF_BLOCK_ALIGN;
    }
  const guint32 xml_len = (guint32) strlen (xml);

  g_autofree char *tmp = NULL;
  int fd = tsr_output_open_temp (target, path, &tmp, error);
  if (fd < 0)
    return FALSE;
  guint8 head[16];
  memcpy (head, XISF_SIGNATURE, 8);
  for (int k = 0; k < 4; k++)
    head[8 + k] = (guint8) (xml_len >> (8 * k));
  memset (head + 12, 0, 4);
  gboolean ok = tsr_output_write_all (fd, head, sizeof head) && tsr_output_write_all (fd, xml, xml_len);
  if (ok)
    {
      gsize pad = (gsize) (position - 16 - xml_len);
      g_autofree guint8 *zeros = g_malloc0 (MAX (pad, 1));
      ok = tsr_output_write_all (fd, zeros, pad);
    }
  if (ok)
    {
      /* little-endian float32, planar: channel planes one after another, rows top first */
      if (G_BYTE_ORDER == G_LITTLE_ENDIAN)
        ok = tsr_output_write_all (fd, img->data, (gsize) size);
      else
        {
          guint32 *row = g_new (guint32, img->width);
          for (int c = 0; c < img->channels && ok; c++)
            for (int y = 0; y < img->height && ok; y++)
              {
                memcpy (row, img->data + (gsize) c * npix + (gsize) y * img->width, sizeof (float) * img->width);
                for (int x = 0; x < img->width; x++)
                  row[x] = GUINT32_TO_LE (row[x]);
                ok = tsr_output_write_all (fd, row, sizeof (float) * img->width);
              }
          g_free (row);
        }
    }
  return tsr_output_close_temp (fd, tmp, target, path, ok, errno, error);
}
