/* mount.options: the words mount(8) turns into MS_* flags are split from the filesystem's own data
 * (size=, mode=, newinstance, ...), which goes to mount(2) as the data string. */
#include "helpers/lib/helper_error.h"
#include "helpers/lib/spec_read.h"

#include <string.h>
#include <sys/mount.h>

struct flag_word {
    const char *word;
    bool clear;
    unsigned long flag;
};

static const struct flag_word flag_words[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"noatime", false, MS_NOATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"sync", false, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
};

static const struct flag_word *flag_word_find(const char *word, size_t len)
{
    for (size_t i = 0; i < sizeof flag_words / sizeof *flag_words; i++)
        if (strlen(flag_words[i].word) == len && memcmp(flag_words[i].word, word, len) == 0)
            return &flag_words[i];
    return NULL;
}

/* Compacts the data words to the front of m->options (they never move right), so m->data shares it. */
int mon_mount_options_parse(struct mon_mount *m)
{
    bool bind = strcmp(m->type, "bind") == 0;
    char *w = m->options;
    const char *r = m->options;
    m->flags = 0;
    m->data = m->options;
    while (*r != '\0') {
        size_t len = strcspn(r, ",");
        const struct flag_word *fw = flag_word_find(r, len);
        if (fw != NULL)
            m->flags = fw->clear ? (m->flags & ~fw->flag) : (m->flags | fw->flag);
        else if (bind && len > 0)
            return hl_fail(0, "option '%.*s' is not valid for a bind mount", (int)len, r);
        else if (len > 0) {
            if (w != m->options)
                *w++ = ',';
            memmove(w, r, len);
            w += len;
        }
        r += len + (r[len] == ',');
    }
    if (w != r) /* an empty string may be read-only */
        *w = '\0';
    return 0;
}
