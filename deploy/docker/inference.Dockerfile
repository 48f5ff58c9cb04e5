# Dosewise inference image: installs the shared library and this one service only (torch only in the trainer image).
# Build from the repository root: docker build -f deploy/docker/inference.Dockerfile -t dosewise-inference .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DOSEWISE_ENV=production
WORKDIR /app
COPY shared/ shared/
COPY services/inference/ services/inference/
COPY policies/ policies/
RUN pip install --no-cache-dir ./shared ./services/inference && useradd --uid 10001 dosewise
USER 10001
ENV DOSEWISE_POLICY_DIR=/app/policies DOSEWISE_API_HOST=0.0.0.0 DOSEWISE_INFERENCE_HOST=0.0.0.0
EXPOSE 8001
CMD ["python", "-m", "dosewise_inference"]
