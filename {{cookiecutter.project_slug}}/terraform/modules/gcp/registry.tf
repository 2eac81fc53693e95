# One repository for every environment: the image built once is promoted unchanged.
resource "google_artifact_registry_repository" "main" {
  count         = var.create_shared ? 1 : 0
  project       = var.project_id
  location      = var.region
  repository_id = var.project
  format        = "DOCKER"
  kms_key_name  = google_kms_crypto_key.main.id
  labels        = local.labels

  docker_config {
    immutable_tags = true
  }

  depends_on = [google_kms_crypto_key_iam_member.users]
}
