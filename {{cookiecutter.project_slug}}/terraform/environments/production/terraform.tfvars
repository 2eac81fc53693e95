# production: terraform -chdir=terraform apply -var-file=environments/production/terraform.tfvars
environment   = "production"
{%- if cookiecutter.cloud_provider == "aws" %}
region        = "eu-west-1"
{%- elif cookiecutter.cloud_provider == "gcp" %}
region        = "europe-west1"
{%- else %}
location      = "westeurope"
{%- endif %}
network_cidr  = "10.50.0.0/16"
node_count    = { min = 2, desired = 3, max = 6 }
create_shared = true
