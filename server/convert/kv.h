/* CRI string maps (labels, annotations, sysctls) to and from the runtime's key/value arrays. */
#ifndef CRISP_SERVER_KV_H
#define CRISP_SERVER_KV_H

#include "common/arena.h"
#include "common/error.h"
#include "runtime/sandbox.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

/* protobuf-c map entries all share this layout after the message base. */
struct pb_entry {
    ProtobufCMessage base;
    char *key, *value;
};

/* entries: protobuf-c map entries; at most 1024. The result points into them. */
int srv_kv_from(struct arena *a, void *const *entries, size_t n, const struct rt_kv **ret, size_t *ret_n,
                crisp_error_t **err);
/* Map entries of type desc, copied into the arena. NULL when out of memory. */
void **srv_entries_of(struct arena *a, const ProtobufCMessageDescriptor *desc, const struct rt_kv *kv,
                      size_t n);

/* Whether labels hold every key=value of a filter's label selector (protobuf-c map entries). */
bool srv_labels_match(const struct rt_kv *labels, size_t n, void *const *selector, size_t n_selector);

#endif
