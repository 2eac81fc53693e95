locals {
  name = "${var.project}-${var.environment}"
  labels = {
    project     = var.project
    environment = var.environment
    managed-by  = "terraform"
  }
}

data "google_project" "current" {
  project_id = var.project_id
}

# One Cloud KMS key encrypts the images, the bucket and the cluster secrets.
resource "google_kms_key_ring" "main" {
  project  = var.project_id
  name     = local.name
  location = var.region
}

resource "google_kms_crypto_key" "main" {
  name            = local.name
  key_ring        = google_kms_key_ring.main.id
  rotation_period = "7776000s"
  labels          = local.labels

  lifecycle {
    prevent_destroy = true
  }
}

locals {
  kms_users = [
    "serviceAccount:service-${data.google_project.current.number}@gs-project-accounts.iam.gserviceaccount.com",
    "serviceAccount:service-${data.google_project.current.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "serviceAccount:service-${data.google_project.current.number}@container-engine-robot.iam.gserviceaccount.com",
  ]
}

resource "google_kms_crypto_key_iam_member" "users" {
  for_each      = toset(local.kms_users)
  crypto_key_id = google_kms_crypto_key.main.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
