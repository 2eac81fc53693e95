"""Monitoring: drift detection, the retraining trigger and Alertmanager configuration.

- `run.run_drift(settings)`: compare a recent window of the prediction log (or a file)
  with the training reference (the dataset spec in configs/model_config.yaml); PSI +
  Kolmogorov-Smirnov per numerical feature, chi-square per categorical feature (nulls
  included), drift of the predictions per task; JSON + HTML report + Prometheus textfile.
- `retrain.retrain_check(settings)`: decide from drift, online accuracy (classification) or
  MAE against the offline MAE (regression), feedback volume or the schedule, then trigger
  the configured system (GitHub, Jenkins, Airflow, Kubeflow).
- `alerting.render_alertmanager_config(...)`: put the webhook URL from the environment into
  the Alertmanager configuration.
"""
