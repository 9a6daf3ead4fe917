/* pipeline status: each stage's state and why, as a table or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../stages/stages.h"
#include "cmd.h"
#include "opts.h"

/* Writes the stage's headline metrics as "k=v k=v" into out. */
static void metrics_text(const json_t *rec, char *out, size_t n)
{
	json_t *m = json_object_get(rec, "metrics"), *v;
	const char *key;
	size_t len = 0;

	out[0] = '\0';
	json_object_foreach(m, key, v) {
		if (len >= n)
			break;
		if (json_is_integer(v))
			len += (size_t)snprintf(out + len, n - len, "%s%s=%lld", len ? " " : "", key,
						(long long)json_integer_value(v));
		else if (json_is_number(v))
			len += (size_t)snprintf(out + len, n - len, "%s%s=%.4g", len ? " " : "", key,
						json_number_value(v));
		else if (json_is_string(v))
			len += (size_t)snprintf(out + len, n - len, "%s%s=%s", len ? " " : "", key,
						json_string_value(v));
	}
}

static void print_table(const stage_status *st, int n)
{
	printf("%-9s %-10s %-21s %9s  %s\n", "STAGE", "STATE", "FINISHED", "ELAPSED", "DETAILS");
	for (int i = 0; i < n; i++) {
		const json_t *rec = st[i].record;
		const char *fin = json_string_value(json_object_get(rec, "finished"));
		char secs[32] = "-", details[600];
		if (rec)
			snprintf(secs, sizeof(secs), "%.1f s",
				 json_number_value(json_object_get(rec, "elapsed_s")));
		if (st[i].state == ST_CACHED)
			metrics_text(rec, details, sizeof(details));
		else
			snprintf(details, sizeof(details), "%s", st[i].reason);
		printf("%-9s %-10s %-21s %9s  %s\n", st[i].def->name,
		       st[i].state == ST_CACHED ? "done" : engine_state_name(st[i].state),
		       fin ? fin : "-", secs, details);
	}
}

static void print_json(const stage_status *st, int n, const char *ws)
{
	json_t *stages = json_array();
	char *text;

	for (int i = 0; i < n; i++) {
		const json_t *rec = st[i].record;
		json_array_append_new(stages, json_pack(
			"{s:s,s:s,s:s,s:s,s:O?,s:O?,s:O?}", "stage", st[i].def->name,
			"state", st[i].state == ST_CACHED ? "done" : engine_state_name(st[i].state),
			"reason", st[i].reason, "fingerprint", st[i].fingerprint,
			"finished", json_object_get(rec, "finished"),
			"elapsed_s", json_object_get(rec, "elapsed_s"),
			"metrics", json_object_get(rec, "metrics")));
	}
	text = json_dumps(json_pack("{s:s,s:o}", "workspace", ws, "stages", stages),
			  JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text)
		puts(text);
	free(text);
}

int cmd_status(int argc, char **argv)
{
	stage_status st[8];
	pl_err err = { 0 };
	cfg *c = NULL;
	ws_opts o;
	int rc = opts_parse("status", argc, argv, OPT_JSON, &o);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (o.n_args)
		return cmd_usage_error("status", "unexpected argument '%s'", o.args[0]);
	if ((rc = opts_setup("status", &o, 0, &c)) != 0)
		return rc;
	rc = engine_status(pipeline_stages, pipeline_n_stages, o.ws, c, st, &err);
	if (rc == 0) {
		if (o.json)
			print_json(st, pipeline_n_stages, o.ws);
		else
			print_table(st, pipeline_n_stages);
		engine_status_release(st, pipeline_n_stages);
	}
	cfg_free(c);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}
