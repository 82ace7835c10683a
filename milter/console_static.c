/*
 * ingress-console: the web page's files (GET / and GET /static/NAME) from console_static_dir.
 *
 * The name comes from the request, so it is checked before anything is opened: one path
 * component of [A-Za-z0-9._-], not starting with '.', with a known type, at most
 * CONSOLE_STATIC_NAME_MAX bytes.  libmicrohttpd has already decoded %XX, so "%2e%2e" and "%2f"
 * arrive here as ".." and "/" and are refused like the plain forms; a path holding an encoded NUL
 * is not decoded at all (console.c's unescape), and its '%' makes the name invalid.  The file is
 * then opened
 * relative to the directory's descriptor with O_NOFOLLOW (a symbolic link planted in the
 * directory is not followed out of it), must be a regular file of at most CONSOLE_STATIC_MAX
 * bytes, and is read whole: the page's files are a few KiB.
 *
 * Every file goes out with a Content-Security-Policy that allows only this host's own scripts and
 * styles (the page has no inline script, and draws its charts as SVG elements from app.js), and
 * with X-Frame-Options and X-Content-Type-Options against framing and type sniffing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "util.h"

#define CONSOLE_STATIC_MAX (1024 * 1024)
#define CONSOLE_STATIC_NAME_MAX 64
#define CONSOLE_STATIC_PREFIX "/static/"

/* The types served, by the name's ending; any other name is not found. */
static const struct {
    const char *ending, *type;
} static_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

static const char *const static_headers[][2] = {
    {"Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"},
    {"X-Frame-Options", "DENY"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    /* small files that change with an upgrade: the browser asks again each time */
    {"Cache-Control", "no-cache"},
};

int console_static_open(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The file's type when name is one this module may serve, else NULL. */
static const char *static_type(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > CONSOLE_STATIC_NAME_MAX || name[0] == '.')
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return NULL;
    }
    if (strstr(name, "..") != NULL)
        return NULL;
    for (size_t i = 0; i < sizeof static_types / sizeof static_types[0]; i++) {
        size_t e = strlen(static_types[i].ending);
        if (n > e && strcmp(name + n - e, static_types[i].ending) == 0)
            return static_types[i].type;
    }
    return NULL;
}

/* The whole file name under the directory dirfd into *out (malloc'd), or false. */
static bool static_read(int dirfd, const char *name, char **out, size_t *len)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return false;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONSOLE_STATIC_MAX) {
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = xmalloc(size + 1);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) { /* shortened while we read: not served half */
        free(buf);
        return false;
    }
    *out = buf;
    *len = size;
    return true;
}

enum MHD_Result console_static(struct console_call *call, const char *url)
{
    const char *name = NULL, *type;
    char *body;
    size_t len;

    if (strcmp(call->method, MHD_HTTP_METHOD_GET) == 0 ||
        strcmp(call->method, MHD_HTTP_METHOD_HEAD) == 0) {
        if (strcmp(url, "/") == 0)
            name = "index.html";
        else if (strncmp(url, CONSOLE_STATIC_PREFIX, strlen(CONSOLE_STATIC_PREFIX)) == 0)
            name = url + strlen(CONSOLE_STATIC_PREFIX);
    }
    if (name == NULL || call->c->static_dir < 0 || (type = static_type(name)) == NULL ||
        !static_read(call->c->static_dir, name, &body, &len))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such page");
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (size_t i = 0; i < sizeof static_headers / sizeof static_headers[0]; i++)
        MHD_add_response_header(r, static_headers[i][0], static_headers[i][1]);
    enum MHD_Result ret = MHD_queue_response(call->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
