/* tsr-live-slot.h — a job's newest intermediate picture handed from its worker thread to the
 * main thread (the deconvolution's latent after every iteration, the restoration's training
 * snapshots). The worker posts a payload, replacing one not yet delivered (the newest wins);
 * at most one idle is pending; on the main thread the job's deliver function receives the
 * payload only while the window is alive and the job that posted it is still the current one
 * (tsr_window_job_is_current), otherwise it is freed. */
#pragma once
#include "tsr-window.h"

G_BEGIN_DECLS

typedef struct _TsrLiveSlot TsrLiveSlot;

/* Main thread; takes the payload. */
typedef void (*TsrLiveDeliver) (TsrWindow *self, gpointer payload);
/* Worker thread, under the slot's lock, when payload replaces old before old was delivered:
 * may move what new lacks from old (old is freed afterwards). */
typedef void (*TsrLiveMerge) (gpointer old_payload, gpointer new_payload);

/* priority: of the idle that delivers; stall_name: the stall trace's name for it. */
TsrLiveSlot *tsr_live_slot_new (TsrWindow *window, guint gen, int priority, const char *stall_name,
                                TsrLiveDeliver deliver, TsrLiveMerge merge, GDestroyNotify payload_free);
void         tsr_live_slot_unref (TsrLiveSlot *slot);
/* Worker thread; takes the payload. */
void         tsr_live_slot_post (TsrLiveSlot *slot, gpointer payload);

G_END_DECLS
