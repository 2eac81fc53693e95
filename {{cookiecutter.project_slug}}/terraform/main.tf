# The root configuration every environment applies: one instance of the {{ cookiecutter.cloud_provider }} module.
# Per-environment values live in environments/<env>/terraform.tfvars and the state location in
# environments/<env>/backend.tfbackend (see README.md); api_allowed_cidrs{% if cookiecutter.cloud_provider == "gcp" %} and project_id{% elif cookiecutter.cloud_provider == "azure" %} and subscription_id{% endif %}
# come from -var or TF_VAR_*.
{%- if cookiecutter.cloud_provider == "aws" %}
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "{{ cookiecutter.project_slug }}"
      environment = var.environment
    }
  }
}
{%- elif cookiecutter.cloud_provider == "gcp" %}
provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    project     = "{{ cookiecutter.project_slug }}"
    environment = var.environment
  }
}
{%- elif cookiecutter.cloud_provider == "azure" %}
provider "azurerm" {
  subscription_id = var.subscription_id
  features {}
}
{%- endif %}

module "platform" {
  source = "./modules/{{ cookiecutter.cloud_provider }}"
{% if cookiecutter.cloud_provider == "gcp" %}
  project_id        = var.project_id
{%- endif %}
  environment       = var.environment
{%- if cookiecutter.cloud_provider == "azure" %}
  location          = var.location
  vnet_cidr         = var.network_cidr
{%- elif cookiecutter.cloud_provider == "gcp" %}
  region            = var.region
  subnet_cidr       = var.network_cidr
{%- else %}
  region            = var.region
  vpc_cidr          = var.network_cidr
{%- endif %}
  api_allowed_cidrs = var.api_allowed_cidrs
  node_count        = var.node_count
  create_shared     = var.create_shared
}
