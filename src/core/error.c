/* error.c — the words for phasewatt's error codes, and the library's version. */
#include "phasewatt.h"

const char *pw_strerror(int err)
{
    switch (err) {
    case PW_OK: return "success";
    case PW_ERR_INVALID: return "invalid argument";
    case PW_ERR_NOMEM: return "out of memory";
    case PW_ERR_IO: return "input/output error";
    case PW_ERR_FORMAT: return "malformed input";
    case PW_ERR_UNBALANCED: return "pw_end() without an open phase on this thread";
    case PW_ERR_TOO_DEEP: return "phases nested deeper than PW_MAX_DEPTH";
    case PW_ERR_STATE: return "wrong session state (already open, or none open)";
    case PW_ERR_NO_SOURCE: return "no usable power source";
    case PW_ERR_PERMISSION: return "permission denied";
    case PW_ERR_LIMIT: return "a fixed limit was reached";
    case PW_ERR_NOT_FOUND: return "not found";
    default: return "unknown error";
    }
}

const char *pw_version(void) { return PW_VERSION_STRING; }

int pw_version_number(void) { return PW_VERSION_NUMBER; }
