/* fuzz-session.c — libFuzzer target: the session scanner.
 *
 * The input is split at each "\n--TSRFRAME--\n" separator into up to 8 files written into
 * one folder (names frame0.fits …; a part starting with "#name:" picks its own name, so
 * foreign extensions, .fz and hidden files are reached). The folder is then scanned, once
 * plain and once allowing mixed Bayer patterns, and the frame table is read back. */
#include "fuzz-common.h"
#include "tessera.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char SEP[] = "\n--TSRFRAME--\n";

static void
write_part (const char *dir, guint k, const uint8_t *p, size_t len)
{
  char name[64];
  g_snprintf (name, sizeof name, "frame%u.fits", k);
  if (len > 6 && memcmp (p, "#name:", 6) == 0)
    {
      const uint8_t *nl = memchr (p, '\n', len);
      size_t nlen = nl ? (size_t) (nl - p) - 6 : 0;
      if (nl && nlen > 0 && nlen < 40)
        {
          gboolean ok = TRUE;
          for (size_t i = 0; i < nlen; i++)
            {
              char c = (char) p[6 + i];
              ok = ok && (g_ascii_isalnum (c) || c == '.' || c == '_' || c == '-');
            }
          if (ok)
            {
              g_snprintf (name, sizeof name, "%u%.*s", k, (int) nlen, (const char *) p + 6);
              len -= (size_t) (nl + 1 - p);
              p = nl + 1;
            }
        }
    }
  char *path = fuzz_write (dir, name, p, len);
  g_free (path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_workdir ();
  fuzz_clear (dir);
  const uint8_t *p = data, *end = data + size;
  guint k = 0;
  while (k < 8)
    {
      const uint8_t *hit = NULL;
      for (const uint8_t *q = p; q + sizeof SEP - 1 <= end; q++)
        if (memcmp (q, SEP, sizeof SEP - 1) == 0)
          {
            hit = q;
            break;
          }
      write_part (dir, k++, p, (size_t) ((hit ? hit : end) - p));
      if (!hit)
        break;
      p = hit + sizeof SEP - 1;
    }

  for (int pass = 0; pass < 2; pass++)
    {
      const char *paths[] = { dir, NULL };
      TsrScanOptions opt = { .allow_mixed_patterns = pass == 1 };
      GError *e = NULL;
      TsrSession *s = tsr_session_scan (paths, &opt, NULL, &e);
      if (s)
        {
          if (tsr_session_n_frames (s) == 0)
            abort ();
          for (guint i = 0; i < tsr_session_n_frames (s); i++)
            {
              TsrFrameInfo *fi = tsr_session_frame (s, i);
              if (fi->info.width != s->width || fi->info.height != s->height || !fi->name)
                abort ();
              if (!opt.allow_mixed_patterns && fi->info.cfa != s->cfa)
                abort ();
            }
          tsr_session_unref (s);
        }
      else
        {
          if (!e || e->domain != TSR_ERROR || !e->message)
            abort ();
          g_clear_error (&e);
        }
    }
  fuzz_clear (dir);
  return 0;
}
