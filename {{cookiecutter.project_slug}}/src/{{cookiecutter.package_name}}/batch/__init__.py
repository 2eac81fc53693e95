"""Batch scoring: `batch-score --input FILE_OR_DIR --output DIR [--model] [--engine local|spark]`.

- `model`: the one seam to the model (registry reference -> runtime predictor -> columns).
- `validate`: per-row input checks; `score`: one record batch -> scored and rejected rows.
- `io`: input discovery and streaming, Parquet part writers, the atomic commit.
- `local` / `spark`: the engines, given an `engine.EngineRun`; `job`: one run (stage, score,
  manifest, commit).
- `manifest`, `reader`: manifest.json, and reading an output back (drift's current window).

Output directory: `predictions/*.parquet` (id columns, features, `prediction`, `score`,
`probability_<class>`, `model_version`, `run_id`), `rejected/*.parquet` (`source_file`,
`row`, id columns, `reason`) and `manifest.json`. The local engine never imports pyspark.
"""
