/* The sync pipe to crispd: exactly one line, `ok <container pid> <monitor pid>` or
 * `error <exit code> <message>`, then EOF when the monitor closes it. */
#include "monitor.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void mon_sync_ok(int sync_fd, pid_t pid)
{
    char line[64];
    int n = snprintf(line, sizeof line, "ok %d %d\n", (int)pid, (int)getpid());
    mon_write_all(sync_fd, line, (size_t)n);
}

/* The message is kept to one line: crispd reads up to the first newline. */
void mon_sync_error(int sync_fd, int exit_code, const char *message)
{
    char line[1100];
    int n = snprintf(line, sizeof line, "error %d %s", exit_code, message);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n] = '\n';
    mon_write_all(sync_fd, line, (size_t)n + 1);
}
