/* ops.h — the llama shim's per-op mode (ops.c), used by shim.c. */
#ifndef PW_LLAMA_OPS_H
#define PW_LLAMA_OPS_H

#include <stddef.h>

#include "llama_abi.h"

#define PW_LLAMA_OPS_ENV "PHASEWATT_LLAMA_OPS"   /* "1": record --llama-ops */

int pw_llama_ops_wanted(void);
/* Puts the per-op callback in front of the program's cb_eval in params (a context's
 * parameters), locating the field from the library's defaults; -1 with *why if it cannot. */
int pw_llama_ops_chain(pw_llama_params *params, const pw_llama_params *defaults, char *why,
                       size_t cap);
/* A batch phase of this thread opens (1) or is about to close (0, which ends its op phase). */
void pw_llama_ops_batch(int open);

#endif
