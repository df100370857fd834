# dealpulse worker / simulator image. Not built on the project's CI machines (no Docker
# engine there); docker-compose.yml is validated with `docker-compose config` instead.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
RUN pip install --no-cache-dir -e .
ENV DEALPULSE_WEB_HOST=0.0.0.0 \
    DEALPULSE_DATA_DIR=/var/lib/dealpulse
VOLUME /var/lib/dealpulse
EXPOSE 6066
ENTRYPOINT ["dealpulse"]
CMD ["worker"]
