/* ioreport.c — a fake libIOReport + CoreFoundation for the ioreport source's tests: exactly
 * the calls the source makes, answering from the state file named by
 * $PHASEWATT_FAKE_IOREPORT_STATE, re-read at every IOReport call. Lines:
 *   ch GROUP|NAME|UNIT|FORMAT|STEP   a channel present now; each sample adds STEP (in UNIT)
 *   copy_fails | subscribe_fails | samples_fail | delta_fails
 *   epoch N     samples add their steps only when the last three saw the same epoch, so a
 *               sample whose interval straddles a change of epoch carries nothing
 * $PHASEWATT_FAKE_IOREPORT_LOG, if set, gets "subscribe", one line per sample
 * ("sample K epoch E|NAME=STEP|…", what it handed out) and "unload live=N" (objects the
 * caller never released). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT 128
#define MAX_CH 160
#define MAGIC 0x10e90e7u

typedef enum { STRING = 1, DICT, SUB } obj_type;

typedef struct str {
    unsigned magic;
    obj_type type;
    char s[TEXT];
} str;

typedef struct item {                    /* a channel in a dictionary's array */
    str group, name, unit;
    int format;
    int64_t value;
} item;

typedef struct array {
    size_t n;
    item it[MAX_CH];
} array;

typedef struct dict {                    /* {"IOReportChannels": array} */
    unsigned magic;
    obj_type type;
    array channels;
} dict;

typedef struct fake_ch {
    char group[TEXT], name[TEXT], unit[TEXT];
    int format;
    int64_t step;
} fake_ch;

typedef struct fake_state {
    size_t n;
    fake_ch ch[MAX_CH];
    int copy_fails, subscribe_fails, samples_fail, delta_fails;
    long epoch;                          /* -1: no epoch line */
} fake_state;

static fake_state st;
static long live;                        /* objects handed out and not released */
static unsigned long nsamples;
static long seen[2] = {-2, -3};          /* the epochs of the two samples before */
static struct {                          /* cumulative counters, by channel name */
    char name[TEXT];
    int64_t total;
} counters[MAX_CH];
static size_t ncounters;

/* ---- the state file and the log ------------------------------------------------------------ */

static void log_line(const char *line)
{
    const char *path = getenv("PHASEWATT_FAKE_IOREPORT_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f) return;
    fprintf(f, "%s\n", line);
    fclose(f);
}

__attribute__((destructor)) static void unloaded(void)
{
    char line[64];
    snprintf(line, sizeof line, "unload live=%ld", live);
    log_line(line);
}

static void field(char *out, const char **p)
{
    size_t n = strcspn(*p, "|\n");
    if (n >= TEXT) n = TEXT - 1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += strcspn(*p, "|\n");
    if (**p == '|') (*p)++;
}

static void parse_channel(const char *p)
{
    if (st.n == MAX_CH) return;
    fake_ch *c = &st.ch[st.n++];
    char num[TEXT];
    field(c->group, &p);
    field(c->name, &p);
    field(c->unit, &p);
    field(num, &p);
    c->format = atoi(num);
    field(num, &p);
    c->step = strtoll(num, NULL, 10);
}

static void load_state(void)
{
    memset(&st, 0, sizeof st);
    st.epoch = -1;
    const char *path = getenv("PHASEWATT_FAKE_IOREPORT_STATE");
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "ch ", 3) == 0) parse_channel(line + 3);
        else if (strncmp(line, "epoch ", 6) == 0) st.epoch = atol(line + 6);
        else if (strncmp(line, "copy_fails", 10) == 0) st.copy_fails = 1;
        else if (strncmp(line, "subscribe_fails", 15) == 0) st.subscribe_fails = 1;
        else if (strncmp(line, "samples_fail", 12) == 0) st.samples_fail = 1;
        else if (strncmp(line, "delta_fails", 11) == 0) st.delta_fails = 1;
    }
    if (f) fclose(f);
}

/* ---- objects -------------------------------------------------------------------------------- */

static void set_str(str *s, const char *text)
{
    s->magic = MAGIC;
    s->type = STRING;
    snprintf(s->s, sizeof s->s, "%s", text);
}

static void *new_obj(size_t size, obj_type type)
{
    unsigned *o = calloc(1, size);
    if (!o) return NULL;
    o[0] = MAGIC;
    memcpy(o + 1, &type, sizeof type);
    live++;
    return o;
}

static dict *new_dict(void) { return new_obj(sizeof(dict), DICT); }

static int is(const void *o, obj_type type)
{
    const unsigned *u = o;
    obj_type t;
    if (!o || u[0] != MAGIC) return 0;
    memcpy(&t, u + 1, sizeof t);
    return t == type;
}

static void add_item(dict *d, const fake_ch *c, int64_t value)
{
    if (d->channels.n == MAX_CH) return;
    item *it = &d->channels.it[d->channels.n++];
    set_str(&it->group, c->group);
    set_str(&it->name, c->name);
    set_str(&it->unit, c->unit);
    it->format = c->format;
    it->value = value;
}

static const item *find_item(const dict *d, const char *name)
{
    for (size_t i = 0; i < d->channels.n; i++)
        if (strcmp(d->channels.it[i].name.s, name) == 0) return &d->channels.it[i];
    return NULL;
}

static int64_t *counter(const char *name)
{
    for (size_t i = 0; i < ncounters; i++)
        if (strcmp(counters[i].name, name) == 0) return &counters[i].total;
    if (ncounters == MAX_CH) return NULL;
    snprintf(counters[ncounters].name, TEXT, "%s", name);
    return &counters[ncounters++].total;
}

/* ---- CoreFoundation ------------------------------------------------------------------------- */

const void *CFStringCreateWithCString(const void *alloc, const char *s, uint32_t encoding)
{
    (void)alloc;
    (void)encoding;
    str *o = new_obj(sizeof(str), STRING);
    if (o) snprintf(o->s, sizeof o->s, "%s", s);
    return o;
}

unsigned char CFStringGetCString(const void *s, char *buf, long cap, uint32_t encoding)
{
    (void)encoding;
    if (!is(s, STRING) || cap <= 0 || strlen(((const str *)s)->s) >= (size_t)cap) return 0;
    strcpy(buf, ((const str *)s)->s);
    return 1;
}

const void *CFDictionaryGetValue(const void *d, const void *key)
{
    if (!is(d, DICT) || !is(key, STRING) || strcmp(((const str *)key)->s, "IOReportChannels"))
        return NULL;
    return &((const dict *)d)->channels;
}

long CFArrayGetCount(const void *a) { return a ? (long)((const array *)a)->n : 0; }

const void *CFArrayGetValueAtIndex(const void *a, long i)
{
    const array *arr = a;
    return arr && i >= 0 && (size_t)i < arr->n ? &arr->it[i] : NULL;
}

void CFRelease(const void *o)
{
    if (!is(o, STRING) && !is(o, DICT) && !is(o, SUB)) {
        log_line("bad release");
        return;
    }
    ((unsigned *)(uintptr_t)o)[0] = 0;
    free((void *)(uintptr_t)o);
    live--;
}

/* ---- IOReport ------------------------------------------------------------------------------- */

const void *IOReportCopyChannelsInGroup(const void *group, const void *subgroup, uint64_t a,
                                        uint64_t b, uint64_t c)
{
    (void)subgroup, (void)a, (void)b, (void)c;
    load_state();
    if (st.copy_fails || !is(group, STRING)) return NULL;
    dict *d = new_dict();
    for (size_t i = 0; d && i < st.n; i++)
        if (strcmp(st.ch[i].group, ((const str *)group)->s) == 0) add_item(d, &st.ch[i], 0);
    return d;
}

const void *IOReportCreateSubscription(void *x, const void *desired, const void **subscribed,
                                       uint64_t y, const void *z)
{
    (void)x, (void)y, (void)z;
    load_state();
    log_line("subscribe");
    if (st.subscribe_fails || !is(desired, DICT) || !subscribed) return NULL;
    dict *copy = new_dict();
    if (!copy) return NULL;
    copy->channels = ((const dict *)desired)->channels;
    *subscribed = copy;
    return new_obj(sizeof(str), SUB);
}

/* Every subscribed channel the state still has, its counter advanced by its step. */
const void *IOReportCreateSamples(const void *sub, const void *channels, const void *z)
{
    (void)z;
    load_state();
    if (st.samples_fail || !is(sub, SUB) || !is(channels, DICT)) return NULL;
    int adds = st.epoch < 0 || (st.epoch == seen[0] && st.epoch == seen[1]);
    seen[1] = seen[0];
    seen[0] = st.epoch;
    dict *d = new_dict();
    char line[4096];
    size_t used = (size_t)snprintf(line, sizeof line, "sample %lu epoch %ld", ++nsamples,
                                   st.epoch);
    for (size_t i = 0; d && i < st.n; i++) {
        int64_t *total = counter(st.ch[i].name);
        if (!total || !find_item(channels, st.ch[i].name)) continue;
        int64_t step = adds ? st.ch[i].step : 0;
        *total += step;
        add_item(d, &st.ch[i], *total);
        if (used < sizeof line)
            used += (size_t)snprintf(line + used, sizeof line - used, "|%s=%lld", st.ch[i].name,
                                     (long long)step);
    }
    log_line(line);
    return d;
}

/* cur minus prev, for the channels both have. */
const void *IOReportCreateSamplesDelta(const void *prev, const void *cur, const void *z)
{
    (void)z;
    load_state();
    if (st.delta_fails || !is(prev, DICT) || !is(cur, DICT)) return NULL;
    dict *d = new_dict();
    const array *c = &((const dict *)cur)->channels;
    for (size_t i = 0; d && i < c->n; i++) {
        const item *p = find_item(prev, c->it[i].name.s);
        if (!p) continue;
        d->channels.it[d->channels.n] = c->it[i];
        d->channels.it[d->channels.n++].value = c->it[i].value - p->value;
    }
    return d;
}

int64_t IOReportSimpleGetIntegerValue(const void *it, int32_t index)
{
    return it && index == 0 ? ((const item *)it)->value : 0;
}

int IOReportChannelGetFormat(const void *it) { return it ? ((const item *)it)->format : 0; }
const void *IOReportChannelGetGroup(const void *it) { return it ? &((const item *)it)->group : NULL; }
const void *IOReportChannelGetChannelName(const void *it) { return it ? &((const item *)it)->name : NULL; }
const void *IOReportChannelGetUnitLabel(const void *it) { return it ? &((const item *)it)->unit : NULL; }
