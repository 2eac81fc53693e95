resource "azurerm_kubernetes_cluster" "main" {
  #checkov:skip=CKV_AZURE_6:authorized_ip_ranges comes from api_allowed_cidrs (validated non-empty, no 0.0.0.0/0); checkov cannot see the value.
  #checkov:skip=CKV_AZURE_115:CI on hosted runners reaches the API server publicly; api_server_access_profile limits it to api_allowed_cidrs.
  name                              = local.name
  location                          = azurerm_resource_group.main.location
  resource_group_name               = azurerm_resource_group.main.name
  dns_prefix                        = local.name
  kubernetes_version                = var.kubernetes_version
  sku_tier                          = "Standard"
  automatic_upgrade_channel         = "patch"
  node_os_upgrade_channel           = "NodeImage"
  local_account_disabled            = true
  role_based_access_control_enabled = true
  azure_policy_enabled              = true
  oidc_issuer_enabled               = true
  workload_identity_enabled         = true
  disk_encryption_set_id            = azurerm_disk_encryption_set.main.id
  tags                              = local.tags

  api_server_access_profile {
    authorized_ip_ranges = var.api_allowed_cidrs
  }

  azure_active_directory_role_based_access_control {
    azure_rbac_enabled = true
    tenant_id          = data.azurerm_client_config.current.tenant_id
  }

  # System pool: only critical add-ons; the model server runs on the workloads pool below.
  default_node_pool {
    name                         = "system"
    vm_size                      = var.node_vm_size
    vnet_subnet_id               = azurerm_subnet.aks.id
    auto_scaling_enabled         = true
    min_count                    = 1
    node_count                   = 2
    max_count                    = 3
    max_pods                     = 50
    os_disk_type                 = "Ephemeral"
    host_encryption_enabled      = true
    only_critical_addons_enabled = true
    zones                        = ["1", "2", "3"]
    tags                         = local.tags

    upgrade_settings {
      max_surge = "33%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin = "azure"
    network_policy = "azure"
  }

  oms_agent {
    log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id
  }

  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  depends_on = [azurerm_role_assignment.disk_encryption]
}

resource "azurerm_kubernetes_cluster_node_pool" "workloads" {
  name                    = "workloads"
  kubernetes_cluster_id   = azurerm_kubernetes_cluster.main.id
  vm_size                 = var.node_vm_size
  vnet_subnet_id          = azurerm_subnet.aks.id
  auto_scaling_enabled    = true
  min_count               = var.node_count.min
  node_count              = var.node_count.desired
  max_count               = var.node_count.max
  max_pods                = 50
  os_disk_type            = "Ephemeral"
  host_encryption_enabled = true
  zones                   = ["1", "2", "3"]
  tags                    = local.tags

  upgrade_settings {
    max_surge = "33%"
  }
}
