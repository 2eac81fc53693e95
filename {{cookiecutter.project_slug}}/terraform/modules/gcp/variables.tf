variable "project" {
  description = "Project slug: names every resource and the container repository."
  type        = string
  default     = "{{ cookiecutter.project_slug }}"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.project))
    error_message = "project must be 3-24 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "project_id" {
  description = "Google Cloud project id that holds the environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)."
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

variable "region" {
  description = "Google Cloud region for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "subnet_cidr" {
  description = "Primary CIDR of the node subnet; pods and services use 10.100.0.0/14 and 10.104.0.0/20."
  type        = string
  default     = "10.40.0.0/20"

  validation {
    condition     = can(cidrnetmask(var.subnet_cidr))
    error_message = "subnet_cidr must be an IPv4 CIDR such as 10.40.0.0/20."
  }
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API endpoint (CI runners, VPN); never 0.0.0.0/0."
  type        = list(string)

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must list IPv4 CIDRs and must not contain 0.0.0.0/0."
  }
}

variable "machine_type" {
  description = "Machine type of the node pool."
  type        = string
  default     = "e2-standard-4"

  validation {
    condition     = length(var.machine_type) > 0
    error_message = "machine_type must not be empty."
  }
}

variable "node_count" {
  description = "Node pool size per zone: min, desired and max node counts."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 1, desired = 1, max = 3 }

  validation {
    condition     = var.node_count.min >= 1 && var.node_count.min <= var.node_count.desired && var.node_count.desired <= var.node_count.max
    error_message = "node_count must satisfy 1 <= min <= desired <= max."
  }
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may impersonate the CI service account."
  type        = string
  default     = "{{ cookiecutter.github_org }}/{{ cookiecutter.project_slug }}"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "create_shared" {
  description = "Create the project-wide resources (Artifact Registry repository); true in exactly one environment."
  type        = bool
  default     = false
}
