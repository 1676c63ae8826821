/* tsr-live-slot.c — see tsr-live-slot.h. */
#include "tsr-config.h"
#include "tsr-live-slot.h"
#include "tsr-window-private.h"

struct _TsrLiveSlot
{
  gatomicrefcount ref;
  GMutex lock;
  GWeakRef window;
  guint gen;
  int priority;
  const char *stall_name;
  TsrLiveDeliver deliver;
  TsrLiveMerge merge;
  GDestroyNotify payload_free;
  gpointer payload;   /* newest not yet delivered */
  gboolean pending;   /* an idle is scheduled */
};

TsrLiveSlot *
tsr_live_slot_new (TsrWindow *window, guint gen, int priority, const char *stall_name, TsrLiveDeliver deliver,
                   TsrLiveMerge merge, GDestroyNotify payload_free)
{
  TsrLiveSlot *s = g_new0 (TsrLiveSlot, 1);
  g_atomic_ref_count_init (&s->ref);
  g_mutex_init (&s->lock);
  g_weak_ref_init (&s->window, window);
  s->gen = gen;
  s->priority = priority;
  s->stall_name = stall_name;
  s->deliver = deliver;
  s->merge = merge;
  s->payload_free = payload_free;
  return s;
}

static TsrLiveSlot *
slot_ref (TsrLiveSlot *s)
{
  g_atomic_ref_count_inc (&s->ref);
  return s;
}

void
tsr_live_slot_unref (TsrLiveSlot *s)
{
  if (!s || !g_atomic_ref_count_dec (&s->ref))
    return;
  if (s->payload)
    s->payload_free (s->payload);
  g_weak_ref_clear (&s->window);
  g_mutex_clear (&s->lock);
  g_free (s);
}

static gboolean
deliver_idle (gpointer data)
{
  TsrLiveSlot *s = data;
  g_mutex_lock (&s->lock);
  gpointer payload = g_steal_pointer (&s->payload);
  s->pending = FALSE;
  g_mutex_unlock (&s->lock);

  TsrWindow *self = g_weak_ref_get (&s->window);
  gint64 t0 = TSR_STALL_T0 ();
  if (self && payload && tsr_window_job_is_current (self, s->gen))
    s->deliver (self, g_steal_pointer (&payload));
  if (payload)
    s->payload_free (payload);
  g_clear_object (&self);
  tsr_stall_note (s->stall_name, t0);
  return G_SOURCE_REMOVE;
}

void
tsr_live_slot_post (TsrLiveSlot *s, gpointer payload)
{
  g_mutex_lock (&s->lock);
  if (s->payload)
    {
      if (s->merge)
        s->merge (s->payload, payload);
      s->payload_free (s->payload);
    }
  s->payload = payload;
  if (!s->pending)
    {
      s->pending = TRUE;
      g_idle_add_full (s->priority, deliver_idle, slot_ref (s), (GDestroyNotify) tsr_live_slot_unref);
    }
  g_mutex_unlock (&s->lock);
}
