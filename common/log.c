#define _GNU_SOURCE
#include "log.h"

#include "cleanup.h"
#include "json.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

static _Atomic int current_level = LOG_LEVEL_INFO;
static _Atomic int current_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"text", "json"};

static int name_index(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
    int i = name_index(s, level_names, ARRAY_SIZE(level_names));
    if (i < 0)
        return -1;
    *ret_level = (enum log_level)i;
    return 0;
}

const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

int log_format_parse(const char *s, enum log_format *ret_format)
{
    int i = name_index(s, format_names, ARRAY_SIZE(format_names));
    if (i < 0)
        return -1;
    *ret_format = (enum log_format)i;
    return 0;
}

const char *log_format_name(enum log_format format)
{
    return format_names[format];
}

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return (enum log_level)current_level;
}

void log_set_format(enum log_format format)
{
    current_format = format;
}

bool log_enabled(enum log_level level)
{
    return (int)level <= current_level;
}

static void format_now(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* One write(2) per line so that lines from concurrent threads never interleave. */
static void write_line(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

static void write_json(const char *when, enum log_level level, const char *msg, const char *const *kv)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return;
    yajl_gen_map_open(g);
    json_gen_str(g, "time");
    json_gen_str(g, when);
    json_gen_str(g, "level");
    json_gen_str(g, level_names[level]);
    json_gen_str(g, "msg");
    json_gen_str(g, msg);
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        json_gen_str(g, kv[i]);
        json_gen_str(g, kv[i + 1]);
    }
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    _cleanup_free_ char *line = NULL;
    if (asprintf(&line, "%.*s\n", (int)len, buf) >= 0)
        write_line(line, strlen(line));
    yajl_gen_free(g);
}

static bool needs_quotes(const char *v)
{
    return *v == '\0' || strpbrk(v, " \"=\t\n") != NULL;
}

static void write_text(const char *when, enum log_level level, const char *msg, const char *const *kv)
{
    _cleanup_free_ char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f)
        return;
    fprintf(f, "%s %-5s %s", when, level_names[level], msg);
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        const char *v = kv[i + 1];
        if (!needs_quotes(v)) {
            fprintf(f, " %s=%s", kv[i], v);
            continue;
        }
        fprintf(f, " %s=\"", kv[i]);
        for (; *v; v++) {
            if (*v == '\n')
                fputs("\\n", f);
            else if (*v == '"' || *v == '\\')
                fprintf(f, "\\%c", *v);
            else
                fputc(*v, f);
        }
        fputc('"', f);
    }
    fputc('\n', f);
    fclose(f);
    write_line(line, len);
}

void log_write(enum log_level level, const char *msg, const char *const *kv)
{
    if (!log_enabled(level))
        return;
    char when[64];
    format_now(when, sizeof(when));
    if (current_format == LOG_FORMAT_JSON)
        write_json(when, level, msg, kv);
    else
        write_text(when, level, msg, kv);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r >= 0)
        log_write(level, msg, NULL);
}
