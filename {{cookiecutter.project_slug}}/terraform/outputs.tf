output "registry_url" {
  description = "Container registry (CI variable REGISTRY)."
  value       = module.platform.registry_url
}

output "cluster_name" {
  description = "Kubernetes cluster name (CI variable CLUSTER_NAME)."
  value       = module.platform.cluster_name
}

output "ci_identity" {
  description = "Identity CI assumes through OIDC{% if cookiecutter.cloud_provider == 'aws' %} (AWS_ROLE_ARN){% elif cookiecutter.cloud_provider == 'gcp' %} (GCP_SERVICE_ACCOUNT){% else %} (AZURE_CLIENT_ID){% endif %}."
  value       = module.platform.ci_identity
}

{%- if cookiecutter.cloud_provider == "gcp" %}

output "workload_identity_provider" {
  description = "Workload Identity provider (CI variable GCP_WORKLOAD_IDENTITY_PROVIDER)."
  value       = module.platform.workload_identity_provider
}
{%- elif cookiecutter.cloud_provider == "azure" %}

output "resource_group" {
  description = "Resource group (CI variable AZURE_RESOURCE_GROUP)."
  value       = module.platform.resource_group
}
{%- endif %}

output "artifact_storage" {
  description = "Bucket / storage account for models, reports, the DVC remote and MLflow artifacts."
  value       = module.platform.artifact_storage
}
