# One repository for every environment: the image built once is promoted unchanged.
resource "aws_ecr_repository" "main" {
  count                = var.create_shared ? 1 : 0
  name                 = var.project
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "main" {
  count      = var.create_shared ? 1 : 0
  repository = aws_ecr_repository.main[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 100 most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 100
      }
      action = { type = "expire" }
    }]
  })
}
