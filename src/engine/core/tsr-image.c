/* tsr-image.c — reference-counted float32 planar images. */
#include "tsr-image.h"
#include "tsr-error.h"

#include <string.h>

const char *
tsr_cfa_name (TsrCfa cfa)
{
  switch (cfa)
    {
    case TSR_CFA_RGGB: return "RGGB";
    case TSR_CFA_GRBG: return "GRBG";
    case TSR_CFA_GBRG: return "GBRG";
    case TSR_CFA_BGGR: return "BGGR";
    case TSR_CFA_NONE:
    default: return "none";
    }
}

TsrCfa
tsr_cfa_from_name (const char *name)
{
  if (!name)
    return TSR_CFA_NONE;
  g_autofree char *s = g_ascii_strup (name, -1);
  g_strstrip (s);
  if (strcmp (s, "RGGB") == 0) return TSR_CFA_RGGB;
  if (strcmp (s, "GRBG") == 0) return TSR_CFA_GRBG;
  if (strcmp (s, "GBRG") == 0) return TSR_CFA_GBRG;
  if (strcmp (s, "BGGR") == 0) return TSR_CFA_BGGR;
  return TSR_CFA_NONE;
}

int
tsr_cfa_color (TsrCfa cfa, int x, int y)
{
  static const char *const pat[] = { "GGGG", "RGGB", "GRBG", "GBRG", "BGGR" };
  char c = pat[cfa][(y & 1) * 2 + (x & 1)];
  return c == 'R' ? TSR_RED : c == 'B' ? TSR_BLUE : TSR_GREEN;
}

TsrCfa
tsr_cfa_shift (TsrCfa cfa, int dx, int dy)
{
  if (cfa == TSR_CFA_NONE)
    return cfa;
  char s[5];
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 2; x++)
      s[y * 2 + x] = "RGB"[tsr_cfa_color (cfa, x + dx, y + dy)];
  s[4] = 0;
  return tsr_cfa_from_name (s);
}

static TsrImage *
image_alloc (int width, int height, int channels, gboolean zero)
{
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);
  TsrImage *img = g_new0 (TsrImage, 1);
  img->ref_count = 1;
  img->width = width;
  img->height = height;
  img->channels = channels;
  gsize n = (gsize) width * height;
  img->data = zero ? g_try_malloc0 (n * channels * sizeof (float))
                   : g_try_malloc (n * channels * sizeof (float));
  img->mask = g_try_malloc (n);
  if (!img->data || !img->mask)
    {
      g_free (img->data);
      g_free (img->mask);
      g_free (img);
      return NULL;
    }
  if (zero)
    memset (img->mask, 1, n);
  img->header = tsr_header_new ();
  return img;
}

TsrImage *
tsr_image_new (int width, int height, int channels)
{
  return image_alloc (width, height, channels, TRUE);
}

TsrImage *
tsr_image_new_checked (int width, int height, int channels, const char *what, GError **error)
{
  TsrImage *img = tsr_image_new (width, height, channels);
  if (!img)
    tsr_set_memory_error (error, (guint64) width * height * (channels * sizeof (float) + 1), what);
  return img;
}

TsrImage *
tsr_image_new_uninit (int width, int height, int channels)
{
  return image_alloc (width, height, channels, FALSE);
}

TsrImage *
tsr_image_new_take (int width, int height, int channels, float *data)
{
  g_return_val_if_fail (width > 0 && height > 0 && data != NULL, NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);
  guint8 *mask = g_try_malloc ((gsize) width * height);
  if (!mask)
    return NULL;
  TsrImage *img = g_new0 (TsrImage, 1);
  img->ref_count = 1;
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->data = data;
  img->mask = mask;
  img->header = tsr_header_new ();
  return img;
}

TsrImage *
tsr_image_new_like (const TsrImage *like)
{
  TsrImage *img = tsr_image_new (like->width, like->height, like->channels);
  if (!img)
    return NULL;
  img->cfa = like->cfa;
  tsr_header_free (img->header);
  img->header = tsr_header_copy (like->header);
  return img;
}

TsrImage *
tsr_image_copy (const TsrImage *src)
{
  TsrImage *img = tsr_image_new_uninit (src->width, src->height, src->channels);
  if (!img)
    return NULL;
  img->cfa = src->cfa;
  tsr_header_free (img->header);
  img->header = tsr_header_copy (src->header);
  memcpy (img->data, src->data, tsr_image_npix (src) * src->channels * sizeof (float));
  memcpy (img->mask, src->mask, tsr_image_npix (src));
  return img;
}

TsrImage *
tsr_image_ref (TsrImage *img)
{
  g_atomic_int_inc (&img->ref_count);
  return img;
}

void
tsr_image_unref (TsrImage *img)
{
  if (!img)
    return;
  if (g_atomic_int_dec_and_test (&img->ref_count))
    {
      g_free (img->data);
      g_free (img->mask);
      tsr_header_free (img->header);
      g_free (img);
    }
}

gsize
tsr_image_count_valid (const TsrImage *img)
{
  gsize n = 0, npix = tsr_image_npix (img);
  for (gsize i = 0; i < npix; i++)
    n += img->mask[i] != 0;
  return n;
}
