/* Image and layer records as JSON, the form they take on disk. */
#ifndef CRISP_IMAGES_STORE_RECORD_H
#define CRISP_IMAGES_STORE_RECORD_H

#include "images/store.h"

char *img_record_to_json(const struct img_record *r);
int img_record_from_json(const char *text, struct img_record **ret, crisp_error_t **err);
struct img_record *img_record_dup(const struct img_record *r);

char *img_layer_info_to_json(const struct img_layer_info *l);
int img_layer_info_from_json(const char *text, struct img_layer_info *ret, crisp_error_t **err);

#endif
