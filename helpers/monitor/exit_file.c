/* The exit record crispd reads, also after its own restart: written to a temp file in the same
 * directory, fsynced and renamed, so a reader sees all of it or nothing. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

void mon_exit_from_status(struct mon_exit *ex, int status, bool oom_killed)
{
    ex->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    ex->exit_code = WIFSIGNALED(status) ? 128 + ex->signal : WEXITSTATUS(status);
    ex->reason = oom_killed ? "OOMKilled" : ex->exit_code == 0 ? "Completed" : "Error";
    ex->message[0] = '\0';
}

/* The message uses the spec file's escapes (`\\`, `\n`) so the record stays one field per line. */
static size_t message_escape(const char *message, char *buf, size_t size)
{
    size_t n = 0;
    for (const char *m = message; *m != '\0' && n + 2 < size; m++) {
        if (*m == '\\' || *m == '\n')
            buf[n++] = '\\';
        buf[n++] = *m == '\n' ? 'n' : *m;
    }
    buf[n] = '\0';
    return n;
}

static int record_write(int fd, const struct mon_exit *ex)
{
    char message[2 * sizeof ex->message + 1];
    char text[sizeof message + 200];
    message_escape(ex->message, message, sizeof message);
    int n = snprintf(text, sizeof text,
                     "exit_code %d\nsignal %d\nstarted_at %lld\nfinished_at %lld\nreason %s\nmessage %s\n",
                     ex->exit_code, ex->signal, (long long)ex->started_at, (long long)ex->finished_at,
                     ex->reason, message);
    if (mon_write_all(fd, text, (size_t)n) < 0 || fsync(fd) < 0)
        return -1;
    return 0;
}

int mon_exit_file_write(const char *path, const struct mon_exit *ex)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return hl_fail(ENAMETOOLONG, "write %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return hl_fail(errno, "write %s", tmp);
    int rc = record_write(fd, ex);
    int saved = errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) == 0)
        return 0;
    saved = rc < 0 ? saved : errno;
    unlink(tmp);
    return hl_fail(saved, "write %s", path);
}
