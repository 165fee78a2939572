# ShopLens in containers, CPU by default. Two targets:
#   app     (the default) the web app: `python app.py` on port 7860
#   chroma  a Chroma server, `chroma run`, from the same chromadb requirement as the app
#
#   docker compose up --build                      # both, wired together (compose.yaml, README)
#   docker build -t shoplens .                     # the app image alone
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t shoplens:gpu .
#
# No model weights are baked in: they download on first start into /models (keep it on a volume)
# and the index, shopper events and trained recommender live in /data (another volume).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --user-group shoplens
WORKDIR /app


# --- chroma --------------------------------------------------------------------------------------
FROM base AS chroma
COPY requirements.txt /tmp/requirements.txt
# The chromadb line of requirements.txt, so client and server come from the same release range.
RUN pip install "$(grep -E '^chromadb([<>=!~ ]|$)' /tmp/requirements.txt)" \
 && mkdir /chroma && chown shoplens:shoplens /chroma
VOLUME ["/chroma"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v2/heartbeat', timeout=5)"]
CMD ["chroma", "run", "--path", "/chroma", "--host", "0.0.0.0", "--port", "8000"]


# --- app -----------------------------------------------------------------------------------------
FROM base AS app
# torch and torchvision first, from PyTorch's own index: the CPU build unless TORCH_INDEX_URL names a
# CUDA one (e.g. .../whl/cu128). The versions are requirements.txt's caps. Then requirements.txt is
# installed under a constraint naming the exact torch build just installed, so pip can never swap it
# for PyPI's default (CUDA) build: it keeps this one or fails loudly.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
 && pip list --format=freeze > /tmp/installed.txt \
 && grep -E '^(torch|torchvision)==' /tmp/installed.txt > /etc/torch-constraints.txt
COPY requirements.txt .
RUN pip install -r requirements.txt -c /etc/torch-constraints.txt

# The code stays owned by root: the app only writes to /data, /models and /tmp.
COPY . .
RUN mkdir /data /models && chown shoplens:shoplens /data /models

# Every download lands in /models: open_clip and Whisper via SHOPLENS_MODEL_CACHE_DIR; Hugging Face
# Hub (tokenizers, hf-hub: models), torch hub and anything else using ~/.cache via these variables.
ENV SHOPLENS_DATA_DIR=/data \
    SHOPLENS_MODEL_CACHE_DIR=/models \
    HF_HOME=/models/huggingface \
    TORCH_HOME=/models/torch \
    XDG_CACHE_HOME=/models/cache \
    SHOPLENS_HOST=0.0.0.0 \
    SHOPLENS_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1
VOLUME ["/data", "/models"]
USER 10001:10001
EXPOSE 7860
# The server answers only once the models are loaded and the catalogue indexed: allow for the first
# start's downloads (about 750 MB) and indexing.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20m --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SHOPLENS_PORT', '7860'), timeout=8)"]
CMD ["python", "app.py"]
