output "registry_url" {
  description = "Container registry host (CI variable REGISTRY)."
  value       = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
}

output "cluster_name" {
  description = "EKS cluster name (CI variable CLUSTER_NAME)."
  value       = aws_eks_cluster.main.name
}

output "region" {
  description = "AWS region (CI variable AWS_REGION)."
  value       = var.region
}

output "ci_identity" {
  description = "IAM role GitHub Actions assumes through OIDC (CI variable AWS_ROLE_ARN)."
  value       = aws_iam_role.ci.arn
}

output "artifact_storage" {
  description = "S3 bucket for models, reports, the DVC remote and MLflow artifacts."
  value       = aws_s3_bucket.artifacts.bucket
}
