#ifndef HYDRA_CCURL_SHIM_H
#define HYDRA_CCURL_SHIM_H

#include <curl/curl.h>

/*
 * Typed wrappers for libcurl's variadic calls. Swift cannot call C variadic
 * functions, and curl_easy_setopt reads its third argument with va_arg as the
 * type the option documents (long, char *, void *, function pointer), so each
 * wrapper fixes one of those types.
 */

/** Write callback: receives `size * nmemb` bytes, returns the bytes consumed. */
typedef size_t (*hydra_curl_write_callback)(char *data, size_t size, size_t nmemb, void *userdata);

/** Progress callback: a non-zero return aborts the transfer with CURLE_ABORTED_BY_CALLBACK. */
typedef int (*hydra_curl_xferinfo_callback)(void *userdata, curl_off_t download_total,
                                            curl_off_t download_now, curl_off_t upload_total,
                                            curl_off_t upload_now);

/** curl_easy_setopt for options taking a long (CURLOPT_TIMEOUT_MS, CURLOPT_SSL_VERIFYPEER, ...). */
static inline CURLcode hydra_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/** curl_easy_setopt for options taking a C string; libcurl copies the string. */
static inline CURLcode hydra_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/** curl_easy_setopt for options taking an opaque pointer (CURLOPT_WRITEDATA, CURLOPT_XFERINFODATA). */
static inline CURLcode hydra_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/** curl_easy_setopt for CURLOPT_HTTPHEADER and other options taking a curl_slist. */
static inline CURLcode hydra_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/** curl_easy_setopt(CURLOPT_WRITEFUNCTION). */
static inline CURLcode hydra_curl_setopt_write_function(CURL *handle, hydra_curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

/** curl_easy_setopt(CURLOPT_XFERINFOFUNCTION); also sets CURLOPT_NOPROGRESS to 0 so it is called. */
static inline CURLcode hydra_curl_setopt_xferinfo_function(CURL *handle, hydra_curl_xferinfo_callback callback) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
}

/** curl_easy_getinfo for information returned as a long (CURLINFO_RESPONSE_CODE). */
static inline CURLcode hydra_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
