/* tap.h — lets an in-process consumer (phasewatt serve) see everything a session writes to
 * its trace, as it writes it, without reading the file back. */
#ifndef PW_TAP_H
#define PW_TAP_H

#include "trace/sink.h"

/* The sink the next pw_open() feeds beside its trace (copied; NULL: none). Every callback runs
 * on the sampler thread (or in pw_open/pw_close), in trace order, with the session's lock
 * held: keep them short and never call back into the session. What they return is ignored:
 * only the trace's own failures stop writing. */
void pw_session_set_tap(const pw_sink *tap);

#endif
