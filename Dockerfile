# chidoan in production: Telegram by webhook (or polling), PostgreSQL, no local web chat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CHIDOAN_WEB_ENABLED=false \
    CHIDOAN_WEB_HOST=0.0.0.0 \
    CHIDOAN_WEB_PORT=8080

WORKDIR /app
# Dependencies from the lock (hashes checked; pip and setuptools pinned there too), in a layer of
# their own, then the project built with the locked setuptools.
COPY requirements/run.txt requirements/run.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/run.txt
COPY pyproject.toml README.md ./
COPY chidoan ./chidoan
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && useradd --create-home --uid 10001 chidoan
USER chidoan

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"CHIDOAN_WEB_PORT\",\"8080\")}/healthz')"
CMD ["chidoan", "run"]
