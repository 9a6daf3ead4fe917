# The pipeline container image: one binary whose `pipeline stage NAME` is the
# entrypoint of each step on Kubernetes (docs/kubernetes.md).
#   docker build -t registry.example.com/pipeline:1.0 .
# The build compiles for x86-64-v2, so the image is linux/amd64 only.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make pkg-config libarchive-dev libzstd-dev libopenblas-serial-dev \
      libcurl4-openssl-dev libinih-dev libpng-dev libjpeg62-turbo-dev \
      libjansson-dev nettle-dev zlib1g-dev libfreetype-dev fonts-dejavu-core \
      libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make pipeline && strip pipeline && ./pipeline --version

FROM debian:bookworm-slim
# Runtime libraries only: each one the binary links (tests/cli/test_docker.sh
# checks this list against `ldd pipeline`), CA certificates for https, the
# font of the plots' text (without it they fall back to a bitmap font), and
# Open MPI (mpirun and libmpi, which `stage train` opens with dlopen under a
# launcher: docs/distributed.md).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libarchive13 libzstd1 libcurl4 libinih1 libpng16-16 \
      libjpeg62-turbo libjansson4 libnettle8 libfreetype6 fonts-dejavu-core libmicrohttpd12 \
      libprotobuf-c1 libhiredis0.14 ca-certificates \
      openmpi-bin openssh-client openssh-server \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric user: Kubernetes can check runAsNonRoot against it, and the
# manifests of `pipeline export` set fsGroup 10001 so it can write the volume.
RUN groupadd --system --gid 10001 pipeline \
 && useradd --system --uid 10001 --gid 10001 --home-dir /workspace \
      --no-create-home --shell /usr/sbin/nologin pipeline \
 && install -d -o 10001 -g 10001 -m 0775 /workspace
COPY --from=build /src/pipeline /usr/local/bin/pipeline
COPY --from=build /src/pipeline.ini /etc/pipeline/pipeline.ini
# MPIJob workers (pipeline export mpijob) run sshd as the image's user on port
# 2222, with the keys the MPI operator mounts at /workspace/.ssh; the launcher's
# ssh reaches them there.
RUN printf '%s\n' 'Port 2222' 'HostKey /workspace/.ssh/id_rsa' 'PidFile /tmp/sshd.pid' \
      'AuthorizedKeysFile /workspace/.ssh/authorized_keys' 'StrictModes no' \
      >/etc/pipeline/sshd_config \
 && printf '%s\n' 'Host *' '  Port 2222' '  StrictHostKeyChecking no' \
      '  UserKnownHostsFile /dev/null' >>/etc/ssh/ssh_config
ENV PIPELINE_CONFIG=/etc/pipeline/pipeline.ini \
    PIPELINE_WORKSPACE=/workspace/demo
LABEL org.opencontainers.image.title="pipeline" \
      org.opencontainers.image.description="prepare, train, validate and package an image classifier in cached stages"
USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["pipeline"]
CMD ["help"]
