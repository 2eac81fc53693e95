# staging: terraform -chdir=terraform apply -var-file=environments/staging/terraform.tfvars
environment   = "staging"
{%- if cookiecutter.cloud_provider == "aws" %}
region        = "eu-west-1"
{%- elif cookiecutter.cloud_provider == "gcp" %}
region        = "europe-west1"
{%- else %}
location      = "westeurope"
{%- endif %}
network_cidr  = "10.40.0.0/16"
node_count    = { min = 1, desired = 2, max = 3 }
create_shared = false
