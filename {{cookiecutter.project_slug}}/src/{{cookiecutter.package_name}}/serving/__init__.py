"""Model serving: FastAPI app, champion/challenger routing, metrics; the log is `predlog`.

Modules are imported where used (no re-exports here).
"""
