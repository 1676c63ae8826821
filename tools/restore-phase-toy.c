/* Pixel-phase experiment: the best non-negative latent on the pixel grid for a star at a
 * sub-pixel offset, decoded by the pixel-centred PSF, fitted by (weighted) least squares. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#define N 41      /* data side */
#define KR 12     /* PSF radius */
#define LS 6      /* latent half-support */
static double moffat_pix (double dx, double dy, double al)
{ /* pixel-integrated Moffat beta 3, 5x5 subsamples */
  double s = 0;
  for (int a = 0; a < 5; a++) for (int b = 0; b < 5; b++)
    { double x = dx + (a - 2) / 5.0, y = dy + (b - 2) / 5.0; s += pow (1 + (x*x + y*y) / (al*al), -3); }
  return s / 25;
}
int main (int argc, char **argv)
{
  double fwhm = argc > 1 ? atof (argv[1]) : 3.4, F = argc > 2 ? atof (argv[2]) : 6500, rms2 = argc > 3 ? atof (argv[3]) : 354 / 12.0 * 12;
  int weighted = argc > 4 ? atoi (argv[4]) : 0; double tw = argc > 5 ? atof (argv[5]) : 1;
  double al = fwhm / (2 * sqrt (pow (2, 1 / 3.0) - 1));
  static double K[2*KR+1][2*KR+1]; double ks = 0;
  for (int y = -KR; y <= KR; y++) for (int x = -KR; x <= KR; x++) ks += K[y+KR][x+KR] = moffat_pix (x, y, al);
  for (int y = 0; y < 2*KR+1; y++) for (int x = 0; x < 2*KR+1; x++) K[y][x] /= ks;
  double phases[] = { 0, 0.25, 0.5 };
  for (int pi = 0; pi < 3; pi++) for (int pj = pi; pj < 3; pj++)
    {
      double dx = phases[pi], dy = phases[pj];
      static double d[N][N], r[N][N], w[N][N], x[2*LS+1][2*LS+1];
      int c = N / 2; double dsum = 0;
      for (int y = 0; y < N; y++) for (int xx = 0; xx < N; xx++)
        {
          /* the star at (c + dx, c + dy), the same PSF shape (normalised by the same sum) */
          d[y][xx] = F * moffat_pix (xx - c - dx, y - c - dy, al * tw) / ks / (tw * tw);
          dsum += d[y][xx];
          w[y][xx] = weighted ? 1.0 / (rms2 + d[y][xx]) : 1.0;
          r[y][xx] = d[y][xx];
        }
      for (int a = 0; a < 2*LS+1; a++) for (int b = 0; b < 2*LS+1; b++) x[a][b] = 0;
      for (int it = 0; it < 3000; it++)
        for (int a = 0; a < 2*LS+1; a++) for (int b = 0; b < 2*LS+1; b++)
          {
            int py = c - LS + a, px = c - LS + b; double num = 0, den = 0;
            for (int ky = -KR; ky <= KR; ky++) for (int kx = -KR; kx <= KR; kx++)
              { int yy = py + ky, xx = px + kx; if (yy < 0 || xx < 0 || yy >= N || xx >= N) continue;
                double kv = K[ky+KR][kx+KR]; num += w[yy][xx] * r[yy][xx] * kv; den += w[yy][xx] * kv * kv; }
            double nx = fmax (0, x[a][b] + num / den), dd = nx - x[a][b];
            if (dd == 0) continue;
            x[a][b] = nx;
            for (int ky = -KR; ky <= KR; ky++) for (int kx = -KR; kx <= KR; kx++)
              { int yy = py + ky, xx = px + kx; if (yy < 0 || xx < 0 || yy >= N || xx >= N) continue; r[yy][xx] -= dd * K[ky+KR][kx+KR]; }
          }
      double xs = 0, rs = 0, rc = 0;
      for (int a = 0; a < 2*LS+1; a++) for (int b = 0; b < 2*LS+1; b++) xs += x[a][b];
      for (int y = 0; y < N; y++) for (int xx = 0; xx < N; xx++) { rs += r[y][xx]; if (hypot (xx - c - dx, y - c - dy) <= fwhm) rc += r[y][xx]; }
      printf ("fwhm %.2f phase (%.2f, %.2f): latent sum / star %.4f, residual sum / star %+.4f (within 1 FWHM %+.4f)\n", fwhm, dx, dy, xs / dsum, rs / dsum, rc / dsum);
    }
  return 0;
}
