#include "server/events.h"
#include "unit.h"

#include <stdio.h>

static struct srv_event event(const char *id)
{
    struct srv_event ev = {.type = SRV_EVENT_CONTAINER_STARTED, .created_at = 1};
    snprintf(ev.container_id, sizeof(ev.container_id), "%s", id);
    return ev;
}

static void test_fan_out_in_order(void)
{
    struct srv_event_bus *bus = srv_event_bus_new();
    struct srv_event_sub *a = srv_event_subscribe(bus), *b = srv_event_subscribe(bus);
    struct srv_event e1 = event("one"), e2 = event("two"), got;
    srv_event_publish(bus, &e1);
    srv_event_publish(bus, &e2);
    CHECK(srv_event_wait(a, 0, &got) == SRV_EVENT_READY);
    CHECK_STR(got.container_id, "one");
    CHECK(srv_event_wait(a, 0, &got) == SRV_EVENT_READY);
    CHECK_STR(got.container_id, "two");
    CHECK(srv_event_wait(a, 10, &got) == SRV_EVENT_TIMEOUT);
    CHECK(srv_event_wait(b, 0, &got) == SRV_EVENT_READY);
    CHECK_STR(got.container_id, "one");
    srv_event_unsubscribe(b);
    srv_event_publish(bus, &e1); /* only a remains */
    CHECK(srv_event_wait(a, 0, &got) == SRV_EVENT_READY);
    srv_event_bus_close(bus);
    CHECK(srv_event_wait(a, 1000, &got) == SRV_EVENT_CLOSED);
    struct srv_event_sub *late = srv_event_subscribe(bus);
    CHECK(srv_event_wait(late, 1000, &got) == SRV_EVENT_CLOSED);
    srv_event_unsubscribe(late);
    srv_event_unsubscribe(a);
    srv_event_bus_free(bus);
}

static void test_slow_subscriber_overflows(void)
{
    struct srv_event_bus *bus = srv_event_bus_new();
    struct srv_event_sub *s = srv_event_subscribe(bus);
    struct srv_event e = event("x"), got;
    for (int i = 0; i < SRV_EVENT_QUEUE_LEN + 1; i++)
        srv_event_publish(bus, &e);
    CHECK(srv_event_wait(s, 0, &got) == SRV_EVENT_OVERFLOW);
    srv_event_unsubscribe(s);
    srv_event_bus_free(bus);
}

int main(void)
{
    test_fan_out_in_order();
    test_slow_subscriber_overflows();
    return unit_report("test_events");
}
