#define _GNU_SOURCE
#include "server/events.h"
#include "common/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_event_sub {
    struct srv_event_bus *bus;
    struct srv_event_sub *next;
    pthread_cond_t cond;
    struct srv_event queue[SRV_EVENT_QUEUE_LEN];
    unsigned head, count;
    bool overflowed;
};

struct srv_event_bus {
    pthread_mutex_t lock;
    struct srv_event_sub *subs;
    bool closed;
};

struct srv_event_bus *srv_event_bus_new(void)
{
    struct srv_event_bus *bus = calloc(1, sizeof(*bus));
    if (bus)
        pthread_mutex_init(&bus->lock, NULL);
    return bus;
}

void srv_event_bus_free(struct srv_event_bus *bus)
{
    if (!bus)
        return;
    pthread_mutex_destroy(&bus->lock);
    free(bus);
}

void srv_event_bus_close(struct srv_event_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    bus->closed = true;
    for (struct srv_event_sub *s = bus->subs; s; s = s->next)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&bus->lock);
}

void srv_event_publish(struct srv_event_bus *bus, const struct srv_event *ev)
{
    pthread_mutex_lock(&bus->lock);
    for (struct srv_event_sub *s = bus->subs; s; s = s->next) {
        if (s->count == SRV_EVENT_QUEUE_LEN) {
            s->overflowed = true;
        } else {
            s->queue[(s->head + s->count) % SRV_EVENT_QUEUE_LEN] = *ev;
            s->count++;
        }
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&bus->lock);
}

struct srv_event_sub *srv_event_subscribe(struct srv_event_bus *bus)
{
    struct srv_event_sub *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    s->bus = bus;
    pthread_mutex_lock(&bus->lock);
    s->next = bus->subs;
    bus->subs = s;
    pthread_mutex_unlock(&bus->lock);
    return s;
}

void srv_event_unsubscribe(struct srv_event_sub *sub)
{
    if (!sub)
        return;
    struct srv_event_bus *bus = sub->bus;
    pthread_mutex_lock(&bus->lock);
    for (struct srv_event_sub **p = &bus->subs; *p; p = &(*p)->next)
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    pthread_mutex_unlock(&bus->lock);
    pthread_cond_destroy(&sub->cond);
    free(sub);
}

enum srv_event_wait srv_event_wait(struct srv_event_sub *sub, int timeout_ms, struct srv_event *ret_ev)
{
    struct srv_event_bus *bus = sub->bus;
    struct timespec deadline = clock_timespec_after_ms(CLOCK_MONOTONIC, timeout_ms);
    enum srv_event_wait r = SRV_EVENT_TIMEOUT;
    pthread_mutex_lock(&bus->lock);
    for (;;) {
        if (sub->overflowed) {
            r = SRV_EVENT_OVERFLOW;
            break;
        }
        if (sub->count > 0) {
            *ret_ev = sub->queue[sub->head];
            sub->head = (sub->head + 1) % SRV_EVENT_QUEUE_LEN;
            sub->count--;
            r = SRV_EVENT_READY;
            break;
        }
        if (bus->closed) {
            r = SRV_EVENT_CLOSED;
            break;
        }
        if (pthread_cond_timedwait(&sub->cond, &bus->lock, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&bus->lock);
    return r;
}
