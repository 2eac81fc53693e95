"""The prediction / feedback log: below serving (which writes it) and monitoring (which reads it).

`store` is the database side (table, the one URL resolver, engine, start-up check, wire
types); `pump` is the server's queue and group-commit pump; `writer` the writer process it
starts (`process`, as the CLI's hidden `log-writer` command). Modules are imported where used
(no re-exports here): the writer process must not pay for FastAPI, numpy and the model runtimes.
"""
