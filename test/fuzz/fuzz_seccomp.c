/* libFuzzer target for Localhost seccomp profiles (JSON from the node's disk, named by the request):
 * parsed with yajl and compiled with libseccomp for a capability set taken from the first 8 bytes. */
#include "runtime/seccomp/seccomp.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t caps = 0;
    if (size >= 8) {
        memcpy(&caps, data, 8);
        data += 8;
        size -= 8;
    }
    struct rt_seccomp_filter f;
    crisp_error_t *err = NULL;
    if (rt_seccomp_compile_json((const char *)data, size, caps, &f, &err) == 0)
        rt_seccomp_filter_fini(&f);
    crisp_error_free(err);
    return 0;
}
