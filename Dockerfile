# One image for the web process and the Celery workers.
# CPU build by default; for GPU workers build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128
FROM python:3.11-slim
ARG TORCH_INDEX=""
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap podman runc \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY leaderboard leaderboard
COPY evaluator evaluator
COPY workers workers
COPY reference_models reference_models
COPY client client
COPY manage.py ./
RUN if [ -n "$TORCH_INDEX" ]; then pip install --index-url "$TORCH_INDEX" torch==2.13.0; fi \
    && pip install . && python manage.py collectstatic --noinput
RUN useradd --create-home ehps && mkdir -p /data && chown ehps /data
USER ehps
EXPOSE 8000
CMD ["gunicorn", "-c", "python:leaderboard.gunicorn_conf", "--bind", "0.0.0.0:8000"]
