# Artifact and data account: models, reports, DVC remote and MLflow artifacts.
resource "azurerm_user_assigned_identity" "storage" {
  name                = "${local.name}-storage"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_role_assignment" "storage_key" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_user_assigned_identity.storage.principal_id
}

resource "azurerm_storage_account" "artifacts" {
  #checkov:skip=CKV2_AZURE_33:A private endpoint needs a private DNS zone per organisation; network_rules allow only the AKS subnet and operators.
  #checkov:skip=CKV_AZURE_59:CI runners and operators reach the account publicly; network_rules deny every other network and shared keys are disabled.
  #checkov:skip=CKV_AZURE_33:Queue service logging does not apply: the account stores blobs only.
  name                            = local.storage_name
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  account_tier                    = "Standard"
  account_replication_type        = "GRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  public_network_access_enabled   = true
  default_to_oauth_authentication = true
  tags                            = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.storage.id]
  }

  customer_managed_key {
    key_vault_key_id          = azurerm_key_vault_key.main.versionless_id
    user_assigned_identity_id = azurerm_user_assigned_identity.storage.id
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 30
    }

    container_delete_retention_policy {
      days = 30
    }
  }

  network_rules {
    default_action             = "Deny"
    bypass                     = ["AzureServices"]
    ip_rules                   = var.api_allowed_cidrs
    virtual_network_subnet_ids = [azurerm_subnet.aks.id]
  }

  depends_on = [azurerm_role_assignment.storage_key]
}

resource "azurerm_storage_container" "artifacts" {
  #checkov:skip=CKV2_AZURE_21:Blob read/write/delete logs go to Log Analytics through the diagnostic setting below (storage insights would need the disabled shared key).
  name                  = "artifacts"
  storage_account_id    = azurerm_storage_account.artifacts.id
  container_access_type = "private"
}

resource "azurerm_monitor_diagnostic_setting" "blob" {
  name                       = "blob-logs"
  target_resource_id         = "${azurerm_storage_account.artifacts.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id

  enabled_log {
    category = "StorageRead"
  }

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}
