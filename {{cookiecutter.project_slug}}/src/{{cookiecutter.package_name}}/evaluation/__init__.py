"""Evaluation: held-out metrics, the quality gate, plots and the model card (see `gate`)."""
