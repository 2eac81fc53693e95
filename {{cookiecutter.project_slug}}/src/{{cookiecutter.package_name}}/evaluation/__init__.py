"""Evaluation per task: held-out metrics and their directions (`metrics`), the quality gate
and champion comparison (`gate`), plots and per-class reports (`plots`), the model card
(`card`)."""
