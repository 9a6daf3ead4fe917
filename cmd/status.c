/* pipeline status: each stage's state and why, as a table or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../io/fs.h"
#include "../stages/parts.h"
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

/* When the stage failed with the inputs of now, the time it did. */
static const char *failed_at(const stage_status *s)
{
	return s->state == ST_FAILED ? json_string_value(json_object_get(s->failure, "time")) : NULL;
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
		if (failed_at(&st[i])) {   /* not the time of an older result */
			fin = failed_at(&st[i]);
			snprintf(secs, sizeof(secs), "-");
		}
		if (st[i].state == ST_CACHED)
			metrics_text(rec, details, sizeof(details));
		else
			snprintf(details, sizeof(details), "%s", st[i].reason);
		printf("%-9s %-10s %-21s %9s  %s\n", st[i].def->name,
		       st[i].state == ST_CACHED ? "done" : engine_state_name(st[i].state),
		       fin ? fin : "-", secs, details);
	}
}

/* Appends " ARG" to out, quoted for a POSIX shell when it needs it. */
static size_t shell_arg(char *out, size_t len, size_t n, const char *arg)
{
	if (*arg && !arg[strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"0123456789_./=:,@%+-")])
		return len + (size_t)snprintf(out + len, len < n ? n - len : 0, " %s", arg);
	len += (size_t)snprintf(out + len, len < n ? n - len : 0, " '");
	for (; *arg && len < n; arg++)
		len += (size_t)snprintf(out + len, n - len, *arg == '\'' ? "'\\''" : "%c", *arg);
	return len + (size_t)snprintf(out + len, len < n ? n - len : 0, "'");
}

/* The command that redoes shard (I/N) with this status's workspace and
 * configuration options, so that it computes the same fingerprint. */
static void redo_command(const ws_opts *o, const char *shard, char *out, size_t n)
{
	size_t len = (size_t)snprintf(out, n, "pipeline stage prepare --shard %s --workspace", shard);

	len = shell_arg(out, len, n, o->ws);
	if (o->config && len < n) {
		len += (size_t)snprintf(out + len, n - len, " --config");
		len = shell_arg(out, len, n, o->config);
	}
	for (int i = 0; i < o->n_sets && len < n; i++) {
		len += (size_t)snprintf(out + len, n - len, " --set");
		len = shell_arg(out, len, n, o->sets[i]);
	}
}

/* prepare's shard parts (NULL when none): each missing one gets "redo". */
static json_t *shard_parts(const stage_status *st, const ws_opts *o)
{
	json_t *parts = st[0].state == ST_CACHED ? NULL :
			parts_status(o->ws, st[0].fingerprint), *p;
	char cmd[4096];
	size_t i;

	json_array_foreach(json_object_get(parts, "parts"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "state")), "done")) {
			redo_command(o, json_string_value(json_object_get(p, "shard")), cmd, sizeof(cmd));
			json_object_set_new(p, "redo", json_string(cmd));
		}
	return parts;
}

static void print_shards(const json_t *parts)
{
	const json_t *p;
	size_t i;

	if (!parts)
		return;
	printf("\nprepare shards: %lld of %lld done\n",
	       (long long)json_integer_value(json_object_get(parts, "done")),
	       (long long)json_integer_value(json_object_get(parts, "count")));
	json_array_foreach(json_object_get(parts, "parts"), i, p) {
		const char *shard = json_string_value(json_object_get(p, "shard"));
		if (json_object_get(p, "reason"))
			printf("  %-9s failed    %s\n            redo: %s\n", shard,
			       json_string_value(json_object_get(p, "reason")),
			       json_string_value(json_object_get(p, "redo")));
		else if (json_object_get(p, "redo"))
			printf("  %-9s missing   redo: %s\n", shard,
			       json_string_value(json_object_get(p, "redo")));
		else
			printf("  %-9s done      %lld tiles, %.2f MiB, %.1f s, host %s\n", shard,
			       (long long)json_integer_value(json_object_get(p, "tiles")),
			       json_number_value(json_object_get(p, "mib")),
			       json_number_value(json_object_get(p, "elapsed_s")),
			       json_string_value(json_object_get(p, "host")));
	}
}

static void print_json(const stage_status *st, int n, const char *ws, json_t *parts)
{
	json_t *stages = json_array(), *doc;
	char *text;

	for (int i = 0; i < n; i++) {
		const json_t *rec = st[i].record;
		json_array_append_new(stages, json_pack(
			"{s:s,s:s,s:s,s:s,s:s*,s:O?,s:O?,s:O?}", "stage", st[i].def->name,
			"state", st[i].state == ST_CACHED ? "done" : engine_state_name(st[i].state),
			"reason", st[i].reason, "fingerprint", st[i].fingerprint,
			"failed_at", failed_at(&st[i]),
			"finished", json_object_get(rec, "finished"),
			"elapsed_s", json_object_get(rec, "elapsed_s"),
			"metrics", json_object_get(rec, "metrics")));
	}
	if (parts)
		json_object_set(json_array_get(stages, 0), "shards", parts);
	doc = json_pack("{s:s,s:o}", "workspace", ws, "stages", stages);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text)
		puts(text);
	free(text);
}

int cmd_status(int argc, char **argv)
{
	stage_status st[8] = { 0 };
	pl_err err = { 0 };
	cfg *c = NULL;
	ws_opts o;
	int done, rc = opts_parse("status", argc, argv, OPT_JSON | OPT_CONFIG, &o, &done);

	if (done)
		return rc;
	if (o.n_args)
		return cmd_usage_error("status", "unexpected argument '%s'", o.args[0]);
	if ((rc = opts_setup("status", &o, 0, &c)) != 0)
		return rc;
	if (!fs_exists(o.ws))
		log_warn("workspace '%s' does not exist yet: nothing has run there", o.ws);
	rc = engine_status(pipeline_stages, pipeline_n_stages, o.ws, c, 1, st, &err);
	if (rc == 0) {
		json_t *parts = shard_parts(st, &o);
		if (o.json) {
			print_json(st, pipeline_n_stages, o.ws, parts);
		} else {
			print_table(st, pipeline_n_stages);
			print_shards(parts);
		}
		json_decref(parts);
		engine_status_release(st, pipeline_n_stages);
	}
	cfg_free(c);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}
