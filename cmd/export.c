/* pipeline export kfp|argo|k8s: manifests that run the stages on a cluster. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"
#include "../stages/schema.h"
#include "../stages/export/export.h"
#include "cmd.h"

const char export_usage[] =
"usage: pipeline export kfp|argo|k8s|mpijob|worker --image IMAGE [options]\n"
"\n"
"Writes JSON manifests that run the stages in containers of IMAGE on a\n"
"shared workspace volume (see docs/kubernetes.md):\n"
"  kfp   one Kubeflow component file per stage (--out DIR required)\n"
"  argo  an Argo Workflow: N prepare shards, prepare, train, validate,\n"
"        package; also a Kubeflow Pipelines v1 pipeline\n"
"  k8s   a PersistentVolumeClaim, an Indexed Job for the prepare shards and\n"
"        a suspended Job running `pipeline run` (resume it when the shards\n"
"        are done)\n"
"  mpijob a Kubeflow MPIJob (kubeflow.org/v2beta1) that trains over\n"
"        --workers pods: a launcher running `mpirun ... pipeline stage train`\n"
"        and the workers on the workspace claim (docs/distributed.md)\n"
"  worker a Deployment of `pipeline worker --queue URL` on the claim\n"
"        (terminationGracePeriodSeconds longer than [queue] grace_seconds\n"
"        plus lease_seconds) and a KEDA ScaledObject on the job stream's lag,\n"
"        from 0 to --max-workers replicas\n"
"\n"
"Every setting has a [cluster] key in the configuration (./pipeline.ini or\n"
"PIPELINE_CONFIG; `pipeline help config` lists them); a flag overrides it.\n"
"\n"
"options:\n"
"      --image IMAGE          container image (required)\n"
"      --pvc CLAIM            claim holding the workspaces [pipeline-workspace]\n"
"      --workspace-name NAME  directory on the claim, at /workspace/NAME [demo]\n"
"      --shards N             prepare shards, 1-256 [4]\n"
"      --workers N            mpijob: worker pods, 1-1024 (required)\n"
"      --slots-per-worker S   mpijob: MPI ranks per worker, 1-256 [1]\n"
"      --train-workers N      argo: train as an MPIJob of N workers [0: one pod]\n"
"      --namespace NS         namespace of every object [kubectl's current]\n"
"      --service-account SA   service account of the pods [namespace default]\n"
"      --cpu Q                cpu request per container [2]\n"
"      --memory Q             memory request per container [4Gi]\n"
"      --cpu-limit Q          cpu limit [none]\n"
"      --memory-limit Q       memory limit [the memory request]\n"
"      --storage Q            size of the claim (k8s) [10Gi]\n"
"      --storage-class NAME   storage class of the claim [cluster default]\n"
"      --config PATH          config in the pod [" EXPORT_CONFIG_PATH "]\n"
"      --set SEC.KEY=VALUE    config override, repeatable\n"
"      --queue URL            worker: redis://HOST[:PORT][/DB] [[queue] url]\n"
"      --max-workers N        worker: most replicas KEDA runs, 1-1000 [10]\n"
"  -o, --out FILE|DIR         where to write [stdout]; a DIR gets one file each\n"
"  -h, --help                 show this help\n"
"\n"
"A --out that is an existing directory or ends in / is a DIR.\n";

enum {
	OPT_IMAGE = 256, OPT_PVC, OPT_SHARDS, OPT_NAMESPACE, OPT_WORKSPACE,
	OPT_CPU, OPT_MEMORY, OPT_CPU_LIMIT, OPT_MEMORY_LIMIT, OPT_STORAGE,
	OPT_STORAGE_CLASS, OPT_SERVICE_ACCOUNT, OPT_CONFIG, OPT_SET, OPT_WORKERS, OPT_SLOTS,
	OPT_TRAIN_WORKERS,
	OPT_QUEUE, OPT_MAX_WORKERS
};

static const struct option export_options[] = {
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "pvc", required_argument, NULL, OPT_PVC },
	{ "shards", required_argument, NULL, OPT_SHARDS },
	{ "namespace", required_argument, NULL, OPT_NAMESPACE },
	{ "workspace-name", required_argument, NULL, OPT_WORKSPACE },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpu-limit", required_argument, NULL, OPT_CPU_LIMIT },
	{ "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
	{ "storage", required_argument, NULL, OPT_STORAGE },
	{ "storage-class", required_argument, NULL, OPT_STORAGE_CLASS },
	{ "service-account", required_argument, NULL, OPT_SERVICE_ACCOUNT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "set", required_argument, NULL, OPT_SET },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "slots-per-worker", required_argument, NULL, OPT_SLOTS },
	{ "train-workers", required_argument, NULL, OPT_TRAIN_WORKERS },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "max-workers", required_argument, NULL, OPT_MAX_WORKERS },
	{ "out", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Parses a count: a whole number from 1 to max. */
static int parse_count(const char *text, int max, int *count)
{
	char *end;
	long n;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	n = strtol(text, &end, 10);
	if (*end != '\0' || n < 1 || n > max)
		return -1;
	*count = (int)n;
	return 0;
}

/* --workers, --slots-per-worker, --train-workers: ch's count into o. */
static int apply_count(int ch, export_opts *o)
{
	const char *name = ch == OPT_SLOTS ? "--slots-per-worker" : ch == OPT_WORKERS ?
			   "--workers" : "--train-workers";
	int max = ch == OPT_SLOTS ? EXPORT_MAX_SLOTS : EXPORT_MAX_WORKERS;

	if (parse_count(optarg, max, ch == OPT_SLOTS ? &o->slots_per_worker : &o->workers) < 0)
		return cmd_usage_error("export", "%s '%s': give a whole number from 1 to %d",
				       name, optarg, max);
	return 0;
}

/* Appends one --set override to the ';'-separated list in buf. */
static int add_override(char *buf, size_t size, const char *kv)
{
	size_t used = strlen(buf);
	int n;

	if (strchr(kv, ';'))
		return -1;
	n = snprintf(buf + used, size - used, "%s%s", used ? ";" : "", kv);
	return n < 0 || (size_t)n >= size - used ? -1 : 0;
}

/* Applies one parsed option to o; returns 0, or the usage exit code. */
static int apply_option(int ch, export_opts *o, char *set, size_t set_size)
{
	switch (ch) {
	case OPT_IMAGE: o->image = optarg; break;
	case OPT_PVC: o->pvc = optarg; break;
	case OPT_NAMESPACE: o->namespace_name = optarg; break;
	case OPT_WORKSPACE: o->workspace_name = optarg; break;
	case OPT_CPU: o->cpu = optarg; break;
	case OPT_MEMORY: o->memory = optarg; break;
	case OPT_CPU_LIMIT: o->cpu_limit = optarg; break;
	case OPT_MEMORY_LIMIT: o->memory_limit = optarg; break;
	case OPT_STORAGE: o->storage = optarg; break;
	case OPT_STORAGE_CLASS: o->storage_class = optarg; break;
	case OPT_SERVICE_ACCOUNT: o->service_account = optarg; break;
	case OPT_CONFIG: o->config = optarg; break;
	case OPT_QUEUE: o->queue_url = optarg; break;
	case OPT_MAX_WORKERS:
		if (optarg[0] < '1' || optarg[0] > '9' || atoi(optarg) > 1000 ||
		    strspn(optarg, "0123456789") != strlen(optarg))
			return cmd_usage_error("export", "--max-workers '%s': give a whole number "
					       "from 1 to 1000", optarg);
		o->max_workers = atoi(optarg);
		break;
	case OPT_SHARDS:
		if (parse_count(optarg, EXPORT_MAX_SHARDS, &o->shards) < 0)
			return cmd_usage_error("export", "--shards '%s': give a whole "
					       "number from 1 to %d", optarg,
					       EXPORT_MAX_SHARDS);
		break;
	case OPT_WORKERS:
	case OPT_SLOTS:
	case OPT_TRAIN_WORKERS:
		return apply_count(ch, o);
	case OPT_SET:
		if (add_override(set, set_size, optarg) < 0)
			return cmd_usage_error("export", "--set '%s': give one "
					       "section.key=value per --set (no ';'), "
					       "in all at most %zu characters",
					       optarg, set_size - 1);
		o->set = set;
		break;
	}
	return 0;
}

/* Fills o from the [cluster] section of the local configuration. */
static int from_config(export_opts *o, cfg **c)
{
	pl_err err = { 0 };

	if (schema_load(getenv("PIPELINE_CONFIG") && *getenv("PIPELINE_CONFIG") ? NULL :
			fs_exists("pipeline.ini") ? "pipeline.ini" : NULL, NULL, 0, c, &err) < 0)
		return cmd_fail(&err);
	o->image = cfg_str(*c, "cluster", "image");
	o->namespace_name = cfg_str(*c, "cluster", "namespace");
	o->pvc = cfg_str(*c, "cluster", "pvc");
	o->workspace_name = cfg_str(*c, "cluster", "workspace_name");
	o->storage = cfg_str(*c, "cluster", "storage");
	o->storage_class = cfg_str(*c, "cluster", "storage_class");
	o->cpu = cfg_str(*c, "cluster", "cpu");
	o->memory = cfg_str(*c, "cluster", "memory");
	o->cpu_limit = cfg_str(*c, "cluster", "cpu_limit");
	o->memory_limit = cfg_str(*c, "cluster", "memory_limit");
	o->service_account = cfg_str(*c, "cluster", "service_account");
	o->shards = (int)cfg_int(*c, "cluster", "shards");
	o->queue_url = getenv("PIPELINE_QUEUE") && *getenv("PIPELINE_QUEUE") ? getenv("PIPELINE_QUEUE") :
		       cfg_str(*c, "queue", "url");
	o->queue_prefix = cfg_str(*c, "queue", "prefix");
	o->lease_s = (double)cfg_int(*c, "queue", "lease_seconds");
	o->grace_s = (double)cfg_int(*c, "queue", "grace_seconds");
	return 0;
}

/* The --set overrides every pod will be given are checked here, against
 * the schema and the defaults, rather than failing in each pod. */
static int check_overrides(const char *set)
{
	char *sets[1] = { (char *)set };
	pl_err err = { 0 };
	cfg *c = NULL;

	if (schema_load(NULL, sets, 1, &c, &err) < 0)
		return cmd_fail(&err);
	cfg_free(c);
	return 0;
}

/* Parses the flags over o (filled from the configuration) and writes. */
static int export_with(int argc, char **argv, export_opts *opts)
{
	export_opts o = *opts;
	const char *out = NULL;
	char set[2048] = "";
	pl_err err = { 0 };
	int ch, rc;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":ho:", export_options, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return cmd_print_help("export");
		case 'o':
			out = optarg;
			break;
		case ':':
		case '?':
			return cmd_getopt_error("export", ch, argc, argv, export_options);
		default:
			if ((rc = apply_option(ch, &o, set, sizeof(set))) != 0)
				return rc;
		}
	}
	if (optind >= argc)
		return cmd_usage_error("export", "say what to export: kfp, argo, k8s, mpijob or worker");
	if (optind + 1 < argc)
		return cmd_usage_error("export", "unexpected argument '%s'",
				       argv[optind + 1]);
	if (strcmp(argv[optind], "kfp") != 0 && strcmp(argv[optind], "argo") != 0 &&
	    strcmp(argv[optind], "k8s") != 0 && strcmp(argv[optind], "mpijob") != 0 &&
	    strcmp(argv[optind], "worker") != 0)
		return cmd_usage_error("export", "unknown kind '%s': use kfp, argo, "
				       "k8s, mpijob or worker", argv[optind]);
	if (!strcmp(argv[optind], "mpijob") && o.workers < 1)
		return cmd_usage_error("export", "mpijob needs --workers N: the worker pods");
	if (!o.image[0])
		return cmd_usage_error("export", "--image (or [cluster] image) is required: the container "
				       "image to run, e.g. registry.example.com/"
				       "pipeline:1.0");
	if (set[0] && (rc = check_overrides(set)) != 0)
		return rc;
	if (export_write(argv[optind], &o, out, &err) < 0)
		return cmd_fail(&err);
	return EXIT_OK;
}

int cmd_export(int argc, char **argv)
{
	export_opts o;
	cfg *c = NULL;
	int rc;

	export_defaults(&o);
	rc = from_config(&o, &c);
	if (rc == 0)
		rc = export_with(argc, argv, &o);
	cfg_free(c);
	return rc;
}
