/* The configuration schema: every key pipeline reads, with its type,
 * default, range and help. The README's reference is generated from it. */
#include "schema.h"

#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "preproc.h"

#define BIG 1e12

static const cfg_key schema[] = {
	{ "dataset", "source", CFG_STR, "", 0, 0, NULL,
	  "URL (http, https, file), path to an archive or directory, or synth:plate[?seed=N&plates=N&size=WxH]", 0 },
	{ "dataset", "sha256", CFG_STR, "", 0, 0, NULL,
	  "expected SHA-256 of the downloaded or local archive; empty = not checked", 0 },
	{ "dataset", "table", CFG_STR, "", 0, 0, NULL,
	  "CSV table of samples, relative to the source root; empty = a folder per class", 0 },
	{ "dataset", "channels", CFG_STR, "file", 0, 0, NULL,
	  "table columns holding the channel files of a sample, comma-separated (a name may hold spaces), stacked in this order", 0 },
	{ "dataset", "label_column", CFG_STR, "label", 0, 0, NULL,
	  "table column holding the class label", 0 },
	{ "dataset", "class_names", CFG_STR, "", 0, 0, NULL,
	  "file of \"ID NAME...\" lines (ImageNet's synset_words.txt), relative to the source root or absolute: classes (folder names, or the ids in label_column) keep their order and take these names in labels.txt, the report and the package; empty = the ids are the names", 0 },
	{ "dataset", "group_column", CFG_STR, "", 0, 0, NULL,
	  "table column holding the group (well, patient, slide) kept on one side of the split; empty = none", 0 },
	{ "dataset", "on_bad_image", CFG_ENUM, "fail", 0, 0, "fail|skip",
	  "what to do with a corrupt or unsupported image: fail the stage, or skip it and count it", 0 },
	{ "dataset", "max_pixels", CFG_INT, "268435456", 1, BIG, NULL,
	  "largest accepted image, as width x height and as width x height x channels, checked before decoding", 0 },
	{ "dataset", "max_archive_gb", CFG_FLOAT, "64", 0.001, 1e6, NULL,
	  "largest total size of an archive's members, summed over inner archives too, GiB (archives are read as a stream, never extracted)", 0 },
	{ "dataset", "max_archive_entries", CFG_INT, "1000000", 1, BIG, NULL,
	  "most entries an archive may hold, counted over inner archives too", 0 },
	{ "dataset", "tls_verify", CFG_BOOL, "true", 0, 0, NULL,
	  "verify TLS certificates of https sources", CFG_RUNTIME },
	{ "dataset", "attempts", CFG_INT, "5", 1, 100, NULL,
	  "download attempts before giving up (exit 75); waits double from 0.5 s, at most 30 s", CFG_RUNTIME },
	{ "dataset", "stall_seconds", CFG_INT, "30", 1, 3600, NULL,
	  "a download slower than 1 KiB/s for this long is retried", CFG_RUNTIME },

	{ "prepare", "size", CFG_INT, "64", 4, 4096, NULL,
	  "side of the square network input, pixels", 0 },
	{ "prepare", "resize", CFG_STR, "", 0, 0, NULL,
	  "resize each image to WxH before cutting tiles; empty = keep its size", 0 },
	{ "prepare", "tile", CFG_INT, "0", 0, 65535, NULL,
	  "cut non-overlapping square tiles of this side; 0 = no tiles, the whole image", 0 },
	{ "prepare", "transforms", CFG_STR, "", 0, 0, NULL,
	  "intensity transforms in order, comma-separated: anscombe, minmax, clip", 0 },
	{ "prepare", "channels_out", CFG_ENUM, "stacked", 0, 0, "stacked|gray|rgb",
	  "output channels: as stacked from the files, or converted to gray or RGB", 0 },
	{ "prepare", "standardize", CFG_BOOL, "true", 0, 0, NULL,
	  "standardise each channel with mean and std of the training split", 0 },
	{ "prepare", "val_fraction", CFG_FLOAT, "0.15", 0, 0.9, NULL,
	  "fraction of each class's groups (or samples) in the validation split; with test_fraction, below 0.95", 0 },
	{ "prepare", "test_fraction", CFG_FLOAT, "0.15", 0, 0.9, NULL,
	  "fraction of each class's groups (or samples) in the test split", 0 },
	{ "prepare", "dtype", CFG_ENUM, "u8", 0, 0, "u8|f32",
	  "how record pixels are stored: 8-bit (0..255) or float32", 0 },
	{ "prepare", "format", CFG_ENUM, "rec", 0, 0, "rec|tfrecord",
	  "shard format: rec (.rec.zst) or tfrecord (tf.train.Example records with a PNG each, for TensorFlow)", 0 },
	{ "prepare", "tfrecord_gzip", CFG_BOOL, "false", 0, 0, NULL,
	  "with format = tfrecord: gzip each shard (.tfrecord.gz, TensorFlow's compression_type GZIP)", 0 },
	{ "prepare", "shards", CFG_INT, "2", 1, 64, NULL,
	  "record shards per split (at most 64)", 0 },
	{ "prepare", "seed", CFG_INT, "1", 0, BIG, NULL,
	  "seed of the split", 0 },
	{ "prepare", "threads", CFG_INT, "0", 0, 256, NULL,
	  "decoding threads; 0 = the CPUs the process may use (affinity, cgroup CPU limit)", CFG_RUNTIME },

	{ "model", "layers", CFG_STR,
	  "conv 32 3 pad 1, relu, maxpool 2, conv 64 3 pad 1, relu, maxpool 2, dense 128, relu, dense",
	  0, 0, NULL,
	  "the network: conv N K [stride S] [pad P], relu, maxpool K, avgpool K, gap, bn, dropout P, dense [N]", 0 },

	{ "train", "epochs", CFG_INT, "10", 1, 100000, NULL, "passes over the training split", 0 },
	{ "train", "batch", CFG_INT, "64", 1, 65536, NULL, "mini-batch size", 0 },
	{ "train", "optimizer", CFG_ENUM, "sgd", 0, 0, "sgd|adam|adamw", "optimiser", 0 },
	{ "train", "lr", CFG_FLOAT, "0.01", 1e-9, 10, NULL, "learning rate", 0 },
	{ "train", "momentum", CFG_FLOAT, "0.9", 0, 0.999999, NULL, "SGD momentum", 0 },
	{ "train", "nesterov", CFG_BOOL, "false", 0, 0, NULL, "Nesterov momentum", 0 },
	{ "train", "weight_decay", CFG_FLOAT, "0", 0, 1, NULL, "L2 weight decay", 0 },
	{ "train", "schedule", CFG_ENUM, "constant", 0, 0, "constant|step|cosine",
	  "learning-rate schedule", 0 },
	{ "train", "step_epochs", CFG_INT, "10", 1, 100000, NULL,
	  "step schedule: epochs between decays", 0 },
	{ "train", "step_gamma", CFG_FLOAT, "0.1", 0, 1, NULL, "step schedule: decay factor", 0 },
	{ "train", "warmup_epochs", CFG_INT, "0", 0, 100000, NULL, "linear warm-up epochs", 0 },
	{ "train", "patience", CFG_INT, "0", 0, 100000, NULL,
	  "early stopping: epochs without a better validation loss; 0 = off", 0 },
	{ "train", "augment", CFG_STR, "", 0, 0, NULL,
	  "augmentation, comma-separated: flips, rot90; empty = none", 0 },
	{ "train", "class_weights", CFG_ENUM, "none", 0, 0, "none|balanced",
	  "loss weights per class", 0 },
	{ "train", "seed", CFG_INT, "1", 0, BIG, NULL, "seed of initialisation, shuffling and augmentation", 0 },
	{ "train", "threads", CFG_INT, "0", 0, 256, NULL,
	  "training threads; 0 = the CPUs the process may use (affinity, cgroup CPU limit); the weights are bit-identical for the same count", 0 },
	{ "train", "accumulate", CFG_INT, "1", 1, 1024, NULL,
	  "gradient accumulation: one optimiser step (and one reduction over MPI ranks) per K consecutive micro-batches of `batch` samples, the loss averaged over the K x batch; batch-norm statistics stay per micro-batch; an epoch's last step takes what is left (docs/distributed.md)", 0 },
	{ "train", "exact", CFG_BOOL, "true", 0, 0, NULL,
	  "under mpirun: true = gradients gathered and added in share order (weights bit-identical to one process of train.threads threads); false = one plain MPI_Allreduce per step (faster on many ranks, the ranks' weights may drift in the last bits, checked every epoch)", 0 },
	{ "train", "distributed", CFG_ENUM, "auto", 0, 0, "auto|off",
	  "under mpirun (OMPI_COMM_WORLD_SIZE or PMI_SIZE set), `stage train` trains data-parallel over the ranks, train.threads is then the job's total, train.threads / N per rank, and the weights are those of one process with train.threads threads; off = ignore the launcher", CFG_RUNTIME },

	{ "validate", "min_metric", CFG_ENUM, "weighted_f1", 0, 0,
	  "accuracy|balanced_accuracy|weighted_f1|macro_f1|weighted_precision|weighted_recall|macro_precision|macro_recall|auc",
	  "the metric the gate checks", 0 },
	{ "validate", "min_value", CFG_FLOAT, "0", 0, 1, NULL,
	  "the gate: the stage fails (exit 3) when the metric is below this; 0 = no gate", 0 },
	{ "validate", "level", CFG_ENUM, "sample", 0, 0, "sample|group",
	  "the gate's level: per sample (tile), or per group with probabilities averaged", 0 },
	{ "validate", "batch", CFG_INT, "256", 1, 65536, NULL, "inference batch size", CFG_RUNTIME },

	{ "package", "name", CFG_STR, "model", 0, 0, NULL, "package name", 0 },
	{ "package", "version", CFG_STR, "1.0.0", 0, 0, NULL, "package version", 0 },
	{ "package", "base_image", CFG_STR, "pipeline:latest", 0, 0, NULL,
	  "image with the pipeline binary that the serving Dockerfile builds on; pin a digest (NAME@sha256:...) for reproducible images", 0 },
	{ "package", "watchdog", CFG_ENUM, "http", 0, 0, "http|classic",
	  "OpenFaaS watchdog of the serving files: the of-watchdog in http mode in front of one pipeline serve, or the classic one forking pipeline predict per request", 0 },
	{ "package", "exec_timeout_s", CFG_INT, "30", 1, 3600, NULL,
	  "time limit of one request in the serving files (the watchdog's exec, read and write timeouts), seconds", 0 },
	{ "package", "max_inflight", CFG_INT, "64", 1, 100000, NULL,
	  "requests the watchdog lets in at once (beyond, 429)", 0 },

	{ "serve", "host", CFG_STR, "127.0.0.1", 0, 0, NULL,
	  "address pipeline serve listens on (0.0.0.0 in a container)", CFG_RUNTIME },
	{ "serve", "port", CFG_INT, "8080", 0, 65535, NULL, "port pipeline serve listens on; 0 = any free one", CFG_RUNTIME },
	{ "serve", "threads", CFG_INT, "0", 0, 256, NULL,
	  "inference threads; 0 = the CPUs the process may use (affinity, cgroup CPU limit)", CFG_RUNTIME },
	{ "serve", "max_batch", CFG_INT, "32", 1, 4096, NULL,
	  "samples per network batch formed from requests that arrive together", CFG_RUNTIME },
	{ "serve", "max_delay_ms", CFG_INT, "2", 0, 10000, NULL,
	  "longest wait for more requests to fill a batch, ms", CFG_RUNTIME },
	{ "serve", "max_body_mb", CFG_FLOAT, "16", 0.001, 4096, NULL,
	  "largest request body, MiB; a larger one gets 413", CFG_RUNTIME },
	{ "serve", "max_queue", CFG_INT, "1024", 1, 1000000, NULL,
	  "samples waiting for the network; a request beyond gets 503", CFG_RUNTIME },
	{ "serve", "timeout_s", CFG_INT, "30", 1, 3600, NULL,
	  "idle connection timeout, longest wait in the queue (then 503), and longest drain on SIGTERM, seconds", CFG_RUNTIME },
	{ "serve", "max_connections", CFG_INT, "512", 1, 65536, NULL,
	  "open connections at once", CFG_RUNTIME },
	{ "serve", "max_pixels", CFG_INT, "16777216", 1, BIG, NULL,
	  "largest image accepted, width x height, checked before decoding", CFG_RUNTIME },

	{ "cluster", "image", CFG_STR, "", 0, 0, NULL,
	  "container image that runs the stages (pipeline export --image)", CFG_RUNTIME },
	{ "cluster", "namespace", CFG_STR, "", 0, 0, NULL,
	  "Kubernetes namespace; empty = the one kubectl or argo is given", CFG_RUNTIME },
	{ "cluster", "pvc", CFG_STR, "pipeline-workspace", 0, 0, NULL,
	  "PersistentVolumeClaim holding the workspaces", CFG_RUNTIME },
	{ "cluster", "workspace_name", CFG_STR, "demo", 0, 0, NULL,
	  "workspace directory on the claim, mounted at /workspace/NAME", CFG_RUNTIME },
	{ "cluster", "storage", CFG_STR, "10Gi", 0, 0, NULL, "size of the claim", CFG_RUNTIME },
	{ "cluster", "storage_class", CFG_STR, "", 0, 0, NULL,
	  "storage class of the claim; empty = the cluster's default", CFG_RUNTIME },
	{ "cluster", "cpu", CFG_STR, "2", 0, 0, NULL, "CPU request of each step", CFG_RUNTIME },
	{ "cluster", "memory", CFG_STR, "4Gi", 0, 0, NULL, "memory request of each step", CFG_RUNTIME },
	{ "cluster", "cpu_limit", CFG_STR, "", 0, 0, NULL, "CPU limit; empty = none", CFG_RUNTIME },
	{ "cluster", "memory_limit", CFG_STR, "", 0, 0, NULL,
	  "memory limit; empty = the request", CFG_RUNTIME },
	{ "cluster", "service_account", CFG_STR, "", 0, 0, NULL,
	  "service account of the pods; empty = the namespace default", CFG_RUNTIME },
	{ "cluster", "shards", CFG_INT, "4", 1, 256, NULL, "prepare shards run in parallel", CFG_RUNTIME },

	{ "queue", "url", CFG_STR, "", 0, 0, NULL,
	  "Redis of fleet mode, redis://HOST[:PORT][/DB] (or PIPELINE_QUEUE, --queue); run it with appendonly yes", CFG_RUNTIME },
	{ "queue", "prefix", CFG_STR, "pipeline", 0, 0, NULL,
	  "prefix of every Redis key the queue uses", CFG_RUNTIME },
	{ "queue", "lease_seconds", CFG_INT, "30", 1, 86400, NULL,
	  "a job whose worker stops renewing its lease (every third of this) is taken by another after this", CFG_RUNTIME },
	{ "queue", "max_deliveries", CFG_INT, "3", 1, 100, NULL,
	  "deliveries of a job whose worker dies before it goes to the dead-letter stream (status dead); also the attempts of a transient failure", CFG_RUNTIME },
	{ "queue", "result_ttl", CFG_INT, "604800", 60, BIG, NULL,
	  "seconds a finished job's record is kept", CFG_RUNTIME },
	{ "queue", "retry_backoff_seconds", CFG_FLOAT, "5", 0.01, 3600, NULL,
	  "wait before retrying a job that failed for a transient reason (exit 75), doubled each attempt", CFG_RUNTIME },
	{ "queue", "retry_backoff_max_seconds", CFG_INT, "300", 1, 86400, NULL,
	  "longest wait before a retry", CFG_RUNTIME },
	{ "queue", "grace_seconds", CFG_INT, "20", 0, 86400, NULL,
	  "after SIGTERM a worker lets its job run this long, then stops it and hands it back", CFG_RUNTIME },
	{ "queue", "reconnect_max_seconds", CFG_INT, "10", 1, 3600, NULL,
	  "longest wait between attempts to reconnect to Redis (from 0.1 s, doubled), seconds", CFG_RUNTIME },
};

/* Applies the ';'-separated assignments of PIPELINE_SET. */
/* Applies list, assignments separated by ';' (empty ones skipped), as
 * PIPELINE_SET and --set give them; where names the origin. */
static int apply_sets(cfg *c, const char *list, const char *where, pl_err *err)
{
	char *copy, *save = NULL;
	int rc = 0;

	if (!list || !*list)
		return 0;
	if (!(copy = strdup(list)))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	for (char *a = strtok_r(copy, ";", &save); a && rc == 0; a = strtok_r(NULL, ";", &save))
		if (a[strspn(a, " ")])
			rc = cfg_set(c, a + strspn(a, " "), where, err);
	free(copy);
	return rc;
}

/* [model] layers must parse and fit the [prepare] size, so that a typo
 * fails the run at once rather than after prepare. The channel and class
 * counts (known only from the data) do not change whether it does. */
static int check_layers(const cfg *c, pl_err *err)
{
	int side = (int)cfg_int(c, "prepare", "size");
	nn_err e = { 0 };

	if (nn_arch_check(cfg_str(c, "model", "layers"), (nn_shape){ 1, side, side }, 0, &e) == 0)
		return 0;
	return pl_errorf(err, e.code == NN_ENOMEM ? PL_ENOMEM : PL_EUSAGE, "%s: [model] layers: %s",
			 cfg_origin(c, "model", "layers"), e.msg);
}

/* The fractions must leave the training split something. */
static int check_fractions(const cfg *c, pl_err *err)
{
	double v = cfg_float(c, "prepare", "val_fraction"), t = cfg_float(c, "prepare", "test_fraction");

	if (v + t < 0.95)
		return 0;
	const char *ov = cfg_origin(c, "prepare", "val_fraction");
	const char *ot = cfg_origin(c, "prepare", "test_fraction");
	return pl_errorf(err, PL_EUSAGE, "%s%s%s: [prepare] val_fraction %g + test_fraction %g = %g "
			 "leaves less than 5%% for training (their sum must be below 0.95)", ov,
			 strcmp(ov, ot) ? ", " : "", strcmp(ov, ot) ? ot : "", v, t, v + t);
}

/* A step of accumulate x batch samples is held in memory at once. */
static int check_accumulate(const cfg *c, pl_err *err)
{
	long k = cfg_int(c, "train", "accumulate"), b = cfg_int(c, "train", "batch");

	if (k * b <= 1048576)
		return 0;
	return pl_errorf(err, PL_EUSAGE, "%s: [train] accumulate %ld x batch %ld = %ld samples per "
			 "step, more than 1048576", cfg_origin(c, "train", "accumulate"), k, b, k * b);
}

/* [package] name and version become file and image names. */
static int check_name(const cfg *c, const char *key, pl_err *err)
{
	const char *s = cfg_str(c, "package", key);

	if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(s) || s[0] == '.')
		return pl_errorf(err, PL_EUSAGE, "%s: [package] %s '%s' may hold only lowercase "
				 "letters, digits, '.', '-' and '_'", cfg_origin(c, "package", key), key, s);
	return 0;
}

/* [package] base_image: a name, or NAME@sha256:<64 hex> pinned by digest. */
static int check_image(const cfg *c, pl_err *err)
{
	const char *s = cfg_str(c, "package", "base_image"), *at = strchr(s, '@');

	if (*s && !strpbrk(s, " \t\"\n") && (!at || (!strncmp(at, "@sha256:", 8) &&
	    strlen(at + 8) == 64 && strspn(at + 8, "0123456789abcdef") == 64)))
		return 0;
	return pl_errorf(err, PL_EUSAGE, "%s: [package] base_image '%s' is not an image name, "
			 "or NAME@sha256: and 64 lowercase hex digits", cfg_origin(c, "package",
			 "base_image"), s);
}

/* The values the stages parse, checked before any stage runs. */
static int check_values(const cfg *c, pl_err *err)
{
	const char *sha = cfg_str(c, "dataset", "sha256");
	char list[256], *save = NULL;
	preproc_opts o;
	int rc = preproc_from_cfg(c, &o, err);

	if (rc == 0 && *sha && (strlen(sha) != 64 || strspn(sha, "0123456789abcdefABCDEF") != 64))
		rc = pl_errorf(err, PL_EUSAGE, "%s: [dataset] sha256 '%s' is not 64 hex digits",
			       cfg_origin(c, "dataset", "sha256"), sha);
	if (rc == 0)
		rc = check_name(c, "name", err);
	if (rc == 0)
		rc = check_name(c, "version", err);
	if (rc == 0)
		rc = check_image(c, err);
	if (rc == 0)
		rc = check_accumulate(c, err);

	snprintf(list, sizeof(list), "%s", cfg_str(c, "train", "augment"));
	for (char *w = strtok_r(list, ", ", &save); rc == 0 && w; w = strtok_r(NULL, ", ", &save))
		if (!cfg_word_in(w, "flips|rot90"))
			rc = pl_errorf(err, PL_EUSAGE, "%s: [train] augment: unknown augmentation '%s' "
				       "(flips, rot90)", cfg_origin(c, "train", "augment"), w);
	return rc;
}

int schema_load(const char *path, char *const *sets, int n_sets, cfg **out, pl_err *err)
{
	cfg *c = cfg_new(schema, sizeof(schema) / sizeof(schema[0]));
	int rc = 0;

	*out = NULL;
	if (!c)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if (!path && getenv("PIPELINE_CONFIG") && *getenv("PIPELINE_CONFIG"))
		path = getenv("PIPELINE_CONFIG");
	if (path)
		rc = cfg_load_file(c, path, err);
	if (rc == 0)
		rc = apply_sets(c, getenv("PIPELINE_SET"), "PIPELINE_SET", err);
	for (int i = 0; rc == 0 && i < n_sets; i++)
		rc = apply_sets(c, sets[i], "--set", err);
	if (rc == 0)
		rc = check_layers(c, err);
	if (rc == 0)
		rc = check_fractions(c, err);
	if (rc == 0)
		rc = check_values(c, err);
	if (rc < 0) {
		cfg_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static const char *type_name(const cfg_key *k)
{
	static const char *names[] = { "string", "integer", "number", "boolean", "one of" };
	return names[k->type];
}

void schema_write_reference(FILE *f)
{
	const char *section = "";
	size_t n = sizeof(schema) / sizeof(schema[0]);

	for (size_t i = 0; i < n; i++) {
		const cfg_key *k = &schema[i];
		if (strcmp(k->section, section)) {
			section = k->section;
			fprintf(f, "%s| [%s] key | type | default | meaning |\n|---|---|---|---|\n",
				i ? "\n" : "", section);
		}
		fprintf(f, "| `%s` | %s", k->key, type_name(k));
		if (k->type == CFG_ENUM) {
			fputs(": ", f);
			for (const char *a = k->allowed; *a; a++)   /* '|' would end the table cell */
				fputs(*a == '|' ? ", " : (char[2]){ *a, 0 }, f);
		}
		if (k->type == CFG_INT || k->type == CFG_FLOAT)
			fprintf(f, " %g..%g", k->min, k->max);
		fprintf(f, *k->def ? " | `%s` | %s |\n" : " | %s(empty) | %s |\n", k->def, k->help);
	}
}
