/* Turning a CreateContainerRequest and its image into the runtime's container spec. */
#ifndef CRISP_SERVER_CONTAINER_CONFIG_H
#define CRISP_SERVER_CONTAINER_CONFIG_H

#include "api.pb-c.h"
#include "images/manifest.h"
#include "images/store.h"
#include "runtime/container.h"
#include "server/call.h"

/* What the spec borrows from the image; released after the create. */
struct srv_container_image {
    struct img_record *rec;
    struct img_config *cfg;
};

int srv_container_spec_from(struct srv_ctx *ctx, const Runtime__V1__CreateContainerRequest *r,
                            struct rt_container_spec *s, struct srv_container_image *img,
                            crisp_error_t **err);
void srv_container_image_fini(struct srv_container_image *img);

#endif
