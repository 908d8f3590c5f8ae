/* CRI string maps (labels, annotations, sysctls) to and from the runtime's key/value arrays. */
#include "server/convert/kv.h"

#include <errno.h>
#include <string.h>

#define MAX_KV 1024

int srv_kv_from(struct arena *a, void *const *entries, size_t n, const struct rt_kv **ret, size_t *ret_n,
                crisp_error_t **err)
{
    if (n > MAX_KV)
        return crisp_error_make(err, EINVAL, "%zu labels, annotations or sysctls: at most %d", n, MAX_KV);
    struct rt_kv *kv = arena_alloc(a, (n + 1) * sizeof(*kv));
    if (!kv)
        return crisp_error_oom(err);
    for (size_t i = 0; i < n; i++) {
        const struct pb_entry *e = entries[i];
        kv[i] = (struct rt_kv){e->key, e->value};
    }
    *ret = kv;
    *ret_n = n;
    return 0;
}

/* Labels and annotations as protobuf-c map entries (every map entry type has this layout). */
void **srv_entries_of(struct arena *a, const ProtobufCMessageDescriptor *desc, const struct rt_kv *kv,
                      size_t n)
{
    void **list = arena_alloc(a, (n + 1) * sizeof(void *));
    for (size_t i = 0; list && i < n; i++) {
        struct pb_entry *e = arena_alloc(a, sizeof(*e));
        if (!e)
            return NULL;
        protobuf_c_message_init(desc, e);
        e->key = arena_strdup(a, kv[i].key);
        e->value = arena_strdup(a, kv[i].value);
        if (!e->key || !e->value)
            return NULL;
        list[i] = e;
    }
    return list;
}

bool srv_labels_match(const struct rt_kv *labels, size_t n, void *const *selector, size_t n_selector)
{
    for (size_t k = 0; k < n_selector; k++) {
        const struct pb_entry *want = selector[k];
        bool found = false;
        for (size_t l = 0; l < n && !found; l++)
            found = strcmp(labels[l].key, want->key) == 0 && strcmp(labels[l].value, want->value) == 0;
        if (!found)
            return false;
    }
    return true;
}
