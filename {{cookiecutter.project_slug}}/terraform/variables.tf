# Inputs of the root configuration; the module validates each of them.
variable "environment" {
  description = "Deployment environment: staging or production (environments/<env>/terraform.tfvars)."
  type        = string
}
{% if cookiecutter.cloud_provider == "gcp" %}
variable "project_id" {
  description = "Google Cloud project id of the environment."
  type        = string
}
{% elif cookiecutter.cloud_provider == "azure" %}
variable "subscription_id" {
  description = "Azure subscription id of the environment."
  type        = string
}
{% endif %}
{%- if cookiecutter.cloud_provider == "azure" %}
variable "location" {
  description = "Azure region of the environment."
  type        = string
}
{%- else %}
variable "region" {
  description = "{{ 'AWS' if cookiecutter.cloud_provider == 'aws' else 'Google Cloud' }} region of the environment."
  type        = string
}
{%- endif %}

variable "network_cidr" {
  description = "CIDR block of the environment's {% if cookiecutter.cloud_provider == 'aws' %}VPC{% elif cookiecutter.cloud_provider == 'gcp' %}subnet{% else %}VNet{% endif %}; distinct per environment."
  type        = string
}

variable "node_count" {
  description = "Kubernetes node pool size: min, desired and max node counts."
  type        = object({ min = number, desired = number, max = number })
}

variable "create_shared" {
  description = "Create the shared resources (container registry, CI identity provider); true in production only."
  type        = bool
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API (CI runners, VPN)."
  type        = list(string)
}
