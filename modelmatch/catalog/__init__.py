"""The catalog: the column schema both the write side (ingest) and the readers use, the read-only reader, and
the queries over models, scores and prices."""
