/* tsr-nn-weights.c — the .tnnw weight file: reading with full verification, writing. */
#include "tsr-nn.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define TNNW_MAGIC "TSRNNW\r\n"
#define TNNW_VERSION 1
#define TNNW_MAX_DIMS 8

/* The fuzz build (tests/fuzz) computes the checksums but does not enforce them, so that
 * mutated inputs reach the parser behind them; every other build refuses a mismatch. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CRC_ENFORCED 0
#else
#define CRC_ENFORCED 1
#endif

typedef struct
{
  char *name;
  int ndim;
  int dims[TNNW_MAX_DIMS];
  gsize count;
  float *data;
  gboolean used;
} Tensor;

struct _TsrNnWeights
{
  char *arch;
  GArray *tensors; /* Tensor */
};

void
tsr_nn_weights_free (TsrNnWeights *w)
{
  if (!w)
    return;
  for (guint i = 0; i < w->tensors->len; i++)
    {
      Tensor *t = &g_array_index (w->tensors, Tensor, i);
      g_free (t->name);
      g_free (t->data);
    }
  g_array_unref (w->tensors);
  g_free (w->arch);
  g_free (w);
}

typedef struct
{
  const guint8 *p;
  gsize size, pos;
} Reader;

static gboolean
rd (Reader *r, void *out, gsize n)
{
  if (r->pos + n > r->size || r->pos + n < r->pos)
    return FALSE;
  memcpy (out, r->p + r->pos, n);
  r->pos += n;
  return TRUE;
}

static gboolean
rd_u32 (Reader *r, guint32 *v)
{
  guint32 le;
  if (!rd (r, &le, 4))
    return FALSE;
  *v = GUINT32_FROM_LE (le);
  return TRUE;
}

static gboolean
rd_u64 (Reader *r, guint64 *v)
{
  guint64 le;
  if (!rd (r, &le, 8))
    return FALSE;
  *v = GUINT64_FROM_LE (le);
  return TRUE;
}

static float
half_to_float (guint16 h)
{
  guint32 s = (guint32) (h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0)
    {
      if (m == 0)
        bits = s;
      else
        {
          /* subnormal: normalise */
          e = 127 - 15 + 1;
          while (!(m & 0x400))
            {
              m <<= 1;
              e--;
            }
          bits = s | (e << 23) | ((m & 0x3ff) << 13);
        }
    }
  else if (e == 31)
    bits = s | 0x7f800000u | (m << 13);
  else
    bits = s | ((e - 15 + 127) << 23) | (m << 13);
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

static guint16
float_to_half (float f)
{
  guint32 x;
  memcpy (&x, &f, 4);
  guint32 s = (x >> 16) & 0x8000;
  int e = (int) ((x >> 23) & 0xff) - 127 + 15;
  guint32 m = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff)
    return (guint16) (s | 0x7c00 | (m ? 0x200 : 0));
  if (e >= 31)
    return (guint16) (s | 0x7c00);
  if (e <= 0)
    {
      if (e < -10)
        return (guint16) s;
      m |= 0x800000;
      guint32 shift = (guint32) (14 - e);
      guint32 hm = m >> shift;
      if ((m >> (shift - 1)) & 1)
        hm++;
      return (guint16) (s | hm);
    }
  guint32 hm = m >> 13;
  guint32 h = s | ((guint32) e << 10) | hm;
  if (m & 0x1000)
    h++; /* round half up (carries into the exponent correctly) */
  return (guint16) h;
}

static char *
dims_string (int ndim, const int *dims)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%d", i ? "×" : "", dims[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

TsrNnWeights *
tsr_nn_weights_load_data (const guint8 *data, gsize size, const char *what, GError **error)
{
  typedef struct { guint32 dtype; guint64 off, nbytes; guint32 crc; } Entry;
  Reader r = { data, size, 0 };
  g_autoptr (TsrNnWeights) w = NULL;
  g_autofree Entry *ent = NULL;
  char magic[8];
  guint32 version, n, arch_len;
  const char *entry = NULL; /* the tensor whose header entry is being read */
  if (!rd (&r, magic, 8) || memcmp (magic, TNNW_MAGIC, 8) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: not a Tessera network weight file (.tnnw): the magic bytes are missing"), what);
      return NULL;
    }
  if (!rd_u32 (&r, &version) || !rd_u32 (&r, &n) || !rd_u32 (&r, &arch_len))
    goto truncated_header;
  if (version != TNNW_VERSION)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: weight file version %u; this build reads version %d (update Tessera or the file)"),
                   what, version, TNNW_VERSION);
      return NULL;
    }
  if (arch_len > 4096 || n > 100000)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: corrupt weight file header (%u tensors, "
                                                         "architecture name of %u bytes)"), what, n, arch_len);
      return NULL;
    }
  w = g_new0 (TsrNnWeights, 1);
  w->tensors = g_array_new (FALSE, TRUE, sizeof (Tensor));
  w->arch = g_malloc0 (arch_len + 1);
  if (!rd (&r, w->arch, arch_len))
    goto truncated_header;
  ent = g_new0 (Entry, MAX (n, 1));
  for (guint32 i = 0; i < n; i++)
    {
      guint32 name_len, ndim;
      entry = NULL;
      if (!rd_u32 (&r, &name_len) || name_len > 1024)
        goto truncated_header;
      Tensor t = { 0 };
      t.name = g_malloc0 (name_len + 1);
      g_array_append_val (w->tensors, t);
      Tensor *tp = &g_array_index (w->tensors, Tensor, i);
      if (!rd (&r, tp->name, name_len))
        goto truncated_header;
      entry = tp->name;
      if (!rd_u32 (&r, &ent[i].dtype) || !rd_u32 (&r, &ndim))
        goto truncated_header;
      if (ndim > TNNW_MAX_DIMS || ent[i].dtype > TSR_NN_F16)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: tensor '%s': unsupported entry (%u dimensions, dtype %u)"), what, tp->name, ndim,
                       ent[i].dtype);
          return NULL;
        }
      tp->ndim = (int) ndim;
      tp->count = 1;
      for (guint32 d = 0; d < ndim; d++)
        {
          guint32 v;
          if (!rd_u32 (&r, &v))
            goto truncated_header;
          if (v == 0 || v > (1u << 28) || tp->count > (G_MAXSIZE >> 4) / v)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: tensor '%s': absurd dimension %u"), what,
                           tp->name, v);
              return NULL;
            }
          tp->dims[d] = (int) v;
          tp->count *= v;
        }
      if (!rd_u64 (&r, &ent[i].off) || !rd_u64 (&r, &ent[i].nbytes) || !rd_u32 (&r, &ent[i].crc))
        goto truncated_header;
      if (ent[i].nbytes != tp->count * (ent[i].dtype == TSR_NN_F16 ? 2 : 4))
        {
          g_autofree char *ds = dims_string (tp->ndim, tp->dims);
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                       _("%s: tensor '%s': %llu bytes of data do not fit its shape %s"), what, tp->name,
                       (unsigned long long) ent[i].nbytes, ds);
          return NULL;
        }
    }
  entry = NULL;
  {
    guint32 want = (guint32) crc32 (0L, data, (uInt) r.pos), got;
    if (!rd_u32 (&r, &got))
      goto truncated_header;
    if (want != got && CRC_ENFORCED)
      {
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: weight file header checksum mismatch (corrupt file; regenerate it with ./run "
                       "train-denoise or restore it from git)"), what);
        return NULL;
      }
  }
  for (guint32 i = 0; i < n; i++)
    {
      Tensor *tp = &g_array_index (w->tensors, Tensor, i);
      if (ent[i].off > size || ent[i].nbytes > size - ent[i].off)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                       _("%s: tensor '%s' (%llu bytes at offset %llu) extends past the end of the file (%llu "
                         "bytes): truncated"),
                       what, tp->name, (unsigned long long) ent[i].nbytes, (unsigned long long) ent[i].off,
                       (unsigned long long) size);
          return NULL;
        }
      const guint8 *src = data + ent[i].off;
      if ((guint32) crc32 (0L, src, (uInt) ent[i].nbytes) != ent[i].crc && CRC_ENFORCED)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("%s: tensor '%s': checksum mismatch (corrupt data)"),
                       what, tp->name);
          return NULL;
        }
      tp->data = g_new (float, MAX (tp->count, 1));
      if (ent[i].dtype == TSR_NN_F32)
        for (gsize k = 0; k < tp->count; k++)
          {
            guint32 le;
            memcpy (&le, src + 4 * k, 4);
            le = GUINT32_FROM_LE (le);
            memcpy (&tp->data[k], &le, 4);
          }
      else
        for (gsize k = 0; k < tp->count; k++)
          {
            guint16 le;
            memcpy (&le, src + 2 * k, 2);
            tp->data[k] = half_to_float (GUINT16_FROM_LE (le));
          }
    }
  return g_steal_pointer (&w);

truncated_header:
  if (entry)
    g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                 _("%s: weight file header ends early (%llu bytes) inside the entry of tensor '%s': truncated"),
                 what, (unsigned long long) size, entry);
  else
    g_set_error (error, TSR_ERROR, TSR_ERROR_TRUNCATED,
                 _("%s: weight file header ends early (%llu bytes): truncated"), what, (unsigned long long) size);
  return NULL;
}

TsrNnWeights *
tsr_nn_weights_load (const char *path, GError **error)
{
  g_autofree char *buf = NULL;
  gsize len = 0;
  GError *e = NULL;
  if (!g_file_get_contents (path, &buf, &len, &e))
    {
      g_set_error (error, TSR_ERROR, g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? TSR_ERROR_NOT_FOUND
                                                                                          : TSR_ERROR_IO,
                   "%s", e->message);
      g_error_free (e);
      return NULL;
    }
  return tsr_nn_weights_load_data ((const guint8 *) buf, len, path, error);
}

const char *
tsr_nn_weights_arch (const TsrNnWeights *w)
{
  return w->arch;
}

guint
tsr_nn_weights_n_tensors (const TsrNnWeights *w)
{
  return w->tensors->len;
}

const char *
tsr_nn_weights_tensor_name (const TsrNnWeights *w, guint i)
{
  g_return_val_if_fail (i < w->tensors->len, NULL);
  return g_array_index (w->tensors, Tensor, i).name;
}

const float *
tsr_nn_weights_get (TsrNnWeights *w, const char *name, int ndim, const int *dims, GError **error)
{
  for (guint i = 0; i < w->tensors->len; i++)
    {
      Tensor *t = &g_array_index (w->tensors, Tensor, i);
      if (strcmp (t->name, name) != 0)
        continue;
      gboolean same = t->ndim == ndim;
      for (int d = 0; same && d < ndim; d++)
        same = t->dims[d] == dims[d];
      if (!same)
        {
          g_autofree char *have = dims_string (t->ndim, t->dims);
          g_autofree char *want = dims_string (ndim, dims);
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("weights (%s): tensor '%s' has shape %s, the network expects %s (a file for another "
                         "network variant?)"), w->arch, name, have, want);
          return NULL;
        }
      t->used = TRUE;
      return t->data;
    }
  g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, _("weights (%s): tensor '%s' is missing"), w->arch, name);
  return NULL;
}

gboolean
tsr_nn_weights_check_all_used (const TsrNnWeights *w, GError **error)
{
  for (guint i = 0; i < w->tensors->len; i++)
    {
      const Tensor *t = &g_array_index (w->tensors, Tensor, i);
      if (!t->used)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("weights (%s): tensor '%s' is not part of this network (a file for another network "
                         "variant?)"), w->arch, t->name);
          return FALSE;
        }
    }
  return TRUE;
}

static void
put_u32 (GByteArray *b, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &v, 4);
}

static void
put_u64 (GByteArray *b, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &v, 8);
}

gboolean
tsr_nn_weights_save (const char *path, const char *arch, guint n, const char *const *names, const int *ndims,
                     const int *const *dims, const float *const *data, TsrNnDtype dtype, GError **error)
{
  const gsize esz = dtype == TSR_NN_F16 ? 2 : 4;
  g_autoptr (GByteArray) h = g_byte_array_new ();
  g_byte_array_append (h, (const guint8 *) TNNW_MAGIC, 8);
  put_u32 (h, TNNW_VERSION);
  put_u32 (h, n);
  put_u32 (h, (guint32) strlen (arch));
  g_byte_array_append (h, (const guint8 *) arch, (guint) strlen (arch));
  gsize hlen = h->len + 4;
  for (guint i = 0; i < n; i++)
    hlen += 4 + strlen (names[i]) + 8 + 4 * (gsize) ndims[i] + 20;
  gsize off = (hlen + 63) / 64 * 64;
  g_autofree gsize *offs = g_new (gsize, MAX (n, 1));
  g_autoptr (GPtrArray) blobs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < n; i++)
    {
      gsize count = 1;
      for (int d = 0; d < ndims[i]; d++)
        count *= (gsize) dims[i][d];
      guint8 *buf = g_malloc (count * esz + 1);
      for (gsize k = 0; k < count; k++)
        {
          if (dtype == TSR_NN_F16)
            {
              guint16 v = GUINT16_TO_LE (float_to_half (data[i][k]));
              memcpy (buf + 2 * k, &v, 2);
            }
          else
            {
              guint32 v;
              memcpy (&v, &data[i][k], 4);
              v = GUINT32_TO_LE (v);
              memcpy (buf + 4 * k, &v, 4);
            }
        }
      GBytes *bytes = g_bytes_new_take (buf, count * esz);
      g_ptr_array_add (blobs, bytes);
      put_u32 (h, (guint32) strlen (names[i]));
      g_byte_array_append (h, (const guint8 *) names[i], (guint) strlen (names[i]));
      put_u32 (h, dtype);
      put_u32 (h, (guint32) ndims[i]);
      for (int d = 0; d < ndims[i]; d++)
        put_u32 (h, (guint32) dims[i][d]);
      put_u64 (h, off);
      put_u64 (h, count * esz);
      put_u32 (h, (guint32) crc32 (0L, buf, (uInt) (count * esz)));
      offs[i] = off;
      off = (off + count * esz + 63) / 64 * 64;
    }
  put_u32 (h, (guint32) crc32 (0L, h->data, h->len));
  g_assert (h->len == hlen);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  FILE *f = g_fopen (tmp, "wb");
  if (!f)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot create: %s"), tmp, g_strerror (errno));
      return FALSE;
    }
  gboolean ok = fwrite (h->data, 1, h->len, f) == h->len;
  gsize pos = h->len;
  static const guint8 zeros[64] = { 0 };
  for (guint i = 0; ok && i < n; i++)
    {
      ok = fwrite (zeros, 1, offs[i] - pos, f) == offs[i] - pos;
      gsize sz;
      const void *p = g_bytes_get_data (blobs->pdata[i], &sz);
      ok = ok && fwrite (p, 1, sz, f) == sz;
      pos = offs[i] + sz;
    }
  ok = (fclose (f) == 0) && ok;
  if (!ok || g_rename (tmp, path) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot write: %s"), path, g_strerror (errno));
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}
