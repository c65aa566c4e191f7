/* log.h — the library's messages: one line each, to the pw_set_log callback or stderr. */
#ifndef PW_CORE_LOG_H
#define PW_CORE_LOG_H

#include "phasewatt.h"

/* One message at `level` (enum pw_log_level), without "phasewatt: " or a newline; nothing
 * while a quiet session is open. */
void pw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A session opened with quiet = 1 (1), or the session closed (0). */
void pw_log_quiet(int quiet);

#endif
