/* tsr-output.h — what an output path may name (docs/reliability.md, "Outputs"). Every file
 * the engine writes goes to a temporary name in the folder of its target and is renamed
 * onto the target when complete; this decides the target. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* The file an output named path will replace:
 * - a new name (its folder must exist): path itself;
 * - an existing regular file: path (replaced atomically);
 * - a symbolic link, or a chain of them, ending at a regular file or at a new name: that
 *   final name — the file the link points to is replaced and the link stays a link;
 * - anything else — a folder, a device, a FIFO, a socket, a link loop, an empty name — is
 *   refused (TSR_ERROR_INVALID_ARG) with a message naming path and what it is.
 * Returns a newly allocated path, or NULL with error set. */
char *tsr_output_target (const char *path, GError **error);

/* Do a and b name the same output once resolved as above (same target, or the same
 * existing file by device and inode)? Paths that cannot be resolved compare unequal. */
gboolean tsr_output_same (const char *a, const char *b);

/* Writing an output through a temporary: tsr_output_open_temp creates ".NAME.XXXXXX.part" in
 * the folder of target (the resolved name of the output the user called path) and returns its
 * descriptor, -1 with error naming path; tsr_output_close_temp ends it — with ok (the writes
 * succeeded; otherwise errsv is their errno) it syncs, closes and renames the temporary onto
 * target, and on any failure removes the temporary and sets error naming path. */
/* write(2) all of len bytes, retrying on EINTR; FALSE (errno set) on an error or a write of 0. */
gboolean tsr_output_write_all (int fd, const void *buf, gsize len);
int      tsr_output_open_temp (const char *target, const char *path, char **tmp_out, GError **error);
gboolean tsr_output_close_temp (int fd, const char *tmp, const char *target, const char *path, gboolean ok,
                                int errsv, GError **error);

G_END_DECLS
