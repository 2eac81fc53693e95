# The state key is set per environment: `terraform init -reconfigure
# -backend-config=environments/<env>/backend.tfbackend` (backend blocks cannot use variables).
# The state {% if cookiecutter.cloud_provider == "azure" %}storage account{% else %}bucket{% endif %} is created once, before the first init (see README.md).
terraform {
  required_version = ">= 1.10, < 2.0"

{%- if cookiecutter.cloud_provider == "aws" %}

  backend "s3" {
    bucket       = "{{ cookiecutter.project_slug }}-terraform-state"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
{%- elif cookiecutter.cloud_provider == "gcp" %}

  backend "gcs" {
    bucket = "{{ cookiecutter.project_slug }}-terraform-state"
  }
{%- elif cookiecutter.cloud_provider == "azure" %}

  backend "azurerm" {
    resource_group_name  = "{{ cookiecutter.project_slug }}-terraform-state"
    storage_account_name = "{{ (cookiecutter.package_name | replace('_', ''))[:16] }}tfstate"
    container_name       = "tfstate"
    use_azuread_auth     = true
  }
{%- endif %}

  required_providers {
{%- if cookiecutter.cloud_provider == "aws" %}
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
{%- elif cookiecutter.cloud_provider == "gcp" %}
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 7.0"
    }
{%- elif cookiecutter.cloud_provider == "azure" %}
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.10, < 5.0"
    }
{%- endif %}
  }
}
