/* tsr-test-util.h — helpers shared by the test programs. */
#pragma once
#include "tessera.h"

/* A fresh temporary folder for this test (removed by tsr_test_rmtree). */
char    *tsr_test_tmpdir (const char *tag);
/* Write the generated session p into dir (a new temporary folder tagged tag when dir is
 * NULL; its path goes to dir_out) and scan it; asserts success. The truth goes to truth_out
 * (freed when truth_out is NULL). */
TsrSession *tsr_test_synth_session (const TsrSynthParams *p, const char *dir, const char *tag,
                                    char **dir_out, TsrSynthTruth **truth_out);
void     tsr_test_rmtree (const char *path);
/* Root of the source tree and of ../shared/data (NULL when absent). */
const char *tsr_test_source_root (void);
char    *tsr_test_shared_data (const char *sub);
/* Run the CLI with argv (NULL-terminated, without the program name); capture output. */
int      tsr_test_run_cli (const char *const *args, char **out, char **err);
/* Whole-file equality and existence helpers. */
gboolean tsr_test_files_equal (const char *a, const char *b);
char    *tsr_test_read_file (const char *path, gsize *len);
void     tsr_test_write_file (const char *path, const void *data, gsize len);
/* Write a small float or integer FITS for tests through cfitsio directly. */
void     tsr_test_write_fits (const char *path, int bitpix, int width, int height, int channels,
                              const float *values, const char *const *extra_cards);
