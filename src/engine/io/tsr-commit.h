/* tsr-commit.h — the outputs of one run committed together (docs/reliability.md, class 5):
 * every output is first written under a hidden staging name beside its final name; only
 * when all of them are complete are they renamed onto their final names, one after the
 * other (renames within a folder: they do not fail for want of space). A run that fails or
 * is cancelled frees the commit unapplied: the staged files go, the existing outputs stay
 * exactly as they were. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct _TsrCommit TsrCommit;

TsrCommit *tsr_commit_new (void);
/* Remove whatever is still staged (files and staging folders). */
void       tsr_commit_free (TsrCommit *c);

/* The name to write the output final under (a new hidden name in final's folder; final
 * resolved as tsr_output_target does). NULL with error when final may not be written. The
 * string belongs to the commit. */
const char *tsr_commit_stage_file (TsrCommit *c, const char *final, GError **error);
/* A new empty staging folder for the output folder final_dir. final_dir may not exist, be
 * empty, or hold an earlier Tessera report (a folder with `marker`, a file name, in it);
 * any other existing folder is refused (its files would be mixed with or replaced by ours).
 * The string belongs to the commit. */
const char *tsr_commit_stage_dir (TsrCommit *c, const char *final_dir, const char *marker, GError **error);
/* May final_dir receive an output folder (see tsr_commit_stage_dir)? For refusing up front. */
gboolean   tsr_output_dir_check (const char *final_dir, const char *marker, GError **error);
/* Put the final names in place of staging names in error's message (a write that failed
 * names the file the user asked for). */
void       tsr_commit_explain (TsrCommit *c, GError *error);
/* Rename every staged output onto its final name (a replaced folder is removed after the
 * new one is in place). */
gboolean   tsr_commit_apply (TsrCommit *c, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrCommit, tsr_commit_free)

G_END_DECLS
