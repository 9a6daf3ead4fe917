/* Opening libmicrohttpd at run time (see mhd.h). */
#include "mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define MHD_SONAME "libmicrohttpd.so.12"

mhd_api mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static char mhd_error[256];

static void mhd_open(void)
{
	void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	mhd_api api;

	if (!h) {
		snprintf(mhd_error, sizeof(mhd_error), "cannot load %s: %s", MHD_SONAME, dlerror());
		return;
	}
	*(void **)&api.start_daemon = dlsym(h, "MHD_start_daemon");
	*(void **)&api.stop_daemon = dlsym(h, "MHD_stop_daemon");
	*(void **)&api.quiesce_daemon = dlsym(h, "MHD_quiesce_daemon");
	*(void **)&api.get_daemon_info = dlsym(h, "MHD_get_daemon_info");
	*(void **)&api.create_response_from_buffer = dlsym(h, "MHD_create_response_from_buffer");
	*(void **)&api.add_response_header = dlsym(h, "MHD_add_response_header");
	*(void **)&api.queue_response = dlsym(h, "MHD_queue_response");
	*(void **)&api.destroy_response = dlsym(h, "MHD_destroy_response");
	*(void **)&api.lookup_connection_value = dlsym(h, "MHD_lookup_connection_value");
	*(void **)&api.suspend_connection = dlsym(h, "MHD_suspend_connection");
	*(void **)&api.resume_connection = dlsym(h, "MHD_resume_connection");
	if (!api.start_daemon || !api.stop_daemon || !api.quiesce_daemon || !api.get_daemon_info ||
	    !api.create_response_from_buffer || !api.add_response_header || !api.queue_response ||
	    !api.destroy_response || !api.lookup_connection_value || !api.suspend_connection ||
	    !api.resume_connection) {
		snprintf(mhd_error, sizeof(mhd_error), "%s lacks a function this program calls",
			 MHD_SONAME);
		return;
	}
	mhd = api;
}

int mhd_load(pl_err *err)
{
	pthread_once(&mhd_once, mhd_open);
	return mhd_error[0] ? pl_errorf(err, PL_EFAIL, "%s", mhd_error) : 0;
}
