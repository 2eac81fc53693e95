# The production environment: one instance of the {{ cookiecutter.cloud_provider }} module. Inputs without a default
# go in production.auto.tfvars (not committed when they are sensitive) or TF_VAR_* variables.
{%- if cookiecutter.cloud_provider == "aws" %}
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "{{ cookiecutter.project_slug }}"
      environment = "production"
    }
  }
}

variable "region" {
  description = "AWS region of the production environment."
  type        = string
  default     = "eu-west-1"
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API of production (CI runners, VPN)."
  type        = list(string)
}

module "platform" {
  source = "../../modules/aws"

  environment       = "production"
  region            = var.region
  vpc_cidr          = "10.50.0.0/16"
  api_allowed_cidrs = var.api_allowed_cidrs
  node_count        = { min = 2, desired = 3, max = 6 }
  create_shared     = true
}
{%- elif cookiecutter.cloud_provider == "gcp" %}
provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    project     = "{{ cookiecutter.project_slug }}"
    environment = "production"
  }
}

variable "project_id" {
  description = "Google Cloud project id of the production environment."
  type        = string
}

variable "region" {
  description = "Google Cloud region of the production environment."
  type        = string
  default     = "europe-west1"
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API of production (CI runners, VPN)."
  type        = list(string)
}

module "platform" {
  source = "../../modules/gcp"

  project_id        = var.project_id
  environment       = "production"
  region            = var.region
  subnet_cidr       = "10.50.0.0/16"
  api_allowed_cidrs = var.api_allowed_cidrs
  node_count        = { min = 2, desired = 3, max = 6 }
  create_shared     = true
}
{%- elif cookiecutter.cloud_provider == "azure" %}
provider "azurerm" {
  subscription_id = var.subscription_id
  features {}
}

variable "subscription_id" {
  description = "Azure subscription id of the production environment."
  type        = string
}

variable "location" {
  description = "Azure region of the production environment."
  type        = string
  default     = "westeurope"
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API of production (CI runners, VPN)."
  type        = list(string)
}

module "platform" {
  source = "../../modules/azure"

  environment       = "production"
  location          = var.location
  vnet_cidr         = "10.50.0.0/16"
  api_allowed_cidrs = var.api_allowed_cidrs
  node_count        = { min = 2, desired = 3, max = 6 }
  create_shared     = true
}
{%- endif %}

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
