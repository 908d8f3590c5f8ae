/* Test-only behaviour, linked only into the test build (build/crispd-test, which the e2e suite runs)
 * and honoured only when it runs with CRISP_TEST_HOOKS=1 in its environment:
 *   crisp-test-sleep-ms: N   the call sleeps N ms (at most 60000) before its handler runs
 *   crisp-test-event: ID     a CONTAINER_CREATED event for container ID is published
 * and, from the environment at start-up:
 *   CRISP_CRASH_AT=NAME[@N]  crispd kills itself (SIGKILL) the Nth time (default 1st) it passes the
 *                            crash point NAME (common/crash_point.h), after writing
 *                            "crisp-test: crash point NAME" to stderr
 * The e2e suite uses them to prove that a blocked call delays no other, and that event streams
 * deliver. */
#ifndef CRISP_SERVER_TEST_HOOKS_H
#define CRISP_SERVER_TEST_HOOKS_H

#include "server/call.h"

/* Weak: NULL in the production crispd, which does not link server/test_hooks.c. */
void srv_test_hooks_apply(struct srv_ctx *ctx) __attribute__((weak));

#endif
