/* The module's local error codes, one line each with its README meaning. The README's
 * error table has one row per line here (spec/docs_spec.lua compares them).
 * Codes the gateway sends are passed through verbatim and are not listed. */
#ifndef CBF_ERROR_CODES_H
#define CBF_ERROR_CODES_H

#define CBF_ERROR_CODES(X)                                                                   \
    X(INVALID_ARGUMENT, "bad argument, option or header, or a closed or busy client; "      \
                        "always before any network I/O")                                    \
    X(ENCODE_ERROR, "the payload cannot be JSON")                                           \
    X(PAYLOAD_TOO_LARGE, "the encoded payload is over max_request_size; nothing is sent")   \
    X(TOKEN_ERROR, "the token function failed, or the token holds a control byte")          \
    X(NETWORK_ERROR, "connection refused, reset or closed; a transfer cut short")           \
    X(TIMEOUT, "the connect or the total timeout passed")                                   \
    X(TLS_ERROR, "certificate verification or handshake failure")                          \
    X(RESPONSE_TOO_LARGE, "the body is over max_response_size, or a header line is over "   \
                          "libcurl's limit")                                                 \
    X(INVALID_RESPONSE, "the peer's reply is not valid: not HTTP, a bad status, a 2xx "     \
                        "body that does not decode, a broken compressed body")              \
    X(HTTP_ERROR, "a non-2xx response without the gateway's {code, message} body")         \
    X(TRANSPORT_ERROR, "a Lua transport raised or returned something not a response")       \
    X(OUT_OF_MEMORY, "an allocation failed")                                                \
    X(DECODE_ERROR, "functions.json.decode was given invalid JSON")                         \
    X(CANCELLED, "a started call was cancelled, or its client closed, before it finished") \
    X(AUTH_REFRESH_FAILED, "the auth option's access token could not be refreshed; the "   \
                           "error that needed it is in `cause`")                            \
    X(RANDOM_UNAVAILABLE, "the OS random source failed, so no request id could be made; "  \
                          "nothing is sent")

#define CBF_DECLARE_ERROR_CODE(name, meaning) extern const char CBF_E_##name[];
CBF_ERROR_CODES(CBF_DECLARE_ERROR_CODE)
#undef CBF_DECLARE_ERROR_CODE

#endif
