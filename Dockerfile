# One image for both services; compose picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY producer_service ./producer_service
COPY worker_service ./worker_service
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home app \
    && mkdir /data \
    && chown app:app /data

USER app
ENV DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["python", "-m", "producer_service"]
