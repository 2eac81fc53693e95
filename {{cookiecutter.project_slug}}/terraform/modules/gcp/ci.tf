# Workload Identity Federation: GitHub Actions of github_repository exchange their OIDC token
# for the CI service account. No service-account keys exist.
resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "${local.name}-github"
  display_name              = "GitHub Actions ${var.environment}"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:checkov cannot resolve var.github_repository inside the CEL string; the condition pins repo:<owner/name> plus the environment, main or v* tag claim.
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub Actions OIDC"
  # Only this repository's jobs for this environment, or its main branch and release tags.
  attribute_condition = "assertion.sub == 'repo:${var.github_repository}:environment:${var.environment}' || assertion.sub == 'repo:${var.github_repository}:ref:refs/heads/main' || assertion.sub.startsWith('repo:${var.github_repository}:ref:refs/tags/v')"

  attribute_mapping = {
    "google.subject"        = "assertion.sub"
    "attribute.repository"  = "assertion.repository"
    "attribute.environment" = "assertion.environment"
    "attribute.ref"         = "assertion.ref"
  }

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "ci" {
  project      = var.project_id
  account_id   = "${local.name}-ci"
  display_name = "GitHub Actions CI for ${local.name}"
}

resource "google_service_account_iam_member" "ci_workload_identity" {
  service_account_id = google_service_account.ci.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

resource "google_project_iam_member" "ci" {
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/container.developer",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.ci.email}"
}
