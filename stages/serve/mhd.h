/* libmicrohttpd, opened with dlopen when `pipeline serve` starts: linked, it
 * and the GnuTLS libraries it needs cost every cold process (predict's
 * fork-per-request above all) thousands of symbol bindings at start. Code
 * that serves includes this header instead of <microhttpd.h> and calls the
 * MHD_ functions by their names. */
#ifndef PL_SERVE_MHD_H
#define PL_SERVE_MHD_H

#include <microhttpd.h>

#include "../../io/err.h"

typedef struct mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_quiesce_daemon) *quiesce_daemon;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_lookup_connection_value) *lookup_connection_value;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
} mhd_api;

/* The functions, set by mhd_load. */
extern mhd_api mhd;

/* Opens libmicrohttpd (once; later calls return the first result). PL_EFAIL
 * naming the library when it or one of its functions is missing. */
int mhd_load(pl_err *err);

#define MHD_start_daemon mhd.start_daemon
#define MHD_stop_daemon mhd.stop_daemon
#define MHD_quiesce_daemon mhd.quiesce_daemon
#define MHD_get_daemon_info mhd.get_daemon_info
#define MHD_create_response_from_buffer mhd.create_response_from_buffer
#define MHD_add_response_header mhd.add_response_header
#define MHD_queue_response mhd.queue_response
#define MHD_destroy_response mhd.destroy_response
#define MHD_lookup_connection_value mhd.lookup_connection_value
#define MHD_suspend_connection mhd.suspend_connection
#define MHD_resume_connection mhd.resume_connection

#endif
