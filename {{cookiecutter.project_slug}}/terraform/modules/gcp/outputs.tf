output "registry_url" {
  description = "Container registry path (CI variable REGISTRY)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${var.project}"
}

output "cluster_name" {
  description = "GKE cluster name (CI variable CLUSTER_NAME)."
  value       = google_container_cluster.main.name
}

output "ci_identity" {
  description = "Service account GitHub Actions impersonates (CI variable GCP_SERVICE_ACCOUNT)."
  value       = google_service_account.ci.email
}

output "workload_identity_provider" {
  description = "Workload Identity provider (CI variable GCP_WORKLOAD_IDENTITY_PROVIDER)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "artifact_storage" {
  description = "GCS bucket for models, reports, the DVC remote and MLflow artifacts."
  value       = google_storage_bucket.artifacts.name
}
