# One registry for every environment: the image built once is promoted unchanged.
resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_139:GitHub-hosted runners push and AKS pulls over the public endpoint (a private endpoint needs per-organisation DNS); only Entra ID identities with AcrPush/AcrPull get in, the admin user is off.
  #checkov:skip=CKV_AZURE_165:Geo-replication is a disaster-recovery choice per organisation; zone redundancy covers a zone outage.
  #checkov:skip=CKV_AZURE_166:Quarantine needs an external scanner to release images; Defender for Containers scans on push.
  #checkov:skip=CKV_AZURE_164:Content trust (Notary v1) is deprecated by Azure; images are pinned by immutable tags.
  count                         = var.create_shared ? 1 : 0
  name                          = var.registry_name
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku                           = "Premium"
  admin_enabled                 = false
  public_network_access_enabled = true
  zone_redundancy_enabled       = true
  data_endpoint_enabled         = true
  retention_policy_in_days      = 30
  tags                          = local.tags
}

# Every environment's kubelet may pull from the shared registry.
data "azurerm_container_registry" "shared" {
  name                = var.registry_name
  resource_group_name = "${var.project}-production"
  depends_on          = [azurerm_container_registry.main]
}

resource "azurerm_role_assignment" "kubelet_pull" {
  scope                = data.azurerm_container_registry.shared.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_kubernetes_cluster.main.kubelet_identity[0].object_id
}
