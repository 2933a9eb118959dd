# chidoan in production: Telegram by webhook (or polling), PostgreSQL, no local web chat.
# docker-compose.yml runs it: `chidoan migrate` once, then the bot. See the README's "Deploying".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CHIDOAN_WEB_ENABLED=false \
    CHIDOAN_WEB_HOST=0.0.0.0 \
    CHIDOAN_WEB_PORT=8080 \
    CHIDOAN_DATA_DIR=/data \
    CHIDOAN_FILES_DIR=/data/files \
    CHIDOAN_LOG_FORMAT=json

WORKDIR /app
# Dependencies from the lock (hashes checked; pip and setuptools pinned there too), in a layer of
# their own, then the project built with the locked setuptools.
COPY requirements/run.txt requirements/run.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/run.txt
COPY pyproject.toml README.md ./
COPY chidoan ./chidoan
# A user of its own (not root). The data and file store folders are its own: a named volume
# mounted there starts as a copy of them, owner included, so the bot can write to it.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 chidoan \
    && mkdir -p /data/files \
    && chown -R chidoan:chidoan /data
USER chidoan
VOLUME ["/data", "/data/files"]

EXPOSE 8080
# 200 while the database answers (tests/test_operations.py runs this very command).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CHIDOAN_WEB_PORT', '8080'), timeout=4)"]
CMD ["chidoan", "run"]
