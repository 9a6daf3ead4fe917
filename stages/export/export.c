/* pipeline export: Kubeflow component specs, an Argo Workflow and Kubernetes
 * objects that run the stages in containers on one shared workspace volume. */
#include "export.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../io/fs.h"
#include "../../io/json.h"
#include "../stages.h"

/* Retried: a temporary failure (75), a stop by SIGTERM (130: eviction,
 * preemption, node drain) and a pod lost without an exit code (Error). */
#define RETRY_EXPRESSION "lastRetry.status == \"Error\" || asInt(lastRetry.exitCode) == 75 || " \
	"asInt(lastRetry.exitCode) == 130"
#define RETRY_LIMIT 3
#define UI_DIR "/tmp/outputs"   /* in the validate container: the Kubeflow UI files */

/* Names derived once from the options. */
typedef struct ctx {
	const export_opts *o;
	char ws_path[64];      /* /workspace/NAME, the mount and PIPELINE_WORKSPACE */
	char prepare_job[64];  /* pipeline-NAME-prepare */
	char run_job[64];      /* pipeline-NAME-run */
	char generate[64];     /* pipeline-NAME- (Workflow generateName) */
	char train_job[64];    /* pipeline-NAME-train (the MPIJob) */
} ctx;


static const char *opt(const char *s)
{
	return s && *s ? s : NULL;
}

void export_defaults(export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->image = "";
	o->namespace_name = "";
	o->pvc = "pipeline-workspace";
	o->workspace_name = "demo";
	o->storage = "10Gi";
	o->storage_class = "";
	o->cpu = "2";
	o->memory = "4Gi";
	o->cpu_limit = "";
	o->memory_limit = "";
	o->service_account = "";
	o->config = EXPORT_CONFIG_PATH;
	o->set = "";
	o->shards = 4;
	o->workers = 0;
	o->slots_per_worker = 1;
	o->queue_url = "";
	o->queue_prefix = "pipeline";
	o->lease_s = 30;
	o->grace_s = 20;
	o->max_workers = 10;
}

/* ---- checks ----------------------------------------------------------- */

static int is_alnum_lower(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* An RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max chars. */
static int is_dns_label(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max || !is_alnum_lower(s[0]) ||
	    !is_alnum_lower(s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* An RFC 1123 subdomain: labels joined by '.', at most 253 chars. */
static int is_dns_subdomain(const char *s)
{
	size_t total = strlen(s);

	if (total == 0 || total > 253)
		return 0;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (!is_dns_label(p, len, 63))
			return 0;
		if (!dot)
			return 1;
		p = dot + 1;
	}
}

/* The value of a Kubernetes quantity without sign (1, 0.5, 500m, 2Gi,
 * 1e3), or -1 when s is not one. */
static double quantity(const char *s)
{
	static const struct { const char *suffix; double scale; } units[] = {
		{ "", 1 }, { "m", 1e-3 }, { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 },
		{ "T", 1e12 }, { "P", 1e15 }, { "E", 1e18 }, { "Ki", 0x1p10 }, { "Mi", 0x1p20 },
		{ "Gi", 0x1p30 }, { "Ti", 0x1p40 }, { "Pi", 0x1p50 }, { "Ei", 0x1p60 }
	};
	const char *start = s;
	size_t digits = 0;

	while (*s >= '0' && *s <= '9')
		s++, digits++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	if (digits == 0)
		return -1;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9')
			s++;
		return *s == '\0' ? strtod(start, NULL) : -1;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s, units[i].suffix) == 0)
			return strtod(start, NULL) * units[i].scale;
	return -1;
}

static int has_space_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 1;
	return 0;
}

static int bad(pl_err *err, const char *what, const char *value,
	       const char *flag, const char *key, const char *rule)
{
	return pl_errorf(err, PL_EUSAGE, "invalid %s '%s' (%s, [cluster] %s): %s",
			 what, value, flag, key, rule);
}

/* Each ';'-separated override must look like sec.key=value. */
static int check_overrides(const char *set, pl_err *err)
{
	const char *p = set;

	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		const char *dot = memchr(p, '.', eq ? (size_t)(eq - p) : len);
		if (len > 0 && (!eq || !dot || dot == p || dot + 1 == eq))
			return pl_errorf(err, PL_EUSAGE,
					 "invalid override '%.*s' (--set): write "
					 "section.key=value, several separated by ';'",
					 (int)len, p);
		p += len + (end != NULL);
	}
	for (p = set; *p; p++)
		if ((unsigned char)*p < ' ')
			return pl_errorf(err, PL_EUSAGE, "invalid override '%s' "
					 "(--set): control characters are not allowed", set);
	return 0;
}

static int check_names(const export_opts *o, pl_err *err)
{
	const char *label_rule = "use lowercase letters, digits and '-', "
				 "starting and ending with a letter or digit";

	if (!opt(o->image))
		return pl_errorf(err, PL_EUSAGE, "no container image: give --image "
				 "IMAGE (or image in [cluster]), e.g. "
				 "registry.example.com/pipeline:1.0");
	if (strlen(o->image) > 512 || has_space_or_control(o->image))
		return bad(err, "image", o->image, "--image", "image",
			   "an image reference has no spaces and at most 512 characters");
	if (!o->workspace_name || !is_dns_label(o->workspace_name,
						strlen(o->workspace_name), EXPORT_MAX_NAME))
		return bad(err, "workspace name", o->workspace_name ? o->workspace_name : "",
			   "--workspace-name", "workspace_name",
			   "use at most 40 lowercase letters, digits and '-', starting "
			   "and ending with a letter or digit");
	if (!o->pvc || !is_dns_subdomain(o->pvc))
		return bad(err, "claim name", o->pvc ? o->pvc : "", "--pvc", "pvc",
			   label_rule);
	if (opt(o->namespace_name) && !is_dns_label(o->namespace_name,
						    strlen(o->namespace_name), 63))
		return bad(err, "namespace", o->namespace_name, "--namespace",
			   "namespace", label_rule);
	if (opt(o->service_account) && !is_dns_subdomain(o->service_account))
		return bad(err, "service account", o->service_account,
			   "--service-account", "service_account", label_rule);
	if (opt(o->storage_class) && !is_dns_subdomain(o->storage_class))
		return bad(err, "storage class", o->storage_class, "--storage-class",
			   "storage_class", label_rule);
	return 0;
}

static int check_resources(const export_opts *o, pl_err *err)
{
	const char *rule = "write a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi";

	if (!opt(o->storage) || quantity(o->storage) < 0)
		return bad(err, "storage size", o->storage ? o->storage : "",
			   "--storage", "storage", rule);
	if (quantity(o->storage) < 0x1p20)
		return bad(err, "storage size", o->storage, "--storage", "storage",
			   "give at least 1Mi (a bare number is bytes), e.g. 10Gi");
	if (opt(o->cpu) && quantity(o->cpu) < 0)
		return bad(err, "cpu request", o->cpu, "--cpu", "cpu", rule);
	if (opt(o->memory) && quantity(o->memory) < 0)
		return bad(err, "memory request", o->memory, "--memory", "memory", rule);
	if (opt(o->cpu_limit) && quantity(o->cpu_limit) < 0)
		return bad(err, "cpu limit", o->cpu_limit, "--cpu-limit", "cpu_limit", rule);
	if (opt(o->memory_limit) && quantity(o->memory_limit) < 0)
		return bad(err, "memory limit", o->memory_limit, "--memory-limit",
			   "memory_limit", rule);
	if (opt(o->cpu) && opt(o->cpu_limit) && quantity(o->cpu) > quantity(o->cpu_limit))
		return pl_errorf(err, PL_EUSAGE, "cpu request %s is above the cpu limit %s "
				 "(Kubernetes refuses such pods): lower --cpu or raise --cpu-limit",
				 o->cpu, o->cpu_limit);
	if (opt(o->memory) && opt(o->memory_limit) && quantity(o->memory) > quantity(o->memory_limit))
		return pl_errorf(err, PL_EUSAGE, "memory request %s is above the memory limit %s "
				 "(Kubernetes refuses such pods): lower --memory or raise "
				 "--memory-limit", o->memory, o->memory_limit);
	if (o->shards < 1 || o->shards > EXPORT_MAX_SHARDS)
		return pl_errorf(err, PL_EUSAGE, "invalid shard count %d (--shards, "
				 "[cluster] shards): give a whole number from 1 to %d",
				 o->shards, EXPORT_MAX_SHARDS);
	return 0;
}

int export_check(const export_opts *o, pl_err *err)
{
	int rc;

	if ((rc = check_names(o, err)) < 0 || (rc = check_resources(o, err)) < 0)
		return rc;
	if (o->workers < 0 || o->workers > EXPORT_MAX_WORKERS)
		return pl_errorf(err, PL_EUSAGE, "--workers %d: give 1 to %d", o->workers,
				 EXPORT_MAX_WORKERS);
	if (o->slots_per_worker < 1 || o->slots_per_worker > EXPORT_MAX_SLOTS)
		return pl_errorf(err, PL_EUSAGE, "--slots-per-worker %d: give 1 to %d",
				 o->slots_per_worker, EXPORT_MAX_SLOTS);
	if (!o->config || o->config[0] != '/' || has_space_or_control(o->config))
		return bad(err, "config path", o->config ? o->config : "", "--config",
			   "config", "give the absolute path of the config file "
			   "inside the container, without spaces");
	return check_overrides(o->set ? o->set : "", err);
}

/* ---- pieces shared by every kind --------------------------------------- */

/* Sets key to val in obj (taking val); returns -1 when val is NULL (an
 * allocation failed further down) or the insertion fails. */
static int put(json_t *obj, const char *key, json_t *val)
{
	return val ? json_object_set_new(obj, key, val) : -1;
}

/* Appends val (taken) to arr; -1 as for put. */
static int push(json_t *arr, json_t *val)
{
	return val ? json_array_append_new(arr, val) : -1;
}

static json_t *labels(const ctx *c, const char *component)
{
	return json_pack("{s:s, s:s, s:s}",
			 "app.kubernetes.io/name", "pipeline",
			 "app.kubernetes.io/instance", c->o->workspace_name,
			 "app.kubernetes.io/component", component);
}

/* ObjectMeta; name_key is "name" or "generateName". */
static json_t *metadata(const ctx *c, const char *name_key, const char *name,
			const char *component)
{
	return json_pack("{s:s, s:s*, s:o}", name_key, name,
			 "namespace", opt(c->o->namespace_name),
			 "labels", labels(c, component));
}

/* The container environment; set NULL leaves PIPELINE_SET out. */
static json_t *env(const ctx *c, const char *config, const char *set)
{
	json_t *list = json_pack("[{s:s, s:s}, {s:s, s:s}]",
				 "name", "PIPELINE_WORKSPACE", "value", c->ws_path,
				 "name", "PIPELINE_CONFIG", "value", config);
	int failed = list == NULL;

	if (!failed && set)
		failed |= push(list, json_pack("{s:s, s:s}", "name", "PIPELINE_SET",
					       "value", set));
	if (!failed)
		failed |= push(list, json_pack("{s:s, s:s}", "name",
					       "PIPELINE_LOG_FORMAT", "value", "json"));
	if (failed) {
		json_decref(list);
		return NULL;
	}
	return list;
}

static json_t *resources(const export_opts *o)
{
	const char *memory_limit = opt(o->memory_limit) ? o->memory_limit : opt(o->memory);

	return json_pack("{s:{s:s*, s:s*}, s:{s:s*, s:s*}}",
			 "requests", "cpu", opt(o->cpu), "memory", opt(o->memory),
			 "limits", "cpu", opt(o->cpu_limit), "memory", memory_limit);
}

/* A Kubernetes Container running `pipeline ARGS...`; name may be NULL
 * (Argo names its containers itself). args is taken. */
static json_t *container(const ctx *c, const char *name, json_t *args,
			 const char *config, const char *set)
{
	return json_pack("{s:s*, s:s, s:[s], s:o, s:o, s:o, s:[{s:s, s:s, s:s}], "
			 "s:{s:b, s:{s:[s]}}}",
			 "name", name, "image", c->o->image, "command", "pipeline",
			 "args", args, "env", env(c, config, set),
			 "resources", resources(c->o),
			 "volumeMounts", "name", "workspace", "mountPath", c->ws_path,
			 "subPath", c->o->workspace_name,
			 "securityContext", "allowPrivilegeEscalation", 0,
			 "capabilities", "drop", "ALL");
}

/* Meets the "restricted" Pod Security Standard; fsGroup makes the claim
 * writable by the image's non-root user. */
static json_t *pod_security(void)
{
	return json_pack("{s:b, s:i, s:i, s:i, s:s, s:{s:s}}",
			 "runAsNonRoot", 1, "runAsUser", EXPORT_UID,
			 "runAsGroup", EXPORT_UID, "fsGroup", EXPORT_UID,
			 "fsGroupChangePolicy", "OnRootMismatch",
			 "seccompProfile", "type", "RuntimeDefault");
}

static json_t *volumes(const ctx *c)
{
	return json_pack("[{s:s, s:{s:s}}]", "name", "workspace",
			 "persistentVolumeClaim", "claimName", c->o->pvc);
}

/* `stage [--shard I/N] NAME`: options go before the stage name, which
 * every getopt mode accepts. */
static json_t *stage_args(const char *stage, const char *shard)
{
	if (shard)
		return json_pack("[s, s, s, s]", "stage", "--shard", shard, stage);
	return json_pack("[s, s]", "stage", stage);
}

/* ---- Argo Workflow ------------------------------------------------------ */

static json_t *argo_retry(void)
{
	char limit[16];

	snprintf(limit, sizeof(limit), "%d", RETRY_LIMIT);
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}",
			 "limit", limit, "retryPolicy", "Always",
			 "expression", RETRY_EXPRESSION,
			 "backoff", "duration", "30s", "factor", "2", "cap", "5m");
}

/* The Kubeflow UI reads these two outputs of the validate step, which
 * copies them into the container (PIPELINE_UI_DIR) from the result it
 * judged: passed, cached, or below the gate. */
static json_t *argo_validate_outputs(void)
{
	return json_pack("{s:[{s:s, s:s, s:b}, {s:s, s:s, s:b}]}", "artifacts",
			 "name", "mlpipeline-ui-metadata", "path", UI_DIR "/mlpipeline-ui-metadata.json",
			 "optional", 1,
			 "name", "mlpipeline-metrics", "path", UI_DIR "/mlpipeline-metrics.json",
			 "optional", 1);
}

/* The container template of one stage; "prepare-shard" takes the input
 * parameter shard ("I/N"). */
static json_t *argo_template(const ctx *c, const char *name)
{
	int shard = strcmp(name, "prepare-shard") == 0;
	const char *stage = shard ? "prepare" : name;
	json_t *t = json_pack("{s:s, s:{s:o}}", "name", name,
			      "metadata", "labels", labels(c, name));
	int failed = t == NULL;

	if (!failed && shard)
		failed |= put(t, "inputs", json_pack("{s:[{s:s, s:s}]}", "parameters",
						     "name", "shard", "description",
						     "this task's share of prepare, I/N"));
	if (!failed)
		failed |= put(t, "retryStrategy", argo_retry());
	if (!failed)
		failed |= put(t, "container", container(c, NULL,
			stage_args(stage, shard ? "{{inputs.parameters.shard}}" : NULL),
			"{{workflow.parameters.config}}", "{{workflow.parameters.set}}"));
	if (!failed && strcmp(name, "validate") == 0) {
		failed |= put(t, "outputs", argo_validate_outputs());
		failed |= push(json_object_get(json_object_get(t, "container"), "env"),
			       json_pack("{s:s, s:s}", "name", "PIPELINE_UI_DIR", "value", UI_DIR));
	}
	if (failed) {
		json_decref(t);
		return NULL;
	}
	return t;
}

/* N shard tasks, then prepare (assembly) after all of them, then the rest
 * of the stages one after another. A shard that fails for good does not
 * stop the workflow: the assembly redoes its share itself. */
static json_t *argo_dag(const ctx *c)
{
	json_t *tasks = json_array(), *after = json_array();
	char name[32], share[32];
	int failed = !tasks || !after;

	for (int i = 0; !failed && i < c->o->shards; i++) {
		snprintf(name, sizeof(name), "prepare-shard-%d", i);
		snprintf(share, sizeof(share), "%d/%d", i, c->o->shards);
		failed |= push(tasks, json_pack("{s:s, s:s, s:{s:[{s:s, s:s}]}, s:{s:b, s:b}}",
			"name", name, "template", "prepare-shard", "arguments",
			"parameters", "name", "shard", "value", share,
			"continueOn", "failed", 1, "error", 1));
		failed |= push(after, json_string(name));
	}
	for (int i = 0; !failed && i < pipeline_n_stages; i++) {
		const char *name = pipeline_stages[i].name;
		failed |= push(tasks, json_pack("{s:s, s:s, s:O}", "name", name,
						"template", name, "dependencies", after));
		json_decref(after);
		after = json_pack("[s]", name);
		failed |= after == NULL;
	}
	json_decref(after);
	if (failed) {
		json_decref(tasks);
		return NULL;
	}
	return json_pack("{s:s, s:{s:o}}", "name", "pipeline", "dag", "tasks", tasks);
}

static json_t *mpijob(const ctx *c, int generate);

/* With workers, train is a resource template: it creates the MPIJob and
 * waits until its launcher succeeded (or failed, after the job's own
 * retries). */
static json_t *argo_train_mpijob(const ctx *c)
{
	json_t *job = mpijob(c, 1), *t = NULL;
	char *manifest = job ? json_dumps(job, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	if (manifest)
		t = json_pack("{s:s, s:{s:o}, s:{s:s, s:b, s:s, s:s, s:s}}", "name", "train",
			      "metadata", "labels", labels(c, "train"), "resource",
			      "action", "create", "setOwnerReference", 1,
			      "successCondition", "status.replicaStatuses.Launcher.succeeded > 0",
			      "failureCondition", "status.replicaStatuses.Launcher.failed > 0",
			      "manifest", manifest);
	free(manifest);
	json_decref(job);
	return t;
}

static json_t *argo_templates(const ctx *c)
{
	json_t *list = json_array();
	int failed = !list;

	if (!failed)
		failed |= push(list, argo_dag(c));
	if (!failed)
		failed |= push(list, argo_template(c, "prepare-shard"));
	for (int i = 0; !failed && i < pipeline_n_stages; i++)
		failed |= push(list, c->o->workers > 0 && !strcmp(pipeline_stages[i].name, "train") ?
			       argo_train_mpijob(c) : argo_template(c, pipeline_stages[i].name));
	if (failed) {
		json_decref(list);
		return NULL;
	}
	return list;
}

static json_t *argo_workflow(const ctx *c)
{
	const export_opts *o = c->o;
	json_t *params = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]",
		"name", "config", "value", o->config, "description",
		"config file inside the container (PIPELINE_CONFIG)",
		"name", "set", "value", o->set ? o->set : "", "description",
		"config overrides section.key=value, several separated by ';' "
		"(PIPELINE_SET)");

	return json_pack("{s:s, s:s, s:o, s:{s:s, s:{s:o}, s:s*, s:o, s:o, s:o}}",
			 "apiVersion", "argoproj.io/v1alpha1", "kind", "Workflow",
			 "metadata", metadata(c, "generateName", c->generate, "workflow"),
			 "spec", "entrypoint", "pipeline",
			 "arguments", "parameters", params,
			 "serviceAccountName", opt(o->service_account),
			 "securityContext", pod_security(),
			 "volumes", volumes(c),
			 "templates", argo_templates(c));
}

/* ---- Kubernetes objects ------------------------------------------------- */

static json_t *k8s_pvc(const ctx *c)
{
	const export_opts *o = c->o;

	return json_pack("{s:s, s:s, s:o, s:{s:[s], s:s*, s:{s:{s:s}}}}",
			 "apiVersion", "v1", "kind", "PersistentVolumeClaim",
			 "metadata", metadata(c, "name", o->pvc, "workspace"),
			 "spec", "accessModes", "ReadWriteMany",
			 "storageClassName", opt(o->storage_class),
			 "resources", "requests", "storage", o->storage);
}

/* Evicted or preempted pods are retried for free; exit 75 counts against
 * the backoff limit; any other failure is final at once. */
static json_t *failure_policy(const char *container_name, const char *action)
{
	return json_pack("{s:[{s:s, s:[{s:s, s:s}]}, {s:s, s:{s:s, s:s, s:[i]}}]}",
			 "rules", "action", "Ignore", "onPodConditions",
			 "type", "DisruptionTarget", "status", "True",
			 "action", action, "onExitCodes", "containerName", container_name,
			 "operator", "NotIn", "values", 75);
}

static json_t *k8s_pod_template(const ctx *c, const char *component,
				json_t *main_container)
{
	const export_opts *o = c->o;

	return json_pack("{s:{s:o}, s:{s:s, s:s*, s:o, s:o, s:[o]}}",
			 "metadata", "labels", labels(c, component),
			 "spec", "restartPolicy", "Never",
			 "serviceAccountName", opt(o->service_account),
			 "securityContext", pod_security(),
			 "volumes", volumes(c), "containers", main_container);
}

/* One pod per shard; the Job controller gives each JOB_COMPLETION_INDEX. */
static json_t *k8s_prepare_job(const ctx *c)
{
	char share[64];

	snprintf(share, sizeof(share), "$(JOB_COMPLETION_INDEX)/%d", c->o->shards);
	return json_pack("{s:s, s:s, s:o, s:{s:s, s:i, s:i, s:i, s:o, s:o}}",
			 "apiVersion", "batch/v1", "kind", "Job",
			 "metadata", metadata(c, "name", c->prepare_job, "prepare"),
			 "spec", "completionMode", "Indexed",
			 "completions", c->o->shards, "parallelism", c->o->shards,
			 "backoffLimitPerIndex", RETRY_LIMIT,
			 "podFailurePolicy", failure_policy("prepare", "FailIndex"),
			 "template", k8s_pod_template(c, "prepare",
				container(c, "prepare", stage_args("prepare", share),
					  c->o->config, opt(c->o->set))));
}

/* `pipeline run` for the rest; created suspended so that it starts only
 * once the shards are done (Jobs have no dependencies of their own). */
static json_t *k8s_run_job(const ctx *c)
{
	char note[512];
	json_t *job, *meta = metadata(c, "name", c->run_job, "run");

	snprintf(note, sizeof(note), "created suspended: resume it when job %s has "
		 "completed: kubectl patch job %s --type=merge -p "
		 "'{\"spec\":{\"suspend\":false}}'", c->prepare_job, c->run_job);
	if (put(meta, "annotations", json_pack("{s:s}", "kubernetes.io/description",
					       note)) < 0) {
		json_decref(meta);
		return NULL;
	}
	job = json_pack("{s:s, s:s, s:o, s:{s:b, s:i, s:o, s:o}}",
			"apiVersion", "batch/v1", "kind", "Job", "metadata", meta,
			"spec", "suspend", 1, "backoffLimit", RETRY_LIMIT,
			"podFailurePolicy", failure_policy("run", "FailJob"),
			"template", k8s_pod_template(c, "run",
				container(c, "run", json_pack("[s]", "run"),
					  c->o->config, opt(c->o->set))));
	return job;
}

/* ---- Kubeflow MPIJob ---------------------------------------------------- */

/* The launcher: mpirun over every slot of the workers, passing the
 * environment on; it trains nothing itself, so it asks for little. */
static json_t *mpi_launcher(const ctx *c, int generate)
{
	char np[16];
	json_t *args, *ct;

	snprintf(np, sizeof(np), "%d", c->o->workers * c->o->slots_per_worker);
	args = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s]", "-np", np,
			 "--bind-to", "none", "-x", "PIPELINE_WORKSPACE", "-x", "PIPELINE_CONFIG",
			 "-x", "PIPELINE_SET", "-x", "PIPELINE_LOG_FORMAT", "pipeline", "stage",
			 "train", "--workspace", c->ws_path);
	ct = container(c, "launcher", args, generate ? "{{workflow.parameters.config}}" :
		       c->o->config, generate ? "{{workflow.parameters.set}}" : c->o->set);
	if (put(ct, "command", json_pack("[s]", "mpirun")) < 0 ||
	    put(ct, "resources", json_pack("{s:{s:s, s:s}}", "requests", "cpu", "100m",
					   "memory", "256Mi")) < 0) {
		json_decref(ct);
		return NULL;
	}
	json_object_del(ct, "volumeMounts");
	return ct;
}

/* A worker: the image's sshd (port 2222, keys the operator mounts at
 * EXPORT_MOUNT_ROOT/.ssh), through which the launcher starts the ranks. */
static json_t *mpi_worker(const ctx *c)
{
	json_t *ct = container(c, "worker", json_pack("[s, s, s]", "-De", "-f",
						      "/etc/pipeline/sshd_config"),
			       c->o->config, c->o->set);

	if (put(ct, "command", json_pack("[s]", "/usr/sbin/sshd")) < 0) {
		json_decref(ct);
		return NULL;
	}
	return ct;
}

static json_t *mpi_replica(const ctx *c, const char *component, int replicas,
			   const char *restart, json_t *main_container)
{
	json_t *pod = k8s_pod_template(c, component, main_container);

	if (pod)
		json_object_del(json_object_get(pod, "spec"), "restartPolicy");
	return json_pack("{s:i, s:s, s:o}", "replicas", replicas, "restartPolicy", restart,
			 "template", pod);
}

/* The MPIJob: a launcher and o->workers workers of o->slots_per_worker
 * ranks each; generate names it for a workflow (generateName). */
static json_t *mpijob(const ctx *c, int generate)
{
	char sshdir[64];

	snprintf(sshdir, sizeof(sshdir), "%s/.ssh", EXPORT_MOUNT_ROOT);
	return json_pack("{s:s, s:s, s:o, s:{s:i, s:s, s:s, s:s, s:{s:i, s:s}, "
			 "s:{s:o, s:o}}}",
			 "apiVersion", "kubeflow.org/v2beta1", "kind", "MPIJob",
			 "metadata", metadata(c, generate ? "generateName" : "name",
					      generate ? c->generate : c->train_job, "train"),
			 "spec", "slotsPerWorker", c->o->slots_per_worker,
			 "mpiImplementation", "OpenMPI",
			 "launcherCreationPolicy", "WaitForWorkersReady",
			 "sshAuthMountPath", sshdir,
			 "runPolicy", "backoffLimit", RETRY_LIMIT, "cleanPodPolicy", "Running",
			 "mpiReplicaSpecs",
			 "Launcher", mpi_replica(c, "train-launcher", 1, "OnFailure",
						 mpi_launcher(c, generate)),
			 "Worker", mpi_replica(c, "train-worker", c->o->workers, "Never",
					       mpi_worker(c)));
}

/* ---- Kubeflow components ------------------------------------------------ */

static const char *kfp_description(const char *name)
{
	if (strcmp(name, "prepare-shard") == 0)
		return "Prepares one share (shard I/N) of the dataset into the "
		       "workspace; run N of them in parallel, then prepare.";
	if (strcmp(name, "prepare") == 0)
		return "Prepares the dataset into the workspace (assembling the "
		       "shards when there are some); cached when nothing changed.";
	if (strcmp(name, "train") == 0)
		return "Trains the classifier; resumes from its last epoch checkpoint.";
	if (strcmp(name, "validate") == 0)
		return "Validates the model and fails (exit 3) when the gate is not "
		       "met; writes the Kubeflow metrics and UI metadata.";
	return "Packages the validated model as a servable archive.";
}

static json_t *kfp_inputs(const ctx *c, int shard)
{
	json_t *list = json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}, "
				 "{s:s, s:s, s:s, s:s, s:b}]",
		"name", "workspace", "type", "String", "description",
		"workspace directory; mount the claim there (PIPELINE_WORKSPACE)",
		"default", c->ws_path,
		"name", "config", "type", "String", "description",
		"config file inside the container", "default", c->o->config,
		"name", "set", "type", "String", "description",
		"config overrides section.key=value, several separated by ';'",
		"default", c->o->set ? c->o->set : "", "optional", 1);

	if (list && shard && json_array_insert_new(list, 0, json_pack(
		"{s:s, s:s, s:s}", "name", "shard", "type", "String",
		"description", "this task's share of prepare, I/N (I from 0)")) < 0) {
		json_decref(list);
		return NULL;
	}
	return list;
}

/* `stage --workspace W --config C --set S [--shard I/N] NAME`, options
 * first as in stage_args. The overrides go in as an argument, not the
 * environment: the KFP SDK takes only constant environment values. */
static json_t *kfp_args(const char *name, int shard)
{
	if (shard)
		return json_pack("[s, s, {s:s}, s, {s:s}, s, {s:s}, s, {s:s}, s]", "stage",
				 "--workspace", "inputValue", "workspace",
				 "--config", "inputValue", "config", "--set", "inputValue", "set",
				 "--shard", "inputValue", "shard", "prepare");
	return json_pack("[s, s, {s:s}, s, {s:s}, s, {s:s}, s]", "stage",
			 "--workspace", "inputValue", "workspace",
			 "--config", "inputValue", "config", "--set", "inputValue", "set", name);
}

/* The Kubeflow UI picks up the files validate copies to PIPELINE_UI_DIR. */
static json_t *kfp_output_paths(void)
{
	return json_pack("{s:s, s:s}", "MLPipeline UI metadata", UI_DIR "/mlpipeline-ui-metadata.json",
			 "MLPipeline Metrics", UI_DIR "/mlpipeline-metrics.json");
}

static json_t *kfp_component(const ctx *c, const char *name)
{
	int shard = strcmp(name, "prepare-shard") == 0;
	int validate = strcmp(name, "validate") == 0;
	char title[64];
	json_t *spec, *box;
	int failed;

	snprintf(title, sizeof(title), "pipeline %s", name);
	spec = json_pack("{s:s, s:s, s:o}", "name", title,
			 "description", kfp_description(name),
			 "inputs", kfp_inputs(c, shard));
	box = json_pack("{s:s, s:[s], s:o, s:{s:s}}",
			"image", c->o->image, "command", "pipeline",
			"args", kfp_args(name, shard),
			"env", "PIPELINE_LOG_FORMAT", "json");
	failed = !spec || !box;
	if (!failed && validate) {
		failed |= put(spec, "outputs", json_pack("[{s:s, s:s}, {s:s, s:s}]",
			"name", "MLPipeline UI metadata", "type", "UI metadata",
			"name", "MLPipeline Metrics", "type", "Metrics"));
		failed |= put(box, "unconfigurableOutputPaths", kfp_output_paths());
		failed |= put(json_object_get(box, "env"), "PIPELINE_UI_DIR", json_string(UI_DIR));
	}
	if (!failed)
		failed |= put(spec, "implementation", json_pack("{s:O}", "container", box));
	json_decref(box);
	if (failed) {
		json_decref(spec);
		return NULL;
	}
	return spec;
}

/* ---- writing ------------------------------------------------------------ */

/* One output file: its name inside the --out directory and its document. */
typedef struct export_item {
	const char *file;
	json_t *doc;
} export_item;

/* Writes doc as JSON (io/json.h) to path (replaced atomically), or to
 * stdout when path is NULL. */
static int write_json(const json_t *doc, const char *path, pl_err *err)
{
	char *text;
	size_t len;
	int rc = 0;

	if (!doc)
		return pl_errorf(err, PL_ENOMEM, "out of memory building the manifests");
	if (path)
		return json_write_atomic(path, doc, err);
	if (!(text = json_format(doc, &len)))
		return pl_errorf(err, PL_ENOMEM, "out of memory writing the manifests");
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		rc = pl_errorf(err, PL_EIO, "cannot write the manifests to "
			       "standard output: %s", strerror(errno));
	free(text);
	return rc;
}

/* A redis:// URL with a host (fleet_url_parse checks the rest). */
static int o_has_queue(const export_opts *o)
{
	return o->queue_url && !strncmp(o->queue_url, "redis://", 8) && o->queue_url[8] &&
	       o->queue_url[8] != '/' && o->queue_prefix && *o->queue_prefix && o->max_workers > 0;
}

static int wants_dir(const char *out)
{
	size_t len = strlen(out);

	return (len > 0 && out[len - 1] == '/') || fs_is_dir(out);
}

/* Writes every item into dir (created when missing); frees the documents. */
static int write_items(const char *dir, export_item *items, size_t n, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_mkdirs(dir, err);

	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fs_path(path, sizeof(path), err, "%s/%s", dir, items[i].file);
		if (rc == 0)
			rc = write_json(items[i].doc, path, err);
		json_decref(items[i].doc);
	}
	return rc;
}

static int write_kfp(const ctx *c, const char *out, pl_err *err)
{
	static const char *const names[] = {
		"prepare-shard", "prepare", "train", "validate", "package"
	};
	static const char *const files[] = {
		"prepare-shard.component.json", "prepare.component.json",
		"train.component.json", "validate.component.json",
		"package.component.json"
	};
	export_item items[5];

	if (!out)
		return pl_errorf(err, PL_EUSAGE, "kfp writes one component file per "
				 "stage: give --out DIR");
	for (size_t i = 0; i < 5; i++) {
		items[i].file = files[i];
		items[i].doc = kfp_component(c, names[i]);
	}
	return write_items(out, items, 5, err);
}

static int write_argo(const ctx *c, const char *out, pl_err *err)
{
	export_item item = { "workflow.json", argo_workflow(c) };
	int rc;

	if (out && wants_dir(out))
		return write_items(out, &item, 1, err);
	rc = write_json(item.doc, out, err);
	json_decref(item.doc);
	return rc;
}

/* One v1 List (stdout or a file), or one file per object in a directory;
 * kubectl apply -f takes either. */
static int write_k8s(const ctx *c, const char *out, pl_err *err)
{
	export_item items[3] = {
		{ "1-pvc.json", k8s_pvc(c) },
		{ "2-prepare-job.json", k8s_prepare_job(c) },
		{ "3-run-job.json", k8s_run_job(c) },
	};
	json_t *list;
	int rc;

	if (out && wants_dir(out))
		return write_items(out, items, 3, err);
	list = json_pack("{s:s, s:s, s:[o, o, o]}", "apiVersion", "v1",
			 "kind", "List", "items", items[0].doc, items[1].doc,
			 items[2].doc);
	rc = write_json(list, out, err);
	json_decref(list);
	return rc;
}

static int write_mpijob(const ctx *c, const char *out, pl_err *err)
{
	export_item item = { "mpijob.json", mpijob(c, 0) };
	int rc;

	if (c->o->workers < 1) {
		json_decref(item.doc);
		return pl_errorf(err, PL_EUSAGE, "an MPIJob needs --workers N (1 to %d)",
				 EXPORT_MAX_WORKERS);
	}
	if (out && wants_dir(out))
		return write_items(out, &item, 1, err);
	rc = write_json(item.doc, out, err);
	json_decref(item.doc);
	return rc;
}

/* ---- worker: a Deployment of `pipeline worker` scaled by KEDA ---- */

#define WORKER_LAG_PER_REPLICA "5"   /* jobs waiting per worker before KEDA adds one */

static json_t *worker_deployment(const ctx *c, const char *name)
{
	const export_opts *o = c->o;
	/* longer than the grace a stopping worker gives its job, and than a lease */
	int grace = (int)(o->grace_s + o->lease_s) + 10;
	json_t *args = json_pack("[s, s, s, s, s]", "worker", "--queue", o->queue_url,
				 "--log-format", "json");

	return json_pack("{s:s, s:s, s:o, s:{s:{s:o}, s:{s:{s:o}, s:{s:i, s:s*, s:o, s:o, s:[o]}}}}",
			 "apiVersion", "apps/v1", "kind", "Deployment",
			 "metadata", metadata(c, "name", name, "worker"),
			 "spec", "selector", "matchLabels", labels(c, "worker"),
			 "template", "metadata", "labels", labels(c, "worker"),
			 "spec", "terminationGracePeriodSeconds", grace,
			 "serviceAccountName", opt(o->service_account),
			 "securityContext", pod_security(), "volumes", volumes(c),
			 "containers", container(c, "worker", args, o->config, opt(o->set)));
}

/* The redis-streams trigger on the consumer group's lag (entries not yet
 * delivered): zero replicas while the stream is empty. */
static json_t *worker_scaledobject(const ctx *c, const char *name, const char *deployment)
{
	const export_opts *o = c->o;
	char address[300], stream[160], db[16];
	const char *host = o->queue_url + strlen("redis://");
	size_t hlen = strcspn(host, "/");

	snprintf(address, sizeof(address), "%.*s%s", (int)hlen, host,
		 memchr(host, ':', hlen) ? "" : ":6379");
	snprintf(stream, sizeof(stream), "%s:stream", o->queue_prefix);
	snprintf(db, sizeof(db), "%s", host[hlen] == '/' && host[hlen + 1] ? host + hlen + 1 : "0");
	return json_pack("{s:s, s:s, s:o, s:{s:{s:s}, s:i, s:i, s:[{s:s, s:{s:s, s:s, s:s, s:s, s:s}}]}}",
			 "apiVersion", "keda.sh/v1alpha1", "kind", "ScaledObject",
			 "metadata", metadata(c, "name", name, "worker"),
			 "spec", "scaleTargetRef", "name", deployment,
			 "minReplicaCount", 0, "maxReplicaCount", o->max_workers,
			 "triggers", "type", "redis-streams", "metadata",
			 "address", address, "stream", stream, "consumerGroup", "workers",
			 "lagCount", WORKER_LAG_PER_REPLICA, "databaseIndex", db);
}

static int write_worker(const ctx *c, const char *out, pl_err *err)
{
	char deployment[96], scaler[96];
	json_t *list;
	int rc;

	if (!o_has_queue(c->o))
		return pl_errorf(err, PL_EUSAGE, "export worker: give --queue redis://HOST[:PORT][/DB] "
				 "(or [queue] url): the Redis the workers take jobs from");
	snprintf(deployment, sizeof(deployment), "pipeline-%s-worker", c->o->workspace_name);
	snprintf(scaler, sizeof(scaler), "pipeline-%s-workers", c->o->workspace_name);
	export_item items[2] = {
		{ "1-worker-deployment.json", worker_deployment(c, deployment) },
		{ "2-worker-scaledobject.json", worker_scaledobject(c, scaler, deployment) },
	};
	if (out && wants_dir(out))
		return write_items(out, items, 2, err);
	list = json_pack("{s:s, s:s, s:[o, o]}", "apiVersion", "v1", "kind", "List",
			 "items", items[0].doc, items[1].doc);
	rc = write_json(list, out, err);
	json_decref(list);
	return rc;
}

static void ctx_init(ctx *c, const export_opts *o)
{
	const char *ws = o->workspace_name;

	c->o = o;
	snprintf(c->ws_path, sizeof(c->ws_path), "%s/%s", EXPORT_MOUNT_ROOT, ws);
	snprintf(c->prepare_job, sizeof(c->prepare_job), "pipeline-%s-prepare", ws);
	snprintf(c->run_job, sizeof(c->run_job), "pipeline-%s-run", ws);
	snprintf(c->generate, sizeof(c->generate), "pipeline-%s-", ws);
	snprintf(c->train_job, sizeof(c->train_job), "pipeline-%s-train", ws);
}

int export_write(const char *kind, const export_opts *o, const char *out,
		 pl_err *err)
{
	ctx c;
	int rc;

	if (!kind || (strcmp(kind, "kfp") != 0 && strcmp(kind, "argo") != 0 &&
		      strcmp(kind, "k8s") != 0 && strcmp(kind, "mpijob") != 0 &&
		      strcmp(kind, "worker") != 0))
		return pl_errorf(err, PL_EUSAGE, "unknown export kind '%s': use kfp, "
				 "argo, k8s, mpijob or worker", kind ? kind : "");
	if ((rc = export_check(o, err)) < 0)
		return rc;
	ctx_init(&c, o);
	if (out && (out[0] == '\0' || strcmp(out, "-") == 0))
		out = NULL;
	if (strcmp(kind, "kfp") == 0)
		return write_kfp(&c, out, err);
	if (strcmp(kind, "argo") == 0)
		return write_argo(&c, out, err);
	if (strcmp(kind, "mpijob") == 0)
		return write_mpijob(&c, out, err);
	if (strcmp(kind, "worker") == 0)
		return write_worker(&c, out, err);
	return write_k8s(&c, out, err);
}
