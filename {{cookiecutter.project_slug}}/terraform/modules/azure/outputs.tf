output "registry_url" {
  description = "Container registry login server (CI variable REGISTRY)."
  value       = data.azurerm_container_registry.shared.login_server
}

output "cluster_name" {
  description = "AKS cluster name (CI variable CLUSTER_NAME)."
  value       = azurerm_kubernetes_cluster.main.name
}

output "resource_group" {
  description = "Resource group of the environment (CI variable AZURE_RESOURCE_GROUP)."
  value       = azurerm_resource_group.main.name
}

output "ci_identity" {
  description = "Client id GitHub Actions logs in with (CI variable AZURE_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.ci.client_id
}

output "artifact_storage" {
  description = "Storage account for models, reports, the DVC remote and MLflow artifacts."
  value       = azurerm_storage_account.artifacts.name
}
