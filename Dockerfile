# assistgov: one image for the web process (daphne), the stream worker and the simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEBUG=false

WORKDIR /app
RUN useradd --create-home --uid 10001 assistgov

COPY pyproject.toml README.md ./
COPY assistgov ./assistgov
COPY streams ./streams
COPY audit ./audit
COPY templates ./templates
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && SECRET_KEY=build-only FIELD_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
       python manage.py collectstatic --noinput -v0 \
    && mkdir -p /app/var && chown assistgov /app/var

USER assistgov
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"

# The web process. Run the worker with: python manage.py runstreams
CMD ["sh", "-c", "python manage.py migrate --noinput && daphne -b 0.0.0.0 -p 8000 --proxy-headers assistgov.asgi:application"]
