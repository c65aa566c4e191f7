/* safefile.h — how phasewatt creates every output file: on a fresh private name in the
 * output's directory (O_EXCL|O_NOFOLLOW, so a planted link is never followed), renamed into
 * place only when the caller says so (the CLI checks that an output is none of its inputs). */
#ifndef PW_TRACE_SAFEFILE_H
#define PW_TRACE_SAFEFILE_H

#include <stdio.h>

typedef struct pw_safefile {
    int fd;         /* open for writing on the temporary name; -1 once closed */
    char *tmp;      /* the temporary name; NULL once renamed into place or removed */
    char *path;     /* the name the file gets */
} pw_safefile;

/* Creates the temporary file (mode 0644 less the umask) next to path. PW_OK, PW_ERR_NOMEM,
 * or PW_ERR_IO with errno set. */
int pw_safefile_open(pw_safefile *f, const char *path);
/* Renames the temporary file onto path (replacing a file or link there, never following
 * it); the fd stays open. PW_OK or PW_ERR_IO with errno set. */
int pw_safefile_commit(pw_safefile *f);
/* Closes the fd if still open, removes the temporary file unless committed, frees names;
 * errno is kept. */
void pw_safefile_done(pw_safefile *f);
/* A stdio stream over the temporary file (the stream owns the fd), or NULL. */
FILE *pw_safefile_stream(pw_safefile *f);
/* pw_safefile_open then pw_safefile_stream: the stream, or NULL with errno set and f done. */
FILE *pw_safefile_fopen(pw_safefile *f, const char *path);
/* Closes the stream; when ok and every write reached the file, renames it into place, else
 * removes it. PW_OK or PW_ERR_IO with errno set; f is done either way. */
int pw_safefile_finish(pw_safefile *f, FILE *stream, int ok);

#endif
