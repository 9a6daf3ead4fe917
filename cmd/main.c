/* pipeline: the command table and what every command shares (help, errors,
 * exit codes). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/log.h"
#include "../io/suggest.h"
#include "../io/version.h"
#include "../stages/schema.h"
#include "cmd.h"

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;
} command;

/* Option lines shared by the workspace commands' help texts. */
#define HELP_WORKSPACE \
	"  -w, --workspace DIR   workspace directory (or PIPELINE_WORKSPACE)\n"
#define HELP_CONFIG \
	"  -c, --config FILE     config file (or PIPELINE_CONFIG; default ./pipeline.ini)\n" \
	"  -s, --set S.K=V       override a key; repeatable, or several separated by ';'\n"
#define HELP_LOG \
	"      --log-format F    human or json (one object per line)\n" \
	"  -q, --quiet           only warnings and errors\n" \
	"  -v, --verbose         debug lines too\n"
#define HELP_HELP \
	"  -h, --help            show this help\n"

static const command commands[] = {
	{ "run", cmd_run, "run the stages in order, skipping those already done",
	  "usage: pipeline run --workspace DIR [--config FILE] [--set sec.key=value]...\n"
	  "                    [--from STAGE] [--until STAGE] [--force STAGE|all] [--dry-run]\n"
	  "                    [--log-format human|json] [--quiet] [--verbose]\n\n"
	  "Runs prepare, train, validate and package. A stage whose inputs and\n"
	  "configuration have not changed since its last run is cached and skipped.\n\n"
	  HELP_WORKSPACE HELP_CONFIG
	  "      --from STAGE      start at STAGE (earlier stages must be done)\n"
	  "      --until STAGE     stop after STAGE\n"
	  "      --force STAGE|all run STAGE (or every stage) even when cached\n"
	  "  -n, --dry-run         say what would run and why, run nothing\n"
	  HELP_LOG HELP_HELP "\n"
	  "Exit codes: 0 done or cached, 1 a stage failed, 2 usage or configuration error,\n"
	  "3 the validation gate was not met, 75 temporary failure (retry), 130 interrupted.\n" },
	{ "stage", cmd_stage, "run one stage (the container entrypoint)",
	  "usage: pipeline stage NAME --workspace DIR [--config FILE] [--set sec.key=value]...\n"
	  "                      [--force] [--shard I/N] [--log-format human|json]\n\n"
	  "Runs one stage; its upstream stages must be done. Exits 0 when the stage is\n"
	  "done or cached, so a retried container does no work twice; while another\n"
	  "process holds the workspace it waits. Reads PIPELINE_WORKSPACE,\n"
	  "PIPELINE_CONFIG, PIPELINE_SET and PIPELINE_LOG_FORMAT; with PIPELINE_UI_DIR\n"
	  "set, validate copies its two Kubeflow UI files there (passed, cached or\n"
	  "below the gate). Logs JSON lines by default when stderr is not a terminal.\n"
	  "Stages: prepare, train, validate, package.\n\n"
	  "With --shard I/N, prepare does only share I (0 .. N-1) of the samples into\n"
	  "a part of its own, so that N processes (an Indexed Job's pods) share the\n"
	  "work over one workspace, without the workspace lock. With --shard /N, I is\n"
	  "taken from JOB_COMPLETION_INDEX. A part already done exits 0 at once.\n"
	  "`pipeline stage prepare` without --shard (or `pipeline run`) then assembles\n"
	  "the parts, doing any missing one itself; the result equals a single-process\n"
	  "prepare.\n\n"
	  HELP_WORKSPACE HELP_CONFIG
	  "      --force           run the stage even when cached\n"
	  "      --shard I/N       prepare only: do share I of N into a part (see above)\n"
	  "  -n, --dry-run         say whether the stage would run and why, run nothing\n"
	  HELP_LOG HELP_HELP },
	{ "status", cmd_status, "show what is done, cached, stale or failed, and why",
	  "usage: pipeline status --workspace DIR [--config FILE] [--set sec.key=value]... [--json]\n\n"
	  "For each stage: its state (cached, stale, never run, failed) and the reason\n"
	  "(\"config changed: train.lr 0.01 -> 0.02\", \"upstream prepare changed\",\n"
	  "\"interrupted; a checkpoint resumes it after epoch 4 of 10\"), when it\n"
	  "finished, how long it took, and its headline metrics.\n\n"
	  HELP_WORKSPACE HELP_CONFIG
	  "      --json            one JSON document instead of the table\n"
	  HELP_LOG HELP_HELP },
	{ "clean", cmd_clean, "remove stage results and temporary files",
	  "usage: pipeline clean --workspace DIR [STAGE...]\n"
	  "       pipeline clean --workspace DIR --downloads\n\n"
	  "Removes the results of the named stages (all when none is named) and the\n"
	  "workspace's temporary files. Downloads are kept unless all stages are cleaned\n"
	  "with --downloads.\n\n"
	  HELP_WORKSPACE
	  "      --downloads       remove the downloads too (with no STAGE)\n"
	  HELP_LOG HELP_HELP },
	{ "gc", cmd_gc, "remove what the current configuration cannot use",
	  "usage: pipeline gc --workspace DIR [--config FILE] [--set sec.key=value]...\n\n"
	  "Removes temporary files no stage will resume from, downloads of sources that\n"
	  "are no longer configured, and the memoised hashes of input files. Stage\n"
	  "results are kept ('pipeline clean' removes those).\n\n"
	  HELP_WORKSPACE HELP_CONFIG HELP_LOG HELP_HELP },
	{ "synth", cmd_synth, "draw the built-in demo plate",
	  "usage: pipeline synth --out FILE|DIR [--seed N] [--plates N] [--size WxH] [--preview PNG]\n\n"
	  "Draws a BBBC014-like plate: 96 wells, two 8-bit channel BMPs per well (nuclei,\n"
	  "NF-kB) with a TNF-alpha dose response across the 12 columns, two cell lines,\n"
	  "and plate/metadata.csv. The same seed gives byte-identical output.\n\n"
	  "  -o, --out FILE|DIR    a .tar.gz or .tar.zst archive, or DIR/ (gets DIR/plate/)\n"
	  "      --seed N          default 1\n"
	  "      --plates N        default 1 (wells named p01_A01 ...)\n"
	  "      --size WxH        image size per channel, default 340x256\n"
	  "      --preview PNG     also write three wells (low, middle, high dose) as a PNG\n"
	  HELP_HELP },
	{ "predict", cmd_predict, "classify images with a package",
	  "usage: pipeline predict --package FILE [IMAGE|DIR...] [--format json|csv]\n"
	  "                        [--channels a.bmp,b.bmp]...\n\n"
	  "Prints one JSON object per image: {\"file\", \"label\", \"scores\": {class: p}}.\n"
	  "A directory is searched recursively for PNG, JPEG and BMP files; the images\n"
	  "go through the network in batches, and the output is in path order. With no\n"
	  "IMAGE, reads one image on stdin (the OpenFaaS classic watchdog's contract).\n"
	  "A model whose samples stack several channel files takes each sample as\n"
	  "--channels a,b, or as one image (file or stdin) whose channels are the\n"
	  "model's channels in order: gray+alpha for two, RGBA for four; an RGB image\n"
	  "for a two-channel model gives its G and B channels. An image of exactly the\n"
	  "network's input size is taken as one tile. An image that cannot be read or\n"
	  "does not fit the model is reported on stderr and the others are still\n"
	  "predicted; the exit code is then that of the first failure (1 for an\n"
	  "unreadable or corrupt image).\n\n"
	  "  -p, --package FILE    the package (or PIPELINE_PACKAGE)\n"
	  "  -f, --format F        json (default) or csv\n"
	  "  -c, --channels A,B    the channel files of one sample; repeatable\n"
	  HELP_HELP },
	{ "verify", cmd_verify, "check every file of a package against its manifest",
	  "usage: pipeline verify PACKAGE...\n\n"
	  "Checks that every file of each package is listed in its MANIFEST.json, once,\n"
	  "with the SHA-256 it has, and that every file listed is there. predict and\n"
	  "serve check only what they read (MANIFEST.json and model.pnn); the package\n"
	  "stage verifies each package it writes. Exits 1 at the first package that\n"
	  "fails, naming the file at fault.\n\n"
	  HELP_HELP },
	{ "serve", cmd_serve, "answer predictions over HTTP with a package kept loaded",
	  "usage: pipeline serve --package FILE [--host ADDR] [--port N] [--threads N]\n"
	  "                      [--max-batch B] [--max-delay-ms D] [--max-body MB]\n"
	  "                      [--max-queue N] [--timeout S] [--config FILE] [--set serve.k=v]...\n\n"
	  "Loads and verifies the package once, then answers HTTP: POST / or /predict\n"
	  "with an image as the body (the JSON object `pipeline predict` prints; the\n"
	  "of-watchdog's http mode), TF Serving / KServe v1 (GET /v1/models/NAME,\n"
	  "POST /v1/models/NAME:predict), Open Inference Protocol v2 (/v2/health/live,\n"
	  "/v2/health/ready, GET /v2/models/NAME, POST /v2/models/NAME/infer) and\n"
	  "Prometheus GET /metrics. Requests that arrive together go through the network\n"
	  "as one batch. SIGTERM stops accepting, answers what is in flight, exits 0.\n"
	  "Each option is also a [serve] key of the configuration.\n\n"
	  "  -p, --package FILE    the package (or PIPELINE_PACKAGE)\n"
	  "      --host ADDR       address to listen on (default 127.0.0.1)\n"
	  "      --port N          port (default 8080; 0 = any free one)\n"
	  "      --threads N       inference threads (default 0 = the CPUs it may use)\n"
	  "      --max-batch B     samples per network batch (default 32)\n"
	  "      --max-delay-ms D  longest wait for a batch to fill, ms (default 2)\n"
	  "      --max-body MB     largest request body, MiB (default 16); larger: 413\n"
	  "      --max-queue N     samples waiting for the network (default 1024); beyond: 503\n"
	  "      --timeout S       idle connection, queue wait and drain limit, s (default 30)\n"
	  "  -c, --config FILE     configuration with a [serve] section (or PIPELINE_CONFIG)\n"
	  "  -s, --set S.K=V       override a configuration key; repeatable\n"
	  HELP_LOG HELP_HELP },
	{ "export", cmd_export, "write Kubeflow, Argo or Kubernetes manifests", export_usage },
	{ "worker", cmd_worker, "take stage and predict jobs from a Redis queue", worker_usage },
	{ "submit", cmd_submit, "put a run's stages or predict jobs on the queue", submit_usage },
	{ "jobs", cmd_jobs, "the queue's progress, records, requeue, cancel, flush", jobs_usage },
	{ "help", cmd_help, "show help for a command",
	  "usage: pipeline help [COMMAND|config]\n\n"
	  "Shows the options of COMMAND, the configuration keys (config), or the\n"
	  "list of commands.\n\n"
	  HELP_HELP },
};

#define N_COMMANDS (int)(sizeof(commands) / sizeof(commands[0]))

static void print_overview(FILE *f)
{
	fprintf(f, "usage: pipeline COMMAND [OPTIONS]\n\n"
		"Turns a labelled image collection into a validated, servable CNN classifier\n"
		"in four cached stages: prepare, train, validate, package.\n\ncommands:\n");
	for (int i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'pipeline help COMMAND' shows the options of one command; "
		"'pipeline help config' the configuration keys.\n");
}

/* Writes " (did you mean 'x'?)" into out for the command (or extra, when
 * not NULL) nearest to word, or "" when none is close. */
static void command_hint(const char *word, const char *extra, char *out, size_t n)
{
	suggestion s;

	suggest_init(&s, word);
	if (extra)
		suggest_add(&s, extra);
	for (int i = 0; i < N_COMMANDS; i++)
		suggest_add(&s, commands[i].name);
	out[0] = '\0';
	if (suggest_best(&s))
		snprintf(out, n, " (did you mean '%s'?)", suggest_best(&s));
}

int cmd_print_help(const char *name)
{
	char hint[64];

	for (int i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name)) {
			fputs(commands[i].usage, stdout);
			return EXIT_OK;
		}
	command_hint(name, "config", hint, sizeof(hint));
	fprintf(stderr, "pipeline: no command '%s'%s\n", name, hint);
	print_overview(stderr);
	return EXIT_USAGE;
}

int cmd_fail(const pl_err *err)
{
	const char *msg = err->msg[0] ? err->msg : "unknown error";

	if (log_get_format() == LOG_JSON)   /* log collectors keep the line that matters */
		log_error("%s", msg);
	else
		fprintf(stderr, "pipeline: error: %s\n", msg);
	switch (err->code) {
	case PL_EUSAGE: return EXIT_USAGE;
	case PL_EGATE: return EXIT_GATE;
	case PL_ETEMP: return EXIT_TEMP;
	case PL_EINTR: return EXIT_INTR;
	default: return EXIT_FAIL;
	}
}

/* Prints the message, the command's synopsis (its usage text up to the
 * first blank line) and where the rest is. */
int cmd_getopt_error(const char *cmd, int code, int argc, char **argv,
		     const struct option *longopts)
{
	const char *word = optind >= 2 && optind - 1 < argc ? argv[optind - 1] : "";
	char shown[64], name[64], hint[96] = "";
	suggestion s;

	if (!strncmp(word, "--", 2))
		snprintf(shown, sizeof(shown), "%.*s", (int)strcspn(word, "="), word);
	else
		snprintf(shown, sizeof(shown), "-%c", optopt > 32 && optopt < 127 ? optopt : '?');
	if (code == ':')
		return cmd_usage_error(cmd, "option '%s' needs a value", shown);
	snprintf(name, sizeof(name), "%s", shown + 2);
	suggest_init(&s, name);
	for (int i = 0; shown[1] == '-' && longopts && longopts[i].name; i++)
		suggest_add(&s, longopts[i].name);
	if (suggest_best(&s))
		snprintf(hint, sizeof(hint), " (did you mean '--%s'?)", suggest_best(&s));
	return cmd_usage_error(cmd, "unknown option '%s'%s", shown, hint);
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pipeline %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (int i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, cmd)) {
			const char *end = strstr(commands[i].usage, "\n\n");
			int len = end ? (int)(end - commands[i].usage) : (int)strlen(commands[i].usage);
			fprintf(stderr, "%.*s\n", len, commands[i].usage);
		}
	fprintf(stderr, "try 'pipeline help %s'\n", cmd);
	return EXIT_USAGE;
}

int cmd_help(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int code;

	optind = 1;
	opterr = 0;
	if ((code = getopt_long(argc, argv, ":h", options, NULL)) != -1)
		return code == 'h' ? cmd_print_help("help") :
		       cmd_getopt_error("help", code, argc, argv, options);
	if (optind >= argc) {
		print_overview(stdout);
		return EXIT_OK;
	}
	if (optind + 1 < argc)
		return cmd_usage_error("help", "unexpected argument '%s'", argv[optind + 1]);
	if (!strcmp(argv[optind], "config")) {
		schema_write_reference(stdout);
		return EXIT_OK;
	}
	return cmd_print_help(argv[optind]);
}

/* Standard output is checked once, at exit, as git does: a full disk or a
 * closed descriptor is an error, not a silently short output. A pipe or a
 * socket is left alone: its reader may stop early. Returns rc, or 1 when
 * rc was 0 and writing failed. */
static int finish_stdout(int rc)
{
	struct stat st;
	pl_err err = { 0 };
	int failed, saved, code;

	if (fstat(fileno(stdout), &st) != 0 || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return rc;
	errno = 0;
	failed = fflush(stdout) != 0;
	saved = errno;
	failed |= ferror(stdout) != 0;
	/* a write that failed while printing left no errno behind: ask again */
	if (failed && !saved && write(fileno(stdout), "\n", 1) < 0)
		saved = errno;
	if (fclose(stdout) != 0 && !failed) {
		failed = 1;
		saved = errno;
	}
	if (!failed)
		return rc;
	pl_errorf(&err, PL_EIO, "cannot write standard output%s%s", saved ? ": " : "",
		  saved ? strerror(saved) : "");
	code = cmd_fail(&err);
	return rc ? rc : code;
}

/* Runs the command named by argv[1]. */
static int dispatch(int argc, char **argv)
{
	char hint[64];

	if (argc < 2) {
		print_overview(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
		printf("pipeline %s\n", PL_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_overview(stdout);
		return EXIT_OK;
	}
	for (int i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, argv[1]))
			return commands[i].fn(argc - 1, argv + 1);
	command_hint(argv[1], NULL, hint, sizeof(hint));
	fprintf(stderr, "pipeline: unknown command '%s'%s\n\n", argv[1], hint);
	print_overview(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	return finish_stdout(dispatch(argc, argv));
}
