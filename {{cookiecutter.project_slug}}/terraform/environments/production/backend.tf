# Remote state. The state {% if cookiecutter.cloud_provider == "azure" %}storage account{% else %}bucket{% endif %} is created once, by hand or by a bootstrap
# stack, before the first `terraform init` (see terraform/README.md).
terraform {
  required_version = ">= 1.10, < 2.0"
{% if cookiecutter.cloud_provider == "aws" %}
  backend "s3" {
    bucket       = "{{ cookiecutter.project_slug }}-terraform-state"
    key          = "production/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
  }
{%- elif cookiecutter.cloud_provider == "gcp" %}
  backend "gcs" {
    bucket = "{{ cookiecutter.project_slug }}-terraform-state"
    prefix = "production"
  }

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 7.0"
    }
  }
{%- elif cookiecutter.cloud_provider == "azure" %}
  backend "azurerm" {
    resource_group_name  = "{{ cookiecutter.project_slug }}-terraform-state"
    storage_account_name = "{{ (cookiecutter.package_name | replace('_', ''))[:16] }}tfstate"
    container_name       = "tfstate"
    key                  = "production.terraform.tfstate"
    use_azuread_auth     = true
  }

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.10, < 5.0"
    }
  }
{%- endif %}
}
