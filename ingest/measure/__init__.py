"""Speed measurements: `python -m ingest measure` (a streaming benchmark of an endpoint or a local transformers model)
and `python -m ingest measure-local` (decode/prefill speed, peak memory and KV cache of catalog architectures built
with random weights on a GPU). Results are CSV files under data/measurements and data/measurement_requests that
enter the catalog through `python -m ingest build`."""
