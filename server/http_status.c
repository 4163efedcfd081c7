/* http_status.c - the names HTTP gives its status codes and methods, for
 * status lines and metric labels (server/http_int.h). */
#include "server/http_int.h"

const char *tr_http__status_text(int status)
{
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 413:
            return "Request Entity Too Large";
        case 415:
            return "Unsupported Media Type";
        case 422:
            return "Unprocessable Entity";
        case 426:
            return "Upgrade Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 499:
            return "Client Closed Request";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Status";
    }
}

const char *tr_http__method_name(enum tr_http_method m)
{
    switch (m) {
        case TR_HTTP_GET:
            return "GET";
        case TR_HTTP_POST:
            return "POST";
        case TR_HTTP_PUT:
            return "PUT";
        case TR_HTTP_DELETE:
            return "DELETE";
        case TR_HTTP_HEAD:
            return "HEAD";
        case TR_HTTP_OPTIONS:
            return "OPTIONS";
        case TR_HTTP_PATCH:
            return "PATCH";
        default:
            return "OTHER";
    }
}
