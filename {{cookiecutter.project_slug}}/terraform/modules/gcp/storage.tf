# Artifact and data bucket: models, reports, DVC remote and MLflow artifacts.
resource "google_storage_bucket" "artifacts" {
  #checkov:skip=CKV_GCP_62:Access logs need a second log bucket; Cloud Audit Logs (data access) cover the audit trail.
  project                     = var.project_id
  name                        = "${var.project_id}-${local.name}-artifacts"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.main.id
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 10
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.users]
}
