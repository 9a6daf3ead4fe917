/* The serving files of a package (see deploy.h). With the of-watchdog in
 * http mode, one `pipeline serve` stays loaded behind the watchdog (port
 * 8081 inside the container); with the classic watchdog each request forks
 * `pipeline predict`, its stderr kept out of the response. */
#include "deploy.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../../io/fs.h"
#include "../../io/strbuf.h"

#define OF_WATCHDOG "ghcr.io/openfaas/of-watchdog:0.9.15"
#define CLASSIC_WATCHDOG "ghcr.io/openfaas/classic-watchdog:0.3.1"
#define PACKAGE_IN_IMAGE "/home/app/model.tar.zst"
#define UPSTREAM_PORT 8081

const char *const deploy_files[3] = { "Dockerfile", "stack.yml", "inference-service.yaml" };

/* Writes the text of b (released) to dir/file. */
static int write_text(const char *dir, const char *file, strbuf *b, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_path(path, sizeof(path), err, "%s/%s", dir, file);

	if (rc < 0) {
		strbuf_release(b);
		return rc;
	}
	return strbuf_write_file(b, path, err);
}

static int write_dockerfile(const deploy_opts *o, const char *dir, pl_err *err)
{
	strbuf b;

	strbuf_init(&b);
	strbuf_appendf(&b, "# Serves %s %s as an OpenFaaS function (docker build -t %s:%s .).\n",
		       o->name, o->version, o->name, o->version);
	if (o->classic)
		strbuf_appendf(&b,
			 "# The classic watchdog forks `pipeline predict` per request: image in\n"
			 "# the body, JSON out; stderr stays in the logs (combine_output=false).\n"
			 "FROM " CLASSIC_WATCHDOG " AS watchdog\n\n"
			 "FROM %s\n"
			 "COPY --from=watchdog /fwatchdog /usr/bin/fwatchdog\n"
			 "ENV fprocess=\"pipeline predict --package " PACKAGE_IN_IMAGE "\"\n"
			 "ENV combine_output=\"false\"\n", o->base_image);
	else
		strbuf_appendf(&b,
			 "# The of-watchdog in http mode proxies every request to one `pipeline\n"
			 "# serve` kept loaded: the raw body on /, KServe v1 and v2 on their paths.\n"
			 "FROM " OF_WATCHDOG " AS watchdog\n\n"
			 "FROM %s\n"
			 "COPY --from=watchdog /fwatchdog /usr/bin/fwatchdog\n"
			 "ENV mode=\"http\"\n"
			 "ENV upstream_url=\"http://127.0.0.1:%d\"\n"
			 "ENV fprocess=\"pipeline serve --package " PACKAGE_IN_IMAGE " --host 127.0.0.1 "
			 "--port %d --timeout %d\"\n"
			 "ENV ready_endpoint=\"/v2/health/ready\"\n"
			 "ENV prefix_logs=\"false\"\n", o->base_image, UPSTREAM_PORT, UPSTREAM_PORT,
			 o->exec_timeout_s);
	strbuf_appendf(&b,
		 "COPY %s " PACKAGE_IN_IMAGE "\n"
		 "ENV content_type=\"application/json\"\n"
		 "ENV exec_timeout=\"%ds\"\n"
		 "ENV read_timeout=\"%ds\"\n"
		 "ENV write_timeout=\"%ds\"\n"
		 "ENV max_inflight=\"%d\"\n"
		 "ENV write_debug=\"false\"\n"
		 "EXPOSE 8080\n"
		 "HEALTHCHECK --interval=5s CMD [ -e /tmp/.lock ] || exit 1\n"
		 "ENTRYPOINT [\"fwatchdog\"]\n"
		 "CMD []\n", o->archive, o->exec_timeout_s, o->exec_timeout_s, o->exec_timeout_s,
		 o->max_inflight);
	return write_text(dir, "Dockerfile", &b, err);
}

static int write_stack(const deploy_opts *o, const char *dir, pl_err *err)
{
	strbuf b;

	strbuf_init(&b);
	strbuf_appendf(&b,
		 "version: 1.0\n"
		 "provider:\n"
		 "  name: openfaas\n"
		 "  gateway: http://127.0.0.1:8080\n"
		 "functions:\n"
		 "  %s:\n"
		 "    lang: dockerfile\n"
		 "    handler: .\n"
		 "    image: %s:%s\n"
		 "    annotations:\n"
		 "      com.openfaas.health.http.path: %s\n"
		 "      com.openfaas.health.http.initialDelay: 2s\n"
		 "    environment:\n"
		 "      content_type: application/json\n"
		 "      exec_timeout: %ds\n"
		 "      read_timeout: %ds\n"
		 "      write_timeout: %ds\n"
		 "      max_inflight: %d\n", o->name, o->name, o->version,
		 o->classic ? "/_/health" : "/v2/health/ready", o->exec_timeout_s, o->exec_timeout_s,
		 o->exec_timeout_s, o->max_inflight);
	return write_text(dir, "stack.yml", &b, err);
}

static int write_inference_service(const deploy_opts *o, const char *dir, pl_err *err)
{
	strbuf b;

	strbuf_init(&b);
	strbuf_appendf(&b,
		 "# KServe: `pipeline serve` as a custom predictor; it answers the v1\n"
		 "# (/v1/models/%s:predict) and v2 (/v2/models/%s/infer) protocols.\n"
		 "# kubectl apply -f inference-service.yaml, with the image of the Dockerfile\n"
		 "# beside this file pushed where the cluster pulls from.\n"
		 "apiVersion: serving.kserve.io/v1beta1\n"
		 "kind: InferenceService\n"
		 "metadata:\n"
		 "  name: %s\n"
		 "spec:\n"
		 "  predictor:\n"
		 "    containers:\n"
		 "      - name: kserve-container\n"
		 "        image: %s:%s\n"
		 "        command: [\"pipeline\"]\n"
		 "        args: [\"serve\", \"--package\", \"" PACKAGE_IN_IMAGE "\", \"--host\", \"0.0.0.0\",\n"
		 "               \"--port\", \"8080\", \"--timeout\", \"%d\"]\n"
		 "        ports:\n"
		 "          - containerPort: 8080\n"
		 "            protocol: TCP\n"
		 "        readinessProbe:\n"
		 "          httpGet:\n"
		 "            path: /v2/health/ready\n"
		 "            port: 8080\n"
		 "        livenessProbe:\n"
		 "          httpGet:\n"
		 "            path: /v2/health/live\n"
		 "            port: 8080\n"
		 "        resources:\n"
		 "          requests:\n"
		 "            cpu: \"2\"\n"
		 "            memory: 1Gi\n", o->name, o->name, o->name, o->name, o->version,
		 o->exec_timeout_s);
	return write_text(dir, "inference-service.yaml", &b, err);
}

int deploy_write(const deploy_opts *o, const char *dir, pl_err *err)
{
	int rc = write_dockerfile(o, dir, err);

	if (rc == 0)
		rc = write_stack(o, dir, err);
	if (rc == 0)
		rc = write_inference_service(o, dir, err);
	return rc;
}
