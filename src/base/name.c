/* name.c — the repair of name.h: valid UTF-8 with no '/', capped. */
#include <string.h>

#include "base/name.h"

#define REPLACEMENT "\xEF\xBF\xBD"   /* U+FFFD */

/* Length of the valid UTF-8 character at p (n bytes left), 0 when invalid: overlong forms,
 * surrogates and code points past U+10FFFF are invalid too. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80) return 1;
    size_t len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || p[0] > 0xF4 || len > n) return 0;
    uint32_t c = p[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (p[i] & 0x3Fu);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return len;
}

int pw_name_repair(const char *name, size_t n, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t i = 0, o = 0;
    int changed = 0;
    while (i < n) {
        size_t len = utf8_char(p + i, n - i);
        const char *put = name + i;
        size_t put_len = len;
        if (len == 0) {   /* one invalid byte, one replacement; resume at the next */
            put = REPLACEMENT, put_len = 3, len = 1;
        } else if (p[i] == '/') {
            put = PW_NAME_SLASH, put_len = 3;
        }
        if (o + put_len > cap - 1) {   /* the cap: cut before a character that does not fit */
            changed = 1;
            break;
        }
        changed |= put != name + i;
        memcpy(out + o, put, put_len);
        o += put_len;
        i += len;
    }
    out[o] = '\0';
    return changed;
}
