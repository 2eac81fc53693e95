variable "project" {
  description = "Project slug: names every resource."
  type        = string
  default     = "{{ cookiecutter.project_slug }}"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.project))
    error_message = "project must be 3-40 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment: staging or production."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "location" {
  description = "Azure region for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be an Azure region name such as westeurope."
  }
}

variable "vnet_cidr" {
  description = "Address space of the virtual network; the AKS subnet takes its first /20."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vnet_cidr)) && tonumber(split("/", var.vnet_cidr)[1]) <= 20
    error_message = "vnet_cidr must be an IPv4 CIDR of /20 or larger, such as 10.40.0.0/16."
  }
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (minor); patches are applied by the automatic upgrade channel."
  type        = string
  default     = "1.32"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.32."
  }
}

variable "node_vm_size" {
  description = "VM size of the AKS node pool."
  type        = string
  default     = "Standard_D4ds_v5"

  validation {
    condition     = can(regex("^Standard_", var.node_vm_size))
    error_message = "node_vm_size must be an Azure VM size such as Standard_D4ds_v5."
  }
}

variable "node_count" {
  description = "Node pool size: min, desired and max node counts."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 2, desired = 2, max = 5 }

  validation {
    condition     = var.node_count.min >= 1 && var.node_count.min <= var.node_count.desired && var.node_count.desired <= var.node_count.max
    error_message = "node_count must satisfy 1 <= min <= desired <= max."
  }
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API server (CI runners, VPN); never 0.0.0.0/0."
  type        = list(string)

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must list IPv4 CIDRs and must not contain 0.0.0.0/0."
  }
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may log in as the CI identity."
  type        = string
  default     = "{{ cookiecutter.github_org }}/{{ cookiecutter.project_slug }}"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "create_shared" {
  description = "Create the subscription-wide resources (container registry); true in exactly one environment."
  type        = bool
  default     = false
}

variable "registry_name" {
  description = "Name of the shared Azure Container Registry (5-50 lowercase letters and digits)."
  type        = string
  default     = "{{ (cookiecutter.package_name | replace('_', ''))[:42] }}registry"

  validation {
    condition     = can(regex("^[a-z0-9]{5,50}$", var.registry_name))
    error_message = "registry_name must be 5-50 lowercase letters and digits."
  }
}
