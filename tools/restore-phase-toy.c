/* Pixel-phase experiment: the best non-negative latent for a star at a sub-pixel offset,
 * decoded by the PSF, fitted by (weighted) least squares (noise-free, coordinate-descent NNLS).
 *
 *   restore-phase-toy [FWHM [FLUX [RMS2 [WEIGHTED [TW [SUB]]]]]]
 *
 * SUB = 1: the latent on the data's pixel grid, decoded by the pixel-centred PSF (round 12).
 * SUB = 2: 2 x 2 sub-pixel phases (round 13): four latents x_phi on the pixel grid, phase phi in
 *          {-1/4, +1/4}^2, decoded by sum_phi f_phi * x_phi with f_phi the PSF centred at phi
 *          (what restore.subpixel = 2 builds). TW scales the data star's width against the model
 *          PSF (1: the exact PSF). */
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
  int sub = argc > 6 ? atoi (argv[6]) : 1;
  if (sub != 1 && sub != 2) { fprintf (stderr, "SUB must be 1 or 2\n"); return 1; }
  int np = sub * sub;
  double al = fwhm / (2 * sqrt (pow (2, 1 / 3.0) - 1));
  /* K[p]: the model PSF centred at phase p (sub 1: the pixel centre); all normalised by the
   * centred PSF's sum so that a latent unit is one unit of light in every phase */
  static double K[4][2*KR+1][2*KR+1]; double ks = 0;
  for (int y = -KR; y <= KR; y++) for (int x = -KR; x <= KR; x++) ks += moffat_pix (x, y, al);
  for (int p = 0; p < np; p++)
    {
      double oy = sub == 1 ? 0 : ((p / 2) ? 0.25 : -0.25), ox = sub == 1 ? 0 : ((p % 2) ? 0.25 : -0.25);
      for (int y = -KR; y <= KR; y++) for (int x = -KR; x <= KR; x++)
        K[p][y+KR][x+KR] = moffat_pix (x - ox, y - oy, al) / ks;
    }
  double phases[] = { 0, 0.25, 0.5 };
  for (int pi = 0; pi < 3; pi++) for (int pj = pi; pj < 3; pj++)
    {
      double dx = phases[pi], dy = phases[pj];
      static double d[N][N], r[N][N], w[N][N], x[4][2*LS+1][2*LS+1];
      int c = N / 2; double dsum = 0;
      for (int y = 0; y < N; y++) for (int xx = 0; xx < N; xx++)
        {
          /* the star at (c + dx, c + dy), the same PSF shape (normalised by the same sum) */
          d[y][xx] = F * moffat_pix (xx - c - dx, y - c - dy, al * tw) / ks / (tw * tw);
          dsum += d[y][xx];
          w[y][xx] = weighted ? 1.0 / (rms2 + d[y][xx]) : 1.0;
          r[y][xx] = d[y][xx];
        }
      for (int p = 0; p < 4; p++) for (int a = 0; a < 2*LS+1; a++) for (int b = 0; b < 2*LS+1; b++) x[p][a][b] = 0;
      for (int it = 0; it < 3000; it++)
        for (int p = 0; p < np; p++)
        for (int a = 0; a < 2*LS+1; a++) for (int b = 0; b < 2*LS+1; b++)
          {
            int py = c - LS + a, px = c - LS + b; double num = 0, den = 0;
            for (int ky = -KR; ky <= KR; ky++) for (int kx = -KR; kx <= KR; kx++)
              { int yy = py + ky, xx = px + kx; if (yy < 0 || xx < 0 || yy >= N || xx >= N) continue;
                double kv = K[p][ky+KR][kx+KR]; num += w[yy][xx] * r[yy][xx] * kv; den += w[yy][xx] * kv * kv; }
            double nx = fmax (0, x[p][a][b] + num / den), dd = nx - x[p][a][b];
            if (dd == 0) continue;
            x[p][a][b] = nx;
            for (int ky = -KR; ky <= KR; ky++) for (int kx = -KR; kx <= KR; kx++)
              { int yy = py + ky, xx = px + kx; if (yy < 0 || xx < 0 || yy >= N || xx >= N) continue; r[yy][xx] -= dd * K[p][ky+KR][kx+KR]; }
          }
      double xs = 0, rs = 0, rc = 0;
      for (int p = 0; p < np; p++) for (int a = 0; a < 2*LS+1; a++) for (int b = 0; b < 2*LS+1; b++) xs += x[p][a][b];
      for (int y = 0; y < N; y++) for (int xx = 0; xx < N; xx++) { rs += r[y][xx]; if (hypot (xx - c - dx, y - c - dy) <= fwhm) rc += r[y][xx]; }
      printf ("sub %d fwhm %.2f tw %.3f phase (%.2f, %.2f): latent sum / star %.4f, residual sum / star %+.4f (within 1 FWHM %+.4f)\n",
              sub, fwhm, tw, dx, dy, xs / dsum, rs / dsum, rc / dsum);
    }
  return 0;
}
