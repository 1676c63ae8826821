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

G_END_DECLS
