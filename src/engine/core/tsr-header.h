/* tsr-header.h — FITS header cards kept for pass-through, with typed look-ups. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct _TsrHeader TsrHeader;

TsrHeader *tsr_header_new (void);
TsrHeader *tsr_header_copy (const TsrHeader *h);
void       tsr_header_free (TsrHeader *h);

/* Append a raw 80-column card (as cfitsio's fits_read_record returns it). */
void        tsr_header_add_card (TsrHeader *h, const char *card);
guint       tsr_header_n_cards (const TsrHeader *h);
const char *tsr_header_card (const TsrHeader *h, guint i);

/* Keyword of a card ("HIERARCH A B" keeps the HIERARCH words, upper-cased). */
char       *tsr_header_card_keyword (const char *card);

/* Look-ups by keyword (case-insensitive, first match). Values are unquoted and trimmed. */
gboolean    tsr_header_has (const TsrHeader *h, const char *key);
char       *tsr_header_get_string (const TsrHeader *h, const char *key);  /* NULL if absent */
gboolean    tsr_header_get_double (const TsrHeader *h, const char *key, double *out);
gboolean    tsr_header_get_int (const TsrHeader *h, const char *key, gint64 *out);

/* Remove every card with this keyword. */
void        tsr_header_remove (TsrHeader *h, const char *key);
/* Replace-or-append typed cards. */
void        tsr_header_set_string (TsrHeader *h, const char *key, const char *value, const char *comment);
void        tsr_header_set_double (TsrHeader *h, const char *key, double value, const char *comment);
void        tsr_header_set_int (TsrHeader *h, const char *key, gint64 value, const char *comment);
void        tsr_header_set_bool (TsrHeader *h, const char *key, gboolean value, const char *comment);
/* HISTORY lines: long text is wrapped over several cards. */
void        tsr_header_add_history (TsrHeader *h, const char *text);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrHeader, tsr_header_free)

G_END_DECLS
