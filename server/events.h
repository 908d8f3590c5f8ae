/* Container lifecycle events fanned out to GetContainerEvents streams. Each subscriber has a bounded
 * queue: one that falls behind is dropped (its stream ends and kubelet relists) rather than letting a
 * slow client grow crispd's memory. */
#ifndef CRISP_SERVER_EVENTS_H
#define CRISP_SERVER_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#define SRV_EVENT_QUEUE_LEN 1024
#define SRV_EVENT_ID_MAX 128

/* Values match runtime.v1.ContainerEventType. */
enum srv_event_type {
    SRV_EVENT_CONTAINER_CREATED = 0,
    SRV_EVENT_CONTAINER_STARTED = 1,
    SRV_EVENT_CONTAINER_STOPPED = 2,
    SRV_EVENT_CONTAINER_DELETED = 3,
};

struct srv_event {
    enum srv_event_type type;
    char container_id[SRV_EVENT_ID_MAX];
    char sandbox_id[SRV_EVENT_ID_MAX];
    int64_t created_at; /* ns since the epoch */
};

struct srv_event_bus;
struct srv_event_sub;

enum srv_event_wait { SRV_EVENT_READY, SRV_EVENT_TIMEOUT, SRV_EVENT_CLOSED, SRV_EVENT_OVERFLOW };

struct srv_event_bus *srv_event_bus_new(void);
void srv_event_bus_free(struct srv_event_bus *bus);
/* Ends every subscription (crispd is stopping); later subscriptions end at once. */
void srv_event_bus_close(struct srv_event_bus *bus);
void srv_event_publish(struct srv_event_bus *bus, const struct srv_event *ev);

struct srv_event_sub *srv_event_subscribe(struct srv_event_bus *bus);
void srv_event_unsubscribe(struct srv_event_sub *sub);
enum srv_event_wait srv_event_wait(struct srv_event_sub *sub, int timeout_ms, struct srv_event *ret_ev);

#endif
