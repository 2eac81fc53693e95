"""Model serving: FastAPI app, champion/challenger routing, prediction and feedback log.

Modules are imported where used (no re-exports here): the prediction log's writer process
imports `serving.logwriter` and must not pay for FastAPI, numpy and the model runtimes.
"""
