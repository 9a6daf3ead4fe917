/* The fleet's queue URLs and a queue that is not there (no Redis needed;
 * tests/cli/test_fleet.sh runs the protocol against a real redis-server). */
#include "check.h"

#include "../stages/fleet/fleet.h"

static void test_url(void)
{
	pl_err err = { 0 };
	fleet_url u;

	CHECK_OK(fleet_url_parse("redis://queue.ml", &u, &err), &err);
	CHECK(!strcmp(u.host, "queue.ml") && u.port == 6379 && u.db == 0, "%s %d %d", u.host, u.port, u.db);
	CHECK_OK(fleet_url_parse("redis://10.0.0.7:6380/3", &u, &err), &err);
	CHECK(!strcmp(u.host, "10.0.0.7") && u.port == 6380 && u.db == 3, "%s %d %d", u.host, u.port, u.db);
	CHECK_OK(fleet_url_parse("redis://h/", &u, &err), &err);
	CHECK(u.db == 0, "trailing slash: db %d", u.db);
}

static void test_bad_url(void)
{
	static const char *const bad[] = {
		"http://h", "redis://", "redis://:6379", "redis://h:0", "redis://h:99999",
		"redis://h:12x", "redis://h/x", "h:6379",
	};
	pl_err err = { 0 };
	fleet_url u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pl_errclear(&err);
		CHECK(fleet_url_parse(bad[i], &u, &err) == -PL_EUSAGE && strstr(err.msg, bad[i]),
		      "'%s': %s", bad[i], err.msg);
	}
	CHECK(fleet_url_parse("redis://user:secret@h", &u, &err) == -PL_EUSAGE && !strstr(err.msg, "secret"),
	      "credentials not repeated: %s", err.msg);
	CHECK(fleet_url_parse("rediss://h", &u, &err) == -PL_EUSAGE && strstr(err.msg, "TLS"),
	      "rediss: %s", err.msg);
}

static void test_no_server(void)
{
	fleet_limits l = { .prefix = "t", .lease_s = 2, .reconnect_max_s = 1 };
	pl_err err = { 0 };
	fleet_conn *f = NULL;
	fleet_url u;

	CHECK_OK(fleet_url_parse("redis://127.0.0.1:1", &u, &err), &err);
	CHECK(fleet_connect(&u, &l, &f, &err) == -PL_ETEMP && !f && strstr(err.msg, "127.0.0.1:1"),
	      "no server: %s", err.msg);
	fleet_disconnect(NULL);
}

int main(void)
{
	RUN(test_url);
	RUN(test_bad_url);
	RUN(test_no_server);
	return check_report("test_fleet_url");
}
