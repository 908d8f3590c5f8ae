/* Leveled logging to stderr as text or JSON lines. Only crispd's own code logs (DESIGN.md): library
 * code in runtime/ and images/ returns errors instead. */
#ifndef CRISP_LOG_H
#define CRISP_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

int log_level_parse(const char *s, enum log_level *ret_level);
const char *log_level_name(enum log_level level);
int log_format_parse(const char *s, enum log_format *ret_format);
const char *log_format_name(enum log_format format);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_format(enum log_format format);
bool log_enabled(enum log_level level);

/* Writes one line: msg plus key/value pairs from kv (NULL-terminated, even length, may be NULL). */
void log_write(enum log_level level, const char *msg, const char *const *kv);

void log_printf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_printf(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_printf(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_printf(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_printf(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
