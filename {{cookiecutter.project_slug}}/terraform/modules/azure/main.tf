data "azurerm_client_config" "current" {}

locals {
  name = "${var.project}-${var.environment}"
  # Storage account names: 3-24 lowercase letters and digits, globally unique.
  storage_name = "${substr(replace(var.project, "-", ""), 0, 15)}${var.environment == "production" ? "prod" : "stg"}art"
  tags = {
    project     = var.project
    environment = var.environment
    managed-by  = "terraform"
  }
}

resource "azurerm_resource_group" "main" {
  name     = local.name
  location = var.location
  tags     = local.tags
}

resource "azurerm_log_analytics_workspace" "main" {
  name                = local.name
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = 365
  tags                = local.tags
}

# Customer-managed keys for the node disks and the storage account.
resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV2_AZURE_32:A private endpoint needs a private DNS zone per organisation; network_acls allow only the operators' networks.
  #checkov:skip=CKV_AZURE_189:Terraform manages keys through the data plane from the operators' networks; network_acls deny everything else.
  name                          = substr(replace("${local.name}-kv", "-", ""), 0, 24)
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "premium"
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  enable_rbac_authorization     = true
  public_network_access_enabled = true
  tags                          = local.tags

  network_acls {
    default_action = "Deny"
    bypass         = "AzureServices"
    ip_rules       = var.api_allowed_cidrs
  }
}

resource "azurerm_key_vault_key" "main" {
  name            = "${local.name}-cmk"
  key_vault_id    = azurerm_key_vault.main.id
  key_type        = "RSA-HSM"
  key_size        = 3072
  key_opts        = ["wrapKey", "unwrapKey"]
  expiration_date = "2030-12-31T00:00:00Z"

  rotation_policy {
    automatic {
      time_before_expiry = "P30D"
    }
    expire_after         = "P365D"
    notify_before_expiry = "P29D"
  }
}

resource "azurerm_disk_encryption_set" "main" {
  name                = "${local.name}-des"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  key_vault_key_id    = azurerm_key_vault_key.main.versionless_id
  tags                = local.tags

  identity {
    type = "SystemAssigned"
  }
}

resource "azurerm_role_assignment" "disk_encryption" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_disk_encryption_set.main.identity[0].principal_id
}
