# neovasc HTTP service on a CUDA runtime image. Uses the GPU when started with one
# (docker run --gpus all ...) and the CPU otherwise (NEOVASC_DEVICE=auto).
#
#   docker build -t neovasc .
#   docker run --gpus all -p 8000:8000 neovasc
#
# The torch wheels from the PyTorch index bring their own CUDA libraries; the base image supplies a
# matching CUDA user space and the driver hooks of the NVIDIA Container Toolkit.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

# The torch build: a CUDA wheel index and a release available on it. Override with --build-arg.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Ubuntu 24.04 ships Python 3.12; its system Python is externally managed, hence the virtualenv.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first, from the CUDA index: the project's own requirement (torch>=2.4) is then already met,
# so installing the project keeps this build instead of pulling another one from PyPI.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

# A regular (non-editable) install puts the packages app, models and cuda_ops into the virtualenv, with the
# web page's files (app/web/static, package data in pyproject.toml).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
COPY cuda_ops ./cuda_ops
RUN pip install . && rm -rf /src

# weights/ is not a Python package, so `pip install .` leaves it out: copy it and point the settings at it.
WORKDIR /app
COPY weights ./weights
# Bound to 0.0.0.0, the service refuses to start without API keys. The keys file is readable by its owner only,
# so the image's user makes it: `docker run --rm -v "$PWD/keys-dir:/etc/neovasc" neovasc keys add NAME` into a
# folder owned by uid 10001, then serve with the folder mounted (-v "$PWD/keys-dir:/etc/neovasc:ro"; a folder,
# not the file, so that keys added or removed later reach the running service). List the host names clients
# use in NEOVASC_ALLOWED_HOSTS, keeping 127.0.0.1 for the health check (docs/install.md#docker).
# The numba kernels (CPU counter, video colour conversion) compile on first use and cache the result;
# site-packages is read-only for the service user, so the cache goes where it can write.
ENV NEOVASC_WEIGHTS_DIR=/app/weights \
    NEOVASC_HOST=0.0.0.0 \
    NEOVASC_API_KEYS_FILE=/etc/neovasc/keys \
    NEOVASC_PORT=8000 \
    NUMBA_CACHE_DIR=/tmp/numba-cache

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin neovasc
USER neovasc

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEOVASC_PORT', '8000'), timeout=4)"

# `docker run ... neovasc` serves; `docker run ... neovasc grade /data/x.png --roi ...` grades files.
ENTRYPOINT ["neovasc"]
CMD ["serve"]
